/* Scaled dot-product attention, fused and unfused.
 *
 * Fused (bk_attention): a task takes up to rows_per_task query rows of one
 * (sequence, head) and computes softmax(scale q k^T + mask) v for them in
 * one pass over the keys with an online softmax (the FlashAttention
 * recurrence), so no buffer grows with the sequence and any length takes the
 * same path. The query rows go in chunks of up to att_chunk_rows; for each
 * block of ATT_BLOCK keys the chunk
 *   - packs the block's keys, transposed 32 at a time (16x16 blocks, in
 *     registers), into [head_dim][32] panels,
 *   - computes the block's scores with the register tile of tile.h (32
 *     scores of up to 8 query rows per pass over head_dim),
 *   - raises each row's running maximum m to the block's, turns the scores
 *     into p = exp(s - m) and adds them to the running sum l,
 *   - rescales the row's output accumulator by exp(m_old - m) and adds p v
 *     (a second tile product, V read in place),
 * and the finished rows are o / l. All of it (packed keys, scores and the
 * accumulators) lives in a stack buffer of ATT_STACK_FLOATS. Masked keys and
 * the padding of the last block get -inf, which the exponential maps to
 * exactly 0 - HuggingFace adds finfo.min, whose exponential underflows to 0
 * as well; a block whose keys are all masked leaves m at -inf, and is then
 * exponentiated against 0 so that it adds exact zeros. Keys after the last
 * unmasked one are skipped entirely. If every key of a sequence is masked
 * HuggingFace's scores are all finfo.min, i.e. uniform probabilities, and so
 * are ours.
 *
 * Unfused (bk_attn_scores, bk_attn_mask, then bk_softmax, bk_attn_context)
 * is the same arithmetic through a [batch, heads, seq, seq] buffer.
 *
 * head_dim a multiple of 16 up to ATT_MAX_HEAD_DIM takes the tiled path;
 * anything else a plain loop that recomputes dot products instead of
 * storing them. */
#include <math.h>

#include "kernels/kernels.h"
#include "kernels/simd.h"
#include "kernels/tile.h"
#include "kernels/vmath.h"

#define ATT_KB 32    /* keys per packed panel (the tile's 32 columns) */
#define ATT_BLOCK 64 /* keys per block of the online softmax: two panels */
/* The task's stack buffer (52 KiB): packed keys (head_dim x ATT_BLOCK), the
 * chunk's scores (rows x ATT_BLOCK) and output accumulators (rows x
 * head_dim); att_chunk_rows fits the rows to it. */
#define ATT_STACK_FLOATS 13312
#define ATT_MAX_HEAD_DIM 128
#define ATT_MAX_ROWS 64

/* Query rows per chunk for this head_dim: the most (whole tiles, at most
 * ATT_MAX_ROWS) whose scores and accumulators fit the stack buffer. */
static inline int64_t att_chunk_rows(int64_t head_dim) {
  int64_t rows = (ATT_STACK_FLOATS - head_dim * ATT_BLOCK) / (ATT_BLOCK + head_dim);
  return BK_MAX(BK_TILE_MAX_ROWS, BK_MIN(ATT_MAX_ROWS, rows / BK_TILE_MAX_ROWS * BK_TILE_MAX_ROWS));
}

static inline int att_tiled(int64_t head_dim) {
  return head_dim % BK_VL == 0 && head_dim > 0 && head_dim <= ATT_MAX_HEAD_DIM;
}

static inline int64_t att_round_up(int64_t x, int64_t to) { return BK_CEIL_DIV(x, to) * to; }

/* kt[d][c] = key (j0 + c), component d, for c < kw; zero for kw <= c < 32.
 * head_dim is a multiple of 16: 16x16 blocks are transposed in registers. */
BK_INLINE void att_pack_keys(float *kt, const float *k, int64_t ld, int64_t j0, int64_t kw,
                             int64_t head_dim) {
  for (int64_t c0 = 0; c0 < ATT_KB; c0 += BK_VL) {
    for (int64_t d0 = 0; d0 < head_dim; d0 += BK_VL) {
      v16f r[BK_VL];
      for (int c = 0; c < BK_VL; c++)
        r[c] = c0 + c < kw ? v_load(k + (j0 + c0 + c) * ld + d0) : v_splat(0.0f);
      v_transpose16(r);
      for (int d = 0; d < BK_VL; d++) v_store(kt + (d0 + d) * ATT_KB + c0, r[d]);
    }
  }
}

/* s[r][0..w) = scale * q_r . key block + bias for nrows query rows (w <= 32). */
BK_INLINE void att_score_block(float *s, int64_t lds, int64_t w, const float *q, int64_t ld,
                               const float *kt, int64_t head_dim, int64_t nrows, float scale,
                               v16f bias0, v16f bias1) {
  for (int64_t r0 = 0; r0 < nrows; r0 += BK_GEMM_MR) {
    int64_t rows = BK_MIN(BK_GEMM_MR, nrows - r0);
    /* the 32 keys in parts of BK_GEMM_NV vectors (tile.h) */
    for (int64_t c0 = 0; c0 < BK_MIN(w, ATT_KB); c0 += BK_GEMM_NV * BK_VL) {
      v16f b0 = c0 ? bias1 : bias0;
#define SCORE_TILE(R)                                                                              \
  if ((R) <= BK_GEMM_MR) {                                                                         \
    v16f acc[BK_TILE_MAX_ROWS][2];                                                                 \
    bk_tile_zero(acc, (R));                                                                        \
    bk_tile_mac(acc, (R), BK_GEMM_NV, q + r0 * ld, ld, kt + c0, ATT_KB, head_dim);                 \
    for (int r = 0; r < (R); r++) {                                                                \
      acc[r][0] = acc[r][0] * scale + b0;                                                          \
      if (BK_GEMM_NV == 2) acc[r][1] = acc[r][1] * scale + bias1;                                  \
    }                                                                                              \
    bk_tile_store(acc, (R), BK_GEMM_NV, s + r0 * lds + c0, lds,                                    \
                  BK_MIN(w - c0, BK_GEMM_NV * BK_VL), 0);                                          \
  }
      BK_TILE_DISPATCH(rows, SCORE_TILE)
#undef SCORE_TILE
    }
  }
}

/* o[r][0..head_dim) = row_scale[r] * sum_j p[r][j] v[j][.] over kv keys. */
BK_INLINE void att_context_rows(float *o, int64_t ldo, const float *p, int64_t ldp,
                                const float *v, int64_t ld, int64_t kv, int64_t head_dim,
                                int64_t nrows, const float *row_scale) {
  for (int64_t d0 = 0; d0 < head_dim; d0 += BK_GEMM_NV * BK_VL) {
    int wide = BK_GEMM_NV == 2 && head_dim - d0 >= 2 * BK_VL;
    for (int64_t r0 = 0; r0 < nrows; r0 += BK_GEMM_MR) {
      int64_t rows = BK_MIN(BK_GEMM_MR, nrows - r0);
      const float *rs = row_scale ? row_scale + r0 : 0;
#define CONTEXT_TILE(R)                                                                            \
  if ((R) <= BK_GEMM_MR) {                                                                         \
    v16f acc[BK_TILE_MAX_ROWS][2];                                                                 \
    bk_tile_zero(acc, (R));                                                                        \
    if (wide) {                                                                                    \
      bk_tile_mac(acc, (R), 2, p + r0 * ldp, ldp, v + d0, ld, kv);                                 \
      bk_tile_store(acc, (R), 2, o + r0 * ldo + d0, ldo, 2 * BK_VL, rs);                           \
    } else {                                                                                       \
      bk_tile_mac(acc, (R), 1, p + r0 * ldp, ldp, v + d0, ld, kv);                                 \
      bk_tile_store(acc, (R), 1, o + r0 * ldo + d0, ldo, BK_VL, rs);                               \
    }                                                                                              \
  }
      BK_TILE_DISPATCH(rows, CONTEXT_TILE)
#undef CONTEXT_TILE
    }
  }
}

/* Lane c of the block at j0: 0 for a valid key, -inf for a masked or absent one. */
BK_INLINE v16f att_key_bias(const int32_t *mask, int64_t j0, int64_t kv) {
  float b[BK_VL];
  for (int i = 0; i < BK_VL; i++)
    b[i] = j0 + i < kv && (!mask || mask[j0 + i] != 0) ? 0.0f : -INFINITY;
  return v_load(b);
}

/* The online-softmax step for one block of scores, in place: for each of
 * nrows rows of s (n entries, a multiple of 16), raises m[r] to the block's
 * maximum, replaces the scores by exp(s - m[r]), sets corr[r] =
 * exp(m_old - m[r]) and l[r] = l[r] * corr[r] + sum of the block. A row whose
 * maximum is still -inf (every key so far masked) is exponentiated against
 * 0, giving exact zeros and corr = 0 on an accumulator that is still 0. */
BK_INLINE void att_online_softmax(float *s, int64_t lds, int64_t n, int64_t nrows, float *m,
                                  float *l, float *corr) {
  for (int64_t r = 0; r < nrows; r++) {
    float *sr = s + r * lds;
    v16f vmax = v_splat(m[r]);
    for (int64_t j = 0; j < n; j += BK_VL) vmax = v_max(vmax, v_load(sr + j));
    float mx = v_hmax(vmax);
    float base = mx == -INFINITY ? 0.0f : mx;
    v16f vbase = v_splat(base), vsum = v_splat(0.0f);
    for (int64_t j = 0; j < n; j += BK_VL) {
      v16f e = v_exp(v_load(sr + j) - vbase);
      vsum += e;
      v_store(sr + j, e);
    }
    corr[r] = m[r] == mx ? 1.0f : expf(m[r] - base);
    l[r] = l[r] * corr[r] + v_hsum(vsum);
    m[r] = mx;
  }
}

/* acc[r][0..head_dim) = corr[r] * acc[r] + sum_j p[r][j] v[j][.] over kw
 * keys (first: the accumulators start at 0). */
BK_INLINE void att_accumulate(float *acc, int64_t head_dim, const float *p, int64_t ldp,
                              const float *v, int64_t ld, int64_t kw, int64_t nrows,
                              const float *corr, int first) {
  for (int64_t d0 = 0; d0 < head_dim; d0 += BK_GEMM_NV * BK_VL) {
    int nv = BK_GEMM_NV == 2 && head_dim - d0 >= 2 * BK_VL ? 2 : 1;
    for (int64_t r0 = 0; r0 < nrows; r0 += BK_GEMM_MR) {
      int64_t rows = BK_MIN(BK_GEMM_MR, nrows - r0);
      float *a = acc + r0 * head_dim + d0;
#define ACC_TILE(R)                                                                                \
  if ((R) <= BK_GEMM_MR) {                                                                         \
    v16f t[BK_TILE_MAX_ROWS][2];                                                                   \
    if (first) {                                                                                   \
      bk_tile_zero(t, (R));                                                                        \
    } else {                                                                                       \
      bk_tile_load(t, (R), nv, a, head_dim, nv * BK_VL);                                           \
      for (int r = 0; r < (R); r++)                                                                \
        for (int c = 0; c < nv; c++) t[r][c] *= corr[r0 + r];                                      \
    }                                                                                              \
    if (nv == 2)                                                                                   \
      bk_tile_mac(t, (R), 2, p + r0 * ldp, ldp, v + d0, ld, kw);                                   \
    else                                                                                           \
      bk_tile_mac(t, (R), 1, p + r0 * ldp, ldp, v + d0, ld, kw);                                   \
    bk_tile_store(t, (R), nv, a, head_dim, nv * BK_VL, 0);                                         \
  }
      BK_TILE_DISPATCH(rows, ACC_TILE)
#undef ACC_TILE
    }
  }
}

static inline float att_dot(const float *a, const float *b, int64_t n) {
  float s = 0.0f;
  for (int64_t i = 0; i < n; i++) s += a[i] * b[i];
  return s;
}

/* One query row without a score buffer: a pass for the maximum, a pass for
 * the exponentials and the weighted sum of values. */
static void att_row_plain(float *o, const float *qr, const float *k, const float *v,
                          const int32_t *mask, int64_t ld, int64_t kv, int64_t head_dim,
                          float scale) {
  float mx = -INFINITY;
  for (int64_t j = 0; j < kv; j++)
    if (!mask || mask[j]) {
      float sc = scale * att_dot(qr, k + j * ld, head_dim);
      mx = sc > mx ? sc : mx;
    }
  for (int64_t d = 0; d < head_dim; d++) o[d] = 0.0f;
  float sum = 0.0f;
  for (int64_t j = 0; j < kv; j++) {
    if (mask && !mask[j]) continue;
    float e = expf(scale * att_dot(qr, k + j * ld, head_dim) - mx);
    sum += e;
    for (int64_t d = 0; d < head_dim; d++) o[d] += e * v[j * ld + d];
  }
  for (int64_t d = 0; d < head_dim; d++) o[d] /= sum;
}

/* Query rows [row0, row1) of one (sequence, head) of `seq` tokens: q, k, v
 * and out point at the sequence's first row of the head, mask at its first
 * token (or NULL). */
static void att_rows(const float *qb, const float *kb, const float *vb, const int32_t *mb,
                     float *ob, int64_t seq, int64_t ld, int64_t ldo, int64_t head_dim,
                     int64_t row0, int64_t row1, float scale) {
  /* Keys that matter: up to the last unmasked one. No unmasked key at all
   * means uniform probabilities (scale 0, no mask). */
  int64_t kv = seq;
  if (mb) {
    while (kv > 0 && mb[kv - 1] == 0) kv--;
    if (kv == 0) {
      kv = seq;
      mb = 0;
      scale = 0.0f;
    }
  }
  if (!att_tiled(head_dim)) {
    for (int64_t i = row0; i < row1; i++)
      att_row_plain(ob + i * ldo, qb + i * ld, kb, vb, mb, ld, kv, head_dim, scale);
    return;
  }
  int64_t chunk = att_chunk_rows(head_dim);
  float buffer[ATT_STACK_FLOATS];
  float m[ATT_MAX_ROWS], l[ATT_MAX_ROWS], corr[ATT_MAX_ROWS];
  float *kt = buffer, *scores = kt + head_dim * ATT_BLOCK, *acc = scores + chunk * ATT_BLOCK;
  for (int64_t i0 = row0; i0 < row1; i0 += chunk) {
    int64_t nrows = BK_MIN(chunk, row1 - i0);
    for (int64_t r = 0; r < nrows; r++) m[r] = -INFINITY, l[r] = 0.0f;
    for (int64_t j0 = 0; j0 < kv; j0 += ATT_BLOCK) {
      int64_t kw = BK_MIN(ATT_BLOCK, kv - j0), width = att_round_up(kw, ATT_KB);
      for (int64_t c = 0; c < width; c += ATT_KB) {
        float *panel = kt + c * head_dim;
        att_pack_keys(panel, kb, ld, j0 + c, BK_MIN(ATT_KB, kw - c), head_dim);
        v16f bias0 = att_key_bias(mb, j0 + c, kv), bias1 = att_key_bias(mb, j0 + c + BK_VL, kv);
        att_score_block(scores + c, ATT_BLOCK, ATT_KB, qb + i0 * ld, ld, panel, head_dim, nrows,
                        scale, bias0, bias1);
      }
      att_online_softmax(scores, ATT_BLOCK, width, nrows, m, l, corr);
      att_accumulate(acc, head_dim, scores, ATT_BLOCK, vb + j0 * ld, ld, kw, nrows, corr,
                     j0 == 0);
    }
    for (int64_t r = 0; r < nrows; r++) {
      v16f inv = v_splat(1.0f / l[r]);
      for (int64_t d = 0; d < head_dim; d += BK_VL)
        v_store(ob + (i0 + r) * ldo + d, v_load(acc + r * head_dim + d) * inv);
    }
  }
}

void bk_attention(const bertc_env_t *env, int64_t task, const float *q, const float *k,
                  const float *v, const int32_t *mask, float *out, int64_t seq, int64_t heads,
                  int64_t head_dim, int64_t ld, int64_t rows_per_task, float scale) {
  (void)env;
  int64_t nr = BK_CEIL_DIV(seq, rows_per_task);
  int64_t bh = task / nr, b = bh / heads, h = bh % heads;
  int64_t row0 = task % nr * rows_per_task, row1 = BK_MIN(seq, row0 + rows_per_task);
  int64_t base = b * seq * ld + h * head_dim, ldo = heads * head_dim;
  att_rows(q + base, k + base, v + base, mask ? mask + b * seq : 0,
           out + b * seq * ldo + h * head_dim, seq, ld, ldo, head_dim, row0, row1, scale);
}

/* The packed form: the rows of one task may belong to several sequences;
 * each part runs att_rows over its own sequence's keys, exactly as
 * bk_attention runs that sequence alone. */
void bk_attention_packed(const bertc_env_t *env, int64_t task, const float *q, const float *k,
                         const float *v, const int32_t *mask, const int32_t *segs, float *out,
                         int64_t tokens, int64_t segments, int64_t heads, int64_t head_dim,
                         int64_t ld, int64_t rows_per_task, float scale) {
  (void)env;
  int64_t nr = BK_CEIL_DIV(tokens, rows_per_task);
  int64_t h = task / nr, row0 = task % nr * rows_per_task;
  int64_t row1 = BK_MIN(tokens, row0 + rows_per_task), ldo = heads * head_dim;
  /* the last segment starting at or before row0 */
  int64_t lo = 0, hi = segments;
  while (lo < hi) {
    int64_t mid = (lo + hi + 1) / 2;
    if (bk_segment_start(segs, mid, tokens) <= row0)
      lo = mid;
    else
      hi = mid - 1;
  }
  for (int64_t s = lo; s < segments; s++) {
    int64_t start = bk_segment_start(segs, s, tokens);
    int64_t end = BK_MAX(start, bk_segment_start(segs, s + 1, tokens));
    if (start >= row1) break;
    if (end <= row0) continue;
    int64_t base = start * ld + h * head_dim;
    att_rows(q + base, k + base, v + base, mask ? mask + start : 0,
             out + start * ldo + h * head_dim, end - start, ld, ldo, head_dim,
             BK_MAX(row0, start) - start, BK_MIN(row1, end) - start, scale);
  }
  /* rows after the last sequence (padding of the bucket): zeros */
  int64_t used = bk_segment_start(segs, segments, tokens);
  for (int64_t i = BK_MAX(row0, used); i < row1; i++)
    for (int64_t d = 0; d < head_dim; d++) out[i * ldo + h * head_dim + d] = 0.0f;
}

int64_t bk_attention_rows_per_task(int64_t seq, int64_t batch, int64_t heads, int64_t head_dim,
                                   int threads) {
  /* One chunk (each chunk packs all keys once), but at least two tasks per
   * thread, then equal blocks of whole tiles. */
  int64_t rows = BK_MIN(att_tiled(head_dim) ? att_chunk_rows(head_dim) : ATT_MAX_ROWS,
                        BK_MAX(seq, 1));
  int64_t want = threads > 1 ? 2 * (int64_t)threads : 1;
  int64_t per_head = BK_CEIL_DIV(want, BK_MAX(1, batch * heads));
  int64_t blocks = BK_MAX(BK_CEIL_DIV(seq, rows), BK_MIN(per_head, seq));
  int64_t even = BK_MAX(1, BK_MIN(rows, BK_CEIL_DIV(seq, blocks)));
  if (BK_CEIL_DIV(seq, even) < blocks) even = BK_MAX(1, seq / blocks);
  int64_t tiles = att_round_up(even, BK_TILE_MAX_ROWS);
  if (even > BK_TILE_MAX_ROWS && tiles <= rows && BK_CEIL_DIV(seq, tiles) >= blocks) even = tiles;
  return even;
}

void bk_attn_scores(const bertc_env_t *env, int64_t task, const float *q, const float *k,
                    float *scores, int64_t seq, int64_t heads, int64_t head_dim, int64_t ld,
                    float scale) {
  (void)env;
  int64_t b = task / heads, h = task % heads;
  const float *qb = q + b * seq * ld + h * head_dim;
  const float *kb = k + b * seq * ld + h * head_dim;
  float *s = scores + task * seq * seq;
  if (!att_tiled(head_dim)) {
    for (int64_t i = 0; i < seq; i++)
      for (int64_t j = 0; j < seq; j++)
        s[i * seq + j] = scale * att_dot(qb + i * ld, kb + j * ld, head_dim);
    return;
  }
  float kt[ATT_MAX_HEAD_DIM * ATT_KB];
  v16f zero = v_splat(0.0f);
  for (int64_t j0 = 0; j0 < seq; j0 += ATT_KB) {
    int64_t kw = BK_MIN(ATT_KB, seq - j0);
    att_pack_keys(kt, kb, ld, j0, kw, head_dim);
    att_score_block(s + j0, seq, kw, qb, ld, kt, head_dim, seq, scale, zero, zero);
  }
}

void bk_attn_mask(const bertc_env_t *env, int64_t task, float *scores, const int32_t *mask,
                  int64_t seq, int64_t heads) {
  (void)env;
  const int32_t *mb = mask + task * seq;
  const float lowest = -3.40282347e+38f; /* torch.finfo(torch.float32).min */
  for (int64_t row = 0; row < heads * seq; row++) {
    float *s = scores + (task * heads * seq + row) * seq;
    for (int64_t j = 0; j < seq; j++)
      if (mb[j] == 0) s[j] += lowest;
  }
}

void bk_attn_context(const bertc_env_t *env, int64_t task, const float *probs, const float *v,
                     float *out, int64_t seq, int64_t heads, int64_t head_dim, int64_t ld) {
  (void)env;
  int64_t b = task / heads, h = task % heads;
  const float *p = probs + task * seq * seq;
  const float *vb = v + b * seq * ld + h * head_dim;
  int64_t ldo = heads * head_dim;
  float *ob = out + b * seq * ldo + h * head_dim;
  if (!att_tiled(head_dim)) {
    for (int64_t i = 0; i < seq; i++)
      for (int64_t d = 0; d < head_dim; d++) {
        float acc = 0.0f;
        for (int64_t j = 0; j < seq; j++) acc += p[i * seq + j] * vb[j * ld + d];
        ob[i * ldo + d] = acc;
      }
    return;
  }
  att_context_rows(ob, ldo, p, seq, vb, ld, seq, head_dim, seq, 0);
}
