/* The kernel library: every operation a compiled model performs.
 *
 * Each kernel is a *task function*: it does task number `task` of a loop the
 * caller runs over [0, ntasks), possibly in parallel (env->parallel_for).
 * Arguments are only pointers, int64_t and float, so codegen can call them
 * with constants. The sources are plain C11 with GCC/Clang vector extensions
 * (no target intrinsics): clang-19 compiles them to bitcode that bertc embeds
 * and links into each model, where LLVM specializes them on the constant
 * sizes and vectorizes for the target CPU (AVX-512, AVX2, ...). The same
 * sources are built natively (bertc_kernels) for tests and planning.
 *
 * Conventions: tensors are dense row-major f32 unless noted; ids and masks
 * are int32. `rows` / `total` is the whole problem, `*_per_task` / `chunk`
 * the slice one task does (the last task may do less). No kernel allocates
 * heap memory; stack use per task stays under 64 KiB. */
#ifndef BERTC_KERNELS_H
#define BERTC_KERNELS_H

#include <stdint.h>

#include "bertc/abi.h"

/* Panel width of packed linear weights (IR_LAYOUT_PANEL, layout_param). */
#define BK_GEMM_NR 32

/* Activation codes: the `act` argument of bk_unary, bk_linear_rowmajor and
 * the GEMMs' epilogues. One per row of the IR's activation table
 * (ir/acts.def), with the same values as ir_act_t; the kernels include no IR
 * header, so backend/lower.c asserts at compile time that the two agree. */
enum {
  BK_ACT_NONE = 0,
  BK_ACT_GELU = 1,
  BK_ACT_GELU_TANH = 2,
  BK_ACT_GELU_FAST = 3,
  BK_ACT_QUICK_GELU = 4,
  BK_ACT_RELU = 5,
  BK_ACT_SILU = 6,
  BK_ACT_TANH = 7,
  BK_ACT_COUNT
};

/* --- Packed batches ---
 * A packed batch holds several sequences back to back as `tokens` rows:
 * sequence s is rows [segs[s], segs[s + 1]) for s < segments, and rows from
 * segs[segments] to `tokens` are padding. The table is int32[segments + 1],
 * non-decreasing; a sequence may be empty. Kernels read it through
 * bk_segment_start, which keeps every access inside the rows whatever the
 * table holds. The *_packed kernels compute for each sequence exactly what
 * their plain forms compute for it alone. */
static inline int64_t bk_segment_start(const int32_t *segs, int64_t s, int64_t tokens) {
  int64_t v = segs[s];
  return v < 0 ? 0 : v > tokens ? tokens : v;
}

/* --- Embeddings --- */
/* task = sequence b. Position ids: s when padding_idx < 0; RoBERTa's
 * cumsum(ids != pad) * (ids != pad) + pad otherwise. type_ids/type_table may
 * be NULL (no token-type embeddings). Out-of-range ids are clamped. */
void bk_embed_ln(const bertc_env_t *env, int64_t task, const int32_t *ids,
                 const int32_t *type_ids, const float *word, const float *pos,
                 const float *type_table, const float *gamma, const float *beta, float *out,
                 int64_t seq, int64_t dim, int64_t vocab, int64_t num_pos, int64_t num_types,
                 int64_t padding_idx, float eps);
/* bk_embed_ln with an int8 word table: row v is word[v] * word_scale[v]. */
void bk_embed_ln_i8(const bertc_env_t *env, int64_t task, const int32_t *ids,
                    const int32_t *type_ids, const int8_t *word, const float *word_scale,
                    const float *pos, const float *type_table, const float *gamma,
                    const float *beta, float *out, int64_t seq, int64_t dim, int64_t vocab,
                    int64_t num_pos, int64_t num_types, int64_t padding_idx, float eps);
/* task = sequence s of a packed batch, or s == segments: the padding rows
 * (numbered as one sequence). */
void bk_embed_ln_packed(const bertc_env_t *env, int64_t task, const int32_t *ids,
                        const int32_t *type_ids, const int32_t *segs, const float *word,
                        const float *pos, const float *type_table, const float *gamma,
                        const float *beta, float *out, int64_t tokens, int64_t segments,
                        int64_t dim, int64_t vocab, int64_t num_pos, int64_t num_types,
                        int64_t padding_idx, float eps);
/* bk_embed_ln_packed with bk_embed_ln_i8's int8 word table. */
void bk_embed_ln_i8_packed(const bertc_env_t *env, int64_t task, const int32_t *ids,
                           const int32_t *type_ids, const int32_t *segs, const int8_t *word,
                           const float *word_scale, const float *pos, const float *type_table,
                           const float *gamma, const float *beta, float *out, int64_t tokens,
                           int64_t segments, int64_t dim, int64_t vocab, int64_t num_pos,
                           int64_t num_types, int64_t padding_idx, float eps);
/* task = sequence b: out[b,s,:] = table[ids[b,s],:]. */
void bk_gather(const bertc_env_t *env, int64_t task, const float *table, const int32_t *ids,
               float *out, int64_t seq, int64_t dim, int64_t vocab);
/* task = sequence b: int32 position ids as above. */
void bk_position_ids(const bertc_env_t *env, int64_t task, const int32_t *ids, int32_t *out,
                     int64_t seq, int64_t padding_idx);
/* tasks as bk_embed_ln_packed's */
void bk_position_ids_packed(const bertc_env_t *env, int64_t task, const int32_t *ids,
                            const int32_t *segs, int32_t *out, int64_t tokens, int64_t segments,
                            int64_t padding_idx);

/* --- Elementwise (task covers [task*chunk, min(total, (task+1)*chunk))) --- */
/* out[i] = a[i] + b[i % b_period] */
void bk_add(const bertc_env_t *env, int64_t task, const float *a, const float *b, float *out,
            int64_t chunk, int64_t total, int64_t b_period);
void bk_scale(const bertc_env_t *env, int64_t task, const float *x, float *out, int64_t chunk,
              int64_t total, float alpha);
/* act: a BK_ACT_ code (BK_ACT_NONE copies). */
void bk_unary(const bertc_env_t *env, int64_t task, const float *x, float *out, int64_t chunk,
              int64_t total, int64_t act);

/* --- Normalization (task covers rows [task*rows_per_task, ...)) --- */
void bk_layer_norm(const bertc_env_t *env, int64_t task, const float *x, const float *gamma,
                   const float *beta, float *out, int64_t rows_per_task, int64_t rows,
                   int64_t n, float eps);
/* layer_norm(x + residual) */
void bk_add_ln(const bertc_env_t *env, int64_t task, const float *x, const float *residual,
               const float *gamma, const float *beta, float *out, int64_t rows_per_task,
               int64_t rows, int64_t n, float eps);
/* softmax over rows of length n */
void bk_softmax(const bertc_env_t *env, int64_t task, const float *x, float *out,
                int64_t rows_per_task, int64_t rows, int64_t n);
/* x / max(||x||, 1e-12) per row */
void bk_l2_normalize(const bertc_env_t *env, int64_t task, const float *x, float *out,
                     int64_t rows_per_task, int64_t rows, int64_t n);

/* --- Linear layers: out[M,N] = act(x[M,K] w^T + bias) --- */
/* Unpacked weights w[N,K] (row-major, PyTorch layout). bias may be NULL. */
void bk_linear_rowmajor(const bertc_env_t *env, int64_t task, const float *x, const float *w,
                        const float *bias, float *out, int64_t m, int64_t n, int64_t k,
                        int64_t rows_per_task, int64_t act);
/* Packed weights (BK_GEMM_NR-wide panels, see bk_pack_weights). Tasks tile
 * the output in blocks of m_block x n_block, row-block major:
 * task = mi * ceil(n / n_block) + ni. Epilogue per element: + bias, act,
 * + residual[M,N] (when not NULL); then, when gamma is not NULL, layer_norm
 * over each whole row with gamma/beta/eps (n_block must then equal n).
 * n_block is a multiple of BK_GEMM_NR or equals n. */
void bk_gemm(const bertc_env_t *env, int64_t task, const float *x, const float *w_packed,
             const float *bias, const float *residual, const float *gamma, const float *beta,
             float *out, int64_t m, int64_t n, int64_t k, int64_t m_block, int64_t n_block,
             int64_t act, float eps);
/* The same contract as bk_gemm on unpacked w[N,K], through env->sgemm (the
 * host's BLAS) for the product and the shared epilogue. */
void bk_gemm_blas(const bertc_env_t *env, int64_t task, const float *x, const float *w,
                  const float *bias, const float *residual, const float *gamma,
                  const float *beta, float *out, int64_t m, int64_t n, int64_t k,
                  int64_t m_block, int64_t n_block, int64_t act, float eps);

/* bk_gemm's contract on AMX tiles (gemm_amx.c), for targets with AMX-BF16:
 * fp32 products as sums of bf16 products, exact to fp32 rounding. Weights
 * are bk_pack_weights_amx's split of the packed panels. scratch
 * holds ntasks * bk_gemm_amx_scratch_bytes(m_block, k) bytes (64-byte
 * aligned); residual may not alias out. */
void bk_gemm_amx(const bertc_env_t *env, int64_t task, const float *x, const uint16_t *w_amx,
                 const float *bias, const float *residual, const float *gamma, const float *beta,
                 float *out, int64_t m, int64_t n, int64_t k, int64_t m_block, int64_t n_block,
                 int64_t act, float eps, uint8_t *scratch);
int64_t bk_gemm_amx_scratch_bytes(int64_t m_block, int64_t k);
/* The K slice bk_gemm_amx covers per pass (a multiple of 32). */
int64_t bk_gemm_amx_kc(int64_t k);
/* Whether a linear layer of m rows planned in blocks of m_block rows for
 * `threads` threads runs faster on AMX (given a target with it) than bk_gemm. */
int bk_gemm_use_amx(int64_t m, int64_t n, int64_t k, int64_t m_block, int threads);

/* --- int8 linear layers (qgemm.c): the IR's qlinear --- */
/* Quantizes x[m,k] per row as the IR's quantize defines (task covers rows
 * [task*rows_per_task, ...)) into xq, bk_qrows_bytes(m, k) bytes: elem_bytes 1
 * for the VNNI variants (codes u), 2 for the others (int16 u - z). */
void bk_quantize_rows(const bertc_env_t *env, int64_t task, const float *x, uint8_t *xq,
                      int64_t m, int64_t k, int64_t rows_per_task, int64_t elem_bytes);
int64_t bk_qrows_bytes(int64_t m, int64_t k);
/* bk_gemm's contract and tiling (bk_gemm_plan) on bk_quantize_rows's xq, with
 * int8 weights packed by bk_pack_weights_i8 and per-output-channel scales
 * ws[n]; residual may not alias out. One variant per x86 level (see qgemm.c):
 * AVX512-VNNI and AVX-VNNI (xq of elem_bytes 1), AVX2 and portable (2). */
#define BK_QGEMM_ARGS                                                                        \
  const bertc_env_t *env, int64_t task, const uint8_t *xq, const uint8_t *w, const float *ws, \
      const float *bias, const float *residual, const float *gamma, const float *beta,       \
      float *out, int64_t m, int64_t n, int64_t k, int64_t m_block, int64_t n_block,         \
      int64_t act, float eps
void bk_qgemm_vnni512(BK_QGEMM_ARGS);
void bk_qgemm_avxvnni(BK_QGEMM_ARGS);
void bk_qgemm_avx2(BK_QGEMM_ARGS);
void bk_qgemm_generic(BK_QGEMM_ARGS);
/* Packs wq i8[N,K] into ceil(N/32) panels of [ceil(K/4)][32][4] bytes (zero
 * padded), then ceil(N/32)*32 int32 column sums: bk_packed_i8_bytes(n, k) bytes. */
int64_t bk_packed_i8_bytes(int64_t n, int64_t k);
void bk_pack_weights_i8(const int8_t *w, int64_t n, int64_t k, uint8_t *out);

/* --- Attention --- */
/* Unfused: task = b * heads + h. q, k, v rows have stride ld (floats). */
void bk_attn_scores(const bertc_env_t *env, int64_t task, const float *q, const float *k,
                    float *scores, int64_t seq, int64_t heads, int64_t head_dim, int64_t ld,
                    float scale);
/* task = b: scores[b,:,:,j] += finfo(f32).min where mask[b,j] == 0 */
void bk_attn_mask(const bertc_env_t *env, int64_t task, float *scores, const int32_t *mask,
                  int64_t seq, int64_t heads);
void bk_attn_context(const bertc_env_t *env, int64_t task, const float *probs, const float *v,
                     float *out, int64_t seq, int64_t heads, int64_t head_dim, int64_t ld);
/* Fused: out[b,s,h*head_dim..] = softmax(scale * q k^T + mask) v for the query
 * rows of one task: task = (b * heads + h) * ceil(seq / rows_per_task) + r.
 * q/k/v rows have stride ld (H for separate tensors, 3H for packed QKV with
 * k = q + H, v = q + 2H). mask may be NULL (all tokens valid). Keys whose mask
 * is 0 get probability 0; out has row stride heads * head_dim. */
void bk_attention(const bertc_env_t *env, int64_t task, const float *q, const float *k,
                  const float *v, const int32_t *mask, float *out, int64_t seq, int64_t heads,
                  int64_t head_dim, int64_t ld, int64_t rows_per_task, float scale);
/* bk_attention over a packed batch: each sequence attends to its own keys
 * only. task = h * ceil(tokens / rows_per_task) + r covers rows [r *
 * rows_per_task, ...) of head h, whichever sequences they belong to; padding
 * rows get zeros. mask (NULL: all valid) is per token, as the rows. */
void bk_attention_packed(const bertc_env_t *env, int64_t task, const float *q, const float *k,
                         const float *v, const int32_t *mask, const int32_t *segs, float *out,
                         int64_t tokens, int64_t segments, int64_t heads, int64_t head_dim,
                         int64_t ld, int64_t rows_per_task, float scale);

/* --- Pooling, copies --- */
/* task = b: out[b,:] = x[b, index, :] */
void bk_select_token(const bertc_env_t *env, int64_t task, const float *x, float *out,
                     int64_t seq, int64_t dim, int64_t index);
/* task = b. mode 0 mean (sum / max(count, 1e-9)), 1 max (masked = -1e9),
 * 2 mean_sqrt_len (sum / sqrt(count)). mask may be NULL. */
void bk_pool(const bertc_env_t *env, int64_t task, const float *x, const int32_t *mask,
             float *out, int64_t seq, int64_t dim, int64_t mode);
/* task = sequence s of a packed batch: out[s,:] as bk_select_token and
 * bk_pool give it for that sequence alone (zeros where index is past its end). */
void bk_select_token_packed(const bertc_env_t *env, int64_t task, const float *x,
                            const int32_t *segs, float *out, int64_t tokens, int64_t dim,
                            int64_t index);
void bk_pool_packed(const bertc_env_t *env, int64_t task, const float *x, const int32_t *mask,
                    const int32_t *segs, float *out, int64_t tokens, int64_t dim, int64_t mode);
/* Copies a [rows, ncols] block between strided matrices (concat, slices):
 * dst[r*dst_ld + c] = src[r*src_ld + c]. Task covers rows as elsewhere. */
void bk_copy_cols(const bertc_env_t *env, int64_t task, const float *src, float *dst,
                  int64_t rows_per_task, int64_t rows, int64_t src_ld, int64_t dst_ld,
                  int64_t ncols);

/* --- Compile-time helpers (native only, used by passes and lowering) --- */
/* Packs w[N,K] into ceil(N/NR) panels of [K][NR] (zero padded). out holds
 * bk_packed_floats(n, k) floats. */
int64_t bk_packed_floats(int64_t n, int64_t k);
void bk_pack_weights(const float *w, int64_t n, int64_t k, float *out);
/* Splits bk_pack_weights's panels (n columns, k rows) into bk_gemm_amx's
 * three bf16 parts: bk_packed_amx_bytes(n, k) bytes. Scalar code (the
 * compiling host need not have AVX512-BF16). */
int64_t bk_packed_amx_bytes(int64_t n, int64_t k);
void bk_pack_weights_amx(const float *w_packed, int64_t n, int64_t k, uint16_t *out);
/* Chooses the tiling of a bk_gemm for `threads` threads. */
void bk_gemm_plan(int64_t m, int64_t n, int64_t k, int fused_ln, int threads,
                  int64_t *m_block, int64_t *n_block);
/* Whether a GEMM followed by a LayerNorm should run the LayerNorm in its
 * epilogue (1) or as a separate pass after it (0), for `threads` threads. */
int bk_gemm_fuse_ln(int64_t m, int64_t n, int64_t k, int threads);
/* Rows per task for the fused attention at this sequence length. */
int64_t bk_attention_rows_per_task(int64_t seq, int64_t batch, int64_t heads, int64_t head_dim,
                                   int threads);

#endif
