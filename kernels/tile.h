/* The register tile shared by the GEMM and attention kernels (internal header).
 *
 * C[rows, 16*nv] += A[rows, kdim] * B[kdim, 16*nv], with A read by rows
 * (a[r*lda + p], one broadcast per row and step) and B by rows of one or two
 * vectors (b[p*ldb ...], a [K][32] panel of packed weights when ldb = 32).
 * The accumulators are rows x nv vector variables; called with constant rows
 * and nv they live in registers (MR = 8 rows x 2 zmm = 16 of the 32 zmm on
 * AVX-512) and each step of the loop (unrolled 4x) is 2 vector loads, one
 * broadcast per row and 2*rows FMAs - the BLIS micro-kernel shape. */
#ifndef BERTC_KERNELS_TILE_H
#define BERTC_KERNELS_TILE_H

#include "kernels/simd.h"

/* Rows of the GEMM and attention micro-tile. 8 suits AVX-512 (32 vector
 * registers); the AVX2 bitcode is built with -DBK_GEMM_MR=6 -DBK_GEMM_NV=1
 * (below). At most 8. */
#ifndef BK_GEMM_MR
#define BK_GEMM_MR 8
#endif
#define BK_TILE_MAX_ROWS 8
/* Vectors of 16 columns per tile row in the GEMM and attention: 2 with
 * AVX-512 (8 x 32 tiles: 16 zmm accumulators), 1 on AVX2-only targets, whose
 * 16 ymm registers hold a 6 x 16 tile (12 accumulators, 2 weight vectors and
 * a broadcast); 3 x 32 tiles there need 17 and spill in the inner loop. */
#ifndef BK_GEMM_NV
#define BK_GEMM_NV 2
#endif
_Static_assert(BK_GEMM_NV == 1 || BK_GEMM_NV == 2, "BK_GEMM_NV is 1 or 2");

_Static_assert(BK_GEMM_MR >= 1 && BK_GEMM_MR <= BK_TILE_MAX_ROWS, "BK_GEMM_MR out of range");

BK_INLINE void bk_tile_zero(v16f acc[][2], int rows) {
  for (int r = 0; r < rows; r++) acc[r][0] = acc[r][1] = v_splat(0.0f);
}

/* Loads the first w (<= 16*nv) columns of each row from c + r*ldc. */
BK_INLINE void bk_tile_load(v16f acc[][2], int rows, int nv, const float *c, int64_t ldc,
                            int64_t w) {
  for (int r = 0; r < rows; r++) {
    for (int v = 0; v < nv; v++) {
      int64_t cnt = w - v * BK_VL;
      const float *p = c + r * ldc + v * BK_VL;
      acc[r][v] = cnt >= BK_VL ? v_load(p) : v_load_part(p, BK_MAX(cnt, 0), 0.0f);
    }
  }
}

/* One step of K: acc[r] += a[r*lda + p] * b[p*ldb ...]. */
BK_INLINE void bk_tile_step(v16f acc[][2], int rows, int nv, const float *a, int64_t lda,
                            const float *b, int64_t ldb, int64_t p) {
  v16f b0 = v_load(b + p * ldb);
  v16f b1 = nv > 1 ? v_load(b + p * ldb + BK_VL) : b0;
  for (int r = 0; r < rows; r++) {
    v16f av = v_splat(a[r * lda + p]);
    acc[r][0] += av * b0;
    if (nv > 1) acc[r][1] += av * b1;
  }
}

/* The step loop of bk_tile_mac / bk_tile_mac_stream; `stream` is a constant
 * at every call, so each instance has the prefetches or not. */
#ifndef BK_STREAM_AHEAD
#define BK_STREAM_AHEAD 1024
#endif
BK_INLINE void bk_tile_mac_steps(v16f acc[][2], int rows, int nv, const float *a, int64_t lda,
                                 const float *b, int64_t ldb, int64_t kdim, int stream) {
#pragma GCC unroll 4
  for (int64_t p = 0; p < kdim; p++) {
    if (stream)
      for (int64_t l = 0; l < ldb; l += 16)
        __builtin_prefetch(b + p * ldb + BK_STREAM_AHEAD + l, 0, 2);
    bk_tile_step(acc, rows, nv, a, lda, b, ldb, p);
  }
}

BK_INLINE void bk_tile_mac(v16f acc[][2], int rows, int nv, const float *a, int64_t lda,
                           const float *b, int64_t ldb, int64_t kdim) {
  bk_tile_mac_steps(acc, rows, nv, a, lda, b, ldb, kdim, 0);
}

/* bk_tile_mac for a B that comes from memory and is read once, in order:
 * each step also prefetches the B row BK_STREAM_AHEAD floats ahead into L2,
 * so more of the stream is in flight than the hardware prefetcher keeps. */
BK_INLINE void bk_tile_mac_stream(v16f acc[][2], int rows, int nv, const float *a, int64_t lda,
                                  const float *b, int64_t ldb, int64_t kdim) {
  bk_tile_mac_steps(acc, rows, nv, a, lda, b, ldb, kdim, 1);
}

/* bk_tile_mac that also prefetches the pf_lines cache lines at pf into L2,
 * spread evenly over the tile's work: every BK_TILE_PF_STEPS steps of K issue
 * the next ceil(pf_lines / groups) lines, where groups = kdim /
 * BK_TILE_PF_STEPS. Spread out, the prefetches never wait for a free
 * line-fill buffer (a burst of tens of misses to DRAM stalls the core until
 * the first ones complete), and memory stays busy while the tile computes.
 * The common case, at most one line per group, has its own loop: the
 * general one measured a few percent slower there. */
#define BK_TILE_PF_STEPS 4
BK_INLINE void bk_tile_mac_prefetch(v16f acc[][2], int rows, int nv, const float *a,
                                    int64_t lda, const float *b, int64_t ldb, int64_t kdim,
                                    const char *pf, int64_t pf_lines) {
  int64_t groups = kdim / BK_TILE_PF_STEPS;
  int64_t per_group = groups > 0 ? BK_CEIL_DIV(pf_lines, groups) : 0;
  int64_t p = 0;
  if (per_group <= 1) {
    for (int64_t line = 0; p + BK_TILE_PF_STEPS <= kdim; p += BK_TILE_PF_STEPS, line++) {
      if (line < pf_lines) __builtin_prefetch(pf + line * 64, 0, 2);
      for (int q = 0; q < BK_TILE_PF_STEPS; q++)
        bk_tile_step(acc, rows, nv, a, lda, b, ldb, p + q);
    }
  } else {
    const char *pf_end = pf + pf_lines * 64;
    for (; p + BK_TILE_PF_STEPS <= kdim; p += BK_TILE_PF_STEPS) {
      for (int64_t l = 0; l < per_group && pf < pf_end; l++, pf += 64)
        __builtin_prefetch(pf, 0, 2);
      for (int q = 0; q < BK_TILE_PF_STEPS; q++)
        bk_tile_step(acc, rows, nv, a, lda, b, ldb, p + q);
    }
  }
  for (; p < kdim; p++) bk_tile_step(acc, rows, nv, a, lda, b, ldb, p);
}

/* Stores the first w (<= 16*nv) columns of each row at c + r*ldc, after
 * multiplying row r by scale[r] when scale is not NULL. */
BK_INLINE void bk_tile_store(v16f acc[][2], int rows, int nv, float *c, int64_t ldc, int64_t w,
                             const float *scale) {
  for (int r = 0; r < rows; r++) {
    for (int v = 0; v < nv; v++) {
      v16f x = scale ? acc[r][v] * scale[r] : acc[r][v];
      int64_t cnt = w - v * BK_VL;
      if (cnt >= BK_VL)
        v_store(c + r * ldc + v * BK_VL, x);
      else if (cnt > 0)
        v_store_part(c + r * ldc + v * BK_VL, x, cnt);
    }
  }
}

/* Runs BODY(R) with R the literal equal to rows (1 .. BK_TILE_MAX_ROWS), so
 * every instance of a tile is compiled for a constant row count. */
#define BK_TILE_DISPATCH(rows, BODY)                                                               \
  switch (rows) {                                                                                  \
  case 1: BODY(1); break;                                                                          \
  case 2: BODY(2); break;                                                                          \
  case 3: BODY(3); break;                                                                          \
  case 4: BODY(4); break;                                                                          \
  case 5: BODY(5); break;                                                                          \
  case 6: BODY(6); break;                                                                          \
  case 7: BODY(7); break;                                                                          \
  default: BODY(8); break;                                                                         \
  }

#endif
