/* The weights' layout for the GEMM kernels (see layout.h).
 *
 * Packing is one sweep over the nodes: the weight operand of each linear
 * and linear_add_ln that is a row-major f32 [N, K] constant is pointed at its
 * packed copy, made the first time a (data, shape) pair is seen and appended
 * to the graph's values. The originals that no node reads any more are then
 * removed, keeping the order of the rest. The AMX parts follow the packing,
 * so they are indexed by the final values. */
#include "backend/layout.h"

#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "kernels/kernels.h"

static bool is_linear(ir_op_t op) { return op == IR_OP_LINEAR || op == IR_OP_LINEAR_ADD_LN; }

/* qlinear's int8 weights, row-major i8 [N,K] constants. */
static bool packable_i8(const ir_value_t *w) {
  return w->kind == IR_VALUE_CONST && w->data && w->layout == IR_LAYOUT_ROW_MAJOR &&
         w->dtype == IR_I8 && w->rank == 2;
}

static bool packable(const ir_value_t *w) {
  return w->kind == IR_VALUE_CONST && w->data && w->layout == IR_LAYOUT_ROW_MAJOR &&
         w->dtype == IR_F32 && w->rank == 2;
}

static bool same_source(const ir_value_t *a, const ir_value_t *b) {
  return a->data == b->data && a->dims[0] == b->dims[0] && a->dims[1] == b->dims[1];
}

/* Appends the packed copy of weight w to the graph's values. */
static bertc_status_t pack(ir_graph_t *g, int32_t w, int32_t *out) {
  ir_value_t v = g->values[w];
  int64_t n = v.dims[0], k = v.dims[1];
  if (v.dtype == IR_I8) { /* int8 panels + column sums (bk_pack_weights_i8) */
    uint64_t ib = (uint64_t)bk_packed_i8_bytes(n, k);
    uint8_t *q;
    BERTC_RETURN_IF_ERROR(base_alloc((size_t)ib, (void **)&q));
    bk_pack_weights_i8(v.data, n, k, q);
    BERTC_RETURN_IF_ERROR(ir_add_const(g, v.name, IR_I8, 2, v.dims, q, ib, out));
    g->values[*out].layout = IR_LAYOUT_PANEL;
    g->values[*out].layout_param = BK_GEMM_NR;
    return BERTC_OK;
  }
  uint64_t bytes;
  if (!base_mul_u64((uint64_t)bk_packed_floats(n, k), sizeof(float), &bytes))
    return bertc_status_make(BERTC_STATUS_INTERNAL, "weight '%s' is too large to pack",
                             v.name ? v.name : "?");
  float *data;
  BERTC_RETURN_IF_ERROR(base_alloc((size_t)bytes, (void **)&data));
  bk_pack_weights(v.data, n, k, data);
  BERTC_RETURN_IF_ERROR(ir_add_const(g, v.name, IR_F32, 2, v.dims, data, bytes, out));
  g->values[*out].layout = IR_LAYOUT_PANEL;
  g->values[*out].layout_param = BK_GEMM_NR;
  return BERTC_OK;
}

static bertc_status_t pack_panels(ir_graph_t *g, bool f32) {
  size_t nv = g->num_values, nn = g->num_nodes;
  /* Per value (the packed copies, at most one per node, included): a weight
   * that a linear read and that goes unless something still reads it. */
  bool *drop = NULL;
  int32_t *made = NULL, *from = NULL; /* the packed copies and their weights */
  size_t num_made = 0;
  bertc_status_t s = base_calloc(nv + nn + 1, sizeof(bool), (void **)&drop);
  if (!s) s = base_calloc(nn + 1, sizeof(int32_t), (void **)&made);
  if (!s) s = base_calloc(nn + 1, sizeof(int32_t), (void **)&from);
  for (size_t i = 0; !s && i < nn; i++) {
    int32_t w = g->nodes[i].operands[1];
    bool i8 = g->nodes[i].op == IR_OP_QLINEAR && packable_i8(&g->values[w]);
    if (!i8 && !(f32 && is_linear(g->nodes[i].op) && packable(&g->values[w]))) continue;
    drop[w] = true;
    int32_t p = IR_NONE;
    for (size_t j = 0; j < num_made && p == IR_NONE; j++)
      if (same_source(&g->values[from[j]], &g->values[w])) p = made[j];
    if (p == IR_NONE) {
      s = pack(g, w, &p);
      if (s) break;
      made[num_made] = p;
      from[num_made++] = w;
    }
    g->nodes[i].operands[1] = p;
  }
  for (size_t i = 0; !s && i < nn; i++)
    for (int k = 0; k < g->nodes[i].num_operands; k++) drop[g->nodes[i].operands[k]] = false;
  for (size_t i = 0; !s && i < g->num_outputs; i++) drop[g->outputs[i].value] = false;
  if (!s && num_made) s = ir_graph_remove(g, NULL, drop);
  free(drop);
  free(made);
  free(from);
  return s;
}

/* The AMX parts of every weight that some bucket's linear runs on AMX tiles. */
static bertc_status_t make_amx_parts(const ir_graph_t *g, const lower_options_t *o,
                                     const lower_buckets_t *b, layout_t *out) {
  bertc_status_t s = BERTC_OK;
  for (size_t i = 0; !s && i < g->num_nodes; i++) {
    const ir_node_t *n = &g->nodes[i];
    if (!is_linear(n->op)) continue;
    bool amx = false;
    for (size_t bi = 0; bi < b->num_batches && !amx; bi++)
      for (size_t si = 0; si < b->num_seqs && !amx; si++) {
        lower_gemm_plan_t plan;
        lower_plan_gemm(g, n, b->batches[bi], b->seqs[si], o, &plan);
        amx = plan.kernel == LOWER_KERNEL_GEMM_AMX;
      }
    for (size_t ti = 0; ti < b->num_tokens && !amx; ti++) {
      int64_t batch, seq;
      lower_token_dims(b->tokens[ti], &batch, &seq);
      lower_gemm_plan_t plan;
      lower_plan_gemm(g, n, batch, seq, o, &plan);
      amx = plan.kernel == LOWER_KERNEL_GEMM_AMX;
    }
    int32_t w = n->operands[1];
    if (!amx || (out->amx && out->amx[w])) continue;
    if (!out->amx) s = base_calloc(g->num_values, sizeof(uint16_t *), (void **)&out->amx);
    const ir_value_t *v = &g->values[w];
    if (!s) s = base_calloc(1, (size_t)bk_packed_amx_bytes(v->dims[0], v->dims[1]),
                            (void **)&out->amx[w]);
    if (!s) bk_pack_weights_amx(v->data, v->dims[0], v->dims[1], out->amx[w]);
  }
  return s;
}

bertc_status_t layout_weights(ir_graph_t *g, const lower_options_t *o,
                              const lower_buckets_t *buckets, layout_t *out) {
  memset(out, 0, sizeof(*out));
  bertc_status_t s = BERTC_OK;
  s = pack_panels(g, o->gemm != LOWER_GEMM_BLAS);
  out->num_values = g->num_values;
  if (!s && o->gemm == LOWER_GEMM_AMX) s = make_amx_parts(g, o, buckets, out);
  if (s) layout_deinit(out);
  return s;
}

void layout_deinit(layout_t *l) {
  for (size_t v = 0; l->amx && v < l->num_values; v++) free(l->amx[v]);
  free(l->amx);
  memset(l, 0, sizeof(*l));
}
