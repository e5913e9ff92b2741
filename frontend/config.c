/* config.json: one HuggingFace configuration, normalised across architectures.
 *
 * model_type picks a row of arch_table. The row says which keys the
 * architecture uses (DistilBERT spells hidden_size "dim", ...), what
 * transformers' config class defaults them to when absent, and which optional
 * features it has (factorized embeddings, layer groups, token types, the
 * RoBERTa position scheme). Reading then follows one path for every
 * architecture: sizes are integers read with a [min, max] range (the caps keep
 * every product of two sizes far below 2^63, so later shape arithmetic cannot
 * overflow), then the cross-key rules (heads divide hidden, ALBERT groups <=
 * layers, pad id inside the vocabulary and, for RoBERTa, room for the position
 * ids after padding_idx), then labels and the features bertc refuses.
 *
 * JSON null means "use the default", as it does for transformers' config
 * classes. Keys bertc has no use for (dropouts, initializer_range, ...) are
 * ignored. Defaults: the __init__ signatures of transformers'
 * configuration_<arch>.py (BertConfig, RobertaConfig, ...). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/frontend.h"
#include "frontend/json_util.h"
#include "base/base.h"

#define CFG_MAX_FILE_SIZE ((size_t)64 << 20)
#define CFG_MAX_VOCAB INT64_C(10000000)
#define CFG_MAX_HIDDEN INT64_C(65536)
#define CFG_MAX_LAYERS INT64_C(1024)
#define CFG_MAX_INTERMEDIATE (INT64_C(1) << 20)
#define CFG_MAX_POSITIONS (INT64_C(1) << 20)
#define CFG_MAX_TYPE_VOCAB INT64_C(65536)

#define SUPPORTED_TYPES "bert, roberta, xlm-roberta, distilbert, albert, electra"

typedef struct arch_desc {
  const char *model_type;
  fe_arch_t arch;
  /* Key names in this architecture's config.json. */
  const char *k_hidden, *k_layers, *k_heads, *k_intermediate, *k_act;
  /* transformers' attribute_map aliases for the first three (NULL: none). */
  const char *a_hidden, *a_layers, *a_heads;
  /* Defaults of the config class. */
  int64_t vocab, hidden, layers, heads, intermediate, max_pos, type_vocab, pad;
  int64_t embedding; /* 0: embedding_size is not a key; it equals hidden */
  const char *act;
  bool groups;          /* ALBERT num_hidden_groups / inner_group_num */
  bool token_types;     /* has token_type_embeddings */
  bool eps_key;         /* layer_norm_eps is read (DistilBERT: fixed 1e-12) */
  bool roberta_positions;
} arch_desc_t;

static const arch_desc_t arch_table[] = {
    {"bert", FE_ARCH_BERT, "hidden_size", "num_hidden_layers", "num_attention_heads",
     "intermediate_size", "hidden_act", NULL, NULL, NULL, 30522, 768, 12, 12, 3072, 512, 2,
     0, 0, "gelu", false, true, true, false},
    {"roberta", FE_ARCH_ROBERTA, "hidden_size", "num_hidden_layers", "num_attention_heads",
     "intermediate_size", "hidden_act", NULL, NULL, NULL, 50265, 768, 12, 12, 3072, 512, 2,
     1, 0, "gelu", false, true, true, true},
    {"xlm-roberta", FE_ARCH_XLM_ROBERTA, "hidden_size", "num_hidden_layers",
     "num_attention_heads", "intermediate_size", "hidden_act", NULL, NULL, NULL, 30522, 768,
     12, 12, 3072, 512, 2, 1, 0, "gelu", false, true, true, true},
    {"distilbert", FE_ARCH_DISTILBERT, "dim", "n_layers", "n_heads", "hidden_dim",
     "activation", "hidden_size", "num_hidden_layers", "num_attention_heads", 30522, 768, 6,
     12, 3072, 512, 0, 0, 0, "gelu", false, false, false, false},
    {"albert", FE_ARCH_ALBERT, "hidden_size", "num_hidden_layers", "num_attention_heads",
     "intermediate_size", "hidden_act", NULL, NULL, NULL, 30000, 4096, 12, 64, 16384, 512, 2,
     0, 128, "gelu_new", true, true, true, false},
    {"electra", FE_ARCH_ELECTRA, "hidden_size", "num_hidden_layers", "num_attention_heads",
     "intermediate_size", "hidden_act", NULL, NULL, NULL, 30522, 256, 12, 4, 1024, 512, 2, 0,
     128, "gelu", false, true, true, false},
};

static const char *const problem_types[] = {
    "regression", "single_label_classification", "multi_label_classification"};

const char *fe_arch_name(fe_arch_t arch) {
  for (size_t i = 0; i < BASE_ARRAY_LEN(arch_table); i++)
    if (arch_table[i].arch == arch) return arch_table[i].model_type;
  return "?";
}

/* ---- reading keys ---------------------------------------------------------- */

typedef struct cfg_reader {
  const char *path;
  json_t *root;
} cfg_reader_t;

/* The value of `key`, or NULL when absent or null. */
static json_t *cfg_get(const cfg_reader_t *r, const char *key) {
  json_t *v = json_object_get(r->root, key);
  return v && !json_is_null(v) ? v : NULL;
}

static bertc_status_t cfg_int(const cfg_reader_t *r, const char *key, int64_t def,
                              int64_t min, int64_t max, int64_t *out) {
  json_t *v = cfg_get(r, key);
  if (!v) {
    /* A default can be out of range too: the range may come from another
     * key (RoBERTa's pad_token_id 1 with a vocab_size of 1). */
    if (def < min || def > max)
      return fe_file_error(r->path, BERTC_STATUS_DATA,
                           "%s is not given and its default %lld is out of range (%lld..%lld)",
                           key, (long long)def, (long long)min, (long long)max);
    *out = def;
    return BERTC_OK;
  }
  if (!json_is_integer(v))
    return fe_file_error(r->path, BERTC_STATUS_DATA, "%s must be an integer, got %s", key,
                         fe_json_type_name(v));
  int64_t x = (int64_t)json_integer_value(v);
  if (x < min || x > max)
    return fe_file_error(r->path, BERTC_STATUS_DATA, "%s %lld is out of range (%lld..%lld)", key,
                         (long long)x, (long long)min, (long long)max);
  *out = x;
  return BERTC_OK;
}

/* A size with a transformers attribute_map alias (DistilBERT's dim is also
 * readable as hidden_size). The alias wins in transformers when both are
 * given; bertc refuses a config where they disagree. */
static bertc_status_t cfg_size(const cfg_reader_t *r, const char *key, const char *alias,
                               int64_t def, int64_t max, int64_t *out) {
  BERTC_RETURN_IF_ERROR(cfg_int(r, key, def, 1, max, out));
  if (!alias || !cfg_get(r, alias)) return BERTC_OK;
  int64_t a = 0;
  BERTC_RETURN_IF_ERROR(cfg_int(r, alias, def, 1, max, &a));
  if (cfg_get(r, key) && a != *out)
    return fe_file_error(r->path, BERTC_STATUS_DATA, "%s %lld and %s %lld disagree", key,
                         (long long)*out, alias, (long long)a);
  *out = a;
  return BERTC_OK;
}

static bertc_status_t cfg_bool(const cfg_reader_t *r, const char *key, bool *out) {
  json_t *v = cfg_get(r, key);
  *out = false;
  if (!v) return BERTC_OK;
  if (!json_is_boolean(v))
    return fe_file_error(r->path, BERTC_STATUS_DATA, "%s must be a boolean, got %s", key,
                         fe_json_type_name(v));
  *out = json_is_true(v);
  return BERTC_OK;
}

/* A string key copied into a fixed buffer; `def` when absent or null. */
static bertc_status_t cfg_string(const cfg_reader_t *r, const char *key, const char *def,
                                 char *buf, size_t cap) {
  json_t *v = cfg_get(r, key);
  const char *s = def;
  if (v) {
    if (!json_is_string(v))
      return fe_file_error(r->path, BERTC_STATUS_DATA, "%s must be a string, got %s", key,
                           fe_json_type_name(v));
    s = json_string_value(v);
  }
  if (strlen(s) >= cap)
    return fe_file_error(r->path, BERTC_STATUS_DATA, "%s '%.40s...' is longer than %zu characters",
                         key, s, cap - 1);
  memcpy(buf, s, strlen(s) + 1);
  return BERTC_OK;
}

/* ---- the parts of a config ------------------------------------------------- */

static bertc_status_t read_model_type(const cfg_reader_t *r, const arch_desc_t **out) {
  json_t *v = cfg_get(r, "model_type");
  if (!v)
    return fe_file_error(r->path, BERTC_STATUS_UNSUPPORTED,
                         "model_type is missing (supported: " SUPPORTED_TYPES ")");
  if (!json_is_string(v))
    return fe_file_error(r->path, BERTC_STATUS_DATA, "model_type must be a string, got %s",
                         fe_json_type_name(v));
  const char *t = json_string_value(v);
  for (size_t i = 0; i < BASE_ARRAY_LEN(arch_table); i++) {
    if (!strcmp(arch_table[i].model_type, t)) {
      *out = &arch_table[i];
      return BERTC_OK;
    }
  }
  return fe_file_error(r->path, BERTC_STATUS_UNSUPPORTED,
                       "model_type '%s' is not supported (supported: " SUPPORTED_TYPES ")", t);
}

static bertc_status_t read_activation(const cfg_reader_t *r, const arch_desc_t *a,
                                      fe_config_t *c) {
  BERTC_RETURN_IF_ERROR(
      cfg_string(r, a->k_act, a->act, c->hidden_act_name, sizeof c->hidden_act_name));
  /* The hidden_act spellings are the activation table's (ir/acts.def). */
  c->hidden_act = ir_act_from_config_name(c->hidden_act_name);
  if (c->hidden_act != IR_ACT_COUNT) return BERTC_OK;
  char names[256];
  ir_act_config_names(names, sizeof names);
  return fe_file_error(r->path, BERTC_STATUS_UNSUPPORTED,
                       "%s '%s' is not supported (supported: %s)", a->k_act,
                       c->hidden_act_name, names);
}

static bertc_status_t read_sizes(const cfg_reader_t *r, const arch_desc_t *a,
                                 fe_config_t *c) {
  BERTC_RETURN_IF_ERROR(cfg_int(r, "vocab_size", a->vocab, 1, CFG_MAX_VOCAB, &c->vocab_size));
  BERTC_RETURN_IF_ERROR(
      cfg_size(r, a->k_hidden, a->a_hidden, a->hidden, CFG_MAX_HIDDEN, &c->hidden_size));
  BERTC_RETURN_IF_ERROR(
      cfg_size(r, a->k_layers, a->a_layers, a->layers, CFG_MAX_LAYERS, &c->num_layers));
  BERTC_RETURN_IF_ERROR(
      cfg_size(r, a->k_heads, a->a_heads, a->heads, CFG_MAX_HIDDEN, &c->num_heads));
  BERTC_RETURN_IF_ERROR(cfg_int(r, a->k_intermediate, a->intermediate, 1,
                                CFG_MAX_INTERMEDIATE, &c->intermediate_size));
  BERTC_RETURN_IF_ERROR(cfg_int(r, "max_position_embeddings", a->max_pos, 1,
                                CFG_MAX_POSITIONS, &c->max_position_embeddings));
  c->type_vocab_size = 0;
  if (a->token_types)
    BERTC_RETURN_IF_ERROR(cfg_int(r, "type_vocab_size", a->type_vocab, 1,
                                  CFG_MAX_TYPE_VOCAB, &c->type_vocab_size));
  c->embedding_size = c->hidden_size;
  if (a->embedding)
    BERTC_RETURN_IF_ERROR(
        cfg_int(r, "embedding_size", a->embedding, 1, CFG_MAX_HIDDEN, &c->embedding_size));
  c->num_hidden_groups = 1;
  c->inner_group_num = 1;
  if (a->groups) {
    BERTC_RETURN_IF_ERROR(
        cfg_int(r, "num_hidden_groups", 1, 1, CFG_MAX_LAYERS, &c->num_hidden_groups));
    BERTC_RETURN_IF_ERROR(
        cfg_int(r, "inner_group_num", 1, 1, CFG_MAX_LAYERS, &c->inner_group_num));
  }

  if (c->hidden_size % c->num_heads != 0)
    return fe_file_error(r->path, BERTC_STATUS_DATA, "%s %lld is not a multiple of %s %lld",
                         a->k_hidden, (long long)c->hidden_size, a->k_heads,
                         (long long)c->num_heads);
  /* transformers: group of layer i = int(i / (num_hidden_layers / num_hidden_groups)),
   * which stays inside 0..groups-1 exactly when groups <= layers. */
  if (c->num_hidden_groups > c->num_layers)
    return fe_file_error(r->path, BERTC_STATUS_DATA,
                         "num_hidden_groups %lld is more than num_hidden_layers %lld",
                         (long long)c->num_hidden_groups, (long long)c->num_layers);
  return BERTC_OK;
}

static bertc_status_t read_positions(const cfg_reader_t *r, const arch_desc_t *a,
                                     fe_config_t *c) {
  BERTC_RETURN_IF_ERROR(
      cfg_int(r, "pad_token_id", a->pad, 0, c->vocab_size - 1, &c->pad_token_id));
  c->position_padding_idx = -1;
  if (a->roberta_positions) {
    /* Real tokens take positions padding_idx+1, +2, ...: at least one must fit. */
    c->position_padding_idx = c->pad_token_id;
    if (c->max_position_embeddings <= c->pad_token_id + 1)
      return fe_file_error(r->path, BERTC_STATUS_DATA,
                           "max_position_embeddings %lld leaves no positions after the "
                           "padding index %lld (pad_token_id)",
                           (long long)c->max_position_embeddings, (long long)c->pad_token_id);
  }
  if (a->arch == FE_ARCH_DISTILBERT) return BERTC_OK; /* absolute, sinusoidal or learned */
  json_t *v = json_object_get(r->root, "position_embedding_type");
  if (!v) return BERTC_OK;
  if (json_is_null(v))
    return fe_file_error(r->path, BERTC_STATUS_UNSUPPORTED,
                         "position_embedding_type null (no position embeddings) is not "
                         "supported (expected 'absolute')");
  if (!json_is_string(v))
    return fe_file_error(r->path, BERTC_STATUS_DATA,
                         "position_embedding_type must be a string, got %s", fe_json_type_name(v));
  const char *t = json_string_value(v);
  if (!strcmp(t, "absolute")) return BERTC_OK;
  if (!strncmp(t, "relative", 8))
    return fe_file_error(r->path, BERTC_STATUS_UNSUPPORTED,
                         "position_embedding_type '%s': relative position embeddings are not "
                         "supported",
                         t);
  return fe_file_error(r->path, BERTC_STATUS_UNSUPPORTED,
                       "position_embedding_type '%s' is not supported (expected 'absolute')", t);
}

static bertc_status_t read_eps(const cfg_reader_t *r, const arch_desc_t *a,
                               fe_config_t *c) {
  c->layer_norm_eps = 1e-12f;
  json_t *v = a->eps_key ? cfg_get(r, "layer_norm_eps") : NULL;
  if (!v) return BERTC_OK;
  if (!json_is_number(v))
    return fe_file_error(r->path, BERTC_STATUS_DATA, "layer_norm_eps must be a number, got %s",
                         fe_json_type_name(v));
  double eps = json_number_value(v);
  if (!(eps > 0 && eps < 1))
    return fe_file_error(r->path, BERTC_STATUS_DATA,
                         "layer_norm_eps %g is out of range (0 < eps < 1)", eps);
  c->layer_norm_eps = (float)eps;
  return BERTC_OK;
}

/* The keys of features bertc does not implement. */
static bertc_status_t refuse_unsupported(const cfg_reader_t *r) {
  bool b;
  BERTC_RETURN_IF_ERROR(cfg_bool(r, "is_decoder", &b));
  if (b)
    return fe_file_error(r->path, BERTC_STATUS_UNSUPPORTED,
                         "is_decoder is true: decoder models are not supported");
  BERTC_RETURN_IF_ERROR(cfg_bool(r, "add_cross_attention", &b));
  if (b)
    return fe_file_error(r->path, BERTC_STATUS_UNSUPPORTED,
                         "add_cross_attention is true: cross-attention is not supported");
  json_t *v = cfg_get(r, "pruned_heads");
  if (v && !(json_is_object(v) && json_object_size(v) == 0))
    return fe_file_error(r->path, BERTC_STATUS_UNSUPPORTED,
                         "pruned_heads: pruned attention heads are not supported");
  if (cfg_get(r, "quantization_config"))
    return fe_file_error(r->path, BERTC_STATUS_UNSUPPORTED,
                         "quantization_config: quantized checkpoints are not supported");
  return BERTC_OK;
}

static bertc_status_t read_architecture(const cfg_reader_t *r, fe_config_t *c) {
  c->architecture[0] = 0;
  json_t *v = cfg_get(r, "architectures");
  if (!v) return BERTC_OK;
  if (!json_is_array(v))
    return fe_file_error(r->path, BERTC_STATUS_DATA, "architectures must be an array, got %s",
                         fe_json_type_name(v));
  if (json_array_size(v) == 0) return BERTC_OK;
  json_t *first = json_array_get(v, 0);
  if (!json_is_string(first))
    return fe_file_error(r->path, BERTC_STATUS_DATA, "architectures[0] must be a string, got %s",
                         fe_json_type_name(first));
  const char *s = json_string_value(first);
  if (strlen(s) >= sizeof c->architecture)
    return fe_file_error(r->path, BERTC_STATUS_DATA,
                         "architectures[0] is longer than %zu characters",
                         sizeof c->architecture - 1);
  memcpy(c->architecture, s, strlen(s) + 1);
  return BERTC_OK;
}

/* "0", "17": a decimal index without sign, spaces or leading zeros. */
static bool parse_label_index(const char *s, int64_t *out) {
  if (!*s || (s[0] == '0' && s[1])) return false;
  int64_t v = 0;
  for (; *s; s++) {
    if (*s < '0' || *s > '9' || v > FE_MAX_LABELS) return false;
    v = v * 10 + (*s - '0');
  }
  *out = v;
  return true;
}

/* id2label, else num_labels, else 2 (PretrainedConfig). As in transformers,
 * id2label decides num_labels when both are present. */
static bertc_status_t read_labels(const cfg_reader_t *r, fe_config_t *c) {
  json_t *map = cfg_get(r, "id2label");
  if (map) {
    if (!json_is_object(map))
      return fe_file_error(r->path, BERTC_STATUS_DATA, "id2label must be an object, got %s",
                           fe_json_type_name(map));
    size_t n = json_object_size(map);
    if (n == 0) return fe_file_error(r->path, BERTC_STATUS_DATA, "id2label is empty");
    if (n > FE_MAX_LABELS)
      return fe_file_error(r->path, BERTC_STATUS_UNSUPPORTED,
                           "id2label has %zu labels, more than %d", n, FE_MAX_LABELS);
    c->num_labels = (int64_t)n;
  } else {
    BERTC_RETURN_IF_ERROR(cfg_int(r, "num_labels", 2, 1, FE_MAX_LABELS, &c->num_labels));
  }
  BERTC_RETURN_IF_ERROR(
      base_calloc((size_t)c->num_labels, sizeof *c->id2label, (void **)&c->id2label));
  if (map) {
    const char *key;
    json_t *v;
    json_object_foreach(map, key, v) {
      int64_t i;
      if (!parse_label_index(key, &i) || i >= c->num_labels)
        return fe_file_error(r->path, BERTC_STATUS_DATA,
                             "id2label key '%s' is not an index in 0..%lld (the keys must be "
                             "0..n-1)",
                             key, (long long)c->num_labels - 1);
      if (!json_is_string(v))
        return fe_file_error(r->path, BERTC_STATUS_DATA, "id2label['%s'] must be a string, got %s",
                             key, fe_json_type_name(v));
      BERTC_RETURN_IF_ERROR(base_strdup(json_string_value(v), &c->id2label[i]));
    }
  } else {
    for (int64_t i = 0; i < c->num_labels; i++) {
      char name[32];
      snprintf(name, sizeof name, "LABEL_%lld", (long long)i);
      BERTC_RETURN_IF_ERROR(base_strdup(name, &c->id2label[i]));
    }
  }

  BERTC_RETURN_IF_ERROR(cfg_string(r, "problem_type", "", c->problem_type,
                                   sizeof c->problem_type));
  if (!c->problem_type[0]) return BERTC_OK;
  for (size_t i = 0; i < BASE_ARRAY_LEN(problem_types); i++)
    if (!strcmp(problem_types[i], c->problem_type)) return BERTC_OK;
  return fe_file_error(r->path, BERTC_STATUS_DATA,
                       "problem_type '%s' is not one of regression, single_label_classification, "
                       "multi_label_classification",
                       c->problem_type);
}

static bertc_status_t read_config(const cfg_reader_t *r, fe_config_t *c) {
  if (!json_is_object(r->root))
    return fe_file_error(r->path, BERTC_STATUS_DATA, "expected a JSON object, got %s",
                         fe_json_type_name(r->root));
  const arch_desc_t *a = NULL;
  BERTC_RETURN_IF_ERROR(read_model_type(r, &a));
  c->arch = a->arch;
  BERTC_RETURN_IF_ERROR(refuse_unsupported(r));
  BERTC_RETURN_IF_ERROR(read_architecture(r, c));
  BERTC_RETURN_IF_ERROR(read_sizes(r, a, c));
  BERTC_RETURN_IF_ERROR(read_activation(r, a, c));
  BERTC_RETURN_IF_ERROR(read_eps(r, a, c));
  BERTC_RETURN_IF_ERROR(read_positions(r, a, c));
  return read_labels(r, c);
}

bertc_status_t fe_config_load(const char *path, fe_config_t *out) {
  memset(out, 0, sizeof *out);
  json_t *root;
  BERTC_RETURN_IF_ERROR(fe_json_load_file(path, CFG_MAX_FILE_SIZE, &root));
  cfg_reader_t r = {path, root};
  bertc_status_t s = read_config(&r, out);
  json_decref(root);
  if (s) fe_config_deinit(out);
  return s;
}

void fe_config_deinit(fe_config_t *c) {
  if (!c) return;
  if (c->id2label)
    for (int64_t i = 0; i < c->num_labels; i++) free(c->id2label[i]);
  free(c->id2label);
  memset(c, 0, sizeof *c);
}
