/* bertc tokenize MODEL (--text TEXT [--pair TEXT] | --input FILE.jsonl)
 *
 * Shows what `bertc run` feeds the model: for each input one JSON object
 * with ids, tokens, type_ids and offsets (code points of the text, or of the
 * pair for its tokens; special tokens [0, 0]), truncated the way run
 * truncates. A question-answering model cuts a long context into windows as
 * run does, printed as {"windows": [...]}. MODEL is a .so (its tokenizer blob;
 * nothing is run, so any CPU can read it) or a model directory / model.json. */
#define _POSIX_C_SOURCE 200809L
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bertc/bertc.h"
#include "bertc/compiler.h"
#include "runtime/tasks.h"
#include "tools/cli.h"

static const char *help =
    "usage: bertc tokenize MODEL (--text TEXT [--pair TEXT] ... | --input FILE.jsonl)\n"
    "\n"
    "Tokenizes text with MODEL's tokenizer (a .so from 'bertc compile', a model.json\n"
    "or a HuggingFace model directory) and prints one JSON object per input:\n"
    "  {\"ids\": [...], \"tokens\": [...], \"type_ids\": [...], \"offsets\": [[start, end], ...]}\n"
    "with the truncation 'bertc run' applies (the model's max_seq_length; a note on\n"
    "stderr says so). For a question-answering model, {\"windows\": [...]} of such\n"
    "objects: the question with each part of the context 'bertc run' would use.\n"
    "\n"
    "  --text TEXT    one input (repeat for more)\n"
    "  --pair TEXT    second text of the preceding --text\n"
    "  --question, --context   the same as --text, --pair\n"
    "  --input FILE   JSON Lines: {\"text\", \"text_pair\"} or {\"question\", \"context\"}\n"
    "                 per line ('-' for stdin)\n"
    "  -h, --help     show this help\n";

/* One token sequence: the tokens of `e` listed in `index` (all when NULL). */
static void print_sequence(const tok_encoding_t *e, const int32_t *index, size_t n) {
#define AT(i) (index ? (size_t)index[i] : (i))
  fputs("{\"ids\":[", stdout);
  for (size_t i = 0; i < n; i++)
    fprintf(stdout, i ? ",%d" : "%d", e->ids[AT(i)]);
  fputs("],\"tokens\":[", stdout);
  for (size_t i = 0; i < n; i++) {
    if (i) fputc(',', stdout);
    cli_print_json_string(stdout, e->tokens[AT(i)]);
  }
  fputs("],\"type_ids\":[", stdout);
  for (size_t i = 0; i < n; i++)
    fprintf(stdout, i ? ",%d" : "%d", e->type_ids[AT(i)]);
  fputs("],\"offsets\":[", stdout);
  for (size_t i = 0; i < n; i++)
    fprintf(stdout, "%s[%d,%d]", i ? "," : "", e->offsets[2 * AT(i)], e->offsets[2 * AT(i) + 1]);
  fputs("]}", stdout);
#undef AT
}

static bertc_status_t tokenize_all(const cli_text_model_t *tm, const cli_texts_t *texts) {
  for (size_t i = 0; i < texts->count; i++) {
    const cli_text_t *in = &texts->items[i];
    if (tm->facts.task == BERTC_TASK_QUESTION_ANSWERING && in->pair) {
      rt_qa_features_t f;
      char where[64];
      BERTC_RETURN_IF_ERROR_CTX(rt_task_qa_features(tm->decoder, in->text, in->text_len, in->pair,
                                                    in->pair_len, tm->max_len, NULL, &f),
                                "%s", cli_text_where(in, i, where, sizeof where));
      fputs("{\"windows\":[", stdout);
      for (int32_t w = 0; w < f.num_windows; w++) {
        if (w) fputc(',', stdout);
        print_sequence(&f.full, f.windows[w].source, (size_t)f.windows[w].len);
      }
      fputs("]}\n", stdout);
      rt_qa_features_deinit(&f);
      continue;
    }
    tok_encoding_t e;
    BERTC_RETURN_IF_ERROR(cli_encode("tokenize", tm, in, i, &e));
    print_sequence(&e, NULL, e.len);
    fputc('\n', stdout);
    tok_encoding_deinit(&e);
  }
  return BERTC_OK;
}

int cmd_tokenize(int argc, char **argv) {
  enum { O_TEXT = 256, O_PAIR, O_INPUT };
  static const struct option opts[] = {{"text", required_argument, 0, O_TEXT},
                                       {"question", required_argument, 0, O_TEXT},
                                       {"pair", required_argument, 0, O_PAIR},
                                       {"context", required_argument, 0, O_PAIR},
                                       {"input", required_argument, 0, O_INPUT},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
  cli_texts_t texts;
  memset(&texts, 0, sizeof texts);
  const char *input_path = NULL;
  bool pair_ok = false;
  int c, rc = CLI_OK;
  optind = 1;
  bertc_status_t s = BERTC_OK;
  while (!s && rc == CLI_OK && (c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
    switch (c) {
    case O_TEXT:
      s = cli_texts_add(&texts, optarg, strlen(optarg), NULL, 0, false, 0);
      pair_ok = true;
      break;
    case O_PAIR: {
      if (!pair_ok) {
        rc = cli_usage_error("tokenize", "--pair must follow the --text it belongs to");
        break;
      }
      cli_text_t *t = &texts.items[texts.count - 1];
      t->pair_len = strlen(optarg);
      t->pair = strdup(optarg);
      if (!t->pair) s = bertc_status_make(BERTC_STATUS_OUT_OF_MEMORY, "out of memory");
      pair_ok = false;
      break;
    }
    case O_INPUT: input_path = optarg; break;
    case 'h':
      fputs(help, stdout);
      cli_texts_free(&texts);
      return CLI_OK;
    default: rc = cli_option_error("tokenize", c, argv);
    }
  }
  if (!s && rc == CLI_OK && input_path) s = cli_texts_read_jsonl(&texts, input_path);
  if (s) {
    cli_texts_free(&texts);
    return cli_fail("tokenize", s);
  }
  if (rc == CLI_OK && optind + 1 != argc)
    rc = cli_usage_error("tokenize", "expected one MODEL argument");
  if (rc == CLI_OK && !texts.count && !input_path)
    rc = cli_usage_error("tokenize", "no input: give --text or --input");
  if (rc != CLI_OK) {
    cli_texts_free(&texts);
    return rc;
  }
  const char *path = argv[optind];
  cli_text_model_t tm;
  memset(&tm, 0, sizeof tm);
  if (cli_is_shared_object(path)) {
    bertc_model_t *model = NULL;
    bertc_model_load_options_t lo;
    bertc_model_load_options_init(&lo);
    lo.inspect_only = true;
    s = bertc_model_load(path, &lo, &model);
    if (!s) s = cli_text_model_from_so(model, &tm);
    bertc_model_release(model);
  } else {
    bertc_reference_t *ref = NULL;
    s = bertc_reference_open(path, NULL, &ref);
    if (!s)
      s = cli_text_model_from_dir(bertc_reference_tokenizer_dir(ref),
                                  bertc_reference_metadata_json(ref), &tm);
    bertc_reference_release(ref);
  }
  if (!s) s = tokenize_all(&tm, &texts);
  cli_text_model_deinit(&tm);
  cli_texts_free(&texts);
  return s ? cli_fail("tokenize", s) : CLI_OK;
}
