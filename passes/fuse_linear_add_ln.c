/* fuse-linear-add-ln: the post-LN residual block goes into one GEMM epilogue.
 *
 *   y = linear(x, W, b);  z = add(y, r);  o = layer_norm(z, gamma, beta){eps}
 *     ->  o = linear_add_ln(x, W, b, r, gamma, beta){eps}
 *   z = add(a, r);  o = layer_norm(z, gamma, beta){eps}
 *     ->  o = add_ln(a, r, gamma, beta){eps}              (no linear to fuse)
 *
 * Both fused ops round the linear to f32, add the residual in f32 and
 * normalize that, exactly as the three ops do (the add's operands may come
 * in either order: float addition commutes), so the result is bit for bit
 * the same. The linear form saves writing and re-reading two [.., N]
 * matrices; the GEMM's row blocks then span whole rows so the epilogue can
 * normalize them. Matched when the linear has no activation, y and z are
 * each read only by the next op, and r has the add's full shape (not a
 * broadcast bias row). When both add operands come from such linears the
 * first one is fused. */
#include "passes/rewrite.h"

bertc_status_t pass_fuse_linear_add_ln(ir_graph_t *g, const pass_options_t *o) {
  (void)o;
  rw_t rw;
  BERTC_RETURN_IF_ERROR(rw_begin(&rw, g));
  for (int32_t i = 0; (size_t)i < rw.num_nodes; i++) {
    if (rw.dead[i] || g->nodes[i].op != IR_OP_LAYER_NORM) continue;
    int32_t z = g->nodes[i].operands[0];
    int32_t add = rw_def(&rw, z, IR_OP_ADD);
    if (add == IR_NONE || !rw_single_use(&rw, z)) continue;
    int32_t gamma = g->nodes[i].operands[1], beta = g->nodes[i].operands[2];
    float eps = g->nodes[i].fattr[0];
    bool fused = false;
    for (int side = 0; side < 2 && !fused; side++) {
      int32_t y = g->nodes[add].operands[side], r = g->nodes[add].operands[1 - side];
      int32_t lin = rw_def(&rw, y, IR_OP_LINEAR);
      if (lin == IR_NONE || !rw_single_use(&rw, y) || g->nodes[lin].iattr[0] != IR_ACT_NONE)
        continue;
      const ir_node_t *l = &g->nodes[lin];
      int32_t ops[6] = {l->operands[0], l->operands[1], l->operands[2], r, gamma, beta};
      fused = rw_replace(&rw, i, IR_OP_LINEAR_ADD_LN, 6, ops, NULL, &eps);
      if (fused) {
        rw_absorb(&rw, add);
        rw_absorb(&rw, lin);
      }
    }
    if (fused) continue;
    int32_t ops[4] = {g->nodes[add].operands[0], g->nodes[add].operands[1], gamma, beta};
    if (rw_replace(&rw, i, IR_OP_ADD_LN, 4, ops, NULL, &eps)) rw_absorb(&rw, add);
  }
  return rw_end(&rw, BERTC_OK);
}
