/* Decoding: from token ids or token strings back to text, the way
 * transformers' fast tokenizers do it (PreTrainedTokenizerFast._decode):
 * Tokenizer::decode in `tokenizers` turns ids into tokens (skipping the
 * special ones on request) and runs the decoder chain over them, then
 * transformers applies clean_up_tokenization_spaces when the config asks
 * for it (not for BPE models).
 *
 * The decoder comes from tokenizer.json ("decoder": WordPiece, ByteLevel,
 * Metaspace, Replace (a string), ByteFallback, Fuse, Strip, possibly in a
 * Sequence); without tokenizer.json it is the tokenizer class's: WordPiece
 * ("##", cleanup) for vocab.txt, ByteLevel for vocab.json + merges.txt,
 * Metaspace for a SentencePiece model. Decoded text is a C string: it ends
 * at a NUL byte the decoded bytes hold. The special tokens are the ones transformers registers: the
 * configs' named and additional special tokens, added tokens flagged
 * special, and the pad and mask tokens. */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "tokenizer/internal.h"

/* ---- Growable strings ------------------------------------------------------------ */

typedef struct {
  char *p;
  size_t len, cap;
  bool failed;
} sbuf_t;

static void sb_put(sbuf_t *b, const char *s, size_t n) {
  if (b->failed) return;
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 32;
    while (cap < b->len + n + 1)
      cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
      b->failed = true;
      return;
    }
    b->p = p;
    b->cap = cap;
  }
  if (n) memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = '\0';
}

static void sb_str(sbuf_t *b, const char *s) { sb_put(b, s, strlen(s)); }

/* Hands the string to *out ("" when empty) or fails. */
static bertc_status_t sb_finish(sbuf_t *b, char **out) {
  sb_put(b, "", 0);
  if (b->failed) {
    free(b->p);
    *out = NULL;
    return tok_oom();
  }
  *out = b->p;
  return BERTC_OK;
}

/* Replaces every occurrence of `from` by `to`, left to right (str.replace). */
static bertc_status_t str_replace_all(char **s, const char *from, const char *to) {
  if (!strstr(*s, from)) return BERTC_OK;
  sbuf_t b = {0};
  size_t fl = strlen(from);
  const char *p = *s, *q;
  while ((q = strstr(p, from))) {
    sb_put(&b, p, (size_t)(q - p));
    sb_str(&b, to);
    p = q + fl;
  }
  sb_str(&b, p);
  char *r;
  BERTC_RETURN_IF_ERROR(sb_finish(&b, &r));
  free(*s);
  *s = r;
  return BERTC_OK;
}

/* ---- Loading ---------------------------------------------------------------------- */

/* Inserts id into a sorted set. */
static bertc_status_t id_set_add(int32_t **set, size_t *n, int32_t id) {
  if (id < 0) return BERTC_OK;
  for (size_t i = 0; i < *n; i++)
    if ((*set)[i] == id) return BERTC_OK;
  int32_t *p = realloc(*set, (*n + 1) * sizeof *p);
  if (!p) return tok_oom();
  *set = p;
  size_t i = (*n)++;
  while (i > 0 && p[i - 1] > id) {
    p[i] = p[i - 1];
    i--;
  }
  p[i] = id;
  return BERTC_OK;
}

static bool id_set_has(const int32_t *set, size_t n, int32_t id) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (set[mid] == id) return true;
    if (set[mid] < id)
      lo = mid + 1;
    else
      hi = mid;
  }
  return false;
}

static bertc_status_t add_special(tok_decoder_t *d, int32_t id) {
  return id_set_add(&d->special, &d->num_special, id);
}

static bertc_status_t parse_decoder(tok_decoder_t *d, const json_t *dec) {
  if (!dec || json_is_null(dec)) return BERTC_OK;
  const char *type = json_string_value(json_object_get(dec, "type"));
  if (!type) return bertc_status_make(BERTC_STATUS_DATA, "tokenizer.json: decoder has no type");
  d->has_decoder = true;
  if (!strcmp(type, "Sequence")) {
    json_t *list = json_object_get(dec, "decoders");
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v) BERTC_RETURN_IF_ERROR(parse_decoder(d, v));
    return BERTC_OK;
  }
  tok_dec_step_t st;
  memset(&st, 0, sizeof st);
  if (!strcmp(type, "WordPiece")) {
    st.kind = TOK_DEC_WORDPIECE;
    const char *p = json_string_value(json_object_get(dec, "prefix"));
    snprintf(st.prefix, sizeof st.prefix, "%s", p ? p : "##");
    json_t *c = json_object_get(dec, "cleanup");
    st.cleanup = json_is_boolean(c) ? json_is_true(c) : true;
  } else if (!strcmp(type, "ByteLevel")) {
    st.kind = TOK_DEC_BYTELEVEL;
  } else if (!strcmp(type, "Replace")) {
    const char *pat = json_string_value(json_object_get(json_object_get(dec, "pattern"), "String"));
    const char *content = json_string_value(json_object_get(dec, "content"));
    if (!pat || !content || !*pat || strlen(pat) >= sizeof st.prefix ||
        strlen(content) >= sizeof st.content) {
      snprintf(d->unsupported, sizeof d->unsupported, "Replace (other than a short string)");
      return BERTC_OK;
    }
    st.kind = TOK_DEC_REPLACE;
    snprintf(st.prefix, sizeof st.prefix, "%s", pat);
    snprintf(st.content, sizeof st.content, "%s", content);
  } else if (!strcmp(type, "ByteFallback")) {
    st.kind = TOK_DEC_BYTE_FALLBACK;
  } else if (!strcmp(type, "Fuse")) {
    st.kind = TOK_DEC_FUSE;
  } else if (!strcmp(type, "Strip")) {
    const char *c = json_string_value(json_object_get(dec, "content"));
    json_t *a = json_object_get(dec, "start"), *z = json_object_get(dec, "stop");
    uint32_t cp[2];
    size_t ncp = 0;
    if (!c || strlen(c) > 4 || tok_utf8_decode(c, strlen(c), "decoder", cp, &ncp) || ncp != 1 ||
        !json_is_integer(a) || !json_is_integer(z) || json_integer_value(a) < 0 ||
        json_integer_value(z) < 0)
      return bertc_status_make(BERTC_STATUS_DATA,
                               "tokenizer.json: decoder Strip needs one content character and "
                               "non-negative start and stop");
    st.kind = TOK_DEC_STRIP;
    st.strip_char = cp[0];
    st.strip_start = (size_t)json_integer_value(a);
    st.strip_stop = (size_t)json_integer_value(z);
  } else if (!strcmp(type, "Metaspace")) {
    st.kind = TOK_DEC_METASPACE;
    bool split;
    BERTC_RETURN_IF_ERROR(tok_metaspace_options(dec, "tokenizer.json: decoder Metaspace",
                                                &st.replacement, &st.prepend, &split));
  } else {
    snprintf(d->unsupported, sizeof d->unsupported, "%s", type);
    return BERTC_OK;
  }
  if (d->num_steps == TOK_MAX_DEC_STEPS) {
    snprintf(d->unsupported, sizeof d->unsupported, "Sequence of more than %d", TOK_MAX_DEC_STEPS);
    return BERTC_OK;
  }
  d->steps[d->num_steps++] = st;
  return BERTC_OK;
}

static bertc_status_t decoder_load(tok_tokenizer_t *t, const tok_docs_t *docs, bool legacy_bpe) {
  tok_decoder_t *d = &t->decoder;
  const json_t *cfg = docs->config, *stm = docs->stmap, *tj = docs->tj;
  bool model_bpe = t->model.kind == TOK_MODEL_BPE;
  const char *unk = tok_special_name(docs, "unk_token", NULL);
  if (tj) {
    if (!unk) unk = json_string_value(json_object_get(json_object_get(tj, "model"), "unk_token"));
    BERTC_RETURN_IF_ERROR(parse_decoder(d, json_object_get(tj, "decoder")));
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(tj, "added_tokens"), i, v) {
      json_t *id = json_object_get(v, "id");
      if (json_is_number(id) && json_is_true(json_object_get(v, "special")))
        BERTC_RETURN_IF_ERROR(add_special(d, (int32_t)json_number_value(id)));
    }
  } else if (legacy_bpe) {
    d->has_decoder = true;
    d->steps[d->num_steps++] = (tok_dec_step_t){.kind = TOK_DEC_BYTELEVEL};
  } else if (t->model.kind == TOK_MODEL_UNIGRAM) {
    d->has_decoder = true;
    d->steps[d->num_steps++] = (tok_dec_step_t){
        .kind = TOK_DEC_METASPACE, .replacement = t->ms_replacement, .prepend = t->ms_prepend};
  } else {
    d->has_decoder = true;
    d->steps[d->num_steps++] =
        (tok_dec_step_t){.kind = TOK_DEC_WORDPIECE, .prefix = "##", .cleanup = true};
  }
  /* Special tokens named by the configs (what transformers registers). */
  static const char *const keys[] = {"unk_token",  "sep_token", "pad_token", "cls_token",
                                     "mask_token", "bos_token", "eos_token"};
  for (size_t i = 0; i < BASE_ARRAY_LEN(keys); i++) {
    const char *n = tok_special_name(docs, keys[i], NULL);
    if (n) BERTC_RETURN_IF_ERROR(add_special(d, tok_token_id(t, n)));
  }
  const json_t *lists[2] = {stm, cfg};
  for (int k = 0; k < 2; k++) {
    size_t i;
    json_t *v;
    json_array_foreach(lists[k] ? json_object_get(lists[k], "additional_special_tokens") : NULL, i,
                       v) {
      const char *n = tok_json_token_name(v);
      if (n) BERTC_RETURN_IF_ERROR(add_special(d, tok_token_id(t, n)));
    }
  }
  const char *key;
  json_t *v;
  json_object_foreach(cfg ? json_object_get(cfg, "added_tokens_decoder") : NULL, key, v) {
    if (json_is_true(json_object_get(v, "special")))
      BERTC_RETURN_IF_ERROR(add_special(d, (int32_t)strtol(key, NULL, 10)));
  }
  if (!tj && !cfg && !stm) { /* the tokenizer classes' defaults */
    static const char *const wp[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
    static const char *const bpe[] = {"<s>", "<pad>", "</s>", "<unk>", "<mask>"};
    static const char *const albert[] = {"<pad>", "<unk>", "[CLS]", "[SEP]", "[MASK]"};
    bool unigram = t->model.kind == TOK_MODEL_UNIGRAM;
    bool spiece = unigram && tok_token_id(t, "[CLS]") >= 0;
    for (size_t i = 0; i < BASE_ARRAY_LEN(wp); i++)
      BERTC_RETURN_IF_ERROR(add_special(
          d, tok_token_id(t, spiece ? albert[i] : legacy_bpe || unigram ? bpe[i] : wp[i])));
  }
  BERTC_RETURN_IF_ERROR(add_special(d, t->pad_id));
  BERTC_RETURN_IF_ERROR(add_special(d, t->mask_id));
  json_t *cu = cfg ? json_object_get(cfg, "clean_up_tokenization_spaces") : NULL;
  d->clean_up_spaces = json_is_true(cu);
  bool angle = model_bpe || t->model.kind == TOK_MODEL_UNIGRAM; /* <unk>, <s> */
  d->unk_id = unk ? tok_token_id(t, unk) : -1;
  if (d->unk_id < 0) d->unk_id = tok_token_id(t, angle ? "<unk>" : "[UNK]");
  const char *cls = tok_special_name(docs, "cls_token", NULL);
  d->cls_id = cls ? tok_token_id(t, cls) : -1;
  if (d->cls_id < 0 && !cls) d->cls_id = tok_token_id(t, angle ? "<s>" : "[CLS]");
  if (d->cls_id < 0 && !cls && angle) d->cls_id = tok_token_id(t, "[CLS]");
  return BERTC_OK;
}

bertc_status_t tok_decoder_load(tok_tokenizer_t *t, const tok_docs_t *d, bool legacy_bpe) {
  return bertc_status_annotate(decoder_load(t, d, legacy_bpe), "reading the tokenizer's decoder");
}

void tok_decoder_deinit(tok_decoder_t *d) {
  free(d->special);
  memset(d, 0, sizeof *d);
}

/* ---- Decoding --------------------------------------------------------------------- */

/* Rust String::from_utf8_lossy: each maximal invalid subpart becomes U+FFFD. */
static void put_lossy_utf8(sbuf_t *b, const uint8_t *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    uint8_t c = s[i];
    if (c < 0x80) {
      sb_put(b, (const char *)s + i, 1);
      i++;
      continue;
    }
    size_t need = 0;
    uint8_t lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF)
      need = 1;
    else if (c == 0xE0)
      need = 2, lo = 0xA0;
    else if (c >= 0xE1 && c <= 0xEC)
      need = 2;
    else if (c == 0xED)
      need = 2, hi = 0x9F;
    else if (c >= 0xEE && c <= 0xEF)
      need = 2;
    else if (c == 0xF0)
      need = 3, lo = 0x90;
    else if (c >= 0xF1 && c <= 0xF3)
      need = 3;
    else if (c == 0xF4)
      need = 3, hi = 0x8F;
    size_t k = 1;
    while (need && k <= need && i + k < n) {
      uint8_t x = s[i + k];
      if (x < (k == 1 ? lo : 0x80) || x > (k == 1 ? hi : 0xBF)) break;
      k++;
    }
    if (need && k == need + 1)
      sb_put(b, (const char *)s + i, k);
    else
      sb_str(b, "\xEF\xBF\xBD");
    i += k;
  }
}

/* The WordPiece decoder's cleanup, or transformers' clean_up_tokenization
 * (which leaves " do not" alone). */
static bertc_status_t wordpiece_cleanup(char **s, bool transformers) {
  static const char *const pairs[][2] = {
      {" .", "."},   {" ?", "?"},     {" !", "!"},     {" ,", ","},
      {" ' ", "'"},  {" n't", "n't"}, {" 'm", "'m"},   {" do not", " don't"},
      {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"},
  };
  for (size_t i = 0; i < BASE_ARRAY_LEN(pairs); i++) {
    if (transformers && !strcmp(pairs[i][0], " do not")) continue;
    BERTC_RETURN_IF_ERROR(str_replace_all(s, pairs[i][0], pairs[i][1]));
  }
  return BERTC_OK;
}

static void free_strings(char **v, size_t n) {
  for (size_t i = 0; v && i < n; i++)
    free(v[i]);
  free(v);
}

/* The WordPiece decoder over cur[0, m): continuation pieces lose their
 * prefix, other pieces but the first get a space. */
static bertc_status_t decode_wordpiece(const tok_dec_step_t *st, char **cur, size_t m) {
  size_t pl = strlen(st->prefix);
  for (size_t i = 0; i < m; i++) {
    if (i != 0) {
      sbuf_t t = {0};
      if (pl && !strncmp(cur[i], st->prefix, pl)) {
        sb_str(&t, cur[i] + pl);
      } else {
        sb_str(&t, " ");
        sb_str(&t, cur[i]);
      }
      char *r;
      BERTC_RETURN_IF_ERROR(sb_finish(&t, &r));
      free(cur[i]);
      cur[i] = r;
    }
    if (st->cleanup) BERTC_RETURN_IF_ERROR(wordpiece_cleanup(&cur[i], false));
  }
  return BERTC_OK;
}

/* The ByteLevel decoder: every token's characters back to bytes (a token
 * with a character outside the byte map stays as it is), then the bytes of
 * all tokens as lossy UTF-8, one string. */
static bertc_status_t decode_bytelevel(char *const *cur, size_t m, char **out) {
  sbuf_t bytes = {0};
  for (size_t i = 0; i < m; i++) {
    sbuf_t tb = {0};
    bool all = true;
    const uint8_t *p = (const uint8_t *)cur[i];
    size_t len = strlen(cur[i]), j = 0;
    while (j < len) {
      utf8proc_int32_t c;
      utf8proc_ssize_t q = utf8proc_iterate(p + j, (utf8proc_ssize_t)(len - j), &c);
      int byte = q > 0 ? tok_char_byte((uint32_t)c) : -1;
      if (byte < 0) {
        all = false;
        break;
      }
      char ch = (char)byte;
      sb_put(&tb, &ch, 1);
      j += (size_t)q;
    }
    if (all)
      sb_put(&bytes, tb.p ? tb.p : "", tb.len);
    else
      sb_put(&bytes, cur[i], len);
    free(tb.p);
    if (tb.failed) bytes.failed = true;
  }
  sbuf_t text = {0};
  put_lossy_utf8(&text, (const uint8_t *)(bytes.p ? bytes.p : ""), bytes.len);
  if (bytes.failed) text.failed = true;
  free(bytes.p);
  return sb_finish(&text, out);
}

/* The Metaspace decoder over cur[0, m): the replacement character becomes a
 * space, except in the first token (every one of them there) unless the
 * prepend scheme is "never". */
static bertc_status_t decode_metaspace(const tok_dec_step_t *st, char **cur, size_t m) {
  char rep[8];
  size_t rl = tok_utf8_put(st->replacement, rep);
  rep[rl] = '\0';
  for (size_t i = 0; i < m; i++) {
    const char *to = i == 0 && st->prepend != TOK_PREPEND_NEVER ? "" : " ";
    BERTC_RETURN_IF_ERROR(str_replace_all(&cur[i], rep, to));
  }
  return BERTC_OK;
}

/* The ByteFallback decoder: a run of "<0xNN>" tokens becomes its bytes as
 * one token when they are UTF-8, else one U+FFFD per byte token. Returns the
 * new token count; *cur may be replaced. */
static int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* u8::from_str_radix(token[3..5], 16) of a 6-byte "<0x..>" token, or -1. */
static int byte_token(const char *t) {
  if (strlen(t) != 6 || strncmp(t, "<0x", 3) || t[5] != '>') return -1;
  int hi = hex_digit(t[3]), lo = hex_digit(t[4]);
  if (t[3] == '+' && lo >= 0) return lo; /* Rust's from_str_radix takes a sign */
  return hi >= 0 && lo >= 0 ? hi * 16 + lo : -1;
}

/* String::from_utf8 succeeds. */
static bool utf8_valid(const uint8_t *s, size_t n) {
  for (size_t i = 0; i < n;) {
    utf8proc_int32_t c;
    utf8proc_ssize_t r = utf8proc_iterate(s + i, (utf8proc_ssize_t)(n - i), &c);
    if (r <= 0) return false;
    i += (size_t)r;
  }
  return true;
}

static bertc_status_t flush_bytes(char **out, size_t *m, uint8_t *bytes, size_t *nb,
                                  bool *ended) {
  if (!*nb) return BERTC_OK;
  if (utf8_valid(bytes, *nb)) {
    /* decoded text is a C string: it ends at a NUL byte, as ByteLevel's does */
    *ended = memchr(bytes, 0, *nb) != NULL;
    char *s = malloc(*nb + 1);
    if (!s) return tok_oom();
    memcpy(s, bytes, *nb);
    s[*nb] = '\0';
    out[(*m)++] = s;
  } else {
    for (size_t i = 0; i < *nb; i++)
      BERTC_RETURN_IF_ERROR(base_strdup("\xEF\xBF\xBD", &out[(*m)++]));
  }
  *nb = 0;
  return BERTC_OK;
}

static bertc_status_t decode_byte_fallback(char **cur, size_t *m) {
  size_t n = *m, k = 0, nb = 0;
  bool ended = false;
  uint8_t *bytes = malloc(n ? n : 1);
  if (!bytes) return tok_oom();
  bertc_status_t s = BERTC_OK;
  for (size_t i = 0; i < n; i++) {
    if (ended) {
      free(cur[i]);
      cur[i] = NULL;
      continue;
    }
    int b = byte_token(cur[i]);
    if (b >= 0) {
      bytes[nb++] = (uint8_t)b;
      free(cur[i]);
      cur[i] = NULL;
      continue;
    }
    /* the nb byte tokens before i left exactly nb free slots at [k, i) */
    s = flush_bytes(cur, &k, bytes, &nb, &ended);
    if (s) break;
    if (ended) {
      free(cur[i]);
      cur[i] = NULL;
      continue;
    }
    char *t = cur[i];
    cur[i] = NULL;
    cur[k++] = t;
  }
  if (!s) s = flush_bytes(cur, &k, bytes, &nb, &ended);
  free(bytes);
  *m = s ? n : k; /* on failure every slot is a distinct string or NULL */
  return s;
}

/* The Strip decoder: up to `start` leading and `stop` trailing characters
 * equal to the content character off each token. */
static bertc_status_t decode_strip(const tok_dec_step_t *st, char **cur, size_t m) {
  char c[8];
  size_t cl = tok_utf8_put(st->strip_char, c);
  for (size_t i = 0; i < m; i++) {
    char *t = cur[i];
    size_t len = strlen(t), a = 0, z = len;
    for (size_t j = 0; j < st->strip_start && z - a >= cl && !memcmp(t + a, c, cl); j++) a += cl;
    for (size_t j = 0; j < st->strip_stop && z - a >= cl && !memcmp(t + z - cl, c, cl); j++)
      z -= cl;
    memmove(t, t + a, z - a);
    t[z - a] = '\0';
  }
  return BERTC_OK;
}

/* Decoder::decode: the chain of decoders over the token list, joined. */
static bertc_status_t decode_tokens(const tok_decoder_t *d, const char *const *tokens, size_t n,
                                    char **out) {
  *out = NULL;
  if (d->unsupported[0])
    return bertc_status_make(BERTC_STATUS_UNSUPPORTED,
                             "tokenizer.json: decoder '%s' is not supported; bertc decodes "
                             "WordPiece, ByteLevel, Metaspace, Replace, ByteFallback, Fuse "
                             "and Strip",
                             d->unsupported);
  sbuf_t b = {0};
  if (!d->has_decoder) {
    for (size_t i = 0; i < n; i++) {
      if (i) sb_str(&b, " ");
      sb_str(&b, tokens[i]);
    }
    return sb_finish(&b, out);
  }
  size_t m = n;
  char **cur = calloc(n ? n : 1, sizeof *cur);
  if (!cur) return tok_oom();
  bertc_status_t s = BERTC_OK;
  for (size_t i = 0; !s && i < n; i++)
    s = base_strdup(tokens[i], &cur[i]);
  for (int k = 0; !s && k < d->num_steps; k++) {
    if (d->steps[k].kind == TOK_DEC_WORDPIECE) {
      s = decode_wordpiece(&d->steps[k], cur, m);
      continue;
    }
    if (d->steps[k].kind == TOK_DEC_METASPACE) {
      s = decode_metaspace(&d->steps[k], cur, m);
      continue;
    }
    if (d->steps[k].kind == TOK_DEC_REPLACE) {
      for (size_t i = 0; !s && i < m; i++)
        s = str_replace_all(&cur[i], d->steps[k].prefix, d->steps[k].content);
      continue;
    }
    if (d->steps[k].kind == TOK_DEC_BYTE_FALLBACK) {
      s = decode_byte_fallback(cur, &m);
      continue;
    }
    if (d->steps[k].kind == TOK_DEC_STRIP) {
      s = decode_strip(&d->steps[k], cur, m);
      continue;
    }
    char *joined = NULL;
    if (d->steps[k].kind == TOK_DEC_FUSE) {
      sbuf_t f = {0};
      for (size_t i = 0; i < m; i++) sb_str(&f, cur[i]);
      s = sb_finish(&f, &joined);
    } else {
      s = decode_bytelevel(cur, m, &joined);
    }
    if (s) break;
    free_strings(cur, m);
    m = 1;
    cur = calloc(1, sizeof *cur);
    if (!cur) {
      free(joined);
      return tok_oom();
    }
    cur[0] = joined;
  }
  for (size_t i = 0; !s && i < m; i++)
    sb_str(&b, cur[i]);
  free_strings(cur, m);
  if (s) {
    free(b.p);
    return s;
  }
  return sb_finish(&b, out);
}

bertc_status_t tok_tokens_to_string(const tok_tokenizer_t *t, const char *const *tokens, size_t n,
                                    char **out) {
  return decode_tokens(&t->decoder, tokens, n, out);
}

bertc_status_t tok_decode(const tok_tokenizer_t *t, const int32_t *ids, size_t n,
                          bool skip_special_tokens, char **out) {
  *out = NULL;
  const char **toks = malloc((n ? n : 1) * sizeof *toks);
  if (!toks) return tok_oom();
  size_t m = 0;
  for (size_t i = 0; i < n; i++) {
    if (skip_special_tokens && tok_is_special(t, ids[i])) continue;
    const char *s = tok_id_to_token(t, ids[i]);
    if (s) toks[m++] = s;
  }
  bertc_status_t s = decode_tokens(&t->decoder, toks, m, out);
  free(toks);
  if (!s && t->decoder.clean_up_spaces && t->model.kind != TOK_MODEL_BPE)
    s = wordpiece_cleanup(out, true);
  if (s) {
    free(*out);
    *out = NULL;
  }
  return s;
}

bool tok_is_special(const tok_tokenizer_t *t, int32_t id) {
  return id_set_has(t->decoder.special, t->decoder.num_special, id);
}

int32_t tok_unk_id(const tok_tokenizer_t *t) { return t->decoder.unk_id; }
int32_t tok_cls_id(const tok_tokenizer_t *t) { return t->decoder.cls_id; }

const char *tok_subword_prefix(const tok_tokenizer_t *t) {
  return t->model.continuing_prefix ? t->model.continuing_prefix : "";
}
