/* fuse-int8: an int8 linear layer becomes one GEMM with its epilogue.
 *
 *   q = quantize(x);  acc = matmul_i8(q, Wq);  y = dequantize(acc, x, ws, b){act}
 *     ->  y = qlinear(x, Wq, ws, b){act}
 *   y = qlinear(x, Wq, ws, b);  o = add_ln(y, r, gamma, beta){eps}   (either add order)
 *     ->  o = qlinear(x, Wq, ws, b, r, gamma, beta){eps}
 *
 * qlinear's reference is the same integer arithmetic and the same f32
 * dequantization, then the residual added in f32 and the LayerNorm of that,
 * as add_ln computes them, so the result is bit for bit the same. Matched when
 * q and acc (and y) are read only by the next op and dequantize reads the x
 * that quantize read (the row scales must be that row's). */
#include "passes/rewrite.h"

bertc_status_t pass_fuse_int8(ir_graph_t *g, const pass_options_t *o) {
  (void)o;
  rw_t rw;
  BERTC_RETURN_IF_ERROR(rw_begin(&rw, g));
  for (int32_t i = 0; (size_t)i < rw.num_nodes; i++) {
    const ir_node_t *n = &g->nodes[i];
    if (rw.dead[i]) continue;
    if (n->op == IR_OP_DEQUANTIZE) {
      int32_t acc = n->operands[0];
      int32_t mm = rw_def(&rw, acc, IR_OP_MATMUL_I8);
      if (mm == IR_NONE || !rw_single_use(&rw, acc)) continue;
      int32_t q = g->nodes[mm].operands[0];
      int32_t qn = rw_def(&rw, q, IR_OP_QUANTIZE);
      if (qn == IR_NONE || !rw_single_use(&rw, q) || g->nodes[qn].operands[0] != n->operands[1])
        continue;
      int32_t ops[4] = {n->operands[1], g->nodes[mm].operands[1], n->operands[2], n->operands[3]};
      int64_t act = n->iattr[0];
      if (rw_replace(&rw, i, IR_OP_QLINEAR, 4, ops, &act, NULL)) {
        rw_absorb(&rw, mm);
        rw_absorb(&rw, qn);
      }
    } else if (n->op == IR_OP_ADD_LN) {
      for (int side = 0; side < 2; side++) {
        int32_t y = n->operands[side], r = n->operands[1 - side];
        int32_t ql = rw_def(&rw, y, IR_OP_QLINEAR);
        if (ql == IR_NONE || !rw_single_use(&rw, y) || g->nodes[ql].num_operands != 4 ||
            g->nodes[ql].iattr[0] != IR_ACT_NONE)
          continue;
        const ir_node_t *l = &g->nodes[ql];
        int32_t ops[7] = {l->operands[0], l->operands[1], l->operands[2], l->operands[3],
                          r, n->operands[2], n->operands[3]};
        float eps = n->fattr[0];
        if (rw_replace(&rw, i, IR_OP_QLINEAR, 7, ops, NULL, &eps)) {
          rw_absorb(&rw, ql);
          break;
        }
      }
    }
  }
  return rw_end(&rw, BERTC_OK);
}
