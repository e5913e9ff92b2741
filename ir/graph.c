/* Graph construction, the op table and shape inference.
 *
 * Values and nodes live in two growable arrays; everything refers to them by
 * index. ir_add_node appends a node and a fresh temporary for its result,
 * whose dtype and shape come from the op's shape rule (named in ops.def).
 * A shape rule checks its operands the way PyTorch would fail on them and
 * writes the result type; the verifier and the parser reuse it through
 * ir_infer, so one function decides what a well-typed node is. */
#include "ir/ir.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"

typedef bertc_status_t (*shape_fn)(const ir_graph_t *g, const ir_node_t *n, ir_value_t *out);

#define IR_OP(e, name, mn, mx, ia, fa, shape, kernel, in_place, doc)                    \
  static bertc_status_t shape_##shape(const ir_graph_t *g, const ir_node_t *n, ir_value_t *out);
#include "ir/ops.def"
#undef IR_OP

static const ir_op_info_t op_infos[IR_OP_COUNT] = {
#define IR_OP(e, name, mn, mx, ia, fa, shape, kernel, in_place, doc)                    \
  {name, mn, mx, ia, fa, in_place, doc},
#include "ir/ops.def"
#undef IR_OP
};

static const shape_fn op_shapes[IR_OP_COUNT] = {
#define IR_OP(e, name, mn, mx, ia, fa, shape, kernel, in_place, doc) shape_##shape,
#include "ir/ops.def"
#undef IR_OP
};

static const ir_act_info_t act_infos[IR_ACT_COUNT] = {
    [IR_ACT_NONE] = {"none", "", IR_OP_COUNT},
#define IR_ACT(e, name, config_names, doc) [IR_ACT_##e] = {#name, config_names, IR_OP_##e},
#include "ir/acts.def"
#undef IR_ACT
};

static const ir_act_t op_acts[IR_OP_COUNT] = {
#define IR_ACT(e, name, config_names, doc) [IR_OP_##e] = IR_ACT_##e,
#include "ir/acts.def"
#undef IR_ACT
};

const ir_op_info_t *ir_op_info(ir_op_t op) {
  return (unsigned)op < IR_OP_COUNT ? &op_infos[op] : NULL;
}

ir_op_t ir_op_from_name(const char *name) {
  for (int i = 0; i < IR_OP_COUNT; i++)
    if (!strcmp(op_infos[i].name, name)) return (ir_op_t)i;
  return IR_OP_COUNT;
}

static int count_names(const char *list) {
  if (!list || !*list) return 0;
  int n = 1;
  for (const char *p = list; *p; p++) n += *p == ',';
  return n;
}

static bool nth_name(const char *list, int i, char *buf, size_t size) {
  if (i < 0 || i >= count_names(list) || size == 0) return false;
  const char *p = list;
  for (int k = 0; k < i; k++) p = strchr(p, ',') + 1;
  size_t len = strcspn(p, ",");
  if (len >= size) len = size - 1;
  memcpy(buf, p, len);
  buf[len] = '\0';
  return true;
}

int ir_op_num_iattrs(ir_op_t op) { return count_names(op_infos[op].iattrs); }
int ir_op_num_fattrs(ir_op_t op) { return count_names(op_infos[op].fattrs); }
bool ir_op_iattr_name(ir_op_t op, int i, char *buf, size_t size) {
  return nth_name(op_infos[op].iattrs, i, buf, size);
}
bool ir_op_fattr_name(ir_op_t op, int i, char *buf, size_t size) {
  return nth_name(op_infos[op].fattrs, i, buf, size);
}

const ir_act_info_t *ir_act_info(ir_act_t act) {
  return (unsigned)act < IR_ACT_COUNT ? &act_infos[act] : NULL;
}

const char *ir_act_name(ir_act_t act) {
  return (unsigned)act < IR_ACT_COUNT ? act_infos[act].name : "?";
}

ir_act_t ir_op_act(ir_op_t op) { return (unsigned)op < IR_OP_COUNT ? op_acts[op] : IR_ACT_NONE; }

/* Whether `name` is one of the comma-separated names in `list`. */
static bool in_list(const char *list, const char *name) {
  size_t len = strlen(name);
  for (const char *p = list; *p;) {
    size_t n = strcspn(p, ",");
    if (n == len && !strncmp(p, name, len)) return true;
    p += n + (p[n] == ',');
  }
  return false;
}

/* The names that spell activation a: its own one, or its config.json names
 * (comma-separated; none for IR_ACT_NONE). */
static const char *act_names(int a, bool config) {
  return config ? act_infos[a].config_names : act_infos[a].name;
}

static ir_act_t act_lookup(const char *name, bool config) {
  for (int a = IR_ACT_NONE; a < IR_ACT_COUNT; a++)
    if (in_list(act_names(a, config), name)) return (ir_act_t)a;
  return IR_ACT_COUNT;
}

static void act_list(bool config, char *buf, size_t size) {
  size_t used = 0;
  if (size) buf[0] = '\0';
  for (int a = IR_ACT_NONE; a < IR_ACT_COUNT; a++)
    for (const char *p = act_names(a, config); *p && used < size;) {
      size_t n = strcspn(p, ",");
      int k = snprintf(buf + used, size - used, "%s%.*s", used ? ", " : "", (int)n, p);
      used += k > 0 ? (size_t)k : 0;
      p += n + (p[n] == ',');
    }
}

ir_act_t ir_act_from_name(const char *name) { return act_lookup(name, false); }
ir_act_t ir_act_from_config_name(const char *hidden_act) { return act_lookup(hidden_act, true); }
void ir_act_names(char *buf, size_t size) { act_list(false, buf, size); }
void ir_act_config_names(char *buf, size_t size) { act_list(true, buf, size); }

const char *ir_dtype_name(ir_dtype_t dtype) {
  return dtype == IR_I32 ? "i32" : dtype == IR_I8 ? "i8" : "f32";
}
int ir_dtype_size(ir_dtype_t dtype) { return dtype == IR_I8 ? 1 : 4; }

/* --- construction --- */

bertc_status_t ir_graph_create(const char *name, ir_graph_t **out) {
  *out = NULL;
  ir_graph_t *g;
  BERTC_RETURN_IF_ERROR(base_calloc(1, sizeof(*g), (void **)&g));
  bertc_status_t s = base_strdup(name ? name : "model", &g->name);
  if (s) {
    free(g);
    return s;
  }
  g->input_ids = g->token_type_ids = g->attention_mask = IR_NONE;
  *out = g;
  return BERTC_OK;
}

void ir_graph_destroy(ir_graph_t *g) {
  if (!g) return;
  for (size_t i = 0; i < g->num_values; i++) free(g->values[i].name);
  for (size_t i = 0; i < g->num_outputs; i++) free(g->outputs[i].name);
  for (size_t i = 0; i < g->num_buffers; i++) free(g->buffers[i]);
  free(g->values);
  free(g->nodes);
  free(g->outputs);
  free(g->buffers);
  free(g->name);
  free(g);
}

static bertc_status_t grow(void **array, size_t *cap, size_t need, size_t elem) {
  if (need <= *cap) return BERTC_OK;
  size_t n = *cap ? *cap * 2 : 16;
  while (n < need) n *= 2;
  size_t bytes;
  if (!base_mul_size(n, elem, &bytes))
    return bertc_status_make(BERTC_STATUS_OUT_OF_MEMORY, "graph too large");
  void *p = realloc(*array, bytes);
  if (!p) return bertc_status_make(BERTC_STATUS_OUT_OF_MEMORY, "out of memory growing graph");
  *array = p;
  *cap = n;
  return BERTC_OK;
}

bertc_status_t ir_graph_own(ir_graph_t *g, void *buffer) {
  bertc_status_t s = grow((void **)&g->buffers, &g->cap_buffers, g->num_buffers + 1,
                          sizeof(void *));
  if (s) {
    free(buffer);
    return s;
  }
  g->buffers[g->num_buffers++] = buffer;
  return BERTC_OK;
}

static bertc_status_t new_value(ir_graph_t *g, const char *name, int32_t *out) {
  BERTC_RETURN_IF_ERROR(
      grow((void **)&g->values, &g->cap_values, g->num_values + 1, sizeof(ir_value_t)));
  if (g->num_values >= INT32_MAX)
    return bertc_status_make(BERTC_STATUS_INTERNAL, "too many values");
  ir_value_t *v = &g->values[g->num_values];
  memset(v, 0, sizeof(*v));
  v->producer = IR_NONE;
  if (name) BERTC_RETURN_IF_ERROR(base_strdup(name, &v->name));
  *out = (int32_t)g->num_values++;
  return BERTC_OK;
}

bertc_status_t ir_add_input(ir_graph_t *g, const char *role, int32_t *out) {
  int32_t *slot = !strcmp(role, "input_ids")        ? &g->input_ids
                  : !strcmp(role, "token_type_ids") ? &g->token_type_ids
                  : !strcmp(role, "attention_mask") ? &g->attention_mask
                                                    : NULL;
  if (!slot)
    return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT, "unknown graph input '%s'", role);
  if (*slot != IR_NONE)
    return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT, "graph input '%s' added twice",
                             role);
  BERTC_RETURN_IF_ERROR(new_value(g, role, out));
  ir_value_t *v = &g->values[*out];
  v->kind = IR_VALUE_INPUT;
  v->dtype = IR_I32;
  v->rank = 2;
  v->dims[0] = IR_DIM_BATCH;
  v->dims[1] = IR_DIM_SEQ;
  *slot = *out;
  return BERTC_OK;
}

bertc_status_t ir_add_const(ir_graph_t *g, const char *name, ir_dtype_t dtype, int rank,
                            const int64_t *dims, void *data, uint64_t data_bytes,
                            int32_t *out) {
  BERTC_RETURN_IF_ERROR(ir_graph_own(g, data));
  if (rank < 0 || rank > IR_MAX_RANK)
    return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT, "constant '%s' has rank %d",
                             name ? name : "?", rank);
  BERTC_RETURN_IF_ERROR(new_value(g, name, out));
  ir_value_t *v = &g->values[*out];
  v->kind = IR_VALUE_CONST;
  v->dtype = dtype;
  v->rank = rank;
  for (int i = 0; i < rank; i++) v->dims[i] = dims[i];
  v->data = data;
  v->data_bytes = data_bytes;
  return BERTC_OK;
}

bertc_status_t ir_add_const_alias(ir_graph_t *g, const char *name, int32_t of, int32_t *out) {
  BERTC_RETURN_IF_ERROR(new_value(g, name, out));
  ir_value_t *v = &g->values[*out];
  char *keep = v->name;
  *v = g->values[of];
  v->name = keep;
  return BERTC_OK;
}

/* Frees the buffer behind removed constant c unless a kept constant's data
 * lies in it; the buffer leaves g->buffers. */
static void release_data(ir_graph_t *g, const ir_value_t *c, const bool *remove_value) {
  const char *base = c->data;
  if (!base) return;
  for (size_t v = 0; v < g->num_values; v++) {
    const ir_value_t *x = &g->values[v];
    if (remove_value[v] || x->kind != IR_VALUE_CONST || !x->data) continue;
    const char *p = x->data;
    if (p >= base && p < base + (c->data_bytes ? c->data_bytes : 1)) return;
  }
  for (size_t i = 0; i < g->num_buffers; i++)
    if (g->buffers[i] == c->data) {
      free(g->buffers[i]);
      memmove(&g->buffers[i], &g->buffers[i + 1], (g->num_buffers - i - 1) * sizeof(void *));
      g->num_buffers--;
      return;
    }
}

static bertc_status_t check_removal(const ir_graph_t *g, const bool *remove_node,
                                    const bool *remove_value) {
  for (size_t i = 0; i < g->num_nodes; i++) {
    if (remove_node[i]) continue;
    const ir_node_t *n = &g->nodes[i];
    for (int k = 0; k < n->num_operands; k++)
      if (remove_value[n->operands[k]])
        return bertc_status_make(BERTC_STATUS_INTERNAL,
                                 "removing %%%d, which node %zu (%s) still reads",
                                 (int)n->operands[k], i, ir_op_info(n->op)->name);
    if (remove_value[n->result])
      return bertc_status_make(BERTC_STATUS_INTERNAL,
                               "removing %%%d, the result of node %zu (%s), which stays",
                               (int)n->result, i, ir_op_info(n->op)->name);
  }
  for (size_t v = 0; v < g->num_values; v++) {
    int32_t p = g->values[v].producer;
    if (!remove_value[v] && g->values[v].kind == IR_VALUE_TEMP && p >= 0 &&
        (size_t)p < g->num_nodes && remove_node[p])
      return bertc_status_make(BERTC_STATUS_INTERNAL,
                               "removing node %d, whose result %%%zu stays", (int)p, v);
  }
  for (size_t i = 0; i < g->num_outputs; i++)
    if (remove_value[g->outputs[i].value])
      return bertc_status_make(BERTC_STATUS_INTERNAL, "removing %%%d, which output '%s' names",
                               (int)g->outputs[i].value, g->outputs[i].name);
  return BERTC_OK;
}

bertc_status_t ir_graph_remove(ir_graph_t *g, const bool *remove_node, const bool *remove_value) {
  size_t nv = g->num_values, nn = g->num_nodes;
  bool *no_node = NULL, *no_value = NULL;
  int32_t *vmap = NULL, *nmap = NULL;
  bertc_status_t s = BERTC_OK;
  if (!remove_node) s = base_calloc(nn ? nn : 1, sizeof(bool), (void **)&no_node);
  if (!s && !remove_value) s = base_calloc(nv ? nv : 1, sizeof(bool), (void **)&no_value);
  if (!s) s = base_alloc((nv ? nv : 1) * sizeof(int32_t), (void **)&vmap);
  if (!s) s = base_alloc((nn ? nn : 1) * sizeof(int32_t), (void **)&nmap);
  const bool *drop_node = remove_node ? remove_node : no_node;
  const bool *drop_value = remove_value ? remove_value : no_value;
  if (!s) s = check_removal(g, drop_node, drop_value);
  if (s) goto done;

  int32_t kept_nodes = 0, kept_values = 0;
  for (size_t i = 0; i < nn; i++) nmap[i] = drop_node[i] ? IR_NONE : kept_nodes++;
  for (size_t v = 0; v < nv; v++) vmap[v] = drop_value[v] ? IR_NONE : kept_values++;
  for (size_t v = 0; v < nv; v++)
    if (drop_value[v] && g->values[v].kind == IR_VALUE_CONST)
      release_data(g, &g->values[v], drop_value);
  for (size_t v = 0; v < nv; v++) {
    if (drop_value[v]) {
      free(g->values[v].name);
      continue;
    }
    ir_value_t x = g->values[v];
    if (x.kind == IR_VALUE_TEMP && x.producer >= 0) x.producer = nmap[x.producer];
    g->values[vmap[v]] = x;
  }
  g->num_values = (size_t)kept_values;
  for (size_t i = 0; i < nn; i++) {
    if (drop_node[i]) continue;
    ir_node_t n = g->nodes[i];
    for (int k = 0; k < n.num_operands; k++) n.operands[k] = vmap[n.operands[k]];
    n.result = vmap[n.result];
    g->nodes[nmap[i]] = n;
  }
  g->num_nodes = (size_t)kept_nodes;
  for (size_t i = 0; i < g->num_outputs; i++) g->outputs[i].value = vmap[g->outputs[i].value];
  int32_t *roles[] = {&g->input_ids, &g->token_type_ids, &g->attention_mask};
  for (size_t r = 0; r < BASE_ARRAY_LEN(roles); r++)
    if (*roles[r] != IR_NONE) *roles[r] = vmap[*roles[r]];
done:
  free(no_node);
  free(no_value);
  free(vmap);
  free(nmap);
  return s;
}

bertc_status_t ir_infer(const ir_graph_t *g, const ir_node_t *n, ir_value_t *out) {
  const ir_op_info_t *info = ir_op_info(n->op);
  if (!info) return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT, "unknown op %d", n->op);
  if (n->num_operands < info->min_operands || n->num_operands > info->max_operands)
    return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT,
                             "%s takes %d to %d operands, got %d", info->name,
                             info->min_operands, info->max_operands, n->num_operands);
  for (int i = 0; i < n->num_operands; i++)
    if (n->operands[i] < 0 || (size_t)n->operands[i] >= g->num_values)
      return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT, "%s: operand %d is %%%d, not a value",
                               info->name, i, n->operands[i]);
  out->layout = IR_LAYOUT_ROW_MAJOR;
  out->layout_param = 0;
  out->dtype = IR_F32;
  return op_shapes[n->op](g, n, out);
}

bertc_status_t ir_add_node(ir_graph_t *g, ir_op_t op, int num_operands, const int32_t *operands,
                           const int64_t *iattr, const float *fattr, int32_t *out_result) {
  ir_node_t n;
  memset(&n, 0, sizeof(n));
  n.op = op;
  if (num_operands < 0 || num_operands > IR_MAX_OPERANDS)
    return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT, "too many operands");
  n.num_operands = num_operands;
  for (int i = 0; i < num_operands; i++) n.operands[i] = operands[i];
  if (iattr)
    for (int i = 0; i < ir_op_num_iattrs(op); i++) n.iattr[i] = iattr[i];
  if (fattr)
    for (int i = 0; i < ir_op_num_fattrs(op); i++) n.fattr[i] = fattr[i];
  ir_value_t type;
  memset(&type, 0, sizeof(type));
  BERTC_RETURN_IF_ERROR(ir_infer(g, &n, &type));
  BERTC_RETURN_IF_ERROR(
      grow((void **)&g->nodes, &g->cap_nodes, g->num_nodes + 1, sizeof(ir_node_t)));
  int32_t r;
  BERTC_RETURN_IF_ERROR(new_value(g, NULL, &r));
  ir_value_t *v = &g->values[r];
  v->kind = IR_VALUE_TEMP;
  v->dtype = type.dtype;
  v->rank = type.rank;
  memcpy(v->dims, type.dims, sizeof(v->dims));
  v->producer = (int32_t)g->num_nodes;
  n.result = r;
  g->nodes[g->num_nodes++] = n;
  if (out_result) *out_result = r;
  return BERTC_OK;
}

bertc_status_t ir_add_output(ir_graph_t *g, const char *name, int32_t value) {
  for (size_t i = 0; i < g->num_outputs; i++)
    if (!strcmp(g->outputs[i].name, name))
      return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT, "output '%s' added twice", name);
  BERTC_RETURN_IF_ERROR(
      grow((void **)&g->outputs, &g->cap_outputs, g->num_outputs + 1, sizeof(ir_output_t)));
  ir_output_t *o = &g->outputs[g->num_outputs];
  BERTC_RETURN_IF_ERROR(base_strdup(name, &o->name));
  o->value = value;
  g->num_outputs++;
  return BERTC_OK;
}

bertc_status_t ir_graph_clone(const ir_graph_t *g, ir_graph_t **out) {
  *out = NULL;
  ir_graph_t *c;
  BERTC_RETURN_IF_ERROR(ir_graph_create(g->name, &c));
  bertc_status_t s = BERTC_OK;
  c->input_ids = g->input_ids;
  c->token_type_ids = g->token_type_ids;
  c->attention_mask = g->attention_mask;
  /* Copy each distinct constant buffer once so aliases stay aliases. */
  const void **src = NULL;
  void **dst = NULL;
  size_t nmap = 0;
  if (g->num_values) {
    src = calloc(g->num_values, sizeof(*src));
    dst = calloc(g->num_values, sizeof(*dst));
    if (!src || !dst) s = bertc_status_make(BERTC_STATUS_OUT_OF_MEMORY, "out of memory");
  }
  for (size_t i = 0; !s && i < g->num_values; i++) {
    int32_t v;
    s = new_value(c, g->values[i].name, &v);
    if (s) break;
    char *nm = c->values[v].name;
    c->values[v] = g->values[i];
    c->values[v].name = nm;
    if (g->values[i].kind != IR_VALUE_CONST || !g->values[i].data) continue;
    size_t k = 0;
    while (k < nmap && src[k] != g->values[i].data) k++;
    if (k == nmap) {
      /* Find the largest extent used with this base pointer. */
      uint64_t bytes = 0;
      for (size_t j = 0; j < g->num_values; j++)
        if (g->values[j].data == g->values[i].data && g->values[j].data_bytes > bytes)
          bytes = g->values[j].data_bytes;
      void *copy = malloc(bytes ? bytes : 1);
      if (!copy) {
        s = bertc_status_make(BERTC_STATUS_OUT_OF_MEMORY, "out of memory cloning constants");
        break;
      }
      memcpy(copy, g->values[i].data, bytes);
      s = ir_graph_own(c, copy);
      if (s) break;
      src[nmap] = g->values[i].data;
      dst[nmap] = copy;
      nmap++;
    }
    c->values[v].data = dst[k];
  }
  if (!s && g->num_nodes) {
    s = grow((void **)&c->nodes, &c->cap_nodes, g->num_nodes, sizeof(ir_node_t));
    if (!s) {
      memcpy(c->nodes, g->nodes, g->num_nodes * sizeof(ir_node_t));
      c->num_nodes = g->num_nodes;
    }
  }
  for (size_t i = 0; !s && i < g->num_outputs; i++)
    s = ir_add_output(c, g->outputs[i].name, g->outputs[i].value);
  free(src);
  free(dst);
  if (s) {
    ir_graph_destroy(c);
    return s;
  }
  *out = c;
  return BERTC_OK;
}

/* --- queries --- */

int64_t ir_value_numel(const ir_value_t *v, int64_t batch, int64_t seq) {
  int64_t n = 1;
  for (int i = 0; i < v->rank; i++) n *= ir_dim_bind(v->dims[i], batch, seq);
  return n;
}

int ir_value_use_count(const ir_graph_t *g, int32_t v) {
  int uses = 0;
  for (size_t i = 0; i < g->num_nodes; i++)
    for (int j = 0; j < g->nodes[i].num_operands; j++) uses += g->nodes[i].operands[j] == v;
  return uses;
}

bool ir_value_is_output(const ir_graph_t *g, int32_t v) {
  for (size_t i = 0; i < g->num_outputs; i++)
    if (g->outputs[i].value == v) return true;
  return false;
}

void ir_replace_uses(ir_graph_t *g, int32_t from, int32_t to) {
  for (size_t i = 0; i < g->num_nodes; i++)
    for (int j = 0; j < g->nodes[i].num_operands; j++)
      if (g->nodes[i].operands[j] == from) g->nodes[i].operands[j] = to;
  for (size_t i = 0; i < g->num_outputs; i++)
    if (g->outputs[i].value == from) g->outputs[i].value = to;
}

void ir_count_ops(const ir_graph_t *g, size_t *counts) {
  memset(counts, 0, sizeof(size_t) * IR_OP_COUNT);
  for (size_t i = 0; i < g->num_nodes; i++) counts[g->nodes[i].op]++;
}

float ir_weight_at(const ir_value_t *w, int64_t n, int64_t k) {
  const float *d = w->data;
  int64_t K = w->dims[1];
  if (w->dtype == IR_I8) {
    const int8_t *q = w->data;
    if (w->layout != IR_LAYOUT_PANEL) return q[n * K + k];
    int64_t p = w->layout_param, k4 = (K + 3) / 4;
    return q[(((n / p) * k4 + k / 4) * p + n % p) * 4 + k % 4];
  }
  if (w->layout == IR_LAYOUT_PANEL) {
    int64_t p = w->layout_param;
    return d[((n / p) * K + k) * p + n % p];
  }
  return d[n * K + k];
}

uint64_t ir_graph_const_bytes(const ir_graph_t *g) {
  uint64_t total = 0;
  for (size_t i = 0; i < g->num_values; i++) {
    const ir_value_t *v = &g->values[i];
    if (v->kind != IR_VALUE_CONST || !v->data) continue;
    if (ir_value_use_count(g, (int32_t)i) == 0) continue;
    bool seen = false;
    for (size_t j = 0; j < i && !seen; j++)
      seen = g->values[j].kind == IR_VALUE_CONST && g->values[j].data == v->data &&
             ir_value_use_count(g, (int32_t)j) > 0;
    if (!seen) total += v->data_bytes;
  }
  return total;
}

/* --- value types --- */

void ir_format_type(const ir_value_t *v, char *buf, size_t size) {
  size_t used = 0;
#define APPEND(...)                                                                      \
  do {                                                                                   \
    if (used < size) {                                                                   \
      int k_ = snprintf(buf + used, size - used, __VA_ARGS__);                           \
      used += k_ > 0 ? (size_t)k_ : 0;                                                   \
    }                                                                                    \
  } while (0)
  if (v->dtype == IR_F32 || v->dtype == IR_I32 || v->dtype == IR_I8)
    APPEND("%s[", ir_dtype_name(v->dtype));
  else
    APPEND("dtype%d[", (int)v->dtype);
  int rank = v->rank < 0 ? 0 : v->rank > IR_MAX_RANK ? IR_MAX_RANK : v->rank;
  for (int i = 0; i < rank; i++) {
    int64_t d = v->dims[i];
    const char *sep = i ? "," : "";
    if (d == IR_DIM_BATCH)
      APPEND("%sB", sep);
    else if (d == IR_DIM_SEQ)
      APPEND("%sS", sep);
    else
      APPEND("%s%" PRId64, sep, d);
  }
  APPEND("]");
  if (v->layout == IR_LAYOUT_PANEL)
    APPEND(" panel(%" PRId32 ")", v->layout_param);
  else if (v->layout != IR_LAYOUT_ROW_MAJOR)
    APPEND(" layout%d(%" PRId32 ")", (int)v->layout, v->layout_param);
  else if (v->layout_param != 0)
    APPEND(" row_major(%" PRId32 ")", v->layout_param);
#undef APPEND
}

bool ir_same_type(const ir_value_t *a, const ir_value_t *b) {
  if (a->dtype != b->dtype || a->rank != b->rank || a->layout != b->layout ||
      a->layout_param != b->layout_param)
    return false;
  for (int i = 0; i < a->rank && i < IR_MAX_RANK; i++)
    if (a->dims[i] != b->dims[i]) return false;
  return true;
}

bool ir_const_bytes(const ir_value_t *v, uint64_t *out) {
  uint64_t n = (uint64_t)ir_dtype_size(v->dtype);
  if (v->layout == IR_LAYOUT_PANEL) {
    if (v->rank != 2 || v->layout_param <= 0 || v->dims[0] <= 0 || v->dims[1] <= 0)
      return false;
    uint64_t p = (uint64_t)v->layout_param, rows = (uint64_t)v->dims[0];
    uint64_t panels = rows / p + (rows % p != 0);
    if (v->dtype == IR_I8) { /* [K/4][P][4] bytes per panel, then P int32 sums */
      uint64_t k4 = ((uint64_t)v->dims[1] + 3) / 4, cols, sums;
      return base_mul_u64(panels, p, &cols) && base_mul_u64(cols, k4 * 4, &n) &&
             base_mul_u64(cols, 4, &sums) && base_add_u64(n, sums, out);
    }
    return base_mul_u64(n, panels, &n) && base_mul_u64(n, p, &n) &&
           base_mul_u64(n, (uint64_t)v->dims[1], out);
  }
  for (int i = 0; i < v->rank && i < IR_MAX_RANK; i++) {
    if (v->dims[i] <= 0 || !base_mul_u64(n, (uint64_t)v->dims[i], &n)) return false;
  }
  *out = n;
  return true;
}

/* --- shape rules --- */

#define SHAPE_ERR(...)                                                                   \
  bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT, __VA_ARGS__)

static const ir_value_t *opnd(const ir_graph_t *g, const ir_node_t *n, int i) {
  return &g->values[n->operands[i]];
}

static bertc_status_t expect(const ir_node_t *n, int i, const ir_value_t *v, ir_dtype_t dtype,
                             int rank) {
  if (v->dtype == dtype && (rank < 0 || v->rank == rank)) return BERTC_OK;
  char t[IR_TYPE_BUF];
  ir_format_type(v, t, sizeof t);
  return SHAPE_ERR("%s: operand %d has type %s, expected %s of rank %d",
                   ir_op_info(n->op)->name, i, t, ir_dtype_name(dtype), rank);
}

static bertc_status_t expect_vec(const ir_node_t *n, int i, const ir_value_t *v, int64_t len) {
  if (v->dtype == IR_F32 && v->rank == 1 && v->dims[0] == len) return BERTC_OK;
  char t[IR_TYPE_BUF];
  ir_format_type(v, t, sizeof t);
  return SHAPE_ERR("%s: operand %d has type %s, expected f32[%lld]", ir_op_info(n->op)->name, i,
                   t, (long long)len);
}

static bool same_shape(const ir_value_t *a, const ir_value_t *b) {
  if (a->rank != b->rank) return false;
  for (int i = 0; i < a->rank; i++)
    if (a->dims[i] != b->dims[i]) return false;
  return true;
}

static bertc_status_t expect_same(const ir_node_t *n, int i, const ir_value_t *v,
                                  const ir_value_t *like) {
  if (v->dtype == like->dtype && same_shape(v, like)) return BERTC_OK;
  char t[IR_TYPE_BUF], u[IR_TYPE_BUF];
  ir_format_type(v, t, sizeof t);
  ir_format_type(like, u, sizeof u);
  return SHAPE_ERR("%s: operand %d has type %s, expected %s", ir_op_info(n->op)->name, i, t, u);
}

static void copy_type(ir_value_t *out, const ir_value_t *v) {
  out->dtype = v->dtype;
  out->rank = v->rank;
  memcpy(out->dims, v->dims, sizeof(out->dims));
}

static bertc_status_t expect_ids(const ir_node_t *n, int i, const ir_value_t *v) {
  if (v->dtype == IR_I32 && v->rank == 2 && v->dims[0] == IR_DIM_BATCH &&
      v->dims[1] == IR_DIM_SEQ)
    return BERTC_OK;
  char t[IR_TYPE_BUF];
  ir_format_type(v, t, sizeof t);
  return SHAPE_ERR("%s: operand %d has type %s, expected i32[B,S]", ir_op_info(n->op)->name, i,
                   t);
}

static bertc_status_t expect_table(const ir_node_t *n, int i, const ir_value_t *v) {
  return expect(n, i, v, IR_F32, 2);
}

static bertc_status_t shape_gather(const ir_graph_t *g, const ir_node_t *n, ir_value_t *out) {
  const ir_value_t *t = opnd(g, n, 0), *ids = opnd(g, n, 1);
  BERTC_RETURN_IF_ERROR(expect_table(n, 0, t));
  BERTC_RETURN_IF_ERROR(expect_ids(n, 1, ids));
  out->rank = 3;
  out->dims[0] = IR_DIM_BATCH;
  out->dims[1] = IR_DIM_SEQ;
  out->dims[2] = t->dims[1];
  return BERTC_OK;
}

static bertc_status_t shape_position_ids(const ir_graph_t *g, const ir_node_t *n,
                                         ir_value_t *out) {
  BERTC_RETURN_IF_ERROR(expect_ids(n, 0, opnd(g, n, 0)));
  copy_type(out, opnd(g, n, 0));
  return BERTC_OK;
}

static bertc_status_t shape_embed_ln(const ir_graph_t *g, const ir_node_t *n, ir_value_t *out) {
  if (n->num_operands != 5 && n->num_operands != 7)
    return SHAPE_ERR("embed_ln takes 5 or 7 operands, got %d", n->num_operands);
  const ir_value_t *w = opnd(g, n, 0);
  BERTC_RETURN_IF_ERROR(expect_table(n, 0, w));
  int64_t e = w->dims[1];
  BERTC_RETURN_IF_ERROR(expect_ids(n, 1, opnd(g, n, 1)));
  BERTC_RETURN_IF_ERROR(expect_table(n, 2, opnd(g, n, 2)));
  if (opnd(g, n, 2)->dims[1] != e) return SHAPE_ERR("embed_ln: position table width differs");
  BERTC_RETURN_IF_ERROR(expect_vec(n, 3, opnd(g, n, 3), e));
  BERTC_RETURN_IF_ERROR(expect_vec(n, 4, opnd(g, n, 4), e));
  if (n->num_operands == 7) {
    BERTC_RETURN_IF_ERROR(expect_table(n, 5, opnd(g, n, 5)));
    if (opnd(g, n, 5)->dims[1] != e) return SHAPE_ERR("embed_ln: type table width differs");
    BERTC_RETURN_IF_ERROR(expect_ids(n, 6, opnd(g, n, 6)));
  }
  out->rank = 3;
  out->dims[0] = IR_DIM_BATCH;
  out->dims[1] = IR_DIM_SEQ;
  out->dims[2] = e;
  return BERTC_OK;
}

static bertc_status_t shape_embed_ln_i8(const ir_graph_t *g, const ir_node_t *n,
                                        ir_value_t *out) {
  if (n->num_operands != 6 && n->num_operands != 8)
    return SHAPE_ERR("embed_ln_i8 takes 6 or 8 operands, got %d", n->num_operands);
  const ir_value_t *w = opnd(g, n, 0);
  BERTC_RETURN_IF_ERROR(expect(n, 0, w, IR_I8, 2));
  int64_t e = w->dims[1];
  BERTC_RETURN_IF_ERROR(expect_vec(n, 1, opnd(g, n, 1), w->dims[0]));
  BERTC_RETURN_IF_ERROR(expect_ids(n, 2, opnd(g, n, 2)));
  BERTC_RETURN_IF_ERROR(expect_table(n, 3, opnd(g, n, 3)));
  if (opnd(g, n, 3)->dims[1] != e) return SHAPE_ERR("embed_ln_i8: position table width differs");
  BERTC_RETURN_IF_ERROR(expect_vec(n, 4, opnd(g, n, 4), e));
  BERTC_RETURN_IF_ERROR(expect_vec(n, 5, opnd(g, n, 5), e));
  if (n->num_operands == 8) {
    BERTC_RETURN_IF_ERROR(expect_table(n, 6, opnd(g, n, 6)));
    if (opnd(g, n, 6)->dims[1] != e) return SHAPE_ERR("embed_ln_i8: type table width differs");
    BERTC_RETURN_IF_ERROR(expect_ids(n, 7, opnd(g, n, 7)));
  }
  out->rank = 3;
  out->dims[0] = IR_DIM_BATCH;
  out->dims[1] = IR_DIM_SEQ;
  out->dims[2] = e;
  return BERTC_OK;
}

static bertc_status_t expect_f32_any(const ir_node_t *n, int i, const ir_value_t *v) {
  if (v->dtype == IR_F32 && v->rank >= 1) return BERTC_OK;
  return SHAPE_ERR("%s: operand %d must be f32 of rank >= 1", ir_op_info(n->op)->name, i);
}

static bertc_status_t shape_add(const ir_graph_t *g, const ir_node_t *n, ir_value_t *out) {
  const ir_value_t *a = opnd(g, n, 0), *b = opnd(g, n, 1);
  BERTC_RETURN_IF_ERROR(expect_f32_any(n, 0, a));
  if (!(b->dtype == IR_F32 && (same_shape(a, b) ||
                               (b->rank == 1 && b->dims[0] == a->dims[a->rank - 1])))) {
    char t[IR_TYPE_BUF], u[IR_TYPE_BUF];
    ir_format_type(a, t, sizeof t);
    ir_format_type(b, u, sizeof u);
    return SHAPE_ERR("add: cannot add %s to %s", u, t);
  }
  copy_type(out, a);
  return BERTC_OK;
}

static bertc_status_t shape_unary(const ir_graph_t *g, const ir_node_t *n, ir_value_t *out) {
  BERTC_RETURN_IF_ERROR(expect_f32_any(n, 0, opnd(g, n, 0)));
  copy_type(out, opnd(g, n, 0));
  return BERTC_OK;
}

static bertc_status_t shape_layer_norm(const ir_graph_t *g, const ir_node_t *n,
                                       ir_value_t *out) {
  const ir_value_t *x = opnd(g, n, 0);
  BERTC_RETURN_IF_ERROR(expect_f32_any(n, 0, x));
  int64_t h = x->dims[x->rank - 1];
  BERTC_RETURN_IF_ERROR(expect_vec(n, 1, opnd(g, n, 1), h));
  BERTC_RETURN_IF_ERROR(expect_vec(n, 2, opnd(g, n, 2), h));
  copy_type(out, x);
  return BERTC_OK;
}

/* x[...,K] w[N,K] b[N] -> [...,N] */
static bertc_status_t linear_type(const ir_graph_t *g, const ir_node_t *n, ir_value_t *out) {
  const ir_value_t *x = opnd(g, n, 0), *w = opnd(g, n, 1);
  BERTC_RETURN_IF_ERROR(expect_f32_any(n, 0, x));
  BERTC_RETURN_IF_ERROR(expect(n, 1, w, IR_F32, 2));
  if (w->dims[1] != x->dims[x->rank - 1]) {
    char t[IR_TYPE_BUF], u[IR_TYPE_BUF];
    ir_format_type(x, t, sizeof t);
    ir_format_type(w, u, sizeof u);
    return SHAPE_ERR("%s: input %s does not match weight %s (weights are [out,in])",
                     ir_op_info(n->op)->name, t, u);
  }
  BERTC_RETURN_IF_ERROR(expect_vec(n, 2, opnd(g, n, 2), w->dims[0]));
  copy_type(out, x);
  out->dims[x->rank - 1] = w->dims[0];
  return BERTC_OK;
}

static bertc_status_t shape_linear(const ir_graph_t *g, const ir_node_t *n, ir_value_t *out) {
  if (n->iattr[0] < IR_ACT_NONE || n->iattr[0] >= IR_ACT_COUNT)
    return SHAPE_ERR("linear: unknown activation %lld", (long long)n->iattr[0]);
  return linear_type(g, n, out);
}

static bertc_status_t shape_linear_add_ln(const ir_graph_t *g, const ir_node_t *n,
                                          ir_value_t *out) {
  BERTC_RETURN_IF_ERROR(linear_type(g, n, out));
  BERTC_RETURN_IF_ERROR(expect_same(n, 3, opnd(g, n, 3), out));
  int64_t h = out->dims[out->rank - 1];
  BERTC_RETURN_IF_ERROR(expect_vec(n, 4, opnd(g, n, 4), h));
  return expect_vec(n, 5, opnd(g, n, 5), h);
}

static bertc_status_t shape_add_ln(const ir_graph_t *g, const ir_node_t *n, ir_value_t *out) {
  const ir_value_t *x = opnd(g, n, 0);
  BERTC_RETURN_IF_ERROR(expect_f32_any(n, 0, x));
  BERTC_RETURN_IF_ERROR(expect_same(n, 1, opnd(g, n, 1), x));
  int64_t h = x->dims[x->rank - 1];
  BERTC_RETURN_IF_ERROR(expect_vec(n, 2, opnd(g, n, 2), h));
  BERTC_RETURN_IF_ERROR(expect_vec(n, 3, opnd(g, n, 3), h));
  copy_type(out, x);
  return BERTC_OK;
}

/* --- int8 linear layers --- */

static bertc_status_t expect_act(const ir_node_t *n) {
  if (n->iattr[0] < IR_ACT_NONE || n->iattr[0] >= IR_ACT_COUNT)
    return SHAPE_ERR("%s: unknown activation %lld", ir_op_info(n->op)->name,
                     (long long)n->iattr[0]);
  return BERTC_OK;
}

/* An int8 weight i8[N,K] whose K matches x's last dim. */
static bertc_status_t expect_i8_weight(const ir_node_t *n, int i, const ir_value_t *w,
                                       const ir_value_t *x) {
  BERTC_RETURN_IF_ERROR(expect(n, i, w, IR_I8, 2));
  if (w->dims[1] == x->dims[x->rank - 1]) return BERTC_OK;
  char t[IR_TYPE_BUF], u[IR_TYPE_BUF];
  ir_format_type(x, t, sizeof t);
  ir_format_type(w, u, sizeof u);
  return SHAPE_ERR("%s: input %s does not match weight %s (weights are [out,in])",
                   ir_op_info(n->op)->name, t, u);
}

static bertc_status_t shape_quantize(const ir_graph_t *g, const ir_node_t *n, ir_value_t *out) {
  BERTC_RETURN_IF_ERROR(expect_f32_any(n, 0, opnd(g, n, 0)));
  copy_type(out, opnd(g, n, 0));
  out->dtype = IR_I32;
  return BERTC_OK;
}

static bertc_status_t shape_matmul_i8(const ir_graph_t *g, const ir_node_t *n, ir_value_t *out) {
  const ir_value_t *q = opnd(g, n, 0), *w = opnd(g, n, 1);
  if (q->dtype != IR_I32 || q->rank < 1)
    return SHAPE_ERR("matmul_i8: operand 0 must be i32 (quantize's codes) of rank >= 1");
  BERTC_RETURN_IF_ERROR(expect_i8_weight(n, 1, w, q));
  copy_type(out, q);
  out->dtype = IR_I32;
  out->dims[q->rank - 1] = w->dims[0];
  return BERTC_OK;
}

static bertc_status_t shape_dequantize(const ir_graph_t *g, const ir_node_t *n,
                                       ir_value_t *out) {
  const ir_value_t *acc = opnd(g, n, 0), *x = opnd(g, n, 1);
  BERTC_RETURN_IF_ERROR(expect_act(n));
  if (acc->dtype != IR_I32 || acc->rank < 1)
    return SHAPE_ERR("dequantize: operand 0 must be i32 of rank >= 1");
  BERTC_RETURN_IF_ERROR(expect_f32_any(n, 1, x));
  bool rows_match = acc->rank == x->rank;
  for (int i = 0; rows_match && i < acc->rank - 1; i++) rows_match = acc->dims[i] == x->dims[i];
  if (!rows_match) return SHAPE_ERR("dequantize: the accumulators' rows are not x's rows");
  int64_t nout = acc->dims[acc->rank - 1];
  BERTC_RETURN_IF_ERROR(expect_vec(n, 2, opnd(g, n, 2), nout));
  BERTC_RETURN_IF_ERROR(expect_vec(n, 3, opnd(g, n, 3), nout));
  copy_type(out, acc);
  out->dtype = IR_F32;
  return BERTC_OK;
}

static bertc_status_t shape_qlinear(const ir_graph_t *g, const ir_node_t *n, ir_value_t *out) {
  const ir_value_t *x = opnd(g, n, 0), *w = opnd(g, n, 1);
  if (n->num_operands != 4 && n->num_operands != 7)
    return SHAPE_ERR("qlinear takes 4 or 7 operands, got %d", n->num_operands);
  BERTC_RETURN_IF_ERROR(expect_act(n));
  BERTC_RETURN_IF_ERROR(expect_f32_any(n, 0, x));
  BERTC_RETURN_IF_ERROR(expect_i8_weight(n, 1, w, x));
  BERTC_RETURN_IF_ERROR(expect_vec(n, 2, opnd(g, n, 2), w->dims[0]));
  BERTC_RETURN_IF_ERROR(expect_vec(n, 3, opnd(g, n, 3), w->dims[0]));
  copy_type(out, x);
  out->dims[x->rank - 1] = w->dims[0];
  if (n->num_operands == 7) {
    BERTC_RETURN_IF_ERROR(expect_same(n, 4, opnd(g, n, 4), out));
    BERTC_RETURN_IF_ERROR(expect_vec(n, 5, opnd(g, n, 5), w->dims[0]));
    BERTC_RETURN_IF_ERROR(expect_vec(n, 6, opnd(g, n, 6), w->dims[0]));
  }
  return BERTC_OK;
}

static bool is_bsh(const ir_value_t *v) {
  return v->dtype == IR_F32 && v->rank == 3 && v->dims[0] == IR_DIM_BATCH &&
         v->dims[1] == IR_DIM_SEQ && v->dims[2] > 0;
}

static bertc_status_t expect_bsh(const ir_node_t *n, int i, const ir_value_t *v) {
  if (is_bsh(v)) return BERTC_OK;
  char t[IR_TYPE_BUF];
  ir_format_type(v, t, sizeof t);
  return SHAPE_ERR("%s: operand %d has type %s, expected f32[B,S,H]", ir_op_info(n->op)->name,
                   i, t);
}

static bertc_status_t check_heads(const ir_node_t *n, int64_t h) {
  int64_t a = n->iattr[0];
  if (a <= 0 || h % a != 0)
    return SHAPE_ERR("%s: %lld heads do not divide width %lld", ir_op_info(n->op)->name,
                     (long long)a, (long long)h);
  return BERTC_OK;
}

static bertc_status_t shape_attn_scores(const ir_graph_t *g, const ir_node_t *n,
                                        ir_value_t *out) {
  const ir_value_t *q = opnd(g, n, 0);
  BERTC_RETURN_IF_ERROR(expect_bsh(n, 0, q));
  BERTC_RETURN_IF_ERROR(expect_same(n, 1, opnd(g, n, 1), q));
  BERTC_RETURN_IF_ERROR(check_heads(n, q->dims[2]));
  out->rank = 4;
  out->dims[0] = IR_DIM_BATCH;
  out->dims[1] = n->iattr[0];
  out->dims[2] = IR_DIM_SEQ;
  out->dims[3] = IR_DIM_SEQ;
  return BERTC_OK;
}

static bertc_status_t expect_scores(const ir_node_t *n, int i, const ir_value_t *v) {
  if (v->dtype == IR_F32 && v->rank == 4 && v->dims[0] == IR_DIM_BATCH && v->dims[1] > 0 &&
      v->dims[2] == IR_DIM_SEQ && v->dims[3] == IR_DIM_SEQ)
    return BERTC_OK;
  return SHAPE_ERR("%s: operand %d must be f32[B,A,S,S]", ir_op_info(n->op)->name, i);
}

static bertc_status_t shape_attn_mask(const ir_graph_t *g, const ir_node_t *n, ir_value_t *out) {
  BERTC_RETURN_IF_ERROR(expect_scores(n, 0, opnd(g, n, 0)));
  BERTC_RETURN_IF_ERROR(expect_ids(n, 1, opnd(g, n, 1)));
  copy_type(out, opnd(g, n, 0));
  return BERTC_OK;
}

static bertc_status_t shape_attn_context(const ir_graph_t *g, const ir_node_t *n,
                                         ir_value_t *out) {
  const ir_value_t *p = opnd(g, n, 0), *v = opnd(g, n, 1);
  BERTC_RETURN_IF_ERROR(expect_scores(n, 0, p));
  BERTC_RETURN_IF_ERROR(expect_bsh(n, 1, v));
  BERTC_RETURN_IF_ERROR(check_heads(n, v->dims[2]));
  if (p->dims[1] != n->iattr[0])
    return SHAPE_ERR("attn_context: probabilities have %lld heads, attribute says %lld",
                     (long long)p->dims[1], (long long)n->iattr[0]);
  copy_type(out, v);
  return BERTC_OK;
}

static bertc_status_t shape_attention(const ir_graph_t *g, const ir_node_t *n, ir_value_t *out) {
  const ir_value_t *q = opnd(g, n, 0);
  BERTC_RETURN_IF_ERROR(expect_bsh(n, 0, q));
  if (n->num_operands == 2) { /* packed qkv, mask */
    if (q->dims[2] % 3 != 0)
      return SHAPE_ERR("attention: packed qkv width %lld is not a multiple of 3",
                       (long long)q->dims[2]);
    BERTC_RETURN_IF_ERROR(expect_ids(n, 1, opnd(g, n, 1)));
    copy_type(out, q);
    out->dims[2] = q->dims[2] / 3;
  } else {
    BERTC_RETURN_IF_ERROR(expect_same(n, 1, opnd(g, n, 1), q));
    BERTC_RETURN_IF_ERROR(expect_same(n, 2, opnd(g, n, 2), q));
    if (n->num_operands == 4) BERTC_RETURN_IF_ERROR(expect_ids(n, 3, opnd(g, n, 3)));
    copy_type(out, q);
  }
  return check_heads(n, out->dims[2]);
}

/* One row per sequence: x[B,S,H] -> [B,H]. */
static void per_sequence_type(ir_value_t *out, const ir_value_t *x) {
  out->rank = 2;
  out->dims[0] = IR_DIM_BATCH;
  out->dims[1] = x->dims[2];
}

static bertc_status_t shape_select_token(const ir_graph_t *g, const ir_node_t *n,
                                         ir_value_t *out) {
  const ir_value_t *x = opnd(g, n, 0);
  BERTC_RETURN_IF_ERROR(expect_bsh(n, 0, x));
  if (n->iattr[0] < 0) return SHAPE_ERR("select_token: negative index");
  per_sequence_type(out, x);
  return BERTC_OK;
}

static bertc_status_t shape_pool(const ir_graph_t *g, const ir_node_t *n, ir_value_t *out) {
  const ir_value_t *x = opnd(g, n, 0);
  BERTC_RETURN_IF_ERROR(expect_bsh(n, 0, x));
  BERTC_RETURN_IF_ERROR(expect_ids(n, 1, opnd(g, n, 1)));
  per_sequence_type(out, x);
  return BERTC_OK;
}

static bertc_status_t shape_concat(const ir_graph_t *g, const ir_node_t *n, ir_value_t *out) {
  const ir_value_t *a = opnd(g, n, 0);
  BERTC_RETURN_IF_ERROR(expect_f32_any(n, 0, a));
  copy_type(out, a);
  int last = a->rank - 1;
  for (int i = 1; i < n->num_operands; i++) {
    const ir_value_t *b = opnd(g, n, i);
    bool ok = b->dtype == IR_F32 && b->rank == a->rank;
    for (int d = 0; ok && d < last; d++) ok = b->dims[d] == a->dims[d];
    if (!ok) return SHAPE_ERR("concat: operand %d does not match operand 0 but in the last dim", i);
    out->dims[last] += b->dims[last];
  }
  return BERTC_OK;
}

static bertc_status_t shape_slice_last(const ir_graph_t *g, const ir_node_t *n,
                                       ir_value_t *out) {
  const ir_value_t *x = opnd(g, n, 0);
  BERTC_RETURN_IF_ERROR(expect_f32_any(n, 0, x));
  int64_t len = x->dims[x->rank - 1], begin = n->iattr[0], size = n->iattr[1];
  if (len <= 0 || begin < 0 || size <= 0 || begin > len - size)
    return SHAPE_ERR("slice_last: [%lld, %lld) is outside a last dim of %lld", (long long)begin,
                     (long long)(begin + size), (long long)len);
  if (n->iattr[2] && (size != 1 || x->rank < 2))
    return SHAPE_ERR("slice_last: squeeze needs size 1 and rank >= 2");
  copy_type(out, x);
  if (n->iattr[2])
    out->rank--;
  else
    out->dims[x->rank - 1] = size;
  return BERTC_OK;
}
