/* What bk_gemm, bk_gemm_blas and bk_gemm_amx share (internal header): which
 * output block a task computes, and the fused LayerNorm over finished rows. */
#ifndef BERTC_KERNELS_GEMM_BLOCK_H
#define BERTC_KERNELS_GEMM_BLOCK_H

#include "kernels/rows.h"
#include "kernels/simd.h"

/* The output block of task `task`: rows [*i0, *i1), columns [*j0, *j1);
 * tasks are row-block major, task = mi * ceil(n / n_block) + ni. */
BK_INLINE void bk_gemm_block(int64_t task, int64_t m, int64_t n, int64_t m_block,
                             int64_t n_block, int64_t *i0, int64_t *i1, int64_t *j0,
                             int64_t *j1) {
  int64_t nbn = BK_CEIL_DIV(n, n_block);
  *i0 = task / nbn * m_block;
  *j0 = task % nbn * n_block;
  *i1 = BK_MIN(m, *i0 + m_block);
  *j1 = BK_MIN(n, *j0 + n_block);
}

/* The fused LayerNorm over the finished rows [i0, i1) of out (n columns). */
BK_INLINE void bk_gemm_ln_rows(float *out, const float *gamma, const float *beta, int64_t i0,
                               int64_t i1, int64_t n, float eps) {
  if (!gamma) return;
  for (int64_t i = i0; i < i1; i++) bk_ln_row(out + i * n, gamma, beta, out + i * n, n, eps);
}

#endif
