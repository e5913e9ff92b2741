/* The graph IR.
 *
 * A graph is two growable arrays: values (tensors) and nodes (ops). Both are
 * referred to by index, never by pointer, so a graph can be copied, printed
 * and compared without fixing up addresses. A value is an input, a constant
 * (weights, with data owned by the graph), or a temporary produced by exactly
 * one node. Nodes are kept in a valid execution order (every operand defined
 * before use); passes that reorder keep that invariant.
 *
 * Shapes are static except for two symbolic dims, the batch B and sequence
 * length S, bound when the graph is run or compiled for a (batch, seq) bucket.
 *
 * Every op is defined once in ir/ops.def. */
#ifndef BERTC_IR_H
#define BERTC_IR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "bertc/status.h"

#define IR_MAX_RANK 4
#define IR_MAX_OPERANDS 8
#define IR_MAX_IATTRS 4
#define IR_MAX_FATTRS 2
#define IR_DIM_BATCH (-1)
#define IR_DIM_SEQ (-2)
#define IR_NONE (-1)

typedef enum ir_op_e {
#define IR_OP(e, name, mn, mx, ia, fa, shape, kernel, in_place, doc) IR_OP_##e,
#include "ir/ops.def"
#undef IR_OP
  IR_OP_COUNT
} ir_op_t;

typedef enum ir_dtype_e { IR_F32 = 0, IR_I32 = 1, IR_I8 = 2 } ir_dtype_t;
/* Bytes per element: 4 for f32 and i32, 1 for i8. */
int ir_dtype_size(ir_dtype_t dtype);

typedef enum ir_value_kind_e {
  IR_VALUE_INPUT = 0, /* fed by the caller: input_ids, token_type_ids, attention_mask */
  IR_VALUE_CONST = 1, /* weights and folded constants; data owned by the graph */
  IR_VALUE_TEMP = 2,  /* produced by one node */
} ir_value_kind_t;

/* Memory layout of a value's data. PANEL is a linear weight [N,K] stored as
 * ceil(N/P) panels, each [K][P] with P = layout_param; columns past N are 0.
 * Element (n, k) lives at ((n / P) * K + k) * P + n % P. An i8 PANEL weight
 * (qlinear) is ceil(N/P) panels of [ceil(K/4)][P][4] bytes, the layout
 * vpdpbusd reads: element (n, k) at (((n / P) * ceil(K/4) + k / 4) * P + n % P) * 4
 * + k % 4, zero past N and K; after the panels, ceil(N/P) * P int32 column sums
 * (sum over k of w[n,k], 0 past N). */
typedef enum ir_layout_e { IR_LAYOUT_ROW_MAJOR = 0, IR_LAYOUT_PANEL = 1 } ir_layout_t;

/* Activation functions (ir/acts.def): the "act" attribute of linear, whose
 * values are also the kernels' activation codes. */
typedef enum ir_act_e {
  IR_ACT_NONE = 0,
#define IR_ACT(e, name, config_names, doc) IR_ACT_##e,
#include "ir/acts.def"
#undef IR_ACT
  IR_ACT_COUNT
} ir_act_t;

typedef struct ir_value {
  char *name; /* optional: weights keep their checkpoint name, inputs their role */
  ir_dtype_t dtype;
  int32_t rank;
  int64_t dims[IR_MAX_RANK]; /* literal sizes or IR_DIM_BATCH / IR_DIM_SEQ */
  ir_value_kind_t kind;
  int32_t producer; /* node index for temporaries, IR_NONE otherwise */
  ir_layout_t layout;
  int32_t layout_param;
  /* Constants only: element data (f32 or i32) and its size in bytes
   * (may exceed the logical size for padded layouts). */
  const void *data;
  uint64_t data_bytes;
} ir_value_t;

typedef struct ir_node {
  ir_op_t op;
  int32_t num_operands;
  int32_t operands[IR_MAX_OPERANDS];
  int32_t result;
  int64_t iattr[IR_MAX_IATTRS];
  float fattr[IR_MAX_FATTRS];
} ir_node_t;

typedef struct ir_output {
  char *name; /* "last_hidden_state", "pooler_output", "logits", ... */
  int32_t value;
} ir_output_t;

typedef struct ir_graph {
  char *name;
  ir_value_t *values;
  size_t num_values, cap_values;
  ir_node_t *nodes;
  size_t num_nodes, cap_nodes;
  ir_output_t *outputs;
  size_t num_outputs, cap_outputs;
  /* The three inputs by role (IR_NONE when the graph does not use one). */
  int32_t input_ids, token_type_ids, attention_mask;
  /* Owned storage behind constants' data, freed with the graph. */
  void **buffers;
  size_t num_buffers, cap_buffers;
} ir_graph_t;

/* --- The op table (ir/ops.def) and the activation table (ir/acts.def) --- */
typedef struct ir_op_info {
  const char *name;
  int min_operands, max_operands;
  const char *iattrs; /* comma-separated names */
  const char *fattrs;
  bool in_place; /* may write its result over its first operand */
  const char *doc;
} ir_op_info_t;
const ir_op_info_t *ir_op_info(ir_op_t op);
/* Looks an op up by name; IR_OP_COUNT when unknown. */
ir_op_t ir_op_from_name(const char *name);
/* Number of attributes an op has, and the name of attribute i. */
int ir_op_num_iattrs(ir_op_t op);
int ir_op_num_fattrs(ir_op_t op);
/* Copies attribute i's name into buf; returns false if i is out of range. */
bool ir_op_iattr_name(ir_op_t op, int i, char *buf, size_t size);
bool ir_op_fattr_name(ir_op_t op, int i, char *buf, size_t size);

typedef struct ir_act_info {
  const char *name;         /* the text form's spelling; "none" for IR_ACT_NONE */
  const char *config_names; /* config.json hidden_act values, comma-separated */
  ir_op_t op;               /* the unary op computing it; IR_OP_COUNT for none */
} ir_act_info_t;
/* NULL when act is not an ir_act_t. */
const ir_act_info_t *ir_act_info(ir_act_t act);
const char *ir_act_name(ir_act_t act);
/* The activation a unary op computes; IR_ACT_NONE for every other op. */
ir_act_t ir_op_act(ir_op_t op);
/* Looks an activation up by its name ("none" included), or by a
 * config.json hidden_act value; IR_ACT_COUNT when unknown. */
ir_act_t ir_act_from_name(const char *name);
ir_act_t ir_act_from_config_name(const char *hidden_act);
/* The names each of them accepts, ", "-separated, into buf (truncated). */
void ir_act_names(char *buf, size_t size);
void ir_act_config_names(char *buf, size_t size);
const char *ir_dtype_name(ir_dtype_t dtype);

/* --- Building graphs --- */
bertc_status_t ir_graph_create(const char *name, ir_graph_t **out) BERTC_MUST_USE;
void ir_graph_destroy(ir_graph_t *g);
/* Deep copy (constant data included). */
bertc_status_t ir_graph_clone(const ir_graph_t *g, ir_graph_t **out) BERTC_MUST_USE;

/* Adds an input value. role: "input_ids", "token_type_ids" or "attention_mask". */
bertc_status_t ir_add_input(ir_graph_t *g, const char *role, int32_t *out) BERTC_MUST_USE;
/* Adds a constant. The graph takes ownership of `data` (malloc'd), which
 * holds data_bytes bytes. */
bertc_status_t ir_add_const(ir_graph_t *g, const char *name, ir_dtype_t dtype, int rank,
                            const int64_t *dims, void *data, uint64_t data_bytes,
                            int32_t *out) BERTC_MUST_USE;
/* Adds a constant that shares another constant's data (e.g. tied weights). */
bertc_status_t ir_add_const_alias(ir_graph_t *g, const char *name, int32_t of,
                                  int32_t *out) BERTC_MUST_USE;
/* Appends a node; infers the result's dtype and shape from the op table and
 * checks operand counts and shapes (errors name the op). */
bertc_status_t ir_add_node(ir_graph_t *g, ir_op_t op, int num_operands, const int32_t *operands,
                           const int64_t *iattr, const float *fattr,
                           int32_t *out_result) BERTC_MUST_USE;
bertc_status_t ir_add_output(ir_graph_t *g, const char *name, int32_t value) BERTC_MUST_USE;
/* Takes ownership of a buffer (for constants whose data points into it). */
bertc_status_t ir_graph_own(ir_graph_t *g, void *buffer) BERTC_MUST_USE;

/* Removes the nodes i with remove_node[i] and the values v with
 * remove_value[v] (either array may be NULL: none), keeping the order of the
 * rest and renumbering operands, results, producers, outputs and input
 * roles. A removed constant's data is freed unless a kept constant points
 * into it. Fails with INTERNAL, changing nothing, when something kept refers
 * to something removed. */
bertc_status_t ir_graph_remove(ir_graph_t *g, const bool *remove_node,
                               const bool *remove_value) BERTC_MUST_USE;

/* Infers a node's result type into *out (name/kind/producer untouched). */
bertc_status_t ir_infer(const ir_graph_t *g, const ir_node_t *n, ir_value_t *out) BERTC_MUST_USE;

/* --- Queries --- */
static inline ir_value_t *ir_value(const ir_graph_t *g, int32_t v) { return &g->values[v]; }
static inline ir_node_t *ir_node(const ir_graph_t *g, int32_t n) { return &g->nodes[n]; }
/* A dim with B and S bound. */
static inline int64_t ir_dim_bind(int64_t d, int64_t batch, int64_t seq) {
  return d == IR_DIM_BATCH ? batch : d == IR_DIM_SEQ ? seq : d;
}
/* Element count of a value for a bucket (logical, not padded layout). */
int64_t ir_value_numel(const ir_value_t *v, int64_t batch, int64_t seq);
/* Number of nodes that use value v as an operand, and whether it is an output. */
int ir_value_use_count(const ir_graph_t *g, int32_t v);
bool ir_value_is_output(const ir_graph_t *g, int32_t v);
/* Rewrites every use of `from` (operands and outputs) to `to`. */
void ir_replace_uses(ir_graph_t *g, int32_t from, int32_t to);
/* Counts nodes per op into counts[IR_OP_COUNT]. */
void ir_count_ops(const ir_graph_t *g, size_t *counts);
/* Element of a row-major or panel-layout [N,K] constant (f32 or i8). */
float ir_weight_at(const ir_value_t *w, int64_t n, int64_t k);
/* Bytes of constant data reachable from nodes (each buffer counted once). */
uint64_t ir_graph_const_bytes(const ir_graph_t *g);

/* A value's type as the text form spells it, "f32[B,S,384]", with
 * " panel(32)" for a non-default layout; truncated to size (IR_TYPE_BUF
 * always holds it). */
#define IR_TYPE_BUF 192
void ir_format_type(const ir_value_t *v, char *buf, size_t size);
/* Same dtype, rank, dims and layout. */
bool ir_same_type(const ir_value_t *a, const ir_value_t *b);
/* Bytes of data a constant's type and layout need: numel * 4 row-major,
 * ceil(N/P) * P * K * 4 for panels. False when a dim is not a positive size
 * or the size overflows. */
bool ir_const_bytes(const ir_value_t *v, uint64_t *out);

/* --- Text form (ir/text.c) ---
 * ir_print writes the whole graph; constants with data print it as hex
 * (flags & IR_PRINT_ELIDE_DATA prints a hash instead, which does not parse). */
#define IR_PRINT_ELIDE_DATA 1u
bertc_status_t ir_print(const ir_graph_t *g, FILE *f, unsigned flags) BERTC_MUST_USE;
bertc_status_t ir_print_to_string(const ir_graph_t *g, unsigned flags, char **out) BERTC_MUST_USE;
/* Parses text produced by ir_print (without ELIDE_DATA). `source` names the
 * input in error messages ("file.ir:12:5: ..."). */
bertc_status_t ir_parse(const char *text, size_t len, const char *source,
                        ir_graph_t **out) BERTC_MUST_USE;

/* --- Verifier (ir/verify.c) --- */
bertc_status_t ir_verify(const ir_graph_t *g) BERTC_MUST_USE;

/* --- Reference interpreter (ir/interp.c) --- */
typedef struct ir_tensor {
  ir_dtype_t dtype;
  int32_t rank;
  int64_t dims[IR_MAX_RANK]; /* bound */
  void *data;                /* malloc'd, owned by whoever holds the tensor */
} ir_tensor_t;
/* Runs the graph for one (batch, seq) on inputs of shape [batch, seq]
 * (token_type_ids NULL = zeros, attention_mask NULL = ones). Fills
 * outputs[0..num_outputs) in graph output order; free with ir_tensor_deinit. */
bertc_status_t ir_interpret(const ir_graph_t *g, int64_t batch, int64_t seq,
                            const int32_t *input_ids, const int32_t *token_type_ids,
                            const int32_t *attention_mask, ir_tensor_t *outputs) BERTC_MUST_USE;
/* Evaluates one node whose operands are all constants (batch = seq = 1
 * binding is not allowed: the result must have static dims). Used by
 * constant folding. */
bertc_status_t ir_eval_const_node(const ir_graph_t *g, int32_t node, void **out_data,
                                  uint64_t *out_bytes) BERTC_MUST_USE;
void ir_tensor_deinit(ir_tensor_t *t);
int64_t ir_tensor_numel(const ir_tensor_t *t);

#endif
