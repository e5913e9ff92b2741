/* ELECTRA (modeling_electra.py): BERT layers over embeddings of width E, with
 * embeddings_project (E -> H) only when E != H, and no pooler. Heads: the
 * discriminator (dense, hidden_act, dense_prediction -> one logit per token),
 * the generator MLM head (H -> E, exact GELU, LayerNorm, tied lm head), a
 * classifier (dense + exact GELU + out_proj on the first token), token
 * classification and QA. */
#include <stdio.h>

#include "frontend/build.h"

bertc_status_t fe_build_electra(fe_builder_t *b, const fe_build_request_t *r) {
  const fe_config_t *c = b->cfg;
  int64_t h = c->hidden_size, e = c->embedding_size, labels = c->num_labels;
  int32_t x, out;
  BERTC_RETURN_IF_ERROR(
      fe_embeddings(b, "embeddings.", "LayerNorm.", e, b->type_ids != IR_NONE, c->layer_norm_eps, &x));
  if (fe_has(b, FE_SCOPE_BASE, "embeddings_project.weight"))
    BERTC_RETURN_IF_ERROR(fe_linear(b, FE_SCOPE_BASE, "embeddings_project.", x, h, e, &x));
  else if (e != h)
    return bertc_status_make(BERTC_STATUS_NOT_FOUND,
                             "%s: tensor 'embeddings_project.weight' is missing (embedding_size "
                             "%lld != hidden_size %lld)",
                             b->weights_source, (long long)e, (long long)h);
  for (int i = 0; i < c->num_layers; i++) {
    fe_layer_names_t n;
    snprintf(n.q, sizeof n.q, "encoder.layer.%d.attention.self.query.", i);
    snprintf(n.k, sizeof n.k, "encoder.layer.%d.attention.self.key.", i);
    snprintf(n.v, sizeof n.v, "encoder.layer.%d.attention.self.value.", i);
    snprintf(n.attn_out, sizeof n.attn_out, "encoder.layer.%d.attention.output.dense.", i);
    snprintf(n.attn_ln, sizeof n.attn_ln, "encoder.layer.%d.attention.output.LayerNorm.", i);
    snprintf(n.ffn_in, sizeof n.ffn_in, "encoder.layer.%d.intermediate.dense.", i);
    snprintf(n.ffn_out, sizeof n.ffn_out, "encoder.layer.%d.output.dense.", i);
    snprintf(n.out_ln, sizeof n.out_ln, "encoder.layer.%d.output.LayerNorm.", i);
    BERTC_RETURN_IF_ERROR(fe_encoder_layer(b, &n, x, &x));
  }
  switch (r->task) {
  case BERTC_TASK_ENCODER:
    return fe_add_output(b, "last_hidden_state", x);
  case BERTC_TASK_EMBEDDING:
    BERTC_RETURN_IF_ERROR(fe_sentence_embedding(b, x, r->pooling, r->normalize, &out));
    return fe_add_output(b, "sentence_embedding", out);
  case BERTC_TASK_DISCRIMINATOR:
    BERTC_RETURN_IF_ERROR(fe_linear(b, FE_SCOPE_HEAD, "discriminator_predictions.dense.", x, h, h, &out));
    BERTC_RETURN_IF_ERROR(fe_unary(b, c->hidden_act, out, &out));
    BERTC_RETURN_IF_ERROR(
        fe_linear(b, FE_SCOPE_HEAD, "discriminator_predictions.dense_prediction.", out, 1, h, &out));
    BERTC_RETURN_IF_ERROR(ir_add_node(b->g, IR_OP_SLICE_LAST, 1, &out, (int64_t[]){0, 1, 1}, NULL, &out));
    return fe_add_output(b, "logits", out);
  case BERTC_TASK_FILL_MASK: {
    int32_t tied;
    BERTC_RETURN_IF_ERROR(fe_bind(b, FE_SCOPE_BASE, "embeddings.word_embeddings.weight", 2,
                                  (int64_t[]){c->vocab_size, e}, &tied));
    BERTC_RETURN_IF_ERROR(fe_mlm_head(b, "generator_predictions.dense.",
                                      "generator_predictions.LayerNorm.", c->layer_norm_eps,
                                      IR_ACT_GELU, "generator_lm_head.weight",
                                      "generator_lm_head.bias", NULL, tied, x, h, e, &out));
    return fe_add_output(b, "logits", out);
  }
  case BERTC_TASK_SEQUENCE_CLASSIFICATION: {
    int32_t cls;
    BERTC_RETURN_IF_ERROR(ir_add_node(b->g, IR_OP_SELECT_TOKEN, 1, &x, NULL, NULL, &cls));
    BERTC_RETURN_IF_ERROR(fe_linear(b, FE_SCOPE_HEAD, "classifier.dense.", cls, h, h, &cls));
    BERTC_RETURN_IF_ERROR(fe_unary(b, IR_ACT_GELU, cls, &cls));
    BERTC_RETURN_IF_ERROR(fe_linear(b, FE_SCOPE_HEAD, "classifier.out_proj.", cls, labels, h, &out));
    return fe_add_output(b, "logits", out);
  }
  case BERTC_TASK_TOKEN_CLASSIFICATION:
  case BERTC_TASK_QUESTION_ANSWERING:
    return fe_token_head(b, x, r->task);
  default:
    return bertc_status_make(BERTC_STATUS_UNSUPPORTED, "electra models have no %s head",
                             bertc_task_name(r->task));
  }
}
