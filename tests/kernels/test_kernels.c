/* The kernel library against naive double-precision loops written here.
 *
 * Every kernel runs all of its tasks serially - in reverse order, since
 * parallel_for promises no order - on random data and awkward shapes: m = 1,
 * seq = 1, k = 1, odd k, n not a multiple of the 32-wide panels, rows not a
 * multiple of rows_per_task, masks with padding, holes and no valid token.
 * The env's parallel_for is a loop and its sgemm a naive loop.
 *
 * Tolerances: elementwise results and normalized rows within 1e-5 relative
 * (plus 1e-6 absolute); dot products within 1e-5 * sum|terms| / sqrt(k),
 * several times the rounding error of a float accumulation over k terms. */
#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/testutil.h"

#include "kernels/kernels.h"
#include "kernels/tile.h" /* BK_GEMM_MR: 8, or 6 in the AVX2-tile build of this test */
#include "runtime/cpu_features.h"

/* ---- environment and helpers ---- */

static void serial_for(const bertc_env_t *env, int64_t count, bertc_abi_task_fn fn, void *ctx) {
  (void)env;
  for (int64_t i = 0; i < count; i++) fn(ctx, i);
}

static void naive_sgemm(const bertc_env_t *env, int trans_b, int64_t m, int64_t n, int64_t k,
                        float alpha, const float *a, int64_t lda, const float *b, int64_t ldb,
                        float beta, float *c, int64_t ldc) {
  (void)env;
  for (int64_t i = 0; i < m; i++)
    for (int64_t j = 0; j < n; j++) {
      double s = 0;
      for (int64_t p = 0; p < k; p++)
        s += (double)a[i * lda + p] * (trans_b ? b[j * ldb + p] : b[p * ldb + j]);
      c[i * ldc + j] = (float)(alpha * s + (beta != 0.0f ? beta * c[i * ldc + j] : 0.0));
    }
}

#define CEIL_DIV(a, b) (((a) + (b)-1) / (b))

static const bertc_env_t env = {BERTC_ABI_VERSION, 1, NULL, serial_for, naive_sgemm};

#define RUN_TASKS(ntasks, call)                                                                    \
  do {                                                                                             \
    for (int64_t task = (int64_t)(ntasks)-1; task >= 0; task--) call;                              \
  } while (0)

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static float frand(float lo, float hi) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return lo + (hi - lo) * (float)((rng >> 40) * (1.0 / 16777216.0));
}

static float *rand_floats(int64_t n, float lo, float hi) {
  float *p = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
  assert_non_null(p);
  for (int64_t i = 0; i < n; i++) p[i] = frand(lo, hi);
  return p;
}

static double *new_doubles(int64_t n) {
  double *p = calloc((size_t)(n > 0 ? n : 1), sizeof(double));
  assert_non_null(p);
  return p;
}

static float *new_floats(int64_t n, float fill) {
  float *p = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
  assert_non_null(p);
  for (int64_t i = 0; i < n; i++) p[i] = fill;
  return p;
}

/* Fails with the first element where |got - ref| > tol[i] (tol NULL: relative). */
static void check_close(const char *what, const float *got, const double *ref, const double *tol,
                        int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    double t = tol ? tol[i] : 1e-6 + 1e-5 * fabs(ref[i]);
    double e = fabs((double)got[i] - ref[i]);
    if (!(e <= t))
      fail_msg("%s: element %lld is %.9g, expected %.9g (error %.3g > %.3g)", what, (long long)i,
               got[i], ref[i], e, t);
  }
}

static double ref_act(double x, int64_t act) {
  const double c = sqrt(2.0 / 3.14159265358979323846);
  switch (act) {
  case 1: return 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
  case 2:
  case 3: return 0.5 * x * (1.0 + tanh(c * (x + 0.044715 * x * x * x)));
  case 4: return x / (1.0 + exp(-1.702 * x));
  case 5: return x > 0 ? x : 0;
  case 6: return x / (1.0 + exp(-x));
  case 7: return tanh(x);
  default: return x;
  }
}

static void ref_layer_norm(double *row, const float *gamma, const float *beta, int64_t n,
                           double eps) {
  double mean = 0, var = 0;
  for (int64_t j = 0; j < n; j++) mean += row[j];
  mean /= (double)n;
  for (int64_t j = 0; j < n; j++) var += (row[j] - mean) * (row[j] - mean);
  var /= (double)n;
  for (int64_t j = 0; j < n; j++) row[j] = (row[j] - mean) / sqrt(var + eps) * gamma[j] + beta[j];
}

/* ---- elementwise ---- */

static void test_activations(void **state) {
  (void)state;
  const int64_t total = 1003, chunk = 100;
  float *x = rand_floats(total, -8.0f, 8.0f);
  for (int64_t i = 0; i < 200; i++) x[i] = (float)(i - 100) * 0.013f; /* near zero */
  x[200] = 0.0f;
  x[201] = -30.0f;
  x[202] = 30.0f;
  x[203] = -200.0f;
  x[204] = 200.0f;
  float *out = new_floats(total, 0.0f);
  double *ref = new_doubles(total), *tol = new_doubles(total);
  for (int64_t act = BK_ACT_NONE; act < BK_ACT_COUNT; act++) {
    RUN_TASKS(CEIL_DIV(total, chunk), bk_unary(&env, task, x, out, chunk, total, act));
    for (int64_t i = 0; i < total; i++) {
      ref[i] = ref_act(x[i], act);
      /* float rounding of the input itself moves erf/tanh by ~1e-7 |x| */
      tol[i] = 1e-6 * fmax(1.0, fabs(x[i]) * 0.1) + 2e-6 * fabs(ref[i]);
    }
    char what[32];
    snprintf(what, sizeof what, "activation %lld", (long long)act);
    check_close(what, out, ref, tol, total);
  }
  free(x), free(out), free(ref), free(tol);
}

static void test_add_scale(void **state) {
  (void)state;
  const int64_t total = 1001;
  const int64_t periods[] = {1, 37, 384, 1001};
  const int64_t chunks[] = {1001, 100, 33, 16};
  float *a = rand_floats(total, -1, 1), *b = rand_floats(total, -1, 1);
  float *out = new_floats(total, 0.0f);
  double *ref = new_doubles(total);
  for (size_t pi = 0; pi < 4; pi++) {
    for (size_t ci = 0; ci < 4; ci++) {
      int64_t chunk = chunks[ci], period = periods[pi];
      RUN_TASKS(CEIL_DIV(total, chunk),
                bk_add(&env, task, a, b, out, chunk, total, period));
      for (int64_t i = 0; i < total; i++) ref[i] = (double)a[i] + b[i % period];
      check_close("add", out, ref, NULL, total);
    }
  }
  RUN_TASKS(CEIL_DIV(total, 64), bk_scale(&env, task, a, out, 64, total, 0.125f));
  for (int64_t i = 0; i < total; i++) ref[i] = a[i] * 0.125;
  check_close("scale", out, ref, NULL, total);
  /* in place */
  memcpy(out, a, sizeof(float) * total);
  RUN_TASKS(CEIL_DIV(total, 100), bk_add(&env, task, out, b, out, 100, total, 37));
  for (int64_t i = 0; i < total; i++) ref[i] = (double)a[i] + b[i % 37];
  check_close("add in place", out, ref, NULL, total);
  free(a), free(b), free(out), free(ref);
}

/* ---- normalization ---- */

static void test_layer_norm(void **state) {
  (void)state;
  const int64_t ns[] = {1, 17, 384};
  const int64_t rows = 11;
  for (size_t t = 0; t < 3; t++) {
    int64_t n = ns[t];
    float *x = rand_floats(rows * n, -3, 5), *res = rand_floats(rows * n, -1, 1);
    float *gamma = rand_floats(n, 0.5f, 1.5f), *beta = rand_floats(n, -0.5f, 0.5f);
    float *out = new_floats(rows * n, 0.0f);
    double *ref = new_doubles(rows * n);
    for (int64_t rpt = 1; rpt <= 4; rpt += 3) {
      RUN_TASKS(CEIL_DIV(rows, rpt),
                bk_layer_norm(&env, task, x, gamma, beta, out, rpt, rows, n, 1e-12f));
      for (int64_t i = 0; i < rows * n; i++) ref[i] = x[i];
      for (int64_t r = 0; r < rows; r++) ref_layer_norm(ref + r * n, gamma, beta, n, 1e-12);
      check_close("layer_norm", out, ref, NULL, rows * n);

      RUN_TASKS(CEIL_DIV(rows, rpt),
                bk_add_ln(&env, task, x, res, gamma, beta, out, rpt, rows, n, 1e-5f));
      for (int64_t i = 0; i < rows * n; i++) ref[i] = (double)x[i] + res[i];
      for (int64_t r = 0; r < rows; r++) ref_layer_norm(ref + r * n, gamma, beta, n, 1e-5);
      check_close("add_ln", out, ref, NULL, rows * n);
    }
    free(x), free(res), free(gamma), free(beta), free(out), free(ref);
  }
}

static void test_softmax_l2(void **state) {
  (void)state;
  const int64_t ns[] = {1, 5, 16, 130};
  const int64_t rows = 7;
  for (size_t t = 0; t < 4; t++) {
    int64_t n = ns[t];
    float *x = rand_floats(rows * n, -10, 10);
    /* masked entries as HF writes them: score + finfo.min */
    for (int64_t i = 0; i < rows * n; i += 3)
      if (i % n != 0) x[i] += -3.40282347e+38f;
    float *out = new_floats(rows * n, 0.0f);
    double *ref = new_doubles(rows * n);
    RUN_TASKS(CEIL_DIV(rows, 3), bk_softmax(&env, task, x, out, 3, rows, n));
    for (int64_t r = 0; r < rows; r++) {
      double mx = -INFINITY, sum = 0;
      for (int64_t j = 0; j < n; j++) mx = fmax(mx, x[r * n + j]);
      for (int64_t j = 0; j < n; j++) sum += ref[r * n + j] = exp((double)x[r * n + j] - mx);
      for (int64_t j = 0; j < n; j++) ref[r * n + j] /= sum;
    }
    check_close("softmax", out, ref, NULL, rows * n);
    for (int64_t i = 0; i < rows * n; i += 3)
      if (i % n != 0 && out[i] != 0.0f)
        fail_msg("softmax: masked entry %lld is not 0", (long long)i);

    float *y = rand_floats(rows * n, -2, 2);
    for (int64_t j = 0; j < n; j++) y[j] = 0.0f; /* a zero row stays zero */
    RUN_TASKS(CEIL_DIV(rows, 2), bk_l2_normalize(&env, task, y, out, 2, rows, n));
    for (int64_t r = 0; r < rows; r++) {
      double s = 0;
      for (int64_t j = 0; j < n; j++) s += (double)y[r * n + j] * y[r * n + j];
      double d = fmax(sqrt(s), 1e-12);
      for (int64_t j = 0; j < n; j++) ref[r * n + j] = y[r * n + j] / d;
    }
    check_close("l2_normalize", out, ref, NULL, rows * n);
    free(x), free(y), free(out), free(ref);
  }
}

/* ---- linear layers ---- */

/* act(x w^T + bias) + residual, then LayerNorm; tol from sum |terms|. */
static void ref_linear(const float *x, const float *w, const float *bias, const float *residual,
                       const float *gamma, const float *beta, int64_t m, int64_t n, int64_t k,
                       int64_t act, double eps, double *ref, double *tol) {
  for (int64_t i = 0; i < m; i++) {
    for (int64_t j = 0; j < n; j++) {
      double s = bias ? bias[j] : 0.0, abs_sum = bias ? fabs(bias[j]) : 0.0;
      for (int64_t p = 0; p < k; p++) {
        s += (double)x[i * k + p] * w[j * k + p];
        abs_sum += fabs((double)x[i * k + p] * w[j * k + p]);
      }
      double y = ref_act(s, act);
      /* the activation's slope is at most ~1.13 */
      double t = 1e-6 + 1.2e-5 * abs_sum / sqrt((double)(k > 0 ? k : 1)) + 2e-6 * fabs(y);
      if (residual) y += residual[i * n + j];
      ref[i * n + j] = y;
      tol[i * n + j] = t + 1e-6 * fabs(y);
    }
    if (gamma) {
      double mean = 0, var = 0, tmax = 0;
      for (int64_t j = 0; j < n; j++) mean += ref[i * n + j];
      mean /= (double)n;
      for (int64_t j = 0; j < n; j++) var += (ref[i * n + j] - mean) * (ref[i * n + j] - mean);
      var /= (double)n;
      for (int64_t j = 0; j < n; j++) tmax = fmax(tmax, tol[i * n + j]);
      ref_layer_norm(ref + i * n, gamma, beta, n, eps);
      /* input errors scale by gamma / std */
      for (int64_t j = 0; j < n; j++)
        tol[i * n + j] = 2e-6 + 1e-5 * fabs(ref[i * n + j]) +
                         2 * tmax * fabs(gamma[j]) / sqrt(var + eps);
    }
  }
}

typedef struct gemm_case {
  int64_t m, n, k;
} gemm_case_t;

/* Whether this CPU runs bk_gemm_amx (AMX-BF16 with the OS's tile state);
 * the AMX tests skip() where it does not. */
static bool have_amx;

/* The GEMM kernels a case runs: bk_gemm, bk_gemm_blas and bk_linear_rowmajor,
 * which every x86-64 host runs, or bk_gemm_amx. */
typedef enum { GEMM_PORTABLE, GEMM_AMX } gemm_kernels_t;

static void run_gemm_case(gemm_kernels_t which, int64_t m, int64_t n, int64_t k,
                          int64_t m_block, int64_t n_block, int use_bias, int use_res,
                          int use_ln, int64_t act) {
  float *x = rand_floats(m * k, -1, 1), *w = rand_floats(n * k, -1, 1);
  float *bias = use_bias ? rand_floats(n, -1, 1) : NULL;
  float *res = use_res ? rand_floats(m * n, -1, 1) : NULL;
  float *gamma = use_ln ? rand_floats(n, 0.5f, 1.5f) : NULL;
  float *beta = use_ln ? rand_floats(n, -0.5f, 0.5f) : NULL;
  float *wp = new_floats(bk_packed_floats(n, k), NAN);
  float *out = new_floats(m * n, NAN);
  double *ref = new_doubles(m * n), *tol = new_doubles(m * n);
  bk_pack_weights(w, n, k, wp);
  ref_linear(x, w, bias, res, gamma, beta, m, n, k, act, 1e-12, ref, tol);
  int64_t ntasks = CEIL_DIV(m, m_block) * CEIL_DIV(n, n_block);
  char what[160];
  snprintf(what, sizeof what,
           "gemm m=%lld n=%lld k=%lld blocks %lldx%lld bias=%d res=%d ln=%d act=%lld",
           (long long)m, (long long)n, (long long)k, (long long)m_block, (long long)n_block,
           use_bias, use_res, use_ln, (long long)act);
  if (which == GEMM_PORTABLE) {
    RUN_TASKS(ntasks, bk_gemm(&env, task, x, wp, bias, res, gamma, beta, out, m, n, k, m_block,
                              n_block, act, 1e-12f));
    check_close(what, out, ref, tol, m * n);
    for (int64_t i = 0; i < m * n; i++) out[i] = NAN;
    strcat(what, " (blas)");
    RUN_TASKS(ntasks, bk_gemm_blas(&env, task, x, w, bias, res, gamma, beta, out, m, n, k,
                                   m_block, n_block, act, 1e-12f));
    check_close(what, out, ref, tol, m * n);
  } else {
    size_t bytes = (size_t)(ntasks * bk_gemm_amx_scratch_bytes(m_block, k));
    uint8_t *scratch = aligned_alloc(64, bytes);
    assert_non_null(scratch);
    memset(scratch, 0xff, bytes); /* NaN patterns: the kernel must not read unset scratch */
    strcat(what, " (amx)");
    uint16_t *wa = malloc((size_t)bk_packed_amx_bytes(n, k));
    assert_non_null(wa);
    bk_pack_weights_amx(wp, n, k, wa);
    RUN_TASKS(ntasks, bk_gemm_amx(&env, task, x, wa, bias, res, gamma, beta, out, m, n, k,
                                  m_block, n_block, act, 1e-12f, scratch));
    check_close(what, out, ref, tol, m * n);
    free(scratch), free(wa);
  }
  if (which == GEMM_PORTABLE && !use_res && !use_ln) {
    for (int64_t i = 0; i < m * n; i++) out[i] = NAN;
    for (int64_t rpt = 1; rpt <= 5; rpt += 4) {
      RUN_TASKS(CEIL_DIV(m, rpt),
                bk_linear_rowmajor(&env, task, x, w, bias, out, m, n, k, rpt, act));
      check_close("linear_rowmajor", out, ref, tol, m * n);
    }
  }
  free(x), free(w), free(bias), free(res), free(gamma), free(beta), free(wp), free(out);
  free(ref), free(tol);
}

static void gemm_shapes(gemm_kernels_t which) {
  const gemm_case_t cases[] = {{1, 1, 1},   {1, 32, 7},   {5, 33, 1},    {13, 70, 17},
                               {9, 64, 2},  {37, 100, 300}, {17, 96, 513}, {2, 40, 1536},
                               {24, 31, 9}, {8, 32, 256},  {128, 200, 300}, {70, 100, 800}};
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    int64_t m = cases[c].m, n = cases[c].n, k = cases[c].k;
    for (int threads = 1; threads <= 3; threads++) {
      int64_t mb, nb;
      bk_gemm_plan(m, n, k, 0, threads, &mb, &nb);
      run_gemm_case(which, m, n, k, mb, nb, 1, 0, 0, 0);
      bk_gemm_plan(m, n, k, 1, threads, &mb, &nb);
      run_gemm_case(which, m, n, k, mb, nb, 1, 1, 1, 0);
    }
    /* small explicit blocks: many tasks, partial blocks on both edges */
    run_gemm_case(which, m, n, k, 8, 32, 0, 1, 0, 0);
    run_gemm_case(which, m, n, k, 16, n, 1, 0, 1, 1);
  }
}

static void gemm_epilogues(gemm_kernels_t which) {
  for (int64_t act = BK_ACT_NONE; act < BK_ACT_COUNT; act++) {
    run_gemm_case(which, 19, 77, 45, 8, 64, 1, 0, 0, act);
    run_gemm_case(which, 19, 77, 45, 24, 77, act & 1, 1, 1, act);
    run_gemm_case(which, 3, 50, 384, 8, 32, 1, 1, 0, act);
  }
}

static void test_gemm_shapes(void **state) {
  (void)state;
  gemm_shapes(GEMM_PORTABLE);
}

static void test_gemm_epilogues(void **state) {
  (void)state;
  gemm_epilogues(GEMM_PORTABLE);
}

static void test_gemm_amx(void **state) {
  (void)state;
  if (!have_amx) skip(); /* this CPU lacks AMX-BF16 */
  gemm_shapes(GEMM_AMX);
  gemm_epilogues(GEMM_AMX);
}

static void test_gemm_plan(void **state) {
  (void)state;
  const gemm_case_t cases[] = {{128, 1152, 384}, {128, 384, 384}, {128, 1536, 384},
                               {128, 384, 1536}, {1, 384, 384},    {4096, 3072, 768},
                               {7, 2, 3},        {512, 768, 768},   {1024, 768, 768},
                               {1024, 768, 3072}, {1024, 2304, 768}, {4096, 384, 1536}};
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    for (int fused = 0; fused <= 1; fused++) {
      for (int threads = 1; threads <= 4; threads++) {
        int64_t m = cases[c].m, n = cases[c].n, k = cases[c].k, mb = 0, nb = 0;
        bk_gemm_plan(m, n, k, fused, threads, &mb, &nb);
        assert_true(mb >= 1 && nb >= 1);
        assert_true(nb == n || nb % BK_GEMM_NR == 0);
        assert_true(mb % BK_GEMM_MR == 0 || mb == m);
        if (fused) assert_int_equal(nb, n);
        int64_t tasks = CEIL_DIV(m, mb) * CEIL_DIV(n, nb);
        int64_t possible = fused ? CEIL_DIV(m, BK_GEMM_MR)
                                 : CEIL_DIV(m, BK_GEMM_MR) * CEIL_DIV(n, BK_GEMM_NR);
        if (possible >= 2 * threads && threads > 1 && !(tasks >= 2 * threads))
          fail_msg("plan m=%lld n=%lld k=%lld fused=%d threads=%d: only %lld tasks",
                   (long long)m, (long long)n, (long long)k, fused, threads, (long long)tasks);
        /* few tasks come in a multiple of the threads (fused: always possible) */
        if (fused && threads > 1 && possible >= 8 * threads && tasks < 8 * threads &&
            tasks % threads != 0)
          fail_msg("plan m=%lld n=%lld k=%lld fused threads=%d: %lld tasks leave threads idle",
                   (long long)m, (long long)n, (long long)k, threads, (long long)tasks);
      }
    }
  }
}

static void test_pack(void **state) {
  (void)state;
  const int64_t n = 37, k = 5;
  float *w = rand_floats(n * k, -1, 1);
  assert_int_equal(bk_packed_floats(n, k), 64 * k);
  float *p = new_floats(bk_packed_floats(n, k), NAN);
  bk_pack_weights(w, n, k, p);
  for (int64_t col = 0; col < 64; col++)
    for (int64_t kk = 0; kk < k; kk++) {
      float got = p[col / 32 * k * 32 + kk * 32 + col % 32];
      float want = col < n ? w[col * k + kk] : 0.0f;
      if (got != want) fail_msg("pack: column %lld k %lld", (long long)col, (long long)kk);
    }
  free(w), free(p);
}

static double bf16_value(uint16_t h) {
  uint32_t u = (uint32_t)h << 16;
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

/* bk_pack_weights_amx: the three bf16 parts of every weight sum to it exactly
 * (an infinite weight is all in part 0), in the tile pair layout, zero past
 * K and past N. Scalar code: runs on any CPU. */
static void test_pack_amx(void **state) {
  (void)state;
  const int64_t n = 37, k = 300; /* two K slices of 160, the second partial */
  float *w = rand_floats(n * k, -2, 2);
  w[0] = FLT_MAX, w[1] = -FLT_MAX, w[2] = INFINITY, w[3] = 1.0f + 0x1p-23f, w[4] = 0x1p-126f;
  w[5] = -0.0f, w[6] = 3.0f / 7.0f;
  float *p = new_floats(bk_packed_floats(n, k), NAN);
  bk_pack_weights(w, n, k, p);
  int64_t kc = bk_gemm_amx_kc(k), slices = CEIL_DIV(k, kc);
  assert_int_equal(kc % 32, 0);
  assert_int_equal(bk_packed_amx_bytes(n, k), 2 * slices * 3 * 32 * kc * 2);
  uint16_t *a = malloc((size_t)bk_packed_amx_bytes(n, k));
  assert_non_null(a);
  bk_pack_weights_amx(p, n, k, a);
  for (int64_t col = 0; col < 64; col++)
    for (int64_t kk = 0; kk < slices * kc; kk++) {
      int64_t sl = kk / kc, r = kk % kc, c = col % 32;
      const uint16_t *blk = a + (col / 32 * slices + sl) * 3 * 32 * kc;
      int64_t at = ((c / 16) * (kc / 2) + r / 2) * 32 + (c % 16) * 2 + r % 2;
      double p0 = bf16_value(blk[at]), p1 = bf16_value(blk[32 * kc + at]);
      double p2 = bf16_value(blk[64 * kc + at]);
      double want = col < n && kk < k ? w[col * k + kk] : 0.0;
      double got = isinf(p0) ? p0 + 0 * (p1 + p2) : p0 + p1 + p2;
      if (got != want || (isinf(p0) && (p1 != 0 || p2 != 0)))
        fail_msg("pack_amx: column %lld k %lld: parts %.9g %.9g %.9g, weight %.9g", (long long)col,
                 (long long)kk, p0, p1, p2, want);
    }
  free(w), free(p), free(a);
}

/* ---- attention ---- */

/* HF semantics: scores + finfo.min where mask == 0, softmax, times v. */
static void ref_attention(const float *q, const float *k, const float *v, const int32_t *mask,
                          int64_t batch, int64_t seq, int64_t heads, int64_t hd, int64_t ld,
                          double scale, double *out) {
  double *s = new_doubles(seq);
  int64_t ldo = heads * hd;
  for (int64_t b = 0; b < batch; b++) {
    int64_t valid = 0;
    for (int64_t j = 0; j < seq; j++) valid += !mask || mask[b * seq + j];
    for (int64_t h = 0; h < heads; h++)
      for (int64_t i = 0; i < seq; i++) {
        const float *qr = q + (b * seq + i) * ld + h * hd;
        double mx = -INFINITY, sum = 0;
        for (int64_t j = 0; j < seq; j++) {
          int ok = !mask || mask[b * seq + j] || valid == 0;
          double d = 0;
          for (int64_t t = 0; t < hd; t++) d += (double)qr[t] * k[(b * seq + j) * ld + h * hd + t];
          s[j] = valid == 0 ? 0.0 : ok ? d * scale : -INFINITY;
          mx = fmax(mx, s[j]);
        }
        for (int64_t j = 0; j < seq; j++) sum += s[j] = exp(s[j] - mx);
        for (int64_t t = 0; t < hd; t++) {
          double o = 0;
          for (int64_t j = 0; j < seq; j++) o += s[j] * v[(b * seq + j) * ld + h * hd + t];
          out[(b * seq + i) * ldo + h * hd + t] = o / sum;
        }
      }
  }
  free(s);
}

typedef struct attn_case {
  int64_t batch, seq, heads, hd;
  int packed; /* q, k, v in one [.., 3H] tensor */
} attn_case_t;

static int32_t *make_mask(int64_t batch, int64_t seq, int kind) {
  int32_t *m = malloc(sizeof(int32_t) * (size_t)(batch * seq));
  assert_non_null(m);
  for (int64_t b = 0; b < batch; b++)
    for (int64_t j = 0; j < seq; j++) {
      int64_t len = seq - b * (seq / 3 + 1); /* padding at the end, longer for later b */
      int v = j < len || j == 0;
      if (kind == 1) v = v && (j % 5 != 2 || j == 0); /* holes */
      if (kind == 2 && b == batch - 1) v = 0;         /* a sequence with no valid token */
      if (kind == 3) v = j >= seq / 2;                /* leading masked keys (whole blocks) */
      m[b * seq + j] = v;
    }
  return m;
}

static void test_attention(void **state) {
  (void)state;
  const attn_case_t cases[] = {{1, 1, 2, 32, 1},  {2, 7, 3, 16, 0},  {2, 33, 2, 32, 1},
                               {2, 70, 2, 64, 0}, {1, 128, 2, 32, 1}, {2, 19, 2, 24, 1},
                               {1, 600, 1, 48, 0}, {3, 40, 1, 128, 1},
                               {1, 200, 2, 128, 1}, {2, 257, 2, 64, 1}};
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    attn_case_t ac = cases[c];
    int64_t hsz = ac.heads * ac.hd, ld = ac.packed ? 3 * hsz : hsz;
    int64_t rows = ac.batch * ac.seq;
    float *qkv = rand_floats(rows * ld * (ac.packed ? 1 : 3), -2, 2);
    const float *q = qkv, *k = ac.packed ? qkv + hsz : qkv + rows * ld;
    const float *v = ac.packed ? qkv + 2 * hsz : qkv + 2 * rows * ld;
    float scale = 1.0f / sqrtf((float)ac.hd);
    float *out = new_floats(rows * hsz, NAN);
    double *ref = new_doubles(rows * hsz), *tol = new_doubles(rows * hsz);
    for (int kind = -1; kind <= 3; kind++) {
      int32_t *mask = kind < 0 ? NULL : make_mask(ac.batch, ac.seq, kind);
      ref_attention(q, k, v, mask, ac.batch, ac.seq, ac.heads, ac.hd, ld, scale, ref);
      for (int64_t i = 0; i < rows * hsz; i++) tol[i] = 2e-6 + 1e-5 * fabs(ref[i]);
      int64_t rpts[3] = {1, 5, bk_attention_rows_per_task(ac.seq, ac.batch, ac.heads, ac.hd, 2)};
      for (int r = 0; r < 3; r++) {
        int64_t rpt = rpts[r];
        int64_t ntasks = ac.batch * ac.heads * CEIL_DIV(ac.seq, rpt);
        for (int64_t i = 0; i < rows * hsz; i++) out[i] = NAN;
        RUN_TASKS(ntasks, bk_attention(&env, task, q, k, v, mask, out, ac.seq, ac.heads, ac.hd,
                                       ld, rpt, scale));
        char what[128];
        snprintf(what, sizeof what, "attention b=%lld s=%lld h=%lld d=%lld mask=%d rows=%lld",
                 (long long)ac.batch, (long long)ac.seq, (long long)ac.heads, (long long)ac.hd,
                 kind, (long long)rpt);
        check_close(what, out, ref, tol, rows * hsz);
      }
      /* the unfused path: scores, mask, softmax, context */
      if (ac.seq <= 128) {
        int64_t bh = ac.batch * ac.heads, ss = ac.seq * ac.seq;
        float *scores = new_floats(bh * ss, NAN), *probs = new_floats(bh * ss, NAN);
        for (int64_t i = 0; i < rows * hsz; i++) out[i] = NAN;
        RUN_TASKS(bh, bk_attn_scores(&env, task, q, k, scores, ac.seq, ac.heads, ac.hd, ld, scale));
        if (mask) RUN_TASKS(ac.batch, bk_attn_mask(&env, task, scores, mask, ac.seq, ac.heads));
        RUN_TASKS(CEIL_DIV(bh * ac.seq, 16),
                  bk_softmax(&env, task, scores, probs, 16, bh * ac.seq, ac.seq));
        RUN_TASKS(bh, bk_attn_context(&env, task, probs, v, out, ac.seq, ac.heads, ac.hd, ld));
        char what[128];
        snprintf(what, sizeof what, "unfused attention s=%lld d=%lld mask=%d", (long long)ac.seq,
                 (long long)ac.hd, kind);
        check_close(what, out, ref, tol, rows * hsz);
        free(scores), free(probs);
      }
      free(mask);
    }
    free(qkv), free(out), free(ref), free(tol);
  }
}

static void test_attention_rows_per_task(void **state) {
  (void)state;
  const int64_t head_dims[] = {16, 24, 32, 64, 128, 256};
  for (size_t d = 0; d < sizeof head_dims / sizeof head_dims[0]; d++) {
    int64_t hd = head_dims[d];
    for (int64_t seq = 1; seq <= 4096; seq += seq < 64 ? 1 : 61) {
      for (int threads = 1; threads <= 4; threads *= 2) {
        int64_t rows = bk_attention_rows_per_task(seq, 1, 12, hd, threads);
        assert_true(rows >= 1 && rows <= seq);
        /* one chunk of the stack buffer per task */
        if (rows > 64) fail_msg("seq %lld: %lld rows per task", (long long)seq, (long long)rows);
        int64_t rows1 = bk_attention_rows_per_task(seq, 1, 1, hd, threads);
        if (threads > 1 && seq >= 2 * threads && CEIL_DIV(seq, rows1) < 2 * threads)
          fail_msg("seq %lld, one head: %lld rows per task leave threads idle", (long long)seq,
                   (long long)rows1);
      }
    }
  }
}

/* ---- embeddings, pooling, copies ---- */

static void test_embeddings(void **state) {
  (void)state;
  const int64_t batch = 3, seq = 9, dim = 20, vocab = 50, num_pos = 16, num_types = 2;
  float *word = rand_floats(vocab * dim, -1, 1), *pos = rand_floats(num_pos * dim, -1, 1);
  float *types = rand_floats(num_types * dim, -1, 1);
  float *gamma = rand_floats(dim, 0.5f, 1.5f), *beta = rand_floats(dim, -0.5f, 0.5f);
  int32_t ids[27], type_ids[27], pos_ids[27];
  for (int64_t i = 0; i < batch * seq; i++) {
    ids[i] = (int32_t)(i * 7 % vocab);
    type_ids[i] = (int32_t)(i % 2);
  }
  ids[3] = 1, ids[seq + 7] = 1, ids[seq + 8] = 1; /* padding tokens (pad = 1) */
  ids[5] = 999, ids[6] = -4;                      /* clamped */
  float *out = new_floats(batch * seq * dim, NAN);
  double *ref = new_doubles(batch * seq * dim);
  for (int variant = 0; variant < 3; variant++) {
    int64_t pad = variant == 1 ? 1 : -1;
    const int32_t *tid = variant == 2 ? NULL : type_ids;
    const float *ttab = variant == 2 ? NULL : types;
    RUN_TASKS(batch, bk_embed_ln(&env, task, ids, tid, word, pos, ttab, gamma, beta, out, seq, dim,
                                 vocab, num_pos, num_types, pad, 1e-12f));
    RUN_TASKS(batch, bk_position_ids(&env, task, ids, pos_ids, seq, pad));
    for (int64_t b = 0; b < batch; b++) {
      int64_t running = 0;
      for (int64_t s = 0; s < seq; s++) {
        int64_t i = b * seq + s, id = ids[i] < 0 ? 0 : ids[i] >= vocab ? vocab - 1 : ids[i];
        int64_t p = s;
        if (pad >= 0) p = ids[i] == pad ? pad : pad + ++running;
        assert_int_equal(pos_ids[i], p);
        for (int64_t j = 0; j < dim; j++)
          ref[i * dim + j] = (double)word[id * dim + j] + pos[p * dim + j] +
                             (ttab ? types[type_ids[i] * dim + j] : 0.0);
        ref_layer_norm(ref + i * dim, gamma, beta, dim, 1e-12);
      }
    }
    check_close("embed_ln", out, ref, NULL, batch * seq * dim);
  }
  RUN_TASKS(batch, bk_gather(&env, task, word, ids, out, seq, dim, vocab));
  for (int64_t i = 0; i < batch * seq; i++) {
    int64_t id = ids[i] < 0 ? 0 : ids[i] >= vocab ? vocab - 1 : ids[i];
    if (memcmp(out + i * dim, word + id * dim, sizeof(float) * dim) != 0)
      fail_msg("gather row %lld", (long long)i);
  }
  free(word), free(pos), free(types), free(gamma), free(beta), free(out), free(ref);
}

static void test_pooling(void **state) {
  (void)state;
  const int64_t dims[] = {3, 64, 100};
  const int64_t batch = 3, seq = 6;
  for (size_t t = 0; t < 3; t++) {
    int64_t dim = dims[t];
    float *x = rand_floats(batch * seq * dim, -2, 2);
    float *out = new_floats(batch * dim, NAN);
    double *ref = new_doubles(batch * dim);
    int32_t mask[18] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    for (int with_mask = 0; with_mask <= 1; with_mask++) {
      for (int64_t mode = 0; mode <= 2; mode++) {
        const int32_t *m = with_mask ? mask : NULL;
        RUN_TASKS(batch, bk_pool(&env, task, x, m, out, seq, dim, mode));
        for (int64_t b = 0; b < batch; b++) {
          double count = 0;
          for (int64_t s = 0; s < seq; s++) count += m ? m[b * seq + s] : 1;
          double c = fmax(count, 1e-9);
          for (int64_t j = 0; j < dim; j++) {
            double acc = mode == 1 ? -INFINITY : 0.0;
            for (int64_t s = 0; s < seq; s++) {
              int ok = !m || m[b * seq + s];
              double xv = x[(b * seq + s) * dim + j];
              if (mode == 1)
                acc = fmax(acc, ok ? xv : -1e9);
              else
                acc += ok ? xv : 0.0;
            }
            ref[b * dim + j] = mode == 0 ? acc / c : mode == 2 ? acc / sqrt(c) : acc;
          }
        }
        char what[64];
        snprintf(what, sizeof what, "pool mode %lld mask %d dim %lld", (long long)mode, with_mask,
                 (long long)dim);
        check_close(what, out, ref, NULL, batch * dim);
      }
    }
    RUN_TASKS(batch, bk_select_token(&env, task, x, out, seq, dim, 2));
    for (int64_t b = 0; b < batch; b++)
      if (memcmp(out + b * dim, x + (b * seq + 2) * dim, sizeof(float) * dim) != 0)
        fail_msg("select_token %lld", (long long)b);
    free(x), free(out), free(ref);
  }
}

/* ---- packed batches: each sequence as if alone ---- */

/* Six sequences (one empty) back to back in 80 rows, 14 of them padding. */
#define PK_SEQS 6
#define PK_TOKENS 80
static const int64_t pk_lens[PK_SEQS] = {5, 1, 17, 0, 40, 3};

static void pk_segments(int32_t *segs) {
  segs[0] = 0;
  for (int s = 0; s < PK_SEQS; s++) segs[s + 1] = segs[s] + (int32_t)pk_lens[s];
}

static double *to_doubles(const float *x, int64_t n) {
  double *d = new_doubles(n);
  for (int64_t i = 0; i < n; i++) d[i] = x[i];
  return d;
}

static void test_packed_attention(void **state) {
  (void)state;
  int32_t segs[PK_SEQS + 1], mask[PK_TOKENS];
  pk_segments(segs);
  for (int64_t s = 0, i = 0; s < PK_SEQS; s++)
    for (int64_t j = 0; j < pk_lens[s]; j++, i++)
      mask[i] = s == 5 ? 0 : j == 0 || j % 5 != 2; /* holes; sequence 5 has no valid token */
  for (int64_t i = segs[PK_SEQS]; i < PK_TOKENS; i++) mask[i] = 0;
  const int64_t head_dims[] = {32, 24}, heads = 2;
  for (int d = 0; d < 2; d++) {
    int64_t hd = head_dims[d], hsz = heads * hd, ld = 3 * hsz;
    float *qkv = rand_floats(PK_TOKENS * ld, -2, 2);
    const float *q = qkv, *k = qkv + hsz, *v = qkv + 2 * hsz;
    float scale = 1.0f / sqrtf((float)hd);
    float *alone = new_floats(PK_TOKENS * hsz, 0.0f), *out = new_floats(PK_TOKENS * hsz, NAN);
    for (int with_mask = 0; with_mask <= 1; with_mask++) {
      const int32_t *m = with_mask ? mask : NULL;
      for (int s = 0; s < PK_SEQS; s++) {
        int64_t len = pk_lens[s], off = segs[s];
        if (!len) continue;
        int64_t rpt = bk_attention_rows_per_task(len, 1, heads, hd, 2);
        RUN_TASKS(heads * CEIL_DIV(len, rpt),
                  bk_attention(&env, task, q + off * ld, k + off * ld, v + off * ld,
                               m ? m + off : NULL, alone + off * hsz, len, heads, hd, ld, rpt,
                               scale));
      }
      double *ref = to_doubles(alone, PK_TOKENS * hsz);
      const int64_t rpts[] = {1, 7, 64};
      for (int r = 0; r < 3; r++) {
        for (int64_t i = 0; i < PK_TOKENS * hsz; i++) out[i] = NAN;
        RUN_TASKS(heads * CEIL_DIV(PK_TOKENS, rpts[r]),
                  bk_attention_packed(&env, task, q, k, v, m, segs, out, PK_TOKENS, PK_SEQS,
                                      heads, hd, ld, rpts[r], scale));
        char what[96];
        snprintf(what, sizeof what, "packed attention d=%lld mask=%d rows=%lld", (long long)hd,
                 with_mask, (long long)rpts[r]);
        check_close(what, out, ref, NULL, PK_TOKENS * hsz); /* padding rows: zeros */
      }
      free(ref);
    }
    free(qkv), free(alone), free(out);
  }
}

static void test_packed_embed_pool(void **state) {
  (void)state;
  int32_t segs[PK_SEQS + 1], ids[PK_TOKENS], types[PK_TOKENS], mask[PK_TOKENS];
  int32_t pos_alone[PK_TOKENS], pos_packed[PK_TOKENS];
  pk_segments(segs);
  for (int64_t i = 0; i < PK_TOKENS; i++) {
    ids[i] = (int32_t)(i * 7 % 50);
    types[i] = (int32_t)(i % 2);
    mask[i] = i % 9 != 4;
  }
  ids[2] = 1, ids[30] = 1; /* padding ids (RoBERTa positions) */
  const int64_t dim = 20, vocab = 50, num_pos = 48, num_types = 2, used = segs[PK_SEQS];
  float *word = rand_floats(vocab * dim, -1, 1), *pos = rand_floats(num_pos * dim, -1, 1);
  float *ttab = rand_floats(num_types * dim, -1, 1);
  float *gamma = rand_floats(dim, 0.5f, 1.5f), *beta = rand_floats(dim, -0.5f, 0.5f);
  float *alone = new_floats(PK_TOKENS * dim, 0.0f), *out = new_floats(PK_TOKENS * dim, NAN);
  for (int64_t pad = -1; pad <= 1; pad += 2) {
    for (int s = 0; s < PK_SEQS; s++) {
      int64_t off = segs[s];
      if (!pk_lens[s]) continue;
      RUN_TASKS(1, bk_embed_ln(&env, task, ids + off, types + off, word, pos, ttab, gamma, beta,
                               alone + off * dim, pk_lens[s], dim, vocab, num_pos, num_types, pad,
                               1e-12f));
      RUN_TASKS(1, bk_position_ids(&env, task, ids + off, pos_alone + off, pk_lens[s], pad));
    }
    RUN_TASKS(PK_SEQS + 1, bk_embed_ln_packed(&env, task, ids, types, segs, word, pos, ttab, gamma,
                                             beta, out, PK_TOKENS, PK_SEQS, dim, vocab, num_pos,
                                             num_types, pad, 1e-12f));
    RUN_TASKS(PK_SEQS + 1, bk_position_ids_packed(&env, task, ids, segs, pos_packed, PK_TOKENS,
                                                 PK_SEQS, pad));
    double *ref = to_doubles(alone, used * dim);
    check_close("packed embed_ln", out, ref, NULL, used * dim);
    for (int64_t i = used * dim; i < PK_TOKENS * dim; i++)
      if (!isfinite(out[i])) fail_msg("packed embed_ln: padding element %lld", (long long)i);
    if (memcmp(pos_alone, pos_packed, sizeof(int32_t) * (size_t)used) != 0)
      fail_msg("packed position ids, padding_idx %lld", (long long)pad);
    free(ref);
  }
  /* pooling and token selection, per sequence (the empty one included) */
  float *x = rand_floats(PK_TOKENS * dim, -2, 2);
  float *one = new_floats(dim, NAN), *pooled = new_floats(PK_SEQS * dim, NAN);
  for (int64_t mode = 0; mode <= 2; mode++) {
    RUN_TASKS(PK_SEQS, bk_pool_packed(&env, task, x, mask, segs, pooled, PK_TOKENS, dim, mode));
    for (int s = 0; s < PK_SEQS; s++) {
      RUN_TASKS(1, bk_pool(&env, task, x + segs[s] * dim, mask + segs[s], one, pk_lens[s], dim,
                           mode));
      /* the same code on the same rows: the same bits (-inf for the empty max) */
      if (memcmp(pooled + s * dim, one, sizeof(float) * (size_t)dim) != 0)
        fail_msg("packed pool mode %lld, sequence %d", (long long)mode, s);
    }
  }
  for (int64_t index = 0; index <= 2; index += 2) {
    RUN_TASKS(PK_SEQS, bk_select_token_packed(&env, task, x, segs, pooled, PK_TOKENS, dim, index));
    for (int s = 0; s < PK_SEQS; s++)
      for (int64_t j = 0; j < dim; j++) {
        float want = index < pk_lens[s] ? x[(segs[s] + index) * dim + j] : 0.0f;
        if (pooled[s * dim + j] != want)
          fail_msg("packed select_token %lld of sequence %d", (long long)index, s);
      }
  }
  free(word), free(pos), free(ttab), free(gamma), free(beta), free(alone), free(out);
  free(x), free(one), free(pooled);
}

static void test_copy_cols(void **state) {
  (void)state;
  const int64_t rows = 10, src_ld = 12, dst_ld = 9, ncols = 5;
  float *src = rand_floats(rows * src_ld, -1, 1), *dst = new_floats(rows * dst_ld, -7.0f);
  RUN_TASKS(CEIL_DIV(rows, 3),
            bk_copy_cols(&env, task, src + 4, dst + 2, 3, rows, src_ld, dst_ld, ncols));
  for (int64_t r = 0; r < rows; r++)
    for (int64_t c = 0; c < dst_ld; c++) {
      float want = c >= 2 && c < 2 + ncols ? src[r * src_ld + 4 + c - 2] : -7.0f;
      if (dst[r * dst_ld + c] != want) fail_msg("copy_cols %lld,%lld", (long long)r, (long long)c);
    }
  free(src), free(dst);
}

int main(void) {
  have_amx = rt_cpu_has_feature("amx-tile") == 1 && rt_cpu_has_feature("amx-bf16") == 1 &&
             rt_cpu_has_feature("avx512bf16") == 1 && rt_cpu_has_feature("avx512bw") == 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_activations),
      cmocka_unit_test(test_add_scale),
      cmocka_unit_test(test_layer_norm),
      cmocka_unit_test(test_softmax_l2),
      cmocka_unit_test(test_pack),
      cmocka_unit_test(test_pack_amx),
      cmocka_unit_test(test_gemm_plan),
      cmocka_unit_test(test_gemm_shapes),
      cmocka_unit_test(test_gemm_epilogues),
      cmocka_unit_test(test_gemm_amx),
      cmocka_unit_test(test_attention),
      cmocka_unit_test(test_attention_rows_per_task),
      cmocka_unit_test(test_embeddings),
      cmocka_unit_test(test_pooling),
      cmocka_unit_test(test_packed_attention),
      cmocka_unit_test(test_packed_embed_pool),
      cmocka_unit_test(test_copy_cols),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
