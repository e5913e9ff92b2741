/* ELECTRA (modeling_electra.py): BERT layers over embeddings of width E, with
 * embeddings_project (E -> H) only when E != H, and no pooler. Heads: the
 * discriminator (dense, hidden_act, dense_prediction -> one logit per token),
 * the generator MLM head (H -> E, exact GELU, LayerNorm, tied lm head), a
 * classifier (dense + exact GELU + out_proj on the first token), token
 * classification and QA. */
#include "frontend/build.h"

const fe_arch_builder_t fe_arch_electra = {
    .base_prefix = "electra.",
    .projection = "embeddings_project.",
    .projection_if_stored = true,
    .layers = "encoder.layer.",
    .layer = &fe_bert_layer,
    .mlm = {.dense = "generator_predictions.dense.",
            .layer_norm = "generator_predictions.LayerNorm.",
            .decoder = "generator_lm_head.weight",
            .bias = "generator_lm_head.bias",
            .exact_gelu = true},
    .cls_dense = "classifier.dense.",
    .cls_act = IR_ACT_GELU,
    .cls_out = "classifier.out_proj.",
    .discriminator = "discriminator_predictions.",
};
