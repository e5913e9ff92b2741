/* bertc compile MODEL -o OUT.so: the whole pipeline, one progress line per
 * phase on stderr (import, passes, lower, target, then for a .so one line for
 * LLVM's modules built in parallel, else codegen, verify, optimize, emit; link
 * and write).
 * Nothing is written unless every phase succeeds (codegen writes through a
 * temporary file and renames it). */
#define _POSIX_C_SOURCE 200809L
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bertc/compiler.h"
#include "tools/cli.h"

static const char *help =
    "usage: bertc compile MODEL -o OUT.so [options]\n"
    "\n"
    "Compiles MODEL (a HuggingFace model directory or a model.json) to one shared\n"
    "object with an entry per (batch, seq) bucket.\n"
    "\n"
    "  -o, --output FILE        the .so to write (or the --emit artifact)\n"
    "  --seq-lens LIST          sequence buckets (default 16,32,64,128,256,512 capped\n"
    "                           at the model's maximum, which is always included)\n"
    "  --batch-sizes LIST       batch buckets (default 1)\n"
    "  --token-buckets LIST|none  total-token buckets for packed runs of many texts,\n"
    "                           multiples of 16 (default: the longest sequence bucket\n"
    "                           and four times it)\n"
    "  --task NAME              override the task (embedding, fill-mask, ...)\n"
    "  --target-cpu CPU[,CPU..] LLVM cpu name or 'native' (default: model.json's\n"
    "                           target.cpu, else native); a list, or 'portable'\n"
    "                           (x86-64-v3,x86-64-v4), makes one .so with a code\n"
    "                           variant per cpu: the runtime runs the best the host has\n"
    "  --target-features STR    LLVM feature string, e.g. +avx2,+fma\n"
    "  --weights embed|external embed the weights (default) or write OUT.weights\n"
    "  --emit so|obj|llvm|asm|header   what to write (default so)\n"
    "  --linker CMD             the linker driver (default $CC, then cc)\n"
    "  --threads N              threads the task splits are planned for (default: the\n"
    "                           threads a run on this machine uses by default)\n"
    "  --jobs N                 threads that generate code, one LLVM module each at a\n"
    "                           time (default: as many as a run uses; the output is\n"
    "                           the same for any N)\n"
    "  --gemm bertc|amx|blas    generated GEMMs (default); the same on AMX tiles where\n"
    "                           a bucket has >= 128 rows per thread (exact to fp32\n"
    "                           rounding, as three bf16 parts; needs a target with\n"
    "                           AMX-BF16; the .so carries those weights a second time,\n"
    "                           at 1.5x their fp32 size); or the host BLAS. Default:\n"
    "                           model.json's \"gemm\", else bertc\n"
    "  --precision fp32|int8    the linear layers' number format (default: model.json's\n"
    "                           \"precision\", else fp32); int8: weights per output\n"
    "                           channel, activations per row, int32 accumulation\n"
    "  --keep-fp32 LIST|auto    int8: weight names whose layers stay fp32; auto: when\n"
    "                           the probe's agreement is too low, keep the layers\n"
    "                           most sensitive on it in fp32 until it is met\n"
    "  --calibrate FILE.jsonl   int8: probe texts ({\"text\": ...} per line) for the\n"
    "                           agreement report (default: a built-in set)\n"
    "  --min-cosine X           int8: refuse the model when an output's mean cosine\n"
    "                           to fp32 on the probe is below X (default 0.99; a\n"
    "                           negative X skips the probe)\n"
    "  --passes LIST|none       the pass pipeline (default: all; see --list-passes)\n"
    "  --disable-pass NAME      drop a pass from the pipeline (repeatable)\n"
    "  --print-after NAME|all   print the IR after a pass to stderr\n"
    "  --verify-each            run the IR verifier after every pass\n"
    "  --stats                  per-pass statistics and the memory plan\n"
    "  --list-passes            list the passes and exit\n"
    "  -q, --quiet              no progress lines\n"
    "  -h, --help               show this help\n";

typedef struct progress {
  int quiet;
} progress_t;

static void report(void *user, const char *phase, double seconds) {
  const progress_t *p = user;
  if (!p->quiet) fprintf(stderr, "bertc compile: %-28s %8.3f s\n", phase, seconds);
}

static bool parse_emit(const char *s, bertc_emit_t *out) {
  static const struct {
    const char *name;
    bertc_emit_t emit;
  } map[] = {{"so", BERTC_EMIT_SO}, {"obj", BERTC_EMIT_OBJ}, {"llvm", BERTC_EMIT_LLVM},
             {"asm", BERTC_EMIT_ASM}, {"header", BERTC_EMIT_HEADER}};
  for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
    if (!strcmp(s, map[i].name)) {
      *out = map[i].emit;
      return true;
    }
  return false;
}

int cmd_compile(int argc, char **argv) {
  enum { O_SEQ = 256, O_BATCH, O_TASK, O_CPU, O_FEAT, O_WEIGHTS, O_EMIT, O_LINKER, O_THREADS,
         O_GEMM, O_PASSES, O_DISABLE, O_PRINT, O_VERIFY, O_STATS, O_LIST, O_JOBS,
         O_PRECISION, O_KEEP, O_CALIBRATE, O_MIN_COSINE, O_TOKENS };
  static const struct option opts[] = {{"output", required_argument, 0, 'o'},
                                       {"seq-lens", required_argument, 0, O_SEQ},
                                       {"batch-sizes", required_argument, 0, O_BATCH},
                                       {"token-buckets", required_argument, 0, O_TOKENS},
                                       {"task", required_argument, 0, O_TASK},
                                       {"target-cpu", required_argument, 0, O_CPU},
                                       {"target-features", required_argument, 0, O_FEAT},
                                       {"weights", required_argument, 0, O_WEIGHTS},
                                       {"emit", required_argument, 0, O_EMIT},
                                       {"linker", required_argument, 0, O_LINKER},
                                       {"threads", required_argument, 0, O_THREADS},
                                       {"jobs", required_argument, 0, O_JOBS},
                                       {"gemm", required_argument, 0, O_GEMM},
                                       {"precision", required_argument, 0, O_PRECISION},
                                       {"keep-fp32", required_argument, 0, O_KEEP},
                                       {"calibrate", required_argument, 0, O_CALIBRATE},
                                       {"min-cosine", required_argument, 0, O_MIN_COSINE},
                                       {"passes", required_argument, 0, O_PASSES},
                                       {"disable-pass", required_argument, 0, O_DISABLE},
                                       {"print-after", required_argument, 0, O_PRINT},
                                       {"verify-each", no_argument, 0, O_VERIFY},
                                       {"stats", no_argument, 0, O_STATS},
                                       {"list-passes", no_argument, 0, O_LIST},
                                       {"quiet", no_argument, 0, 'q'},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
  const char *seq_text = NULL, *batch_text = NULL, *task_text = NULL, *token_text = NULL;
  char disabled[512] = "";
  bertc_compile_options_t co;
  bertc_compile_options_init(&co);
  progress_t prog = {0};
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, ":o:qh", opts, NULL)) != -1) {
    switch (c) {
    case 'o': co.output_path = optarg; break;
    case O_SEQ: seq_text = optarg; break;
    case O_BATCH: batch_text = optarg; break;
    case O_TOKENS: token_text = optarg; break;
    case O_TASK: task_text = optarg; break;
    case O_CPU: co.target_cpu = optarg; break;
    case O_FEAT: co.target_features = optarg; break;
    case O_WEIGHTS:
      if (!strcmp(optarg, "embed")) co.weights = BERTC_WEIGHTS_EMBED;
      else if (!strcmp(optarg, "external")) co.weights = BERTC_WEIGHTS_EXTERNAL;
      else return cli_usage_error("compile", "--weights wants embed or external, got '%s'", optarg);
      break;
    case O_EMIT:
      if (!parse_emit(optarg, &co.emit))
        return cli_usage_error("compile", "--emit wants so, obj, llvm, asm or header, got '%s'", optarg);
      break;
    case O_LINKER: co.linker = optarg; break;
    case O_THREADS: {
      char *end;
      long v = strtol(optarg, &end, 10);
      if (*end || v < 1 || v > 1024) return cli_usage_error("compile", "--threads wants 1..1024");
      co.threads = (int32_t)v;
      break;
    }
    case O_JOBS: {
      char *end;
      long v = strtol(optarg, &end, 10);
      if (*end || v < 1 || v > BERTC_COMPILE_MAX_JOBS)
        return cli_usage_error("compile", "--jobs wants 1..%d", BERTC_COMPILE_MAX_JOBS);
      co.jobs = (int32_t)v;
      break;
    }
    case O_GEMM:
      if (!strcmp(optarg, "blas")) co.gemm = BERTC_GEMM_BLAS;
      else if (!strcmp(optarg, "amx")) co.gemm = BERTC_GEMM_AMX;
      else if (!strcmp(optarg, "bertc")) co.gemm = BERTC_GEMM_BERTC;
      else return cli_usage_error("compile", "--gemm wants bertc, amx or blas");
      break;
    case O_PRECISION:
      if (!strcmp(optarg, "fp32")) co.precision = BERTC_PRECISION_FP32;
      else if (!strcmp(optarg, "int8")) co.precision = BERTC_PRECISION_INT8;
      else return cli_usage_error("compile", "--precision wants fp32 or int8, got '%s'", optarg);
      break;
    case O_KEEP: co.keep_fp32 = optarg; break;
    case O_CALIBRATE: co.probe_texts = optarg; break;
    case O_MIN_COSINE: {
      char *end;
      double v = strtod(optarg, &end);
      if (*end || !(v <= 1.0)) return cli_usage_error("compile", "--min-cosine wants a number <= 1");
      co.min_cosine = v < 0 ? -1.0 : v == 0 ? 1e-9 : v;
      break;
    }
    case O_PASSES: co.passes = optarg; break;
    case O_DISABLE:
      if (strlen(disabled) + strlen(optarg) + 2 > sizeof disabled)
        return cli_usage_error("compile", "too many --disable-pass");
      if (disabled[0]) strcat(disabled, ",");
      strcat(disabled, optarg);
      break;
    case O_PRINT: co.print_after = optarg; break;
    case O_VERIFY: co.verify_each = true; break;
    case O_STATS: co.stats = true; break;
    case O_LIST: {
      const char *name, *summary;
      for (size_t i = 0; bertc_compile_pass(i, &name, &summary); i++)
        printf("%-20s %s\n", name, summary);
      return CLI_OK;
    }
    case 'q': prog.quiet = 1; break;
    case 'h': fputs(help, stdout); return CLI_OK;
    default: return cli_option_error("compile", c, argv);
    }
  }
  if (optind + 1 != argc) return cli_usage_error("compile", "expected one MODEL argument");
  if (!co.output_path) return cli_usage_error("compile", "no output: give -o OUT.so");
  const char *path = argv[optind];
  co.progress = report;
  co.progress_user = &prog;
  co.disabled_passes = disabled[0] ? disabled : NULL;
  co.quiet = prog.quiet;
  if (task_text && !bertc_task_from_name(task_text, &co.task))
    return cli_usage_error("compile", "unknown task '%s'", task_text);
  int64_t seqs[BERTC_COMPILE_MAX_BUCKETS], batches[BERTC_COMPILE_MAX_BUCKETS];
  int64_t tokens[BERTC_COMPILE_MAX_BUCKETS];
  bertc_status_t s = BERTC_OK;
  if (seq_text) {
    s = bertc_parse_int_list(seq_text, "--seq-lens", BERTC_COMPILE_MAX_SEQ, seqs,
                             BERTC_COMPILE_MAX_BUCKETS, &co.num_seq_lens);
    co.seq_lens = seqs;
  }
  if (!s && batch_text) {
    s = bertc_parse_int_list(batch_text, "--batch-sizes", BERTC_COMPILE_MAX_BATCH, batches,
                             BERTC_COMPILE_MAX_BUCKETS, &co.num_batch_sizes);
    co.batch_sizes = batches;
  }
  if (!s && token_text) {
    co.token_buckets = tokens;
    if (strcmp(token_text, "none"))
      s = bertc_parse_int_list(token_text, "--token-buckets", BERTC_COMPILE_MAX_SEQ, tokens,
                               BERTC_COMPILE_MAX_BUCKETS, &co.num_token_buckets);
  }
  if (s) { /* a malformed list is a usage error, like any bad option value */
    int rc = cli_usage_error("compile", "%s", bertc_status_message(s));
    bertc_status_free(s);
    return rc;
  }
  s = bertc_compile(path, &co);
  return s ? cli_fail("compile", s) : CLI_OK;
}
