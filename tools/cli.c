/* Helpers shared by the subcommands: messages and exit codes, token id
 * lists, text inputs, and opening a model for text through the public API
 * (a .so with the runtime, a directory with the reference interpreter). */
#define _POSIX_C_SOURCE 200809L
#include "tools/cli.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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

bertc_status_t cli_parse_ids(const char *text, const char *what, int32_t **out, int64_t *out_len) {
  *out = NULL;
  *out_len = 0;
  size_t cap = 1;
  for (const char *p = text; *p; p++)
    cap += *p == ',';
  int32_t *ids = malloc(cap * sizeof *ids);
  if (!ids) return bertc_status_make(BERTC_STATUS_OUT_OF_MEMORY, "out of memory");
  const char *p = text;
  int64_t n = 0;
  while (1) {
    while (*p == ' ')
      p++;
    if (*p < '0' || *p > '9') {
      free(ids);
      return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT,
                               "%s '%s': expected comma-separated non-negative integers", what,
                               text);
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
    while (*p == ' ')
      p++;
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

/* ---- Text inputs ------------------------------------------------------------------ */

static bertc_status_t dup_n(const char *s, size_t n, char **out) {
  char *p = malloc(n + 1);
  if (!p) return bertc_status_make(BERTC_STATUS_OUT_OF_MEMORY, "out of memory");
  if (n) memcpy(p, s, n);
  p[n] = '\0';
  *out = p;
  return BERTC_OK;
}

bertc_status_t cli_texts_add(cli_texts_t *t, const char *text, size_t text_len, const char *pair,
                             size_t pair_len, bool qa, int line) {
  if (t->count == t->cap) {
    size_t cap = t->cap ? 2 * t->cap : 16;
    cli_text_t *p = realloc(t->items, cap * sizeof *p);
    if (!p) return bertc_status_make(BERTC_STATUS_OUT_OF_MEMORY, "out of memory");
    t->items = p;
    t->cap = cap;
  }
  cli_text_t *it = &t->items[t->count];
  memset(it, 0, sizeof *it);
  BERTC_RETURN_IF_ERROR(dup_n(text, text_len, &it->text));
  it->text_len = text_len;
  if (pair) {
    bertc_status_t s = dup_n(pair, pair_len, &it->pair);
    if (s) {
      free(it->text);
      return s;
    }
    it->pair_len = pair_len;
  }
  it->qa = qa;
  it->line = line;
  if (line)
    snprintf(it->name, sizeof it->name, "input %zu (line %d)", t->base + t->count + 1, line);
  else
    snprintf(it->name, sizeof it->name, "input %zu", t->base + t->count + 1);
  t->count++;
  return BERTC_OK;
}

void cli_texts_free(cli_texts_t *t) {
  for (size_t i = 0; i < t->count; i++) {
    free(t->items[i].text);
    free(t->items[i].pair);
  }
  free(t->items);
  memset(t, 0, sizeof *t);
}

bertc_status_t cli_texts_inputs(const cli_texts_t *t, bertc_pipeline_input_t **out_inputs) {
  *out_inputs = calloc(t->count ? t->count : 1, sizeof **out_inputs);
  if (!*out_inputs) return bertc_status_make(BERTC_STATUS_OUT_OF_MEMORY, "out of memory");
  for (size_t i = 0; i < t->count; i++) {
    const cli_text_t *x = &t->items[i];
    (*out_inputs)[i] =
        (bertc_pipeline_input_t){x->text, x->text_len, x->pair, x->pair_len, x->name};
  }
  return BERTC_OK;
}

/* Reads a whole stream into a NUL-terminated heap buffer. */
static bertc_status_t read_stream(FILE *f, const char *path, char **out, size_t *out_size) {
  size_t cap = 1 << 16, n = 0;
  char *buf = malloc(cap);
  while (buf) {
    size_t got = fread(buf + n, 1, cap - n - 1, f);
    n += got;
    if (got == 0) break;
    if (n + 1 == cap) {
      char *p = realloc(buf, cap * 2);
      if (!p) {
        free(buf);
        buf = NULL;
        break;
      }
      buf = p;
      cap *= 2;
    }
  }
  if (!buf) return bertc_status_make(BERTC_STATUS_OUT_OF_MEMORY, "out of memory");
  if (ferror(f)) {
    free(buf);
    return bertc_status_make(BERTC_STATUS_IO, "%s: read failed", path);
  }
  buf[n] = '\0';
  *out = buf;
  *out_size = n;
  return BERTC_OK;
}

static bertc_status_t read_file(const char *path, char **out, size_t *out_size) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return bertc_status_make(errno == ENOENT ? BERTC_STATUS_NOT_FOUND : BERTC_STATUS_IO,
                             "%s: cannot open: %s", path, strerror(errno));
  struct stat st;
  bertc_status_t s = BERTC_OK;
  if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode))
    s = bertc_status_make(BERTC_STATUS_IO, "%s: not a regular file", path);
  if (!s) s = read_stream(f, path, out, out_size);
  fclose(f);
  return s;
}

bertc_status_t cli_texts_parse_line(cli_texts_t *t, const char *path, int line, const char *s,
                                    size_t n) {
  json_error_t err;
  json_t *o = json_loadb(s, n, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &err);
  if (!o)
    return bertc_status_make(BERTC_STATUS_DATA, "%s:%d: invalid JSON at column %d: %s", path, line,
                             err.column, err.text);
  bertc_status_t st = BERTC_OK;
  json_t *text = json_object_get(o, "text"), *pair = json_object_get(o, "text_pair");
  json_t *q = json_object_get(o, "question"), *c = json_object_get(o, "context");
  bool qa = q || c;
  if (!json_is_object(o))
    st = bertc_status_make(BERTC_STATUS_DATA, "%s:%d: expected a JSON object", path, line);
  else if (qa && (text || pair))
    st = bertc_status_make(BERTC_STATUS_DATA,
                           "%s:%d: give \"text\" (and \"text_pair\") or \"question\" and "
                           "\"context\", not both",
                           path, line);
  else if (qa && (!json_is_string(q) || !json_is_string(c)))
    st = bertc_status_make(BERTC_STATUS_DATA,
                           "%s:%d: \"question\" and \"context\" must both be strings", path, line);
  else if (!qa && !json_is_string(text))
    st = bertc_status_make(BERTC_STATUS_DATA,
                           "%s:%d: expected a string \"text\" (or \"question\" and \"context\")",
                           path, line);
  else if (!qa && pair && !json_is_null(pair) && !json_is_string(pair))
    st = bertc_status_make(BERTC_STATUS_DATA, "%s:%d: \"text_pair\" must be a string", path, line);
  if (!st) {
    json_t *a = qa ? q : text, *b = qa ? c : (json_is_string(pair) ? pair : NULL);
    st = cli_texts_add(t, json_string_value(a), json_string_length(a),
                       b ? json_string_value(b) : NULL, b ? json_string_length(b) : 0, qa, line);
  }
  json_decref(o);
  return st;
}

bertc_status_t cli_texts_read_jsonl(cli_texts_t *t, const char *path) {
  char *data = NULL;
  size_t size = 0;
  if (!strcmp(path, "-"))
    BERTC_RETURN_IF_ERROR(read_stream(stdin, "<stdin>", &data, &size));
  else
    BERTC_RETURN_IF_ERROR(read_file(path, &data, &size));
  bertc_status_t s = BERTC_OK;
  int line = 0;
  if (!strcmp(path, "-")) path = "<stdin>";
  for (size_t k = 0; !s && k < size;) {
    const char *nl = memchr(data + k, '\n', size - k);
    size_t end = nl ? (size_t)(nl - data) : size;
    line++;
    size_t a = k, b = end;
    while (a < b && strchr(" \t\r", data[a]))
      a++;
    while (b > a && strchr(" \t\r", data[b - 1]))
      b--;
    if (b > a) s = cli_texts_parse_line(t, path, line, data + a, b - a);
    k = end + 1;
  }
  free(data);
  return s;
}

/* ---- Models opened for text ------------------------------------------------------- */

void cli_model_close(cli_model_t *m) {
  bertc_pipeline_release(m->pipeline);
  bertc_tokenizer_release(m->tokenizer);
  bertc_context_release(m->context);
  bertc_model_release(m->model);
  bertc_reference_release(m->reference);
  memset(m, 0, sizeof *m);
}

/* Whether a .so compiled for one task has the outputs another task reads. */
static bool so_serves(bertc_task_t compiled, bertc_task_t want) {
  if (want == compiled || want == BERTC_TASK_ENCODER) return true;
  if (compiled == BERTC_TASK_PRETRAINING)
    return want == BERTC_TASK_FILL_MASK || want == BERTC_TASK_NSP;
  return false;
}

static bertc_status_t open_so(const char *path, const cli_model_options_t *o, cli_model_t *m) {
  bertc_model_load_options_t lo;
  bertc_model_load_options_init(&lo);
  lo.inspect_only = !o->run;
  BERTC_RETURN_IF_ERROR(bertc_model_load(path, &lo, &m->model));
  if (o->run) {
    /* Runs of 8 sequences (or the largest batch bucket, up to 64): the
     * context's output buffers are sized for it, which matters for
     * fill-mask's logits. */
    int32_t largest = bertc_model_max_batch(m->model);
    bertc_context_options_t co;
    bertc_context_options_init(&co);
    co.num_threads = o->threads;
    co.max_batch = o->max_batch > 0 ? o->max_batch : largest > 8 ? (largest < 64 ? largest : 64) : 8;
    co.packing = o->packing;
    if (o->max_batch < 0) { /* by the outputs' size at the longest sequence */
      uint32_t n = 0;
      const bertc_abi_tensor_t *outs = bertc_model_outputs(m->model, &n);
      double per_seq = 0;
      for (uint32_t i = 0; i < n; i++) {
        double e = 4;
        for (int k = 1; k < outs[i].rank; k++)
          e *= outs[i].dims[k] == BERTC_ABI_DIM_SEQ ? bertc_model_max_seq(m->model)
                                                    : (double)outs[i].dims[k];
        per_seq += e;
      }
      double fit = per_seq > 0 ? 256.0 * 1024 * 1024 / per_seq : 1024;
      co.max_batch = fit < 8 ? 8 : fit > 1024 ? 1024 : (int32_t)fit;
    }
    BERTC_RETURN_IF_ERROR(bertc_context_create(m->model, &co, &m->context));
    bertc_context_engine(m->context, &m->engine);
  }
  if (!o->text) return BERTC_OK;
  bertc_status_t s = bertc_tokenizer_create_from_model(m->model, &m->tokenizer);
  if (s && bertc_status_code(s) == BERTC_STATUS_NOT_FOUND) {
    bertc_status_t n = bertc_status_make(BERTC_STATUS_NOT_FOUND, "%s; give token ids with --ids",
                                         bertc_status_message(s));
    bertc_status_free(s);
    return n;
  }
  BERTC_RETURN_IF_ERROR(s);
  BERTC_RETURN_IF_ERROR_CTX(bertc_pipeline_create(o->run ? &m->engine : NULL,
                                                  bertc_model_metadata_json(m->model), m->tokenizer,
                                                  o->pipeline, &m->pipeline),
                            "%s", path);
  int32_t max = bertc_pipeline_max_seq_length(m->pipeline);
  m->model_max = max > 0 ? max : bertc_model_max_seq(m->model);
  bertc_task_t compiled = bertc_pipeline_model_task(m->pipeline);
  bertc_task_t want = bertc_pipeline_task(m->pipeline);
  if (!so_serves(compiled, want))
    return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT,
                             "%s was compiled for task %s; its outputs cannot serve --task %s "
                             "(compile the model with --task %s)",
                             path, bertc_task_name(compiled), bertc_task_name(want),
                             bertc_task_name(want));
  return BERTC_OK;
}

static bertc_status_t open_dir(const char *path, const cli_model_options_t *o, cli_model_t *m) {
  bertc_reference_options_t ro;
  bertc_reference_options_init(&ro);
  if (o->pipeline) ro.task = o->pipeline->task;
  BERTC_RETURN_IF_ERROR(bertc_reference_open(path, &ro, &m->reference));
  if (o->run) bertc_reference_engine(m->reference, &m->engine);
  if (!o->text) return BERTC_OK;
  m->model_max = bertc_reference_max_seq(m->reference);
  BERTC_RETURN_IF_ERROR(bertc_tokenizer_create_from_dir(bertc_reference_tokenizer_dir(m->reference),
                                                        m->model_max, &m->tokenizer));
  return bertc_pipeline_create(o->run ? &m->engine : NULL,
                               bertc_reference_metadata_json(m->reference), m->tokenizer,
                               o->pipeline, &m->pipeline);
}

bertc_status_t cli_model_open(const char *path, const cli_model_options_t *o, cli_model_t *out) {
  memset(out, 0, sizeof *out);
  out->path = path;
  return cli_is_shared_object(path) ? open_so(path, o, out) : open_dir(path, o, out);
}

void cli_note_truncated(const char *cmd, const cli_model_t *m, const cli_text_t *in) {
  int32_t max_len = bertc_tokenizer_max_length(m->tokenizer);
  if (max_len < m->model_max)
    fprintf(stderr,
            "bertc %s: note: %s truncated to %d tokens (the largest compiled bucket; the model "
            "takes %d)\n",
            cmd, in->name, max_len, m->model_max);
  else
    fprintf(stderr, "bertc %s: note: %s truncated to %d tokens (the model's max_seq_length)\n", cmd,
            in->name, max_len);
}
