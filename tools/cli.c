/* Helpers shared by the subcommands. Floats print with %.9g, which reads back
 * as the same f32. */
#include "tools/cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/common.h"

int cli_fail(const char *cmd, bertc_status_t s) {
  fprintf(stderr, "bertc %s: %s\n", cmd, bertc_status_message(s));
  bertc_status_free(s);
  return CLI_USER_ERROR;
}

int cli_usage_error(const char *cmd, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "bertc %s: ", cmd);
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, " (see 'bertc %s --help')\n", cmd);
  va_end(ap);
  return CLI_USAGE;
}

int cli_option_error(const char *cmd, int c, char *const *argv) {
  const char *what = c == ':' ? "needs a value" : "is not an option";
  if (c == '?' && optopt > 0 && optopt < 128)
    return cli_usage_error(cmd, "option '-%c' %s", optopt, what);
  return cli_usage_error(cmd, "option '%s' %s", argv[optind - 1], what);
}

void cli_print_floats(FILE *f, const float *v, int64_t count) {
  fputc('[', f);
  for (int64_t i = 0; i < count; i++) fprintf(f, i ? ",%.9g" : "%.9g", (double)v[i]);
  fputc(']', f);
}

static void print_nested(FILE *f, const float *data, const int64_t *dims, int rank) {
  if (rank == 1) {
    cli_print_floats(f, data, dims[0]);
    return;
  }
  int64_t inner = 1;
  for (int i = 1; i < rank; i++) inner *= dims[i];
  fputc('[', f);
  for (int64_t i = 0; i < dims[0]; i++) {
    if (i) fputc(',', f);
    print_nested(f, data + i * inner, dims + 1, rank - 1);
  }
  fputc(']', f);
}

void cli_print_result(FILE *f, const cli_tensor_t *tensors, int count, int64_t index,
                      int64_t seq, int64_t length) {
  fputc('{', f);
  for (int t = 0; t < count; t++) {
    const cli_tensor_t *x = &tensors[t];
    const char *name = strcmp(x->name, "sentence_embedding") ? x->name : "embedding";
    fprintf(f, "%s\"%s\":", t ? "," : "", name);
    int64_t per_item = 1;
    for (int i = 1; i < x->rank; i++) per_item *= x->dims[i];
    const float *item = x->data + index * per_item;
    int64_t dims[4];
    for (int i = 1; i < x->rank; i++) dims[i - 1] = x->dims[i];
    bool per_token = x->rank >= 2 && x->dims[1] == seq;
    if (per_token) dims[0] = length;
    if (x->rank == 1)
      fprintf(f, "%.9g", (double)item[0]);
    else
      print_nested(f, item, dims, x->rank - 1);
  }
  fputs("}\n", f);
}

bertc_status_t cli_parse_ids(const char *text, const char *what, int32_t **out,
                             int64_t *out_len) {
  *out = NULL;
  *out_len = 0;
  size_t cap = 1;
  for (const char *p = text; *p; p++) cap += *p == ',';
  int32_t *ids;
  BERTC_RETURN_IF_ERROR(bertc_alloc(cap * sizeof(int32_t), (void **)&ids));
  const char *p = text;
  int64_t n = 0;
  while (1) {
    while (*p == ' ') p++;
    if (*p < '0' || *p > '9') {
      free(ids);
      return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT,
                               "%s '%s': expected comma-separated non-negative integers", what, text);
    }
    errno = 0;
    char *end;
    long long v = strtoll(p, &end, 10);
    if (errno || v > INT32_MAX) {
      free(ids);
      return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT, "%s '%s': %.*s is too large", what,
                               text, (int)(end - p), p);
    }
    ids[n++] = (int32_t)v;
    p = end;
    while (*p == ' ') p++;
    if (!*p) break;
    if (*p != ',') {
      free(ids);
      return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT,
                               "%s '%s': unexpected '%c' (expected comma-separated integers)", what,
                               text, *p);
    }
    p++;
  }
  *out = ids;
  *out_len = n;
  return BERTC_OK;
}

bool cli_is_shared_object(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return false;
  unsigned char magic[4] = {0};
  size_t n = fread(magic, 1, 4, f);
  fclose(f);
  return n == 4 && magic[0] == 0x7f && magic[1] == 'E' && magic[2] == 'L' && magic[3] == 'F';
}
