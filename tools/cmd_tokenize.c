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
#include "bertc/tasks.h"
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

static bertc_status_t tokenize_all(const cli_model_t *m, const cli_texts_t *texts) {
  for (size_t i = 0; i < texts->count; i++) {
    const cli_text_t *in = &texts->items[i];
    bertc_pipeline_input_t input = {in->text, in->text_len, in->pair, in->pair_len, in->name};
    bertc_features_t f;
    char *json = NULL;
    BERTC_RETURN_IF_ERROR_CTX(bertc_pipeline_encode(m->pipeline, &input, &f), "%s", in->name);
    if (f.truncated) cli_note_truncated("tokenize", m, in);
    bertc_status_t s = bertc_features_json(&f, &json);
    if (!s) printf("%s\n", json);
    free(json);
    bertc_features_deinit(&f);
    BERTC_RETURN_IF_ERROR(s);
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
  cli_model_options_t mo = {.run = false, .threads = 0, .text = true, .pipeline = NULL};
  cli_model_t m;
  s = cli_model_open(argv[optind], &mo, &m);
  if (!s) s = tokenize_all(&m, &texts);
  cli_model_close(&m);
  cli_texts_free(&texts);
  return s ? cli_fail("tokenize", s) : CLI_OK;
}
