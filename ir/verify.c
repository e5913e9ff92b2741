/* The IR verifier: checks the invariants every pass must keep.
 *
 * It reads the graph's arrays directly (it is meant to catch passes that
 * corrupt them) and returns the first problem it finds, naming the value or
 * the node (index and op) and what is wrong. The checks, in order:
 *
 *   1. Each value on its own: a known kind and dtype, rank 0..4, dims that are
 *      positive sizes or B/S, a known layout (row-major with parameter 0, or
 *      panels of a positive width on an f32[N,K] constant). Inputs are
 *      i32[B,S], named by their role, with the graph's role index pointing at
 *      them. Constants have static dims and data of at least the bytes their
 *      layout needs (ceil(N/P)*P*K floats for panels). Temporaries have no data.
 *   2. The graph's input roles point at inputs that carry the role's name.
 *   3. The nodes in execution order, tracking which values are defined (inputs
 *      and constants from the start, a temporary once its node has run): a known
 *      op, an operand count within the op table's bounds, every operand an index
 *      in range that is already defined, a temporary result that no earlier node
 *      produced and whose producer field names this node, unused attribute slots
 *      zero, and a result type equal to what ir_infer computes. Since an operand
 *      must be defined before its node runs, a cycle shows up as a use before
 *      definition and is reported as such.
 *   4. Every temporary is produced by some node (no dangling values).
 *   5. Outputs name a value in range, have non-empty names, and no two share one.
 */
#include "ir/ir.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"

typedef struct verifier {
  const ir_graph_t *g;
  bool *defined;     /* value defined at this point of execution */
  int32_t *made_by;  /* value -> node that produced it so far, or IR_NONE */
} verifier_t;

static bertc_status_t fail(const verifier_t *vf, const char *fmt, ...) BERTC_PRINTF(2, 3);
static bertc_status_t fail(const verifier_t *vf, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  bertc_status_t s = bertc_status_makev(BERTC_STATUS_INTERNAL, fmt, ap);
  va_end(ap);
  return bertc_status_annotate(s, "ir_verify: graph '%s'", vf->g->name ? vf->g->name : "?");
}

/* "%7 'encoder.layer.0.attention.self.query.weight'" */
static void value_label(const ir_graph_t *g, size_t v, char *buf, size_t size) {
  const char *name = g->values[v].name;
  if (name)
    snprintf(buf, size, "%%%zu '%s'", v, name);
  else
    snprintf(buf, size, "%%%zu", v);
}

static const char *op_name(ir_op_t op) {
  const ir_op_info_t *info = ir_op_info(op);
  return info ? info->name : "?";
}

static int32_t *role_slot(const ir_graph_t *g, const char *name) {
  ir_graph_t *m = (ir_graph_t *)g;
  if (!name) return NULL;
  if (!strcmp(name, "input_ids")) return &m->input_ids;
  if (!strcmp(name, "token_type_ids")) return &m->token_type_ids;
  if (!strcmp(name, "attention_mask")) return &m->attention_mask;
  return NULL;
}

static bertc_status_t check_value(const verifier_t *vf, size_t i) {
  const ir_graph_t *g = vf->g;
  const ir_value_t *v = &g->values[i];
  char who[160], ty[IR_TYPE_BUF];
  value_label(g, i, who, sizeof who);
  if (v->kind != IR_VALUE_INPUT && v->kind != IR_VALUE_CONST && v->kind != IR_VALUE_TEMP)
    return fail(vf, "value %s has unknown kind %d", who, (int)v->kind);
  if (v->dtype != IR_F32 && v->dtype != IR_I32 && v->dtype != IR_I8)
    return fail(vf, "value %s has unknown dtype %d", who, (int)v->dtype);
  if (v->rank < 0 || v->rank > IR_MAX_RANK)
    return fail(vf, "value %s has rank %" PRId32 " (at most %d)", who, v->rank, IR_MAX_RANK);
  for (int d = 0; d < v->rank; d++)
    if (v->dims[d] <= 0 && v->dims[d] != IR_DIM_BATCH && v->dims[d] != IR_DIM_SEQ)
      return fail(vf, "value %s: dim %d is %" PRId64 "; dims are positive sizes, B or S", who, d,
                  v->dims[d]);
  ir_format_type(v, ty, sizeof ty);
  if (v->layout == IR_LAYOUT_ROW_MAJOR) {
    if (v->layout_param != 0)
      return fail(vf, "value %s is row-major with layout parameter %" PRId32 " (expected 0)",
                  who, v->layout_param);
  } else if (v->layout == IR_LAYOUT_PANEL) {
    if (v->kind != IR_VALUE_CONST || (v->dtype != IR_F32 && v->dtype != IR_I8) || v->rank != 2)
      return fail(vf, "value %s has type %s: the panel layout is only for f32 or i8 [N,K] constants",
                  who, ty);
    if (v->layout_param <= 0)
      return fail(vf, "value %s has panel width %" PRId32 " (expected > 0)", who,
                  v->layout_param);
  } else {
    return fail(vf, "value %s has unknown layout %d", who, (int)v->layout);
  }

  if (v->kind == IR_VALUE_INPUT) {
    if (v->producer != IR_NONE)
      return fail(vf, "input %s has producer node %" PRId32 " (inputs have none)", who,
                  v->producer);
    if (v->dtype != IR_I32 || v->rank != 2 || v->dims[0] != IR_DIM_BATCH ||
        v->dims[1] != IR_DIM_SEQ)
      return fail(vf, "input %s has type %s, expected i32[B,S]", who, ty);
    int32_t *slot = role_slot(g, v->name);
    if (!slot)
      return fail(vf,
                  "input %s is not named by a role (input_ids, token_type_ids, attention_mask)",
                  who);
    if (*slot != (int32_t)i)
      return fail(vf, "input %s is not the graph's %s (which is %%%" PRId32 ")", who, v->name,
                  *slot);
  } else if (v->kind == IR_VALUE_CONST) {
    if (v->producer != IR_NONE)
      return fail(vf, "constant %s has producer node %" PRId32 " (constants have none)", who,
                  v->producer);
    for (int d = 0; d < v->rank; d++)
      if (v->dims[d] < 0) return fail(vf, "constant %s has symbolic dims: %s", who, ty);
    if (!v->data) return fail(vf, "constant %s has no data", who);
    uint64_t need = 0;
    if (!ir_const_bytes(v, &need))
      return fail(vf, "constant %s: the size of %s overflows", who, ty);
    if (v->data_bytes < need)
      return fail(vf, "constant %s of type %s has %" PRIu64 " bytes of data, needs %" PRIu64,
                  who, ty, v->data_bytes, need);
  } else if (v->data) {
    return fail(vf, "temporary %s has constant data", who);
  }
  return BERTC_OK;
}

static bertc_status_t check_roles(const verifier_t *vf) {
  const ir_graph_t *g = vf->g;
  const char *names[] = {"input_ids", "token_type_ids", "attention_mask"};
  const int32_t slots[] = {g->input_ids, g->token_type_ids, g->attention_mask};
  for (size_t r = 0; r < BASE_ARRAY_LEN(names); r++) {
    int32_t v = slots[r];
    if (v == IR_NONE) continue;
    if (v < 0 || (size_t)v >= g->num_values)
      return fail(vf, "the graph's %s is %%%" PRId32 ", out of range (%zu values)", names[r], v,
                  g->num_values);
    const ir_value_t *x = &g->values[v];
    if (x->kind != IR_VALUE_INPUT || !x->name || strcmp(x->name, names[r]))
      return fail(vf, "the graph's %s is %%%" PRId32 ", which is not an input named '%s'",
                  names[r], v, names[r]);
  }
  return BERTC_OK;
}

static bertc_status_t check_operand(const verifier_t *vf, size_t i, int k) {
  const ir_graph_t *g = vf->g;
  const ir_node_t *n = &g->nodes[i];
  const char *op = op_name(n->op);
  int32_t x = n->operands[k];
  if (x < 0 || (size_t)x >= g->num_values)
    return fail(vf, "node %zu (%s): operand %d is %%%" PRId32 ", out of range (%zu values)", i,
                op, k, x, g->num_values);
  if (vf->defined[x]) return BERTC_OK;
  if (x == n->result)
    return fail(vf, "node %zu (%s): operand %d is its own result %%%" PRId32 " (a cycle)", i, op,
                k, x);
  int32_t p = g->values[x].producer;
  if (p >= 0 && (size_t)p < g->num_nodes && g->nodes[p].result == x)
    return fail(vf,
                "node %zu (%s): operand %d is %%%" PRId32 ", which node %" PRId32
                " (%s) produces later (nodes out of execution order, or a cycle)",
                i, op, k, x, p, op_name(g->nodes[p].op));
  return fail(vf, "node %zu (%s): operand %d is %%%" PRId32 ", which no earlier node produces",
              i, op, k, x);
}

static bertc_status_t check_node(verifier_t *vf, size_t i) {
  const ir_graph_t *g = vf->g;
  const ir_node_t *n = &g->nodes[i];
  const ir_op_info_t *info = ir_op_info(n->op);
  if (!info) return fail(vf, "node %zu has unknown op %d", i, (int)n->op);
  const char *op = info->name;
  if (n->num_operands < info->min_operands || n->num_operands > info->max_operands ||
      n->num_operands > IR_MAX_OPERANDS) {
    if (info->min_operands == info->max_operands)
      return fail(vf, "node %zu (%s) has %" PRId32 " operands, the op takes %d", i, op,
                  n->num_operands, info->min_operands);
    return fail(vf, "node %zu (%s) has %" PRId32 " operands, the op takes %d to %d", i, op,
                n->num_operands, info->min_operands, info->max_operands);
  }
  int32_t r = n->result;
  if (r < 0 || (size_t)r >= g->num_values)
    return fail(vf, "node %zu (%s): result %%%" PRId32 " is out of range (%zu values)", i, op, r,
                g->num_values);
  const ir_value_t *rv = &g->values[r];
  if (rv->kind != IR_VALUE_TEMP)
    return fail(vf, "node %zu (%s): result %%%" PRId32 " is %s, not a temporary", i, op, r,
                rv->kind == IR_VALUE_INPUT ? "an input" : "a constant");
  if (vf->made_by[r] != IR_NONE)
    return fail(vf, "node %zu (%s): result %%%" PRId32 " is already produced by node %" PRId32,
                i, op, r, vf->made_by[r]);
  if (rv->producer != (int32_t)i)
    return fail(vf,
                "node %zu (%s): result %%%" PRId32 " names node %" PRId32
                " as its producer, not this node",
                i, op, r, rv->producer);
  for (int k = 0; k < n->num_operands; k++) BERTC_RETURN_IF_ERROR(check_operand(vf, i, k));
  for (int k = ir_op_num_iattrs(n->op); k < IR_MAX_IATTRS; k++)
    if (n->iattr[k] != 0)
      return fail(vf, "node %zu (%s): unused attribute slot iattr[%d] is %" PRId64 ", not 0", i,
                  op, k, n->iattr[k]);
  for (int k = ir_op_num_fattrs(n->op); k < IR_MAX_FATTRS; k++)
    if (n->fattr[k] != 0.0f)
      return fail(vf, "node %zu (%s): unused attribute slot fattr[%d] is %g, not 0", i, op, k,
                  (double)n->fattr[k]);
  ir_value_t want;
  memset(&want, 0, sizeof want);
  bertc_status_t s = ir_infer(g, n, &want);
  if (s) {
    if (bertc_status_code(s) == BERTC_STATUS_OUT_OF_MEMORY) return s;
    bertc_status_t e = fail(vf, "node %zu (%s): %s", i, op, bertc_status_message(s));
    bertc_status_free(s);
    return e;
  }
  if (!ir_same_type(rv, &want)) {
    char have[IR_TYPE_BUF], expect[IR_TYPE_BUF];
    ir_format_type(rv, have, sizeof have);
    ir_format_type(&want, expect, sizeof expect);
    return fail(vf, "node %zu (%s): result %%%" PRId32 " has type %s, but its operands give %s",
                i, op, r, have, expect);
  }
  vf->defined[r] = true;
  vf->made_by[r] = (int32_t)i;
  return BERTC_OK;
}

static bertc_status_t check_outputs(const verifier_t *vf) {
  const ir_graph_t *g = vf->g;
  for (size_t i = 0; i < g->num_outputs; i++) {
    const ir_output_t *o = &g->outputs[i];
    if (!o->name || !*o->name) return fail(vf, "output %zu has no name", i);
    if (o->value < 0 || (size_t)o->value >= g->num_values)
      return fail(vf, "output %zu '%s' is %%%" PRId32 ", out of range (%zu values)", i, o->name,
                  o->value, g->num_values);
    for (size_t j = 0; j < i; j++)
      if (g->outputs[j].name && !strcmp(g->outputs[j].name, o->name))
        return fail(vf, "outputs %zu and %zu are both named '%s'", j, i, o->name);
  }
  return BERTC_OK;
}

static bertc_status_t verify(verifier_t *vf) {
  const ir_graph_t *g = vf->g;
  if (g->num_values > INT32_MAX || g->num_nodes > INT32_MAX)
    return fail(vf, "%zu values and %zu nodes: more than indices can hold", g->num_values,
                g->num_nodes);
  for (size_t v = 0; v < g->num_values; v++) {
    BERTC_RETURN_IF_ERROR(check_value(vf, v));
    vf->defined[v] = g->values[v].kind != IR_VALUE_TEMP;
    vf->made_by[v] = IR_NONE;
  }
  BERTC_RETURN_IF_ERROR(check_roles(vf));
  for (size_t i = 0; i < g->num_nodes; i++) BERTC_RETURN_IF_ERROR(check_node(vf, i));
  for (size_t v = 0; v < g->num_values; v++) {
    if (g->values[v].kind != IR_VALUE_TEMP || vf->made_by[v] != IR_NONE) continue;
    char who[160];
    value_label(g, v, who, sizeof who);
    return fail(vf,
                "value %s is a temporary that no node produces (dangling; its producer field "
                "says %" PRId32 ")",
                who, g->values[v].producer);
  }
  return check_outputs(vf);
}

bertc_status_t ir_verify(const ir_graph_t *g) {
  verifier_t vf = {g, NULL, NULL};
  size_t n = g->num_values ? g->num_values : 1;
  BERTC_RETURN_IF_ERROR(base_calloc(n, sizeof(bool), (void **)&vf.defined));
  bertc_status_t s = base_calloc(n, sizeof(int32_t), (void **)&vf.made_by);
  if (!s) s = verify(&vf);
  free(vf.defined);
  free(vf.made_by);
  return s;
}
