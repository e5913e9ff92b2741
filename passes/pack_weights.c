/* pack-weights: linear weights go into the GEMM micro-kernel's layout at
 * compile time.
 *
 * Every linear and linear_add_ln whose weight is a row-major f32 [N, K]
 * constant gets a new constant with the same elements in IR_LAYOUT_PANEL
 * (layout_param BK_GEMM_NR): ceil(N / NR) panels of [K][NR], zero-padded
 * past N, made by the kernel library's own bk_pack_weights, so the layout
 * is by construction the one bk_gemm reads. The panel layout is a layout,
 * not a change of values: ir_weight_at reads element (n, k) from either, so
 * the interpreter's results are bit for bit the same. Each distinct weight
 * (by its data) is packed once, so ALBERT's shared layers and tied
 * embeddings share one packed copy; the row-major original is dropped
 * unless something else (say, embed_ln reading a tied embedding table)
 * still reads it. Already packed weights are left alone (idempotent). */
#include "kernels/kernels.h"
#include "passes/rewrite.h"
#include "base/base.h"

static bertc_status_t packed_weight(rw_t *rw, int32_t w, int32_t *out) {
  ir_graph_t *g = rw->g;
  ir_value_t v = g->values[w];
  rw_key_t key = {"pack", {v.data}, {(uint64_t)v.dims[0], (uint64_t)v.dims[1]}};
  int32_t found[2];
  if (rw_memo_find(rw, &key, found)) {
    *out = found[0];
    return BERTC_OK;
  }
  int64_t n = v.dims[0], k = v.dims[1];
  uint64_t bytes;
  if (!base_mul_u64((uint64_t)bk_packed_floats(n, k), sizeof(float), &bytes))
    return bertc_status_make(BERTC_STATUS_INTERNAL, "pack-weights: weight too large");
  float *data;
  BERTC_RETURN_IF_ERROR(base_alloc((size_t)bytes, (void **)&data));
  bk_pack_weights(v.data, n, k, data);
  BERTC_RETURN_IF_ERROR(
      rw_add_const(rw, v.name, IR_F32, 2, v.dims, IR_LAYOUT_PANEL, BK_GEMM_NR, data, bytes, out));
  return rw_memo_add(rw, &key, *out, IR_NONE);
}

bertc_status_t pass_pack_weights(ir_graph_t *g, const pass_options_t *o) {
  (void)o;
  rw_t rw;
  BERTC_RETURN_IF_ERROR(rw_begin(&rw, g));
  bertc_status_t s = BERTC_OK;
  for (int32_t i = 0; (size_t)i < rw.num_nodes && !s; i++) {
    ir_op_t op = g->nodes[i].op;
    if (rw.dead[i] || (op != IR_OP_LINEAR && op != IR_OP_LINEAR_ADD_LN)) continue;
    int32_t w = g->nodes[i].operands[1];
    const ir_value_t *v = &g->values[w];
    if (!rw_is_const(&rw, w) || v->layout != IR_LAYOUT_ROW_MAJOR || v->dtype != IR_F32 ||
        v->rank != 2)
      continue;
    int32_t packed;
    s = packed_weight(&rw, w, &packed);
    if (!s) g->nodes[i].operands[1] = packed;
  }
  return rw_end(&rw, s);
}
