/* BERT, RoBERTa and XLM-RoBERTa (modeling_bert.py, modeling_roberta.py).
 *
 * The encoders are identical; RoBERTa differs in position ids (padding_idx
 * scheme, set in the config), in having one token type, and in its heads:
 * lm_head with a hard-coded exact GELU, and a classifier with its own dense
 * + tanh on the first token instead of the pooler. */
#include "frontend/build.h"

const fe_layer_names_t fe_bert_layer = {
    .q = "attention.self.query.",
    .k = "attention.self.key.",
    .v = "attention.self.value.",
    .attn_out = "attention.output.dense.",
    .attn_ln = "attention.output.LayerNorm.",
    .ffn_in = "intermediate.dense.",
    .ffn_out = "output.dense.",
    .out_ln = "output.LayerNorm.",
};

const fe_arch_builder_t fe_arch_bert = {
    .base_prefix = "bert.",
    .layers = "encoder.layer.",
    .layer = &fe_bert_layer,
    .pooler = "pooler.dense.",
    .mlm = {.dense = "cls.predictions.transform.dense.",
            .layer_norm = "cls.predictions.transform.LayerNorm.",
            .decoder = "cls.predictions.decoder.weight",
            .bias = "cls.predictions.bias",
            .decoder_bias = "cls.predictions.decoder.bias"},
    .nsp = "cls.seq_relationship.",
    .cls_out = "classifier.",
};

const fe_arch_builder_t fe_arch_roberta = {
    .base_prefix = "roberta.",
    .layers = "encoder.layer.",
    .layer = &fe_bert_layer,
    .pooler = "pooler.dense.",
    .mlm = {.dense = "lm_head.dense.",
            .layer_norm = "lm_head.layer_norm.",
            .decoder = "lm_head.decoder.weight",
            .bias = "lm_head.bias",
            .decoder_bias = "lm_head.decoder.bias",
            .exact_gelu = true},
    .nsp = "cls.seq_relationship.",
    .cls_dense = "classifier.dense.",
    .cls_act = IR_ACT_TANH,
    .cls_out = "classifier.out_proj.",
};
