/* Embeddings: token ids -> the first hidden states.
 *
 * bk_embed_ln fuses what HuggingFace's BertEmbeddings / RobertaEmbeddings do:
 * gather the word, token-type and position rows, add them in PyTorch's order
 * ((word + type) + position), and LayerNorm the sum. Position ids are s for
 * BERT; for RoBERTa (padding_idx >= 0) they follow
 * create_position_ids_from_input_ids: cumsum(ids != pad) * (ids != pad) + pad,
 * so padding tokens sit at position pad and real tokens count from pad + 1.
 * Ids outside a table are clamped to it (the runtime validates inputs; the
 * kernel only guarantees no out-of-bounds read). One task is one sequence.
 * The packed forms take several sequences back to back, given by a segment
 * table (kernels.h), and number positions from each sequence's own start:
 * every sequence gets the embeddings it gets alone. */
#include "kernels/kernels.h"
#include "kernels/rows.h"
#include "kernels/simd.h"

static inline int64_t clamp_id(int64_t id, int64_t count) {
  return id < 0 ? 0 : id >= count ? count - 1 : id;
}

/* Position id of every token of one sequence (RoBERTa rule when pad >= 0). */
static inline int64_t next_position(const int32_t *ids, int64_t s, int64_t padding_idx,
                                    int64_t *running) {
  if (padding_idx < 0) return s;
  if (ids[s] == padding_idx) return padding_idx;
  return padding_idx + ++*running;
}

/* One sequence of `seq` tokens: bid, btype and out point at its first token.
 * The word rows are word[v] or, with word_q, word_q[v] * word_scale[v]. */
static inline __attribute__((always_inline)) void
embed_rows(const int32_t *bid, const int32_t *btype, const float *word, const int8_t *word_q,
           const float *word_scale, const float *pos, const float *type_table,
           const float *gamma, const float *beta, float *out, int64_t seq, int64_t dim,
           int64_t vocab, int64_t num_pos, int64_t num_types, int64_t padding_idx, float eps) {
  int64_t running = 0;
  int64_t dv = dim / BK_VL * BK_VL;
  for (int64_t s = 0; s < seq; s++) {
    float *o = out + s * dim;
    int64_t id = clamp_id(bid[s], vocab);
    if (word_q) { /* the int8 row in f32 first: (float)q * scale, as the IR defines it */
      typedef int8_t v16i8 __attribute__((vector_size(16)));
      const int8_t *q = word_q + id * dim;
      float sc = word_scale[id];
      for (int64_t j = 0; j < dv; j += BK_VL) {
        v16i8 b;
        memcpy(&b, q + j, sizeof b);
        v_store(o + j, __builtin_convertvector(b, v16f) * sc);
      }
      for (int64_t j = dv; j < dim; j++) o[j] = (float)q[j] * sc;
    }
    const float *w = word_q ? o : word + id * dim;
    const float *p = pos + clamp_id(next_position(bid, s, padding_idx, &running), num_pos) * dim;
    const float *t = 0;
    if (type_table) t = type_table + (btype ? clamp_id(btype[s], num_types) : 0) * dim;
    for (int64_t j = 0; j < dv; j += BK_VL) {
      v16f e = v_load(w + j);
      if (t) e += v_load(t + j);
      v_store(o + j, e + v_load(p + j));
    }
    for (int64_t j = dv; j < dim; j++) o[j] = (t ? w[j] + t[j] : w[j]) + p[j];
    bk_ln_row(o, gamma, beta, o, dim, eps);
  }
}

void bk_embed_ln(const bertc_env_t *env, int64_t task, const int32_t *ids,
                 const int32_t *type_ids, const float *word, const float *pos,
                 const float *type_table, const float *gamma, const float *beta, float *out,
                 int64_t seq, int64_t dim, int64_t vocab, int64_t num_pos, int64_t num_types,
                 int64_t padding_idx, float eps) {
  (void)env;
  embed_rows(ids + task * seq, type_ids ? type_ids + task * seq : 0, word, 0, 0, pos, type_table,
             gamma, beta, out + task * seq * dim, seq, dim, vocab, num_pos, num_types,
             padding_idx, eps);
}

void bk_embed_ln_i8(const bertc_env_t *env, int64_t task, const int32_t *ids,
                    const int32_t *type_ids, const int8_t *word, const float *word_scale,
                    const float *pos, const float *type_table, const float *gamma,
                    const float *beta, float *out, int64_t seq, int64_t dim, int64_t vocab,
                    int64_t num_pos, int64_t num_types, int64_t padding_idx, float eps) {
  (void)env;
  embed_rows(ids + task * seq, type_ids ? type_ids + task * seq : 0, 0, word, word_scale, pos,
             type_table, gamma, beta, out + task * seq * dim, seq, dim, vocab, num_pos,
             num_types, padding_idx, eps);
}

/* Tokens [first, end) of task `task` of a packed kernel: sequence `task`, or
 * for task == segments the padding after the last sequence. */
static inline void packed_span(const int32_t *segs, int64_t task, int64_t tokens,
                               int64_t segments, int64_t *first, int64_t *end) {
  *first = bk_segment_start(segs, task, tokens);
  *end = task < segments ? BK_MAX(*first, bk_segment_start(segs, task + 1, tokens)) : tokens;
}

void bk_embed_ln_packed(const bertc_env_t *env, int64_t task, const int32_t *ids,
                        const int32_t *type_ids, const int32_t *segs, const float *word,
                        const float *pos, const float *type_table, const float *gamma,
                        const float *beta, float *out, int64_t tokens, int64_t segments,
                        int64_t dim, int64_t vocab, int64_t num_pos, int64_t num_types,
                        int64_t padding_idx, float eps) {
  (void)env;
  int64_t first, end;
  packed_span(segs, task, tokens, segments, &first, &end);
  embed_rows(ids + first, type_ids ? type_ids + first : 0, word, 0, 0, pos, type_table, gamma,
             beta, out + first * dim, end - first, dim, vocab, num_pos, num_types, padding_idx,
             eps);
}

void bk_embed_ln_i8_packed(const bertc_env_t *env, int64_t task, const int32_t *ids,
                           const int32_t *type_ids, const int32_t *segs, const int8_t *word,
                           const float *word_scale, const float *pos, const float *type_table,
                           const float *gamma, const float *beta, float *out, int64_t tokens,
                           int64_t segments, int64_t dim, int64_t vocab, int64_t num_pos,
                           int64_t num_types, int64_t padding_idx, float eps) {
  (void)env;
  int64_t first, end;
  packed_span(segs, task, tokens, segments, &first, &end);
  embed_rows(ids + first, type_ids ? type_ids + first : 0, 0, word, word_scale, pos,
             type_table, gamma, beta, out + first * dim, end - first, dim, vocab, num_pos,
             num_types, padding_idx, eps);
}

void bk_gather(const bertc_env_t *env, int64_t task, const float *table, const int32_t *ids,
               float *out, int64_t seq, int64_t dim, int64_t vocab) {
  (void)env;
  for (int64_t s = 0; s < seq; s++) {
    int64_t row = task * seq + s;
    memcpy(out + row * dim, table + clamp_id(ids[row], vocab) * dim,
           (size_t)dim * sizeof(float));
  }
}

void bk_position_ids(const bertc_env_t *env, int64_t task, const int32_t *ids, int32_t *out,
                     int64_t seq, int64_t padding_idx) {
  (void)env;
  const int32_t *bid = ids + task * seq;
  int64_t running = 0;
  for (int64_t s = 0; s < seq; s++)
    out[task * seq + s] = (int32_t)next_position(bid, s, padding_idx, &running);
}

void bk_position_ids_packed(const bertc_env_t *env, int64_t task, const int32_t *ids,
                            const int32_t *segs, int32_t *out, int64_t tokens, int64_t segments,
                            int64_t padding_idx) {
  (void)env;
  int64_t first, end, running = 0;
  packed_span(segs, task, tokens, segments, &first, &end);
  for (int64_t s = 0; s < end - first; s++)
    out[first + s] = (int32_t)next_position(ids + first, s, padding_idx, &running);
}
