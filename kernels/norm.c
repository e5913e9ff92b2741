/* Row normalizations: LayerNorm (alone or after a residual add), softmax
 * and L2 normalization. A task covers rows [task*rows_per_task, ...).
 *
 * LayerNorm is bk_ln_row (rows.h: two passes in double, biased variance,
 * eps inside the square root, as torch.nn.LayerNorm). Softmax subtracts the
 * row maximum before exponentiating, like torch.softmax, so a score of
 * finfo.min (a masked key) becomes exactly 0. L2 normalization is
 * torch.nn.functional.normalize: x / max(||x||_2, 1e-12). */
#include <math.h>

#include "kernels/kernels.h"
#include "kernels/rows.h"
#include "kernels/simd.h"
#include "kernels/vmath.h"

void bk_layer_norm(const bertc_env_t *env, int64_t task, const float *x, const float *gamma,
                   const float *beta, float *out, int64_t rows_per_task, int64_t rows,
                   int64_t n, float eps) {
  (void)env;
  int64_t r1 = BK_MIN(rows, (task + 1) * rows_per_task);
  for (int64_t r = task * rows_per_task; r < r1; r++)
    bk_ln_row(x + r * n, gamma, beta, out + r * n, n, eps);
}

void bk_add_ln(const bertc_env_t *env, int64_t task, const float *x, const float *residual,
               const float *gamma, const float *beta, float *out, int64_t rows_per_task,
               int64_t rows, int64_t n, float eps) {
  (void)env;
  int64_t r1 = BK_MIN(rows, (task + 1) * rows_per_task);
  int64_t nv = n / BK_VL * BK_VL;
  for (int64_t r = task * rows_per_task; r < r1; r++) {
    const float *xr = x + r * n, *rr = residual + r * n;
    float *o = out + r * n;
    for (int64_t j = 0; j < nv; j += BK_VL) v_store(o + j, v_load(xr + j) + v_load(rr + j));
    for (int64_t j = nv; j < n; j++) o[j] = xr[j] + rr[j];
    bk_ln_row(o, gamma, beta, o, n, eps);
  }
}

void bk_softmax(const bertc_env_t *env, int64_t task, const float *x, float *out,
                int64_t rows_per_task, int64_t rows, int64_t n) {
  (void)env;
  int64_t r1 = BK_MIN(rows, (task + 1) * rows_per_task);
  int64_t nv = n / BK_VL * BK_VL, tail = n - nv;
  for (int64_t r = task * rows_per_task; r < r1; r++) {
    const float *xr = x + r * n;
    float *o = out + r * n;
    v16f vmax = v_splat(-INFINITY);
    for (int64_t j = 0; j < nv; j += BK_VL) vmax = v_max(vmax, v_load(xr + j));
    if (tail) vmax = v_max(vmax, v_load_part(xr + nv, tail, -INFINITY));
    float mx = v_hmax(vmax);
    v16f vsum = v_splat(0.0f);
    for (int64_t j = 0; j < nv; j += BK_VL) {
      v16f e = v_exp(v_load(xr + j) - mx);
      vsum += e;
      v_store(o + j, e);
    }
    if (tail) {
      v16f e = v_exp(v_load_part(xr + nv, tail, -INFINITY) - mx);
      vsum += e;
      v_store_part(o + nv, e, tail);
    }
    float sum = v_hsum(vsum);
    for (int64_t j = 0; j < nv; j += BK_VL) v_store(o + j, v_load(o + j) / sum);
    for (int64_t j = nv; j < n; j++) o[j] = o[j] / sum;
  }
}

void bk_l2_normalize(const bertc_env_t *env, int64_t task, const float *x, float *out,
                     int64_t rows_per_task, int64_t rows, int64_t n) {
  (void)env;
  int64_t r1 = BK_MIN(rows, (task + 1) * rows_per_task);
  int64_t nv = n / BK_VL * BK_VL;
  for (int64_t r = task * rows_per_task; r < r1; r++) {
    const float *xr = x + r * n;
    float *o = out + r * n;
    v8d s0 = {0}, s1 = {0};
    for (int64_t j = 0; j < nv; j += BK_VL) {
      v16f v = v_load(xr + j);
      v8d lo = v_lo_f64(v), hi = v_hi_f64(v);
      s0 += lo * lo;
      s1 += hi * hi;
    }
    double sq = vd_hsum(s0 + s1);
    for (int64_t j = nv; j < n; j++) sq += (double)xr[j] * xr[j];
    float norm = (float)sqrt(sq);
    float denom = norm > 1e-12f ? norm : 1e-12f;
    for (int64_t j = 0; j < nv; j += BK_VL) v_store(o + j, v_load(xr + j) / denom);
    for (int64_t j = nv; j < n; j++) o[j] = xr[j] / denom;
  }
}
