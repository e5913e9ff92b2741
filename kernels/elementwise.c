/* Elementwise kernels over flat f32 arrays.
 *
 * A task covers elements [task*chunk, min(total, (task+1)*chunk)). bk_add
 * broadcasts b with period b_period (a bias over the last axis, or a whole
 * tensor when b_period == total): the range is walked in runs where b is
 * contiguous, each run a plain vector loop. Activations use vmath.h, so a
 * fused epilogue and a standalone activation give identical results. */
#include "kernels/kernels.h"
#include "kernels/simd.h"
#include "kernels/vmath.h"

static inline void task_range(int64_t task, int64_t chunk, int64_t total, int64_t *begin,
                              int64_t *end) {
  *begin = BK_MIN(total, task * chunk);
  *end = BK_MIN(total, *begin + chunk);
}

void bk_add(const bertc_env_t *env, int64_t task, const float *a, const float *b, float *out,
            int64_t chunk, int64_t total, int64_t b_period) {
  (void)env;
  int64_t i, end;
  task_range(task, chunk, total, &i, &end);
  int64_t j = i % b_period;
  while (i < end) {
    int64_t run = BK_MIN(end - i, b_period - j);
    int64_t rv = run / BK_VL * BK_VL;
    for (int64_t t = 0; t < rv; t += BK_VL)
      v_store(out + i + t, v_load(a + i + t) + v_load(b + j + t));
    for (int64_t t = rv; t < run; t++) out[i + t] = a[i + t] + b[j + t];
    i += run;
    j = 0;
  }
}

void bk_scale(const bertc_env_t *env, int64_t task, const float *x, float *out, int64_t chunk,
              int64_t total, float alpha) {
  (void)env;
  int64_t i0, i1;
  task_range(task, chunk, total, &i0, &i1);
  int64_t iv = i0 + (i1 - i0) / BK_VL * BK_VL;
  for (int64_t i = i0; i < iv; i += BK_VL) v_store(out + i, v_load(x + i) * alpha);
  for (int64_t i = iv; i < i1; i++) out[i] = x[i] * alpha;
}

void bk_unary(const bertc_env_t *env, int64_t task, const float *x, float *out, int64_t chunk,
              int64_t total, int64_t act) {
  (void)env;
  int64_t i0, i1;
  task_range(task, chunk, total, &i0, &i1);
  int64_t iv = i0 + (i1 - i0) / BK_VL * BK_VL;
  for (int64_t i = i0; i < iv; i += BK_VL) v_store(out + i, v_act(v_load(x + i), act));
  if (iv < i1) v_store_part(out + iv, v_act(v_load_part(x + iv, i1 - iv, 0.0f), act), i1 - iv);
}
