/* Micro benchmark of the kernel library as a compiled model runs it.
 *
 * The kernel sources are included directly and every benchmarked call has
 * constant shape arguments inside a flatten wrapper, so clang specializes
 * and inlines them the way bertc's codegen does with the bitcode. Build and
 * run (one thread; tasks run serially in order):
 *
 *   clang-19 -std=c11 -O3 -march=native -I. -Iinclude bench/kernel_bench.c -lm -o /tmp/kernel_bench
 *   taskset -c 1 /tmp/kernel_bench
 *
 * Each number is the best of many single calls, which filters out other
 * processes on a shared machine. "fma peak" is a register-only FMA loop
 * measured in the same run: the ceiling the GEMM can reach right now. On a
 * CPU with AMX-BF16 the BERT-base GEMMs also run as bk_gemm_amx (weights
 * split by bk_pack_weights_amx; GFLOP/s counted as fp32 work). The int8 GEMM
 * (bk_qgemm_vnni512, `bertc compile --precision int8`) runs at the same
 * BERT-base shapes against "vpdpbusd peak", a register-only loop of 12
 * independent vpdpbusd chains (64 multiply-adds = 128 ops per instruction),
 * measured the same way. */
#define _GNU_SOURCE /* syscall */
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "kernels/attention.c"
#include "kernels/gemm.c"
#if defined(__AVX512F__) /* clang cannot build the AMX kernels for an AVX2-only -march */
#define KB_AMX 1
#include "kernels/gemm_amx.c"
#else
#define KB_AMX 0
#endif
#include "kernels/norm.c"
#include "kernels/pack.c"
#include "kernels/qgemm.c"

static double now_seconds(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static float *random_floats(int64_t n) {
  float *p = malloc(sizeof(float) * (size_t)n);
  if (!p) abort();
  for (int64_t i = 0; i < n; i++) p[i] = (float)rand() / (float)RAND_MAX - 0.5f;
  return p;
}

/* 12 independent FMA chains in zmm registers: the machine's current FMA peak
 * (meaningful for AVX-512 builds). */
__attribute__((noinline)) static float fma_peak_loop(int64_t n) {
  v16f acc[12];
  for (int i = 0; i < 12; i++) acc[i] = v_splat((float)i);
  v16f mul = v_splat(0.999f), add = v_splat(0.001f);
  for (int64_t k = 0; k < n; k++)
    for (int i = 0; i < 12; i++) acc[i] = acc[i] * mul + add;
  v16f s = acc[0];
  for (int i = 1; i < 12; i++) s += acc[i];
  return v_hsum(s);
}

static double fma_peak_gflops(void) {
  double best = 1e30;
  const int64_t n = 200000;
  for (int rep = 0; rep < 200; rep++) {
    double t0 = now_seconds();
    volatile float sink = fma_peak_loop(n);
    (void)sink;
    double t = now_seconds() - t0;
    best = t < best ? t : best;
  }
  return 12.0 * 32.0 * (double)n / best * 1e-9;
}

typedef void (*gemm_fn)(const float *x, const float *w, const float *bias, const float *res,
                        const float *gamma, const float *beta, float *out);

/* One specialized GEMM: all tasks of a plan for PLAN_THREADS, run serially. */
#define GEMM_BENCH(NAME, M, N, K, ACT, LN, PLAN_THREADS)                                          \
  __attribute__((flatten, noinline)) static void NAME(const float *x, const float *w,             \
                                                     const float *bias, const float *res,         \
                                                     const float *gamma, const float *beta,       \
                                                     float *out) {                                \
    enum { MB = NAME##_MB, NB = NAME##_NB };                                                       \
    for (int64_t t = 0; t < BK_CEIL_DIV(M, MB) * BK_CEIL_DIV(N, NB); t++)                          \
      bk_gemm(0, t, x, w, bias, LN ? res : 0, LN ? gamma : 0, beta, out, M, N, K, MB, NB, ACT,     \
              1e-12f);                                                                             \
  }

/* Plans computed by bk_gemm_plan (checked at startup): threads = 2. */
#define qkv_MB 128
#define qkv_NB 288
#define attn_out_MB 32
#define attn_out_NB 384
#define ffn1_MB 128
#define ffn1_NB 384
#define ffn2_MB 32
#define ffn2_NB 384
#define qkv1_MB 128
#define qkv1_NB 1152
#define ffn1_1_MB 128
#define ffn1_1_NB 1536
GEMM_BENCH(qkv, 128, 1152, 384, 0, 0, 2)
GEMM_BENCH(attn_out, 128, 384, 384, 0, 1, 2)
GEMM_BENCH(ffn1, 128, 1536, 384, 1, 0, 2)
GEMM_BENCH(ffn2, 128, 384, 1536, 0, 1, 2)
GEMM_BENCH(qkv1, 128, 1152, 384, 0, 0, 1)
/* BERT-base at batch 8 x seq 128 (1024 rows), plans for 2 threads. */
#define bb_qkv_MB 256
#define bb_qkv_NB 480
#define bb_ffn1_MB 256
#define bb_ffn1_NB 512
#define bb_ffn2_MB 128
#define bb_ffn2_NB 768
GEMM_BENCH(bb_qkv, 1024, 2304, 768, 0, 0, 2)
GEMM_BENCH(bb_ffn1, 1024, 3072, 768, 1, 0, 2)
GEMM_BENCH(bb_ffn2, 1024, 768, 3072, 0, 1, 2)
GEMM_BENCH(ffn1_1, 128, 1536, 384, 0, 0, 1)

#if KB_AMX
/* The same GEMMs on AMX tiles (bertc compile --gemm amx). */
static uint8_t *amx_scratch;
#define GEMM_BENCH_AMX(NAME, M, N, K, ACT, LN)                                                     \
  __attribute__((flatten, noinline)) static void NAME##_amx(const float *x, const float *w,       \
                                                           const float *bias, const float *res,   \
                                                           const float *gamma, const float *beta, \
                                                           float *out) {                          \
    enum { MB = NAME##_MB, NB = NAME##_NB };                                                       \
    for (int64_t t = 0; t < BK_CEIL_DIV(M, MB) * BK_CEIL_DIV(N, NB); t++)                          \
      bk_gemm_amx(0, t, x, (const uint16_t *)(const void *)w, bias, LN ? res : 0, LN ? gamma : 0, \
                  beta, out, M, N, K, MB, NB, ACT, 1e-12f, amx_scratch);                           \
  }
GEMM_BENCH_AMX(bb_qkv, 1024, 2304, 768, 0, 0)
GEMM_BENCH_AMX(bb_ffn1, 1024, 3072, 768, 1, 0)
GEMM_BENCH_AMX(bb_ffn2, 1024, 768, 3072, 0, 1)
GEMM_BENCH_AMX(qkv1, 128, 1152, 384, 0, 0)
#endif

static void check_plan(const char *name, int64_t m, int64_t n, int64_t k, int ln, int threads,
                       int64_t mb, int64_t nb) {
  int64_t pm, pn;
  bk_gemm_plan(m, n, k, ln, threads, &pm, &pn);
  if (pm != mb || pn != nb)
    printf("note: %s uses blocks %lldx%lld but bk_gemm_plan now says %lldx%lld\n", name,
           (long long)mb, (long long)nb, (long long)pm, (long long)pn);
}

static void run_gemm_as(const char *name, gemm_fn fn, int64_t m, int64_t n, int64_t k, double peak,
                        bool amx) {
  float *x = random_floats(m * k), *w = random_floats(n * k), *bias = random_floats(n);
  float *res = random_floats(m * n), *gamma = random_floats(n), *beta = random_floats(n);
  float *wp = malloc(sizeof(float) * (size_t)bk_packed_floats(n, k)), *out = random_floats(m * n);
  if (!wp) abort();
  bk_pack_weights(w, n, k, wp);
#if KB_AMX
  if (amx) {
    float *split = malloc((size_t)bk_packed_amx_bytes(n, k));
    if (!split) abort();
    bk_pack_weights_amx(wp, n, k, (uint16_t *)(void *)split);
    free(wp);
    wp = split;
  }
#else
  (void)amx;
#endif
  double best = 1e30;
  int reps = (int)BK_MAX(10, BK_MIN(400, 2e10 / (2.0 * (double)(m * n * k))));
  for (int rep = 0; rep < reps; rep++) {
    double t0 = now_seconds();
    fn(x, wp, bias, res, gamma, beta, out);
    double t = now_seconds() - t0;
    best = t < best ? t : best;
  }
  double gflops = 2.0 * (double)(m * n * k) / best * 1e-9;
  printf("%-34s M=%lld N=%4lld K=%4lld  %7.1f us  %6.1f GFLOP/s"
         "  (%3.0f%% of fma peak, %3.0f%% of 268)\n",
         name, (long long)m, (long long)n, (long long)k, best * 1e6, gflops, 100 * gflops / peak,
         100 * gflops / 268.0);
  free(x), free(w), free(bias), free(res), free(gamma), free(beta), free(wp), free(out);
}

static void run_gemm(const char *name, gemm_fn fn, int64_t m, int64_t n, int64_t k, double peak) {
  run_gemm_as(name, fn, m, n, k, peak, false);
}

/* ---- int8 ---- */
#if defined(__AVX512VNNI__)
__attribute__((noinline)) static int32_t dpbusd_peak_loop(int64_t n) {
  __m512i acc[12];
  for (int i = 0; i < 12; i++) acc[i] = _mm512_set1_epi32(i);
  __m512i a = _mm512_set1_epi8(3), b = _mm512_set1_epi8(-2);
  for (int64_t k = 0; k < n; k++) {
    for (int i = 0; i < 12; i++) acc[i] = _mm512_dpbusd_epi32(acc[i], a, b);
    __asm__ volatile("" : "+v"(a));
  }
  __m512i s = acc[0];
  for (int i = 1; i < 12; i++) s = _mm512_add_epi32(s, acc[i]);
  return _mm512_reduce_add_epi32(s);
}

static double dpbusd_peak_gops(void) {
  double best = 1e30;
  const int64_t n = 200000;
  for (int rep = 0; rep < 200; rep++) {
    double t0 = now_seconds();
    volatile int32_t sink = dpbusd_peak_loop(n);
    (void)sink;
    double t = now_seconds() - t0;
    best = t < best ? t : best;
  }
  return 12.0 * 128.0 * (double)n / best * 1e-9;
}

typedef void (*qgemm_fn)(const float *x, const uint8_t *w, const float *ws, const float *bias,
                         const float *res, const float *gamma, const float *beta, float *out,
                         uint8_t *xq);
/* the rows quantized (tasks of 32 rows), then the GEMM's tasks */
#define QGEMM_BENCH(NAME, M, N, K, ACT, LN, MB, NB)                                                \
  __attribute__((flatten, noinline)) static void NAME(                                            \
      const float *x, const uint8_t *w, const float *ws, const float *bias, const float *res,     \
      const float *gamma, const float *beta, float *out, uint8_t *xq) {                           \
    for (int64_t t = 0; t < BK_CEIL_DIV(M, 32); t++) bk_quantize_rows(0, t, x, xq, M, K, 32, 1);  \
    for (int64_t t = 0; t < BK_CEIL_DIV(M, MB) * BK_CEIL_DIV(N, NB); t++)                          \
      bk_qgemm_vnni512(0, t, xq, w, ws, bias, LN ? res : 0, LN ? gamma : 0, beta, out, M, N, K,   \
                       MB, NB, ACT, 1e-12f);                                                       \
  }
/* plans as bk_gemm_plan gives them for 2 threads (the int8 GEMM uses the same) */
QGEMM_BENCH(q_qkv, 128, 1152, 384, 0, 0, qkv_MB, qkv_NB)
QGEMM_BENCH(q_qkv1, 128, 1152, 384, 0, 0, 128, 1152)
QGEMM_BENCH(q_ffn1, 128, 1536, 384, 1, 0, ffn1_MB, ffn1_NB)
QGEMM_BENCH(q_ffn2, 128, 384, 1536, 0, 1, ffn2_MB, ffn2_NB)
QGEMM_BENCH(q_bb_qkv, 1024, 2304, 768, 0, 0, bb_qkv_MB, bb_qkv_NB)
QGEMM_BENCH(q_bb_ffn1, 1024, 3072, 768, 1, 0, bb_ffn1_MB, bb_ffn1_NB)
QGEMM_BENCH(q_bb_ffn2, 1024, 768, 3072, 0, 1, bb_ffn2_MB, bb_ffn2_NB)

static void run_qgemm(const char *name, qgemm_fn fn, int64_t m, int64_t n, int64_t k, int64_t mb,
                      int64_t nb, double peak) {
  float *x = random_floats(m * k), *ws = random_floats(n), *bias = random_floats(n);
  float *res = random_floats(m * n), *gamma = random_floats(n), *beta = random_floats(n);
  float *out = random_floats(m * n);
  int8_t *w = malloc((size_t)(n * k));
  uint8_t *wp = malloc((size_t)bk_packed_i8_bytes(n, k));
  (void)mb, (void)nb;
  uint8_t *scratch = aligned_alloc(64, (size_t)bk_qrows_bytes(m, k));
  if (!w || !wp || !scratch) abort();
  for (int64_t i = 0; i < n * k; i++) w[i] = (int8_t)(rand() % 255 - 127);
  bk_pack_weights_i8(w, n, k, wp);
  double best = 1e30;
  int reps = (int)BK_MAX(10, BK_MIN(400, 8e10 / (2.0 * (double)(m * n * k))));
  for (int rep = 0; rep < reps; rep++) {
    double t0 = now_seconds();
    fn(x, wp, ws, bias, res, gamma, beta, out, scratch);
    double t = now_seconds() - t0;
    best = t < best ? t : best;
  }
  double gops = 2.0 * (double)(m * n * k) / best * 1e-9;
  printf("%-34s M=%lld N=%4lld K=%4lld  %7.1f us  %6.1f GOP/s  (%3.0f%% of vpdpbusd peak)\n", name,
         (long long)m, (long long)n, (long long)k, best * 1e6, gops, 100 * gops / peak);
  free(x), free(ws), free(bias), free(res), free(gamma), free(beta), free(out), free(w), free(wp);
  free(scratch);
}
#endif

/* Attention with 12 heads of HD, packed QKV (ld = 3 * 12 * HD), batch 1:
 * MiniLM (HD 32) and BERT-base (HD 64). */
#define ATTN_BENCH(NAME, SEQ, HD, RPT)                                                             \
  __attribute__((flatten, noinline)) static void NAME(const float *qkv, const int32_t *mask,      \
                                                     float *out) {                                \
    for (int64_t t = 0; t < 12 * BK_CEIL_DIV(SEQ, RPT); t++)                                       \
      bk_attention(0, t, qkv, qkv + 12 * (HD), qkv + 24 * (HD), mask, out, SEQ, 12, HD, 36 * (HD), \
                   RPT, 1.0f / sqrtf((float)(HD)));                                                \
  }
ATTN_BENCH(attn128, 128, 32, 64)
ATTN_BENCH(attn512, 512, 32, 64)
ATTN_BENCH(attn64_128, 128, 64, 64)
ATTN_BENCH(attn64_512, 512, 64, 64)

static void run_attention(const char *name, void (*fn)(const float *, const int32_t *, float *),
                          int64_t seq, int64_t hd, int64_t rpt) {
  int64_t plan = bk_attention_rows_per_task(seq, 1, 12, hd, 2);
  if (plan != rpt)
    printf("note: %s uses %lld rows per task, bk_attention_rows_per_task says %lld\n", name,
           (long long)rpt, (long long)plan);
  float *qkv = random_floats(seq * 36 * hd), *out = random_floats(seq * 12 * hd);
  int32_t *mask = malloc(sizeof(int32_t) * (size_t)seq);
  if (!mask) abort();
  for (int64_t j = 0; j < seq; j++) mask[j] = 1;
  double best = 1e30;
  for (int rep = 0; rep < 200; rep++) {
    double t0 = now_seconds();
    fn(qkv, mask, out);
    double t = now_seconds() - t0;
    best = t < best ? t : best;
  }
  double flops = 4.0 * 12 * (double)hd * (double)seq * (double)seq;
  printf("%-34s seq=%4lld  %7.1f us  %6.1f GFLOP/s (QK^T and PV)\n", name, (long long)seq,
         best * 1e6, flops / best * 1e-9);
  free(qkv), free(out), free(mask);
}

int main(void) {
  check_plan("qkv", 128, 1152, 384, 0, 2, qkv_MB, qkv_NB);
  check_plan("attn_out", 128, 384, 384, 1, 2, attn_out_MB, attn_out_NB);
  check_plan("ffn1", 128, 1536, 384, 0, 2, ffn1_MB, ffn1_NB);
  check_plan("ffn2", 128, 384, 1536, 1, 2, ffn2_MB, ffn2_NB);
  check_plan("bb_qkv", 1024, 2304, 768, 0, 2, bb_qkv_MB, bb_qkv_NB);
  check_plan("bb_ffn1", 1024, 3072, 768, 0, 2, bb_ffn1_MB, bb_ffn1_NB);
  check_plan("bb_ffn2", 1024, 768, 3072, 1, 2, bb_ffn2_MB, bb_ffn2_NB);
  double peak = fma_peak_gflops();
  printf("fma peak (registers only, 1 core): %.1f GFLOP/s\n", peak);
  run_gemm("qkv            (plan for 2 threads)", qkv, 128, 1152, 384, peak);
  run_gemm("attn out +res+LN (plan, 2 threads)", attn_out, 128, 384, 384, peak);
  run_gemm("ffn1 +GELU     (plan for 2 threads)", ffn1, 128, 1536, 384, peak);
  run_gemm("ffn2 +res+LN   (plan for 2 threads)", ffn2, 128, 384, 1536, peak);
  run_gemm("qkv            (one block)", qkv1, 128, 1152, 384, peak);
  run_gemm("ffn1, no act   (one block)", ffn1_1, 128, 1536, 384, peak);
  run_gemm("BERT-base qkv  (b8 s128, plan 2t)", bb_qkv, 1024, 2304, 768, peak);
  run_gemm("BERT-base ffn1 +GELU (b8 s128)", bb_ffn1, 1024, 3072, 768, peak);
  run_gemm("BERT-base ffn2 +res+LN (b8 s128)", bb_ffn2, 1024, 768, 3072, peak);
#if KB_AMX
  /* AMX: the process must ask for the tile state first (Linux >= 5.16) */
  amx_scratch = aligned_alloc(64, 64 << 20);
  if (amx_scratch && syscall(SYS_arch_prctl, 0x1023, 18) == 0 &&
      __builtin_cpu_supports("avx512bf16")) {
    run_gemm_as("qkv on AMX     (one block)", qkv1_amx, 128, 1152, 384, peak, true);
    run_gemm_as("BERT-base qkv on AMX (b8 s128)", bb_qkv_amx, 1024, 2304, 768, peak, true);
    run_gemm_as("BERT-base ffn1 +GELU on AMX", bb_ffn1_amx, 1024, 3072, 768, peak, true);
    run_gemm_as("BERT-base ffn2 +res+LN on AMX", bb_ffn2_amx, 1024, 768, 3072, peak, true);
  } else {
    printf("AMX GEMMs not measured: this CPU or kernel has no AMX tile state\n");
  }
  free(amx_scratch);
#else
  printf("AMX GEMMs not measured: built for a target without AVX-512\n");
#endif
#if defined(__AVX512VNNI__)
  double qpeak = dpbusd_peak_gops();
  printf("vpdpbusd peak (registers only, 1 core): %.1f GOP/s (%.2fx the fma peak)\n", qpeak,
         qpeak / peak);
  run_qgemm("int8 qkv       (plan for 2 threads)", q_qkv, 128, 1152, 384, qkv_MB, qkv_NB, qpeak);
  run_qgemm("int8 qkv       (one block)", q_qkv1, 128, 1152, 384, 128, 1152, qpeak);
  run_qgemm("int8 ffn1 +GELU (plan, 2 threads)", q_ffn1, 128, 1536, 384, ffn1_MB, ffn1_NB, qpeak);
  run_qgemm("int8 ffn2 +res+LN (plan, 2 thr.)", q_ffn2, 128, 384, 1536, ffn2_MB, ffn2_NB, qpeak);
  run_qgemm("int8 BERT-base qkv (b8 s128)", q_bb_qkv, 1024, 2304, 768, bb_qkv_MB, bb_qkv_NB, qpeak);
  run_qgemm("int8 BERT-base ffn1 +GELU", q_bb_ffn1, 1024, 3072, 768, bb_ffn1_MB, bb_ffn1_NB, qpeak);
  run_qgemm("int8 BERT-base ffn2 +res+LN", q_bb_ffn2, 1024, 768, 3072, bb_ffn2_MB, bb_ffn2_NB, qpeak);
#else
  printf("int8 GEMMs not measured: built for a target without AVX512-VNNI\n");
#endif
  run_attention("attention (12 heads x 32, packed)", attn128, 128, 32, 64);
  run_attention("attention (12 heads x 32, packed)", attn512, 512, 32, 64);
  run_attention("attention (12 heads x 64, packed)", attn64_128, 128, 64, 64);
  run_attention("attention (12 heads x 64, packed)", attn64_512, 512, 64, 64);
  return 0;
}
