/* The int8 GEMM variants (kernels/qgemm.c) against the IR's qlinear as the
 * reference interpreter computes it (ir_eval_const_node on a one-node graph).
 *
 * Each variant the host can run runs on awkward shapes (m = 1, k = 1, odd k,
 * n not a multiple of 32, several row and column blocks, tasks in reverse
 * order); the others skip() with their name. Without an activation or a
 * LayerNorm the kernel and the reference do the same integer and f32
 * operations, so the outputs must be equal bit for bit; with the activation,
 * residual and LayerNorm they may differ by the kernels' float activation
 * (1e-5 relative + 1e-6). The saturation case feeds the largest products
 * (centered codes +-255 against w = +-127, same signs, over K = 4096; on VNNI
 * the unsigned codes 255 and 0): a scheme that adds two u8 x s8 products in
 * int16 (vpmaddubsw) would saturate on every pair. */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/testutil.h"

#include "ir/ir.h"
#include "kernels/kernels.h"
#include "runtime/cpu_features.h"

static void serial_for(const bertc_env_t *env, int64_t count, bertc_abi_task_fn fn, void *ctx) {
  (void)env;
  for (int64_t i = 0; i < count; i++) fn(ctx, i);
}

static const bertc_env_t env = {BERTC_ABI_VERSION, 1, NULL, serial_for, NULL};

typedef void (*qgemm_fn)(BK_QGEMM_ARGS);

typedef struct variant {
  const char *name;
  qgemm_fn fn;
  int64_t elem_bytes;      /* of bk_quantize_rows's codes */
  const char *features[3]; /* what the host needs (NULL-terminated) */
} variant_t;

static const variant_t variants[] = {
    {"vnni512", bk_qgemm_vnni512, 1, {"avx512vnni", "avx512bw", NULL}},
    {"avxvnni", bk_qgemm_avxvnni, 1, {"avxvnni", "avx2", NULL}},
    {"avx2", bk_qgemm_avx2, 2, {"avx2", NULL, NULL}},
    {"generic", bk_qgemm_generic, 2, {NULL, NULL, NULL}},
};

static bool host_runs(const variant_t *v) {
  for (int i = 0; i < 3 && v->features[i]; i++)
    if (rt_cpu_has_feature(v->features[i]) != 1) return false;
  return true;
}

static uint64_t rng = 0x2545F4914F6CDD1Dull;
static float frand(float lo, float hi) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return lo + (hi - lo) * (float)((rng >> 40) * (1.0 / 16777216.0));
}

static void *xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  assert_non_null(p);
  return p;
}

/* A constant of the one-node graph (the graph takes a copy). */
static int32_t add_const(ir_graph_t *g, ir_dtype_t dt, int rank, int64_t d0, int64_t d1,
                         const void *data) {
  int64_t dims[2] = {d0, d1};
  uint64_t bytes = (uint64_t)(d0 * (rank == 2 ? d1 : 1)) * (uint64_t)ir_dtype_size(dt);
  void *copy = xmalloc((size_t)bytes);
  memcpy(copy, data, (size_t)bytes);
  int32_t v;
  TU_ASSERT_OK(ir_add_const(g, NULL, dt, rank, dims, copy, bytes, &v));
  return v;
}

typedef struct qcase {
  int64_t m, n, k;
  const float *x;
  const int8_t *w;
  const float *ws, *bias, *res, *gamma, *beta;
  int64_t act;
} qcase_t;

/* The reference: qlinear through the interpreter. */
static float *reference(const qcase_t *c) {
  ir_graph_t *g;
  TU_ASSERT_OK(ir_graph_create("q", &g));
  int32_t ops[7] = {add_const(g, IR_F32, 2, c->m, c->k, c->x),
                    add_const(g, IR_I8, 2, c->n, c->k, c->w),
                    add_const(g, IR_F32, 1, c->n, 0, c->ws),
                    add_const(g, IR_F32, 1, c->n, 0, c->bias)};
  int nops = 4;
  if (c->res) {
    ops[4] = add_const(g, IR_F32, 2, c->m, c->n, c->res);
    ops[5] = add_const(g, IR_F32, 1, c->n, 0, c->gamma);
    ops[6] = add_const(g, IR_F32, 1, c->n, 0, c->beta);
    nops = 7;
  }
  int64_t iattr[1] = {c->act};
  float fattr[1] = {1e-5f};
  int32_t r;
  TU_ASSERT_OK(ir_add_node(g, IR_OP_QLINEAR, nops, ops, iattr, fattr, &r));
  void *data;
  uint64_t bytes;
  TU_ASSERT_OK(ir_eval_const_node(g, (int32_t)g->num_nodes - 1, &data, &bytes));
  ir_graph_destroy(g);
  return data;
}

/* Runs variant v on case c in blocks of m_block x n_block; returns the output. */
static float *run_variant(const variant_t *v, const qcase_t *c, int64_t m_block,
                          int64_t n_block) {
  uint8_t *wp = xmalloc((size_t)bk_packed_i8_bytes(c->n, c->k));
  bk_pack_weights_i8(c->w, c->n, c->k, wp);
  int64_t tasks = (c->m + m_block - 1) / m_block * ((c->n + n_block - 1) / n_block);
  uint8_t *xq = xmalloc((size_t)bk_qrows_bytes(c->m, c->k));
  /* the rows quantized in tasks of 2 rows, in reverse order */
  for (int64_t t = (c->m + 1) / 2 - 1; t >= 0; t--)
    bk_quantize_rows(&env, t, c->x, xq, c->m, c->k, 2, v->elem_bytes);
  float *out = xmalloc((size_t)(c->m * c->n) * sizeof(float));
  for (int64_t i = 0; i < c->m * c->n; i++) out[i] = NAN;
  for (int64_t t = tasks - 1; t >= 0; t--)
    v->fn(&env, t, xq, wp, c->ws, c->bias, c->res, c->gamma, c->beta, out, c->m, c->n, c->k,
          m_block, n_block, c->act, 1e-5f);
  free(wp);
  free(xq);
  return out;
}

static void check(const variant_t *v, const qcase_t *c, const float *out, const float *ref,
                  bool exact) {
  for (int64_t i = 0; i < c->m * c->n; i++) {
    double tol = exact ? 0.0 : 1e-6 + 1e-5 * fabs(ref[i]);
    if (!(fabs((double)out[i] - ref[i]) <= tol))
      fail_msg("%s m=%lld n=%lld k=%lld act=%lld: out[%lld] = %.9g, reference %.9g", v->name,
               (long long)c->m, (long long)c->n, (long long)c->k, (long long)c->act,
               (long long)i, out[i], ref[i]);
  }
}

static void random_case(qcase_t *c, int64_t m, int64_t n, int64_t k, bool epilogue) {
  float *x = xmalloc((size_t)(m * k) * sizeof(float)), *ws = xmalloc((size_t)n * sizeof(float));
  float *bias = xmalloc((size_t)n * sizeof(float));
  int8_t *w = xmalloc((size_t)(n * k));
  for (int64_t i = 0; i < m * k; i++) x[i] = frand(-3, 3);
  if (m > 1) x[k] = 40.0f; /* an outlier sets one row's range */
  for (int64_t i = 0; i < n * k; i++) w[i] = (int8_t)(frand(-127.49f, 127.49f));
  for (int64_t j = 0; j < n; j++) ws[j] = frand(0.001f, 0.02f), bias[j] = frand(-1, 1);
  memset(c, 0, sizeof(*c));
  *c = (qcase_t){m, n, k, x, w, ws, bias, NULL, NULL, NULL, 0};
  if (epilogue) {
    float *res = xmalloc((size_t)(m * n) * sizeof(float)), *g = xmalloc((size_t)n * 4),
          *b = xmalloc((size_t)n * 4);
    for (int64_t i = 0; i < m * n; i++) res[i] = frand(-1, 1);
    for (int64_t j = 0; j < n; j++) g[j] = frand(0.5f, 1.5f), b[j] = frand(-0.5f, 0.5f);
    c->res = res, c->gamma = g, c->beta = b;
  }
}

static void free_case(qcase_t *c) {
  free((void *)c->x), free((void *)c->w), free((void *)c->ws), free((void *)c->bias);
  free((void *)c->res), free((void *)c->gamma), free((void *)c->beta);
}

static void test_variant(void **state) {
  const variant_t *v = *state;
  if (!host_runs(v)) {
    print_message("[  SKIPPED ] bk_qgemm_%s: this CPU lacks %s%s%s\n", v->name, v->features[0],
                  v->features[1] ? " or " : "", v->features[1] ? v->features[1] : "");
    skip();
  }
  static const int64_t shapes[][3] = {{1, 1, 1}, {3, 5, 7}, {9, 33, 13}, {17, 70, 129},
                                      {40, 96, 384}, {13, 64, 1536}};
  for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
    int64_t m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
    for (int form = 0; form < 3; form++) {
      qcase_t c;
      random_case(&c, m, n, k, form == 2);
      c.act = form == 1 ? BK_ACT_GELU : BK_ACT_NONE;
      float *ref = reference(&c);
      /* one block, and blocks of 8 rows x 32 columns (whole rows for a LayerNorm) */
      float *out = run_variant(v, &c, m, n);
      check(v, &c, out, ref, form == 0);
      free(out);
      out = run_variant(v, &c, 8, c.gamma ? n : 32);
      check(v, &c, out, ref, form == 0);
      free(out);
      free(ref);
      free_case(&c);
    }
  }
}

/* The largest products: a row of 1.0 (codes 255, zero point 0) and a row of
 * -1.0 (codes 0, zero point 255) against w = 127, w = -127 and alternating
 * signs, over K = 4096. */
static void test_saturation(void **state) {
  const variant_t *v = *state;
  if (!host_runs(v)) {
    print_message("[  SKIPPED ] bk_qgemm_%s saturation: this CPU lacks %s\n", v->name,
                  v->features[0]);
    skip();
  }
  int64_t m = 2, n = 3, k = 4096;
  float *x = xmalloc((size_t)(m * k) * 4), ws[3] = {1, 1, 1}, bias[3] = {0, 0, 0};
  int8_t *w = xmalloc((size_t)(n * k));
  for (int64_t i = 0; i < k; i++) x[i] = 1.0f, x[k + i] = -1.0f;
  for (int64_t i = 0; i < k; i++) w[i] = 127, w[k + i] = -127, w[2 * k + i] = (int8_t)(i % 2 ? 127 : -127);
  qcase_t c = {m, n, k, x, w, ws, bias, NULL, NULL, NULL, BK_ACT_NONE};
  float *ref = reference(&c), *out = run_variant(v, &c, m, n);
  check(v, &c, out, ref, true);
  /* and the value itself: row scale 1/255, so out = sum (u - z) w / 255 */
  double full = 255.0 * 127.0 * (double)k / 255.0;
  double want[6] = {full, -full, 0, -full, full, 0};
  for (int i = 0; i < 6; i++)
    if (fabs(out[i] - want[i]) > 1e-6 * full)
      fail_msg("%s: out[%d] = %.9g, exact %.9g", v->name, i, out[i], want[i]);
  free(ref), free(out), free(x), free(w);
}

int main(void) {
  struct CMUnitTest tests[2 * sizeof variants / sizeof variants[0]];
  char names[2 * sizeof variants / sizeof variants[0]][64];
  size_t nt = 0;
  for (size_t i = 0; i < sizeof variants / sizeof variants[0]; i++) {
    snprintf(names[nt], sizeof names[nt], "qgemm_%s", variants[i].name);
    tests[nt] = (struct CMUnitTest){names[nt], test_variant, NULL, NULL, (void *)&variants[i]};
    nt++;
    snprintf(names[nt], sizeof names[nt], "qgemm_%s_saturation", variants[i].name);
    tests[nt] = (struct CMUnitTest){names[nt], test_saturation, NULL, NULL, (void *)&variants[i]};
    nt++;
  }
  return _cmocka_run_group_tests("qgemm", tests, nt, NULL, NULL);
}
