/* The frontend: from what a user has (a HuggingFace model directory or a
 * model.json) to a validated configuration and an IR graph.
 *
 *   fe_spec_load      model.json or directory -> fe_spec_t (paths + compile choices)
 *   fe_config_load    config.json             -> fe_config_t (one arch's keys, defaults)
 *   fe_sbert_load     sentence-transformers   -> fe_sbert_t (pooling, normalize, max length)
 *   fe_model_load     all of the above + weights -> fe_model_t with an ir_graph_t
 */
#ifndef BERTC_FRONTEND_H
#define BERTC_FRONTEND_H

#include <stdbool.h>
#include <stdint.h>

#include "bertc/status.h"
#include "bertc/tasks.h"
#include "ir/ir.h"

typedef enum fe_arch_e {
  FE_ARCH_BERT = 0,
  FE_ARCH_ROBERTA = 1,
  FE_ARCH_XLM_ROBERTA = 2,
  FE_ARCH_DISTILBERT = 3,
  FE_ARCH_ALBERT = 4,
  FE_ARCH_ELECTRA = 5,
} fe_arch_t;

const char *fe_arch_name(fe_arch_t arch); /* the model_type string */

#define FE_MAX_LABELS 4096

/* config.json, normalised across architectures (DistilBERT's dim / n_layers /
 * n_heads / hidden_dim / activation map onto the BERT names). */
typedef struct fe_config {
  fe_arch_t arch;
  char architecture[96]; /* architectures[0], e.g. "BertForMaskedLM"; "" if absent */
  int64_t vocab_size;
  int64_t hidden_size;
  int64_t num_layers;
  int64_t num_heads;
  int64_t intermediate_size;
  int64_t max_position_embeddings;
  int64_t type_vocab_size; /* 0 for DistilBERT (no token types) */
  int64_t embedding_size;  /* == hidden_size unless ALBERT / ELECTRA factorize */
  int64_t num_hidden_groups; /* ALBERT; 1 otherwise */
  int64_t inner_group_num;   /* ALBERT; 1 otherwise */
  ir_act_t hidden_act;
  char hidden_act_name[32];
  float layer_norm_eps;
  int64_t pad_token_id;
  /* Position ids: -1 = 0..S-1 (BERT); else RoBERTa's padding_idx scheme. */
  int64_t position_padding_idx;
  /* Labels: num_labels and id2label[i] (heap strings; "LABEL_i" if absent). */
  int64_t num_labels;
  char **id2label;
  char problem_type[48]; /* "", "regression", "single_label_classification", ... */
} fe_config_t;

/* Reads and validates config.json: model_type dispatch, each architecture's
 * keys and defaults, ranges (positive sizes, heads divide hidden, ...), and
 * refuses what bertc does not support (relative positions, decoders,
 * cross-attention, unknown hidden_act) with a message naming the file. */
bertc_status_t fe_config_load(const char *path, fe_config_t *out) BERTC_MUST_USE;
void fe_config_deinit(fe_config_t *c);

/* sentence-transformers pooling modes (bit set; concatenated in this order). */
enum {
  FE_POOL_CLS = 1u,
  FE_POOL_MAX = 2u,
  FE_POOL_MEAN = 4u,
  FE_POOL_MEAN_SQRT = 8u,
};

/* sentence-transformers metadata of a model directory. */
typedef struct fe_sbert {
  bool present;          /* modules.json exists */
  unsigned pooling;      /* FE_POOL_* bits; 0 when no Pooling module */
  bool normalize;        /* a Normalize module follows */
  int64_t max_seq_length;/* sentence_bert_config.json; 0 when absent */
  bool do_lower_case;
} fe_sbert_t;

/* Reads modules.json, <pooling dir>/config.json and sentence_bert_config.json
 * from dir. A directory without modules.json gives present = false and OK.
 * Unsupported modules (Dense, weighted-mean / last-token pooling, ...) are
 * refused with a clear message. */
bertc_status_t fe_sbert_load(const char *dir, fe_sbert_t *out) BERTC_MUST_USE;

#define FE_MAX_BUCKETS 16

/* What to compile: the checkpoint's files and the compile choices. Built
 * from a model.json (docs/model-json.md) or, for a directory, defaults. */
/* model.json "gemm": the generated kernels, the same on AMX tiles where
 * that pays (bertc compile --gemm amx), or the host BLAS. */
typedef enum fe_gemm_e { FE_GEMM_BERTC = 0, FE_GEMM_AMX = 1, FE_GEMM_BLAS = 2 } fe_gemm_t;

typedef struct fe_spec {
  char *source;         /* the path the user gave */
  char *name;           /* model name (identifier-safe) */
  char *checkpoint_dir; /* directory holding config.json etc. */
  char *config_path;    /* config.json */
  char *weights_path;   /* model.safetensors, an index .json, or the directory */
  char *tokenizer_dir;  /* where tokenizer files are (usually checkpoint_dir) */
  bertc_task_t task;
  unsigned pooling;     /* FE_POOL_* override; 0 = from metadata */
  int normalize;        /* -1 = from metadata, 0 / 1 override */
  int64_t max_seq_length; /* 0 = from metadata / config */
  int64_t seq_lens[FE_MAX_BUCKETS];
  size_t num_seq_lens;  /* 0 = defaults */
  int64_t batch_sizes[FE_MAX_BUCKETS];
  size_t num_batch_sizes; /* 0 = defaults */
  int64_t token_buckets[FE_MAX_BUCKETS];
  size_t num_token_buckets;
  bool token_buckets_set; /* false = defaults; true with none = no token buckets */
  char *precision;      /* "fp32" or "int8" */
  char *keep_fp32;      /* int8: weights whose layers stayed fp32 (comma-separated), or NULL */
  char *target_cpu;     /* NULL = native */
  char *target_features;
  bool weights_external;
  fe_gemm_t gemm;       /* linear layers' kernels: FE_GEMM_BERTC (default) */
} fe_spec_t;

/* path: a model.json, a directory with a model.json in it, or a HuggingFace
 * model directory (config.json present). Relative paths inside a model.json
 * are relative to its directory. */
bertc_status_t fe_spec_load(const char *path, fe_spec_t *out) BERTC_MUST_USE;
void fe_spec_deinit(fe_spec_t *s);

/* Parses "16,32,64" into values (each 1..max); errors name `what`. */
bertc_status_t fe_parse_int_list(const char *text, const char *what, int64_t max,
                                 int64_t *values, size_t cap, size_t *out_n) BERTC_MUST_USE;

/* Heads found in the checkpoint (bit set). */
enum {
  FE_HEAD_POOLER = 1u,
  FE_HEAD_MLM = 2u,
  FE_HEAD_NSP = 4u,
  FE_HEAD_SEQ_CLS = 8u,
  FE_HEAD_TOKEN_CLS = 16u,
  FE_HEAD_QA = 32u,
  FE_HEAD_DISCRIMINATOR = 64u,
};

/* A loaded model: spec, config, metadata and its graph. */
typedef struct fe_model {
  fe_spec_t spec;
  fe_config_t config;
  fe_sbert_t sbert;
  unsigned heads;     /* FE_HEAD_* present in the weights */
  bertc_task_t task;     /* resolved */
  unsigned pooling;   /* resolved, for BERTC_TASK_EMBEDDING */
  bool normalize;
  int64_t max_seq_length;  /* longest input the model takes */
  uint64_t parameters;     /* parameter elements (buffers excluded) */
  uint64_t weight_bytes;   /* bytes of parameters as stored in the checkpoint */
  ir_graph_t *graph;
} fe_model_t;

typedef struct fe_load_options {
  bertc_task_t task;        /* overrides the spec's when not AUTO */
  bool warn_nonfinite;   /* print a warning to stderr for NaN/Inf weights */
} fe_load_options_t;
void fe_load_options_init(fe_load_options_t *o);

bertc_status_t fe_model_load(const char *path, const fe_load_options_t *opts,
                             fe_model_t **out) BERTC_MUST_USE;
void fe_model_destroy(fe_model_t *m);
/* Metadata JSON carried into the .so (config, task, labels, pooling,
 * tokenizer facts). Heap string. */
bertc_status_t fe_model_metadata_json(const fe_model_t *m, char **out) BERTC_MUST_USE;

#endif
