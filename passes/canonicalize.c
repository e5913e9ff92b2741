/* canonicalize: algebraic simplifications that leave fewer or cheaper ops.
 *
 * 1. The attention scale goes into the query projection. attn_scores (and
 *    attention) compute scale * (q k^T); when q is the result of a
 *    linear(x, W, b) with no activation that nothing else reads,
 *    scale * ((x W^T + b) k^T) = (x (scale W)^T + scale b) k^T, so W and b
 *    are replaced by new constants scale*W and scale*b and the scale
 *    becomes 1: one multiply per score less, for free at compile time. For
 *    attention on packed QKV only the first H rows (the query part) of the
 *    weight and bias are scaled. Each product is computed in double and
 *    rounded once, so the result differs from the unfused graph by float
 *    rounding only (a scale that is a power of two, as for head width 64,
 *    is exact). Weights shared by several layers (ALBERT) are scaled once.
 * 2. Identity ops are removed and their readers read the input: scale by
 *    exactly 1, and slice_last over the whole last dim without squeeze. An
 *    identity whose result is a graph output stays unless its input is a
 *    temporary that is not an output itself (outputs are distinct buffers).
 *
 * A second run finds nothing: every scale it could fold is already 1. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "passes/rewrite.h"
#include "base/base.h"

/* New constants: rows [row0, row0 + rows) of w (all of it, any layout, when
 * rows covers it) and of b times `scale`. */
static bertc_status_t scaled_weights(rw_t *rw, int32_t w, int32_t b, int64_t row0, int64_t rows,
                                     float scale, int32_t out[2]) {
  ir_graph_t *g = rw->g;
  uint32_t bits;
  memcpy(&bits, &scale, sizeof bits);
  rw_key_t key = {"scale-rows",
                  {g->values[w].data, g->values[b].data},
                  {bits, (uint64_t)row0 << 32 | (uint64_t)rows}};
  if (rw_memo_find(rw, &key, out)) return BERTC_OK;
  int32_t src[2] = {w, b};
  for (int t = 0; t < 2; t++) {
    ir_value_t v = g->values[src[t]];
    int64_t width = t == 0 ? v.dims[1] : 1;
    bool whole = row0 == 0 && rows == v.dims[0];
    float *data;
    BERTC_RETURN_IF_ERROR(base_alloc((size_t)v.data_bytes, (void **)&data));
    memcpy(data, v.data, (size_t)v.data_bytes);
    int64_t first = whole ? 0 : row0 * width;
    int64_t count = whole ? (int64_t)(v.data_bytes / sizeof(float)) : rows * width;
    for (int64_t i = first; i < first + count; i++) data[i] = (float)((double)data[i] * scale);
    char name[512];
    rw_derived_name(rw, name, sizeof name, "", src[t], whole ? ".scaled" : ".q_scaled");
    BERTC_RETURN_IF_ERROR(rw_add_const(rw, name, IR_F32, v.rank, v.dims, v.layout, v.layout_param,
                                       data, v.data_bytes, &out[t]));
  }
  return rw_memo_add(rw, &key, out[0], out[1]);
}

/* Folds `scale` into the linear producing q (rows [row0, row0+rows) of its
 * output); *done says whether it did. */
static bertc_status_t fold_scale(rw_t *rw, int32_t q, int64_t row0, int64_t rows, float scale,
                                 bool *done) {
  *done = false;
  ir_graph_t *g = rw->g;
  int32_t l = rw_def(rw, q, IR_OP_LINEAR);
  if (l == IR_NONE || !rw_single_use(rw, q) || g->nodes[l].iattr[0] != IR_ACT_NONE) return BERTC_OK;
  int32_t w = g->nodes[l].operands[1], b = g->nodes[l].operands[2];
  if (!rw_is_const(rw, w) || !rw_is_const(rw, b)) return BERTC_OK;
  bool whole = row0 == 0 && rows == g->values[w].dims[0];
  if (!whole && g->values[w].layout != IR_LAYOUT_ROW_MAJOR) return BERTC_OK;
  int32_t scaled[2];
  BERTC_RETURN_IF_ERROR(scaled_weights(rw, w, b, row0, rows, scale, scaled));
  g->nodes[l].operands[1] = scaled[0];
  g->nodes[l].operands[2] = scaled[1];
  *done = true;
  return BERTC_OK;
}

static bool is_identity(const ir_graph_t *g, const ir_node_t *n) {
  if (n->op == IR_OP_SCALE) return n->fattr[0] == 1.0f;
  if (n->op == IR_OP_SLICE_LAST) {
    const ir_value_t *x = &g->values[n->operands[0]];
    return n->iattr[0] == 0 && n->iattr[1] == x->dims[x->rank - 1] && n->iattr[2] == 0;
  }
  return false;
}

static void drop_identity(rw_t *rw, int32_t i) {
  ir_graph_t *g = rw->g;
  int32_t x = g->nodes[i].operands[0], r = g->nodes[i].result;
  if (ir_value_is_output(g, r) &&
      (g->values[x].kind != IR_VALUE_TEMP || ir_value_is_output(g, x)))
    return;
  rw_forward(rw, i, x);
}

bertc_status_t pass_canonicalize(ir_graph_t *g, const pass_options_t *o) {
  (void)o;
  rw_t rw;
  BERTC_RETURN_IF_ERROR(rw_begin(&rw, g));
  bertc_status_t s = BERTC_OK;
  for (int32_t i = 0; (size_t)i < rw.num_nodes && !s; i++) {
    if (rw.dead[i]) continue;
    ir_node_t *n = &g->nodes[i];
    if (is_identity(g, n)) {
      drop_identity(&rw, i);
      continue;
    }
    bool scores = n->op == IR_OP_ATTN_SCORES, fused = n->op == IR_OP_ATTENTION;
    if (!(scores || fused) || n->fattr[0] == 1.0f || !isfinite(n->fattr[0])) continue;
    int32_t q = n->operands[0];
    int64_t width = g->values[q].dims[2];
    bool packed = fused && n->num_operands == 2;
    bool done;
    s = fold_scale(&rw, q, 0, packed ? width / 3 : width, n->fattr[0], &done);
    if (!s && done) g->nodes[i].fattr[0] = 1.0f;
  }
  return rw_end(&rw, s);
}
