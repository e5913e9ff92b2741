/* Text handling for the tokenizers: Unicode predicates, UTF-8, scratch memory,
 * normalizers and pre-tokenizers, each matching HuggingFace `tokenizers`, and
 * the code point offsets of a text that token offsets index.
 *
 * Unicode data. Rust `tokenizers` gets its character classes from crates of
 * different Unicode versions (unicode_categories for is_other /
 * is_mark_nonspacing / is_punctuation, unicode-normalization-alignments for
 * NFD, std for to_lowercase, Oniguruma for the GPT-2 regex classes). We ask
 * utf8proc and correct it with the generated exception tables in
 * tokenizer_unicode_tables.h (predicate = utf8proc XOR table), so results are
 * identical for every code point, old or new.
 *
 * Alignment. Each transformation is expressed like Rust's
 * NormalizedString::transform: a list of (char, change) where change 0
 * replaces the next original character, 1 inserts a character (aligned with
 * the previous one) and -n replaces one and deletes n more. Applying that list
 * with the same rule gives the same offsets Rust reports. */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "tokenizer/internal.h"
#include "tokenizer/unicode_tables.h"

/* ---- Unicode predicates ----------------------------------------------------- */

static bool in_ranges(const tok_range_t *r, size_t n, uint32_t c) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (c < r[mid].lo)
      hi = mid;
    else if (c > r[mid].hi)
      lo = mid + 1;
    else
      return true;
  }
  return false;
}
#define IN_TABLE(table, c) in_ranges((table), BASE_ARRAY_LEN(table), (c))

static const tok_map_t *find_map(const tok_map_t *m, size_t n, uint32_t c) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (c < m[mid].cp)
      hi = mid;
    else if (c > m[mid].cp)
      lo = mid + 1;
    else
      return &m[mid];
  }
  return NULL;
}

const char *tok_unicode_tables_version(void) { return TOK_TABLES_UNICODE_VERSION; }

static utf8proc_category_t category(uint32_t c) {
  return utf8proc_category((utf8proc_int32_t)c);
}

bool tok_is_whitespace(uint32_t c) {
  switch (c) {
  case 0x09: case 0x0A: case 0x0B: case 0x0C: case 0x0D: case 0x20: case 0x85: case 0xA0:
  case 0x1680: case 0x2028: case 0x2029: case 0x202F: case 0x205F: case 0x3000:
    return true;
  default:
    return c >= 0x2000 && c <= 0x200A;
  }
}

/* unicode_categories' is_other(): Cc, Cf or Co (not Cn, not Cs). */
static bool is_other(uint32_t c) {
  utf8proc_category_t k = category(c);
  bool u = k == UTF8PROC_CATEGORY_CC || k == UTF8PROC_CATEGORY_CF || k == UTF8PROC_CATEGORY_CO;
  return u != IN_TABLE(tok_other_x, c);
}

static bool is_mark_nonspacing(uint32_t c) {
  return (category(c) == UTF8PROC_CATEGORY_MN) != IN_TABLE(tok_mn_x, c);
}

/* The StripAccents normalizer's is_combining_mark(): Mn, Mc or Me. */
static bool is_combining_mark(uint32_t c) {
  utf8proc_category_t k = category(c);
  bool u = k == UTF8PROC_CATEGORY_MN || k == UTF8PROC_CATEGORY_MC || k == UTF8PROC_CATEGORY_ME;
  return u != IN_TABLE(tok_mark_x, c);
}

static bool is_ascii_punct(uint32_t c) {
  return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) ||
         (c >= 123 && c <= 126);
}

bool tok_is_bert_punct(uint32_t c) {
  utf8proc_category_t k = category(c);
  bool u = is_ascii_punct(c) || (k >= UTF8PROC_CATEGORY_PC && k <= UTF8PROC_CATEGORY_PO);
  return u != IN_TABLE(tok_punct_x, c);
}

bool tok_is_word_char(uint32_t c) {
  utf8proc_category_t k = category(c);
  return (k >= UTF8PROC_CATEGORY_LU && k <= UTF8PROC_CATEGORY_ND) || k == UTF8PROC_CATEGORY_NL ||
         k == UTF8PROC_CATEGORY_PC || c == 0x200C || c == 0x200D;
}

/* Oniguruma's \p{L}, \p{N} and \s as used by the ByteLevel regex. */
static bool onig_letter(uint32_t c) {
  utf8proc_category_t k = category(c);
  return (k >= UTF8PROC_CATEGORY_LU && k <= UTF8PROC_CATEGORY_LO) != IN_TABLE(tok_onig_l_x, c);
}
static bool onig_number(uint32_t c) {
  utf8proc_category_t k = category(c);
  return (k >= UTF8PROC_CATEGORY_ND && k <= UTF8PROC_CATEGORY_NO) != IN_TABLE(tok_onig_n_x, c);
}
static bool onig_space(uint32_t c) {
  return tok_is_whitespace(c) != IN_TABLE(tok_onig_s_x, c);
}

/* BertNormalizer's CJK ranges (Rust's; 0x2B920 is where Rust starts, Python 0x2B820). */
static bool is_chinese_char(uint32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
         (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
         (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

/* char::to_lowercase: one or two code points. */
static size_t to_lowercase(uint32_t c, uint32_t out[3]) {
  const tok_map_t *m = find_map(tok_lower_x, BASE_ARRAY_LEN(tok_lower_x), c);
  if (!m) {
    out[0] = (uint32_t)utf8proc_tolower((utf8proc_int32_t)c);
    return 1;
  }
  size_t n = 0;
  while (n < 3 && m->to[n]) {
    out[n] = m->to[n];
    n++;
  }
  return n;
}

/* Full canonical (or compatibility) decomposition of one code point, not yet
 * reordered. */
#define TOK_MAX_DECOMP 32
static size_t decompose(uint32_t c, uint32_t out[TOK_MAX_DECOMP], bool compat) {
  const tok_map_t *m = find_map(tok_nfd_x, BASE_ARRAY_LEN(tok_nfd_x), c);
  if (m) {
    size_t n = 0;
    while (n < 3 && m->to[n]) {
      out[n] = m->to[n];
      n++;
    }
    return n;
  }
  utf8proc_int32_t buf[TOK_MAX_DECOMP];
  int boundclass = 0;
  utf8proc_ssize_t n = utf8proc_decompose_char(
      (utf8proc_int32_t)c, buf, TOK_MAX_DECOMP,
      compat ? UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT : UTF8PROC_DECOMPOSE, &boundclass);
  if (n <= 0 || n > TOK_MAX_DECOMP) {
    out[0] = c;
    return 1;
  }
  for (utf8proc_ssize_t i = 0; i < n; i++) out[i] = (uint32_t)buf[i];
  return (size_t)n;
}

/* Marks newer than Rust's normalization tables are starters there. */
static int combining_class(uint32_t c) {
  int ccc = utf8proc_get_property((utf8proc_int32_t)c)->combining_class;
  return ccc && !IN_TABLE(tok_ccc0_x, c) ? ccc : 0;
}

/* ---- UTF-8 ----------------------------------------------------------------------- */

bertc_status_t tok_utf8_decode(const char *s, size_t n, const char *what, uint32_t *out,
                               size_t *out_len) {
  size_t i = 0, k = 0;
  while (i < n) {
    utf8proc_int32_t c;
    size_t left = n - i;
    utf8proc_ssize_t r = utf8proc_iterate((const utf8proc_uint8_t *)s + i,
                                          left > 8 ? 8 : (utf8proc_ssize_t)left, &c);
    if (r <= 0)
      return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT,
                               "%s: invalid UTF-8 at byte offset %zu", what, i);
    out[k++] = (uint32_t)c;
    i += (size_t)r;
  }
  *out_len = k;
  return BERTC_OK;
}

size_t tok_utf8_put(uint32_t c, char *out) {
  return (size_t)utf8proc_encode_char((utf8proc_int32_t)c, (utf8proc_uint8_t *)out);
}

size_t tok_utf8_encode(const uint32_t *cps, size_t n, char *out) {
  size_t k = 0;
  for (size_t i = 0; i < n; i++) k += tok_utf8_put(cps[i], out + k);
  out[k] = '\0';
  return k;
}

/* ---- Arena ------------------------------------------------------------------------ */

struct tok_arena_chunk {
  tok_arena_chunk_t *next;
  size_t used, cap;
  max_align_t data[];
};

void *tok_arena_alloc(tok_arena_t *a, size_t n, size_t size) {
  size_t bytes;
  if (!base_mul_size(n, size, &bytes) || !base_add_size(bytes, 15, &bytes)) return NULL;
  bytes &= ~(size_t)15;
  if (bytes == 0) bytes = 16;
  tok_arena_chunk_t *h = a->head;
  if (!h || h->cap - h->used < bytes) {
    size_t cap = bytes > (size_t)65536 ? bytes : (size_t)65536, total;
    if (!base_add_size(cap, sizeof(tok_arena_chunk_t), &total)) return NULL;
    h = calloc(1, total);
    if (!h) return NULL;
    h->cap = cap;
    h->next = a->head;
    a->head = h;
  }
  void *p = (char *)h->data + h->used;
  h->used += bytes;
  return p;
}

void tok_arena_free(tok_arena_t *a) {
  while (a->head) {
    tok_arena_chunk_t *next = a->head->next;
    free(a->head);
    a->head = next;
  }
}

/* ---- Normalizers -------------------------------------------------------------- */

/* NormalizedString::transform over the whole string. */
bertc_status_t tok_apply_changes(tok_nstr_t *s, const tok_change_t *ch, size_t n,
                                 size_t initial_offset, tok_arena_t *a) {
  uint32_t *cp = tok_arena_alloc(a, n, sizeof *cp);
  tok_span_t *al = tok_arena_alloc(a, n, sizeof *al);
  if (!cp || !al) return tok_oom();
  size_t off = initial_offset;
  for (size_t i = 0; i < n; i++) {
    if (ch[i].change > 0) {
      /* An inserted character shares the previous one's span; Rust gives one
       * inserted at the very start the empty span at the string's origin. */
      int32_t origin = s->len ? s->al[0].start : 0;
      al[i] = off > 0 ? s->al[off - 1] : (tok_span_t){origin, origin};
    } else {
      if (off >= s->len)
        return bertc_status_make(BERTC_STATUS_INTERNAL, "tokenizer: bad alignment transform");
      al[i] = s->al[off];
      off += 1 + (size_t)(ch[i].change < 0 ? -ch[i].change : 0);
    }
    cp[i] = ch[i].c;
  }
  s->cp = cp;
  s->al = al;
  s->len = n;
  return BERTC_OK;
}

/* Removes the characters drop() selects; the others keep their own span. */
static void filter(tok_nstr_t *s, bool (*drop)(uint32_t)) {
  size_t k = 0;
  for (size_t i = 0; i < s->len; i++)
    if (!drop(s->cp[i])) {
      s->cp[k] = s->cp[i];
      s->al[k] = s->al[i];
      k++;
    }
  s->len = k;
}

static bool bert_drop(uint32_t c) {
  if (c == 0 || c == 0xFFFD) return true;
  if (c == '\t' || c == '\n' || c == '\r') return false;
  return is_other(c);
}

static bertc_status_t handle_chinese(tok_nstr_t *s, tok_arena_t *a) {
  size_t n = s->len, extra = 0;
  for (size_t i = 0; i < n; i++) extra += is_chinese_char(s->cp[i]) ? 2 : 0;
  if (!extra) return BERTC_OK;
  tok_change_t *ch = tok_arena_alloc(a, n + extra, sizeof *ch);
  if (!ch) return tok_oom();
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    uint32_t c = s->cp[i];
    if (is_chinese_char(c)) {
      ch[k++] = (tok_change_t){' ', 0};
      ch[k++] = (tok_change_t){c, 1};
      ch[k++] = (tok_change_t){' ', 1};
    } else {
      ch[k++] = (tok_change_t){c, 0};
    }
  }
  return tok_apply_changes(s, ch, k, 0, a);
}

/* The primary composite of a starter and the next character, or 0
 * (unicode-normalization's compose(), Hangul included). A composite whose
 * decomposition Rust's tables lack (tok_nfd_x) is unknown to its compose()
 * too. */
static uint32_t compose_pair(uint32_t a, uint32_t b) {
  utf8proc_int32_t buf[2] = {(utf8proc_int32_t)a, (utf8proc_int32_t)b};
  utf8proc_ssize_t n = utf8proc_normalize_utf32(buf, 2, UTF8PROC_COMPOSE | UTF8PROC_STABLE);
  if (n != 1) return 0;
  if (find_map(tok_nfd_x, BASE_ARRAY_LEN(tok_nfd_x), (uint32_t)buf[0])) return 0;
  return (uint32_t)buf[0];
}

/* unicode-normalization-alignments' Recompositions over (char, change): a
 * composite keeps its starter's change plus the absorbed one's minus 1. */
static size_t recompose(const tok_change_t *in, size_t n, const int *ccc, tok_change_t *out) {
  size_t k = 0, nbuf = 0;
  tok_change_t *buf = out + n; /* scratch after the output (out holds 2n) */
  bool have = false;
  tok_change_t composee = {0, 0};
  int last_ccc = -1;
  for (size_t i = 0; i < n; i++) {
    tok_change_t ch = in[i];
    int cls = ccc[i];
    if (!have) {
      if (cls != 0) {
        out[k++] = ch;
        continue;
      }
      composee = ch;
      have = true;
      continue;
    }
    if (last_ccc < 0) {
      uint32_t r = compose_pair(composee.c, ch.c);
      if (r) {
        composee = (tok_change_t){r, composee.change + ch.change - 1};
        continue;
      }
      if (cls == 0) {
        out[k++] = composee;
        composee = ch;
        continue;
      }
      buf[nbuf++] = ch;
      last_ccc = cls;
      continue;
    }
    if (last_ccc >= cls) {
      if (cls == 0) { /* blocked: flush the composee and the marks */
        out[k++] = composee;
        for (size_t j = 0; j < nbuf; j++) out[k++] = buf[j];
        nbuf = 0;
        composee = ch;
        last_ccc = -1;
        continue;
      }
      buf[nbuf++] = ch;
      last_ccc = cls;
      continue;
    }
    uint32_t r = compose_pair(composee.c, ch.c);
    if (r) {
      composee = (tok_change_t){r, composee.change + ch.change - 1};
      continue;
    }
    buf[nbuf++] = ch;
    last_ccc = cls;
  }
  if (have) out[k++] = composee;
  for (size_t j = 0; j < nbuf; j++) out[k++] = buf[j];
  return k;
}

/* NFD / NFKD with canonical reordering, NFKC with recomposition; the (char,
 * change) pairs move together, as in unicode-normalization-alignments. */
static bertc_status_t normalize_form(tok_nstr_t *s, bool compat, bool compose, tok_arena_t *a) {
  size_t n = s->len, total = 0;
  uint32_t buf[TOK_MAX_DECOMP];
  bool changed = compose;
  for (size_t i = 0; i < n; i++) {
    size_t k = decompose(s->cp[i], buf, compat);
    total += k;
    changed |= k != 1 || buf[0] != s->cp[i] || combining_class(s->cp[i]) != 0;
  }
  if (!changed) return BERTC_OK;
  tok_change_t *ch = tok_arena_alloc(a, total, sizeof *ch);
  int *ccc = tok_arena_alloc(a, total, sizeof *ccc);
  if (!ch || !ccc) return tok_oom();
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    size_t m = decompose(s->cp[i], buf, compat);
    for (size_t j = 0; j < m; j++) {
      ccc[k] = combining_class(buf[j]);
      ch[k++] = (tok_change_t){buf[j], j > 0 ? 1 : 0};
    }
  }
  /* Stable insertion sort of each run of non-starters by combining class. */
  for (size_t i = 0; i < k;) {
    if (ccc[i] == 0) {
      i++;
      continue;
    }
    size_t j = i;
    while (j < k && ccc[j] != 0) j++;
    for (size_t x = i + 1; x < j; x++) {
      tok_change_t cv = ch[x];
      int cc = ccc[x];
      size_t y = x;
      while (y > i && ccc[y - 1] > cc) {
        ch[y] = ch[y - 1];
        ccc[y] = ccc[y - 1];
        y--;
      }
      ch[y] = cv;
      ccc[y] = cc;
    }
    i = j;
  }
  if (compose) {
    tok_change_t *out = tok_arena_alloc(a, 2 * (k ? k : 1), sizeof *out);
    if (!out) return tok_oom();
    k = recompose(ch, k, ccc, out);
    ch = out;
  }
  return tok_apply_changes(s, ch, k, 0, a);
}

static bertc_status_t nfd(tok_nstr_t *s, tok_arena_t *a) {
  return normalize_form(s, false, false, a);
}

bertc_status_t tok_norm_nfk(tok_nstr_t *s, bool compose, tok_arena_t *a) {
  return normalize_form(s, true, compose, a);
}

static bertc_status_t lowercase(tok_nstr_t *s, tok_arena_t *a) {
  size_t n = s->len, total = 0;
  uint32_t out[3];
  bool changed = false;
  for (size_t i = 0; i < n; i++) {
    size_t m = to_lowercase(s->cp[i], out);
    total += m;
    changed |= m != 1;
  }
  if (!changed) {
    for (size_t i = 0; i < n; i++) {
      to_lowercase(s->cp[i], out);
      s->cp[i] = out[0];
    }
    return BERTC_OK;
  }
  tok_change_t *ch = tok_arena_alloc(a, total, sizeof *ch);
  if (!ch) return tok_oom();
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    size_t m = to_lowercase(s->cp[i], out);
    for (size_t j = 0; j < m; j++) ch[k++] = (tok_change_t){out[j], j > 0 ? 1 : 0};
  }
  return tok_apply_changes(s, ch, k, 0, a);
}

bertc_status_t tok_normalize(const tok_norm_step_t *steps, size_t n_steps, tok_arena_t *a,
                             tok_nstr_t *s) {
  for (size_t i = 0; i < n_steps; i++) {
    const tok_norm_step_t *st = &steps[i];
    switch (st->kind) {
    case TOK_NORM_BERT:
      if (st->clean_text) {
        filter(s, bert_drop);
        for (size_t j = 0; j < s->len; j++)
          if (tok_is_whitespace(s->cp[j])) s->cp[j] = ' ';
      }
      if (st->handle_chinese_chars) BERTC_RETURN_IF_ERROR(handle_chinese(s, a));
      if (st->strip_accents) {
        BERTC_RETURN_IF_ERROR(nfd(s, a));
        filter(s, is_mark_nonspacing);
      }
      if (st->lowercase) BERTC_RETURN_IF_ERROR(lowercase(s, a));
      break;
    case TOK_NORM_LOWERCASE:
      BERTC_RETURN_IF_ERROR(lowercase(s, a));
      break;
    case TOK_NORM_NFD:
      BERTC_RETURN_IF_ERROR(nfd(s, a));
      break;
    case TOK_NORM_STRIP_ACCENTS:
      filter(s, is_combining_mark);
      break;
    case TOK_NORM_NFKD:
    case TOK_NORM_NFKC:
      BERTC_RETURN_IF_ERROR(tok_norm_nfk(s, st->kind == TOK_NORM_NFKC, a));
      break;
    case TOK_NORM_STRIP:
      BERTC_RETURN_IF_ERROR(tok_norm_strip(s, st->strip_left, st->strip_right, a));
      break;
    case TOK_NORM_REPLACE:
      BERTC_RETURN_IF_ERROR(tok_norm_replace(st->replace, s, a));
      break;
    case TOK_NORM_PRECOMPILED:
      BERTC_RETURN_IF_ERROR(tok_norm_precompiled(st->charsmap, s, a));
      break;
    }
  }
  return BERTC_OK;
}

/* ---- Pre-tokenizers ------------------------------------------------------------ */

static bertc_status_t push_piece(tok_piece_t **v, size_t *n, size_t *cap, tok_arena_t *a,
                                 size_t begin, size_t end) {
  if (*n == *cap) {
    size_t ncap = *cap ? *cap * 2 : 16;
    tok_piece_t *nv = tok_arena_alloc(a, ncap, sizeof *nv);
    if (!nv) return tok_oom();
    if (*n) memcpy(nv, *v, *n * sizeof *nv);
    *v = nv;
    *cap = ncap;
  }
  (*v)[(*n)++] = (tok_piece_t){begin, end};
  return BERTC_OK;
}

/* BertPreTokenizer: split on whitespace (removed), then isolate punctuation. */
bertc_status_t tok_pre_bert(const tok_nstr_t *s, tok_arena_t *a, tok_piece_t **out,
                            size_t *out_n) {
  tok_piece_t *v = NULL;
  size_t n = 0, cap = 0, start = 0;
  for (size_t i = 0; i <= s->len; i++) {
    bool end = i == s->len, ws = !end && tok_is_whitespace(s->cp[i]);
    bool punct = !end && !ws && tok_is_bert_punct(s->cp[i]);
    if (end || ws || punct) {
      if (i > start) BERTC_RETURN_IF_ERROR(push_piece(&v, &n, &cap, a, start, i));
      if (punct) BERTC_RETURN_IF_ERROR(push_piece(&v, &n, &cap, a, i, i + 1));
      start = i + 1;
    }
  }
  *out = v;
  *out_n = n;
  return BERTC_OK;
}

/* The GPT-2 pattern, tried alternative by alternative at each position:
 *   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 * Every character falls in one class, so a match always starts where the
 * previous one ended and the matches tile the string. */
static size_t gpt2_match(const uint32_t *t, size_t n, size_t p) {
  if (t[p] == '\'' && p + 1 < n) {
    uint32_t c = t[p + 1];
    if (c == 's' || c == 't' || c == 'm' || c == 'd') return p + 2;
    if (p + 2 < n) {
      uint32_t d = t[p + 2];
      if ((c == 'r' && d == 'e') || (c == 'v' && d == 'e') || (c == 'l' && d == 'l'))
        return p + 3;
    }
  }
  bool (*classes[2])(uint32_t) = {onig_letter, onig_number};
  for (int k = 0; k < 2; k++) {
    size_t q = p;
    if (t[q] == ' ' && q + 1 < n && classes[k](t[q + 1]))
      q++;
    else if (!classes[k](t[q]))
      continue;
    while (q < n && classes[k](t[q])) q++;
    return q;
  }
#define OTHER(c) (!onig_space(c) && !onig_letter(c) && !onig_number(c))
  {
    size_t q = p;
    if (t[q] == ' ' && q + 1 < n && OTHER(t[q + 1])) q++;
    if (OTHER(t[q])) {
      while (q < n && OTHER(t[q])) q++;
      return q;
    }
  }
#undef OTHER
  size_t e = p;
  while (e < n && onig_space(t[e])) e++;
  if (e == p) return p + 1; /* not reachable: every character has a class */
  if (e == n) return n;     /* \s+(?!\S) at the end */
  if (e - 1 > p) return e - 1; /* leave one space for the next word */
  return p + 1;              /* \s+ */
}

bertc_status_t tok_pre_bytelevel_split(const tok_nstr_t *s, tok_arena_t *a, tok_piece_t **out,
                                       size_t *out_n) {
  tok_piece_t *v = NULL;
  size_t n = 0, cap = 0;
  for (size_t p = 0; p < s->len;) {
    size_t e = gpt2_match(s->cp, s->len, p);
    BERTC_RETURN_IF_ERROR(push_piece(&v, &n, &cap, a, p, e));
    p = e;
  }
  *out = v;
  *out_n = n;
  return BERTC_OK;
}

bertc_status_t tok_nstr_prepend_space(tok_nstr_t *s, tok_arena_t *a) {
  return tok_nstr_prepend(s, ' ', a);
}

bertc_status_t tok_pre_whitespace_split(const tok_nstr_t *s, tok_arena_t *a, tok_piece_t **out,
                                        size_t *out_n) {
  tok_piece_t *v = NULL;
  size_t n = 0, cap = 0, start = 0;
  for (size_t i = 0; i <= s->len; i++) {
    if (i < s->len && !tok_is_whitespace(s->cp[i])) continue;
    if (i > start) BERTC_RETURN_IF_ERROR(push_piece(&v, &n, &cap, a, start, i));
    start = i + 1;
  }
  *out = v;
  *out_n = n;
  return BERTC_OK;
}

bertc_status_t tok_nstr_prepend(tok_nstr_t *s, uint32_t c, tok_arena_t *a) {
  if (s->len == 0) return BERTC_OK;
  tok_change_t *ch = tok_arena_alloc(a, s->len + 1, sizeof *ch);
  if (!ch) return tok_oom();
  ch[0] = (tok_change_t){c, 0};
  ch[1] = (tok_change_t){s->cp[0], 1};
  for (size_t i = 1; i < s->len; i++) ch[i + 1] = (tok_change_t){s->cp[i], 0};
  return tok_apply_changes(s, ch, s->len + 1, 0, a);
}

/* GPT-2 bytes_to_unicode: printable Latin-1 bytes map to themselves, the 68
 * others (0x00-0x20, 0x7F-0xA0, 0xAD) to U+0100.. in byte order. */
uint32_t tok_byte_char(uint8_t b) {
  if (b <= 0x20) return 0x100u + b;
  if (b >= 0x7F && b <= 0xA0) return 0x100u + 33 + (b - 0x7Fu);
  if (b == 0xAD) return 0x100u + 33 + 34;
  return b;
}

int tok_char_byte(uint32_t c) {
  if (c < 0x100) return tok_byte_char((uint8_t)c) == c ? (int)c : -1;
  if (c <= 0x120) return (int)(c - 0x100);
  if (c < 0x100 + 33 + 34) return (int)(0x7F + (c - (0x100 + 33)));
  if (c == 0x100 + 33 + 34) return 0xAD;
  return -1;
}

bertc_status_t tok_bytelevel_map(const tok_nstr_t *s, size_t begin, size_t end, tok_arena_t *a,
                                 tok_nstr_t *out) {
  size_t total = 0;
  char buf[4];
  for (size_t i = begin; i < end; i++) total += tok_utf8_put(s->cp[i], buf);
  out->cp = tok_arena_alloc(a, total, sizeof *out->cp);
  out->al = tok_arena_alloc(a, total, sizeof *out->al);
  if (!out->cp || !out->al) return tok_oom();
  size_t k = 0;
  for (size_t i = begin; i < end; i++) {
    size_t m = tok_utf8_put(s->cp[i], buf);
    for (size_t j = 0; j < m; j++) {
      out->cp[k] = tok_byte_char((uint8_t)buf[j]);
      out->al[k++] = s->al[i];
    }
  }
  out->len = total;
  return BERTC_OK;
}

/* ---- Code point offsets ------------------------------------------------------------ */

bertc_status_t tok_chars_init(const char *text, size_t len, tok_chars_t *out) {
  memset(out, 0, sizeof *out);
  size_t *byte = malloc((len + 1) * sizeof *byte);
  if (!byte) return tok_oom();
  size_t n = 0, i = 0;
  while (i < len) {
    utf8proc_int32_t c;
    utf8proc_ssize_t k =
        utf8proc_iterate((const utf8proc_uint8_t *)text + i, (utf8proc_ssize_t)(len - i), &c);
    if (k <= 0) {
      free(byte);
      return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT, "text is not valid UTF-8 at byte %zu",
                               i);
    }
    byte[n++] = i;
    i += (size_t)k;
  }
  byte[n] = len;
  out->n = n;
  out->byte = byte;
  return BERTC_OK;
}

void tok_chars_deinit(tok_chars_t *c) {
  if (!c) return;
  free(c->byte);
  memset(c, 0, sizeof *c);
}

static size_t clamp_char(const tok_chars_t *c, int32_t i) {
  return i < 0 ? 0 : (size_t)i > c->n ? c->n : (size_t)i;
}

bertc_status_t tok_chars_slice(const tok_chars_t *c, const char *text, int32_t start,
                               int32_t end, char **out) {
  *out = NULL;
  size_t a = clamp_char(c, start), b = clamp_char(c, end);
  if (b < a) b = a;
  size_t from = c->byte[a], n = c->byte[b] - from;
  char *s = malloc(n + 1);
  if (!s) return tok_oom();
  if (n) memcpy(s, text + from, n);
  s[n] = '\0';
  *out = s;
  return BERTC_OK;
}
