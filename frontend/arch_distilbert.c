/* DistilBERT (modeling_distilbert.py): BERT's post-LN layer under other names,
 * no token types, every LayerNorm at eps 1e-12 (set by the config loader).
 * Heads: vocab_transform/vocab_layer_norm/vocab_projector (MLM, tied),
 * pre_classifier + ReLU + classifier on the first token, qa_outputs, and a
 * token classifier. */
#include <stdio.h>

#include "frontend/build.h"

bertc_status_t fe_build_distilbert(fe_builder_t *b, const fe_build_request_t *r) {
  const fe_config_t *c = b->cfg;
  int64_t h = c->hidden_size, labels = c->num_labels;
  int32_t x, out;
  BERTC_RETURN_IF_ERROR(fe_embeddings(b, "embeddings.", "LayerNorm.", h, false, c->layer_norm_eps, &x));
  for (int i = 0; i < c->num_layers; i++) {
    fe_layer_names_t n;
    snprintf(n.q, sizeof n.q, "transformer.layer.%d.attention.q_lin.", i);
    snprintf(n.k, sizeof n.k, "transformer.layer.%d.attention.k_lin.", i);
    snprintf(n.v, sizeof n.v, "transformer.layer.%d.attention.v_lin.", i);
    snprintf(n.attn_out, sizeof n.attn_out, "transformer.layer.%d.attention.out_lin.", i);
    snprintf(n.attn_ln, sizeof n.attn_ln, "transformer.layer.%d.sa_layer_norm.", i);
    snprintf(n.ffn_in, sizeof n.ffn_in, "transformer.layer.%d.ffn.lin1.", i);
    snprintf(n.ffn_out, sizeof n.ffn_out, "transformer.layer.%d.ffn.lin2.", i);
    snprintf(n.out_ln, sizeof n.out_ln, "transformer.layer.%d.output_layer_norm.", i);
    BERTC_RETURN_IF_ERROR(fe_encoder_layer(b, &n, x, &x));
  }
  switch (r->task) {
  case BERTC_TASK_ENCODER:
    return fe_add_output(b, "last_hidden_state", x);
  case BERTC_TASK_EMBEDDING:
    BERTC_RETURN_IF_ERROR(fe_sentence_embedding(b, x, r->pooling, r->normalize, &out));
    return fe_add_output(b, "sentence_embedding", out);
  case BERTC_TASK_FILL_MASK: {
    int32_t tied;
    BERTC_RETURN_IF_ERROR(fe_bind(b, FE_SCOPE_BASE, "embeddings.word_embeddings.weight", 2,
                                  (int64_t[]){c->vocab_size, h}, &tied));
    BERTC_RETURN_IF_ERROR(fe_mlm_head(b, "vocab_transform.", "vocab_layer_norm.", 1e-12f,
                                      c->hidden_act, "vocab_projector.weight",
                                      "vocab_projector.bias", NULL, tied, x, h, h, &out));
    return fe_add_output(b, "logits", out);
  }
  case BERTC_TASK_SEQUENCE_CLASSIFICATION: {
    int32_t cls;
    BERTC_RETURN_IF_ERROR(ir_add_node(b->g, IR_OP_SELECT_TOKEN, 1, &x, NULL, NULL, &cls));
    BERTC_RETURN_IF_ERROR(fe_linear(b, FE_SCOPE_HEAD, "pre_classifier.", cls, h, h, &cls));
    BERTC_RETURN_IF_ERROR(fe_unary(b, IR_ACT_RELU, cls, &cls));
    BERTC_RETURN_IF_ERROR(fe_linear(b, FE_SCOPE_HEAD, "classifier.", cls, labels, h, &out));
    return fe_add_output(b, "logits", out);
  }
  case BERTC_TASK_TOKEN_CLASSIFICATION:
  case BERTC_TASK_QUESTION_ANSWERING:
    return fe_token_head(b, x, r->task);
  default:
    return bertc_status_make(BERTC_STATUS_UNSUPPORTED, "distilbert models have no %s head",
                             bertc_task_name(r->task));
  }
}
