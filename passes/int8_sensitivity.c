/* Each int8 candidate layer's own error on real inputs (see passes.h): what
 * `bertc compile --keep-fp32 auto` ranks the layers by. The fp32 graph runs once
 * in the interpreter with every candidate's input added as an output; then each
 * layer's linear product is evaluated twice by the interpreter on those rows,
 * as linear (fp32) and as qlinear (int8, its weight quantized by quantize-int8's
 * rule), and the relative L2 distance of the two is its error. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "passes/rewrite.h"
#include "base/base.h"

/* y[rows, n] of op (linear or qlinear) on constants, by the interpreter. */
static bertc_status_t eval(ir_op_t op, const float *x, int64_t rows, int64_t k, const void *w,
                           const float *ws, const float *b, int64_t n, float **out) {
  ir_graph_t *g;
  BERTC_RETURN_IF_ERROR(ir_graph_create("sensitivity", &g));
  int64_t xd[2] = {rows, k}, wd[2] = {n, k}, vd[1] = {n};
  int wbytes = op == IR_OP_QLINEAR ? 1 : 4;
  void *cx = NULL, *cw = NULL, *cs = NULL, *cb = NULL;
  bertc_status_t s = base_alloc((size_t)(rows * k) * 4, &cx);
  if (!s) s = base_alloc((size_t)(n * k) * (size_t)wbytes, &cw);
  if (!s) s = base_alloc((size_t)n * 4, &cs);
  if (!s) s = base_alloc((size_t)n * 4, &cb);
  int32_t ops[4];
  if (!s) {
    memcpy(cx, x, (size_t)(rows * k) * 4);
    memcpy(cw, w, (size_t)(n * k) * (size_t)wbytes);
    memcpy(cb, b, (size_t)n * 4);
    if (ws) memcpy(cs, ws, (size_t)n * 4);
    s = ir_add_const(g, NULL, IR_F32, 2, xd, cx, (uint64_t)(rows * k) * 4, &ops[0]);
    cx = NULL;
  }
  if (!s) {
    s = ir_add_const(g, NULL, op == IR_OP_QLINEAR ? IR_I8 : IR_F32, 2, wd, cw,
                     (uint64_t)(n * k) * (uint64_t)wbytes, &ops[1]);
    cw = NULL;
  }
  int nops = 3;
  if (!s && op == IR_OP_QLINEAR) {
    s = ir_add_const(g, NULL, IR_F32, 1, vd, cs, (uint64_t)n * 4, &ops[2]);
    cs = NULL;
    nops = 4;
  }
  if (!s) {
    s = ir_add_const(g, NULL, IR_F32, 1, vd, cb, (uint64_t)n * 4, &ops[nops - 1]);
    cb = NULL;
  }
  free(cx), free(cw), free(cs), free(cb);
  int32_t r;
  if (!s) s = ir_add_node(g, op, nops, ops, NULL, NULL, &r);
  uint64_t bytes;
  if (!s) s = ir_eval_const_node(g, (int32_t)g->num_nodes - 1, (void **)out, &bytes);
  ir_graph_destroy(g);
  return s;
}

bertc_status_t pass_int8_sensitivity(const ir_graph_t *g, int64_t batch, int64_t seq,
                                     const int32_t *ids, const int32_t *mask, double *err) {
  ir_graph_t *probe;
  BERTC_RETURN_IF_ERROR(ir_graph_clone(g, &probe));
  size_t first = probe->num_outputs, count = 0;
  bertc_status_t s = BERTC_OK;
  for (size_t i = 0; !s && i < probe->num_nodes; i++)
    if (pass_int8_is_candidate(probe, &probe->nodes[i])) {
      char name[48];
      snprintf(name, sizeof name, "sensitivity_input_%zu", count++);
      s = ir_add_output(probe, name, probe->nodes[i].operands[0]);
    }
  ir_tensor_t *outs = NULL;
  if (!s) s = base_calloc(probe->num_outputs, sizeof(ir_tensor_t), (void **)&outs);
  int32_t *types = NULL;
  if (!s) s = base_calloc((size_t)(batch * seq), sizeof(int32_t), (void **)&types);
  if (!s) s = ir_interpret(probe, batch, seq, ids, types, mask, outs);
  size_t c = 0;
  for (size_t i = 0; !s && i < probe->num_nodes; i++) {
    const ir_node_t *n = &probe->nodes[i];
    if (!pass_int8_is_candidate(probe, n)) continue;
    const ir_tensor_t *x = &outs[first + c];
    const ir_value_t *w = &probe->values[n->operands[1]], *b = &probe->values[n->operands[2]];
    int64_t k = w->dims[1], nn = w->dims[0], rows = ir_tensor_numel(x) / k;
    /* only the rows of real tokens */
    float *xr = NULL, *ws = NULL, *y = NULL, *yq = NULL;
    int8_t *q = NULL;
    s = base_alloc((size_t)(rows * k) * 4, (void **)&xr);
    int64_t real = 0;
    for (int64_t r = 0; !s && r < rows; r++)
      if (!mask || mask[r]) memcpy(xr + (real++) * k, (const float *)x->data + r * k, (size_t)k * 4);
    if (!s) s = base_alloc((size_t)(nn * k), (void **)&q);
    if (!s) s = base_alloc((size_t)nn * 4, (void **)&ws);
    if (!s) pass_quantize_weight_rows(w->data, nn, k, q, ws);
    if (!s) s = eval(IR_OP_LINEAR, xr, real, k, w->data, NULL, b->data, nn, &y);
    if (!s) s = eval(IR_OP_QLINEAR, xr, real, k, q, ws, b->data, nn, &yq);
    if (!s) {
      double num = 0, den = 0;
      for (int64_t e = 0; e < real * nn; e++) {
        num += ((double)yq[e] - y[e]) * ((double)yq[e] - y[e]);
        den += (double)y[e] * y[e];
      }
      err[c] = den > 0 ? sqrt(num / den) : 0;
    }
    free(xr), free(q), free(ws), free(y), free(yq);
    c++;
  }
  for (size_t i = 0; outs && i < probe->num_outputs; i++) ir_tensor_deinit(&outs[i]);
  free(outs);
  free(types);
  ir_graph_destroy(probe);
  (void)count;
  return s;
}
