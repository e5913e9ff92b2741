/* The pass manager: graph -> graph optimizations, run from one table.
 *
 * A pass is a function that rewrites the graph in place and keeps every
 * invariant ir_verify checks; it must preserve what the graph computes (the
 * reference interpreter gives the same outputs before and after) and be
 * deterministic. The default pipeline is
 *
 *   dce, fold-constants, canonicalize, fuse-embeddings, fuse-attention,
 *   merge-qkv, fuse-linear-act, fuse-linear-add-ln, dce
 *
 * and, for int8 (pass_options_t.int8), quantize-int8, fuse-int8, dce after it:
 * quantize-int8 is the one pass that changes what the graph computes, on
 * purpose (the int8 ops of ir/ops.def define the result exactly).
 *
 * docs/passes.md says what each pass matches and why it is legal. The memory
 * plan (passes/memory_plan.h) is not a graph rewrite and is not in the table:
 * lowering runs it per bucket. Neither is the weights' layout for the GEMM
 * kernels, which the backend chooses after the passes (backend/layout.h). */
#ifndef BERTC_PASSES_H
#define BERTC_PASSES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "bertc/status.h"
#include "ir/ir.h"

typedef struct pass_options {
  int threads;             /* threads the compiled model will use (no pass depends on it yet) */
  bool verify_each;        /* ir_verify before the first pass and after every pass */
  const char *print_after; /* NULL, a pass name, or "all": ir_print (data elided) after it */
  FILE *print_file;        /* where --print-after goes; NULL = stderr */
  bool stats;              /* per-pass table: nodes, constant bytes, time */
  FILE *stats_file;        /* NULL = stderr */
  /* int8: the default pipeline ends with quantize-int8 and fuse-int8 (linear layers
   * applied to every token get int8 weights and activations). keep_fp32: NULL or
   * a comma-separated list of weight names (as the checkpoint names them, e.g.
   * "encoder.layer.5.output.dense.weight") whose layers quantize-int8 leaves in fp32. */
  bool int8;
  const char *keep_fp32;
} pass_options_t;

void pass_options_init(pass_options_t *o);

/* Runs a pipeline on g. passes: NULL for the default pipeline, "none" for no
 * pass, or a comma-separated list of pass names run in that order (a name
 * may repeat). disabled: NULL or a comma-separated list of names dropped
 * from the pipeline. Unknown names are INVALID_ARGUMENT errors that list the
 * valid ones; a failing pass or verification names the pass. o may be NULL
 * (defaults). */
bertc_status_t pass_run_pipeline(ir_graph_t *g, const char *passes, const char *disabled,
                                 const pass_options_t *o) BERTC_MUST_USE;

/* The f32 weights of the linear layers quantize-int8 would rewrite, in graph
 * order (names or NULL); *out is malloc'd, the names point into g. */
bertc_status_t pass_int8_candidates(const ir_graph_t *g, const char ***out,
                                    size_t *count) BERTC_MUST_USE;

/* The int8 sensitivity of each layer pass_int8_candidates lists (same order),
 * into err[]: the relative error ||int8(x) - fp32(x)|| / ||fp32(x)|| of the
 * layer's linear product (bias included, before any activation, residual or
 * LayerNorm) on the inputs x the fp32 graph g gives it for `batch` sequences of
 * `seq` tokens (ids, mask [batch*seq]; the interpreter runs g once), the int8
 * side computed by the interpreter's qlinear. */
bertc_status_t pass_int8_sensitivity(const ir_graph_t *g, int64_t batch, int64_t seq,
                                     const int32_t *ids, const int32_t *mask,
                                     double *err) BERTC_MUST_USE;

/* The passes of the table (each once, in default-pipeline order). */
size_t pass_count(void);
const char *pass_name(size_t i);
const char *pass_summary(size_t i);

#endif
