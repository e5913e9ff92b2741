/* fuse-linear-act: an activation right after a linear goes into the GEMM's
 * epilogue.
 *
 *   y = linear(x, W, b){act = none};  z = gelu(y)   ->   z = linear(x, W, b){act = gelu}
 *
 * for every unary activation op (one per row of ir/acts.def), when y is read
 * only by the activation. linear{act} rounds x W^T + b to f32 and then
 * applies the activation to that f32, as the two ops did, so the result is
 * bit for bit the same; the [.., N] matrix is written once instead of
 * written, read and written again. */
#include "passes/rewrite.h"

bertc_status_t pass_fuse_linear_act(ir_graph_t *g, const pass_options_t *o) {
  (void)o;
  rw_t rw;
  BERTC_RETURN_IF_ERROR(rw_begin(&rw, g));
  for (int32_t i = 0; (size_t)i < rw.num_nodes; i++) {
    int64_t act = rw.dead[i] ? IR_ACT_NONE : ir_op_act(g->nodes[i].op);
    if (act == IR_ACT_NONE) continue;
    int32_t y = g->nodes[i].operands[0];
    int32_t lin = rw_def(&rw, y, IR_OP_LINEAR);
    if (lin == IR_NONE || !rw_single_use(&rw, y) || g->nodes[lin].iattr[0] != IR_ACT_NONE) continue;
    int32_t ops[3];
    for (int k = 0; k < 3; k++) ops[k] = g->nodes[lin].operands[k];
    if (rw_replace(&rw, i, IR_OP_LINEAR, 3, ops, &act, NULL)) rw_absorb(&rw, lin);
  }
  return rw_end(&rw, BERTC_OK);
}
