/* bertc run MODEL (--text TEXT [--pair TEXT] | --input FILE.jsonl | --ids ID,...)
 *
 * MODEL is a compiled .so (run through the runtime, tokenizer from the .so)
 * or a HuggingFace directory / model.json (run through the reference
 * interpreter, tokenizer from its files). Text inputs go through the model's
 * task pipeline (bertc/tasks.h: tokenized, truncated to the model's
 * max_seq_length with a note on stderr, run in batches, post-processed): one
 * JSON object per input on stdout, in order (formats in docs/cli.md). Token
 * ids (--ids) print the raw output tensors, as does --raw. This file parses
 * the arguments and prints; the work is the pipeline's. */
#define _POSIX_C_SOURCE 200809L
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bertc/bertc.h"
#include "bertc/tasks.h"
#include "tools/cli.h"

static const char *help =
    "usage: bertc run MODEL (--text TEXT [--pair TEXT] ... | --input FILE.jsonl |\n"
    "                        --ids ID,ID,... [--type-ids ID,...] ...) [options]\n"
    "\n"
    "Runs MODEL (a .so from 'bertc compile', a model.json or a HuggingFace model\n"
    "directory) and prints one JSON object per input on stdout, in order. Text is\n"
    "tokenized with the model's tokenizer, truncated to its max_seq_length (a note\n"
    "on stderr says so) and post-processed for its task like the HuggingFace\n"
    "pipelines (formats in docs/cli.md):\n"
    "  embedding               {\"embedding\": [...]}\n"
    "  fill-mask               {\"mask\": [{\"token\", \"token_str\", \"score\", \"sequence\"}, "
    "...]}\n"
    "  next-sentence           {\"is_next\": p}\n"
    "  sequence-classification {\"label\", \"score\", \"scores\": [{\"label\", \"score\"}, ...]}\n"
    "  token-classification    {\"entities\": [{\"entity_group\", \"score\", \"word\", \"start\", "
    "\"end\"}]}\n"
    "  question-answering      {\"answer\", \"score\", \"start\", \"end\"}\n"
    "\n"
    "  --text TEXT          one input (repeat for more); for question answering the question\n"
    "  --pair TEXT          second text of the preceding --text (next-sentence, pairs;\n"
    "                       the context for question answering)\n"
    "  --question, --context  the same as --text, --pair\n"
    "  --input FILE         JSON Lines: {\"text\", \"text_pair\"} or {\"question\", \"context\"}\n"
    "                       per line ('-' for stdin); other keys are ignored. Any size:\n"
    "                       read and tokenized on worker threads while the model runs,\n"
    "                       in bounded memory; a progress line on stderr when it is a\n"
    "                       terminal; Ctrl-C stops after a complete output line\n"
    "  --batch-tokens N     --input: the most tokens one run (one pack of texts) takes\n"
    "                       (default: as many texts as a run holds)\n"
    "  --stats              --input: one JSON line of totals on stderr at the end (texts,\n"
    "                       real and computed tokens, seconds, texts/s)\n"
    "  --tokenizer-threads N  --input: threads reading and tokenizing (default 2)\n"
    "  --packing MODE       auto (default: runs of several texts packed without padding\n"
    "                       into the model's token buckets when that computes less),\n"
    "                       never, or always\n"
    "  --ids LIST           token ids of one input (repeat for a batch); prints raw outputs\n"
    "  --type-ids LIST      token type ids for the preceding --ids (default zeros)\n"
    "  --task NAME          post-process as NAME instead of the model's task: a directory\n"
    "                       is rebuilt for it; a .so must have the outputs it needs\n"
    "  --top-k N            fill-mask candidates (default 5), labels listed in \"scores\"\n"
    "                       (default all), answers (default 1; N > 1 prints \"answers\")\n"
    "  --aggregation NAME   token classification: none, simple (default), first,\n"
    "                       average or max\n"
    "  --function NAME      sequence classification: softmax, sigmoid or none (default:\n"
    "                       from the model's problem_type and label count)\n"
    "  --doc-stride N       question answering: window overlap in tokens (default\n"
    "                       min(window/2, 128))\n"
    "  --max-answer-len N   question answering: longest answer in tokens (default 15)\n"
    "  --raw                print the output tensors instead of post-processing\n"
    "  --threads N          threads for a compiled model (default: all cores)\n"
    "  -h, --help           show this help\n";

/* ---- Text inputs: the pipeline's answers, one line each ---------------------------- */

typedef struct printer {
  const cli_model_t *model;
  const cli_texts_t *texts;
} printer_t;

static bertc_status_t print_answer(void *user, size_t index, const char *json, size_t length) {
  (void)user;
  fwrite(json, 1, length, stdout);
  fputc('\n', stdout);
  if (index % 64 == 63) fflush(stdout);
  return BERTC_OK;
}

static void print_truncated(void *user, size_t index) {
  const printer_t *p = user;
  cli_note_truncated("run", p->model, &p->texts->items[index]);
}

static bertc_status_t run_texts(const cli_model_t *m, const cli_texts_t *texts) {
  bertc_pipeline_input_t *inputs = NULL;
  BERTC_RETURN_IF_ERROR(cli_texts_inputs(texts, &inputs));
  printer_t printer = {m, texts};
  bertc_answer_sink_t sink = {print_answer, print_truncated, &printer};
  bertc_status_t s = bertc_pipeline_run_json(m->pipeline, inputs, texts->count, &sink);
  fflush(stdout);
  free(inputs);
  return s;
}

/* ---- Token ids (--ids): the raw outputs ------------------------------------------- */

#define MAX_IDS 4096

typedef struct id_inputs {
  int n;
  int32_t *ids[MAX_IDS];
  int32_t *types[MAX_IDS];
  int32_t lengths[MAX_IDS];
} id_inputs_t;

static void id_inputs_free(id_inputs_t *in) {
  for (int i = 0; i < in->n; i++) {
    free(in->ids[i]);
    free(in->types[i]);
  }
  free(in);
}

static bertc_status_t run_ids(const bertc_engine_t *e, const id_inputs_t *in) {
  bertc_status_t s = BERTC_OK;
  int32_t longest = 1;
  for (int i = 0; i < in->n; i++)
    if (in->lengths[i] > longest) longest = in->lengths[i];
  int32_t *zeros = calloc((size_t)longest, sizeof *zeros);
  const int32_t *types[MAX_IDS];
  for (int i = 0; i < in->n; i++)
    types[i] = in->types[i] ? in->types[i] : zeros;
  if (!zeros) s = bertc_status_make(BERTC_STATUS_OUT_OF_MEMORY, "out of memory");
  for (int a = 0; !s && a < in->n; a += e->max_batch) {
    bertc_run_input_t ri;
    bertc_run_input_init(&ri);
    ri.count = in->n - a < e->max_batch ? in->n - a : e->max_batch;
    ri.lengths = in->lengths + a;
    ri.input_ids = (const int32_t *const *)in->ids + a;
    ri.token_type_ids = types + a;
    ri.pad_id = e->pad_id;
    s = e->run(e->self, &ri);
    for (int32_t j = 0; !s && j < ri.count; j++) {
      char *json = NULL;
      s = bertc_engine_output_json(e, &ri, j, &json);
      if (!s) printf("%s\n", json);
      free(json);
    }
  }
  free(zeros);
  return s;
}

int cmd_run(int argc, char **argv) {
  enum { O_TEXT = 256, O_PAIR, O_INPUT, O_TASK, O_TOPK, O_AGG, O_FN, O_STRIDE, O_MAXANS, O_RAW,
         O_BATCH_TOKENS, O_STATS, O_TOK_THREADS, O_PACKING };
  static const struct option opts[] = {{"ids", required_argument, 0, 'i'},
                                       {"type-ids", required_argument, 0, 't'},
                                       {"threads", required_argument, 0, 'T'},
                                       {"text", required_argument, 0, O_TEXT},
                                       {"question", required_argument, 0, O_TEXT},
                                       {"pair", required_argument, 0, O_PAIR},
                                       {"context", required_argument, 0, O_PAIR},
                                       {"input", required_argument, 0, O_INPUT},
                                       {"task", required_argument, 0, O_TASK},
                                       {"top-k", required_argument, 0, O_TOPK},
                                       {"aggregation", required_argument, 0, O_AGG},
                                       {"function", required_argument, 0, O_FN},
                                       {"doc-stride", required_argument, 0, O_STRIDE},
                                       {"max-answer-len", required_argument, 0, O_MAXANS},
                                       {"raw", no_argument, 0, O_RAW},
                                       {"batch-tokens", required_argument, 0, O_BATCH_TOKENS},
                                       {"stats", no_argument, 0, O_STATS},
                                       {"tokenizer-threads", required_argument, 0, O_TOK_THREADS},
                                       {"packing", required_argument, 0, O_PACKING},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
  id_inputs_t *in = calloc(1, sizeof *in);
  if (!in) return cli_fail("run", bertc_status_make(BERTC_STATUS_OUT_OF_MEMORY, "out of memory"));
  cli_texts_t texts;
  memset(&texts, 0, sizeof texts);
  const char *task_name = NULL, *input_path = NULL;
  bertc_pipeline_options_t po;
  bertc_pipeline_options_init(&po);
  bool pending_pair_ok = false;
  int threads = 0, c, rc = CLI_OK;
  cli_corpus_options_t corpus = {0, 2, false, true};
  bertc_packing_t packing = BERTC_PACKING_AUTO;
  optind = 1;
  bertc_status_t s = BERTC_OK;
  while (!s && rc == CLI_OK && (c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
    int64_t len = 0;
    char *end;
    long v = 0;
    switch (c) {
    case 'i':
      if (in->n == MAX_IDS) {
        rc = cli_usage_error("run", "at most %d --ids inputs", MAX_IDS);
        break;
      }
      s = cli_parse_ids(optarg, "--ids", &in->ids[in->n], &len);
      if (!s && len == 0) s = bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT, "--ids is empty");
      if (!s && len > INT32_MAX)
        s = bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT, "--ids too long");
      if (!s) in->lengths[in->n++] = (int32_t)len;
      break;
    case 't':
      if (in->n == 0 || in->types[in->n - 1]) {
        rc = cli_usage_error("run", "--type-ids must follow the --ids it belongs to");
        break;
      }
      s = cli_parse_ids(optarg, "--type-ids", &in->types[in->n - 1], &len);
      if (!s && len != in->lengths[in->n - 1])
        s = bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT,
                              "--type-ids has %lld values, its --ids has %d", (long long)len,
                              in->lengths[in->n - 1]);
      break;
    case O_TEXT:
      s = cli_texts_add(&texts, optarg, strlen(optarg), NULL, 0, false, 0);
      pending_pair_ok = true;
      break;
    case O_PAIR: {
      if (!pending_pair_ok) {
        rc = cli_usage_error("run", "--pair must follow the --text it belongs to");
        break;
      }
      cli_text_t *t = &texts.items[texts.count - 1];
      t->pair_len = strlen(optarg);
      t->pair = strdup(optarg);
      if (!t->pair) s = bertc_status_make(BERTC_STATUS_OUT_OF_MEMORY, "out of memory");
      pending_pair_ok = false;
      break;
    }
    case O_INPUT: input_path = optarg; break;
    case O_TASK: task_name = optarg; break;
    case O_TOPK:
    case O_STRIDE:
    case O_MAXANS:
      v = strtol(optarg, &end, 10);
      if (*end || v < (c == O_STRIDE ? 0 : 1) || v > 1000000) {
        rc = cli_usage_error("run", "%s wants a number%s, got '%s'",
                             c == O_TOPK     ? "--top-k"
                             : c == O_STRIDE ? "--doc-stride"
                                             : "--max-answer-len",
                             c == O_STRIDE ? " >= 0" : " >= 1", optarg);
        break;
      }
      if (c == O_TOPK) po.top_k = (int32_t)v;
      if (c == O_STRIDE) po.doc_stride = (int32_t)v;
      if (c == O_MAXANS) po.max_answer_length = (int32_t)v;
      break;
    case O_AGG:
      if (!bertc_aggregation_from_name(optarg, &po.aggregation))
        rc = cli_usage_error("run",
                             "--aggregation wants none, simple, first, average or max, "
                             "got '%s'",
                             optarg);
      break;
    case O_FN:
      if (!bertc_score_function_from_name(optarg, &po.function))
        rc = cli_usage_error("run", "--function wants softmax, sigmoid or none, got '%s'", optarg);
      break;
    case O_RAW: po.raw = true; break;
    case O_BATCH_TOKENS:
    case O_TOK_THREADS:
      v = strtol(optarg, &end, 10);
      if (*end || v < 1 || v > (c == O_BATCH_TOKENS ? 100000000 : 16)) {
        rc = cli_usage_error("run", "%s wants a number in 1..%d, got '%s'",
                             c == O_BATCH_TOKENS ? "--batch-tokens" : "--tokenizer-threads",
                             c == O_BATCH_TOKENS ? 100000000 : 16, optarg);
        break;
      }
      if (c == O_BATCH_TOKENS) corpus.batch_tokens = v;
      else corpus.workers = (int)v;
      break;
    case O_STATS: corpus.stats = true; break;
    case O_PACKING:
      if (!strcmp(optarg, "auto")) packing = BERTC_PACKING_AUTO;
      else if (!strcmp(optarg, "never")) packing = BERTC_PACKING_NEVER;
      else if (!strcmp(optarg, "always")) packing = BERTC_PACKING_ALWAYS;
      else rc = cli_usage_error("run", "--packing wants auto, never or always, got '%s'", optarg);
      break;
    case 'T':
      v = strtol(optarg, &end, 10);
      if (*end || v < 1 || v > 1024)
        rc = cli_usage_error("run", "--threads wants 1..1024, got '%s'", optarg);
      threads = (int)v;
      break;
    case 'h':
      fputs(help, stdout);
      id_inputs_free(in);
      cli_texts_free(&texts);
      return CLI_OK;
    default: rc = cli_option_error("run", c, argv);
    }
  }
  if (!s && rc == CLI_OK && input_path && texts.count)
    rc = cli_usage_error("run", "give --input or --text, not both");
  if (s) {
    id_inputs_free(in);
    cli_texts_free(&texts);
    return cli_fail("run", s);
  }
  if (rc == CLI_OK && optind + 1 != argc)
    rc = cli_usage_error("run", "expected one MODEL argument");
  if (rc == CLI_OK && in->n == 0 && texts.count == 0 && !input_path)
    rc = cli_usage_error("run", "no input: give --text, --input or --ids");
  if (rc == CLI_OK && in->n && (texts.count || input_path))
    rc = cli_usage_error("run", "give token ids (--ids) or text (--text, --input), not both");
  bertc_task_t want = BERTC_TASK_ENCODER;
  if (rc == CLI_OK && task_name &&
      (!bertc_task_from_name(task_name, &want) || want == BERTC_TASK_AUTO))
    rc = cli_usage_error("run",
                         "unknown --task '%s' (embedding, fill-mask, next-sentence, "
                         "sequence-classification, token-classification, "
                         "question-answering, encoder, ...)",
                         task_name);
  if (rc != CLI_OK) {
    id_inputs_free(in);
    cli_texts_free(&texts);
    return rc;
  }
  if (task_name) po.task = want;
  cli_model_options_t mo = {.run = true,
                            .threads = threads,
                            .text = texts.count > 0 || input_path,
                            .max_batch = input_path ? -1 : 0,
                            .packing = packing,
                            .pipeline = &po};
  cli_model_t m;
  s = cli_model_open(argv[optind], &mo, &m);
  if (!s && input_path) {
    rc = cli_run_corpus(&m, input_path, &po, &corpus);
    cli_model_close(&m);
    id_inputs_free(in);
    cli_texts_free(&texts);
    return rc;
  }
  if (!s && texts.count)
    s = run_texts(&m, &texts);
  else if (!s && in->n)
    s = run_ids(&m.engine, in);
  cli_model_close(&m);
  id_inputs_free(in);
  cli_texts_free(&texts);
  return s ? cli_fail("run", s) : CLI_OK;
}
