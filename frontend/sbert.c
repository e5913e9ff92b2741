/* sentence-transformers metadata of a model directory.
 *
 * modules.json lists the modules a SentenceTransformer runs in order. bertc
 * implements the common pipeline: Transformer (the HF model in the directory
 * itself), then optionally Pooling, then optionally Normalize. Any other module
 * (Dense, LayerNorm, a custom class) or another order is refused by name,
 * since silently skipping it would change the embedding.
 *
 * The Pooling module's <path>/config.json chooses the modes either with one
 * boolean per mode (pooling_mode_cls_token, ...) or, in newer files, with a
 * single "pooling_mode" string that then overrides the booleans, as in
 * sentence_transformers/models/Pooling.py. Weighted-mean and last-token
 * pooling are refused. sentence_bert_config.json gives max_seq_length and
 * do_lower_case; without it both stay 0 / false. */
#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/frontend.h"
#include "frontend/json_util.h"
#include "base/base.h"

#define SBERT_MAX_FILE_SIZE ((size_t)1 << 20)
#define SBERT_MAX_SEQ_LENGTH (INT64_C(1) << 20)

/* Pooling booleans; bit 0 marks a mode bertc does not implement. */
static const struct {
  const char *key;
  unsigned bit;
} pooling_keys[] = {
    {"pooling_mode_cls_token", FE_POOL_CLS},
    {"pooling_mode_max_tokens", FE_POOL_MAX},
    {"pooling_mode_mean_tokens", FE_POOL_MEAN},
    {"pooling_mode_mean_sqrt_len_tokens", FE_POOL_MEAN_SQRT},
    {"pooling_mode_weightedmean_tokens", 0},
    {"pooling_mode_lasttoken", 0},
};

/* The values of Pooling's "pooling_mode" string. */
static const struct {
  const char *name;
  unsigned bit;
} pooling_names[] = {
    {"cls", FE_POOL_CLS},
    {"max", FE_POOL_MAX},
    {"mean", FE_POOL_MEAN},
    {"mean_sqrt_len_tokens", FE_POOL_MEAN_SQRT},
    {"weightedmean", 0},
    {"lasttoken", 0},
};

typedef enum sbert_module_e {
  MOD_TRANSFORMER,
  MOD_POOLING,
  MOD_NORMALIZE,
  MOD_OTHER
} sbert_module_t;

static bertc_status_t load_json_object(const char *path, json_t **out) {
  return fe_json_load_file(path, SBERT_MAX_FILE_SIZE, out);
}

/* "sentence_transformers.models.Pooling" -> MOD_POOLING: the last dotted
 * component of a sentence_transformers class path. */
static sbert_module_t classify(const char *type) {
  static const char prefix[] = "sentence_transformers.";
  if (strncmp(type, prefix, sizeof prefix - 1)) return MOD_OTHER;
  const char *last = strrchr(type, '.') + 1;
  if (!strcmp(last, "Transformer")) return MOD_TRANSFORMER;
  if (!strcmp(last, "Pooling")) return MOD_POOLING;
  if (!strcmp(last, "Normalize")) return MOD_NORMALIZE;
  return MOD_OTHER;
}

static bertc_status_t read_pooling_mode(const char *path, const char *mode, unsigned *out) {
  char lower[32];
  size_t n = strlen(mode);
  if (n < sizeof lower) {
    for (size_t i = 0; i <= n; i++) lower[i] = (char)tolower((unsigned char)mode[i]);
    for (size_t i = 0; i < BASE_ARRAY_LEN(pooling_names); i++) {
      if (strcmp(pooling_names[i].name, lower)) continue;
      if (!pooling_names[i].bit)
        return fe_file_error(path, BERTC_STATUS_UNSUPPORTED,
                             "pooling_mode '%s' is not supported (supported: cls, mean, max, "
                             "mean_sqrt_len_tokens)",
                             mode);
      *out = pooling_names[i].bit;
      return BERTC_OK;
    }
  }
  return fe_file_error(path, BERTC_STATUS_DATA,
                       "pooling_mode '%s' is not a pooling mode (cls, mean, max, "
                       "mean_sqrt_len_tokens, weightedmean, lasttoken)",
                       mode);
}

/* <pooling path>/config.json -> FE_POOL_* bits. */
static bertc_status_t read_pooling(const char *path, unsigned *out) {
  json_t *root;
  BERTC_RETURN_IF_ERROR(load_json_object(path, &root));
  bertc_status_t s = BERTC_OK;
  unsigned bits = 0;
  json_t *mode = json_object_get(root, "pooling_mode");
  if (!json_is_object(root)) {
    s = fe_file_error(path, BERTC_STATUS_DATA, "expected a JSON object");
  } else if (mode && !json_is_null(mode)) {
    if (!json_is_string(mode))
      s = fe_file_error(path, BERTC_STATUS_DATA, "pooling_mode must be a string");
    else
      s = read_pooling_mode(path, json_string_value(mode), &bits);
  } else {
    for (size_t i = 0; i < BASE_ARRAY_LEN(pooling_keys) && !s; i++) {
      json_t *v = json_object_get(root, pooling_keys[i].key);
      if (!v || json_is_null(v) || json_is_false(v)) continue;
      if (!json_is_true(v))
        s = fe_file_error(path, BERTC_STATUS_DATA, "%s must be a boolean", pooling_keys[i].key);
      else if (!pooling_keys[i].bit)
        s = fe_file_error(path, BERTC_STATUS_UNSUPPORTED,
                          "%s is true: this pooling mode is not supported (supported: cls, mean, "
                          "max, mean_sqrt_len_tokens)",
                          pooling_keys[i].key);
      else
        bits |= pooling_keys[i].bit;
    }
  }
  if (!s && !bits) s = fe_file_error(path, BERTC_STATUS_DATA, "no pooling mode is selected");
  json_decref(root);
  *out = bits;
  return s;
}

/* sentence_bert_config.json next to config.json; absent is fine. */
static bertc_status_t read_sentence_bert_config(const char *dir, fe_sbert_t *out) {
  char *path;
  BERTC_RETURN_IF_ERROR(base_path_join(dir, "sentence_bert_config.json", &path));
  if (!base_file_exists(path)) {
    free(path);
    return BERTC_OK;
  }
  json_t *root;
  bertc_status_t s = load_json_object(path, &root);
  if (s) {
    free(path);
    return s;
  }
  json_t *len = json_object_get(root, "max_seq_length");
  json_t *lower = json_object_get(root, "do_lower_case");
  if (!json_is_object(root)) {
    s = fe_file_error(path, BERTC_STATUS_DATA, "expected a JSON object");
  } else if (len && !json_is_null(len)) {
    if (!json_is_integer(len))
      s = fe_file_error(path, BERTC_STATUS_DATA, "max_seq_length must be an integer");
    else if (json_integer_value(len) < 1 || json_integer_value(len) > SBERT_MAX_SEQ_LENGTH)
      s = fe_file_error(path, BERTC_STATUS_DATA, "max_seq_length %lld is out of range (1..%lld)",
                        (long long)json_integer_value(len), (long long)SBERT_MAX_SEQ_LENGTH);
    else
      out->max_seq_length = (int64_t)json_integer_value(len);
  }
  if (!s && lower && !json_is_null(lower)) {
    if (!json_is_boolean(lower))
      s = fe_file_error(path, BERTC_STATUS_DATA, "do_lower_case must be a boolean");
    else
      out->do_lower_case = json_is_true(lower);
  }
  json_decref(root);
  free(path);
  return s;
}

/* One modules.json entry: checks its place in Transformer -> Pooling ->
 * Normalize and reads the Pooling config. `prev` is the previous module's kind
 * (MOD_OTHER before the first). */
static bertc_status_t read_module(const char *dir, const char *path, size_t i, json_t *m,
                                  sbert_module_t prev, sbert_module_t *kind, fe_sbert_t *out) {
  if (!json_is_object(m))
    return fe_file_error(path, BERTC_STATUS_DATA, "module %zu must be an object", i);
  json_t *type = json_object_get(m, "type");
  json_t *mpath = json_object_get(m, "path");
  if (!json_is_string(type))
    return fe_file_error(path, BERTC_STATUS_DATA, "module %zu: \"type\" must be a string", i);
  if (!json_is_string(mpath))
    return fe_file_error(path, BERTC_STATUS_DATA, "module %zu: \"path\" must be a string", i);
  const char *t = json_string_value(type), *p = json_string_value(mpath);
  *kind = classify(t);
  switch (*kind) {
  case MOD_OTHER:
    return fe_file_error(path, BERTC_STATUS_UNSUPPORTED,
                         "module %zu has type '%s', which bertc does not support (supported: "
                         "Transformer, Pooling, Normalize)",
                         i, t);
  case MOD_TRANSFORMER:
    if (i != 0)
      return fe_file_error(path, BERTC_STATUS_UNSUPPORTED,
                           "module %zu: Transformer must be the first and only Transformer", i);
    if (*p && strcmp(p, ".") && strcmp(p, "./"))
      return fe_file_error(path, BERTC_STATUS_UNSUPPORTED,
                           "the Transformer module is in '%s', not in the model directory; "
                           "give bertc %s/%s instead",
                           p, dir, p);
    return BERTC_OK;
  case MOD_POOLING: {
    if (prev != MOD_TRANSFORMER)
      return fe_file_error(path, BERTC_STATUS_UNSUPPORTED,
                           "module %zu: Pooling must directly follow the Transformer module", i);
    char *sub, *cfg;
    BERTC_RETURN_IF_ERROR(base_path_join(dir, p, &sub));
    bertc_status_t s = base_path_join(sub, "config.json", &cfg);
    free(sub);
    if (s) return s;
    s = read_pooling(cfg, &out->pooling);
    free(cfg);
    return s;
  }
  case MOD_NORMALIZE:
    if (prev != MOD_POOLING)
      return fe_file_error(path, BERTC_STATUS_UNSUPPORTED,
                           "module %zu: Normalize must directly follow the Pooling module", i);
    out->normalize = true;
    return BERTC_OK;
  }
  return BERTC_OK;
}

static bertc_status_t read_modules(const char *dir, const char *path, json_t *root,
                                   fe_sbert_t *out) {
  if (!json_is_array(root))
    return fe_file_error(path, BERTC_STATUS_DATA, "expected a JSON array of modules");
  if (json_array_size(root) == 0) return fe_file_error(path, BERTC_STATUS_DATA, "lists no modules");
  sbert_module_t prev = MOD_OTHER;
  for (size_t i = 0; i < json_array_size(root); i++) {
    sbert_module_t kind = MOD_OTHER;
    BERTC_RETURN_IF_ERROR(
        read_module(dir, path, i, json_array_get(root, i), prev, &kind, out));
    prev = kind;
  }
  return read_sentence_bert_config(dir, out);
}

bertc_status_t fe_sbert_load(const char *dir, fe_sbert_t *out) {
  memset(out, 0, sizeof *out);
  char *path;
  BERTC_RETURN_IF_ERROR(base_path_join(dir, "modules.json", &path));
  if (!base_file_exists(path)) {
    free(path);
    return BERTC_OK;
  }
  json_t *root;
  bertc_status_t s = load_json_object(path, &root);
  if (!s) {
    out->present = true;
    s = read_modules(dir, path, root, out);
    json_decref(root);
  }
  free(path);
  if (s) memset(out, 0, sizeof *out);
  return s;
}
