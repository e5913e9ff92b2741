/* quantize-int8: linear layers applied to every token become int8.
 *
 *   y = linear(x, W, b){act}
 *     ->  q = quantize(x);  acc = matmul_i8(q, Wq);  y = dequantize(acc, x, ws, b){act}
 *   y = linear_add_ln(x, W, b, r, gamma, beta){eps}
 *     ->  ... t = dequantize(acc, x, ws, b);  y = add_ln(t, r, gamma, beta){eps}
 *
 * Wq and ws quantize W per output channel, symmetrically: ws[n] = max_k |W[n,k]|
 * / 127, Wq[n,k] = round_half_even(W[n,k] * (127 / max_k |W[n,k]|)) in [-127, 127],
 * as quantize does a row of activations (ir/interp.c). Only layers whose input
 * has a token dimension (x of rank 3: the encoder, MLM transforms and decoders)
 * are rewritten: poolers and sequence heads run once per sequence, cost nothing
 * and keep fp32. Weights named in pass_options_t.keep_fp32 stay fp32 too.
 * Layers sharing a weight share its quantized copy.
 *
 * The word embedding table of embed_ln is stored the same way, int8 per row
 * with a row scale (embed_ln -> embed_ln_i8): it is most of a small model's
 * bytes. A tied MLM decoder shares it (its per-output-channel quantization is
 * the same per-row one).
 *
 * This pass adds nodes (two or three per layer), which the rewrite helpers do
 * not: it appends them with ir_add_node, turns the linear itself into the last
 * op of its replacement (it keeps its result value), and then reorders the node
 * array so each appended node runs just before the node it was made for. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "passes/rewrite.h"
#include "base/base.h"

bool pass_int8_is_candidate(const ir_graph_t *g, const ir_node_t *n) {
  if (n->op != IR_OP_LINEAR && n->op != IR_OP_LINEAR_ADD_LN) return false;
  const ir_value_t *x = &g->values[n->operands[0]], *w = &g->values[n->operands[1]];
  return x->rank == 3 && w->kind == IR_VALUE_CONST && w->data && w->dtype == IR_F32 &&
         w->rank == 2 && w->layout == IR_LAYOUT_ROW_MAJOR;
}

static bool is_table(const ir_value_t *w) {
  return w->kind == IR_VALUE_CONST && w->data && w->dtype == IR_F32 && w->rank == 2 &&
         w->layout == IR_LAYOUT_ROW_MAJOR;
}

static bool kept(const char *list, const char *name) {
  if (!list || !name) return false;
  size_t len = strlen(name);
  for (const char *p = list; *p;) {
    size_t n = strcspn(p, ",");
    if (n == len && !strncmp(p, name, len)) return true;
    p += n;
    if (*p) p++;
  }
  return false;
}

bertc_status_t pass_int8_candidates(const ir_graph_t *g, const char ***out, size_t *count) {
  *out = NULL;
  *count = 0;
  const char **names;
  BERTC_RETURN_IF_ERROR(base_calloc(g->num_nodes + 1, sizeof(char *), (void **)&names));
  for (size_t i = 0; i < g->num_nodes; i++)
    if (pass_int8_is_candidate(g, &g->nodes[i])) names[(*count)++] = g->values[g->nodes[i].operands[1]].name;
  *out = names;
  return BERTC_OK;
}

void pass_quantize_weight_rows(const float *d, int64_t n, int64_t k, int8_t *q, float *scale) {
  for (int64_t r = 0; r < n; r++) {
    float amax = 0.0f;
    for (int64_t i = 0; i < k; i++) amax = fmaxf(amax, fabsf(d[r * k + i]));
    float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
    for (int64_t i = 0; i < k; i++) {
      float t = nearbyintf(d[r * k + i] * inv);
      q[r * k + i] = (int8_t)(t > 127.0f ? 127 : t < -127.0f ? -127 : t == t ? (int)t : 0);
    }
    scale[r] = amax / 127.0f;
  }
}

/* Wq (i8 [N,K]) and ws (f32 [N]) of weight w. */
static bertc_status_t quantize_weight(ir_graph_t *g, int32_t w, int32_t *wq, int32_t *ws) {
  ir_value_t v = g->values[w];
  int64_t n = v.dims[0], k = v.dims[1];
  int8_t *q;
  float *scale;
  BERTC_RETURN_IF_ERROR(base_alloc((size_t)(n * k), (void **)&q));
  bertc_status_t s = base_alloc((size_t)n * sizeof(float), (void **)&scale);
  if (s) {
    free(q);
    return s;
  }
  pass_quantize_weight_rows(v.data, n, k, q, scale);
  char name[512];
  snprintf(name, sizeof name, "%s", v.name ? v.name : "w");
  s = ir_add_const(g, name, IR_I8, 2, v.dims, q, (uint64_t)(n * k), wq);
  if (s) {
    free(scale);
    return s;
  }
  snprintf(name, sizeof name, "%s:scale", v.name ? v.name : "w");
  int64_t sd[1] = {n};
  return ir_add_const(g, name, IR_F32, 1, sd, scale, (uint64_t)n * sizeof(float), ws);
}

bertc_status_t pass_quantize_int8(ir_graph_t *g, const pass_options_t *o) {
  size_t n0 = g->num_nodes;
  /* before[i]: how many appended nodes go right before old node i; they are
   * appended in old-node order, so they are taken in sequence */
  int32_t *before = NULL, *srcw = NULL, *qw = NULL, *qs = NULL;
  size_t made = 0;
  bertc_status_t s = base_calloc(n0 + 1, sizeof(int32_t), (void **)&before);
  if (!s) s = base_calloc(n0 + 1, sizeof(int32_t), (void **)&srcw);
  if (!s) s = base_calloc(n0 + 1, sizeof(int32_t), (void **)&qw);
  if (!s) s = base_calloc(n0 + 1, sizeof(int32_t), (void **)&qs);
  for (size_t i = 0; !s && i < n0; i++) {
    ir_node_t node = g->nodes[i];
    bool embed = node.op == IR_OP_EMBED_LN && is_table(&g->values[node.operands[0]]);
    if (!embed && !pass_int8_is_candidate(g, &node)) continue;
    int32_t w = node.operands[embed ? 0 : 1], wq = IR_NONE, ws = IR_NONE;
    if (kept(o ? o->keep_fp32 : NULL, g->values[w].name)) continue;
    for (size_t j = 0; j < made && wq == IR_NONE; j++)
      if (g->values[srcw[j]].data == g->values[w].data &&
          ir_same_type(&g->values[srcw[j]], &g->values[w])) {
        wq = qw[j];
        ws = qs[j];
      }
    if (wq == IR_NONE) {
      s = quantize_weight(g, w, &wq, &ws);
      if (s) break;
      srcw[made] = w;
      qw[made] = wq;
      qs[made++] = ws;
    }
    if (embed) { /* (word, rest...) -> (wq, ws, rest...) */
      ir_node_t *at = &g->nodes[i];
      at->op = IR_OP_EMBED_LN_I8;
      at->operands[0] = wq;
      for (int k = 1; k < node.num_operands; k++) at->operands[k + 1] = node.operands[k];
      at->operands[1] = ws;
      at->num_operands = node.num_operands + 1;
      continue;
    }
    int32_t x = node.operands[0], q, acc;
    s = ir_add_node(g, IR_OP_QUANTIZE, 1, &x, NULL, NULL, &q);
    int32_t mm[2] = {q, wq};
    if (!s) s = ir_add_node(g, IR_OP_MATMUL_I8, 2, mm, NULL, NULL, &acc);
    if (s) break;
    ir_node_t *at = &g->nodes[i];
    int32_t dq[4] = {acc, x, ws, node.operands[2]};
    if (node.op == IR_OP_LINEAR) {
      at->op = IR_OP_DEQUANTIZE;
      at->num_operands = 4;
      memcpy(at->operands, dq, sizeof dq);
      before[i] = 2;
    } else {
      int32_t t;
      s = ir_add_node(g, IR_OP_DEQUANTIZE, 4, dq, NULL, NULL, &t);
      if (s) break;
      at = &g->nodes[i];
      int32_t ln[4] = {t, node.operands[3], node.operands[4], node.operands[5]};
      at->op = IR_OP_ADD_LN;
      at->num_operands = 4;
      memcpy(at->operands, ln, sizeof ln);
      memset(at->iattr, 0, sizeof at->iattr);
      before[i] = 3;
    }
  }
  /* the new order: each old node after the nodes appended for it */
  if (!s && g->num_nodes > n0) {
    ir_node_t *nodes = NULL;
    s = base_calloc(g->num_nodes, sizeof(ir_node_t), (void **)&nodes);
    size_t k = 0, next = n0;
    for (size_t i = 0; !s && i < n0; i++) {
      for (int32_t j = 0; j < before[i]; j++) nodes[k++] = g->nodes[next++];
      nodes[k++] = g->nodes[i];
    }
    if (!s) {
      memcpy(g->nodes, nodes, g->num_nodes * sizeof(ir_node_t));
      for (size_t i = 0; i < g->num_nodes; i++) g->values[g->nodes[i].result].producer = (int32_t)i;
    }
    free(nodes);
  }
  free(before);
  free(srcw);
  free(qw);
  free(qs);
  return s;
}
