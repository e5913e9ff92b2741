/* int8 linear layers (qlinear): out = act(dequant(quant(x) wq^T) + bias) (+ residual)
 * (-> LayerNorm), with the integer semantics of the IR's reference (ir/interp.c):
 *
 *   per row of x: [lo, hi] = [min(x, 0), max(x, 0)], inv = 255 / (hi - lo) (f32; 0
 *   for a zero row), zero point z = round(-lo * inv), codes u = clamp(round(x * inv)
 *   + z, 0, 255) (round: nearest, ties to even, of the f32 product), row scale
 *   (hi - lo) / 255; acc[i,j] = sum_k (u - z)[i,k] wq[j,k] exactly in int32;
 *   y = (float)acc * (row_scale * ws[j]) + bias[j], then act, + residual, LayerNorm.
 *
 * Asymmetric codes use all 256 levels on one-sided rows (a GELU's output has a
 * floor of -0.17 and a long positive tail), where a symmetric scale wastes half.
 *
 * bk_quantize_rows quantizes x once per layer (tasks over rows) into a region
 * of bk_qrows_bytes(m, k) bytes: the rows' codes (bytes u for the VNNI
 * variants, int16 u - z for the others), then their scales and zero points.
 * (Quantizing inside each GEMM task instead repeats it once per column block:
 * 14 % of MiniLM's QKV projection at 128 rows, measured in kernel_bench.)
 * A GEMM task computes one m_block x n_block block (bk_gemm's tiling,
 * bk_gemm_plan): register tiles over the block's 32-column panels, each over
 * all of K (int32 accumulators need no reload between K slices), then the
 * epilogue on the tile's rows.
 *
 * Weights are packed at compile time (bk_pack_weights_i8) in [K/4][32][4]
 * byte panels, the operand layout of vpdpbusd, followed by the int32 column
 * sums. Four variants, chosen by lowering from the target's features:
 *
 *  - bk_qgemm_vnni512 (AVX512-VNNI): vpdpbusd multiplies the unsigned codes u
 *    by the signed weights and sums four products into int32 without
 *    saturating; the zero point comes off exactly afterwards:
 *    sum (u - z) w = sum u w - z * colsum(w). Tiles of 8 rows x 32 columns
 *    (16 zmm accumulators).
 *  - bk_qgemm_avxvnni (AVX-VNNI, 256-bit): the same on ymm, tiles of 6 rows
 *    x 16 columns (12 accumulators).
 *  - bk_qgemm_avx2 (AVX2 without VNNI): vpmaddubsw would add two u8 x s8
 *    products in a saturating int16 (255 * 127 * 2 = 64770 > 32767: wrong
 *    answers on real activations). Here the centered codes u - z (in
 *    [-255, 255]) are stored as int16 by bk_quantize_rows, the weights are
 *    sign-extended to int16 as they are loaded (vpmovsxbw), and vpmaddwd adds
 *    two int16 products into int32: at most 2 * 255 * 127 = 64770 per pair, far
 *    inside int32, so nothing can saturate for any input (vpmaddwd saturates
 *    only for two -32768 * -32768 products). Tiles of 2 rows x 16 columns.
 *  - bk_qgemm_generic: portable C for other targets (the same integers).
 *
 * The first three use target intrinsics (immintrin.h) in functions carrying
 * their target attribute; codegen links only the variant a model calls. */
#include <immintrin.h>
#include <stdbool.h>

#include "kernels/gemm_block.h"
#include "kernels/kernels.h"
#include "kernels/rows.h"
#include "kernels/simd.h"
#include "kernels/tile.h"

#define QK4(k) BK_CEIL_DIV(BK_MAX(k, 1), 4)

int64_t bk_packed_i8_bytes(int64_t n, int64_t k) {
  int64_t cols = BK_CEIL_DIV(n, BK_GEMM_NR) * BK_GEMM_NR;
  return cols * QK4(k) * 4 + cols * 4;
}

void bk_pack_weights_i8(const int8_t *w, int64_t n, int64_t k, uint8_t *out) {
  int64_t panels = BK_CEIL_DIV(n, BK_GEMM_NR), k4 = QK4(k);
  int8_t *q = (int8_t *)out;
  int32_t sums[BK_GEMM_NR];
  uint8_t *sum_at = out + panels * BK_GEMM_NR * k4 * 4;
  for (int64_t p = 0; p < panels; p++) {
    for (int c = 0; c < BK_GEMM_NR; c++) sums[c] = 0;
    for (int64_t kk = 0; kk < k4 * 4; kk++) {
      for (int64_t c = 0; c < BK_GEMM_NR; c++) {
        int64_t col = p * BK_GEMM_NR + c;
        int8_t v = col < n && kk < k ? w[col * k + kk] : 0;
        q[((p * k4 + kk / 4) * BK_GEMM_NR + c) * 4 + kk % 4] = v;
        sums[c] += v;
      }
    }
    memcpy(sum_at + p * BK_GEMM_NR * 4, sums, sizeof sums);
  }
}

/* The region bk_quantize_rows writes: rows of up to 2 * kp bytes, then m
 * scales, then m zero points, each part 64-byte aligned. */
int64_t bk_qrows_bytes(int64_t m, int64_t k) {
  int64_t rows = BK_MAX(m, 1);
  return BK_CEIL_DIV(rows * QK4(k) * 4 * 2, 64) * 64 + 2 * BK_CEIL_DIV(rows * 4, 64) * 64;
}

BK_INLINE float *qrows_scales(const uint8_t *xq, int64_t m, int64_t k) {
  return (float *)(uintptr_t)(xq + BK_CEIL_DIV(BK_MAX(m, 1) * QK4(k) * 4 * 2, 64) * 64);
}

BK_INLINE int32_t *qrows_zps(const uint8_t *xq, int64_t m, int64_t k) {
  return (int32_t *)(uintptr_t)((const uint8_t *)qrows_scales(xq, m, k) +
                                BK_CEIL_DIV(BK_MAX(m, 1) * 4, 64) * 64);
}

/* min(x, 0) and max(x, 0) over a row (exact). */
BK_INLINE void quant_row_range(const float *x, int64_t k, float *lo, float *hi) {
  int64_t kv = k / BK_VL * BK_VL;
  v16f mn = v_splat(0.0f), mx = v_splat(0.0f);
  for (int64_t i = 0; i < kv; i += BK_VL) {
    v16f v = v_load(x + i);
    mn = v_min(mn, v);
    mx = v_max(mx, v);
  }
  if (kv < k) {
    v16f v = v_load_part(x + kv, k - kv, 0.0f);
    mn = v_min(mn, v);
    mx = v_max(mx, v);
  }
  *lo = -v_hmax(-mn);
  *hi = v_hmax(mx);
}

/* round_half_even(t) for |t| <= 2^22 (here <= 256): adding and subtracting
 * 1.5 * 2^23 rounds to an integer in the current (nearest-even) mode. Separate
 * statements, so nothing contracts into an FMA. */
BK_INLINE v16f round_vec(v16f t) {
  const v16f magic = v_splat(12582912.0f);
  v16f r = t + magic;
  return r - magic;
}

/* The codes u = clamp(round(x * inv) + z, 0, 255) of 16 values. */
BK_INLINE v16i quant_vec(v16f x, float inv, int32_t z) {
  v16f t = x * inv;
  v16i u = __builtin_convertvector(round_vec(t), v16i) + z;
  v16i hi = u > 255, lo = u < 0;
  u = (hi & 255) | (~hi & u);
  return ~lo & u;
}

/* Quantizes rows [i0, i1) of x (m rows) into xq: elem_bytes 1 stores the
 * codes u as bytes (padded with z, so the padding's centered code is 0), 2
 * stores the centered codes u - z as int16 (padded with 0); then each row's
 * scale and zero point. */
BK_INLINE void quant_rows(const float *x, int64_t i0, int64_t i1, int64_t m, int64_t k,
                          uint8_t *xq, int elem_bytes) {
  int64_t kp = QK4(k) * 4;
  float *sc = qrows_scales(xq, m, k);
  int32_t *zp = qrows_zps(xq, m, k);
  for (int64_t i = i0; i < i1; i++) {
    const float *xr = x + i * k;
    float lo, hi;
    quant_row_range(xr, k, &lo, &hi);
    float range = hi - lo;
    float inv = range > 0.0f ? 255.0f / range : 0.0f;
    float zf = -lo * inv;
    int32_t z = (int32_t)round_vec(v_splat(zf))[0];
    sc[i] = range / 255.0f;
    zp[i] = z;
    uint8_t *row8 = xq + i * kp * elem_bytes;
    int16_t *row16 = (int16_t *)row8;
    for (int64_t j = 0; j < kp; j += BK_VL) {
      int64_t cnt = BK_MIN(BK_VL, k - j);
      v16f v = cnt >= BK_VL ? v_load(xr + j) : v_load_part(xr + j, BK_MAX(cnt, 0), 0.0f);
      v16i u = quant_vec(v, inv, z); /* x = 0 past k gives u = z */
      int64_t w = BK_MIN(BK_VL, kp - j);
      if (elem_bytes == 1) {
        typedef uint8_t v16u8 __attribute__((vector_size(16)));
        v16u8 b = __builtin_convertvector(u, v16u8);
        memcpy(row8 + j, &b, (size_t)w);
      } else {
        typedef int16_t v16s16 __attribute__((vector_size(32)));
        v16s16 h = __builtin_convertvector(u - z, v16s16);
        memcpy(row16 + j, &h, (size_t)w * 2);
      }
    }
  }
}

void bk_quantize_rows(const bertc_env_t *env, int64_t task, const float *x, uint8_t *xq,
                      int64_t m, int64_t k, int64_t rows_per_task, int64_t elem_bytes) {
  (void)env;
  int64_t i0 = task * rows_per_task, i1 = BK_MIN(m, i0 + rows_per_task);
  if (elem_bytes == 1)
    quant_rows(x, i0, i1, m, k, xq, 1);
  else
    quant_rows(x, i0, i1, m, k, xq, 2);
}

/* The dequantized tile into out: acc (int32, `w` columns per row, stride
 * ldacc), minus zp[r] * colsum[j] when colsum is not NULL, times scale[r] *
 * ws[j]. Bias, act and residual follow in bk_epilogue. */
BK_INLINE void dequant_store(const int32_t *acc, int64_t ldacc, int rows, int64_t w,
                             const int32_t *colsum, const int32_t *zp, const float *scales,
                             const float *ws, float *out, int64_t ldc) {
  for (int r = 0; r < rows; r++)
    for (int64_t j = 0; j < w; j++) {
      int32_t a = acc[r * ldacc + j] - (colsum ? zp[r] * colsum[j] : 0);
      float s = scales[r] * ws[j];
      out[r * ldc + j] = (float)a * s;
    }
}

/* ---- AVX512-VNNI ---- */
#define QV512 __attribute__((target("avx512f,avx512bw,avx512vnni")))

void bk_qgemm_vnni512(const bertc_env_t *env, int64_t task, const uint8_t *xq, const uint8_t *w,
                      const float *ws, const float *bias, const float *residual,
                      const float *gamma, const float *beta, float *out, int64_t m, int64_t n,
                      int64_t k, int64_t m_block, int64_t n_block, int64_t act, float eps) QV512;
void bk_qgemm_vnni512(const bertc_env_t *env, int64_t task, const uint8_t *xq, const uint8_t *w,
                      const float *ws, const float *bias, const float *residual,
                      const float *gamma, const float *beta, float *out, int64_t m, int64_t n,
                      int64_t k, int64_t m_block, int64_t n_block, int64_t act, float eps) {
  (void)env;
  int64_t i0, i1, j0, j1;
  bk_gemm_block(task, m, n, m_block, n_block, &i0, &i1, &j0, &j1);
  if (i0 >= i1 || j0 >= j1) return;
  int64_t k4 = QK4(k), kp = k4 * 4;
  const uint8_t *sc = xq + i0 * kp * 1;
  const float *scales = qrows_scales(xq, m, k) + i0;
  const int32_t *zps = qrows_zps(xq, m, k) + i0;
  const int32_t *colsums = (const int32_t *)(w + BK_CEIL_DIV(n, BK_GEMM_NR) * BK_GEMM_NR * kp);
  for (int64_t j = j0; j < j1; j += BK_GEMM_NR) {
    const uint8_t *panel = w + j / BK_GEMM_NR * (k4 * BK_GEMM_NR * 4);
    int64_t wcols = BK_MIN(BK_GEMM_NR, j1 - j);
    for (int64_t i = i0; i < i1; i += 8) {
      int rows = (int)BK_MIN(8, i1 - i);
      __m512i acc[8][2];
      for (int r = 0; r < 8; r++) acc[r][0] = acc[r][1] = _mm512_setzero_si512();
      const uint8_t *a = sc + (i - i0) * kp;
#define QV512_STEP(R)                                                                              \
  for (int64_t p = 0; p < k4; p++) {                                                               \
    __m512i b0 = _mm512_loadu_si512(panel + p * 128), b1 = _mm512_loadu_si512(panel + p * 128 + 64); \
    for (int r = 0; r < (R); r++) {                                                                \
      int32_t quad;                                                                                \
      memcpy(&quad, a + r * kp + p * 4, 4);                                                        \
      __m512i av = _mm512_set1_epi32(quad);                                                        \
      acc[r][0] = _mm512_dpbusd_epi32(acc[r][0], av, b0);                                          \
      acc[r][1] = _mm512_dpbusd_epi32(acc[r][1], av, b1);                                          \
    }                                                                                              \
  }
      BK_TILE_DISPATCH(rows, QV512_STEP)
#undef QV512_STEP
      /* dequantize in registers: (acc - z * colsum) as f32 times scale * ws */
      __m512i cs0 = _mm512_loadu_si512(colsums + j), cs1 = _mm512_loadu_si512(colsums + j + 16);
      __mmask16 m0 = (__mmask16)(wcols >= 16 ? 0xFFFF : (1u << wcols) - 1);
      __mmask16 m1 = (__mmask16)(wcols >= 32 ? 0xFFFF : wcols > 16 ? (1u << (wcols - 16)) - 1 : 0);
      __m512 ws0 = _mm512_maskz_loadu_ps(m0, ws + j), ws1 = _mm512_maskz_loadu_ps(m1, ws + j + 16);
      for (int r = 0; r < rows; r++) {
        __m512i z = _mm512_set1_epi32(zps[i - i0 + r]);
        __m512i a0 = _mm512_sub_epi32(acc[r][0], _mm512_mullo_epi32(z, cs0));
        __m512i a1 = _mm512_sub_epi32(acc[r][1], _mm512_mullo_epi32(z, cs1));
        __m512 sr = _mm512_set1_ps(scales[i - i0 + r]);
        __m512 s0 = _mm512_mul_ps(ws0, sr), s1 = _mm512_mul_ps(ws1, sr);
        float *o = out + (i + r) * n + j;
        _mm512_mask_storeu_ps(o, m0, _mm512_mul_ps(_mm512_cvtepi32_ps(a0), s0));
        _mm512_mask_storeu_ps(o + 16, m1, _mm512_mul_ps(_mm512_cvtepi32_ps(a1), s1));
      }
      bk_epilogue(out + i * n + j, n, rows, wcols, bias ? bias + j : 0,
                  residual ? residual + i * n + j : 0, n, act);
    }
  }
  bk_gemm_ln_rows(out, gamma, beta, i0, i1, n, eps);
}

/* ---- AVX-VNNI (256-bit) ---- */
#define QVNNI256 __attribute__((target("avx2,avxvnni")))

void bk_qgemm_avxvnni(const bertc_env_t *env, int64_t task, const uint8_t *xq, const uint8_t *w,
                      const float *ws, const float *bias, const float *residual,
                      const float *gamma, const float *beta, float *out, int64_t m, int64_t n,
                      int64_t k, int64_t m_block, int64_t n_block, int64_t act, float eps) QVNNI256;
void bk_qgemm_avxvnni(const bertc_env_t *env, int64_t task, const uint8_t *xq, const uint8_t *w,
                      const float *ws, const float *bias, const float *residual,
                      const float *gamma, const float *beta, float *out, int64_t m, int64_t n,
                      int64_t k, int64_t m_block, int64_t n_block, int64_t act, float eps) {
  (void)env;
  int64_t i0, i1, j0, j1;
  bk_gemm_block(task, m, n, m_block, n_block, &i0, &i1, &j0, &j1);
  if (i0 >= i1 || j0 >= j1) return;
  int64_t k4 = QK4(k), kp = k4 * 4;
  const uint8_t *sc = xq + i0 * kp * 1;
  const float *scales = qrows_scales(xq, m, k) + i0;
  const int32_t *zps = qrows_zps(xq, m, k) + i0;
  const int32_t *colsums = (const int32_t *)(w + BK_CEIL_DIV(n, BK_GEMM_NR) * BK_GEMM_NR * kp);
  for (int64_t j = j0; j < j1; j += BK_GEMM_NR) {
    const uint8_t *panel = w + j / BK_GEMM_NR * (k4 * BK_GEMM_NR * 4);
    for (int64_t h = 0; h < 2 && j + h * 16 < j1; h++) {
      int64_t c0 = j + h * 16, wcols = BK_MIN(16, j1 - c0);
      for (int64_t i = i0; i < i1; i += 6) {
        int rows = (int)BK_MIN(6, i1 - i);
        __m256i acc[6][2];
        for (int r = 0; r < 6; r++) acc[r][0] = acc[r][1] = _mm256_setzero_si256();
        const uint8_t *a = sc + (i - i0) * kp;
#define QV256_STEP(R)                                                                              \
  if ((R) <= 6)                                                                                    \
    for (int64_t p = 0; p < k4; p++) {                                                             \
      const uint8_t *bp = panel + p * 128 + h * 64;                                                \
      __m256i b0 = _mm256_loadu_si256((const __m256i *)bp);                                        \
      __m256i b1 = _mm256_loadu_si256((const __m256i *)(bp + 32));                                 \
      for (int r = 0; r < (R); r++) {                                                              \
        int32_t quad;                                                                              \
        memcpy(&quad, a + r * kp + p * 4, 4);                                                      \
        __m256i av = _mm256_set1_epi32(quad);                                                      \
        acc[r][0] = _mm256_dpbusd_avx_epi32(acc[r][0], av, b0);                                    \
        acc[r][1] = _mm256_dpbusd_avx_epi32(acc[r][1], av, b1);                                    \
      }                                                                                            \
    }
        BK_TILE_DISPATCH(rows, QV256_STEP)
#undef QV256_STEP
        int32_t tile[6][16];
        for (int r = 0; r < rows; r++) {
          _mm256_storeu_si256((__m256i *)tile[r], acc[r][0]);
          _mm256_storeu_si256((__m256i *)(tile[r] + 8), acc[r][1]);
        }
        dequant_store(&tile[0][0], 16, rows, wcols, colsums + c0, zps + (i - i0),
                      scales + (i - i0), ws + c0, out + i * n + c0, n);
        bk_epilogue(out + i * n + c0, n, rows, wcols, bias ? bias + c0 : 0,
                    residual ? residual + i * n + c0 : 0, n, act);
      }
    }
  }
  bk_gemm_ln_rows(out, gamma, beta, i0, i1, n, eps);
}

/* ---- AVX2 without VNNI: int16 x int16 -> int32 pairs (vpmaddwd) ---- */
#define QAVX2 __attribute__((target("avx2")))

void bk_qgemm_avx2(const bertc_env_t *env, int64_t task, const uint8_t *xq, const uint8_t *w,
                   const float *ws, const float *bias, const float *residual,
                   const float *gamma, const float *beta, float *out, int64_t m, int64_t n,
                   int64_t k, int64_t m_block, int64_t n_block, int64_t act, float eps) QAVX2;
void bk_qgemm_avx2(const bertc_env_t *env, int64_t task, const uint8_t *xq, const uint8_t *w,
                   const float *ws, const float *bias, const float *residual,
                   const float *gamma, const float *beta, float *out, int64_t m, int64_t n,
                   int64_t k, int64_t m_block, int64_t n_block, int64_t act, float eps) {
  (void)env;
  int64_t i0, i1, j0, j1;
  bk_gemm_block(task, m, n, m_block, n_block, &i0, &i1, &j0, &j1);
  if (i0 >= i1 || j0 >= j1) return;
  int64_t k4 = QK4(k), kp = k4 * 4;
  const uint8_t *sc = xq + i0 * kp * 2;
  const float *scales = qrows_scales(xq, m, k) + i0; /* centered codes: no zero points */
  for (int64_t j = j0; j < j1; j += BK_GEMM_NR) {
    const uint8_t *panel = w + j / BK_GEMM_NR * (k4 * BK_GEMM_NR * 4);
    for (int64_t h = 0; h < 2 && j + h * 16 < j1; h++) {
      int64_t c0 = j + h * 16, wcols = BK_MIN(16, j1 - c0);
      for (int64_t i = i0; i < i1; i += 2) {
        int rows = (int)BK_MIN(2, i1 - i);
        /* acc[r][v]: columns 4v..4v+3, each as two int32 halves (k%4 in {0,1}
         * and {2,3}), added together at the end */
        __m256i acc[2][4];
        for (int r = 0; r < 2; r++)
          for (int v = 0; v < 4; v++) acc[r][v] = _mm256_setzero_si256();
        const int16_t *a = (const int16_t *)sc + (i - i0) * kp;
        for (int64_t p = 0; p < k4; p++) {
          const uint8_t *bp = panel + p * 128 + h * 64;
          __m256i b[4];
          for (int v = 0; v < 4; v++)
            b[v] = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(bp + v * 16)));
          for (int r = 0; r < rows; r++) {
            int64_t quad;
            memcpy(&quad, a + r * kp + p * 4, 8);
            __m256i av = _mm256_set1_epi64x(quad);
            for (int v = 0; v < 4; v++)
              acc[r][v] = _mm256_add_epi32(acc[r][v], _mm256_madd_epi16(av, b[v]));
          }
        }
        int32_t tile[2][16];
        for (int r = 0; r < rows; r++)
          for (int v = 0; v < 4; v++) {
            int32_t t[8];
            _mm256_storeu_si256((__m256i *)t, acc[r][v]);
            for (int c = 0; c < 4; c++) tile[r][v * 4 + c] = t[2 * c] + t[2 * c + 1];
          }
        dequant_store(&tile[0][0], 16, rows, wcols, NULL, NULL, scales + (i - i0), ws + c0,
                      out + i * n + c0, n);
        bk_epilogue(out + i * n + c0, n, rows, wcols, bias ? bias + c0 : 0,
                    residual ? residual + i * n + c0 : 0, n, act);
      }
    }
  }
  bk_gemm_ln_rows(out, gamma, beta, i0, i1, n, eps);
}

/* ---- portable ---- */
void bk_qgemm_generic(const bertc_env_t *env, int64_t task, const uint8_t *xq, const uint8_t *w,
                      const float *ws, const float *bias, const float *residual,
                      const float *gamma, const float *beta, float *out, int64_t m, int64_t n,
                      int64_t k, int64_t m_block, int64_t n_block, int64_t act, float eps) {
  (void)env;
  int64_t i0, i1, j0, j1;
  bk_gemm_block(task, m, n, m_block, n_block, &i0, &i1, &j0, &j1);
  if (i0 >= i1 || j0 >= j1) return;
  int64_t k4 = QK4(k), kp = k4 * 4;
  const uint8_t *sc = xq + i0 * kp * 2;
  const float *scales = qrows_scales(xq, m, k) + i0; /* centered codes: no zero points */
  for (int64_t i = i0; i < i1; i++) {
    const int16_t *a = (const int16_t *)sc + (i - i0) * kp;
    for (int64_t j = j0; j < j1; j += 16) {
      int64_t wcols = BK_MIN(16, j1 - j);
      int32_t tile[16];
      for (int64_t c = 0; c < wcols; c++) {
        const int8_t *col = (const int8_t *)w + (j + c) / BK_GEMM_NR * (k4 * BK_GEMM_NR * 4) +
                            (j + c) % BK_GEMM_NR * 4;
        int32_t s = 0;
        for (int64_t p = 0; p < k4; p++)
          for (int q = 0; q < 4; q++) s += (int32_t)a[p * 4 + q] * col[p * BK_GEMM_NR * 4 + q];
        tile[c] = s;
      }
      dequant_store(tile, 16, 1, wcols, NULL, NULL, scales + (i - i0), ws + j, out + i * n + j, n);
      bk_epilogue(out + i * n + j, n, 1, wcols, bias ? bias + j : 0,
                  residual ? residual + i * n + j : 0, n, act);
    }
  }
  bk_gemm_ln_rows(out, gamma, beta, i0, i1, n, eps);
}
