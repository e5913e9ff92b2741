/* Tokenizer models: the vocabulary map and two subword algorithms (the
 * third, Unigram, is in unigram.c).
 *
 * WordPiece (Schuster & Nakajima 2012, as in BERT): a pre-token longer than
 * max_input_chars_per_word is the unknown token; otherwise take the longest
 * vocabulary entry that prefixes the rest of the word (with "##" after the
 * first piece), and if some position has no match the whole word becomes the
 * unknown token.
 *
 * BPE (Sennrich et al. 2016; GPT-2's byte-level variant): start from one
 * symbol per character and repeatedly merge the adjacent pair with the lowest
 * merge rank, leftmost first on ties. Like Rust `tokenizers` (bpe/word.rs) we
 * keep a min-heap of candidate merges keyed by (rank, position) and skip
 * entries that went stale, which gives exactly its results. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/internal.h"

/* ---- Vocabulary ------------------------------------------------------------------ */

static uint64_t hash_bytes(const char *s, size_t n) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; i++) {
    h ^= (unsigned char)s[i];
    h *= 1099511628211ull;
  }
  return h;
}

static int32_t *find_slot(const tok_vocab_t *v, const char *s, size_t len) {
  size_t mask = v->n_slots - 1;
  for (size_t i = hash_bytes(s, len) & mask;; i = (i + 1) & mask) {
    int32_t e = v->slots[i];
    if (e < 0) return &v->slots[i];
    const tok_vocab_entry_t *en = &v->entries[e];
    if (en->len == len && memcmp(en->str, s, len) == 0) return &v->slots[i];
  }
}

static bertc_status_t grow_slots(tok_vocab_t *v) {
  size_t n = v->n_slots ? v->n_slots * 2 : 1024;
  int32_t *slots = malloc(n * sizeof *slots);
  if (!slots) return tok_oom();
  for (size_t i = 0; i < n; i++) slots[i] = -1;
  free(v->slots);
  v->slots = slots;
  v->n_slots = n;
  for (size_t e = 0; e < v->count; e++)
    *find_slot(v, v->entries[e].str, v->entries[e].len) = (int32_t)e;
  return BERTC_OK;
}

bertc_status_t tok_vocab_put(tok_vocab_t *v, const char *s, size_t len, int32_t id) {
  if (id < 0 || len > UINT32_MAX || v->count >= (size_t)INT32_MAX)
    return bertc_status_make(BERTC_STATUS_DATA, "vocabulary entry with invalid id %d", id);
  if ((v->count + 1) * 2 > v->n_slots) BERTC_RETURN_IF_ERROR(grow_slots(v));
  int32_t *slot = find_slot(v, s, len);
  if (*slot >= 0) { /* a later duplicate wins, as when Rust fills its HashMap */
    v->entries[*slot].id = id;
    return BERTC_OK;
  }
  if (v->count == v->cap) {
    size_t cap = v->cap ? v->cap * 2 : 1024;
    tok_vocab_entry_t *e = realloc(v->entries, cap * sizeof *e);
    if (!e) return tok_oom();
    v->entries = e;
    v->cap = cap;
  }
  char *copy = malloc(len + 1);
  if (!copy) return tok_oom();
  memcpy(copy, s, len);
  copy[len] = '\0';
  v->entries[v->count] = (tok_vocab_entry_t){copy, (uint32_t)len, id};
  *slot = (int32_t)v->count++;
  return BERTC_OK;
}

/* Ids index an array, so a stray huge id must not become a huge allocation. */
#define TOK_MAX_ID (1 << 27)

bertc_status_t tok_vocab_finish(tok_vocab_t *v) {
  int32_t max_id = -1;
  for (size_t e = 0; e < v->count; e++)
    if (v->entries[e].id > max_id) max_id = v->entries[e].id;
  if (max_id >= TOK_MAX_ID)
    return bertc_status_make(BERTC_STATUS_DATA, "vocabulary id %d is beyond the supported %d",
                             max_id, TOK_MAX_ID - 1);
  free(v->by_id);
  v->n_ids = (size_t)max_id + 1;
  v->by_id = malloc((v->n_ids ? v->n_ids : 1) * sizeof *v->by_id);
  if (!v->by_id) return tok_oom();
  for (size_t i = 0; i < v->n_ids; i++) v->by_id[i] = -1;
  for (size_t e = 0; e < v->count; e++) v->by_id[v->entries[e].id] = (int32_t)e;
  if (!v->slots) BERTC_RETURN_IF_ERROR(grow_slots(v));
  return BERTC_OK;
}

int32_t tok_vocab_get(const tok_vocab_t *v, const char *s, size_t len) {
  if (!v->n_slots) return -1;
  int32_t e = *find_slot(v, s, len);
  return e < 0 ? -1 : v->entries[e].id;
}

const char *tok_vocab_str(const tok_vocab_t *v, int32_t id) {
  if (id < 0 || (size_t)id >= v->n_ids || v->by_id[id] < 0) return NULL;
  return v->entries[v->by_id[id]].str;
}

void tok_vocab_deinit(tok_vocab_t *v) {
  for (size_t e = 0; e < v->count; e++) free(v->entries[e].str);
  free(v->entries);
  free(v->slots);
  free(v->by_id);
  memset(v, 0, sizeof *v);
}

/* ---- Merges ------------------------------------------------------------------------ */

static uint64_t merge_key(int32_t a, int32_t b) {
  return ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
}

static size_t merge_hash(uint64_t key, size_t mask) {
  key ^= key >> 33;
  key *= 0xff51afd7ed558ccdull;
  key ^= key >> 33;
  return (size_t)key & mask;
}

static const tok_merge_t *find_merge(const tok_model_t *m, int32_t a, int32_t b) {
  if (!m->n_merge_slots) return NULL;
  uint64_t key = merge_key(a, b);
  size_t mask = m->n_merge_slots - 1;
  for (size_t i = merge_hash(key, mask);; i = (i + 1) & mask) {
    if (m->merges[i].key == key) return &m->merges[i];
    if (m->merges[i].key == UINT64_MAX) return NULL;
  }
}

bertc_status_t tok_bpe_add_merge(tok_model_t *m, const char *left, size_t left_len,
                                 const char *right, size_t right_len, uint32_t rank,
                                 size_t n_total) {
  if (!m->merges) {
    size_t n = 16;
    while (n < n_total * 2) n *= 2;
    m->merges = malloc(n * sizeof *m->merges);
    if (!m->merges) return tok_oom();
    for (size_t i = 0; i < n; i++) m->merges[i].key = UINT64_MAX;
    m->n_merge_slots = n;
  }
  int32_t a = tok_vocab_get(&m->vocab, left, left_len);
  int32_t b = tok_vocab_get(&m->vocab, right, right_len);
  size_t skip = m->continuing_prefix ? strlen(m->continuing_prefix) : 0;
  if (a < 0 || b < 0 || right_len < skip)
    return bertc_status_make(BERTC_STATUS_DATA,
                             "merge %u ('%.*s' '%.*s'): token not in the vocabulary", rank + 1,
                             (int)left_len, left, (int)right_len, right);
  char *joined = malloc(left_len + right_len + 1);
  if (!joined) return tok_oom();
  memcpy(joined, left, left_len);
  memcpy(joined + left_len, right + skip, right_len - skip);
  int32_t id = tok_vocab_get(&m->vocab, joined, left_len + right_len - skip);
  free(joined);
  if (id < 0)
    return bertc_status_make(BERTC_STATUS_DATA,
                             "merge %u ('%.*s' '%.*s'): merged token not in the vocabulary",
                             rank + 1, (int)left_len, left, (int)right_len, right);
  uint64_t key = merge_key(a, b);
  size_t mask = m->n_merge_slots - 1;
  for (size_t i = merge_hash(key, mask);; i = (i + 1) & mask) {
    if (m->merges[i].key == key || m->merges[i].key == UINT64_MAX) {
      m->merges[i] = (tok_merge_t){key, rank, id};
      return BERTC_OK;
    }
  }
}

void tok_model_deinit(tok_model_t *m) {
  tok_vocab_deinit(&m->vocab);
  free(m->unk_token);
  free(m->continuing_prefix);
  free(m->end_of_word_suffix);
  free(m->merges);
  free(m->scores);
  memset(m, 0, sizeof *m);
}

bertc_status_t tok_tokens_push(tok_tokens_t *t, tok_arena_t *a, tok_token_t tok) {
  if (t->len == t->cap) {
    size_t cap = t->cap ? t->cap * 2 : 64;
    tok_token_t *v = tok_arena_alloc(a, cap, sizeof *v);
    if (!v) return tok_oom();
    if (t->len) memcpy(v, t->v, t->len * sizeof *v);
    t->v = v;
    t->cap = cap;
  }
  t->v[t->len++] = tok;
  return BERTC_OK;
}

static bertc_status_t need_unk(const tok_model_t *m) {
  if (m->unk_id >= 0) return BERTC_OK;
  return bertc_status_make(BERTC_STATUS_DATA,
                           "tokenizer: unknown token '%s' is not in the vocabulary",
                           m->unk_token ? m->unk_token : "(none)");
}

/* ---- WordPiece --------------------------------------------------------------------- */

static bertc_status_t wordpiece(const tok_model_t *m, const tok_nstr_t *s, size_t begin,
                                size_t end, tok_arena_t *a, tok_tokens_t *out) {
  size_t n = end - begin;
  tok_token_t unk = {m->unk_id, s->al[begin].start, s->al[end - 1].end, m->unk_token, 0};
  if (n > m->max_input_chars_per_word) {
    BERTC_RETURN_IF_ERROR(need_unk(m));
    return tok_tokens_push(out, a, unk);
  }
  size_t plen = m->continuing_prefix ? strlen(m->continuing_prefix) : 0;
  /* UTF-8 of the word with byte offsets per character, and a lookup buffer. */
  char *utf = tok_arena_alloc(a, 4 * n + 1, 1);
  size_t *at = tok_arena_alloc(a, n + 1, sizeof *at);
  char *buf = tok_arena_alloc(a, plen + 4 * n + 1, 1);
  if (!utf || !at || !buf) return tok_oom();
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    at[i] = k;
    k += tok_utf8_put(s->cp[begin + i], utf + k);
  }
  at[n] = k;
  if (plen) memcpy(buf, m->continuing_prefix, plen);
  size_t first = out->len;
  for (size_t start = 0; start < n;) {
    size_t stop = n;
    int32_t id = -1;
    const char *str = NULL;
    for (; stop > start; stop--) {
      size_t off = start > 0 ? 0 : plen, blen = plen - off + at[stop] - at[start];
      memcpy(buf + plen, utf + at[start], at[stop] - at[start]);
      id = tok_vocab_get(&m->vocab, buf + off, blen);
      if (id >= 0) {
        char *copy = tok_arena_alloc(a, blen + 1, 1);
        if (!copy) return tok_oom();
        memcpy(copy, buf + off, blen);
        str = copy;
        break;
      }
    }
    if (id < 0) { /* the whole word is unknown */
      out->len = first;
      BERTC_RETURN_IF_ERROR(need_unk(m));
      return tok_tokens_push(out, a, unk);
    }
    tok_token_t t = {id, s->al[begin + start].start, s->al[begin + stop - 1].end, str, 0};
    BERTC_RETURN_IF_ERROR(tok_tokens_push(out, a, t));
    start = stop;
  }
  return BERTC_OK;
}

/* ---- BPE ----------------------------------------------------------------------------- */

typedef struct {
  int32_t id;
  size_t start, end; /* characters of the word */
  ptrdiff_t prev, next;
  bool alive;
} symbol_t;

typedef struct {
  uint32_t rank;
  size_t pos;
  int32_t new_id;
} cand_t;

static bool cand_less(cand_t x, cand_t y) {
  return x.rank != y.rank ? x.rank < y.rank : x.pos < y.pos;
}

typedef struct {
  cand_t *v;
  size_t len, cap;
} heap_t;

static bertc_status_t heap_push(heap_t *h, tok_arena_t *a, cand_t c) {
  if (h->len == h->cap) {
    size_t cap = h->cap ? h->cap * 2 : 32;
    cand_t *v = tok_arena_alloc(a, cap, sizeof *v);
    if (!v) return tok_oom();
    if (h->len) memcpy(v, h->v, h->len * sizeof *v);
    h->v = v;
    h->cap = cap;
  }
  size_t i = h->len++;
  h->v[i] = c;
  while (i > 0 && cand_less(h->v[i], h->v[(i - 1) / 2])) {
    cand_t t = h->v[i];
    h->v[i] = h->v[(i - 1) / 2];
    h->v[(i - 1) / 2] = t;
    i = (i - 1) / 2;
  }
  return BERTC_OK;
}

static cand_t heap_pop(heap_t *h) {
  cand_t top = h->v[0];
  h->v[0] = h->v[--h->len];
  for (size_t i = 0;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    if (l < h->len && cand_less(h->v[l], h->v[m])) m = l;
    if (r < h->len && cand_less(h->v[r], h->v[m])) m = r;
    if (m == i) break;
    cand_t t = h->v[i];
    h->v[i] = h->v[m];
    h->v[m] = t;
    i = m;
  }
  return top;
}

static bertc_status_t push_pair(const tok_model_t *m, heap_t *h, tok_arena_t *a,
                                const symbol_t *sym, size_t pos) {
  if (sym[pos].next < 0) return BERTC_OK;
  const tok_merge_t *mg = find_merge(m, sym[pos].id, sym[sym[pos].next].id);
  if (!mg) return BERTC_OK;
  return heap_push(h, a, (cand_t){mg->rank, pos, mg->new_id});
}

static bertc_status_t bpe(const tok_model_t *m, const tok_nstr_t *s, size_t begin, size_t end,
                          tok_arena_t *a, tok_tokens_t *out) {
  size_t n = end - begin;
  size_t plen = m->continuing_prefix ? strlen(m->continuing_prefix) : 0;
  size_t slen = m->end_of_word_suffix ? strlen(m->end_of_word_suffix) : 0;
  char *buf = tok_arena_alloc(a, plen + slen + 4 * n + 1, 1);
  if (!buf) return tok_oom();
  if (m->ignore_merges) {
    size_t k = tok_utf8_encode(s->cp + begin, n, buf);
    int32_t id = tok_vocab_get(&m->vocab, buf, k);
    if (id >= 0) {
      tok_token_t t = {id, s->al[begin].start, s->al[end - 1].end, tok_vocab_str(&m->vocab, id),
                       0};
      return tok_tokens_push(out, a, t);
    }
  }
  /* Byte fallback may turn one character into one symbol per byte. */
  symbol_t *sym = tok_arena_alloc(a, (plen + slen + 4) * n + 1, sizeof *sym);
  if (!sym) return tok_oom();
  size_t ns = 0;
  bool have_unk = false;
  symbol_t unk = {0};
#define ADD_SYMBOL(ID, S, E)                                                                   \
  do {                                                                                         \
    sym[ns] = (symbol_t){(ID), (S), (E), (ptrdiff_t)ns - 1, -1, true};                         \
    ns++;                                                                                      \
  } while (0)
  for (size_t i = 0; i < n; i++) {
    size_t k = 0;
    if (i > 0 && plen) {
      memcpy(buf, m->continuing_prefix, plen);
      k = plen;
    }
    k += tok_utf8_put(s->cp[begin + i], buf + k);
    if (i + 1 == n && slen) {
      memcpy(buf + k, m->end_of_word_suffix, slen);
      k += slen;
    }
    int32_t id = tok_vocab_get(&m->vocab, buf, k);
    if (id >= 0) {
      if (have_unk) ADD_SYMBOL(unk.id, unk.start, unk.end);
      have_unk = false;
      ADD_SYMBOL(id, i, i + 1);
      continue;
    }
    if (m->byte_fallback) {
      int32_t ids[16];
      size_t nb = 0;
      bool all = k <= 16;
      for (size_t j = 0; all && j < k; j++) {
        char code[8];
        snprintf(code, sizeof code, "<0x%02X>", (unsigned char)buf[j]);
        ids[nb] = tok_vocab_get(&m->vocab, code, strlen(code));
        all = ids[nb++] >= 0;
      }
      if (all) {
        for (size_t j = 0; j < nb; j++) ADD_SYMBOL(ids[j], i, i + 1);
        continue;
      }
    }
    if (m->unk_token) {
      BERTC_RETURN_IF_ERROR(need_unk(m));
      if (have_unk && m->fuse_unk) {
        unk.end = i + 1;
      } else {
        if (have_unk) ADD_SYMBOL(unk.id, unk.start, unk.end);
        unk = (symbol_t){m->unk_id, i, i + 1, 0, 0, true};
        have_unk = true;
      }
    }
  }
  if (have_unk) ADD_SYMBOL(unk.id, unk.start, unk.end);
#undef ADD_SYMBOL
  for (size_t i = 0; i < ns; i++) sym[i].next = i + 1 < ns ? (ptrdiff_t)i + 1 : -1;

  heap_t heap = {0};
  for (size_t i = 0; i + 1 < ns; i++) BERTC_RETURN_IF_ERROR(push_pair(m, &heap, a, sym, i));
  while (heap.len) {
    cand_t top = heap_pop(&heap);
    symbol_t *cur = &sym[top.pos];
    if (!cur->alive || cur->next < 0) continue;
    symbol_t *right = &sym[cur->next];
    const tok_merge_t *mg = find_merge(m, cur->id, right->id);
    if (!mg || mg->new_id != top.new_id) continue; /* stale entry */
    cur->id = top.new_id;
    cur->end = right->end;
    cur->next = right->next;
    right->alive = false;
    if (cur->next >= 0) sym[cur->next].prev = (ptrdiff_t)top.pos;
    if (cur->prev >= 0) BERTC_RETURN_IF_ERROR(push_pair(m, &heap, a, sym, (size_t)cur->prev));
    BERTC_RETURN_IF_ERROR(push_pair(m, &heap, a, sym, top.pos));
  }
  for (size_t i = 0; i < ns; i++) {
    if (!sym[i].alive) continue;
    const char *str = tok_vocab_str(&m->vocab, sym[i].id);
    tok_token_t t = {sym[i].id, s->al[begin + sym[i].start].start,
                     s->al[begin + sym[i].end - 1].end, str ? str : "", 0};
    BERTC_RETURN_IF_ERROR(tok_tokens_push(out, a, t));
  }
  return BERTC_OK;
}

bertc_status_t tok_model_tokenize(const tok_model_t *m, const tok_nstr_t *s, size_t begin,
                                  size_t end, tok_arena_t *a, tok_tokens_t *out) {
  if (end <= begin) return BERTC_OK;
  if (m->kind == TOK_MODEL_WORDPIECE) return wordpiece(m, s, begin, end, a, out);
  if (m->kind == TOK_MODEL_UNIGRAM) return tok_unigram_tokenize(m, s, begin, end, a, out);
  return bpe(m, s, begin, end, a, out);
}
