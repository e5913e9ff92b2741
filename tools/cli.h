/* Shared pieces of the bertc subcommands: exit codes, error reporting, and
 * the text side of `run` and `tokenize` (input texts, and a model opened for
 * text: its engine, tokenizer and task pipeline). Public headers only: the
 * CLI is a client of include/bertc/. */
#ifndef BERTC_TOOLS_CLI_H
#define BERTC_TOOLS_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "bertc/bertc.h"
#include "bertc/compiler.h"
#include "bertc/status.h"
#include "bertc/tasks.h"

enum { CLI_OK = 0, CLI_USER_ERROR = 1, CLI_USAGE = 2 };

/* Prints "bertc <cmd>: <message>" on stderr, frees the status, returns 1. */
int cli_fail(const char *cmd, bertc_status_t s);
/* Prints a usage error (one line, pointing at --help) and returns 2. */
int cli_usage_error(const char *cmd, const char *fmt, ...) BERTC_PRINTF(2, 3);
/* The usage error for what getopt_long returned as `c` ('?': an unknown
 * option, ':': an option without its value; the optstring must start with
 * ':' to tell them apart). main sets opterr = 0 so getopt prints nothing. */
int cli_option_error(const char *cmd, int c, char *const *argv);

/* Parses "1,2,3" into a heap array of int32 (values 0..INT32_MAX). */
bertc_status_t cli_parse_ids(const char *text, const char *what, int32_t **out,
                             int64_t *out_len) BERTC_MUST_USE;

/* ---- Text inputs (`--text`/`--pair` or `--input FILE.jsonl`) ---- */

typedef struct cli_text {
  char *text, *pair; /* pair NULL for a single text */
  size_t text_len, pair_len;
  bool qa;           /* given as question + context */
  int line;          /* line in the --input file (1-based); 0 for --text */
  char name[48];     /* "input 3" or "input 3 (line 5)", for messages */
} cli_text_t;

typedef struct cli_texts {
  cli_text_t *items;
  size_t count, cap;
  size_t base; /* inputs are numbered from base + 1 in names */
} cli_texts_t;

bertc_status_t cli_texts_add(cli_texts_t *t, const char *text, size_t text_len, const char *pair,
                             size_t pair_len, bool qa, int line) BERTC_MUST_USE;
/* Reads JSON Lines: objects with "text" and optional "text_pair", or
 * "question" and "context"; other keys are ignored, blank lines skipped.
 * "-" reads stdin. Errors name the file and line. */
bertc_status_t cli_texts_read_jsonl(cli_texts_t *t, const char *path) BERTC_MUST_USE;
/* Adds the input on one JSON Lines line (`n` bytes, not blank) read from
 * `path`; errors name the file and line. */
bertc_status_t cli_texts_parse_line(cli_texts_t *t, const char *path, int line, const char *s,
                                    size_t n) BERTC_MUST_USE;
void cli_texts_free(cli_texts_t *t);
/* The texts as pipeline inputs named like cli_text_t.name (they point into
 * the texts); free() the array. */
bertc_status_t cli_texts_inputs(const cli_texts_t *t,
                                bertc_pipeline_input_t **out_inputs) BERTC_MUST_USE;

/* A model opened for text: a .so through the runtime (with a context when
 * it runs) or a model directory / model.json through the reference
 * interpreter, with its tokenizer and task pipeline. */
typedef struct cli_model {
  const char *path;
  bertc_model_t *model;         /* a .so */
  bertc_context_t *context;     /* a .so opened to run */
  bertc_reference_t *reference; /* a directory or model.json */
  bertc_engine_t engine;        /* when opened to run */
  bertc_tokenizer_t *tokenizer; /* when opened for text */
  bertc_pipeline_t *pipeline;   /* when opened for text */
  int32_t model_max;            /* the longest input the model takes */
} cli_model_t;

typedef struct cli_model_options {
  bool run;     /* run it: a context for a .so (inspect_only otherwise) */
  int threads;  /* for a .so's context; 0: all cores */
  int32_t max_batch; /* sequences per run for a .so's context; 0: 8 (or the largest
                        batch bucket, up to 64); -1: as many as 256 MB of outputs
                        hold, 8..1024 */
  bertc_packing_t packing; /* packed runs on token buckets (default auto) */
  bool text;    /* inputs are text: load the tokenizer and make the pipeline */
  /* The pipeline's options (NULL: defaults). A directory is built for their
   * task; a .so must have the outputs it reads. */
  const bertc_pipeline_options_t *pipeline;
} cli_model_options_t;

/* Opens `path` (a .so is recognized by its ELF magic). out is zeroed
 * first; close it with cli_model_close either way. */
bertc_status_t cli_model_open(const char *path, const cli_model_options_t *o,
                              cli_model_t *out) BERTC_MUST_USE;
void cli_model_close(cli_model_t *m);
/* The note on stderr for an input cut to the tokenizer's max length. */
void cli_note_truncated(const char *cmd, const cli_model_t *m, const cli_text_t *in);

/* The options of a corpus run (`bertc run --input`). */
typedef struct cli_corpus_options {
  int64_t batch_tokens; /* the most tokens one run (one pack) takes; 0: no limit */
  int workers;          /* threads reading and tokenizing */
  bool stats;           /* one JSON line of totals on stderr at the end */
  bool progress;        /* a progress line on stderr (when it is a terminal) */
} cli_corpus_options_t;

/* Answers every line of the JSON Lines file `path` ('-': stdin) with the
 * model's pipeline, one JSON line each on stdout in input order, in bounded
 * memory: worker threads read and tokenize blocks of lines while the model
 * runs earlier ones. Ctrl-C stops after a complete line (exit status 130). */
int cli_run_corpus(cli_model_t *m, const char *path, const bertc_pipeline_options_t *po,
                   const cli_corpus_options_t *o);

int cmd_inspect(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_compile(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_serve(int argc, char **argv);

bool cli_is_shared_object(const char *path);

#endif
