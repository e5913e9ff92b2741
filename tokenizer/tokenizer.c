/* Encoding: the HuggingFace `tokenizers` pipeline for one input or a pair.
 *
 * For each sequence (Tokenizer::encode_single_sequence in Rust):
 *   1. Added tokens whose `normalized` flag is false are found in the raw text
 *      (leftmost-longest, like Rust's Aho-Corasick), honouring single_word,
 *      lstrip and rstrip; they become tokens and are not processed further.
 *   2. Every other piece is normalized, then searched for the normalized
 *      added tokens.
 *   3. The remaining pieces are pre-tokenized and run through the model.
 * Then (Tokenizer::post_process): truncation with the special tokens'
 * budget removed from max_length, offset trimming (ByteLevel/RoBERTa),
 * and the template that inserts the special tokens and sets type ids. */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/internal.h"

bertc_status_t tok_oom(void) {
  return bertc_status_make(BERTC_STATUS_OUT_OF_MEMORY, "tokenizer: out of memory");
}

/* ---- Added tokens -------------------------------------------------------------- */

typedef struct {
  uint32_t first;
  size_t index;
} pat_key_t;

static int cmp_pat_key(const void *x, const void *y) {
  const pat_key_t *a = x, *b = y;
  if (a->first != b->first) return a->first < b->first ? -1 : 1;
  return a->index < b->index ? -1 : a->index > b->index;
}

/* Sorts pattern indices by first code point (then by insertion order, which
 * decides between equal patterns like Rust's Aho-Corasick). */
static bertc_status_t sort_patterns(const tok_tokenizer_t *t, size_t *idx, size_t n) {
  pat_key_t *keys = malloc((n ? n : 1) * sizeof *keys);
  if (!keys) return tok_oom();
  for (size_t i = 0; i < n; i++) keys[i] = (pat_key_t){t->added[idx[i]].pattern[0], idx[i]};
  qsort(keys, n, sizeof *keys, cmp_pat_key);
  for (size_t i = 0; i < n; i++) idx[i] = keys[i].index;
  free(keys);
  return BERTC_OK;
}

bertc_status_t tok_added_finish(tok_tokenizer_t *t) {
  tok_arena_t a = {0};
  bertc_status_t s = BERTC_OK;
  t->pat_raw = calloc(t->n_added + 1, sizeof *t->pat_raw);
  t->pat_norm = calloc(t->n_added + 1, sizeof *t->pat_norm);
  if (!t->pat_raw || !t->pat_norm) return tok_oom();
  for (size_t i = 0; i < t->n_added && !s; i++) {
    tok_added_t *ad = &t->added[i];
    size_t n = strlen(ad->content), len = 0;
    uint32_t *cps = tok_arena_alloc(&a, n + 1, sizeof *cps);
    tok_span_t *al = tok_arena_alloc(&a, n + 1, sizeof *al);
    if (!cps || !al) {
      s = tok_oom();
      break;
    }
    s = tok_utf8_decode(ad->content, n, "added token", cps, &len);
    if (s) break;
    tok_nstr_t ns = {cps, al, len};
    if (ad->normalized) s = tok_normalize(t->norm, t->n_norm, &a, &ns);
    if (s) break;
    if (ns.len == 0) continue; /* matches nothing */
    ad->pattern = malloc(ns.len * sizeof *ad->pattern);
    if (!ad->pattern) {
      s = tok_oom();
      break;
    }
    memcpy(ad->pattern, ns.cp, ns.len * sizeof *ad->pattern);
    ad->pattern_len = ns.len;
    if (ad->normalized)
      t->pat_norm[t->n_pat_norm++] = i;
    else
      t->pat_raw[t->n_pat_raw++] = i;
  }
  tok_arena_free(&a);
  if (s) return bertc_status_annotate(s, "added tokens");
  BERTC_RETURN_IF_ERROR(sort_patterns(t, t->pat_raw, t->n_pat_raw));
  return sort_patterns(t, t->pat_norm, t->n_pat_norm);
}

/* The longest pattern that starts at s[i], or NULL. */
static const tok_added_t *match_at(const tok_tokenizer_t *t, const size_t *pats, size_t n,
                                   const uint32_t *s, size_t len, size_t i) {
  size_t lo = 0, hi = n;
  while (lo < hi) { /* first pattern whose first code point is >= s[i] */
    size_t mid = lo + (hi - lo) / 2;
    if (t->added[pats[mid]].pattern[0] < s[i])
      lo = mid + 1;
    else
      hi = mid;
  }
  const tok_added_t *best = NULL;
  for (; lo < n && t->added[pats[lo]].pattern[0] == s[i]; lo++) {
    const tok_added_t *p = &t->added[pats[lo]];
    if (p->pattern_len > len - i || (best && p->pattern_len <= best->pattern_len)) continue;
    if (memcmp(p->pattern, s + i, p->pattern_len * sizeof *s) == 0) best = p;
  }
  return best;
}

typedef struct {
  tok_nstr_t s;
  const tok_added_t *added; /* the split is this added token */
} split_t;

typedef struct {
  split_t *v;
  size_t len, cap;
} splits_t;

static bertc_status_t push_split(splits_t *sp, tok_arena_t *a, const tok_nstr_t *s, size_t begin,
                                 size_t end, const tok_added_t *added) {
  if (end <= begin) return BERTC_OK; /* PreTokenizedString::split drops empty pieces */
  if (sp->len == sp->cap) {
    size_t cap = sp->cap ? sp->cap * 2 : 16;
    split_t *v = tok_arena_alloc(a, cap, sizeof *v);
    if (!v) return tok_oom();
    if (sp->len) memcpy(v, sp->v, sp->len * sizeof *v);
    sp->v = v;
    sp->cap = cap;
  }
  sp->v[sp->len++] = (split_t){{s->cp + begin, s->al + begin, end - begin}, added};
  return BERTC_OK;
}

/* AddedVocabulary::find_matches + split_with_indices. */
static bertc_status_t split_added(const tok_tokenizer_t *t, const size_t *pats, size_t n_pats,
                                  const tok_nstr_t *s, tok_arena_t *a, splits_t *out) {
  size_t len = s->len, start_offset = 0, pos = 0;
  const uint32_t *c = s->cp;
  while (n_pats && pos < len) {
    const tok_added_t *m = NULL;
    size_t i = pos;
    for (; i < len && !(m = match_at(t, pats, n_pats, c, len, i)); i++) {
    }
    if (!m) break;
    size_t start = i, stop = i + m->pattern_len;
    pos = stop;
    if (m->single_word) {
      bool start_space = start == 0 || !tok_is_word_char(c[start - 1]);
      bool stop_space = stop == len || !tok_is_word_char(c[stop]);
      if (!start_space || !stop_space) continue;
    }
    if (m->lstrip) {
      size_t j = start;
      while (j > 0 && tok_is_whitespace(c[j - 1])) j--;
      start = j > start_offset ? j : start_offset;
    }
    if (m->rstrip)
      while (stop < len && tok_is_whitespace(c[stop])) stop++;
    if (start_offset < start)
      BERTC_RETURN_IF_ERROR(push_split(out, a, s, start_offset, start, NULL));
    BERTC_RETURN_IF_ERROR(push_split(out, a, s, start, stop, m));
    start_offset = stop;
  }
  if (start_offset < len) BERTC_RETURN_IF_ERROR(push_split(out, a, s, start_offset, len, NULL));
  return BERTC_OK;
}

/* ---- One sequence ----------------------------------------------------------------- */

bertc_status_t tok_nstr_copy(const tok_nstr_t *in, tok_arena_t *a, tok_nstr_t *out) {
  out->cp = tok_arena_alloc(a, in->len, sizeof *out->cp);
  out->al = tok_arena_alloc(a, in->len, sizeof *out->al);
  if (!out->cp || !out->al) return tok_oom();
  memcpy(out->cp, in->cp, in->len * sizeof *out->cp);
  memcpy(out->al, in->al, in->len * sizeof *out->al);
  out->len = in->len;
  return BERTC_OK;
}

/* Runs the model on one pre-tokenizer piece: its tokens are word *word, the
 * next piece's word follows. */
static bertc_status_t tokenize_piece(const tok_tokenizer_t *t, const tok_nstr_t *s, size_t begin,
                                     size_t end, tok_arena_t *a, tok_tokens_t *out,
                                     int32_t *word) {
  size_t first = out->len;
  BERTC_RETURN_IF_ERROR(tok_model_tokenize(&t->model, s, begin, end, a, out));
  for (size_t i = first; i < out->len; i++) out->v[i].word = *word;
  ++*word;
  return BERTC_OK;
}

/* Metaspace on one piece (pre_tokenizers/metaspace.rs): spaces become the
 * replacement character, which is prepended unless the piece starts with it
 * (scheme "first": only to a piece that starts the text, i.e. whose first
 * character comes from original offset 0); with `split`, a new piece starts
 * at every replacement character. */
static bertc_status_t metaspace_piece(const tok_tokenizer_t *t, const tok_nstr_t *split,
                                      size_t begin, size_t end, tok_arena_t *a,
                                      tok_tokens_t *out, int32_t *word) {
  tok_nstr_t s = {split->cp + begin, split->al + begin, end - begin};
  tok_nstr_t m;
  BERTC_RETURN_IF_ERROR(tok_nstr_copy(&s, a, &m));
  uint32_t rep = t->ms_replacement;
  for (size_t i = 0; i < m.len; i++)
    if (m.cp[i] == ' ') m.cp[i] = rep;
  bool prepend = t->ms_prepend == TOK_PREPEND_ALWAYS ||
                 (t->ms_prepend == TOK_PREPEND_FIRST && m.len && m.al[0].start == 0);
  if (prepend && m.len && m.cp[0] != rep) BERTC_RETURN_IF_ERROR(tok_nstr_prepend(&m, rep, a));
  if (!t->ms_split) return tokenize_piece(t, &m, 0, m.len, a, out, word);
  size_t start = 0;
  for (size_t i = 1; i <= m.len; i++) {
    if (i < m.len && m.cp[i] != rep) continue;
    BERTC_RETURN_IF_ERROR(tokenize_piece(t, &m, start, i, a, out, word));
    start = i;
  }
  return BERTC_OK;
}

/* Pre-tokenizes a split and runs the model on each piece. Every piece is a
 * word (Encoding.word_ids: the index of the pre-tokenized split). */
static bertc_status_t tokenize_split(const tok_tokenizer_t *t, const tok_nstr_t *split,
                                     tok_arena_t *a, tok_tokens_t *out, int32_t *word) {
  tok_piece_t *pieces = NULL, whole = {0, split->len};
  size_t n = 1;
  switch (t->pre) {
  case TOK_PRE_NONE:
    return tokenize_piece(t, split, 0, split->len, a, out, word);
  case TOK_PRE_BERT:
    BERTC_RETURN_IF_ERROR(tok_pre_bert(split, a, &pieces, &n));
    for (size_t i = 0; i < n; i++)
      BERTC_RETURN_IF_ERROR(
          tokenize_piece(t, split, pieces[i].begin, pieces[i].end, a, out, word));
    return BERTC_OK;
  case TOK_PRE_WHITESPACE_SPLIT:
  case TOK_PRE_METASPACE:
    if (t->pre == TOK_PRE_WHITESPACE_SPLIT || t->ms_ws_split)
      BERTC_RETURN_IF_ERROR(tok_pre_whitespace_split(split, a, &pieces, &n));
    else
      pieces = &whole;
    for (size_t i = 0; i < n; i++) {
      if (t->pre == TOK_PRE_WHITESPACE_SPLIT)
        BERTC_RETURN_IF_ERROR(
            tokenize_piece(t, split, pieces[i].begin, pieces[i].end, a, out, word));
      else
        BERTC_RETURN_IF_ERROR(
            metaspace_piece(t, split, pieces[i].begin, pieces[i].end, a, out, word));
    }
    return BERTC_OK;
  case TOK_PRE_BYTELEVEL: {
    tok_nstr_t s = *split;
    if (t->bl_add_prefix_space && s.len && s.cp[0] != ' ')
      BERTC_RETURN_IF_ERROR(tok_nstr_prepend_space(&s, a));
    whole.end = s.len;
    pieces = &whole;
    if (t->bl_use_regex) BERTC_RETURN_IF_ERROR(tok_pre_bytelevel_split(&s, a, &pieces, &n));
    for (size_t i = 0; i < n; i++) {
      tok_nstr_t bytes;
      BERTC_RETURN_IF_ERROR(tok_bytelevel_map(&s, pieces[i].begin, pieces[i].end, a, &bytes));
      BERTC_RETURN_IF_ERROR(tokenize_piece(t, &bytes, 0, bytes.len, a, out, word));
    }
    return BERTC_OK;
  }
  }
  return BERTC_OK;
}

static bertc_status_t encode_sequence(const tok_tokenizer_t *t, const char *text, size_t len,
                                      const char *what, tok_arena_t *a, tok_tokens_t *out) {
  tok_nstr_t whole = {tok_arena_alloc(a, len, sizeof(uint32_t)),
                      tok_arena_alloc(a, len, sizeof(tok_span_t)), 0};
  if (!whole.cp || !whole.al) return tok_oom();
  BERTC_RETURN_IF_ERROR(tok_utf8_decode(text, len, what, whole.cp, &whole.len));
  if (whole.len > (size_t)INT32_MAX)
    return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT, "%s: text too long", what);
  for (size_t i = 0; i < whole.len; i++) whole.al[i] = (tok_span_t){(int32_t)i, (int32_t)i + 1};

  splits_t raw = {0}, norm = {0};
  BERTC_RETURN_IF_ERROR(split_added(t, t->pat_raw, t->n_pat_raw, &whole, a, &raw));
  for (size_t i = 0; i < raw.len; i++) {
    if (raw.v[i].added) {
      BERTC_RETURN_IF_ERROR(push_split(&norm, a, &raw.v[i].s, 0, raw.v[i].s.len, raw.v[i].added));
      continue;
    }
    tok_nstr_t s;
    BERTC_RETURN_IF_ERROR(tok_nstr_copy(&raw.v[i].s, a, &s));
    BERTC_RETURN_IF_ERROR(tok_normalize(t->norm, t->n_norm, a, &s));
    BERTC_RETURN_IF_ERROR(split_added(t, t->pat_norm, t->n_pat_norm, &s, a, &norm));
  }
  int32_t word = 0;
  for (size_t i = 0; i < norm.len; i++) {
    const split_t *sp = &norm.v[i];
    if (!sp->added) {
      BERTC_RETURN_IF_ERROR(tokenize_split(t, &sp->s, a, out, &word));
      continue;
    }
    /* The token's string is the matched text, stripped spaces included; it
     * is a word of its own. */
    char *str = tok_arena_alloc(a, 4 * sp->s.len + 1, 1);
    if (!str) return tok_oom();
    tok_utf8_encode(sp->s.cp, sp->s.len, str);
    tok_token_t tok = {sp->added->id, sp->s.al[0].start, sp->s.al[sp->s.len - 1].end, str,
                       word++};
    BERTC_RETURN_IF_ERROR(tok_tokens_push(out, a, tok));
  }
  return BERTC_OK;
}

/* ---- Post-processing ------------------------------------------------------------- */

static size_t template_specials(const tok_post_t *p, bool pair) {
  if (!p->has_template) return 0;
  const tok_tpl_item_t *items = pair ? p->pair : p->single;
  size_t n = pair ? p->n_pair : p->n_single, count = 0;
  for (size_t i = 0; i < n; i++)
    if (items[i].seq < 0) count += p->specials[items[i].special].n;
  return count;
}

static void cut(tok_tokens_t *s, size_t n, bool left, bool *truncated) {
  if (!s || s->len <= n) return;
  if (left) memmove(s->v, s->v + (s->len - n), n * sizeof *s->v);
  s->len = n;
  *truncated = true;
}

/* truncate_encodings (tokenizers/src/utils/truncation.rs). */
static bertc_status_t truncate(const tok_tokenizer_t *t, tok_tokens_t *a, tok_tokens_t *b,
                               size_t max_length, tok_trunc_strategy_t strategy,
                               bool *truncated) {
  bool left = t->trunc_left;
  size_t added = template_specials(&t->post, b != NULL);
  if (added > 0) {
    if (max_length < added) return BERTC_OK; /* Rust's checked_sub fails: no truncation */
    max_length -= added;
  }
  if (max_length == 0) {
    cut(a, 0, left, truncated);
    cut(b, 0, left, truncated);
    return BERTC_OK;
  }
  size_t total = a->len + (b ? b->len : 0);
  if (total <= max_length) return BERTC_OK;
  size_t to_remove = total - max_length;
  if (strategy == TOK_TRUNC_LONGEST_FIRST) {
    if (!b) {
      cut(a, max_length, left, truncated);
      return BERTC_OK;
    }
    size_t n1 = a->len, n2 = b->len;
    bool swap = n1 > n2;
    if (swap) {
      size_t x = n1;
      n1 = n2;
      n2 = x;
    }
    if (n1 > max_length)
      n2 = n1;
    else
      n2 = n1 > max_length - n1 ? n1 : max_length - n1;
    if (n1 + n2 > max_length) {
      n1 = max_length / 2;
      n2 = n1 + max_length % 2;
    }
    if (swap) {
      size_t x = n1;
      n1 = n2;
      n2 = x;
    }
    cut(a, n1, left, truncated);
    cut(b, n2, left, truncated);
    return BERTC_OK;
  }
  tok_tokens_t *target = strategy == TOK_TRUNC_ONLY_FIRST ? a : b;
  if (!target)
    return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT,
                             "truncation: only_second needs a second sequence");
  if (target->len <= to_remove)
    return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT,
                             "truncation: the %s sequence (%zu tokens) is too short to reach "
                             "max_length %zu by itself",
                             target == a ? "first" : "second", target->len,
                             max_length + added);
  cut(target, target->len - to_remove, left, truncated);
  return BERTC_OK;
}

static bool is_space_char(uint32_t c) { return c == 0x120 || tok_is_whitespace(c); }

/* ByteLevel process_offsets: drop leading/trailing spaces from offsets. */
static void trim_offsets(tok_tokens_t *s, bool add_prefix_space) {
  uint32_t cps[256];
  for (size_t i = 0; s && i < s->len; i++) {
    tok_token_t *tk = &s->v[i];
    size_t n = strlen(tk->str), m = 0, lead = 0, trail = 0;
    uint32_t *v = n <= 256 ? cps : malloc(n * sizeof *v);
    if (!v) continue; /* out of memory: offsets stay untrimmed */
    if (tok_utf8_decode(tk->str, n, "token", v, &m)) m = 0; /* strings are valid UTF-8 */
    while (lead < m && is_space_char(v[lead])) lead++;
    while (trail < m && is_space_char(v[m - 1 - trail])) trail++;
    if (v != cps) free(v);
    if (lead > 0) {
      bool first = i == 0 || tk->start == 0;
      if (first && add_prefix_space && lead == 1) lead = 0;
      int64_t st = (int64_t)tk->start + (int64_t)lead;
      tk->start = (int32_t)(st < tk->end ? st : tk->end);
    }
    if (trail > 0 && (size_t)tk->end >= trail) {
      int64_t en = (int64_t)tk->end - (int64_t)trail;
      tk->end = (int32_t)(en > tk->start ? en : tk->start);
    }
  }
}

static void encoding_zero(tok_encoding_t *e) { memset(e, 0, sizeof *e); }

void tok_encoding_deinit(tok_encoding_t *e) {
  if (!e) return;
  free(e->ids);
  free(e->type_ids);
  free(e->attention_mask);
  free(e->offsets);
  free(e->tokens); /* strings live in the same block */
  free(e->sequence_ids);
  free(e->word_ids);
  encoding_zero(e);
}

typedef struct {
  int32_t id, type_id, seq, start, end, word;
  const char *str;
} out_tok_t;

static bertc_status_t assemble(const tok_tokenizer_t *t, const tok_tokens_t *a,
                               const tok_tokens_t *b, tok_arena_t *ar, tok_encoding_t *e) {
  const tok_post_t *p = &t->post;
  tok_tpl_item_t dflt[2] = {{0, 0, 0}, {1, 0, 1}};
  const tok_tpl_item_t *items = dflt;
  size_t n_items = b ? 2 : 1;
  if (p->has_template) {
    items = b ? p->pair : p->single;
    n_items = b ? p->n_pair : p->n_single;
  }
  size_t total = 0;
  for (size_t i = 0; i < n_items; i++) {
    if (items[i].seq < 0)
      total += p->specials[items[i].special].n;
    else
      total += items[i].seq == 0 ? a->len : (b ? b->len : 0);
  }
  out_tok_t *o = tok_arena_alloc(ar, total, sizeof *o);
  if (!o) return tok_oom();
  size_t k = 0, str_bytes = 0;
  for (size_t i = 0; i < n_items; i++) {
    const tok_tpl_item_t *it = &items[i];
    if (it->seq < 0) {
      const tok_tpl_special_t *sp = &p->specials[it->special];
      for (size_t j = 0; j < sp->n; j++)
        o[k++] = (out_tok_t){sp->ids[j], it->type_id, -1, 0, 0, -1, sp->tokens[j]};
      continue;
    }
    const tok_tokens_t *s = it->seq == 0 ? a : b;
    for (size_t j = 0; s && j < s->len; j++)
      o[k++] = (out_tok_t){s->v[j].id,    it->type_id,  it->seq,    s->v[j].start,
                           s->v[j].end,   s->v[j].word, s->v[j].str};
  }
  for (size_t i = 0; i < total; i++) str_bytes += strlen(o[i].str) + 1;
  size_t n = total ? total : 1, ptr_bytes;
  if (!base_mul_size(n, sizeof(char *), &ptr_bytes) ||
      !base_add_size(ptr_bytes, str_bytes, &str_bytes))
    return tok_oom();
  e->ids = malloc(n * sizeof *e->ids);
  e->type_ids = malloc(n * sizeof *e->type_ids);
  e->attention_mask = malloc(n * sizeof *e->attention_mask);
  e->offsets = malloc(2 * n * sizeof *e->offsets);
  e->sequence_ids = malloc(n * sizeof *e->sequence_ids);
  e->word_ids = malloc(n * sizeof *e->word_ids);
  e->tokens = malloc(str_bytes);
  if (!e->ids || !e->type_ids || !e->attention_mask || !e->offsets || !e->sequence_ids ||
      !e->word_ids || !e->tokens)
    return tok_oom();
  char *strs = (char *)(e->tokens + n);
  for (size_t i = 0; i < total; i++) {
    e->ids[i] = o[i].id;
    e->type_ids[i] = o[i].type_id;
    e->attention_mask[i] = 1;
    e->offsets[2 * i] = o[i].start;
    e->offsets[2 * i + 1] = o[i].end;
    e->sequence_ids[i] = o[i].seq;
    e->word_ids[i] = o[i].word;
    size_t l = strlen(o[i].str) + 1;
    memcpy(strs, o[i].str, l);
    e->tokens[i] = strs;
    strs += l;
  }
  e->len = total;
  return BERTC_OK;
}

bertc_status_t tok_encode(const tok_tokenizer_t *t, const char *text, size_t text_len,
                                   const char *text_pair, size_t pair_len, size_t max_length,
                                   tok_trunc_strategy_t strategy, tok_encoding_t *out) {
  encoding_zero(out);
  if (!t || (!text && text_len))
    return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT, "tok_encode: NULL argument");
  if (strategy != TOK_TRUNC_LONGEST_FIRST && strategy != TOK_TRUNC_ONLY_FIRST &&
      strategy != TOK_TRUNC_ONLY_SECOND)
    return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT,
                             "tok_encode: unknown truncation strategy %d",
                             (int)strategy);
  tok_arena_t arena = {0};
  tok_tokens_t a = {0}, b = {0};
  bool truncated = false;
  bertc_status_t s = encode_sequence(t, text ? text : "", text_len, "text", &arena, &a);
  if (!s && text_pair) s = encode_sequence(t, text_pair, pair_len, "text_pair", &arena, &b);
  if (!s && max_length > 0)
    s = truncate(t, &a, text_pair ? &b : NULL, max_length, strategy, &truncated);
  if (!s && t->post.trim_offsets) {
    trim_offsets(&a, t->post.trim_add_prefix_space);
    if (text_pair) trim_offsets(&b, t->post.trim_add_prefix_space);
  }
  if (!s) s = assemble(t, &a, text_pair ? &b : NULL, &arena, out);
  tok_arena_free(&arena);
  if (s) {
    tok_encoding_deinit(out);
    return s;
  }
  out->truncated = truncated;
  return BERTC_OK;
}

/* ---- Lookups and lifetime ------------------------------------------------------- */

int32_t tok_token_id(const tok_tokenizer_t *t, const char *token) {
  if (!t || !token) return -1;
  for (size_t i = 0; i < t->n_added; i++)
    if (strcmp(t->added[i].content, token) == 0) return t->added[i].id;
  return tok_vocab_get(&t->model.vocab, token, strlen(token));
}

const char *tok_id_to_token(const tok_tokenizer_t *t, int32_t id) {
  if (!t) return NULL;
  for (size_t i = 0; i < t->n_added; i++)
    if (t->added[i].id == id) return t->added[i].content;
  return tok_vocab_str(&t->model.vocab, id);
}

int32_t tok_pad_id(const tok_tokenizer_t *t) { return t ? t->pad_id : -1; }
int32_t tok_mask_id(const tok_tokenizer_t *t) { return t ? t->mask_id : -1; }

size_t tok_vocab_size(const tok_tokenizer_t *t) {
  if (!t) return 0;
  size_t n = t->model.vocab.n_ids;
  for (size_t i = 0; i < t->n_added; i++)
    if ((size_t)t->added[i].id + 1 > n) n = (size_t)t->added[i].id + 1;
  return n;
}

void tok_release(tok_tokenizer_t *t) {
  if (!t) return;
  tok_norm_steps_free(t->norm, t->n_norm);
  tok_model_deinit(&t->model);
  for (size_t i = 0; i < t->n_added; i++) {
    free(t->added[i].content);
    free(t->added[i].pattern);
  }
  free(t->added);
  free(t->pat_raw);
  free(t->pat_norm);
  tok_post_t *p = &t->post;
  for (size_t i = 0; i < p->n_specials; i++) {
    for (size_t j = 0; j < p->specials[i].n; j++) free(p->specials[i].tokens[j]);
    free(p->specials[i].tokens);
    free(p->specials[i].ids);
    free(p->specials[i].name);
  }
  free(p->specials);
  free(p->single);
  free(p->pair);
  tok_decoder_deinit(&t->decoder);
  free(t);
}
