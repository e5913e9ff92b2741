/* The normalizers SentencePiece-based tokenizer.json files add to text.c's:
 * Strip and Replace (a string or an Oniguruma regex, the engine `tokenizers`
 * itself uses, so that patterns like " {2,}" or "\A +| +\z" match the same
 * spans). Alignments follow NormalizedString::lrstrip and ::replace: kept
 * characters keep their spans, and every character of a replacement takes
 * the span of the last character it replaces (the origin of the string when
 * it replaces nothing at its very start). */
#include <stdlib.h>
#include <string.h>
#include <threads.h>

#include <oniguruma.h>

#include "tokenizer/internal.h"

/* ---- Strip ------------------------------------------------------------------------ */

bertc_status_t tok_norm_strip(tok_nstr_t *s, bool left, bool right, tok_arena_t *a) {
  size_t n = s->len, lead = 0, trail = 0;
  while (left && lead < n && tok_is_whitespace(s->cp[lead])) lead++;
  while (right && trail < n - lead && tok_is_whitespace(s->cp[n - 1 - trail])) trail++;
  if (!lead && !trail) return BERTC_OK;
  size_t keep = n - lead - trail;
  tok_change_t *ch = tok_arena_alloc(a, keep ? keep : 1, sizeof *ch);
  if (!ch) return tok_oom();
  for (size_t i = 0; i < keep; i++) ch[i] = (tok_change_t){s->cp[lead + i], 0};
  if (keep) ch[keep - 1].change = -(int32_t)trail;
  return tok_apply_changes(s, ch, keep, lead, a);
}

/* ---- Replace ----------------------------------------------------------------------- */

static bertc_status_t utf8_to_cps(const char *text, const char *what, uint32_t **out,
                                  size_t *out_len) {
  size_t n = strlen(text);
  *out = malloc((n ? n : 1) * sizeof **out);
  if (!*out) return tok_oom();
  return tok_utf8_decode(text, n, what, *out, out_len);
}

/* Oniguruma's process-wide set-up (its encoding tables), done once however many
 * threads load tokenizers at the same time: the library keeps that state itself,
 * and onig_initialize is not safe to race. */
static once_flag onig_once = ONCE_FLAG_INIT;
static void onig_setup(void) {
  OnigEncoding enc = ONIG_ENCODING_UTF8;
  onig_initialize(&enc, 1);
}

bertc_status_t tok_replace_init(tok_replace_t *r, const char *pattern, bool regex,
                                const char *content, const char *what) {
  memset(r, 0, sizeof *r);
  BERTC_RETURN_IF_ERROR(utf8_to_cps(content, what, &r->content, &r->content_len));
  if (!regex) {
    BERTC_RETURN_IF_ERROR(utf8_to_cps(pattern, what, &r->literal, &r->literal_len));
    if (r->literal_len == 0)
      return bertc_status_make(BERTC_STATUS_DATA, "%s: empty string pattern", what);
    return BERTC_OK;
  }
  call_once(&onig_once, onig_setup);
  OnigRegex re = NULL;
  OnigErrorInfo info;
  const UChar *p = (const UChar *)pattern;
  int rc = onig_new(&re, p, p + strlen(pattern), ONIG_OPTION_NONE, ONIG_ENCODING_UTF8,
                    ONIG_SYNTAX_RUBY, &info);
  if (rc != ONIG_NORMAL) {
    UChar msg[ONIG_MAX_ERROR_MESSAGE_LEN];
    onig_error_code_to_str(msg, rc, &info);
    return bertc_status_make(BERTC_STATUS_DATA, "%s: regex '%.80s': %s", what, pattern,
                             (const char *)msg);
  }
  r->regex = re;
  return BERTC_OK;
}

void tok_replace_deinit(tok_replace_t *r) {
  if (!r) return;
  free(r->literal);
  free(r->content);
  if (r->regex) onig_free((OnigRegex)r->regex);
  memset(r, 0, sizeof *r);
}

typedef struct {
  size_t start, end; /* code points */
} match_t;

typedef struct {
  match_t *v;
  size_t len, cap;
} matches_t;

static bertc_status_t push_match(matches_t *m, tok_arena_t *a, size_t start, size_t end) {
  if (m->len == m->cap) {
    size_t cap = m->cap ? m->cap * 2 : 16;
    match_t *v = tok_arena_alloc(a, cap, sizeof *v);
    if (!v) return tok_oom();
    if (m->len) memcpy(v, m->v, m->len * sizeof *v);
    m->v = v;
    m->cap = cap;
  }
  m->v[m->len++] = (match_t){start, end};
  return BERTC_OK;
}

/* str::match_indices: non-overlapping, left to right. */
static bertc_status_t literal_matches(const tok_replace_t *r, const tok_nstr_t *s,
                                      tok_arena_t *a, matches_t *out) {
  size_t m = r->literal_len;
  for (size_t i = 0; m <= s->len && i + m <= s->len;) {
    if (memcmp(s->cp + i, r->literal, m * sizeof *r->literal) == 0) {
      BERTC_RETURN_IF_ERROR(push_match(out, a, i, i + m));
      i += m;
    } else {
      i++;
    }
  }
  return BERTC_OK;
}

/* The onig crate's find_iter: an empty match right after the previous match
 * is skipped by advancing one character. */
static bertc_status_t regex_matches(const tok_replace_t *r, const tok_nstr_t *s, tok_arena_t *a,
                                    matches_t *out) {
  size_t n = s->len;
  char *text = tok_arena_alloc(a, 4 * n + 1, 1);
  size_t *cp_at = tok_arena_alloc(a, 4 * n + 1, sizeof *cp_at); /* byte -> code point */
  size_t *byte_at = tok_arena_alloc(a, n + 1, sizeof *byte_at); /* code point -> byte */
  if (!text || !cp_at || !byte_at) return tok_oom();
  size_t len = 0;
  for (size_t i = 0; i < n; i++) {
    byte_at[i] = len;
    size_t k = tok_utf8_put(s->cp[i], text + len);
    for (size_t j = 0; j < k; j++) cp_at[len + j] = i;
    len += k;
  }
  byte_at[n] = len;
  cp_at[len] = n;
  OnigRegion *region = onig_region_new();
  if (!region) return tok_oom();
  const UChar *str = (const UChar *)text, *end = str + len;
  size_t last_end = 0;
  bool have_last = false;
  size_t last_match_end = 0;
  bertc_status_t st = BERTC_OK;
  while (last_end <= len) {
    onig_region_clear(region);
    int rc = onig_search((OnigRegex)r->regex, str, end, str + last_end, end, region,
                         ONIG_OPTION_NONE);
    if (rc == ONIG_MISMATCH) break;
    if (rc < 0) {
      st = bertc_status_make(BERTC_STATUS_INTERNAL, "tokenizer: Replace regex failed (%d)", rc);
      break;
    }
    size_t ms = (size_t)region->beg[0], me = (size_t)region->end[0];
    if (ms == me && have_last && last_match_end == me) {
      if (last_end >= len) break;
      last_end = byte_at[cp_at[last_end] + 1];
      continue;
    }
    last_end = me;
    last_match_end = me;
    have_last = true;
    st = push_match(out, a, cp_at[ms], cp_at[me]);
    if (st) break;
    if (ms == me && me >= len) break;
  }
  onig_region_free(region, 1);
  return st;
}

bertc_status_t tok_norm_replace(const tok_replace_t *r, tok_nstr_t *s, tok_arena_t *a) {
  if (!s->len) return BERTC_OK;
  matches_t m = {0};
  if (r->regex)
    BERTC_RETURN_IF_ERROR(regex_matches(r, s, a, &m));
  else
    BERTC_RETURN_IF_ERROR(literal_matches(r, s, a, &m));
  if (!m.len) return BERTC_OK;
  size_t total = s->len;
  for (size_t i = 0; i < m.len; i++) total += r->content_len;
  uint32_t *cp = tok_arena_alloc(a, total, sizeof *cp);
  tok_span_t *al = tok_arena_alloc(a, total, sizeof *al);
  if (!cp || !al) return tok_oom();
  size_t k = 0, last = 0;
  int32_t origin = s->al[0].start;
  for (size_t i = 0; i < m.len; i++) {
    for (size_t j = last; j < m.v[i].start; j++) {
      cp[k] = s->cp[j];
      al[k++] = s->al[j];
    }
    size_t end = m.v[i].end;
    tok_span_t span = end > 0 ? s->al[end - 1] : (tok_span_t){origin, origin};
    for (size_t j = 0; j < r->content_len; j++) {
      cp[k] = r->content[j];
      al[k++] = span;
    }
    last = end;
  }
  for (size_t j = last; j < s->len; j++) {
    cp[k] = s->cp[j];
    al[k++] = s->al[j];
  }
  s->cp = cp;
  s->al = al;
  s->len = k;
  return BERTC_OK;
}

void tok_norm_steps_free(tok_norm_step_t *steps, size_t n) {
  for (size_t i = 0; steps && i < n; i++) {
    tok_replace_deinit(steps[i].replace);
    free(steps[i].replace);
    tok_charsmap_deinit(steps[i].charsmap);
    free(steps[i].charsmap);
  }
  free(steps);
}
