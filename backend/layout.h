/* The weights' layout: how each gemm mode's kernels read a linear layer's
 * weights, decided in this one backend step. The driver runs it on the
 * optimized graph after the graph passes and before lowering, for the gemm
 * mode of the lowering options:
 *
 *   bertc  Every linear and linear_add_ln weight that is a row-major f32
 *          [N, K] constant becomes a constant with the same elements in
 *          IR_LAYOUT_PANEL (layout_param BK_GEMM_NR): ceil(N / NR) panels of
 *          [K][NR], zero-padded past N, made by the kernel library's own
 *          bk_pack_weights, so the layout is by construction the one bk_gemm
 *          reads.
 *   amx    The same panels and, for each weight that some bucket multiplies
 *          on AMX tiles (lower_plan_gemm decides, as lowering will), the
 *          three bf16 parts bk_gemm_amx reads (bk_pack_weights_amx), which
 *          lowering appends to the weights blob. They are made here, at
 *          compile time, in scalar code: the compiling host needs no AMX.
 *   blas   The weights stay row-major: the host's sgemm reads w[N,K]
 *          transposed.
 *
 * Panels are a layout, not a change of values: ir_weight_at reads element
 * (n, k) from either, so the interpreter's results are bit for bit the same.
 * Each distinct weight (by its data and shape) is packed once, so ALBERT's
 * shared layers and tied embeddings share one packed copy; the row-major
 * original is dropped unless something else (say, embed_ln reading a tied
 * embedding table) still reads it. Weights already in panels stay as they
 * are. */
#ifndef BERTC_BACKEND_LAYOUT_H
#define BERTC_BACKEND_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

#include "backend/lower.h"
#include "bertc/status.h"
#include "ir/ir.h"

typedef struct layout {
  size_t num_values; /* of the graph after the step */
  /* Per value: the AMX parts of a panel weight (bk_packed_amx_bytes(N, K)
   * bytes), or NULL. NULL itself when no weight has them. */
  uint16_t **amx;
} layout_t;

/* Rewrites g's linear weights into the layout of o->gemm's kernels and makes
 * the AMX parts the buckets need. */
bertc_status_t layout_weights(ir_graph_t *g, const lower_options_t *o,
                              const lower_buckets_t *buckets, layout_t *out) BERTC_MUST_USE;
void layout_deinit(layout_t *l);

#endif
