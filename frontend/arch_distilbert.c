/* DistilBERT (modeling_distilbert.py): BERT's post-LN layer under other names,
 * no token types, every LayerNorm at eps 1e-12 (set by the config loader).
 * Heads: vocab_transform/vocab_layer_norm/vocab_projector (MLM, tied),
 * pre_classifier + ReLU + classifier on the first token, qa_outputs, and a
 * token classifier; no pooler. */
#include "frontend/build.h"

static const fe_layer_names_t distilbert_layer = {
    .q = "attention.q_lin.",
    .k = "attention.k_lin.",
    .v = "attention.v_lin.",
    .attn_out = "attention.out_lin.",
    .attn_ln = "sa_layer_norm.",
    .ffn_in = "ffn.lin1.",
    .ffn_out = "ffn.lin2.",
    .out_ln = "output_layer_norm.",
};

const fe_arch_builder_t fe_arch_distilbert = {
    .base_prefix = "distilbert.",
    .layers = "transformer.layer.",
    .layer = &distilbert_layer,
    .mlm = {.dense = "vocab_transform.",
            .layer_norm = "vocab_layer_norm.",
            .decoder = "vocab_projector.weight",
            .bias = "vocab_projector.bias"},
    .cls_dense = "pre_classifier.",
    .cls_act = IR_ACT_RELU,
    .cls_out = "classifier.",
};
