/* Internal to passes/: the pass entry points, and the graph-rewriting helpers
 * every pass is written with.
 *
 * A pass opens a rewrite (rw_begin), looks at nodes in execution order and,
 * where a pattern matches, turns the pattern's last node (its *root*) into
 * the replacement with rw_replace: the root keeps its result value, so every
 * user still reads the same value, and since the root runs after every node
 * of the pattern, the replacement's operands are all defined by then. The
 * nodes the replacement absorbs are handed to rw_absorb, which marks them
 * dead once nothing live reads them. rw_end then compacts the graph: dead
 * nodes go, with the temporaries no node produces any more and the constants
 * the pass stopped reading (their data is freed unless another constant still
 * points at it); values and nodes are renumbered, keeping their order.
 *
 * Passes never add nodes, only constants (rw_add_const), and key the
 * constants they derive from weights (scaled, concatenated) by the
 * source data in a memo, so weights shared between layers (ALBERT, tied
 * embeddings) are transformed once. */
#ifndef BERTC_PASSES_REWRITE_H
#define BERTC_PASSES_REWRITE_H

#include <stdbool.h>
#include <stdint.h>

#include "bertc/status.h"
#include "ir/ir.h"
#include "passes/passes.h"

/* --- The passes (one file each) --- */
bertc_status_t pass_dce(ir_graph_t *g, const pass_options_t *o) BERTC_MUST_USE;
bertc_status_t pass_fold_constants(ir_graph_t *g, const pass_options_t *o) BERTC_MUST_USE;
bertc_status_t pass_canonicalize(ir_graph_t *g, const pass_options_t *o) BERTC_MUST_USE;
bertc_status_t pass_fuse_embeddings(ir_graph_t *g, const pass_options_t *o) BERTC_MUST_USE;
bertc_status_t pass_fuse_attention(ir_graph_t *g, const pass_options_t *o) BERTC_MUST_USE;
bertc_status_t pass_merge_qkv(ir_graph_t *g, const pass_options_t *o) BERTC_MUST_USE;
bertc_status_t pass_fuse_linear_act(ir_graph_t *g, const pass_options_t *o) BERTC_MUST_USE;
bertc_status_t pass_fuse_linear_add_ln(ir_graph_t *g, const pass_options_t *o) BERTC_MUST_USE;
bertc_status_t pass_quantize_int8(ir_graph_t *g, const pass_options_t *o) BERTC_MUST_USE;
bertc_status_t pass_fuse_int8(ir_graph_t *g, const pass_options_t *o) BERTC_MUST_USE;
/* A linear or linear_add_ln that quantize-int8 rewrites (input of rank 3, an
 * f32 row-major constant weight). */
bool pass_int8_is_candidate(const ir_graph_t *g, const ir_node_t *n);
/* quantize-int8's weight rule: q (n*k) and scale (n) of row-major w[n,k]. */
void pass_quantize_weight_rows(const float *w, int64_t n, int64_t k, int8_t *q, float *scale);

/* --- Rewriting --- */

/* A derived constant's key: what was done (a static string), to which data
 * (up to 6 source pointers, unused ones NULL) and with which parameters. */
typedef struct rw_key {
  const char *what;
  const void *src[6];
  uint64_t param[2];
} rw_key_t;

typedef struct rw_memo_entry {
  rw_key_t key;
  int32_t values[2];
} rw_memo_entry_t;

typedef struct rw {
  ir_graph_t *g;
  size_t num_nodes;        /* passes do not add nodes */
  size_t num_start_values; /* values when the rewrite began */
  bool *dead;              /* per node: absorbed, removed by rw_end */
  bool *was_read;          /* per starting value: read by a node or named by an output */
  bool drop_unread_constants; /* rw_end drops every constant nothing reads (dce) */
  rw_memo_entry_t *memo;
  size_t num_memo, cap_memo;
} rw_t;

bertc_status_t rw_begin(rw_t *rw, ir_graph_t *g) BERTC_MUST_USE;
/* Compacts the graph (when status is OK), frees the rewrite state and
 * returns status (or the compaction's error). */
bertc_status_t rw_end(rw_t *rw, bertc_status_t status) BERTC_MUST_USE;

/* Reads of value v by live nodes. */
int rw_uses(const rw_t *rw, int32_t v);
/* v is a temporary read exactly once by a live node and is not an output:
 * the node producing it may be absorbed into its reader. */
bool rw_single_use(const rw_t *rw, int32_t v);
/* The live node producing v when its op is `op`, else IR_NONE. */
int32_t rw_def(const rw_t *rw, int32_t v, ir_op_t op);
/* v is a constant (of any layout) with data. */
bool rw_is_const(const rw_t *rw, int32_t v);

/* Turns node `node` into op(operands){iattr, fattr} (attributes not given
 * are 0) if the result type ir_infer computes equals the node's current
 * result type; returns false and leaves the node alone otherwise. */
bool rw_replace(rw_t *rw, int32_t node, ir_op_t op, int num_operands, const int32_t *operands,
                const int64_t *iattr, const float *fattr);
/* The same, but the result value takes whatever type the new node has (its
 * name is dropped: it no longer holds what the name said). The caller makes
 * sure every reader of the result accepts the new type. */
bool rw_replace_retype(rw_t *rw, int32_t node, ir_op_t op, int num_operands,
                       const int32_t *operands, const int64_t *iattr, const float *fattr);
/* Marks node dead if no live node reads its result and it is not an output.
 * Absorb a pattern's nodes from the root backwards (readers first). */
void rw_absorb(rw_t *rw, int32_t node);
/* Removes node, an identity: every read of its result (operands of live
 * nodes and outputs) reads `to` instead, and the node is marked dead. */
void rw_forward(rw_t *rw, int32_t node, int32_t to);

/* Adds a constant (the graph takes `data`, even on error). */
bertc_status_t rw_add_const(rw_t *rw, const char *name, ir_dtype_t dtype, int rank,
                            const int64_t *dims, ir_layout_t layout, int32_t layout_param,
                            void *data, uint64_t data_bytes, int32_t *out) BERTC_MUST_USE;
/* The values a memo entry holds for key, or false. */
bool rw_memo_find(const rw_t *rw, const rw_key_t *key, int32_t out[2]);
bertc_status_t rw_memo_add(rw_t *rw, const rw_key_t *key, int32_t v0, int32_t v1) BERTC_MUST_USE;

/* "<prefix><name of v, or %v><suffix>" into buf (truncated to fit). */
const char *rw_derived_name(const rw_t *rw, char *buf, size_t size, const char *prefix, int32_t v,
                            const char *suffix);

#endif
