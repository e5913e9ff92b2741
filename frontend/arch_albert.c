/* ALBERT (modeling_albert.py): factorized embeddings (width E, LayerNorm over
 * E, then embedding_hidden_mapping_in E -> H) and shared layers: layer i runs
 * group int(i / (num_layers / num_groups)), each group its inner layers in
 * order. Shared weights bind to the same graph constants. Heads: MLM
 * (predictions.*, H -> E -> vocab, decoder tied), pooler + classifier. */
#include "frontend/build.h"

static const fe_layer_names_t albert_layer = {
    .q = "attention.query.",
    .k = "attention.key.",
    .v = "attention.value.",
    .attn_out = "attention.dense.",
    .attn_ln = "attention.LayerNorm.",
    .ffn_in = "ffn.",
    .ffn_out = "ffn_output.",
    .out_ln = "full_layer_layer_norm.",
};

const fe_arch_builder_t fe_arch_albert = {
    .base_prefix = "albert.",
    .projection = "encoder.embedding_hidden_mapping_in.",
    .layers = "encoder.albert_layer_groups.",
    .inner_layers = "albert_layers.",
    .layer = &albert_layer,
    .pooler = "pooler.",
    .mlm = {.dense = "predictions.dense.",
            .layer_norm = "predictions.LayerNorm.",
            .decoder = "predictions.decoder.weight",
            .bias = "predictions.bias",
            .decoder_bias = "predictions.decoder.bias"},
    .cls_out = "classifier.",
};
