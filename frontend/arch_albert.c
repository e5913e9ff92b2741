/* ALBERT (modeling_albert.py): factorized embeddings (width E, LayerNorm over
 * E, then embedding_hidden_mapping_in E -> H) and shared layers: layer i runs
 * group int(i / (num_layers / num_groups)), each group its inner layers in
 * order. Shared weights bind to the same graph constants. Heads: MLM
 * (predictions.*, H -> E -> vocab, decoder tied), pooler + classifier. */
#include <stdio.h>

#include "frontend/build.h"

bertc_status_t fe_build_albert(fe_builder_t *b, const fe_build_request_t *r) {
  const fe_config_t *c = b->cfg;
  int64_t h = c->hidden_size, e = c->embedding_size, labels = c->num_labels;
  int32_t x, out, pooled;
  BERTC_RETURN_IF_ERROR(
      fe_embeddings(b, "embeddings.", "LayerNorm.", e, b->type_ids != IR_NONE, c->layer_norm_eps, &x));
  BERTC_RETURN_IF_ERROR(fe_linear(b, FE_SCOPE_BASE, "encoder.embedding_hidden_mapping_in.", x, h, e, &x));
  for (int i = 0; i < c->num_layers; i++) {
    int g = (int)((double)i / ((double)c->num_layers / (double)c->num_hidden_groups));
    for (int j = 0; j < c->inner_group_num; j++) {
      fe_layer_names_t n;
      char p[96];
      snprintf(p, sizeof p, "encoder.albert_layer_groups.%d.albert_layers.%d.", g, j);
      snprintf(n.q, sizeof n.q, "%sattention.query.", p);
      snprintf(n.k, sizeof n.k, "%sattention.key.", p);
      snprintf(n.v, sizeof n.v, "%sattention.value.", p);
      snprintf(n.attn_out, sizeof n.attn_out, "%sattention.dense.", p);
      snprintf(n.attn_ln, sizeof n.attn_ln, "%sattention.LayerNorm.", p);
      snprintf(n.ffn_in, sizeof n.ffn_in, "%sffn.", p);
      snprintf(n.ffn_out, sizeof n.ffn_out, "%sffn_output.", p);
      snprintf(n.out_ln, sizeof n.out_ln, "%sfull_layer_layer_norm.", p);
      BERTC_RETURN_IF_ERROR(fe_encoder_layer(b, &n, x, &x));
    }
  }
  switch (r->task) {
  case BERTC_TASK_ENCODER:
    BERTC_RETURN_IF_ERROR(fe_add_output(b, "last_hidden_state", x));
    if (fe_has(b, FE_SCOPE_BASE, "pooler.weight")) {
      BERTC_RETURN_IF_ERROR(fe_pooler(b, "pooler.", x, &pooled));
      BERTC_RETURN_IF_ERROR(fe_add_output(b, "pooler_output", pooled));
    }
    return BERTC_OK;
  case BERTC_TASK_EMBEDDING:
    BERTC_RETURN_IF_ERROR(fe_sentence_embedding(b, x, r->pooling, r->normalize, &out));
    return fe_add_output(b, "sentence_embedding", out);
  case BERTC_TASK_FILL_MASK: {
    int32_t tied;
    BERTC_RETURN_IF_ERROR(fe_bind(b, FE_SCOPE_BASE, "embeddings.word_embeddings.weight", 2,
                                  (int64_t[]){c->vocab_size, e}, &tied));
    BERTC_RETURN_IF_ERROR(fe_mlm_head(b, "predictions.dense.", "predictions.LayerNorm.",
                                      c->layer_norm_eps, c->hidden_act, "predictions.decoder.weight",
                                      "predictions.bias", "predictions.decoder.bias", tied, x, h, e,
                                      &out));
    return fe_add_output(b, "logits", out);
  }
  case BERTC_TASK_SEQUENCE_CLASSIFICATION:
    BERTC_RETURN_IF_ERROR(fe_pooler(b, "pooler.", x, &pooled));
    BERTC_RETURN_IF_ERROR(fe_linear(b, FE_SCOPE_HEAD, "classifier.", pooled, labels, h, &out));
    return fe_add_output(b, "logits", out);
  case BERTC_TASK_TOKEN_CLASSIFICATION:
  case BERTC_TASK_QUESTION_ANSWERING:
    return fe_token_head(b, x, r->task);
  default:
    return bertc_status_make(BERTC_STATUS_UNSUPPORTED, "albert models have no %s head",
                             bertc_task_name(r->task));
  }
}
