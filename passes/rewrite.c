/* Graph-rewriting helpers shared by the passes (see rewrite.h).
 *
 * Compaction (rw_end) decides what survives in one linear sweep: inputs
 * always; temporaries whose producer survives; constants that a surviving
 * node still reads, and (for every pass but dce) the constants nothing read
 * before the pass either, since removing those is dce's job. ir_graph_remove
 * then checks that nothing surviving refers to something removed, frees the
 * data of removed constants that no surviving constant points into, and
 * moves everything down in order, renumbering. */
#include "passes/rewrite.h"

#include <stdlib.h>
#include <string.h>

#include "base/base.h"

bertc_status_t rw_begin(rw_t *rw, ir_graph_t *g) {
  memset(rw, 0, sizeof(*rw));
  rw->g = g;
  rw->num_nodes = g->num_nodes;
  rw->num_start_values = g->num_values;
  BERTC_RETURN_IF_ERROR(
      base_calloc(g->num_nodes ? g->num_nodes : 1, sizeof(bool), (void **)&rw->dead));
  bertc_status_t s =
      base_calloc(g->num_values ? g->num_values : 1, sizeof(bool), (void **)&rw->was_read);
  if (s) {
    free(rw->dead);
    return s;
  }
  for (size_t i = 0; i < g->num_nodes; i++)
    for (int k = 0; k < g->nodes[i].num_operands; k++) rw->was_read[g->nodes[i].operands[k]] = true;
  for (size_t i = 0; i < g->num_outputs; i++) rw->was_read[g->outputs[i].value] = true;
  return BERTC_OK;
}

int rw_uses(const rw_t *rw, int32_t v) {
  int uses = 0;
  for (size_t i = 0; i < rw->num_nodes; i++) {
    if (rw->dead[i]) continue;
    const ir_node_t *n = &rw->g->nodes[i];
    for (int k = 0; k < n->num_operands; k++) uses += n->operands[k] == v;
  }
  return uses;
}

bool rw_single_use(const rw_t *rw, int32_t v) {
  return rw->g->values[v].kind == IR_VALUE_TEMP && !ir_value_is_output(rw->g, v) &&
         rw_uses(rw, v) == 1;
}

int32_t rw_def(const rw_t *rw, int32_t v, ir_op_t op) {
  const ir_value_t *x = &rw->g->values[v];
  if (x->kind != IR_VALUE_TEMP || x->producer < 0 || (size_t)x->producer >= rw->num_nodes)
    return IR_NONE;
  if (rw->dead[x->producer] || rw->g->nodes[x->producer].op != op) return IR_NONE;
  return x->producer;
}

bool rw_is_const(const rw_t *rw, int32_t v) {
  const ir_value_t *x = &rw->g->values[v];
  return x->kind == IR_VALUE_CONST && x->data != NULL;
}

/* Builds the node and infers its type; false when it does not type-check. */
static bool build(const rw_t *rw, int32_t node, ir_op_t op, int num_operands,
                  const int32_t *operands, const int64_t *iattr, const float *fattr,
                  ir_node_t *out, ir_value_t *type) {
  memset(out, 0, sizeof(*out));
  out->op = op;
  out->num_operands = num_operands;
  for (int i = 0; i < num_operands; i++) out->operands[i] = operands[i];
  for (int i = 0; iattr && i < ir_op_num_iattrs(op); i++) out->iattr[i] = iattr[i];
  for (int i = 0; fattr && i < ir_op_num_fattrs(op); i++) out->fattr[i] = fattr[i];
  out->result = rw->g->nodes[node].result;
  memset(type, 0, sizeof(*type));
  bertc_status_t s = ir_infer(rw->g, out, type);
  if (s) {
    bertc_status_free(s);
    return false;
  }
  return true;
}

bool rw_replace(rw_t *rw, int32_t node, ir_op_t op, int num_operands, const int32_t *operands,
                const int64_t *iattr, const float *fattr) {
  ir_node_t n;
  ir_value_t type;
  if (!build(rw, node, op, num_operands, operands, iattr, fattr, &n, &type)) return false;
  if (!ir_same_type(&type, &rw->g->values[n.result])) return false;
  rw->g->nodes[node] = n;
  return true;
}

bool rw_replace_retype(rw_t *rw, int32_t node, ir_op_t op, int num_operands,
                       const int32_t *operands, const int64_t *iattr, const float *fattr) {
  ir_node_t n;
  ir_value_t type;
  if (!build(rw, node, op, num_operands, operands, iattr, fattr, &n, &type)) return false;
  ir_value_t *r = &rw->g->values[n.result];
  if (!ir_same_type(&type, r)) {
    r->dtype = type.dtype;
    r->rank = type.rank;
    memcpy(r->dims, type.dims, sizeof(r->dims));
    free(r->name);
    r->name = NULL;
  }
  rw->g->nodes[node] = n;
  return true;
}

void rw_absorb(rw_t *rw, int32_t node) {
  int32_t r = rw->g->nodes[node].result;
  if (!rw->dead[node] && rw_uses(rw, r) == 0 && !ir_value_is_output(rw->g, r))
    rw->dead[node] = true;
}

void rw_forward(rw_t *rw, int32_t node, int32_t to) {
  ir_graph_t *g = rw->g;
  int32_t from = g->nodes[node].result;
  for (size_t i = 0; i < rw->num_nodes; i++) {
    if (rw->dead[i]) continue;
    ir_node_t *n = &g->nodes[i];
    for (int k = 0; k < n->num_operands; k++)
      if (n->operands[k] == from) n->operands[k] = to;
  }
  for (size_t i = 0; i < g->num_outputs; i++)
    if (g->outputs[i].value == from) g->outputs[i].value = to;
  rw->dead[node] = true;
}

bertc_status_t rw_add_const(rw_t *rw, const char *name, ir_dtype_t dtype, int rank,
                            const int64_t *dims, ir_layout_t layout, int32_t layout_param,
                            void *data, uint64_t data_bytes, int32_t *out) {
  BERTC_RETURN_IF_ERROR(ir_add_const(rw->g, name, dtype, rank, dims, data, data_bytes, out));
  rw->g->values[*out].layout = layout;
  rw->g->values[*out].layout_param = layout_param;
  return BERTC_OK;
}

static bool same_key(const rw_key_t *a, const rw_key_t *b) {
  if (strcmp(a->what, b->what)) return false;
  for (size_t i = 0; i < BASE_ARRAY_LEN(a->src); i++)
    if (a->src[i] != b->src[i]) return false;
  return a->param[0] == b->param[0] && a->param[1] == b->param[1];
}

bool rw_memo_find(const rw_t *rw, const rw_key_t *key, int32_t out[2]) {
  for (size_t i = 0; i < rw->num_memo; i++)
    if (same_key(&rw->memo[i].key, key)) {
      out[0] = rw->memo[i].values[0];
      out[1] = rw->memo[i].values[1];
      return true;
    }
  return false;
}

bertc_status_t rw_memo_add(rw_t *rw, const rw_key_t *key, int32_t v0, int32_t v1) {
  if (rw->num_memo == rw->cap_memo) {
    size_t cap = rw->cap_memo ? rw->cap_memo * 2 : 16;
    rw_memo_entry_t *m = realloc(rw->memo, cap * sizeof(*m));
    if (!m) return bertc_status_make(BERTC_STATUS_OUT_OF_MEMORY, "out of memory in a pass");
    rw->memo = m;
    rw->cap_memo = cap;
  }
  rw->memo[rw->num_memo].key = *key;
  rw->memo[rw->num_memo].values[0] = v0;
  rw->memo[rw->num_memo].values[1] = v1;
  rw->num_memo++;
  return BERTC_OK;
}

const char *rw_derived_name(const rw_t *rw, char *buf, size_t size, const char *prefix, int32_t v,
                            const char *suffix) {
  const char *name = rw->g->values[v].name;
  if (name)
    snprintf(buf, size, "%s%s%s", prefix, name, suffix);
  else
    snprintf(buf, size, "%s%%%d%s", prefix, (int)v, suffix);
  return buf;
}

/* --- compaction --- */

static bertc_status_t compact(rw_t *rw) {
  ir_graph_t *g = rw->g;
  size_t nv = g->num_values, nn = g->num_nodes;
  bool *read = calloc(nv ? nv : 1, sizeof(bool)), *drop = calloc(nv ? nv : 1, sizeof(bool));
  bertc_status_t s = BERTC_OK;
  if (!read || !drop) {
    s = bertc_status_make(BERTC_STATUS_OUT_OF_MEMORY, "out of memory compacting the graph");
  } else {
    for (size_t i = 0; i < nn; i++) {
      if (rw->dead[i]) continue;
      for (int k = 0; k < g->nodes[i].num_operands; k++) read[g->nodes[i].operands[k]] = true;
    }
    for (size_t i = 0; i < g->num_outputs; i++) read[g->outputs[i].value] = true;
    for (size_t v = 0; v < nv; v++) {
      const ir_value_t *x = &g->values[v];
      if (x->kind == IR_VALUE_TEMP) {
        int32_t p = x->producer;
        drop[v] = !(p >= 0 && (size_t)p < nn && !rw->dead[p] && g->nodes[p].result == (int32_t)v);
      } else if (x->kind == IR_VALUE_CONST) {
        /* Constants the pass made (and then stopped reading) count as read. */
        bool was_read = v >= rw->num_start_values || rw->was_read[v];
        drop[v] = !read[v] && (rw->drop_unread_constants || was_read);
      }
    }
    s = ir_graph_remove(g, rw->dead, drop);
  }
  free(read);
  free(drop);
  return s;
}

bertc_status_t rw_end(rw_t *rw, bertc_status_t status) {
  if (!status) status = compact(rw);
  free(rw->dead);
  free(rw->was_read);
  free(rw->memo);
  memset(rw, 0, sizeof(*rw));
  return status;
}
