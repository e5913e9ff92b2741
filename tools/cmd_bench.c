/* bertc bench OUT.so: latency of one bucket. Deterministic pseudo-random
 * token ids of exactly the bucket's shape; warm-up runs, then --iters timed
 * runs; prints min / median / p90 in milliseconds (and GFLOP/s from the
 * encoder FLOP formula when the metadata has the sizes). */
#define _POSIX_C_SOURCE 200809L
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bertc/bertc.h"
#include "tools/cli.h"

static const char *help =
    "usage: bertc bench OUT.so [--seq N] [--batch B] [--threads T] [--threading pool|openmp]\n"
    "                          [--iters N] [--warmup N] [--variant CPU] [--json]\n"
    "\n"
    "Times one bucket of a compiled model: --warmup runs, then --iters timed runs.\n"
    "\n"
    "  --seq N       sequence length (default 128, or the largest bucket below it)\n"
    "  --batch B     batch size (default 1)\n"
    "  --threads T   threads (default: all cores)\n"
    "  --threading pool|openmp\n"
    "                who runs the parallel loops: the context's own thread pool (default)\n"
    "                or the OpenMP runtime (libomp or libgomp, found at run time)\n"
    "  --iters N     timed runs (default 50)\n"
    "  --warmup N    untimed runs first (default 5)\n"
    "  --variant CPU the code variant to run, by target cpu (default: the best this\n"
    "                host runs; 'bertc inspect' lists a .so's variants)\n"
    "  --json        print one JSON object\n"
    "  -h, --help    show this help\n";

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static bool parse_pos(const char *s, long max, long *out) {
  char *end;
  long v = strtol(s, &end, 10);
  if (*end || v < 1 || v > max) return false;
  *out = v;
  return true;
}

static double meta_int(const bertc_model_t *m, const char *key) {
  json_t *meta = json_loads(bertc_model_metadata_json(m), 0, NULL);
  json_t *v = json_object_get(meta, key);
  double value = json_is_integer(v) ? (double)json_integer_value(v) : 0;
  json_decref(meta);
  return value;
}

int cmd_bench(int argc, char **argv) {
  static const struct option opts[] = {{"seq", required_argument, 0, 's'},
                                       {"batch", required_argument, 0, 'b'},
                                       {"threads", required_argument, 0, 't'},
                                       {"iters", required_argument, 0, 'n'},
                                       {"warmup", required_argument, 0, 'w'},
                                       {"threading", required_argument, 0, 'm'},
                                       {"variant", required_argument, 0, 'v'},
                                       {"json", no_argument, 0, 'j'},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
  long seq = 0, batch = 1, threads = 0, iters = 50, warmup = 5;
  int as_json = 0, c;
  bertc_threading_t threading = BERTC_THREADING_POOL;
  const char *variant = NULL;
  optind = 1;
  while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
    long *dst = c == 's'   ? &seq
                : c == 'b' ? &batch
                : c == 't' ? &threads
                : c == 'n' ? &iters
                : c == 'w' ? &warmup
                           : NULL;
    if (dst) {
      if (!parse_pos(optarg, 1 << 20, dst) && !(c == 'w' && !strcmp(optarg, "0")))
        return cli_usage_error("bench", "--%s wants a positive integer, got '%s'",
                               c == 's'   ? "seq"
                               : c == 'b' ? "batch"
                               : c == 't' ? "threads"
                               : c == 'n' ? "iters"
                                          : "warmup",
                               optarg);
      if (c == 'w' && !strcmp(optarg, "0")) warmup = 0;
    } else if (c == 'm') {
      if (strcmp(optarg, "pool") && strcmp(optarg, "openmp"))
        return cli_usage_error("bench", "--threading wants pool or openmp, got '%s'", optarg);
      threading = strcmp(optarg, "pool") ? BERTC_THREADING_OPENMP : BERTC_THREADING_POOL;
    } else if (c == 'v') {
      variant = optarg;
    } else if (c == 'j') {
      as_json = 1;
    } else if (c == 'h') {
      fputs(help, stdout);
      return CLI_OK;
    } else {
      return cli_option_error("bench", c, argv);
    }
  }
  if (optind + 1 != argc) return cli_usage_error("bench", "expected one OUT.so argument");
  const char *path = argv[optind];
  bertc_model_t *m = NULL;
  bertc_context_t *ctx = NULL;
  bertc_model_load_options_t lo;
  bertc_model_load_options_init(&lo);
  lo.variant = variant;
  bertc_status_t s = bertc_model_load(path, &lo, &m);
  if (s) return cli_fail("bench", s);
  const bertc_abi_variant_t *runs = bertc_model_variant(m, NULL);
  if (!seq) seq = bertc_model_max_seq(m) < 128 ? bertc_model_max_seq(m) : 128;
  if (seq > bertc_model_max_seq(m)) {
    s = bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT,
                          "%s: --seq %ld is longer than the largest bucket (%d)", path, seq,
                          bertc_model_max_seq(m));
    bertc_model_release(m);
    return cli_fail("bench", s);
  }
  bertc_context_options_t co;
  bertc_context_options_init(&co);
  co.num_threads = (int32_t)threads;
  co.max_batch = (int32_t)batch;
  co.threading = threading;
  s = bertc_context_create(m, &co, &ctx);
  int64_t vocab = bertc_model_vocab_size(m);
  int32_t *ids = malloc((size_t)(batch * seq) * sizeof(int32_t));
  const int32_t **rows = malloc((size_t)batch * sizeof(int32_t *));
  int32_t *lens = malloc((size_t)batch * sizeof(int32_t));
  double *times = malloc((size_t)iters * sizeof(double));
  if (!s && (!ids || !rows || !lens || !times))
    s = bertc_status_make(BERTC_STATUS_OUT_OF_MEMORY, "out of memory");
  uint64_t x = 88172645463325252ull;
  for (long i = 0; !s && i < batch * seq; i++) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    ids[i] = (int32_t)(100 + x % (uint64_t)(vocab > 200 ? vocab - 200 : 1));
  }
  for (long b = 0; !s && b < batch; b++) {
    rows[b] = ids + b * seq;
    lens[b] = (int32_t)seq;
  }
  bertc_run_input_t in;
  bertc_run_input_init(&in);
  in.count = (int32_t)batch;
  in.lengths = lens;
  in.input_ids = rows;
  for (long i = 0; !s && i < warmup; i++)
    s = bertc_context_run(ctx, &in);
  for (long i = 0; !s && i < iters; i++) {
    double t = now_ms();
    s = bertc_context_run(ctx, &in);
    times[i] = now_ms() - t;
  }
  if (!s) {
    bertc_run_info_t info;
    bertc_context_run_info(ctx, &info);
    qsort(times, (size_t)iters, sizeof(double), cmp_double);
    double min = times[0], median = times[iters / 2],
           p90 = times[(iters * 9) / 10 < iters ? (iters * 9) / 10 : iters - 1];
    double h = meta_int(m, "hidden_size"), inter = meta_int(m, "intermediate_size"),
           layers = meta_int(m, "num_layers");
    double S = (double)info.last_seq;
    const char *mode = threading == BERTC_THREADING_OPENMP ? "openmp" : "pool";
    double gflop =
        layers * (8 * S * h * h + 4 * S * h * inter + 4 * S * S * h) * (double)batch / 1e9;
    if (as_json)
      printf("{\"model\":\"%s\",\"batch\":%ld,\"seq\":%ld,\"bucket_seq\":%d,\"threads\":%d,"
             "\"threading\":\"%s\",\"variant\":\"%s\",\"iters\":%ld,"
             "\"min_ms\":%.4f,\"median_ms\":%.4f,\"p90_ms\":%.4f,\"gflop\":%.4f,\"gflops\":%.2f}\n",
             path, batch, seq, info.last_seq, bertc_context_num_threads(ctx), mode,
             runs->target_cpu, iters, min, median, p90, gflop, gflop / (median * 1e-3));
    else
      printf("%s [%s]: batch %ld seq %ld (bucket %d) threads %d (%s): min %.3f ms  median %.3f "
             "ms  p90 %.3f ms  (%.1f GFLOP/s)\n",
             path, runs->target_cpu, batch, seq, info.last_seq, bertc_context_num_threads(ctx),
             mode, min, median, p90, gflop / (median * 1e-3));
  }
  free(ids);
  free(rows);
  free(lens);
  free(times);
  bertc_context_release(ctx);
  bertc_model_release(m);
  return s ? cli_fail("bench", s) : CLI_OK;
}
