/* Pooling of the last hidden states into one vector per sequence.
 *
 * bk_select_token takes one position (CLS = 0). bk_pool follows
 * sentence-transformers' Pooling module: mean = sum(x * mask) /
 * clamp(sum(mask), min=1e-9); max sets masked tokens to -1e9 before the
 * maximum; mean_sqrt_len divides the masked sum by the square root of that
 * clamped count. Sums are accumulated in double, so the result is the exact
 * mean rounded once. One task is one sequence; no mask means every token
 * counts. The packed forms do the same for sequence `task` of a segment
 * table (kernels.h). */
#include <math.h>

#include "kernels/kernels.h"
#include "kernels/simd.h"

enum { POOL_MEAN = 0, POOL_MAX = 1, POOL_MEAN_SQRT_LEN = 2 };

void bk_select_token(const bertc_env_t *env, int64_t task, const float *x, float *out,
                     int64_t seq, int64_t dim, int64_t index) {
  (void)env;
  memcpy(out + task * dim, x + (task * seq + index) * dim, (size_t)dim * sizeof(float));
}

void bk_select_token_packed(const bertc_env_t *env, int64_t task, const float *x,
                            const int32_t *segs, float *out, int64_t tokens, int64_t dim,
                            int64_t index) {
  (void)env;
  int64_t first = bk_segment_start(segs, task, tokens);
  int64_t end = bk_segment_start(segs, task + 1, tokens);
  if (first + index < end)
    memcpy(out + task * dim, x + (first + index) * dim, (size_t)dim * sizeof(float));
  else
    memset(out + task * dim, 0, (size_t)dim * sizeof(float));
}

/* One sequence of `seq` tokens: xb and mb point at its first token. */
static void pool_rows(const float *xb, const int32_t *mb, float *o, int64_t seq, int64_t dim,
                      int64_t mode) {
  int64_t dv = dim / BK_VL * BK_VL;
  if (mode == POOL_MAX) {
    for (int64_t j = 0; j < dim; j++) o[j] = -INFINITY;
    for (int64_t s = 0; s < seq; s++) {
      const float *xs = xb + s * dim;
      int valid = !mb || mb[s] != 0;
      for (int64_t j = 0; j < dv; j += BK_VL) {
        v16f v = valid ? v_load(xs + j) : v_splat(-1e9f);
        v_store(o + j, v_max(v_load(o + j), v));
      }
      for (int64_t j = dv; j < dim; j++) {
        float v = valid ? xs[j] : -1e9f;
        o[j] = v > o[j] ? v : o[j];
      }
    }
    return;
  }
  double count = 0;
  for (int64_t s = 0; s < seq; s++) count += mb ? (double)mb[s] : 1.0;
  count = count > 1e-9 ? count : 1e-9;
  double denom = mode == POOL_MEAN_SQRT_LEN ? sqrt(count) : count;
  /* Column blocks of 64 keep 8 double accumulators in registers. */
  for (int64_t j0 = 0; j0 < dim; j0 += 4 * BK_VL) {
    int64_t w = BK_MIN(4 * BK_VL, dim - j0);
    if (w == 4 * BK_VL) {
      v8d acc[8] = {{0}};
      for (int64_t s = 0; s < seq; s++) {
        if (mb && mb[s] == 0) continue;
        double mw = mb ? (double)mb[s] : 1.0;
        for (int v = 0; v < 4; v++) {
          v16f xv = v_load(xb + s * dim + j0 + v * BK_VL);
          acc[2 * v] += v_lo_f64(xv) * mw;
          acc[2 * v + 1] += v_hi_f64(xv) * mw;
        }
      }
      for (int v = 0; v < 8; v++)
        for (int l = 0; l < 8; l++) o[j0 + v * 8 + l] = (float)(acc[v][l] / denom);
    } else {
      for (int64_t j = j0; j < j0 + w; j++) {
        double acc = 0;
        for (int64_t s = 0; s < seq; s++)
          if (!mb || mb[s] != 0) acc += (double)xb[s * dim + j] * (mb ? (double)mb[s] : 1.0);
        o[j] = (float)(acc / denom);
      }
    }
  }
}

void bk_pool(const bertc_env_t *env, int64_t task, const float *x, const int32_t *mask,
             float *out, int64_t seq, int64_t dim, int64_t mode) {
  (void)env;
  pool_rows(x + task * seq * dim, mask ? mask + task * seq : 0, out + task * dim, seq, dim,
            mode);
}

void bk_pool_packed(const bertc_env_t *env, int64_t task, const float *x, const int32_t *mask,
                    const int32_t *segs, float *out, int64_t tokens, int64_t dim, int64_t mode) {
  (void)env;
  int64_t first = bk_segment_start(segs, task, tokens);
  int64_t end = BK_MAX(first, bk_segment_start(segs, task + 1, tokens));
  pool_rows(x + first * dim, mask ? mask + first : 0, out + task * dim, end - first, dim, mode);
}
