/* Internal to the frontend: the graph builder shared by the architecture
 * files (arch_*.c). A builder binds checkpoint tensors to graph constants
 * (probing the architecture prefix and legacy names, checking shapes) and
 * emits the pieces every BERT-family model is made of: embeddings, a post-LN
 * encoder layer, the pooler, and task heads. */
#ifndef BERTC_FRONTEND_BUILD_H
#define BERTC_FRONTEND_BUILD_H

#include "frontend/frontend.h"
#include "frontend/safetensors.h"
#include "ir/ir.h"

typedef struct fe_builder {
  ir_graph_t *g;
  const fe_config_t *cfg;
  st_checkpoint_t *ckpt;
  const char *weights_source; /* for messages: the .safetensors file or shard index */
  const char *config_source;  /* for messages: the config.json the sizes come from */
  char base_prefix[32];       /* "bert." when the encoder tensors carry it, else "" */
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

/* Embeddings: word (+ token type) + position, LayerNorm. Tensor names are
 * "<prefix>word_embeddings.weight" etc.; width is the embedding size. */
bertc_status_t fe_embeddings(fe_builder_t *b, const char *prefix, const char *ln_name,
                             int64_t width, bool token_types, float eps,
                             int32_t *out) BERTC_MUST_USE;

/* Names of one encoder layer's tensors (prefixes, without .weight/.bias). */
typedef struct fe_layer_names {
  char q[160], k[160], v[160], attn_out[160], attn_ln[160];
  char ffn_in[160], ffn_out[160], out_ln[160];
} fe_layer_names_t;

/* A post-LN transformer layer (BERT, RoBERTa, ELECTRA, ALBERT, DistilBERT). */
bertc_status_t fe_encoder_layer(fe_builder_t *b, const fe_layer_names_t *names, int32_t x,
                                int32_t *out) BERTC_MUST_USE;

/* tanh(dense(h[:, 0])) */
bertc_status_t fe_pooler(fe_builder_t *b, const char *dense_prefix, int32_t hidden,
                         int32_t *out) BERTC_MUST_USE;
/* sentence-transformers pooling (modes concatenated) and optional normalize. */
bertc_status_t fe_sentence_embedding(fe_builder_t *b, int32_t hidden, unsigned modes,
                                     bool normalize, int32_t *out) BERTC_MUST_USE;
/* MLM head: dense(width->inner) -> act -> LayerNorm(eps) -> decoder(inner->vocab)
 * with weight `decoder_w` (tied to `tied` when absent) and bias `bias`. */
bertc_status_t fe_mlm_head(fe_builder_t *b, const char *dense, const char *ln, float eps,
                           ir_act_t act, const char *decoder_w, const char *bias_a,
                           const char *bias_b, int32_t tied, int32_t hidden, int64_t width,
                           int64_t inner, int32_t *out) BERTC_MUST_USE;

/* Architecture builders: add nodes from inputs to outputs for the task. */
typedef struct fe_build_request {
  bertc_task_t task;
  unsigned pooling;
  bool normalize;
} fe_build_request_t;

bertc_status_t fe_build_bert(fe_builder_t *b, const fe_build_request_t *r) BERTC_MUST_USE;
bertc_status_t fe_build_distilbert(fe_builder_t *b, const fe_build_request_t *r) BERTC_MUST_USE;
bertc_status_t fe_build_albert(fe_builder_t *b, const fe_build_request_t *r) BERTC_MUST_USE;
bertc_status_t fe_build_electra(fe_builder_t *b, const fe_build_request_t *r) BERTC_MUST_USE;

/* Adds the outputs common to every architecture once the encoder output
 * exists: ENCODER, EMBEDDING and the token-level heads named `tok_head`. */
bertc_status_t fe_add_output(fe_builder_t *b, const char *name, int32_t v) BERTC_MUST_USE;

/* The per-token heads every architecture shares: token classification
 * ("classifier") or extractive QA ("qa_outputs", split into start/end). */
bertc_status_t fe_token_head(fe_builder_t *b, int32_t hidden, bertc_task_t task) BERTC_MUST_USE;

/* Which heads a checkpoint contains (FE_HEAD_* bits), by architecture. */
unsigned fe_detect_heads(const fe_builder_t *b);

#endif
