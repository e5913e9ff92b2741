/* fuse-attention: scaled, masked softmax attention becomes one op.
 *
 *   s = attn_scores(q, k){heads, scale}
 *   s = attn_mask(s, mask)                (optional)
 *   p = softmax(s)
 *   c = attn_context(p, v){heads}
 *
 * becomes c = attention(q, k, v[, mask]){heads, scale}, which is defined as
 * exactly this sequence (the interpreter runs the same four steps on one
 * scratch buffer), so the outputs are bit for bit the same. The fused kernel
 * never writes the [B, heads, S, S] scores to memory, which is most of the
 * attention's memory traffic at long sequence lengths. Matched when the
 * scores, masked scores and probabilities are each read only by the next
 * step and both ends agree on the number of heads; q, k and v must have one
 * shape (the attention op's rule). */
#include "passes/rewrite.h"

bertc_status_t pass_fuse_attention(ir_graph_t *g, const pass_options_t *o) {
  (void)o;
  rw_t rw;
  BERTC_RETURN_IF_ERROR(rw_begin(&rw, g));
  for (int32_t i = 0; (size_t)i < rw.num_nodes; i++) {
    if (rw.dead[i] || g->nodes[i].op != IR_OP_ATTN_CONTEXT) continue;
    int32_t p = g->nodes[i].operands[0], v = g->nodes[i].operands[1];
    int32_t softmax = rw_def(&rw, p, IR_OP_SOFTMAX);
    if (softmax == IR_NONE || !rw_single_use(&rw, p)) continue;
    int32_t s = g->nodes[softmax].operands[0];
    int32_t masking = rw_def(&rw, s, IR_OP_ATTN_MASK), mask = IR_NONE;
    if (masking != IR_NONE) {
      if (!rw_single_use(&rw, s)) continue;
      mask = g->nodes[masking].operands[1];
      s = g->nodes[masking].operands[0];
    }
    int32_t scores = rw_def(&rw, s, IR_OP_ATTN_SCORES);
    if (scores == IR_NONE || !rw_single_use(&rw, s)) continue;
    const ir_node_t *sc = &g->nodes[scores];
    if (sc->iattr[0] != g->nodes[i].iattr[0]) continue;
    int32_t ops[4] = {sc->operands[0], sc->operands[1], v, mask};
    int64_t heads = sc->iattr[0];
    float scale = sc->fattr[0];
    if (!rw_replace(&rw, i, IR_OP_ATTENTION, mask == IR_NONE ? 3 : 4, ops, &heads, &scale))
      continue;
    rw_absorb(&rw, softmax);
    if (masking != IR_NONE) rw_absorb(&rw, masking);
    rw_absorb(&rw, scores);
  }
  return rw_end(&rw, BERTC_OK);
}
