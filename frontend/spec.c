/* What to compile: a model.json, or the defaults for a model directory.
 *
 * fe_spec_load accepts three kinds of path:
 *   - a HuggingFace model directory (config.json in it): every choice is left
 *     to the checkpoint's metadata, the name is the directory's base name made
 *     identifier-safe, and weights_path is the directory (the safetensors
 *     reader finds model.safetensors or its shard index there);
 *   - a directory holding a model.json, which is then read instead;
 *   - a model.json file itself.
 *
 * A model.json is one JSON object whose keys are listed in spec_keys, each
 * with its parser; docs/model-json.md is the user-facing description. Unknown
 * keys are errors, with the nearest known key suggested, so a typo never
 * silently drops a compile choice. Relative paths resolve against the
 * model.json's directory. After the keys are read, the cross-key rules are
 * checked (a checkpoint or a config is given, pooling only for embeddings,
 * buckets no longer than max_seq_length) and the files named are checked to
 * exist, so mistakes surface here with the model.json named, not later. */
#include <ctype.h>
#include <jansson.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "frontend/frontend.h"
#include "frontend/json_util.h"
#include "base/base.h"

#define SPEC_MAX_FILE_SIZE ((size_t)1 << 20)
#define SPEC_MAX_SEQ_LEN INT64_C(65536)
#define SPEC_MAX_BATCH INT64_C(65536)
#define SPEC_MAX_TOKENS INT64_C(1048576)
#define SPEC_MAX_NAME 64

/* ---- integer lists ------------------------------------------------------------ */

/* Range, duplicates, then ascending order, so buckets are deterministic. */
static bertc_status_t check_int_list(const char *what, int64_t max, int64_t *values,
                                     size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (values[i] < 1 || values[i] > max)
      return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT,
                               "%s: %lld is out of range (1..%lld)", what,
                               (long long)values[i], (long long)max);
    for (size_t j = 0; j < i; j++)
      if (values[j] == values[i])
        return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT, "%s: %lld is listed twice",
                                 what, (long long)values[i]);
  }
  for (size_t i = 1; i < n; i++) {
    int64_t v = values[i];
    size_t j = i;
    for (; j > 0 && values[j - 1] > v; j--) values[j] = values[j - 1];
    values[j] = v;
  }
  return BERTC_OK;
}

/* The values are returned sorted ascending; duplicates are refused. */
bertc_status_t fe_parse_int_list(const char *text, const char *what, int64_t max,
                                 int64_t *values, size_t cap, size_t *out_n) {
  *out_n = 0;
  size_t n = 0;
  const char *p = text;
  for (;;) {
    const char *end = strchr(p, ',');
    if (!end) end = p + strlen(p);
    const char *a = p, *b = end;
    while (a < b && isspace((unsigned char)*a)) a++;
    while (b > a && isspace((unsigned char)b[-1])) b--;
    if (a == b && !*end && n == 0)
      return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT, "%s: empty list", what);
    if (a == b)
      return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT, "%s: empty item in '%s'",
                               what, text);
    int64_t v = 0;
    bool too_big = false;
    for (const char *q = a; q < b; q++) {
      if (*q < '0' || *q > '9')
        return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT,
                                 "%s: '%.*s' is not a positive integer", what, (int)(b - a), a);
      too_big = too_big || __builtin_mul_overflow(v, 10, &v) ||
                __builtin_add_overflow(v, *q - '0', &v);
    }
    if (too_big || v > max)
      return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT,
                               "%s: %.*s is out of range (1..%lld)", what, (int)(b - a), a,
                               (long long)max);
    if (n == cap)
      return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT, "%s: more than %zu values",
                               what, cap);
    values[n++] = v;
    if (!*end) break;
    p = end + 1;
  }
  BERTC_RETURN_IF_ERROR(check_int_list(what, max, values, n));
  *out_n = n;
  return BERTC_OK;
}

/* ---- paths -------------------------------------------------------------------- */

/* Length of `path` without trailing slashes (a lone "/" is kept). */
static size_t trimmed_len(const char *path) {
  size_t n = strlen(path);
  while (n > 1 && path[n - 1] == '/') n--;
  return n;
}

static bertc_status_t strndup_status(const char *s, size_t n, char **out) {
  BERTC_RETURN_IF_ERROR(base_alloc(n + 1, (void **)out));
  memcpy(*out, s, n);
  (*out)[n] = 0;
  return BERTC_OK;
}

static bertc_status_t path_dirname(const char *path, char **out) {
  size_t n = trimmed_len(path);
  while (n > 0 && path[n - 1] != '/') n--;
  if (n == 0) return base_strdup(".", out);
  while (n > 1 && path[n - 1] == '/') n--;
  return strndup_status(path, n, out);
}

/* `p` as seen from the current directory when it is written relative to `base`. */
static bertc_status_t path_resolve(const char *base, const char *p, char **out) {
  if (p[0] == '/' || !strcmp(base, ".")) return base_strdup(p, out);
  return base_path_join(base, p, out);
}

static bool is_dir(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The base name of `dir` made a C identifier: [A-Za-z0-9_], "m_" in front of
 * a leading digit, at most SPEC_MAX_NAME characters, "model" if empty. */
static bertc_status_t name_from_dir(const char *dir, char **out) {
  size_t end = trimmed_len(dir), start = end;
  while (start > 0 && dir[start - 1] != '/') start--;
  size_t n = end - start;
  if (n == 0 || (n == 1 && dir[start] == '.') || (n == 2 && !strncmp(dir + start, "..", 2)))
    return base_strdup("model", out);
  if (n > SPEC_MAX_NAME - 2) n = SPEC_MAX_NAME - 2;
  BERTC_RETURN_IF_ERROR(base_alloc(n + 3, (void **)out));
  char *w = *out;
  if (isdigit((unsigned char)dir[start])) {
    *w++ = 'm';
    *w++ = '_';
  }
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)dir[start + i];
    *w++ = isalnum(ch) && ch < 128 ? (char)ch : '_';
  }
  *w = 0;
  return BERTC_OK;
}

static bool is_identifier(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > SPEC_MAX_NAME || isdigit((unsigned char)s[0])) return false;
  for (size_t i = 0; i < n; i++)
    if (!(isalnum((unsigned char)s[i]) || s[i] == '_') || (unsigned char)s[i] >= 128)
      return false;
  return true;
}

/* ---- model.json keys ------------------------------------------------------------ */

typedef struct spec_reader {
  const char *path; /* the model.json */
  char *base;       /* its directory */
  bool has_pooling, has_normalize;
} spec_reader_t;

static bertc_status_t want_string(const spec_reader_t *r, const char *key, json_t *v,
                                  const char **out) {
  if (!json_is_string(v) || !json_string_length(v))
    return fe_file_error(r->path, BERTC_STATUS_DATA, "%s must be a non-empty string, got %s", key,
                         json_is_string(v) ? "\"\"" : fe_json_type_name(v));
  *out = json_string_value(v);
  return BERTC_OK;
}

typedef bertc_status_t (*key_parser_t)(spec_reader_t *r, const char *key, json_t *v,
                                       fe_spec_t *s, size_t field);

static char **string_field(fe_spec_t *s, size_t field) {
  return (char **)(void *)((char *)s + field);
}

static bertc_status_t key_path(spec_reader_t *r, const char *key, json_t *v, fe_spec_t *s,
                               size_t field) {
  const char *p;
  BERTC_RETURN_IF_ERROR(want_string(r, key, v, &p));
  return path_resolve(r->base, p, string_field(s, field));
}

static bertc_status_t key_name(spec_reader_t *r, const char *key, json_t *v, fe_spec_t *s,
                               size_t field) {
  const char *name;
  BERTC_RETURN_IF_ERROR(want_string(r, key, v, &name));
  if (!is_identifier(name))
    return fe_file_error(r->path, BERTC_STATUS_DATA,
                         "name '%s' is not an identifier ([A-Za-z0-9_], not starting with a "
                         "digit, at most %d characters)",
                         name, SPEC_MAX_NAME);
  return base_strdup(name, &s->name);
}

static bertc_status_t key_description(spec_reader_t *r, const char *key, json_t *v,
                                      fe_spec_t *s, size_t field) {
  if (!json_is_string(v))
    return fe_file_error(r->path, BERTC_STATUS_DATA, "%s must be a string, got %s", key,
                         fe_json_type_name(v));
  return BERTC_OK;
}

static bertc_status_t key_task(spec_reader_t *r, const char *key, json_t *v, fe_spec_t *s,
                               size_t field) {
  const char *name;
  BERTC_RETURN_IF_ERROR(want_string(r, key, v, &name));
  if (bertc_task_from_name(name, &s->task)) return BERTC_OK;
  return fe_file_error(r->path, BERTC_STATUS_DATA,
                       "task '%s' is not one of auto, encoder, embedding, fill-mask, "
                       "next-sentence, pretraining, sequence-classification, "
                       "token-classification, question-answering, discriminator",
                       name);
}

static bertc_status_t pooling_bit(spec_reader_t *r, json_t *v, unsigned *out) {
  static const struct {
    const char *name;
    unsigned bit;
  } modes[] = {{"cls", FE_POOL_CLS},
               {"max", FE_POOL_MAX},
               {"mean", FE_POOL_MEAN},
               {"mean_sqrt_len_tokens", FE_POOL_MEAN_SQRT}};
  if (!json_is_string(v))
    return fe_file_error(r->path, BERTC_STATUS_DATA, "pooling modes must be strings, got %s",
                         fe_json_type_name(v));
  const char *name = json_string_value(v);
  for (size_t i = 0; i < BASE_ARRAY_LEN(modes); i++) {
    if (!strcmp(modes[i].name, name)) {
      *out = modes[i].bit;
      return BERTC_OK;
    }
  }
  return fe_file_error(r->path, BERTC_STATUS_DATA,
                       "pooling '%s' is not one of cls, mean, max, mean_sqrt_len_tokens", name);
}

static bertc_status_t key_pooling(spec_reader_t *r, const char *key, json_t *v,
                                  fe_spec_t *s, size_t field) {
  r->has_pooling = true;
  if (!json_is_array(v)) return pooling_bit(r, v, &s->pooling);
  if (json_array_size(v) == 0)
    return fe_file_error(r->path, BERTC_STATUS_DATA, "pooling is an empty list");
  size_t i;
  json_t *item;
  json_array_foreach(v, i, item) {
    unsigned bit;
    BERTC_RETURN_IF_ERROR(pooling_bit(r, item, &bit));
    if (s->pooling & bit)
      return fe_file_error(r->path, BERTC_STATUS_DATA, "pooling lists '%s' twice",
                           json_string_value(item));
    s->pooling |= bit;
  }
  return BERTC_OK;
}

static bertc_status_t key_normalize(spec_reader_t *r, const char *key, json_t *v,
                                    fe_spec_t *s, size_t field) {
  if (!json_is_boolean(v))
    return fe_file_error(r->path, BERTC_STATUS_DATA, "normalize must be true or false, got %s",
                         fe_json_type_name(v));
  r->has_normalize = true;
  s->normalize = json_is_true(v);
  return BERTC_OK;
}

static bertc_status_t key_max_seq_length(spec_reader_t *r, const char *key, json_t *v,
                                         fe_spec_t *s, size_t field) {
  if (!json_is_integer(v))
    return fe_file_error(r->path, BERTC_STATUS_DATA, "max_seq_length must be an integer, got %s",
                         fe_json_type_name(v));
  json_int_t x = json_integer_value(v);
  if (x < 1 || x > SPEC_MAX_SEQ_LEN)
    return fe_file_error(r->path, BERTC_STATUS_DATA,
                         "max_seq_length %lld is out of range (1..%lld)", (long long)x,
                         (long long)SPEC_MAX_SEQ_LEN);
  s->max_seq_length = (int64_t)x;
  return BERTC_OK;
}

static bertc_status_t key_int_list(spec_reader_t *r, const char *key, json_t *v,
                                   fe_spec_t *s, size_t field) {
  bool seq = !strcmp(key, "seq_lens"), tokens = !strcmp(key, "token_buckets");
  int64_t *values = seq ? s->seq_lens : tokens ? s->token_buckets : s->batch_sizes;
  size_t *n = seq ? &s->num_seq_lens : tokens ? &s->num_token_buckets : &s->num_batch_sizes;
  if (!json_is_array(v))
    return fe_file_error(r->path, BERTC_STATUS_DATA, "%s must be an array of integers, got %s", key,
                         fe_json_type_name(v));
  if (tokens) s->token_buckets_set = true; /* [] compiles none */
  if (tokens && json_array_size(v) == 0) return BERTC_OK;
  if (json_array_size(v) == 0)
    return fe_file_error(r->path, BERTC_STATUS_DATA, "%s is an empty list", key);
  if (json_array_size(v) > FE_MAX_BUCKETS)
    return fe_file_error(r->path, BERTC_STATUS_DATA, "%s has %zu values, more than %d", key,
                         json_array_size(v), FE_MAX_BUCKETS);
  size_t i;
  json_t *item;
  json_array_foreach(v, i, item) {
    if (!json_is_integer(item))
      return fe_file_error(r->path, BERTC_STATUS_DATA, "%s[%zu] must be an integer, got %s", key, i,
                           fe_json_type_name(item));
    values[i] = (int64_t)json_integer_value(item);
  }
  *n = json_array_size(v);
  bertc_status_t st =
      check_int_list(key, seq ? SPEC_MAX_SEQ_LEN : tokens ? SPEC_MAX_TOKENS : SPEC_MAX_BATCH,
                     values, *n);
  if (st) *n = 0;
  return st ? bertc_status_annotate(st, "%s", r->path) : BERTC_OK;
}

static bertc_status_t key_precision(spec_reader_t *r, const char *key, json_t *v,
                                    fe_spec_t *s, size_t field) {
  const char *p;
  BERTC_RETURN_IF_ERROR(want_string(r, key, v, &p));
  if (strcmp(p, "fp32") && strcmp(p, "int8"))
    return fe_file_error(r->path, BERTC_STATUS_UNSUPPORTED,
                         "precision '%s' is not supported (fp32 or int8)", p);
  free(s->precision);
  return base_strdup(p, &s->precision);
}

static bertc_status_t key_weights_mode(spec_reader_t *r, const char *key, json_t *v,
                                       fe_spec_t *s, size_t field) {
  const char *m;
  BERTC_RETURN_IF_ERROR(want_string(r, key, v, &m));
  if (!strcmp(m, "embed") || !strcmp(m, "external")) {
    s->weights_external = !strcmp(m, "external");
    return BERTC_OK;
  }
  return fe_file_error(r->path, BERTC_STATUS_DATA, "weights_mode '%s' is not 'embed' or 'external'",
                       m);
}

static bertc_status_t key_gemm(spec_reader_t *r, const char *key, json_t *v, fe_spec_t *s,
                               size_t field) {
  (void)field;
  const char *g;
  BERTC_RETURN_IF_ERROR(want_string(r, key, v, &g));
  if (!strcmp(g, "bertc")) s->gemm = FE_GEMM_BERTC;
  else if (!strcmp(g, "amx")) s->gemm = FE_GEMM_AMX;
  else if (!strcmp(g, "blas")) s->gemm = FE_GEMM_BLAS;
  else
    return fe_file_error(r->path, BERTC_STATUS_DATA, "gemm '%s' is not 'bertc', 'amx' or 'blas'",
                         g);
  return BERTC_OK;
}

/* "+avx2,-avx512f": comma-separated LLVM feature names, each with a sign. */
static bool valid_features(const char *f) {
  for (;;) {
    if (*f != '+' && *f != '-') return false;
    f++;
    size_t n = 0;
    for (; *f && *f != ','; f++, n++)
      if (!isalnum((unsigned char)*f) && !strchr("._-", *f)) return false;
    if (n == 0) return false;
    if (!*f) return true;
    f++;
  }
}

static bertc_status_t key_target(spec_reader_t *r, const char *key, json_t *v, fe_spec_t *s,
                                 size_t field) {
  if (!json_is_object(v))
    return fe_file_error(r->path, BERTC_STATUS_DATA, "target must be an object, got %s",
                         fe_json_type_name(v));
  const char *k;
  json_t *item;
  json_object_foreach(v, k, item) {
    const char *str;
    if (!strcmp(k, "cpu")) {
      BERTC_RETURN_IF_ERROR(want_string(r, "target.cpu", item, &str));
      for (const char *c = str; *c; c++)
        if (!isalnum((unsigned char)*c) && !strchr("._-,", *c))
          return fe_file_error(r->path, BERTC_STATUS_DATA,
                               "target.cpu '%s' is not a CPU name or a comma-separated list "
                               "of them",
                               str);
      free(s->target_cpu);
      s->target_cpu = NULL;
      if (strcmp(str, "native")) BERTC_RETURN_IF_ERROR(base_strdup(str, &s->target_cpu));
    } else if (!strcmp(k, "features")) {
      if (!json_is_string(item))
        return fe_file_error(r->path, BERTC_STATUS_DATA, "target.features must be a string, got %s",
                             fe_json_type_name(item));
      str = json_string_value(item);
      free(s->target_features);
      s->target_features = NULL;
      if (!*str) continue;
      if (!valid_features(str))
        return fe_file_error(r->path, BERTC_STATUS_DATA,
                             "target.features '%s' must be comma-separated +name or -name "
                             "items (e.g. \"+avx2,+fma\")",
                             str);
      BERTC_RETURN_IF_ERROR(base_strdup(str, &s->target_features));
    } else {
      return fe_file_error(r->path, BERTC_STATUS_DATA,
                           "unknown key 'target.%s' (target takes cpu and features)", k);
    }
  }
  return BERTC_OK;
}

#define NO_FIELD 0
static const struct {
  const char *key;
  key_parser_t parse;
  size_t field; /* for key_path: the char * member it sets */
} spec_keys[] = {
    {"name", key_name, NO_FIELD},
    {"description", key_description, NO_FIELD},
    {"checkpoint", key_path, offsetof(fe_spec_t, checkpoint_dir)},
    {"config", key_path, offsetof(fe_spec_t, config_path)},
    {"weights", key_path, offsetof(fe_spec_t, weights_path)},
    {"tokenizer", key_path, offsetof(fe_spec_t, tokenizer_dir)},
    {"task", key_task, NO_FIELD},
    {"pooling", key_pooling, NO_FIELD},
    {"normalize", key_normalize, NO_FIELD},
    {"max_seq_length", key_max_seq_length, NO_FIELD},
    {"seq_lens", key_int_list, NO_FIELD},
    {"batch_sizes", key_int_list, NO_FIELD},
    {"token_buckets", key_int_list, NO_FIELD},
    {"precision", key_precision, NO_FIELD},
    {"target", key_target, NO_FIELD},
    {"weights_mode", key_weights_mode, NO_FIELD},
    {"gemm", key_gemm, NO_FIELD},
};

/* Levenshtein distance, capped: enough to suggest a key for a typo. */
static size_t edit_distance(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  if (la > 63 || lb > 63) return 64;
  size_t row[64];
  for (size_t j = 0; j <= lb; j++) row[j] = j;
  for (size_t i = 1; i <= la; i++) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= lb; j++) {
      size_t up = row[j];
      size_t best = diag + (a[i - 1] != b[j - 1]);
      if (up + 1 < best) best = up + 1;
      if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
      row[j] = best;
      diag = up;
    }
  }
  return row[lb];
}

static bertc_status_t unknown_key(const spec_reader_t *r, const char *key) {
  if (!strcmp(key, "model_type") || !strcmp(key, "architectures"))
    return fe_file_error(r->path, BERTC_STATUS_DATA,
                         "unknown key '%s': this looks like a HuggingFace config.json; give "
                         "bertc its directory instead",
                         key);
  const char *best = NULL;
  size_t best_d = 3;
  for (size_t i = 0; i < BASE_ARRAY_LEN(spec_keys); i++) {
    size_t d = edit_distance(key, spec_keys[i].key);
    if (d < best_d) {
      best_d = d;
      best = spec_keys[i].key;
    }
  }
  if (best)
    return fe_file_error(r->path, BERTC_STATUS_DATA, "unknown key '%s' (did you mean '%s'?)", key,
                         best);
  return fe_file_error(r->path, BERTC_STATUS_DATA,
                       "unknown key '%s' (see docs/model-json.md for the keys)", key);
}

/* ---- loading ------------------------------------------------------------------------ */

static bertc_status_t spec_defaults(const char *source, fe_spec_t *s) {
  s->normalize = -1;
  BERTC_RETURN_IF_ERROR(base_strdup(source, &s->source));
  return base_strdup("fp32", &s->precision);
}

static bertc_status_t need_file(const spec_reader_t *r, const char *key, const char *path,
                                bool dir) {
  struct stat st;
  if (stat(path, &st) != 0)
    return fe_file_error(r->path, BERTC_STATUS_NOT_FOUND, "%s '%s' does not exist", key, path);
  if (dir && !S_ISDIR(st.st_mode))
    return fe_file_error(r->path, BERTC_STATUS_DATA, "%s '%s' is not a directory", key, path);
  if (!dir && S_ISDIR(st.st_mode) && strcmp(key, "weights"))
    return fe_file_error(r->path, BERTC_STATUS_DATA, "%s '%s' is a directory, expected a file", key,
                         path);
  return BERTC_OK;
}

/* Defaults that depend on other keys, the cross-key rules, and existence. */
static bertc_status_t spec_finish(spec_reader_t *r, fe_spec_t *s) {
  if (!s->checkpoint_dir && !s->config_path)
    return fe_file_error(r->path, BERTC_STATUS_DATA,
                         "needs \"checkpoint\" (a model directory) or \"config\" and \"weights\"");
  if (s->checkpoint_dir) {
    BERTC_RETURN_IF_ERROR(need_file(r, "checkpoint", s->checkpoint_dir, true));
  } else {
    if (!s->weights_path)
      return fe_file_error(r->path, BERTC_STATUS_DATA,
                           "gives \"config\" without \"checkpoint\", so it needs \"weights\"");
    BERTC_RETURN_IF_ERROR(path_dirname(s->config_path, &s->checkpoint_dir));
  }
  if (!s->config_path)
    BERTC_RETURN_IF_ERROR(base_path_join(s->checkpoint_dir, "config.json", &s->config_path));
  if (!s->weights_path) BERTC_RETURN_IF_ERROR(base_strdup(s->checkpoint_dir, &s->weights_path));
  if (!s->tokenizer_dir)
    BERTC_RETURN_IF_ERROR(base_strdup(s->checkpoint_dir, &s->tokenizer_dir));
  if (!s->name) BERTC_RETURN_IF_ERROR(name_from_dir(s->checkpoint_dir, &s->name));

  BERTC_RETURN_IF_ERROR(need_file(r, "config", s->config_path, false));
  BERTC_RETURN_IF_ERROR(need_file(r, "weights", s->weights_path, false));
  BERTC_RETURN_IF_ERROR(need_file(r, "tokenizer", s->tokenizer_dir, true));

  if ((r->has_pooling || r->has_normalize) && s->task != BERTC_TASK_AUTO &&
      s->task != BERTC_TASK_EMBEDDING)
    return fe_file_error(r->path, BERTC_STATUS_DATA,
                         "%s applies only to the embedding task, not '%s'",
                         r->has_pooling ? "pooling" : "normalize", bertc_task_name(s->task));
  if (s->max_seq_length)
    for (size_t i = 0; i < s->num_seq_lens; i++)
      if (s->seq_lens[i] > s->max_seq_length)
        return fe_file_error(r->path, BERTC_STATUS_DATA,
                             "seq_lens: %lld is longer than max_seq_length %lld",
                             (long long)s->seq_lens[i], (long long)s->max_seq_length);
  return BERTC_OK;
}

static bertc_status_t read_model_json(spec_reader_t *r, json_t *root, fe_spec_t *s) {
  if (!json_is_object(root))
    return fe_file_error(r->path, BERTC_STATUS_DATA, "expected a JSON object, got %s",
                         fe_json_type_name(root));
  const char *key;
  json_t *v;
  json_object_foreach(root, key, v) {
    size_t i = 0;
    while (i < BASE_ARRAY_LEN(spec_keys) && strcmp(spec_keys[i].key, key)) i++;
    if (i == BASE_ARRAY_LEN(spec_keys)) return unknown_key(r, key);
    BERTC_RETURN_IF_ERROR(spec_keys[i].parse(r, key, v, s, spec_keys[i].field));
  }
  return spec_finish(r, s);
}

static bertc_status_t load_model_json(const char *path, fe_spec_t *s) {
  json_t *root;
  BERTC_RETURN_IF_ERROR(fe_json_load_file(path, SPEC_MAX_FILE_SIZE, &root));
  spec_reader_t r = {path, NULL, false, false};
  bertc_status_t st = path_dirname(path, &r.base);
  if (!st) st = read_model_json(&r, root, s);
  free(r.base);
  json_decref(root);
  return st;
}

/* A HuggingFace directory without a model.json: everything from metadata. */
static bertc_status_t load_directory(const char *dir, fe_spec_t *s) {
  BERTC_RETURN_IF_ERROR(strndup_status(dir, trimmed_len(dir), &s->checkpoint_dir));
  BERTC_RETURN_IF_ERROR(base_path_join(s->checkpoint_dir, "config.json", &s->config_path));
  if (!base_file_exists(s->config_path))
    return bertc_status_make(BERTC_STATUS_NOT_FOUND,
                             "%s: not a model directory: no config.json or model.json", dir);
  BERTC_RETURN_IF_ERROR(base_strdup(s->checkpoint_dir, &s->weights_path));
  BERTC_RETURN_IF_ERROR(base_strdup(s->checkpoint_dir, &s->tokenizer_dir));
  return name_from_dir(s->checkpoint_dir, &s->name);
}

static bertc_status_t load_spec(const char *path, fe_spec_t *s) {
  BERTC_RETURN_IF_ERROR(spec_defaults(path, s));
  struct stat st;
  if (stat(path, &st) != 0)
    return bertc_status_make(BERTC_STATUS_NOT_FOUND, "%s: no such file or directory", path);
  if (!is_dir(path)) {
    size_t n = strlen(path);
    if (n > 3 && !strcmp(path + n - 3, ".so")) /* an ELF .so never gets here */
      return bertc_status_make(BERTC_STATUS_DATA,
                               "%s: not a shared object (no ELF header) nor a model.json", path);
    return load_model_json(path, s);
  }
  char *json;
  BERTC_RETURN_IF_ERROR(base_path_join(path, "model.json", &json));
  bertc_status_t status =
      base_file_exists(json) ? load_model_json(json, s) : load_directory(path, s);
  free(json);
  return status;
}

bertc_status_t fe_spec_load(const char *path, fe_spec_t *out) {
  memset(out, 0, sizeof *out);
  bertc_status_t s = load_spec(path, out);
  if (s) fe_spec_deinit(out);
  return s;
}

void fe_spec_deinit(fe_spec_t *s) {
  if (!s) return;
  free(s->source);
  free(s->name);
  free(s->checkpoint_dir);
  free(s->config_path);
  free(s->weights_path);
  free(s->tokenizer_dir);
  free(s->precision);
  free(s->keep_fp32);
  free(s->target_cpu);
  free(s->target_features);
  memset(s, 0, sizeof *s);
}
