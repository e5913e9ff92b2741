/* Internal to the frontend: the graph builder and the architectures it
 * builds. A builder binds checkpoint tensors to graph constants (probing the
 * architecture prefix and legacy names, checking shapes) and emits the pieces
 * every BERT-family model is made of: embeddings, a post-LN encoder layer, the
 * pooler, and task heads. An architecture (arch_*.c) is a table of where its
 * tensors are and which heads it has; fe_build assembles the pieces from it. */
#ifndef BERTC_FRONTEND_BUILD_H
#define BERTC_FRONTEND_BUILD_H

#include "frontend/frontend.h"
#include "frontend/safetensors.h"
#include "ir/ir.h"

/* The tensor names of an encoder layer's parts, after the layer's prefix
 * (without .weight/.bias). */
typedef struct fe_layer_names {
  const char *q, *k, *v, *attn_out, *attn_ln, *ffn_in, *ffn_out, *out_ln;
} fe_layer_names_t;

/* An MLM head: dense (hidden -> embedding width), activation, LayerNorm, then
 * a decoder to the vocabulary whose weight is tied to the word embeddings
 * when the checkpoint does not store it. */
typedef struct fe_mlm_names {
  const char *dense, *layer_norm; /* prefixes */
  const char *decoder;            /* the decoder weight tensor */
  const char *bias;               /* the vocabulary bias tensor */
  const char *decoder_bias;       /* where some checkpoints keep that bias; NULL: nowhere */
  bool exact_gelu;                /* exact GELU, not hidden_act (HF hard-codes it) */
} fe_mlm_names_t;

/* One architecture: its tensor names and heads. A NULL name is a part or
 * head the architecture does not have. */
typedef struct fe_arch_builder {
  const char *base_prefix; /* "bert.": the encoder's prefix in task checkpoints */
  /* Linear from the embedding width E to the hidden width H after the
   * embeddings; projection_if_stored: only when the checkpoint has it, which
   * it must when E != H (ELECTRA). */
  const char *projection;
  bool projection_if_stored;
  /* Layer i is "<layers><i>."; with inner_layers (ALBERT's shared groups),
   * layer i runs group g = int(i / (layers / groups)), whose inner layers j
   * are "<layers><g>.<inner_layers><j>.". */
  const char *layers, *inner_layers;
  const fe_layer_names_t *layer;
  const char *pooler; /* tanh(dense(h[:, 0])) */
  fe_mlm_names_t mlm; /* mlm.dense NULL: no MLM head */
  const char *nsp;    /* next-sentence linear on the pooler */
  /* Sequence classification: cls_out on the pooler, or, with cls_dense,
   * cls_out(cls_act(cls_dense(h[:, 0]))). */
  const char *cls_dense, *cls_out;
  ir_act_t cls_act;
  const char *discriminator; /* ELECTRA: dense, hidden_act, dense_prediction per token */
} fe_arch_builder_t;

/* BERT's layer names, which ELECTRA shares. */
extern const fe_layer_names_t fe_bert_layer;

extern const fe_arch_builder_t fe_arch_bert, fe_arch_roberta, fe_arch_distilbert, fe_arch_albert,
    fe_arch_electra;

/* The table of `arch` (XLM-RoBERTa is RoBERTa's). */
const fe_arch_builder_t *fe_arch_builder(fe_arch_t arch);

typedef struct fe_builder {
  ir_graph_t *g;
  const fe_config_t *cfg;
  const fe_arch_builder_t *arch;
  st_checkpoint_t *ckpt;
  const char *weights_source; /* for messages: the .safetensors file or shard index */
  const char *config_source;  /* for messages: the config.json the sizes come from */
  const char *base_prefix;    /* arch->base_prefix when the encoder tensors carry it, else "" */
  /* bound tensors: checkpoint name -> value (ALBERT shares, heads tie) */
  char **bound_names;
  int32_t *bound_values;
  size_t num_bound, cap_bound;
  /* graph inputs */
  int32_t ids, type_ids, mask;
} fe_builder_t;

/* How a tensor is looked up. */
typedef enum fe_scope_e {
  FE_SCOPE_BASE = 0, /* under the base-model prefix (probe with and without) */
  FE_SCOPE_HEAD = 1, /* head tensors: exact name only */
} fe_scope_t;

/* Binds tensor `name` as a constant with the expected shape (dims may be
 * NULL to accept any). LayerNorm .weight/.bias fall back to .gamma/.beta. */
bertc_status_t fe_bind(fe_builder_t *b, fe_scope_t scope, const char *name, int rank,
                       const int64_t *dims, int32_t *out) BERTC_MUST_USE;
/* Same, but a missing tensor sets *out = IR_NONE instead of failing. */
bertc_status_t fe_bind_optional(fe_builder_t *b, fe_scope_t scope, const char *name, int rank,
                                const int64_t *dims, int32_t *out) BERTC_MUST_USE;
/* Whether a tensor exists (either scope rules). */
bool fe_has(const fe_builder_t *b, fe_scope_t scope, const char *name);

/* printf-style name formatting into a fixed buffer. */
const char *fe_name(char *buf, size_t size, const char *fmt, ...) BERTC_PRINTF(3, 4);

/* Pieces. All `prefix` arguments are tensor-name prefixes like
 * "encoder.layer.3." and are formatted by the caller. */
bertc_status_t fe_linear(fe_builder_t *b, fe_scope_t scope, const char *prefix, int32_t x,
                         int64_t out_features, int64_t in_features, int32_t *out) BERTC_MUST_USE;
bertc_status_t fe_layer_norm(fe_builder_t *b, fe_scope_t scope, const char *prefix, int32_t x,
                             int64_t width, float eps, int32_t *out) BERTC_MUST_USE;
bertc_status_t fe_unary(fe_builder_t *b, ir_act_t act, int32_t x, int32_t *out) BERTC_MUST_USE;
bertc_status_t fe_add(fe_builder_t *b, int32_t x, int32_t y, int32_t *out) BERTC_MUST_USE;

/* Embeddings of the embedding width: word (+ token type when the graph has
 * token_type_ids) + position, then LayerNorm ("embeddings.*"). */
bertc_status_t fe_embeddings(fe_builder_t *b, int32_t *out) BERTC_MUST_USE;

/* A post-LN transformer layer (BERT, RoBERTa, ELECTRA, ALBERT, DistilBERT)
 * whose tensors are "<prefix><names>". */
bertc_status_t fe_encoder_layer(fe_builder_t *b, const char *prefix, const fe_layer_names_t *names,
                                int32_t x, int32_t *out) BERTC_MUST_USE;

/* tanh(dense(h[:, 0])) */
bertc_status_t fe_pooler(fe_builder_t *b, const char *dense_prefix, int32_t hidden,
                         int32_t *out) BERTC_MUST_USE;
/* sentence-transformers pooling (modes concatenated) and optional normalize. */
bertc_status_t fe_sentence_embedding(fe_builder_t *b, int32_t hidden, unsigned modes,
                                     bool normalize, int32_t *out) BERTC_MUST_USE;
/* MLM head on the encoder output: dense (H -> E) -> activation -> LayerNorm
 * -> decoder (E -> vocab). */
bertc_status_t fe_mlm_head(fe_builder_t *b, const fe_mlm_names_t *names, int32_t hidden,
                           int32_t *out) BERTC_MUST_USE;

/* The per-token heads every architecture shares: token classification
 * ("classifier") or extractive QA ("qa_outputs", split into start/end). */
bertc_status_t fe_token_head(fe_builder_t *b, int32_t hidden, bertc_task_t task) BERTC_MUST_USE;

/* Sets up a builder for graph g of the model in cfg, reading ckpt (the base
 * prefix is probed here); fe_builder_deinit frees what binding allocated. */
void fe_builder_init(fe_builder_t *b, ir_graph_t *g, const fe_config_t *cfg, st_checkpoint_t *ckpt,
                     const char *config_source);
void fe_builder_deinit(fe_builder_t *b);

/* Which heads the checkpoint contains (FE_HEAD_* bits). */
unsigned fe_detect_heads(const fe_builder_t *b);

/* What to build: the graph's outputs for a task. */
typedef struct fe_build_request {
  bertc_task_t task;
  unsigned pooling;
  bool normalize;
} fe_build_request_t;

/* Adds the nodes from the graph's inputs (ids, type_ids, mask, already
 * added) to the task's outputs, from the builder's architecture table. */
bertc_status_t fe_build(fe_builder_t *b, const fe_build_request_t *r) BERTC_MUST_USE;

#endif
