/* Row operations shared by several kernel families (internal header): the
 * LayerNorm of one row (used by norm.c, the embedding and the GEMM epilogue)
 * and the activation epilogue of a GEMM block.
 *
 * LayerNorm follows torch.nn.LayerNorm: biased variance, eps inside the
 * square root. Mean and variance are two passes accumulated in double, so
 * the statistics are exact to float rounding and parity with PyTorch is
 * limited only by its own float accumulation. */
#ifndef BERTC_KERNELS_ROWS_H
#define BERTC_KERNELS_ROWS_H

#include <math.h>

#include "kernels/simd.h"
#include "kernels/vmath.h"

/* out = (x - mean) / sqrt(var + eps) * gamma + beta over n floats; out may be x. */
BK_INLINE void bk_ln_row(const float *x, const float *gamma, const float *beta, float *out,
                         int64_t n, float eps) {
  int64_t nv = n / BK_VL * BK_VL;
  v8d s0 = {0}, s1 = {0};
  for (int64_t j = 0; j < nv; j += BK_VL) {
    v16f v = v_load(x + j);
    s0 += v_lo_f64(v);
    s1 += v_hi_f64(v);
  }
  double sum = vd_hsum(s0 + s1);
  for (int64_t j = nv; j < n; j++) sum += x[j];
  double mean = sum / (double)n;
  v8d q0 = {0}, q1 = {0};
  for (int64_t j = 0; j < nv; j += BK_VL) {
    v16f v = v_load(x + j);
    v8d d0 = v_lo_f64(v) - mean, d1 = v_hi_f64(v) - mean;
    q0 += d0 * d0;
    q1 += d1 * d1;
  }
  double sq = vd_hsum(q0 + q1);
  for (int64_t j = nv; j < n; j++) sq += (x[j] - mean) * (x[j] - mean);
  float meanf = (float)mean;
  float rstd = (float)(1.0 / sqrt(sq / (double)n + (double)eps));
  for (int64_t j = 0; j < nv; j += BK_VL) {
    v16f v = (v_load(x + j) - meanf) * rstd;
    v_store(out + j, v * v_load(gamma + j) + v_load(beta + j));
  }
  for (int64_t j = nv; j < n; j++) out[j] = (x[j] - meanf) * rstd * gamma[j] + beta[j];
}

/* c[r, 0..w) = act(c + bias) + residual for `rows` rows of stride ldc.
 * bias and residual (stride ldr) may be NULL; residual may alias c. */
BK_INLINE void bk_epilogue(float *c, int64_t ldc, int64_t rows, int64_t w, const float *bias,
                           const float *residual, int64_t ldr, int64_t act) {
  if (!bias && !residual && act == BK_ACT_NONE) return;
  int64_t wv = w / BK_VL * BK_VL;
  for (int64_t r = 0; r < rows; r++) {
    float *cr = c + r * ldc;
    const float *rr = residual ? residual + r * ldr : 0;
    for (int64_t j = 0; j < w; j += BK_VL) {
      int64_t cnt = w - j;
      v16f v = j < wv ? v_load(cr + j) : v_load_part(cr + j, cnt, 0.0f);
      if (bias) v += j < wv ? v_load(bias + j) : v_load_part(bias + j, cnt, 0.0f);
      v = v_act(v, act);
      if (rr) v += j < wv ? v_load(rr + j) : v_load_part(rr + j, cnt, 0.0f);
      if (j < wv)
        v_store(cr + j, v);
      else
        v_store_part(cr + j, v, cnt);
    }
  }
}

#endif
