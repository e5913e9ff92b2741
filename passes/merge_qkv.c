/* merge-qkv: the query, key and value projections become one GEMM.
 *
 *   q = linear(x, Wq, bq)  k = linear(x, Wk, bk)  v = linear(x, Wv, bv)
 *   c = attention(q, k, v, mask){heads, scale}
 *
 * becomes
 *
 *   qkv = linear(x, [Wq; Wk; Wv], [bq; bk; bv])        : [B, S, 3H]
 *   c   = attention(qkv, mask){heads, scale}
 *
 * Each output column of a linear depends only on its own weight row and
 * bias entry, so the columns of qkv are exactly q, k and v side by side, and
 * packed attention reads q, k and v at column offsets 0, H and 2H of each
 * row: the same numbers, bit for bit. One [3H, K] GEMM reads x once instead
 * of three times and runs at a better shape. Matched when the three linears
 * read the same x, have no activation, constant row-major weights of one
 * shape, and their results are read only by this attention (which must have
 * its mask: the packed form always takes one). The merged linear takes the
 * place of the first of the three, which runs before the attention and
 * after x. Layers sharing weights (ALBERT) share one merged constant. */
#include <stdlib.h>
#include <string.h>

#include "passes/rewrite.h"
#include "base/base.h"

static bool projection(const rw_t *rw, int32_t v, int32_t *node) {
  *node = rw_def(rw, v, IR_OP_LINEAR);
  if (*node == IR_NONE || !rw_single_use(rw, v)) return false;
  const ir_node_t *n = &rw->g->nodes[*node];
  int32_t w = n->operands[1], b = n->operands[2];
  return n->iattr[0] == IR_ACT_NONE && rw_is_const(rw, w) && rw_is_const(rw, b) &&
         rw->g->values[w].layout == IR_LAYOUT_ROW_MAJOR;
}

/* Concatenates operand `which` (1 weight, 2 bias) of the three linears. */
static bertc_status_t concat_rows(rw_t *rw, const int32_t lin[3], int which, int32_t *out) {
  ir_graph_t *g = rw->g;
  ir_value_t first = g->values[g->nodes[lin[0]].operands[which]];
  uint64_t part = (uint64_t)ir_value_numel(&first, 1, 1) * sizeof(float), bytes;
  if (!base_mul_u64(part, 3, &bytes))
    return bertc_status_make(BERTC_STATUS_INTERNAL, "merge-qkv: weights too large");
  char *data;
  BERTC_RETURN_IF_ERROR(base_alloc((size_t)bytes, (void **)&data));
  for (int t = 0; t < 3; t++)
    memcpy(data + t * part, g->values[g->nodes[lin[t]].operands[which]].data, (size_t)part);
  int64_t dims[2] = {first.dims[0] * 3, first.rank == 2 ? first.dims[1] : 0};
  char name[512];
  rw_derived_name(rw, name, sizeof name, "qkv:", g->nodes[lin[0]].operands[which], "");
  return rw_add_const(rw, name, IR_F32, first.rank, dims, IR_LAYOUT_ROW_MAJOR, 0, data, bytes, out);
}

bertc_status_t pass_merge_qkv(ir_graph_t *g, const pass_options_t *o) {
  (void)o;
  rw_t rw;
  BERTC_RETURN_IF_ERROR(rw_begin(&rw, g));
  bertc_status_t s = BERTC_OK;
  for (int32_t i = 0; (size_t)i < rw.num_nodes && !s; i++) {
    const ir_node_t *at = &g->nodes[i];
    if (rw.dead[i] || at->op != IR_OP_ATTENTION || at->num_operands != 4) continue;
    int32_t lin[3];
    bool ok = true;
    for (int t = 0; t < 3 && ok; t++) ok = projection(&rw, at->operands[t], &lin[t]);
    if (!ok || lin[0] == lin[1] || lin[1] == lin[2] || lin[0] == lin[2]) continue;
    const ir_node_t *lq = &g->nodes[lin[0]];
    const ir_value_t *wq = &g->values[lq->operands[1]];
    for (int t = 1; t < 3 && ok; t++) {
      const ir_node_t *l = &g->nodes[lin[t]];
      const ir_value_t *w = &g->values[l->operands[1]];
      ok = l->operands[0] == lq->operands[0] && w->dims[0] == wq->dims[0] &&
           w->dims[1] == wq->dims[1];
    }
    if (!ok) continue;
    rw_key_t key = {"qkv", {0}, {0, 0}};
    for (int t = 0; t < 3; t++) {
      key.src[t] = g->values[g->nodes[lin[t]].operands[1]].data;
      key.src[3 + t] = g->values[g->nodes[lin[t]].operands[2]].data;
    }
    int32_t merged[2];
    if (!rw_memo_find(&rw, &key, merged)) {
      s = concat_rows(&rw, lin, 1, &merged[0]);
      if (!s) s = concat_rows(&rw, lin, 2, &merged[1]);
      if (!s) s = rw_memo_add(&rw, &key, merged[0], merged[1]);
      if (s) break;
    }
    int32_t first = lin[0] < lin[1] ? lin[0] : lin[1];
    if (lin[2] < first) first = lin[2];
    int32_t x = g->nodes[first].operands[0], mask = g->nodes[i].operands[3];
    int64_t act = IR_ACT_NONE, heads = g->nodes[i].iattr[0];
    float scale = g->nodes[i].fattr[0];
    if (!rw_replace_retype(&rw, first, IR_OP_LINEAR, 3, (int32_t[]){x, merged[0], merged[1]},
                           &act, NULL)) {
      s = bertc_status_make(BERTC_STATUS_INTERNAL,
                            "merge-qkv: the merged linear does not type-check");
      break;
    }
    int32_t qkv = g->nodes[first].result;
    if (!rw_replace(&rw, i, IR_OP_ATTENTION, 2, (int32_t[]){qkv, mask}, &heads, &scale)) {
      s = bertc_status_make(BERTC_STATUS_INTERNAL,
                            "merge-qkv: the packed attention does not type-check");
      break;
    }
    for (int t = 0; t < 3; t++)
      if (lin[t] != first) rw_absorb(&rw, lin[t]);
  }
  return rw_end(&rw, s);
}
