/* Shared pieces of the bertc subcommands: exit codes, error reporting, and
 * JSON output of result tensors. */
#ifndef BERTC_TOOLS_CLI_H
#define BERTC_TOOLS_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "bertc/status.h"

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

int cmd_inspect(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_compile(int argc, char **argv);
int cmd_bench(int argc, char **argv);

bool cli_is_shared_object(const char *path);

#endif
