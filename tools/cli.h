/* Shared pieces of the bertc subcommands: exit codes, error reporting, JSON
 * output of result tensors, and the text side of `run` and `tokenize` (input
 * texts, the model's tokenizer and truncation length). */
#ifndef BERTC_TOOLS_CLI_H
#define BERTC_TOOLS_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "bertc/bertc.h"
#include "bertc/status.h"
#include "runtime/tasks.h"
#include "tokenizer/tokenizer.h"

enum { CLI_OK = 0, CLI_USER_ERROR = 1, CLI_USAGE = 2 };

/* Prints "bertc <cmd>: <message>" on stderr, frees the status, returns 1. */
int cli_fail(const char *cmd, bertc_status_t s);
/* Prints a usage error (one line, pointing at --help) and returns 2. */
int cli_usage_error(const char *cmd, const char *fmt, ...) BERTC_PRINTF(2, 3);
/* The usage error for what getopt_long returned as `c` ('?': an unknown
 * option, ':': an option without its value; the optstring must start with
 * ':' to tell them apart). main sets opterr = 0 so getopt prints nothing. */
int cli_option_error(const char *cmd, int c, char *const *argv);

/* A result tensor as the commands print it. */
typedef struct cli_tensor {
  const char *name;
  int rank;
  int64_t dims[4];
  const float *data;
} cli_tensor_t;

/* Prints one JSON array of `count` floats (shortest round-trip form). */
void cli_print_floats(FILE *f, const float *v, int64_t count);
/* Prints {"name": nested arrays, ...} for one sequence: tensors whose
 * leading dims are [batch, seq] are cut to `length` tokens. seq is the padded
 * sequence length the tensors were computed at. sentence_embedding prints as
 * "embedding". */
void cli_print_result(FILE *f, const cli_tensor_t *tensors, int count, int64_t index,
                      int64_t seq, int64_t length);

/* Parses "1,2,3" into a heap array of int32 (values 0..INT32_MAX). */
bertc_status_t cli_parse_ids(const char *text, const char *what, int32_t **out,
                             int64_t *out_len) BERTC_MUST_USE;

/* Prints a JSON string (UTF-8 kept, control characters escaped). */
void cli_print_json_string(FILE *f, const char *s);
/* Prints a float the way cli_print_floats does (%.9g); null when not finite. */
void cli_print_number(FILE *f, double v);

/* ---- Text inputs (`--text`/`--pair` or `--input FILE.jsonl`) ---- */

typedef struct cli_text {
  char *text, *pair; /* pair NULL for a single text */
  size_t text_len, pair_len;
  bool qa;           /* given as question + context */
  int line;          /* line in the --input file (1-based); 0 for --text */
} cli_text_t;

typedef struct cli_texts {
  cli_text_t *items;
  size_t count, cap;
} cli_texts_t;

bertc_status_t cli_texts_add(cli_texts_t *t, const char *text, size_t text_len, const char *pair,
                             size_t pair_len, bool qa, int line) BERTC_MUST_USE;
/* Reads JSON Lines: objects with "text" and optional "text_pair", or
 * "question" and "context"; other keys are ignored, blank lines skipped.
 * "-" reads stdin. Errors name the file and line. */
bertc_status_t cli_texts_read_jsonl(cli_texts_t *t, const char *path) BERTC_MUST_USE;
void cli_texts_free(cli_texts_t *t);
/* "input 3" or "input 3 (line 5)" into buf, for messages. */
const char *cli_text_where(const cli_text_t *t, size_t index, char *buf, size_t cap);

/* What turns a model's text inputs into token ids: its tokenizer and
 * decoder (from the .so's tokenizer blob or the model directory's files),
 * the task facts from its metadata, and the truncation length. */
typedef struct cli_text_model {
  tok_tokenizer_t *tokenizer;
  rt_decoder_t *decoder;
  rt_task_model_t facts;
  int64_t max_len;   /* inputs are truncated to this many tokens */
  int64_t model_max; /* the model's max_seq_length */
  int32_t pad_id;    /* config pad_token_id */
} cli_text_model_t;

/* From a loaded .so: max_len is the smaller of the metadata's
 * max_seq_length and the largest compiled bucket. */
bertc_status_t cli_text_model_from_so(const bertc_model_t *model,
                                      cli_text_model_t *out) BERTC_MUST_USE;
/* From a model directory or model.json whose metadata JSON is `metadata`;
 * tokenizer files from tokenizer_dir. */
bertc_status_t cli_text_model_from_dir(const char *tokenizer_dir, const char *metadata,
                                       cli_text_model_t *out) BERTC_MUST_USE;
void cli_text_model_deinit(cli_text_model_t *m);
/* Encodes one input truncated to max_len (longest_first, HF's default), and
 * prints a note on stderr when truncation removed tokens. */
bertc_status_t cli_encode(const char *cmd, const cli_text_model_t *m, const cli_text_t *in,
                          size_t index, tok_encoding_t *enc) BERTC_MUST_USE;

int cmd_inspect(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_compile(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);

bool cli_is_shared_object(const char *path);

#endif
