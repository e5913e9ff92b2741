/* The Unigram model (Kudo 2018, SentencePiece) as HuggingFace `tokenizers`
 * runs it (models/unigram/model.rs, encode_optimized + tokenize):
 *
 *   - Viterbi over the pre-token: the best path to each character boundary,
 *     trying every vocabulary piece that starts there from the shortest to
 *     the longest; a candidate replaces the best one only when strictly
 *     better, so the first of equal paths wins.
 *   - A position where no piece covers exactly its one character gets an
 *     unknown edge of one character scored min_score - 10.
 *   - Unknown edges next to each other fuse into one token (fuse_unk is
 *     always on); its string is the text it covers.
 *   - A resulting string that is not in the vocabulary (an unknown run)
 *     becomes one <0xNN> token per UTF-8 byte with byte_fallback, when all
 *     of those exist, each with the offsets of the whole run; otherwise the
 *     unknown id.
 *
 * Pieces are looked up in the vocabulary hash by their UTF-8; a piece that
 * matches ends on a character boundary, so the byte lattice of Rust and our
 * code point lattice have the same nodes. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/internal.h"

#define UNK_PENALTY 10.0

bertc_status_t tok_unigram_finish(tok_model_t *m, const char *what) {
  if (m->vocab.count == 0)
    return bertc_status_make(BERTC_STATUS_DATA, "%s: the vocabulary is empty", what);
  if (m->unk_id >= 0 && (size_t)m->unk_id >= m->vocab.n_ids)
    return bertc_status_make(BERTC_STATUS_DATA,
                             "%s: unk_id %d is not in the vocabulary (%zu pieces)", what,
                             m->unk_id, m->vocab.n_ids);
  m->min_score = INFINITY;
  m->max_piece_chars = 1;
  for (size_t i = 0; i < m->vocab.n_ids; i++)
    if (m->scores[i] < m->min_score) m->min_score = m->scores[i];
  for (size_t e = 0; e < m->vocab.count; e++) {
    const tok_vocab_entry_t *en = &m->vocab.entries[e];
    size_t chars = 0;
    for (uint32_t i = 0; i < en->len; i++) chars += ((unsigned char)en->str[i] & 0xC0) != 0x80;
    if (chars > m->max_piece_chars) m->max_piece_chars = chars;
  }
  return BERTC_OK;
}

typedef struct {
  double score;
  size_t from; /* start (code point) of the best edge ending here */
  int32_t id;
  bool set;
} node_t;

static bertc_status_t missing_unk(void) {
  return bertc_status_make(BERTC_STATUS_DATA,
                           "tokenizer: Unigram met an unknown character but has no unk_id");
}

/* Pushes the token for characters [a, b) of the pre-token (which starts at
 * s->cp[begin]; utf and at are its UTF-8 and character byte offsets): its
 * id, or byte fallback, or the unknown id. */
static bertc_status_t emit(const tok_model_t *m, const tok_nstr_t *s, size_t begin, size_t a,
                           size_t b, const char *utf, const size_t *at, tok_arena_t *ar,
                           tok_tokens_t *out) {
  size_t len = at[b] - at[a];
  char *str = tok_arena_alloc(ar, len + 1, 1);
  if (!str) return tok_oom();
  memcpy(str, utf + at[a], len);
  str[len] = '\0';
  int32_t start = s->al[begin + a].start, end = s->al[begin + b - 1].end;
  int32_t id = tok_vocab_get(&m->vocab, str, len);
  if (id >= 0) return tok_tokens_push(out, ar, (tok_token_t){id, start, end, str, 0});
  if (m->byte_fallback) {
    bool all = true;
    for (size_t i = 0; i < len && all; i++) {
      char code[8];
      snprintf(code, sizeof code, "<0x%02X>", (unsigned char)str[i]);
      all = tok_vocab_get(&m->vocab, code, strlen(code)) >= 0;
    }
    if (all) {
      for (size_t i = 0; i < len; i++) {
        char code[8];
        snprintf(code, sizeof code, "<0x%02X>", (unsigned char)str[i]);
        int32_t bid = tok_vocab_get(&m->vocab, code, strlen(code));
        BERTC_RETURN_IF_ERROR(tok_tokens_push(
            out, ar, (tok_token_t){bid, start, end, tok_vocab_str(&m->vocab, bid), 0}));
      }
      return BERTC_OK;
    }
  }
  if (m->unk_id < 0) return missing_unk();
  return tok_tokens_push(out, ar, (tok_token_t){m->unk_id, start, end, str, 0});
}

bertc_status_t tok_unigram_tokenize(const tok_model_t *m, const tok_nstr_t *s, size_t begin,
                                    size_t end, tok_arena_t *ar, tok_tokens_t *out) {
  size_t n = end - begin;
  char *utf = tok_arena_alloc(ar, 4 * n + 1, 1);
  size_t *at = tok_arena_alloc(ar, n + 1, sizeof *at);
  node_t *best = tok_arena_alloc(ar, n + 1, sizeof *best);
  if (!utf || !at || !best) return tok_oom();
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    at[i] = k;
    k += tok_utf8_put(s->cp[begin + i], utf + k);
  }
  at[n] = k;
  utf[k] = '\0';
  double unk_score = m->min_score - UNK_PENALTY;
  for (size_t i = 0; i < n; i++) {
    double here = best[i].score; /* 0 at the start, as Rust's default node */
    bool single = false;
    size_t max = n - i < m->max_piece_chars ? n - i : m->max_piece_chars;
    for (size_t len = 1; len <= max; len++) {
      int32_t id = tok_vocab_get(&m->vocab, utf + at[i], at[i + len] - at[i]);
      if (id < 0) continue;
      double cand = m->scores[id] + here;
      node_t *t = &best[i + len];
      if (!t->set || cand > t->score) *t = (node_t){cand, i, id, true};
      if (len == 1) single = true;
    }
    if (!single) {
      if (m->unk_id < 0) return missing_unk();
      double cand = unk_score + here;
      node_t *t = &best[i + 1];
      if (!t->set || cand > t->score) *t = (node_t){cand, i, m->unk_id, true};
    }
  }
  /* Back from the end: edges in reverse, unknown runs fused. */
  size_t *cuts = tok_arena_alloc(ar, n + 1, sizeof *cuts);
  if (!cuts) return tok_oom();
  size_t nc = 0, e = n;
  bool in_unk = false;
  while (e > 0) {
    const node_t *nd = &best[e];
    bool unk = nd->id == m->unk_id;
    if (!(unk && in_unk)) cuts[nc++] = e; /* a token ends at e */
    in_unk = unk;
    e = nd->from;
  }
  /* cuts[] holds token ends from the last token back to the first. */
  size_t start = 0;
  for (size_t i = nc; i-- > 0;) {
    size_t stop = cuts[i];
    BERTC_RETURN_IF_ERROR(emit(m, s, begin, start, stop, utf, at, ar, out));
    start = stop;
  }
  return BERTC_OK;
}
