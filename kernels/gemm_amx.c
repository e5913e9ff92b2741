/* The linear layer on AMX tiles, exact to fp32 rounding: bk_gemm's contract
 * and packed weights, for CPUs with AMX-BF16 (Sapphire Rapids and later).
 *
 * AMX multiplies bf16 (8-bit significand) pairs and accumulates in fp32, at
 * 16x the FMA rate of AVX-512 fp32 per core. An fp32 value splits exactly into
 * three bf16 parts, x = x0 + x1 + x2 (each the round-to-nearest bf16 of what
 * the earlier parts leave; 3 x 8 bits cover fp32's 24). Of the nine products
 * of x = x0 + x1 + x2 and w = w0 + w1 + w2, this kernel keeps the six whose
 * size is at least 2^-16 of |x w|: x0w0, x0w1, x1w0, x0w2, x1w1, x2w0. What it
 * drops (x1w2, x2w1, x2w2) is below 2^-23 |x w| per product, the size of
 * fp32's own rounding, and the products themselves are exact in the fp32
 * accumulators: a sum of K products then differs from the true sum by as
 * much as an fp32 dot product does (measured: about half the error of a
 * sequential fp32 FMA loop, against a double reference). Six products at 16x
 * the rate are ~2.7x AVX-512's fp32 peak on paper; measured (one thread, this
 * file against bk_gemm, weights from L3): 1.05-1.55x on BERT-base's GEMMs of
 * 128-1024 rows, 0.6-1.0x below 64 rows.
 *
 * Weights are split at compile time (bk_pack_weights_amx, from bk_gemm's
 * [K][32] panels): per panel and K slice of at most BK_AMX_KC, three parts
 * of [2 column tiles][kc / 2 pairs][16 columns][2], the pair layout TDPBF16PS
 * reads, 1.5x the fp32 bytes, zero past K. (Splitting them at run time
 * instead, per panel into scratch, measured 0.5-1.3x of bk_gemm: the split
 * costs about as much as the tiles save.) While a panel computes, each row
 * tile prefetches its share of the next panel's slice into L2, a few lines
 * per K step (1.0x -> 1.5x at 128 rows). The block's rows of x are split at run time,
 * per K slice, into the caller's scratch (task `task` owns bytes
 * [task * bk_gemm_amx_scratch_bytes(m_block, k), ...)) and reused by every
 * panel of the block. Register tiles: 4 accumulators of 16x16 fp32
 * (32 rows x 32 columns), 2 row tiles of x, 2 column tiles of w. Edge tiles
 * (fewer rows or columns) are tiles configured smaller, so nothing outside the
 * block is read or written; x is padded with zeros to 32 columns in the scratch.
 * After the last slice the tile's epilogue (bias, activation, residual) runs
 * while it is in L1, then a fused LayerNorm over the block's rows, as in
 * bk_gemm. residual may not alias out (out holds partial sums between
 * slices; the memory planner never aliases a linear layer's operands).
 * Infinite weights give the infinite products an fp32 GEMM gives; an
 * infinite activation gives NaN (its parts are inf and inf - inf), where
 * bk_gemm gives +-inf or NaN: either way the output is not finite.
 *
 * This file uses target intrinsics (AMX has no vector-extension form); its
 * functions carry the AMX target attribute and codegen links them only into
 * models compiled for a target with AMX. */
#include <immintrin.h>
#include <math.h>
#include <stdbool.h>

#include "kernels/gemm_block.h"
#include "kernels/kernels.h"

#define BK_AMX_TARGET \
  __attribute__((target("amx-tile,amx-bf16,avx512f,avx512bw,avx512vl,avx512bf16")))
#define BK_AMX_INLINE static inline __attribute__((always_inline)) BK_AMX_TARGET

/* Longest K slice one pass covers: x's slice of a 256-row block in three bf16
 * parts (384 KiB) stays in L2 while the panels pass. */
#define BK_AMX_KC 256

int64_t bk_gemm_amx_kc(int64_t k) {
  int64_t kp = BK_CEIL_DIV(BK_MAX(k, 1), 32) * 32;
  int64_t slices = BK_CEIL_DIV(kp, BK_AMX_KC);
  return BK_CEIL_DIV(BK_CEIL_DIV(kp, slices), 32) * 32;
}

int64_t bk_gemm_amx_scratch_bytes(int64_t m_block, int64_t k) {
  int64_t rows = BK_CEIL_DIV(BK_MAX(m_block, 1), 32) * 32;
  return BK_CEIL_DIV(3 * 2 * bk_gemm_amx_kc(k) * rows, 64) * 64; /* three parts of [rows][kc] */
}

int64_t bk_packed_amx_bytes(int64_t n, int64_t k) {
  int64_t kc = bk_gemm_amx_kc(k), slices = BK_CEIL_DIV(BK_MAX(k, 1), kc);
  return BK_CEIL_DIV(n, BK_GEMM_NR) * slices * 3 * 32 * kc * 2;
}

/* Round to nearest even bf16, the rounding of VCVTNE2PS2BF16, except that a
 * finite value stays finite (toward zero where rounding would overflow) so
 * its remainder is too. NaN stays NaN. */
static uint16_t bf16_rne(float f, float *back) {
  uint32_t u, b;
  memcpy(&u, &f, sizeof u);
  if ((u & 0x7FFFFFFFu) > 0x7F800000u) {
    b = (u | 0x00400000u) & 0xFFFF0000u;
  } else {
    b = (u + 0x7FFFu + ((u >> 16) & 1u)) & 0xFFFF0000u;
    if ((b & 0x7FFFFFFFu) == 0x7F800000u && (u & 0x7FFFFFFFu) != 0x7F800000u) b = u & 0xFFFF0000u;
  }
  memcpy(back, &b, sizeof b);
  return (uint16_t)(b >> 16);
}

void bk_pack_weights_amx(const float *w_packed, int64_t n, int64_t k, uint16_t *out) {
  int64_t kc = bk_gemm_amx_kc(k), slices = BK_CEIL_DIV(BK_MAX(k, 1), kc);
  for (int64_t p = 0; p < BK_CEIL_DIV(n, BK_GEMM_NR); p++) {
    const float *panel = w_packed + p * k * BK_GEMM_NR;
    for (int64_t sl = 0; sl < slices; sl++) {
      uint16_t *dst = out + (p * slices + sl) * 3 * 32 * kc;
      for (int64_t kk = 0; kk < kc; kk++) {
        for (int64_t c = 0; c < BK_GEMM_NR; c++) {
          int64_t row = sl * kc + kk;
          float v = row < k ? panel[row * BK_GEMM_NR + c] : 0.0f, b;
          int64_t at = ((c / 16) * (kc / 2) + kk / 2) * 32 + (c % 16) * 2 + kk % 2;
          for (int part = 0; part < 3; part++) {
            dst[part * 32 * kc + at] = bf16_rne(v, &b);
            v = isinf(b) ? 0.0f : v - b; /* an infinite weight is all in part 0 */
          }
        }
      }
    }
  }
}

/* The palette-1 tile configuration (64 bytes, loaded by ldtilecfg). */
typedef struct amx_config {
  uint8_t palette, start_row;
  uint8_t reserved[14];
  uint16_t colsb[16];
  uint8_t rows[16];
} amx_config_t;

static void amx_tile_shape(amx_config_t *c, int t, int64_t rows, int64_t colsb) {
  if (rows <= 0 || colsb <= 0) return; /* left unconfigured: never used */
  c->rows[t] = (uint8_t)rows;
  c->colsb[t] = (uint16_t)colsb;
}

/* Tiles for an r x w (r, w <= 32) output tile: accumulators 0-3 (rows 0-15 /
 * 16-31 x columns 0-15 / 16-31), x in 4-5, w in 6-7. */
BK_AMX_INLINE void amx_configure(int64_t r, int64_t w) {
  amx_config_t cfg __attribute__((aligned(64)));
  memset(&cfg, 0, sizeof cfg);
  cfg.palette = 1;
  int64_t r0 = BK_MIN(r, 16), r1 = r - r0, w0 = BK_MIN(w, 16), w1 = w - w0;
  amx_tile_shape(&cfg, 0, r0, 4 * w0);
  amx_tile_shape(&cfg, 1, r0, 4 * w1);
  amx_tile_shape(&cfg, 2, r1, 4 * w0);
  amx_tile_shape(&cfg, 3, r1, 4 * w1);
  amx_tile_shape(&cfg, 4, r0, 64);
  amx_tile_shape(&cfg, 5, r1, 64);
  amx_tile_shape(&cfg, 6, 16, 4 * w0);
  amx_tile_shape(&cfg, 7, 16, 4 * w1);
  _tile_loadconfig(&cfg);
}

/* Lanes [0, n) of 16 set. */
static inline __mmask16 amx_mask(int64_t n) {
  return n >= 16 ? (__mmask16)0xFFFF : n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1);
}

/* The 32 floats lo (first 16), hi (next 16) as three vectors of 32 bf16 in
 * the same order, lo + hi == part 0 + part 1 + part 2 exactly. */
BK_AMX_INLINE void amx_split32(__m512 lo, __m512 hi, __m512i part[3]) {
  for (int p = 0; p < 3; p++) {
    __m512i b = (__m512i)_mm512_cvtne2ps_pbh(hi, lo);
    part[p] = b;
    if (p == 2) break;
    __m512i blo = _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm512_castsi512_si256(b)), 16);
    __m512i bhi = _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm512_extracti64x4_epi64(b, 1)), 16);
    lo = _mm512_sub_ps(lo, _mm512_castsi512_ps(blo));
    hi = _mm512_sub_ps(hi, _mm512_castsi512_ps(bhi));
  }
}

/* Rows [0, rows) of x (row stride ldx), columns [0, kn) -> three parts of
 * [rows][kc] bf16 (part stride `part`), zero from kn to steps * 32. */
BK_AMX_INLINE void amx_split_x(const float *x, int64_t ldx, int64_t rows, int64_t kn, int64_t kc,
                               int64_t steps, uint16_t *a, int64_t part) {
  for (int64_t r = 0; r < rows; r++) {
    for (int64_t s = 0; s < steps; s++) {
      int64_t c0 = s * 32;
      const float *src = x + r * ldx + c0;
      __m512 lo = _mm512_maskz_loadu_ps(amx_mask(kn - c0), src);
      __m512 hi = _mm512_maskz_loadu_ps(amx_mask(kn - c0 - 16), src + 16);
      __m512i v[3];
      amx_split32(lo, hi, v);
      for (int p = 0; p < 3; p++) _mm512_storeu_si512(a + p * part + r * kc + c0, v[p]);
    }
  }
}

/* The six products of one K step of 32, into the configured accumulators. */
#define AMX_DP()                                                                                   \
  do {                                                                                             \
    _tile_dpbf16ps(0, 4, 6);                                                                       \
    if (w2) _tile_dpbf16ps(1, 4, 7);                                                               \
    if (r2) {                                                                                      \
      _tile_dpbf16ps(2, 5, 6);                                                                     \
      if (w2) _tile_dpbf16ps(3, 5, 7);                                                             \
    }                                                                                              \
  } while (0)
#define AMX_LOAD_X(p)                                                                              \
  do {                                                                                             \
    _tile_loadd(4, xs + (p) * xpart, lda);                                                         \
    if (r2) _tile_loadd(5, xs + (p) * xpart + 16 * kc, lda);                                       \
  } while (0)
#define AMX_LOAD_W(p)                                                                              \
  do {                                                                                             \
    _tile_loadd(6, ws + (p) * wpart, 64);                                                          \
    if (w2) _tile_loadd(7, ws + (p) * wpart + kc * 16, 64);                                        \
  } while (0)

/* c[r x w] (+)= the slice's product: x parts at x (row stride kc), w parts at
 * w; r2 / w2: the tile has a second row / column half. */
BK_AMX_INLINE void amx_tile(float *c, int64_t ldc, const uint16_t *x, int64_t xpart,
                            const uint16_t *w, int64_t kc, int64_t steps, bool r2, bool w2,
                            bool first, const char *pf, int64_t pf_lines) {
  int64_t pf_per_step = BK_CEIL_DIV(pf_lines, steps);
  const int64_t lda = kc * 2, ldcb = ldc * 4, wpart = 32 * kc;
  if (first) {
    _tile_zero(0);
    if (w2) _tile_zero(1);
    if (r2) _tile_zero(2);
    if (r2 && w2) _tile_zero(3);
  } else {
    _tile_loadd(0, c, ldcb);
    if (w2) _tile_loadd(1, c + 16, ldcb);
    if (r2) _tile_loadd(2, c + 16 * ldc, ldcb);
    if (r2 && w2) _tile_loadd(3, c + 16 * ldc + 16, ldcb);
  }
  for (int64_t s = 0; s < steps; s++) {
    const uint16_t *xs = x + s * 32, *ws = w + s * 512;
    for (int64_t l = 0; l < pf_per_step && s * pf_per_step + l < pf_lines; l++)
      _mm_prefetch(pf + (s * pf_per_step + l) * 64, _MM_HINT_T1);
    AMX_LOAD_X(0);
    AMX_LOAD_W(0);
    AMX_DP(); /* x0 w0 */
    AMX_LOAD_W(1);
    AMX_DP(); /* x0 w1 */
    AMX_LOAD_W(2);
    AMX_DP(); /* x0 w2 */
    AMX_LOAD_X(1);
    AMX_LOAD_W(1);
    AMX_DP(); /* x1 w1 */
    AMX_LOAD_W(0);
    AMX_DP(); /* x1 w0 */
    AMX_LOAD_X(2);
    AMX_DP(); /* x2 w0 */
  }
  _tile_stored(0, c, ldcb);
  if (w2) _tile_stored(1, c + 16, ldcb);
  if (r2) _tile_stored(2, c + 16 * ldc, ldcb);
  if (r2 && w2) _tile_stored(3, c + 16 * ldc + 16, ldcb);
}

BK_AMX_TARGET void bk_gemm_amx(const bertc_env_t *env, int64_t task, const float *x,
                               const uint16_t *w_amx, const float *bias, const float *residual,
                               const float *gamma, const float *beta, float *out, int64_t m,
                               int64_t n, int64_t k, int64_t m_block, int64_t n_block,
                               int64_t act, float eps, uint8_t *scratch) {
  (void)env;
  int64_t i0, i1, j0, j1;
  bk_gemm_block(task, m, n, m_block, n_block, &i0, &i1, &j0, &j1);
  if (i0 >= i1 || j0 >= j1) return;
  int64_t rows = i1 - i0, kc = bk_gemm_amx_kc(k);
  int64_t xpart = BK_CEIL_DIV(m_block, 32) * 32 * kc;
  int64_t slices = BK_CEIL_DIV(BK_MAX(k, 1), kc);
  uint16_t *xs = (uint16_t *)(void *)(scratch + task * bk_gemm_amx_scratch_bytes(m_block, k));
  int64_t cfg_r = -1, cfg_w = -1;
  for (int64_t k0 = 0; k0 < BK_MAX(k, 1); k0 += kc) {
    int64_t kn = BK_MAX(0, BK_MIN(kc, k - k0)), steps = BK_MAX(1, BK_CEIL_DIV(kn, 32));
    bool first = k0 == 0, last = k0 + kc >= k;
    amx_split_x(x + i0 * k + k0, k, rows, kn, kc, steps, xs, xpart);
    for (int64_t j = j0; j < j1; j += BK_GEMM_NR) {
      int64_t w = BK_MIN(BK_GEMM_NR, j1 - j);
      const uint16_t *ws = w_amx + (j / BK_GEMM_NR * slices + k0 / kc) * 3 * 32 * kc;
      /* the next panel's slice (or the first of the next slice), fetched
       * while this one computes: its share per row tile, a few lines per
       * step (tile loads do not wake the hardware prefetcher as well) */
      const char *next = 0;
      if (j + BK_GEMM_NR < j1)
        next = (const char *)(ws + slices * 3 * 32 * kc);
      else if (k0 + kc < k)
        next = (const char *)(w_amx + (j0 / BK_GEMM_NR * slices + k0 / kc + 1) * 3 * 32 * kc);
      int64_t lines = next ? 3 * 32 * kc * 2 / 64 : 0, tiles = BK_CEIL_DIV(rows, 32), line = 0;
      for (int64_t i = 0; i < rows; i += 32) {
        int64_t r = BK_MIN(32, rows - i);
        if (r != cfg_r || w != cfg_w) {
          amx_configure(r, w);
          cfg_r = r;
          cfg_w = w;
        }
        float *c = out + (i0 + i) * n + j;
        int64_t share = BK_MIN(BK_CEIL_DIV(lines, tiles), lines - line);
        amx_tile(c, n, xs + i * kc, xpart, ws, kc, steps, r > 16, w > 16, first,
                 next ? next + line * 64 : 0, share);
        line += share;
        if (last)
          bk_epilogue(c, n, r, w, bias ? bias + j : 0, residual ? residual + (i0 + i) * n + j : 0,
                      n, act);
      }
    }
  }
  _tile_release();
  bk_gemm_ln_rows(out, gamma, beta, i0, i1, n, eps);
}

/* AMX pays where the weights are reused enough: blocks of >= 64 rows, and
 * >= 128 rows per thread. Below that the layer is bound by streaming its
 * weights, which are 1.5x the bytes here. Measured on BERT-base (whole
 * model, interleaved runs of the two builds, min / median latency): 1 thread
 * seq 128 1.23x / 1.18x faster, seq 512 1.33x / 1.30x, batch 8 x 128 1.36x /
 * 1.35x, but seq 64 0.95x / 0.90x; 2 threads seq 512 1.40x / 1.13x, batch 8
 * 1.37x / 1.39x, but seq 128 0.98x / 0.89x and seq 64 0.87x / 0.80x. */
int bk_gemm_use_amx(int64_t m, int64_t n, int64_t k, int64_t m_block, int threads) {
  (void)n;
  (void)k;
  return BK_MIN(m, m_block) >= 64 && m / BK_MAX(threads, 1) >= 128;
}
