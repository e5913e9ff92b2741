/* Lowering: an optimized graph -> the program codegen turns into a .so.
 *
 * lower_program lays out the weights blob (every constant a node reads,
 * 64-byte aligned, each distinct buffer once, then the AMX parts the weight
 * layout made), plans memory for every bucket (passes/memory_plan.h), and
 * turns each node into kernel calls with constant sizes and region offsets
 * (backend/program.h). The weights must already be in the layout of the
 * gemm mode's kernels (backend/layout.h). */
#ifndef BERTC_BACKEND_LOWER_H
#define BERTC_BACKEND_LOWER_H

#include <stdbool.h>

#include "backend/program.h"
#include "ir/ir.h"

/* Which kernels run the linear layers; each reads the weights in its own
 * layout, which backend/layout.c gives them. */
typedef enum lower_gemm_e {
  LOWER_GEMM_BERTC = 0, /* bk_gemm on BK_GEMM_NR-wide weight panels (default) */
  LOWER_GEMM_AMX = 1,   /* the same, and bk_gemm_amx where a layer has enough rows per
                           thread (bk_gemm_use_amx); the target must have AMX-BF16 (the
                           driver checks) */
  LOWER_GEMM_BLAS = 2,  /* bk_gemm_blas through env->sgemm, on row-major weights */
} lower_gemm_t;

typedef struct lower_options {
  int threads;       /* threads the task splits are planned for */
  lower_gemm_t gemm; /* LOWER_GEMM_BERTC */
  int int8_level;    /* the target's int8 instructions (cg_target_int8_level): which
                        bk_qgemm_* variant runs qlinear; 0 the portable one */
} lower_options_t;

void lower_options_init(lower_options_t *o);

/* The (batch, seq) buckets: (batches[i], seqs[j]) for every pair; and the
 * token buckets (abi.h), tokens[i] tokens each. */
typedef struct lower_buckets {
  const int64_t *batches;
  size_t num_batches;
  const int64_t *seqs;
  size_t num_seqs;
  const int64_t *tokens;
  size_t num_tokens;
} lower_buckets_t;

/* A token bucket of `tokens` tokens (a multiple of LOWER_TOKEN_MULTIPLE)
 * takes at most tokens / 2 sequences. Its graph is planned and lowered with
 * the symbolic dims bound to B = tokens / 2 and S = 2: a value [B, S, ...]
 * then has exactly `tokens` rows, one per token, and a value [B, ...] one row
 * per sequence, so the memory plan and every row-wise rule serve it
 * unchanged; the ops that see sequences (embeddings, attention, pooling)
 * lower to their packed kernels. */
#define LOWER_TOKEN_MULTIPLE 16
static inline void lower_token_dims(int64_t tokens, int64_t *batch, int64_t *seq) {
  *batch = tokens / 2;
  *seq = 2;
}

/* OK when the graph can run packed: every per-token value is [B, S, ...]
 * and attention is fused (passes/fuse-attention); else why not. */
bertc_status_t lower_check_packable(const ir_graph_t *g) BERTC_MUST_USE;

/* How a linear or linear_add_ln node runs at one bucket: one decision for
 * lowering, which emits it, and for the weight layout, which makes the AMX
 * parts of exactly the weights that some bucket multiplies on AMX tiles. */
typedef enum lower_kernel_e {
  LOWER_KERNEL_GEMM = 0,       /* bk_gemm: weights in panels */
  LOWER_KERNEL_GEMM_AMX = 1,   /* bk_gemm_amx: the panels' AMX parts */
  LOWER_KERNEL_GEMM_BLAS = 2,  /* bk_gemm_blas: row-major weights, env->sgemm */
  LOWER_KERNEL_ROWMAJOR = 3,   /* bk_linear_rowmajor: row-major weights, bertc's loops */
} lower_kernel_t;

typedef struct lower_gemm_plan {
  lower_kernel_t kernel;
  int64_t m, n, k;
  int64_t m_block, n_block; /* the GEMMs' tiling */
  bool ln_apart;            /* linear_add_ln on panels: the LayerNorm runs after the GEMM */
} lower_gemm_plan_t;

void lower_plan_gemm(const ir_graph_t *g, const ir_node_t *n, int64_t batch, int64_t seq,
                     const lower_options_t *o, lower_gemm_plan_t *out);

/* Owns everything cg_program_t points to but the metadata and the tokenizer
 * blob, which the caller sets. */
typedef struct lower_result {
  cg_program_t program;
  uint8_t *weights;
  bertc_abi_tensor_t inputs[3];
  bertc_abi_tensor_t *outputs;
} lower_result_t;

struct layout;
/* layout: the weight layout's result (its AMX parts); NULL when it made none.
 * model_name must be identifier-safe. */
bertc_status_t lower_program(const ir_graph_t *g, const struct layout *layout,
                             const char *model_name, const lower_buckets_t *buckets,
                             const lower_options_t *o, lower_result_t *out) BERTC_MUST_USE;
void lower_result_deinit(lower_result_t *r);

#endif
