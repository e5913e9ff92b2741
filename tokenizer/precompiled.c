/* SentencePiece's compiled character map ("precompiled_charsmap") and the
 * Precompiled normalizer, as HuggingFace `tokenizers` applies them (its
 * normalizers/precompiled.rs over the spm_precompiled crate).
 *
 * Blob layout: u32le size of the trie in bytes, then that many bytes of
 * Darts double-array units (u32le each), then the replacement strings, each
 * ending with NUL. A unit holds: bits 0-7 the label, bit 8 "has a leaf", bits
 * 10-30 an offset shifted left by 8 when bit 9 is set, bit 31 for a leaf
 * unit's value. A lookup walks the trie byte by byte from unit 0; at each
 * node with a leaf, the leaf's value (bits 0-30) is the byte position of a
 * replacement string. `tokenizers` takes the first (shortest) key found.
 *
 * Normalizing: the text is cut into extended grapheme clusters; a cluster of
 * fewer than 6 bytes with a replacement is replaced whole, otherwise each of
 * its characters is replaced on its own (or kept). Every replacement becomes
 * NormalizedString::transform changes the way precompiled.rs writes them: the
 * new characters replace the old ones in order, extra new ones are
 * insertions, and missing ones are removals counted on the previous change
 * (even one from an earlier cluster), which decides the offsets.
 *
 * Hostile blobs: the parser walks every path of the trie once and refuses a
 * unit index outside the array, a value outside the strings or not at the
 * start of a character, and strings that are not UTF-8; lookups check bounds
 * again, so a map that passed cannot be read out of bounds. */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "tokenizer/internal.h"

#define UNIT_LABEL(u) ((u) & (0x80000000u | 0xFFu))
#define UNIT_HAS_LEAF(u) (((u) >> 8) & 1u)
#define UNIT_OFFSET(u) (((u) >> 10) << (((u) & (1u << 9)) >> 6))
#define UNIT_VALUE(u) ((u) & 0x7FFFFFFFu)

static bertc_status_t bad(const char *what, const char *problem) {
  return bertc_status_make(BERTC_STATUS_DATA, "%s: precompiled_charsmap: %s", what, problem);
}

void tok_charsmap_deinit(tok_charsmap_t *m) {
  if (!m) return;
  free(m->units);
  free(m->normalized);
  memset(m, 0, sizeof *m);
}

static bool valid_utf8(const char *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    utf8proc_int32_t c;
    utf8proc_ssize_t r = utf8proc_iterate((const utf8proc_uint8_t *)s + i,
                                          (utf8proc_ssize_t)(n - i > 8 ? 8 : n - i), &c);
    if (r <= 0) return false;
    i += (size_t)r;
  }
  return true;
}

/* Walks every path of the trie, each unit once, and checks that every read a
 * lookup can make stays inside the arrays. A node is a base position; its
 * child for byte c is the unit at base ^ c when that unit's label is c. */
static bertc_status_t check_trie(const tok_charsmap_t *m, const char *what) {
  size_t n = m->n_units;
  uint8_t *seen = calloc(n, 1);
  size_t *stack = malloc((n + 1) * sizeof *stack);
  if (!seen || !stack) {
    free(seen);
    free(stack);
    return tok_oom();
  }
  bertc_status_t s = BERTC_OK;
  size_t top = 0;
  stack[top++] = UNIT_OFFSET(m->units[0]);
  while (top && !s) {
    size_t base = stack[--top];
    for (unsigned c = 1; c < 256; c++) {
      size_t pos = base ^ c;
      if (pos >= n || seen[pos]) continue; /* a lookup stops at a missing child */
      uint32_t u = m->units[pos];
      if (UNIT_LABEL(u) != c) continue;
      seen[pos] = 1;
      size_t next = pos ^ UNIT_OFFSET(u);
      if (UNIT_HAS_LEAF(u)) {
        if (next >= n) {
          s = bad(what, "a trie leaf lies outside the trie");
          break;
        }
        size_t v = UNIT_VALUE(m->units[next]);
        if (v > m->n_normalized ||
            (v < m->n_normalized && ((unsigned char)m->normalized[v] & 0xC0) == 0x80)) {
          s = bad(what, "a trie value does not start a replacement string");
          break;
        }
      }
      stack[top++] = next; /* at most one push per unit: the stack holds n + 1 */
    }
  }
  free(seen);
  free(stack);
  return s;
}

bertc_status_t tok_charsmap_parse(const uint8_t *blob, size_t size, const char *what,
                                  tok_charsmap_t *out) {
  memset(out, 0, sizeof *out);
  if (size < 4) return bad(what, "shorter than its 4-byte trie size");
  size_t trie = (size_t)blob[0] | (size_t)blob[1] << 8 | (size_t)blob[2] << 16 |
                (size_t)blob[3] << 24;
  if (trie % 4 != 0) return bad(what, "the trie size is not a multiple of 4");
  if (trie == 0) return bad(what, "the trie is empty");
  if (trie > size - 4) return bad(what, "the trie size runs past the end of the blob");
  out->n_units = trie / 4;
  out->n_normalized = size - 4 - trie;
  out->units = malloc(trie);
  out->normalized = malloc(out->n_normalized + 1);
  if (!out->units || !out->normalized) {
    tok_charsmap_deinit(out);
    return tok_oom();
  }
  for (size_t i = 0; i < out->n_units; i++) {
    const uint8_t *p = blob + 4 + 4 * i;
    out->units[i] = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                    (uint32_t)p[3] << 24;
  }
  if (out->n_normalized) memcpy(out->normalized, blob + 4 + trie, out->n_normalized);
  out->normalized[out->n_normalized] = '\0';
  bertc_status_t s = valid_utf8(out->normalized, out->n_normalized)
                         ? check_trie(out, what)
                         : bad(what, "the replacement strings are not valid UTF-8");
  if (s) tok_charsmap_deinit(out);
  return s;
}

static int b64_value(unsigned char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

bertc_status_t tok_charsmap_parse_base64(const char *text, size_t len, const char *what,
                                         tok_charsmap_t *out) {
  memset(out, 0, sizeof *out);
  if (len % 4 != 0) return bad(what, "base64 text whose length is not a multiple of 4");
  uint8_t *bytes = malloc(len / 4 * 3 + 1);
  if (!bytes) return tok_oom();
  size_t k = 0;
  for (size_t i = 0; i < len; i += 4) {
    int v[4];
    size_t pad = 0;
    for (int j = 0; j < 4; j++) {
      unsigned char c = (unsigned char)text[i + (size_t)j];
      if (c == '=' && i + 4 == len && j >= 2) {
        v[j] = 0;
        pad++;
        continue;
      }
      v[j] = pad ? -1 : b64_value(c);
      if (v[j] < 0) {
        free(bytes);
        return bad(what, "invalid base64");
      }
    }
    uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
    bytes[k++] = (uint8_t)(w >> 16);
    if (pad < 2) bytes[k++] = (uint8_t)(w >> 8);
    if (pad < 1) bytes[k++] = (uint8_t)w;
  }
  bertc_status_t s = tok_charsmap_parse(bytes, k, what, out);
  free(bytes);
  return s;
}

const char *tok_charsmap_transform(const tok_charsmap_t *m, const char *s, size_t n,
                                   size_t *out_len) {
  *out_len = 0;
  if (!m->n_units) return NULL;
  size_t pos = UNIT_OFFSET(m->units[0]);
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == 0) return NULL;
    pos ^= c;
    if (pos >= m->n_units) return NULL;
    uint32_t u = m->units[pos];
    if (UNIT_LABEL(u) != c) return NULL;
    pos ^= UNIT_OFFSET(u);
    if (UNIT_HAS_LEAF(u)) {
      if (pos >= m->n_units) return NULL;
      size_t v = UNIT_VALUE(m->units[pos]);
      if (v > m->n_normalized) return NULL;
      const char *r = m->normalized + v;
      *out_len = strlen(r); /* the table ends with a NUL */
      return r;
    }
  }
  return NULL;
}

/* ---- The normalizer ------------------------------------------------------------- */

typedef struct {
  tok_change_t *v;
  size_t len, cap;
} changes_t;

static bertc_status_t push_change(changes_t *c, tok_arena_t *a, uint32_t cp, int32_t change) {
  if (c->len == c->cap) {
    size_t cap = c->cap ? c->cap * 2 : 64;
    tok_change_t *v = tok_arena_alloc(a, cap, sizeof *v);
    if (!v) return tok_oom();
    if (c->len) memcpy(v, c->v, c->len * sizeof *v);
    c->v = v;
    c->cap = cap;
  }
  c->v[c->len++] = (tok_change_t){cp, change};
  return BERTC_OK;
}

/* precompiled.rs replace(): `old_count` characters become the UTF-8 `rep`. */
static bertc_status_t replace_part(changes_t *c, tok_arena_t *a, size_t old_count,
                                   const char *rep, size_t rep_len) {
  size_t first = c->len, i = 0;
  while (i < rep_len) {
    utf8proc_int32_t cp;
    utf8proc_ssize_t r = utf8proc_iterate((const utf8proc_uint8_t *)rep + i,
                                          (utf8proc_ssize_t)(rep_len - i), &cp);
    if (r <= 0) return bertc_status_make(BERTC_STATUS_INTERNAL, "precompiled: bad replacement");
    BERTC_RETURN_IF_ERROR(push_change(c, a, (uint32_t)cp, 0));
    i += (size_t)r;
  }
  size_t new_count = c->len - first;
  if (new_count > old_count) {
    for (size_t k = 0; k < new_count - old_count; k++) c->v[c->len - 1 - k].change = 1;
  } else if (new_count < old_count && c->len) {
    c->v[c->len - 1].change -= (int32_t)(old_count - new_count);
  }
  return BERTC_OK;
}

bertc_status_t tok_norm_precompiled(const tok_charsmap_t *m, tok_nstr_t *s, tok_arena_t *a) {
  size_t n = s->len;
  if (!n) return BERTC_OK;
  changes_t ch = {0};
  bool modified = false;
  char buf[8];
  for (size_t g = 0; g < n;) {
    /* the extended grapheme cluster [g, e) */
    size_t e = g + 1;
    utf8proc_int32_t state = 0;
    while (e < n && !utf8proc_grapheme_break_stateful((utf8proc_int32_t)s->cp[e - 1],
                                                      (utf8proc_int32_t)s->cp[e], &state))
      e++;
    size_t bytes = 0;
    for (size_t i = g; i < e && bytes < 6; i++) bytes += tok_utf8_put(s->cp[i], buf);
    if (bytes < 6) {
      char gb[8];
      size_t k = 0;
      for (size_t i = g; i < e; i++) k += tok_utf8_put(s->cp[i], gb + k);
      size_t rl;
      const char *rep = tok_charsmap_transform(m, gb, k, &rl);
      if (rep) {
        modified = true;
        BERTC_RETURN_IF_ERROR(replace_part(&ch, a, e - g, rep, rl));
        g = e;
        continue;
      }
    }
    for (size_t i = g; i < e; i++) {
      size_t k = tok_utf8_put(s->cp[i], buf), rl;
      const char *rep = tok_charsmap_transform(m, buf, k, &rl);
      if (rep) {
        modified = true;
        BERTC_RETURN_IF_ERROR(replace_part(&ch, a, 1, rep, rl));
      } else {
        BERTC_RETURN_IF_ERROR(push_change(&ch, a, s->cp[i], 0));
      }
    }
    g = e;
  }
  if (!modified) return BERTC_OK;
  return tok_apply_changes(s, ch.v, ch.len, 0, a);
}
