/* Helpers shared by the subcommands. Floats print with %.9g, which reads back
 * as the same f32. */
#include "tools/cli.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"

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
  BERTC_RETURN_IF_ERROR(base_alloc(cap * sizeof(int32_t), (void **)&ids));
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

void cli_print_json_string(FILE *f, const char *s) {
  fputc('"', f);
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    switch (*p) {
    case '"': fputs("\\\"", f); break;
    case '\\': fputs("\\\\", f); break;
    case '\n': fputs("\\n", f); break;
    case '\r': fputs("\\r", f); break;
    case '\t': fputs("\\t", f); break;
    default:
      if (*p < 0x20 || *p == 0x7f)
        fprintf(f, "\\u%04x", *p);
      else
        fputc(*p, f);
    }
  }
  fputc('"', f);
}

void cli_print_number(FILE *f, double v) {
  if (isfinite(v))
    fprintf(f, "%.9g", v);
  else
    fputs("null", f);
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

const char *cli_text_where(const cli_text_t *t, size_t index, char *buf, size_t cap) {
  if (t->line)
    snprintf(buf, cap, "input %zu (line %d)", index + 1, t->line);
  else
    snprintf(buf, cap, "input %zu", index + 1);
  return buf;
}

static bertc_status_t read_stdin(char **out, size_t *out_size) {
  size_t cap = 1 << 16, n = 0;
  char *buf = malloc(cap);
  while (buf) {
    size_t got = fread(buf + n, 1, cap - n - 1, stdin);
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
  buf[n] = '\0';
  *out = buf;
  *out_size = n;
  return BERTC_OK;
}

static bertc_status_t jsonl_line(cli_texts_t *t, const char *path, int line, const char *s,
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
    BERTC_RETURN_IF_ERROR(read_stdin(&data, &size));
  else
    BERTC_RETURN_IF_ERROR(base_read_file(path, (size_t)1 << 32, &data, &size));
  bertc_status_t s = BERTC_OK;
  int line = 0;
  if (!strcmp(path, "-")) path = "<stdin>";
  for (size_t k = 0; !s && k < size;) {
    const char *nl = memchr(data + k, '\n', size - k);
    size_t end = nl ? (size_t)(nl - data) : size;
    line++;
    size_t a = k, b = end;
    while (a < b && strchr(" \t\r", data[a])) a++;
    while (b > a && strchr(" \t\r", data[b - 1])) b--;
    if (b > a) s = jsonl_line(t, path, line, data + a, b - a);
    k = end + 1;
  }
  free(data);
  return s;
}

/* ---- The model's text side ----------------------------------------------------------- */

void cli_text_model_deinit(cli_text_model_t *m) {
  rt_decoder_release(m->decoder);
  tok_release(m->tokenizer);
  rt_task_model_deinit(&m->facts);
  memset(m, 0, sizeof *m);
}

static int32_t meta_pad_id(const json_t *meta) {
  json_t *v = json_object_get(meta, "pad_token_id");
  return json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) <= INT32_MAX
             ? (int32_t)json_integer_value(v)
             : 0;
}

bertc_status_t cli_text_model_from_so(const bertc_model_t *model, cli_text_model_t *out) {
  memset(out, 0, sizeof *out);
  const bertc_model_descriptor_t *d = bertc_model_descriptor(model);
  const json_t *meta = bertc_model_metadata(model);
  if (!d->tokenizer_blob || !d->tokenizer_blob_size)
    return bertc_status_make(BERTC_STATUS_NOT_FOUND,
                             "%s carries no tokenizer (its model had no tokenizer files); "
                             "give token ids with --ids",
                             bertc_model_path(model));
  bertc_status_t s = rt_task_model_from_metadata(meta, &out->facts);
  if (!s)
    s = tok_load_blob(d->tokenizer_blob, (size_t)d->tokenizer_blob_size, &out->tokenizer);
  if (!s)
    s = rt_decoder_create(out->tokenizer, d->tokenizer_blob, (size_t)d->tokenizer_blob_size,
                          &out->decoder);
  if (s) {
    cli_text_model_deinit(out);
    return bertc_status_annotate(s, "%s", bertc_model_path(model));
  }
  int64_t largest = bertc_model_max_seq(model);
  out->model_max = out->facts.max_seq_length > 0 ? out->facts.max_seq_length : largest;
  out->max_len = out->model_max < largest ? out->model_max : largest;
  out->pad_id = meta_pad_id(meta);
  return BERTC_OK;
}

bertc_status_t cli_text_model_from_dir(const char *tokenizer_dir, const char *metadata,
                                       cli_text_model_t *out) {
  memset(out, 0, sizeof *out);
  json_error_t err;
  json_t *meta = json_loads(metadata, 0, &err);
  if (!meta) return bertc_status_make(BERTC_STATUS_INTERNAL, "metadata JSON: %s", err.text);
  bertc_status_t s = rt_task_model_from_metadata(meta, &out->facts);
  out->pad_id = meta_pad_id(meta);
  json_decref(meta);
  if (!s) s = tok_load_dir(tokenizer_dir, &out->tokenizer);
  if (!s) s = rt_decoder_create_dir(out->tokenizer, tokenizer_dir, &out->decoder);
  if (s) {
    cli_text_model_deinit(out);
    return s;
  }
  out->model_max = out->max_len = out->facts.max_seq_length;
  return BERTC_OK;
}

bertc_status_t cli_encode(const char *cmd, const cli_text_model_t *m, const cli_text_t *in,
                          size_t index, tok_encoding_t *enc) {
  char where[64];
  bertc_status_t s =
      tok_encode(m->tokenizer, in->text, in->text_len, in->pair, in->pair_len,
                          (size_t)m->max_len, TOK_TRUNC_LONGEST_FIRST, enc);
  if (s) return bertc_status_annotate(s, "%s", cli_text_where(in, index, where, sizeof where));
  if (enc->truncated) {
    if (m->max_len < m->model_max)
      fprintf(stderr,
              "bertc %s: note: %s truncated to %lld tokens (the largest compiled bucket; the "
              "model takes %lld)\n",
              cmd, cli_text_where(in, index, where, sizeof where), (long long)m->max_len,
              (long long)m->model_max);
    else
      fprintf(stderr, "bertc %s: note: %s truncated to %lld tokens (the model's max_seq_length)\n",
              cmd, cli_text_where(in, index, where, sizeof where), (long long)m->max_len);
  }
  return BERTC_OK;
}
