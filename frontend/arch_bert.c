/* BERT, RoBERTa and XLM-RoBERTa (modeling_bert.py, modeling_roberta.py).
 *
 * The encoders are identical; RoBERTa differs in position ids (padding_idx
 * scheme, set in the config), in having one token type, and in its heads:
 * lm_head with a hard-coded exact GELU, and a classifier with its own dense
 * + tanh on the first token instead of the pooler. */
#include <stdio.h>
#include <string.h>

#include "frontend/build.h"

static void bert_layer_names(int i, fe_layer_names_t *n) {
  snprintf(n->q, sizeof n->q, "encoder.layer.%d.attention.self.query.", i);
  snprintf(n->k, sizeof n->k, "encoder.layer.%d.attention.self.key.", i);
  snprintf(n->v, sizeof n->v, "encoder.layer.%d.attention.self.value.", i);
  snprintf(n->attn_out, sizeof n->attn_out, "encoder.layer.%d.attention.output.dense.", i);
  snprintf(n->attn_ln, sizeof n->attn_ln, "encoder.layer.%d.attention.output.LayerNorm.", i);
  snprintf(n->ffn_in, sizeof n->ffn_in, "encoder.layer.%d.intermediate.dense.", i);
  snprintf(n->ffn_out, sizeof n->ffn_out, "encoder.layer.%d.output.dense.", i);
  snprintf(n->out_ln, sizeof n->out_ln, "encoder.layer.%d.output.LayerNorm.", i);
}

bertc_status_t fe_build_bert(fe_builder_t *b, const fe_build_request_t *r) {
  const fe_config_t *c = b->cfg;
  bool roberta = c->arch != FE_ARCH_BERT;
  int64_t h = c->hidden_size, labels = c->num_labels;
  int32_t x;
  BERTC_RETURN_IF_ERROR(
      fe_embeddings(b, "embeddings.", "LayerNorm.", h, b->type_ids != IR_NONE, c->layer_norm_eps, &x));
  for (int i = 0; i < c->num_layers; i++) {
    fe_layer_names_t names;
    bert_layer_names(i, &names);
    BERTC_RETURN_IF_ERROR(fe_encoder_layer(b, &names, x, &x));
  }
  int32_t out, pooled;
  char word[64];
  snprintf(word, sizeof word, "embeddings.word_embeddings.weight");
  switch (r->task) {
  case BERTC_TASK_ENCODER:
    BERTC_RETURN_IF_ERROR(fe_add_output(b, "last_hidden_state", x));
    if (fe_has(b, FE_SCOPE_BASE, "pooler.dense.weight")) {
      BERTC_RETURN_IF_ERROR(fe_pooler(b, "pooler.dense.", x, &pooled));
      BERTC_RETURN_IF_ERROR(fe_add_output(b, "pooler_output", pooled));
    }
    return BERTC_OK;
  case BERTC_TASK_EMBEDDING:
    BERTC_RETURN_IF_ERROR(fe_sentence_embedding(b, x, r->pooling, r->normalize, &out));
    return fe_add_output(b, "sentence_embedding", out);
  case BERTC_TASK_FILL_MASK:
  case BERTC_TASK_PRETRAINING: {
    int32_t tied;
    BERTC_RETURN_IF_ERROR(fe_bind(b, FE_SCOPE_BASE, word, 2, (int64_t[]){c->vocab_size, h}, &tied));
    if (roberta)
      BERTC_RETURN_IF_ERROR(fe_mlm_head(b, "lm_head.dense.", "lm_head.layer_norm.", c->layer_norm_eps,
                                        IR_ACT_GELU, "lm_head.decoder.weight", "lm_head.bias",
                                        "lm_head.decoder.bias", tied, x, h, h, &out));
    else
      BERTC_RETURN_IF_ERROR(fe_mlm_head(
          b, "cls.predictions.transform.dense.", "cls.predictions.transform.LayerNorm.",
          c->layer_norm_eps, c->hidden_act, "cls.predictions.decoder.weight",
          "cls.predictions.bias", "cls.predictions.decoder.bias", tied, x, h, h, &out));
    if (r->task == BERTC_TASK_FILL_MASK) return fe_add_output(b, "logits", out);
    BERTC_RETURN_IF_ERROR(fe_add_output(b, "prediction_logits", out));
    BERTC_RETURN_IF_ERROR(fe_pooler(b, "pooler.dense.", x, &pooled));
    BERTC_RETURN_IF_ERROR(fe_linear(b, FE_SCOPE_HEAD, "cls.seq_relationship.", pooled, 2, h, &out));
    return fe_add_output(b, "seq_relationship_logits", out);
  }
  case BERTC_TASK_NSP:
    BERTC_RETURN_IF_ERROR(fe_pooler(b, "pooler.dense.", x, &pooled));
    BERTC_RETURN_IF_ERROR(fe_linear(b, FE_SCOPE_HEAD, "cls.seq_relationship.", pooled, 2, h, &out));
    return fe_add_output(b, "logits", out);
  case BERTC_TASK_SEQUENCE_CLASSIFICATION:
    if (roberta) {
      int32_t cls;
      BERTC_RETURN_IF_ERROR(ir_add_node(b->g, IR_OP_SELECT_TOKEN, 1, &x, NULL, NULL, &cls));
      BERTC_RETURN_IF_ERROR(fe_linear(b, FE_SCOPE_HEAD, "classifier.dense.", cls, h, h, &cls));
      BERTC_RETURN_IF_ERROR(fe_unary(b, IR_ACT_TANH, cls, &cls));
      BERTC_RETURN_IF_ERROR(fe_linear(b, FE_SCOPE_HEAD, "classifier.out_proj.", cls, labels, h, &out));
    } else {
      BERTC_RETURN_IF_ERROR(fe_pooler(b, "pooler.dense.", x, &pooled));
      BERTC_RETURN_IF_ERROR(fe_linear(b, FE_SCOPE_HEAD, "classifier.", pooled, labels, h, &out));
    }
    return fe_add_output(b, "logits", out);
  case BERTC_TASK_TOKEN_CLASSIFICATION:
  case BERTC_TASK_QUESTION_ANSWERING:
    return fe_token_head(b, x, r->task);
  default:
    return bertc_status_make(BERTC_STATUS_UNSUPPORTED, "%s models have no %s head",
                             fe_arch_name(c->arch), bertc_task_name(r->task));
  }
}
