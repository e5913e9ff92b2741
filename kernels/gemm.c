/* Linear layers: out[M,N] = act(x[M,K] w^T + bias) (+ residual) (-> LayerNorm).
 *
 * bk_gemm works on weights packed at compile time into [K][32] panels
 * (pack.c). A task computes one m_block x n_block block of the output. K is
 * cut into nearly equal slices of at most BK_GEMM_KC; for each slice, for
 * each 32-column panel (in parts of 16 * BK_GEMM_NV columns: one part on
 * AVX-512, two halves on AVX2), for each group of BK_GEMM_MR rows, one
 * register tile (tile.h) accumulates the slice into the output block. The
 * panel slice (<= 32 KiB) stays in L1 while the rows of x stream past it; the output
 * block is re-read once per slice, which costs little next to the 2 * MR * kc
 * FMAs of a tile. After the last slice the epilogue (bias, activation,
 * residual) runs on the tile while it is still in L1, and with a fused
 * LayerNorm (the task owns whole rows: n_block == n) the finished rows are
 * normalized. Edge tiles reuse the same code: panels are zero padded, so a
 * partial tile computes 32 columns and stores the valid ones; a partial row
 * group is a tile instance with fewer rows.
 *
 * residual may alias out in bk_gemm (each element is read just before it is
 * written); in bk_gemm_blas it may not, since sgemm writes out first.
 *
 * bk_gemm_blas is the same contract on unpacked weights through the host's
 * sgemm; bk_linear_rowmajor is a simple dot-product kernel for small layers
 * whose weights were not packed. */
#include <stdbool.h>

#include "kernels/gemm_block.h"
#include "kernels/kernels.h"
#include "kernels/rows.h"
#include "kernels/simd.h"
#include "kernels/tile.h"
#include "kernels/vmath.h"

/* Longest slice of K one pass of the tiles covers (see bk_gemm). */
#define BK_GEMM_KC 256
/* Blocks of at least this many rows prefetch the next panel slice into L2,
 * spread over their row tiles and, inside each tile, one line every
 * BK_TILE_PF_STEPS steps of K: weights that come from DRAM (a model's
 * weights do not fit in L3) then arrive before the first tile needs them.
 * Issuing a tile's share in one burst instead (32 lines at 64 rows) stalls
 * the core on the line-fill buffers: spread, the prefetches make BERT-base
 * 1.2-1.35x faster at seq 64 and 1.05-1.15x at seq 128, batch 1 (whole
 * model, 1 and 2 threads, interleaved runs). With fewer than 8 tiles a tile
 * has too few steps for its share, and the slice is reused too few times
 * for the prefetches to pay. Short blocks (below) prefetch the next panel
 * over all their tiles as well: there a tile covers all of K, and with only
 * the first tile's stream fetching, memory would idle while the other tiles
 * compute (BERT-base seq 16-32 batch 1: 1.1-1.2x faster with the shares,
 * interleaved runs). */
#define BK_GEMM_PREFETCH_ROWS 64
/* Blocks of at most this many rows take K in one slice (see bk_gemm).
 * Measured on BERT-base at seq 64 (one thread): 64 made the FFN up-projection
 * 2-3 % faster in bench/kernel_bench.c but the whole model 2-3 % slower
 * (the K = 3072 down-projection's whole-K panels and rows crowd L2).
 * Overridable with -D for such experiments. */
#ifndef BK_GEMM_SHORT_ROWS
#define BK_GEMM_SHORT_ROWS 32
#endif

/* The slice of K one pass of the tiles covers. */
static inline int64_t gemm_kc(int64_t k) {
  return k > 0 ? BK_CEIL_DIV(k, BK_CEIL_DIV(k, BK_GEMM_KC)) : 1;
}

void bk_gemm(const bertc_env_t *env, int64_t task, const float *x, const float *w_packed,
             const float *bias, const float *residual, const float *gamma, const float *beta,
             float *out, int64_t m, int64_t n, int64_t k, int64_t m_block, int64_t n_block,
             int64_t act, float eps) {
  (void)env;
  int64_t i0, i1, j0, j1;
  bk_gemm_block(task, m, n, m_block, n_block, &i0, &i1, &j0, &j1);
  /* Short blocks reuse a panel slice too few times for L1 residency to
   * matter; for them one pass over all of K reads the weights in memory
   * order (panel after panel), which the hardware prefetcher streams best. */
  bool short_block = i1 - i0 <= BK_GEMM_SHORT_ROWS;
  int64_t kc = short_block ? BK_MAX(k, 1) : gemm_kc(k);
  for (int64_t k0 = 0; k0 < BK_MAX(k, 1); k0 += kc) {
    int64_t kn = BK_MIN(kc, k - k0);
    for (int64_t j = j0; j < j1; j += BK_GEMM_NR) {
      const float *panel = w_packed + j / BK_GEMM_NR * (k * BK_GEMM_NR) + k0 * BK_GEMM_NR;
      int64_t w = BK_MIN(BK_GEMM_NR, j1 - j);
      /* The next panel slice (the next panel, or the first of the next K slice). */
      const char *next = 0;
      int64_t next_lines = 0;
      if (j + BK_GEMM_NR < j1) {
        next = (const char *)(panel + k * BK_GEMM_NR);
        next_lines = kn * BK_GEMM_NR * 4 / 64;
      } else if (k0 + kc < k) {
        next = (const char *)(w_packed + j0 / BK_GEMM_NR * (k * BK_GEMM_NR) +
                              (k0 + kc) * BK_GEMM_NR);
        next_lines = BK_MIN(kc, k - k0 - kc) * BK_GEMM_NR * 4 / 64;
      }
      /* row tiles x column parts: the panel's 32 columns go in parts of
       * BK_GEMM_NV vectors (one part on AVX-512, two halves on AVX2) */
      int64_t parts = BK_CEIL_DIV(w, BK_GEMM_NV * BK_VL);
      int64_t tiles = BK_MAX(1, BK_CEIL_DIV(i1 - i0, BK_GEMM_MR)) * parts;
      int64_t lines_per_tile = BK_CEIL_DIV(next_lines, tiles);
      int64_t line = 0;
      /* A short block's first tile streams the panel it reads (prefetching
       * ahead in it, all its columns) on its first panel, and on every panel
       * when it is the only tile; otherwise every tile fetches its share of
       * the next panel while it computes, so memory stays busy through all
       * the tiles, not only the first. */
      bool stream = short_block && (j == j0 || tiles == 1);
      for (int64_t h = 0; h < parts; h++) {
        int64_t c0 = h * BK_GEMM_NV * BK_VL, wh = BK_MIN(BK_GEMM_NV * BK_VL, w - c0);
        for (int64_t i = i0; i < i1; i += BK_GEMM_MR) {
          int64_t rows = BK_MIN(BK_GEMM_MR, i1 - i);
          float *c = out + i * n + j + c0;
          const char *pf = next ? next + line * 64 : 0;
          int64_t pf_lines = 0;
          if (i1 - i0 >= BK_GEMM_PREFETCH_ROWS || (short_block && tiles > 1)) {
            pf_lines = BK_MIN(lines_per_tile, next_lines - line);
            line += pf_lines;
          }
          const float *b = panel + c0;
#define GEMM_TILE(R)                                                                               \
  if ((R) <= BK_GEMM_MR) {                                                                         \
    v16f acc[BK_TILE_MAX_ROWS][2];                                                                 \
    if (k0 == 0)                                                                                   \
      bk_tile_zero(acc, (R));                                                                      \
    else                                                                                           \
      bk_tile_load(acc, (R), BK_GEMM_NV, c, n, wh);                                                \
    if (stream && i == i0 && h == 0)                                                               \
      bk_tile_mac_stream(acc, (R), BK_GEMM_NV, x + i * k + k0, k, b, BK_GEMM_NR, kn);              \
    else if (pf_lines > 0)                                                                         \
      bk_tile_mac_prefetch(acc, (R), BK_GEMM_NV, x + i * k + k0, k, b, BK_GEMM_NR, kn, pf,         \
                           pf_lines);                                                              \
    else                                                                                           \
      bk_tile_mac(acc, (R), BK_GEMM_NV, x + i * k + k0, k, b, BK_GEMM_NR, kn);                     \
    bk_tile_store(acc, (R), BK_GEMM_NV, c, n, wh, 0);                                              \
  }
          BK_TILE_DISPATCH(rows, GEMM_TILE)
#undef GEMM_TILE
          /* the rows' last part done: the epilogue on all w columns, in L1 */
          if (k0 + kn == k && h == parts - 1)
            bk_epilogue(out + i * n + j, n, rows, w, bias ? bias + j : 0,
                        residual ? residual + i * n + j : 0, n, act);
        }
      }
    }
  }
  bk_gemm_ln_rows(out, gamma, beta, i0, i1, n, eps);
}

void bk_gemm_blas(const bertc_env_t *env, int64_t task, const float *x, const float *w,
                  const float *bias, const float *residual, const float *gamma,
                  const float *beta, float *out, int64_t m, int64_t n, int64_t k,
                  int64_t m_block, int64_t n_block, int64_t act, float eps) {
  int64_t i0, i1, j0, j1;
  bk_gemm_block(task, m, n, m_block, n_block, &i0, &i1, &j0, &j1);
  if (i0 >= i1 || j0 >= j1) return;
  float *c = out + i0 * n + j0;
  env->sgemm(env, 1, i1 - i0, j1 - j0, k, 1.0f, x + i0 * k, k, w + j0 * k, k, 0.0f, c, n);
  bk_epilogue(c, n, i1 - i0, j1 - j0, bias ? bias + j0 : 0,
              residual ? residual + i0 * n + j0 : 0, n, act);
  bk_gemm_ln_rows(out, gamma, beta, i0, i1, n, eps);
}

/* Whether `tasks` equal tasks keep `threads` threads equally busy: a
 * multiple of the threads, or enough tasks that the last round hardly
 * matters (7 tasks on 2 threads take as long as 8). */
static bool balanced(int64_t tasks, int threads) {
  return threads <= 1 || tasks % threads == 0 || tasks >= 8 * (int64_t)threads;
}

/* Tiling. Each task streams its columns' weights from memory exactly once
 * (K slice by K slice, each panel slice used by all rows of the block), so
 * the cost that tiling controls is how often the weights are streamed: once
 * per row block. Row blocks are therefore as tall as L2 allows: the rows of
 * one K slice of x (m_block x kc floats, at most 256 KiB) stay in L2 while
 * the panels stream past them. The output block is read and written once per
 * K slice, so it should stay in L2 too (at most 512 KiB: columns are split
 * for that, or rows when a fused LayerNorm needs whole rows). Together they
 * take under half of a 2 MiB L2: the weight panels stream through L2 as well,
 * with the next slice prefetched into it, and on a shared host a sibling
 * hyperthread may hold part of it. Twice these budgets (filling 1.5 MiB)
 * measured 2-10 % slower on BERT-base's GEMMs at 1024-4096 rows
 * (bench/kernel_bench.c, one thread, Xeon with 2 MiB L2). Then there
 * should be at least two tasks per thread so parallel_for can balance:
 * columns are split first
 * (column blocks share nothing but x, which every block reads anyway), into
 * the fewest blocks that give enough tasks; rows only when the LayerNorm
 * needs whole rows or the panels are too few. Few tasks come in a multiple
 * of the threads where the shape allows: BERT-base's fused-LayerNorm GEMMs
 * at batch 8 (1024 rows) would be 7 blocks of 152 rows, 4 rounds on 2 threads
 * where 8 blocks of 128 take the same 4 rounds of less work (whole model at
 * batch 8 seq 128 on 2 threads: 2-5 % lower minimum latency). */
void bk_gemm_plan(int64_t m, int64_t n, int64_t k, int fused_ln, int threads,
                  int64_t *m_block, int64_t *n_block) {
  const int64_t mr = BK_GEMM_MR, nr = BK_GEMM_NR;
  const int64_t x_floats = 64 * 1024;  /* 256 KiB of x rows per K slice */
  const int64_t c_floats = 128 * 1024; /* 512 KiB of output block */
  m = BK_MAX(m, 1);
  n = BK_MAX(n, 1);
  int64_t rows_fit = BK_MAX(mr, x_floats / gemm_kc(k) / mr * mr);
  if (fused_ln) rows_fit = BK_MIN(rows_fit, BK_MAX(mr, c_floats / n / mr * mr));
  int64_t row_blocks = BK_CEIL_DIV(m, rows_fit);
  int64_t want = threads > 1 ? 2 * (int64_t)threads : 1;
  int64_t panels = BK_CEIL_DIV(n, nr), per_block = panels;
  if (!fused_ln) {
    int64_t rows = BK_CEIL_DIV(BK_CEIL_DIV(m, row_blocks), mr) * mr;
    int64_t max_panels = BK_MAX(1, c_floats / (rows * nr));
    /* the fewest equal column blocks that give enough tasks of at most
     * max_panels panels */
    int64_t blocks = BK_MAX(BK_CEIL_DIV(want, row_blocks), BK_CEIL_DIV(panels, max_panels));
    int64_t chosen = 0; /* the first valid count, or the first balanced one */
    for (; blocks <= panels; blocks++) {
      int64_t pb = BK_CEIL_DIV(panels, blocks), tasks = row_blocks * BK_CEIL_DIV(panels, pb);
      if (tasks < want || pb > max_panels) continue;
      if (!chosen || balanced(tasks, threads)) chosen = pb;
      if (balanced(tasks, threads)) break;
    }
    per_block = chosen ? chosen : 1;
  }
  int64_t col_blocks = BK_CEIL_DIV(panels, per_block);
  if (row_blocks * col_blocks < want) row_blocks = BK_CEIL_DIV(want, col_blocks);
  *m_block = BK_CEIL_DIV(BK_CEIL_DIV(m, row_blocks), mr) * mr;
  /* Rows alone: up to twice as many blocks for a count the threads share
   * evenly (blocks are whole tiles, so the count is checked, not assumed). */
  for (int64_t rb = row_blocks; col_blocks == 1 && rb <= 2 * row_blocks; rb++) {
    int64_t mb = BK_CEIL_DIV(BK_CEIL_DIV(m, rb), mr) * mr;
    if (balanced(BK_CEIL_DIV(m, mb), threads)) {
      *m_block = mb;
      break;
    }
  }
  *n_block = per_block == panels ? n : per_block * nr;
}

/* A fused LayerNorm needs whole rows per task, so with several threads the
 * rows are split and every task streams all the weights: worth it only when
 * each task still has enough rows to reuse them (below that, the GEMM splits
 * columns and a separate LayerNorm pass over the finished rows, which are in
 * cache, costs far less than streaming the weights several times). */
int bk_gemm_fuse_ln(int64_t m, int64_t n, int64_t k, int threads) {
  (void)n;
  (void)k;
  return threads <= 1 || m / (2 * (int64_t)threads) >= 128;
}

/* Dot products of rows rows of x with cols rows of w (both of length k). */
static inline __attribute__((always_inline)) void
linear_block(const float *x, const float *w, float *out, int64_t n, int64_t k, int rows,
             int cols) {
  v16f acc[4][4];
  for (int r = 0; r < rows; r++)
    for (int c = 0; c < cols; c++) acc[r][c] = v_splat(0.0f);
  int64_t kv = k / BK_VL * BK_VL;
  for (int64_t p = 0; p < kv; p += BK_VL) {
    v16f wv[4];
    for (int c = 0; c < cols; c++) wv[c] = v_load(w + c * k + p);
    for (int r = 0; r < rows; r++) {
      v16f xv = v_load(x + r * k + p);
      for (int c = 0; c < cols; c++) acc[r][c] += xv * wv[c];
    }
  }
  for (int r = 0; r < rows; r++) {
    for (int c = 0; c < cols; c++) {
      float s = v_hsum(acc[r][c]);
      for (int64_t p = kv; p < k; p++) s += x[r * k + p] * w[c * k + p];
      out[r * n + c] = s;
    }
  }
}

void bk_linear_rowmajor(const bertc_env_t *env, int64_t task, const float *x, const float *w,
                        const float *bias, float *out, int64_t m, int64_t n, int64_t k,
                        int64_t rows_per_task, int64_t act) {
  (void)env;
  int64_t i0 = task * rows_per_task, i1 = BK_MIN(m, i0 + rows_per_task);
  for (int64_t i = i0; i < i1; i += 4) {
    int64_t rows = BK_MIN(4, i1 - i);
    for (int64_t j = 0; j < n; j += 4) {
      int64_t cols = BK_MIN(4, n - j);
      const float *xi = x + i * k, *wj = w + j * k;
      float *o = out + i * n + j;
      if (rows == 4 && cols == 4) {
        linear_block(xi, wj, o, n, k, 4, 4);
      } else {
        for (int64_t r = 0; r < rows; r++)
          for (int64_t c = 0; c < cols; c++)
            linear_block(xi + r * k, wj + c * k, o + r * n + c, n, k, 1, 1);
      }
    }
    bk_epilogue(out + i * n, n, rows, n, bias, 0, 0, act);
  }
}
