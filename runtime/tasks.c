/* Task post-processing with the rules of the HuggingFace pipelines.
 *
 * The pipelines are the specification; each function below follows one of
 * them step by step (transformers' pipelines/fill_mask.py,
 * text_classification.py, token_classification.py and the 4.x
 * question_answering.py), in the same order, so that ties, filters and
 * merges come out the same:
 *
 *   fill-mask      softmax over the vocabulary at each mask, top-k, the
 *                  candidate decoded alone (token_str) and in the sentence
 *                  (sequence: pad tokens dropped, special tokens skipped only
 *                  when there is a single mask).
 *   classification softmax, sigmoid or identity (from problem_type and the
 *                  label count), labels sorted by descending score.
 *   tokens         softmax per token; special tokens dropped; a token is a
 *                  subword when its text is shorter than its string (WordPiece,
 *                  "##") or, for tokenizers without a subword prefix, when no
 *                  space surrounds its start; UNK tokens take their text.
 *                  first/average/max first merge subwords into words, then
 *                  every strategy but none groups B-/I- tags; "O" is dropped.
 *   QA             the context is cut into windows (question + context part
 *                  + specials, at most max_seq_len tokens, doc_stride overlap,
 *                  as `tokenizers` truncates with overflow); per window the
 *                  logits outside the context (but the CLS token) are set to
 *                  -10000, softmaxed, CLS's probability zeroed, spans s <= e <
 *                  s + max_answer_len scored start[s] * end[e]; the best
 *                  2*top_k+10 spans per window are widened to whole words,
 *                  answers with the same (lowercased) text add their scores,
 *                  and the top_k highest survive.
 *
 * Turning tokens back into text needs the tokenizer's decoder, which the
 * tokenizer itself does not keep: rt_decoder_t reads it from the same files
 * (tokenizer.json "decoder"; WordPiece or ByteLevel, possibly in a Sequence)
 * and applies it the way `tokenizers` does (Tokenizer::decode = ids -> tokens,
 * special ones skipped on request, then the decoder chain), followed by
 * transformers' clean_up_tokenization_spaces when the config asks for it. */
#include "runtime/tasks.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "base/base.h"

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
    return base_oom();
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

/* ---- Code points -------------------------------------------------------------------- */

/* A text as code points, with the byte offset of each (and one past the end),
 * so that code point spans slice the original UTF-8. */
typedef struct {
  uint32_t *cp;
  size_t *byte;
  size_t n;
  const char *text;
} cptext_t;

static bertc_status_t cptext_init(const char *text, size_t len, cptext_t *t) {
  memset(t, 0, sizeof *t);
  t->text = text ? text : "";
  t->cp = malloc((len + 1) * sizeof *t->cp);
  t->byte = malloc((len + 1) * sizeof *t->byte);
  if (!t->cp || !t->byte) {
    free(t->cp);
    free(t->byte);
    return base_oom();
  }
  size_t i = 0;
  while (i < len) {
    utf8proc_int32_t c;
    utf8proc_ssize_t k =
        utf8proc_iterate((const utf8proc_uint8_t *)t->text + i, (utf8proc_ssize_t)(len - i), &c);
    if (k <= 0) {
      free(t->cp);
      free(t->byte);
      return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT, "text is not valid UTF-8 at byte %zu",
                               i);
    }
    t->byte[t->n] = i;
    t->cp[t->n++] = (uint32_t)c;
    i += (size_t)k;
  }
  t->byte[t->n] = len;
  return BERTC_OK;
}

static void cptext_deinit(cptext_t *t) {
  free(t->cp);
  free(t->byte);
}

static int32_t clamp_cp(const cptext_t *t, int32_t i) {
  return i < 0 ? 0 : (size_t)i > t->n ? (int32_t)t->n : i;
}

/* The UTF-8 of code points [a, b) (Python's text[a:b]). */
static bertc_status_t cptext_slice(const cptext_t *t, int32_t a, int32_t b, char **out) {
  a = clamp_cp(t, a);
  b = clamp_cp(t, b);
  if (b < a) b = a;
  size_t from = t->byte[a], n = t->byte[b] - from;
  char *s = malloc(n + 1);
  if (!s) return base_oom();
  memcpy(s, t->text + from, n);
  s[n] = '\0';
  *out = s;
  return BERTC_OK;
}

static size_t utf8_count(const char *s) {
  size_t n = 0;
  for (; *s; s++)
    n += ((unsigned char)*s & 0xC0) != 0x80;
  return n;
}

/* Rust char::is_whitespace / Python str.isspace for the characters that matter
 * here (White_Space). */
static bool is_white(uint32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
         c == 0x3000;
}

/* ---- Task names and model facts ------------------------------------------------- */

void rt_task_model_deinit(rt_task_model_t *m) {
  if (!m) return;
  for (int32_t i = 0; i < m->num_labels && m->labels; i++)
    free(m->labels[i]);
  free(m->labels);
  memset(m, 0, sizeof *m);
}

bertc_status_t rt_task_model_from_metadata(const json_t *meta, rt_task_model_t *out) {
  memset(out, 0, sizeof *out);
  if (!json_is_object(meta))
    return bertc_status_make(BERTC_STATUS_DATA, "model metadata is not a JSON object");
  const char *task = json_string_value(json_object_get(meta, "task"));
  if (!task || !bertc_task_from_name(task, &out->task) || out->task == BERTC_TASK_AUTO)
    return bertc_status_make(BERTC_STATUS_DATA, "model metadata: unknown task '%s'",
                             task ? task : "(missing)");
  const char *pt = json_string_value(json_object_get(meta, "problem_type"));
  snprintf(out->problem_type, sizeof out->problem_type, "%s", pt ? pt : "");
  json_t *max = json_object_get(meta, "max_seq_length");
  out->max_seq_length = json_is_number(max) ? (int64_t)json_number_value(max) : 0;
  json_t *labels = json_object_get(meta, "labels");
  size_t n = json_is_array(labels) ? json_array_size(labels) : 0;
  if (n > 1000000) return bertc_status_make(BERTC_STATUS_DATA, "model metadata: too many labels");
  if (n) {
    out->labels = calloc(n, sizeof *out->labels);
    if (!out->labels) return base_oom();
    out->num_labels = (int32_t)n;
    for (size_t i = 0; i < n; i++) {
      const char *l = json_string_value(json_array_get(labels, i));
      char buf[32];
      if (!l) {
        snprintf(buf, sizeof buf, "LABEL_%zu", i);
        l = buf;
      }
      bertc_status_t s = base_strdup(l, &out->labels[i]);
      if (s) {
        rt_task_model_deinit(out);
        return s;
      }
    }
  }
  return BERTC_OK;
}

/* ---- Decoder ---------------------------------------------------------------------- */

typedef enum { DEC_WORDPIECE, DEC_BYTELEVEL } dec_kind_t;

typedef struct {
  dec_kind_t kind;
  char prefix[16]; /* WordPiece */
  bool cleanup;    /* WordPiece */
} dec_step_t;

#define MAX_DEC_STEPS 4

struct rt_decoder {
  const tok_tokenizer_t *tok;
  bool has_decoder;     /* false: tokens joined with spaces */
  char unsupported[48]; /* a decoder type we cannot apply, "" if none */
  dec_step_t steps[MAX_DEC_STEPS];
  int num_steps;
  bool model_bpe;          /* transformers skips its space clean-up for BPE models */
  bool clean_up_spaces;    /* tokenizer_config clean_up_tokenization_spaces */
  bool has_subword_prefix; /* the model's continuing_subword_prefix is non-empty */
  char subword_prefix[16];
  int32_t *special; /* sorted ids of special tokens */
  size_t num_special;
  int32_t *added; /* sorted ids of every added token (tokenizer.json) */
  size_t num_added;
  int32_t unk_id, cls_id;
};

/* One named file of a packed tokenizer blob (tok_pack_dir's format). */
static bool blob_file(const uint8_t *blob, size_t size, const char *name, const char **data,
                      size_t *len) {
  size_t k = 0;
  while (k < size) {
    const uint8_t *nul = memchr(blob + k, 0, size - k);
    if (!nul) return false;
    const char *n = (const char *)blob + k;
    k = (size_t)(nul - blob) + 1;
    if (!*n || size - k < 8) return false;
    uint64_t l = 0;
    for (int i = 0; i < 8; i++)
      l |= (uint64_t)blob[k + i] << (8 * i);
    k += 8;
    if (l > size - k) return false;
    if (!strcmp(n, name)) {
      *data = (const char *)blob + k;
      *len = (size_t)l;
      return true;
    }
    k += (size_t)l;
  }
  return false;
}

static bertc_status_t blob_json(const uint8_t *blob, size_t size, const char *name, json_t **out) {
  *out = NULL;
  const char *data;
  size_t len;
  if (!blob_file(blob, size, name, &data, &len)) return BERTC_OK;
  json_error_t err;
  *out = json_loadb(data, len, JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, &err);
  if (!*out)
    return bertc_status_make(BERTC_STATUS_DATA, "%s: invalid JSON at line %d column %d: %s", name,
                             err.line, err.column, err.text);
  return BERTC_OK;
}

/* A special token's name in tokenizer_config / special_tokens_map: "x" or {"content": "x"}. */
static const char *token_name(const json_t *v) {
  if (json_is_string(v)) return json_string_value(v);
  if (json_is_object(v)) return json_string_value(json_object_get(v, "content"));
  return NULL;
}

static const char *config_token(const json_t *stm, const json_t *cfg, const char *key) {
  const char *n = stm ? token_name(json_object_get(stm, key)) : NULL;
  return n ? n : cfg ? token_name(json_object_get(cfg, key)) : NULL;
}

/* Inserts id into a sorted set. */
static bertc_status_t id_set_add(int32_t **set, size_t *n, int32_t id) {
  if (id < 0) return BERTC_OK;
  for (size_t i = 0; i < *n; i++)
    if ((*set)[i] == id) return BERTC_OK;
  int32_t *p = realloc(*set, (*n + 1) * sizeof *p);
  if (!p) return base_oom();
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

static bertc_status_t add_special(rt_decoder_t *d, int32_t id) {
  BERTC_RETURN_IF_ERROR(id_set_add(&d->added, &d->num_added, id));
  return id_set_add(&d->special, &d->num_special, id);
}

static bool is_special(const rt_decoder_t *d, int32_t id) {
  return id_set_has(d->special, d->num_special, id);
}

static bertc_status_t parse_decoder(rt_decoder_t *d, const json_t *dec) {
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
  dec_step_t st;
  memset(&st, 0, sizeof st);
  if (!strcmp(type, "WordPiece")) {
    st.kind = DEC_WORDPIECE;
    const char *p = json_string_value(json_object_get(dec, "prefix"));
    snprintf(st.prefix, sizeof st.prefix, "%s", p ? p : "##");
    json_t *c = json_object_get(dec, "cleanup");
    st.cleanup = json_is_boolean(c) ? json_is_true(c) : true;
  } else if (!strcmp(type, "ByteLevel")) {
    st.kind = DEC_BYTELEVEL;
  } else {
    snprintf(d->unsupported, sizeof d->unsupported, "%s", type);
    return BERTC_OK;
  }
  if (d->num_steps == MAX_DEC_STEPS) {
    snprintf(d->unsupported, sizeof d->unsupported, "Sequence of more than %d", MAX_DEC_STEPS);
    return BERTC_OK;
  }
  d->steps[d->num_steps++] = st;
  return BERTC_OK;
}

static bertc_status_t decoder_build(rt_decoder_t *d, const json_t *tj, const json_t *cfg,
                                    const json_t *stm, bool legacy_bpe) {
  const tok_tokenizer_t *t = d->tok;
  const char *unk = config_token(stm, cfg, "unk_token");
  if (tj) {
    json_t *model = json_object_get(tj, "model");
    const char *type = json_string_value(json_object_get(model, "type"));
    if (!type) type = json_object_get(model, "merges") ? "BPE" : "WordPiece";
    d->model_bpe = !strcmp(type, "BPE");
    json_t *prefix = json_object_get(model, "continuing_subword_prefix");
    const char *p = json_is_string(prefix)       ? json_string_value(prefix)
                    : !strcmp(type, "WordPiece") ? "##"
                                                 : "";
    snprintf(d->subword_prefix, sizeof d->subword_prefix, "%s", p);
    if (!unk) unk = json_string_value(json_object_get(model, "unk_token"));
    BERTC_RETURN_IF_ERROR(parse_decoder(d, json_object_get(tj, "decoder")));
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(tj, "added_tokens"), i, v) {
      json_t *id = json_object_get(v, "id");
      if (!json_is_number(id)) continue;
      if (json_is_true(json_object_get(v, "special")))
        BERTC_RETURN_IF_ERROR(add_special(d, (int32_t)json_number_value(id)));
      else
        BERTC_RETURN_IF_ERROR(id_set_add(&d->added, &d->num_added, (int32_t)json_number_value(id)));
    }
  } else if (legacy_bpe) {
    d->model_bpe = true;
    d->has_decoder = true;
    d->steps[d->num_steps++] = (dec_step_t){.kind = DEC_BYTELEVEL};
  } else {
    snprintf(d->subword_prefix, sizeof d->subword_prefix, "##");
    d->has_decoder = true;
    d->steps[d->num_steps++] = (dec_step_t){.kind = DEC_WORDPIECE, .prefix = "##", .cleanup = true};
  }
  d->has_subword_prefix = d->subword_prefix[0] != '\0';
  /* Special tokens named by the configs (what transformers registers). */
  static const char *const keys[] = {"unk_token",  "sep_token", "pad_token", "cls_token",
                                     "mask_token", "bos_token", "eos_token"};
  for (size_t i = 0; i < BASE_ARRAY_LEN(keys); i++) {
    const char *n = config_token(stm, cfg, keys[i]);
    if (n) BERTC_RETURN_IF_ERROR(add_special(d, tok_token_id(t, n)));
  }
  const json_t *docs[2] = {stm, cfg};
  for (int k = 0; k < 2; k++) {
    size_t i;
    json_t *v;
    json_array_foreach(docs[k] ? json_object_get(docs[k], "additional_special_tokens") : NULL, i,
                       v) {
      const char *n = token_name(v);
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
    for (size_t i = 0; i < BASE_ARRAY_LEN(wp); i++)
      BERTC_RETURN_IF_ERROR(add_special(d, tok_token_id(t, legacy_bpe ? bpe[i] : wp[i])));
  }
  BERTC_RETURN_IF_ERROR(add_special(d, tok_pad_id(t)));
  BERTC_RETURN_IF_ERROR(add_special(d, tok_mask_id(t)));
  json_t *cu = cfg ? json_object_get(cfg, "clean_up_tokenization_spaces") : NULL;
  d->clean_up_spaces = json_is_true(cu);
  d->unk_id = unk ? tok_token_id(t, unk) : -1;
  if (d->unk_id < 0)
    d->unk_id = tok_token_id(t, legacy_bpe || d->model_bpe ? "<unk>" : "[UNK]");
  const char *cls = config_token(stm, cfg, "cls_token");
  d->cls_id = cls ? tok_token_id(t, cls) : -1;
  if (d->cls_id < 0 && !cls) d->cls_id = tok_token_id(t, d->model_bpe ? "<s>" : "[CLS]");
  return BERTC_OK;
}

bertc_status_t rt_decoder_create(const tok_tokenizer_t *tokenizer, const uint8_t *blob, size_t size,
                                 rt_decoder_t **out) {
  *out = NULL;
  if (!tokenizer || (!blob && size))
    return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT, "rt_decoder_create: NULL argument");
  rt_decoder_t *d = calloc(1, sizeof *d);
  if (!d) return base_oom();
  d->tok = tokenizer;
  json_t *tj = NULL, *cfg = NULL, *stm = NULL;
  const char *data;
  size_t len;
  bertc_status_t s = blob_json(blob, size, "tokenizer.json", &tj);
  if (!s) s = blob_json(blob, size, "tokenizer_config.json", &cfg);
  if (!s) s = blob_json(blob, size, "special_tokens_map.json", &stm);
  bool legacy_bpe = !tj && !blob_file(blob, size, "vocab.txt", &data, &len) &&
                    blob_file(blob, size, "vocab.json", &data, &len);
  if (!s) s = decoder_build(d, tj, cfg, stm, legacy_bpe);
  json_decref(tj);
  json_decref(cfg);
  json_decref(stm);
  if (s) {
    rt_decoder_release(d);
    return bertc_status_annotate(s, "reading the tokenizer's decoder");
  }
  *out = d;
  return BERTC_OK;
}

bertc_status_t rt_decoder_create_dir(const tok_tokenizer_t *tokenizer, const char *dir,
                                     rt_decoder_t **out) {
  *out = NULL;
  uint8_t *blob = NULL;
  size_t size = 0;
  BERTC_RETURN_IF_ERROR(tok_pack_dir(dir, &blob, &size));
  bertc_status_t s = rt_decoder_create(tokenizer, blob, size, out);
  free(blob);
  return s;
}

void rt_decoder_release(rt_decoder_t *d) {
  if (!d) return;
  free(d->special);
  free(d->added);
  free(d);
}

const tok_tokenizer_t *rt_decoder_tokenizer(const rt_decoder_t *d) { return d->tok; }

/* GPT-2's bytes_to_unicode, inverted: the byte a printable character stands
 * for, or -1. Bytes 33..126, 161..172 and 174..255 stand for themselves; the
 * other 68 are shifted to 256.. in order. */
static int byte_of_char(uint32_t c) {
  if ((c >= 33 && c <= 126) || (c >= 161 && c <= 172) || (c >= 174 && c <= 255)) return (int)c;
  if (c < 256 || c >= 256 + 68) return -1;
  uint32_t k = c - 256;
  for (int b = 0; b < 256; b++) {
    bool self = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
    if (!self && k-- == 0) return b;
  }
  return -1;
}

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
    if (need && k == need + 1) {
      sb_put(b, (const char *)s + i, k);
    } else {
      sb_str(b, "\xEF\xBF\xBD");
    }
    i += k;
  }
}

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

/* Decoder::decode: the chain of decoders over the token list, joined. */
static bertc_status_t decode_tokens(const rt_decoder_t *d, const char *const *tokens, size_t n,
                                    char **out) {
  *out = NULL;
  if (d->unsupported[0])
    return bertc_status_make(BERTC_STATUS_UNSUPPORTED,
                             "tokenizer.json: decoder '%s' is not supported; bertc decodes "
                             "WordPiece and ByteLevel",
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
  if (!cur) return base_oom();
  bertc_status_t s = BERTC_OK;
  for (size_t i = 0; !s && i < n; i++)
    s = base_strdup(tokens[i], &cur[i]);
  for (int k = 0; !s && k < d->num_steps; k++) {
    const dec_step_t *st = &d->steps[k];
    if (st->kind == DEC_WORDPIECE) {
      size_t pl = strlen(st->prefix);
      for (size_t i = 0; !s && i < m; i++) {
        if (i != 0) {
          sbuf_t t = {0};
          if (pl && !strncmp(cur[i], st->prefix, pl)) {
            sb_str(&t, cur[i] + pl);
          } else {
            sb_str(&t, " ");
            sb_str(&t, cur[i]);
          }
          char *r;
          s = sb_finish(&t, &r);
          if (s) break;
          free(cur[i]);
          cur[i] = r;
        }
        if (st->cleanup) s = wordpiece_cleanup(&cur[i], false);
      }
    } else { /* ByteLevel: every token's characters back to bytes, then lossy UTF-8 */
      sbuf_t bytes = {0};
      for (size_t i = 0; i < m; i++) {
        sbuf_t tb = {0};
        bool all = true;
        const uint8_t *p = (const uint8_t *)cur[i];
        size_t len = strlen(cur[i]), j = 0;
        while (j < len) {
          utf8proc_int32_t c;
          utf8proc_ssize_t q = utf8proc_iterate(p + j, (utf8proc_ssize_t)(len - j), &c);
          int byte = q > 0 ? byte_of_char((uint32_t)c) : -1;
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
      char *r;
      s = sb_finish(&text, &r);
      if (s) break;
      free_strings(cur, m);
      cur = calloc(1, sizeof *cur);
      if (!cur) {
        free(r);
        return base_oom();
      }
      cur[0] = r;
      m = 1;
    }
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

bertc_status_t rt_decoder_join(const rt_decoder_t *d, const char *const *tokens, size_t n,
                               char **out) {
  return decode_tokens(d, tokens, n, out);
}

bertc_status_t rt_decoder_decode(const rt_decoder_t *d, const int32_t *ids, size_t n,
                                 bool skip_special_tokens, char **out) {
  *out = NULL;
  const char **toks = malloc((n ? n : 1) * sizeof *toks);
  if (!toks) return base_oom();
  size_t m = 0;
  for (size_t i = 0; i < n; i++) {
    if (skip_special_tokens && is_special(d, ids[i])) continue;
    const char *t = tok_id_to_token(d->tok, ids[i]);
    if (t) toks[m++] = t;
  }
  bertc_status_t s = decode_tokens(d, toks, m, out);
  free(toks);
  if (!s && d->clean_up_spaces && !d->model_bpe) s = wordpiece_cleanup(out, true);
  if (s) {
    free(*out);
    *out = NULL;
  }
  return s;
}

/* ---- Words ------------------------------------------------------------------------ */

typedef enum { CC_LETTER, CC_NUMBER, CC_SPACE, CC_OTHER } cclass_t;

static cclass_t char_class(uint32_t c) {
  if (is_white(c)) return CC_SPACE;
  switch (utf8proc_category((utf8proc_int32_t)c)) {
  case UTF8PROC_CATEGORY_LU:
  case UTF8PROC_CATEGORY_LL:
  case UTF8PROC_CATEGORY_LT:
  case UTF8PROC_CATEGORY_LM:
  case UTF8PROC_CATEGORY_LO: return CC_LETTER;
  case UTF8PROC_CATEGORY_ND:
  case UTF8PROC_CATEGORY_NL:
  case UTF8PROC_CATEGORY_NO: return CC_NUMBER;
  default: return CC_OTHER;
  }
}

/* The GPT-2 pre-tokenizer split (the ByteLevel regex
 *   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ )
 * as a segment index per code point. */
static void gpt2_segments(const uint32_t *cp, size_t n, int32_t *seg) {
  static const char *const contractions[] = {"s", "t", "re", "ve", "m", "ll", "d"};
  int32_t k = 0;
  size_t i = 0;
  while (i < n) {
    size_t j = i;
    if (cp[i] == '\'') {
      for (size_t c = 0; c < BASE_ARRAY_LEN(contractions) && j == i; c++) {
        size_t l = strlen(contractions[c]);
        bool ok = i + l < n;
        for (size_t q = 0; ok && q < l; q++)
          ok = cp[i + 1 + q] == (uint32_t)contractions[c][q];
        if (ok) j = i + 1 + l;
      }
    }
    if (j == i) {
      size_t a = i;
      if (cp[a] == ' ' && a + 1 < n && char_class(cp[a + 1]) != CC_SPACE) a++;
      cclass_t cc = char_class(cp[a]);
      if (cc != CC_SPACE) {
        j = a + 1;
        while (j < n && char_class(cp[j]) == cc)
          j++;
      } else {
        size_t e = i;
        while (e < n && char_class(cp[e]) == CC_SPACE)
          e++;
        j = e == n ? n : e - i >= 2 ? e - 1 : i + 1;
      }
    }
    while (i < j)
      seg[i++] = k;
    k++;
  }
}

/* Word ids of one sequence's tokens [from, to) of the encoding. */
static bertc_status_t sequence_word_ids(const rt_decoder_t *d, const char *text, size_t len,
                                        const tok_encoding_t *enc, int seq, int32_t *out) {
  if (d->has_subword_prefix) { /* WordPiece: a word's later pieces carry the prefix */
    size_t pl = strlen(d->subword_prefix);
    int32_t w = -1;
    bool first = true;
    for (size_t i = 0; i < enc->len; i++) {
      if (enc->sequence_ids[i] != seq) continue;
      if (first || strncmp(enc->tokens[i], d->subword_prefix, pl)) w++;
      first = false;
      out[i] = w;
    }
    return BERTC_OK;
  }
  /* Byte-level BPE: the words are the pre-tokenizer's splits, made in the
   * stretches of text between added tokens (each of which is a word). */
  cptext_t t;
  BERTC_RETURN_IF_ERROR(cptext_init(text, len, &t));
  int32_t *seg = malloc((t.n + 1) * sizeof *seg);
  if (!seg) {
    cptext_deinit(&t);
    return base_oom();
  }
  for (size_t i = 0; i < t.n; i++)
    seg[i] = -1;
  int32_t next = 0;
  for (size_t i = 0; i < enc->len; i++) {
    if (enc->sequence_ids[i] != seq || !id_set_has(d->added, d->num_added, enc->ids[i])) continue;
    int32_t a = clamp_cp(&t, enc->offsets[2 * i]), b = clamp_cp(&t, enc->offsets[2 * i + 1]);
    for (int32_t k = a; k < b; k++)
      seg[k] = next;
    next++;
  }
  for (size_t a = 0; a < t.n;) {
    if (seg[a] >= 0) {
      a++;
      continue;
    }
    size_t b = a;
    while (b < t.n && seg[b] < 0)
      b++;
    gpt2_segments(t.cp + a, b - a, seg + a);
    for (size_t k = a; k < b; k++)
      seg[k] += next;
    next = seg[b - 1] + 1;
    a = b;
  }
  int32_t w = -1, last = INT32_MIN;
  for (size_t i = 0; i < enc->len; i++) {
    if (enc->sequence_ids[i] != seq) continue;
    int32_t a = enc->offsets[2 * i], b = enc->offsets[2 * i + 1];
    int32_t at = a < b ? a : a - 1;
    int32_t sg = t.n == 0 ? 0 : seg[at < 0 ? 0 : (size_t)at >= t.n ? t.n - 1 : (size_t)at];
    if (sg != last || id_set_has(d->added, d->num_added, enc->ids[i])) w++;
    last = sg;
    out[i] = w;
  }
  free(seg);
  cptext_deinit(&t);
  return BERTC_OK;
}

bertc_status_t rt_decoder_word_ids(const rt_decoder_t *d, const char *text, size_t text_len,
                                   const char *text_pair, size_t pair_len, const tok_encoding_t *enc,
                                   int32_t *out) {
  for (size_t i = 0; i < enc->len; i++)
    out[i] = -1;
  BERTC_RETURN_IF_ERROR(sequence_word_ids(d, text, text_len, enc, 0, out));
  if (text_pair) BERTC_RETURN_IF_ERROR(sequence_word_ids(d, text_pair, pair_len, enc, 1, out));
  return BERTC_OK;
}

/* ---- Classification ------------------------------------------------------------- */

bool rt_class_fn_from_name(const char *name, rt_class_fn_t *out) {
  static const struct {
    const char *name;
    rt_class_fn_t fn;
  } map[] = {{"default", RT_CLASS_FN_DEFAULT},
             {"softmax", RT_CLASS_FN_SOFTMAX},
             {"sigmoid", RT_CLASS_FN_SIGMOID},
             {"none", RT_CLASS_FN_NONE}};
  for (size_t i = 0; i < BASE_ARRAY_LEN(map); i++)
    if (!strcmp(map[i].name, name)) {
      *out = map[i].fn;
      return true;
    }
  return false;
}

/* numpy's softmax as the pipelines write it: exp(x - max) / sum. */
static void softmax(const float *x, int64_t n, float *out) {
  float mx = -INFINITY;
  for (int64_t i = 0; i < n; i++)
    mx = x[i] > mx ? x[i] : mx;
  double sum = 0;
  for (int64_t i = 0; i < n; i++)
    sum += exp((double)x[i] - (double)mx);
  for (int64_t i = 0; i < n; i++)
    out[i] = (float)(exp((double)x[i] - (double)mx) / sum);
}

static rt_class_fn_t default_fn(const rt_task_model_t *m) {
  if (!strcmp(m->problem_type, "regression")) return RT_CLASS_FN_NONE;
  if (!strcmp(m->problem_type, "multi_label_classification") || m->num_labels == 1)
    return RT_CLASS_FN_SIGMOID;
  if (!strcmp(m->problem_type, "single_label_classification") || m->num_labels > 1)
    return RT_CLASS_FN_SOFTMAX;
  return RT_CLASS_FN_NONE;
}

void rt_task_classify(const rt_task_model_t *m, const float *logits, rt_class_fn_t fn,
                      rt_label_score_t *out) {
  int32_t n = m->num_labels;
  if (fn == RT_CLASS_FN_DEFAULT) fn = default_fn(m);
  float mx = -INFINITY;
  double sum = 0;
  for (int32_t i = 0; i < n; i++)
    mx = logits[i] > mx ? logits[i] : mx;
  for (int32_t i = 0; i < n; i++)
    sum += exp((double)logits[i] - (double)mx);
  for (int32_t i = 0; i < n; i++) {
    double v = logits[i];
    if (fn == RT_CLASS_FN_SIGMOID) v = 1.0 / (1.0 + exp(-v));
    if (fn == RT_CLASS_FN_SOFTMAX) v = exp(v - (double)mx) / sum;
    out[i] = (rt_label_score_t){i, (float)v};
  }
  /* Stable insertion sort by descending score (Python's sort). */
  for (int32_t i = 1; i < n; i++) {
    rt_label_score_t x = out[i];
    int32_t j = i;
    while (j > 0 && out[j - 1].score < x.score) {
      out[j] = out[j - 1];
      j--;
    }
    out[j] = x;
  }
}

float rt_task_next_sentence(const float *logits) {
  float p[2];
  softmax(logits, 2, p);
  return p[0];
}

/* ---- Fill-mask -------------------------------------------------------------------- */

void rt_fill_mask_result_deinit(rt_fill_mask_result_t *r) {
  if (!r) return;
  for (int32_t i = 0; i < r->num_masks && r->masks; i++) {
    for (int32_t j = 0; j < r->masks[i].count; j++) {
      free(r->masks[i].candidates[j].token_str);
      free(r->masks[i].candidates[j].sequence);
    }
    free(r->masks[i].candidates);
  }
  free(r->masks);
  memset(r, 0, sizeof *r);
}

bertc_status_t rt_task_fill_mask(const rt_decoder_t *d, const tok_encoding_t *enc,
                                 const float *logits, int64_t vocab, int32_t top_k,
                                 rt_fill_mask_result_t *out) {
  memset(out, 0, sizeof *out);
  int32_t mask = tok_mask_id(d->tok);
  if (mask < 0)
    return bertc_status_make(BERTC_STATUS_UNSUPPORTED, "the tokenizer defines no mask token");
  int32_t n_masks = 0;
  for (size_t i = 0; i < enc->len; i++)
    n_masks += enc->ids[i] == mask;
  if (n_masks == 0) {
    const char *name = tok_id_to_token(d->tok, mask);
    return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT, "no mask token (%s) in the input",
                             name ? name : "?");
  }
  if (top_k < 1) top_k = 1;
  if (top_k > vocab) top_k = (int32_t)vocab;
  int32_t pad = tok_pad_id(d->tok);
  bool single = n_masks == 1;
  out->masks = calloc((size_t)n_masks, sizeof *out->masks);
  float *probs = malloc((size_t)vocab * sizeof *probs);
  int32_t *seq = malloc((enc->len + 1) * sizeof *seq);
  bertc_status_t s = out->masks && probs && seq ? BERTC_OK : base_oom();
  if (!s) out->num_masks = n_masks;
  int32_t m = 0;
  for (size_t pos = 0; !s && pos < enc->len; pos++) {
    if (enc->ids[pos] != mask) continue;
    rt_fill_mask_t *fm = &out->masks[m++];
    fm->position = (int32_t)pos;
    fm->candidates = calloc((size_t)top_k, sizeof *fm->candidates);
    if (!fm->candidates) {
      s = base_oom();
      break;
    }
    softmax(logits + (int64_t)pos * vocab, vocab, probs);
    /* top-k by descending probability, lower id first on ties */
    int32_t have = 0;
    for (int32_t v = 0; v < vocab; v++) {
      if (have == top_k && probs[v] <= fm->candidates[have - 1].score) continue;
      int32_t j = have < top_k ? have++ : top_k - 1;
      while (j > 0 && fm->candidates[j - 1].score < probs[v]) {
        fm->candidates[j] = fm->candidates[j - 1];
        j--;
      }
      fm->candidates[j] = (rt_fill_candidate_t){.token = v, .score = probs[v]};
    }
    fm->count = have;
    for (int32_t c = 0; !s && c < have; c++) {
      rt_fill_candidate_t *cand = &fm->candidates[c];
      s = rt_decoder_decode(d, &cand->token, 1, false, &cand->token_str);
      size_t k = 0;
      for (size_t i = 0; !s && i < enc->len; i++) {
        int32_t id = i == pos ? cand->token : enc->ids[i];
        if (id != pad) seq[k++] = id;
      }
      if (!s) s = rt_decoder_decode(d, seq, k, single, &cand->sequence);
    }
  }
  free(probs);
  free(seq);
  if (s) rt_fill_mask_result_deinit(out);
  return s;
}

/* ---- Token classification ------------------------------------------------------- */

static const char *const agg_names[] = {"none", "simple", "first", "average", "max"};

bool rt_aggregation_from_name(const char *name, rt_aggregation_t *out) {
  for (size_t i = 0; i < BASE_ARRAY_LEN(agg_names); i++)
    if (!strcmp(agg_names[i], name)) {
      *out = (rt_aggregation_t)i;
      return true;
    }
  return false;
}

const char *rt_aggregation_name(rt_aggregation_t agg) {
  return (unsigned)agg < BASE_ARRAY_LEN(agg_names) ? agg_names[agg] : "?";
}

void rt_entities_deinit(rt_entities_t *e) {
  if (!e) return;
  for (int32_t i = 0; i < e->count; i++) {
    free(e->items[i].label);
    free(e->items[i].word);
  }
  free(e->items);
  memset(e, 0, sizeof *e);
}

/* A token or a word before grouping: label index, score, word, span. */
typedef struct {
  int32_t label;
  float score;
  char *word;
  int32_t start, end, index;
  bool is_subword;
  const float *scores; /* pre-entities: the token's label probabilities */
} ner_item_t;

static int32_t argmax(const float *v, int32_t n) {
  int32_t best = 0;
  for (int32_t i = 1; i < n; i++)
    if (v[i] > v[best]) best = i;
  return best;
}

static void ner_items_free(ner_item_t *v, size_t n) {
  for (size_t i = 0; v && i < n; i++)
    free(v[i].word);
  free(v);
}

/* get_tag: "B-X" -> (B, X), "I-X" -> (I, X), anything else -> (I, label). */
static const char *ner_tag(const char *label, char *bi) {
  if ((label[0] == 'B' || label[0] == 'I') && label[1] == '-') {
    *bi = label[0];
    return label + 2;
  }
  *bi = 'I';
  return label;
}

typedef struct {
  const rt_task_model_t *m;
  const rt_decoder_t *d;
  rt_entities_t *out;
  int32_t cap;
} ner_ctx_t;

static bertc_status_t ner_emit(ner_ctx_t *c, char *label, float score, char *word, int32_t start,
                               int32_t end, int32_t index) {
  if (c->out->count == c->cap) {
    int32_t cap = c->cap ? 2 * c->cap : 8;
    rt_entity_t *p = realloc(c->out->items, (size_t)cap * sizeof *p);
    if (!p) {
      free(label);
      free(word);
      return base_oom();
    }
    c->out->items = p;
    c->cap = cap;
  }
  c->out->items[c->out->count++] = (rt_entity_t){label, score, word, start, end, index};
  return BERTC_OK;
}

/* group_sub_entities: one entity for items [a, b). */
static bertc_status_t ner_group(ner_ctx_t *c, const ner_item_t *v, size_t a, size_t b) {
  const char *first = c->m->labels[v[a].label];
  const char *dash = strchr(first, '-');
  char *label = NULL, *word = NULL;
  BERTC_RETURN_IF_ERROR(base_strdup(dash ? dash + 1 : first, &label));
  double sum = 0;
  const char **words = malloc((b - a) * sizeof *words);
  if (!words) {
    free(label);
    return base_oom();
  }
  for (size_t i = a; i < b; i++) {
    sum += v[i].score;
    words[i - a] = v[i].word;
  }
  bertc_status_t s = rt_decoder_join(c->d, words, b - a, &word);
  free(words);
  if (s) {
    free(label);
    return s;
  }
  return ner_emit(c, label, (float)(sum / (double)(b - a)), word, v[a].start, v[b - 1].end, -1);
}

/* group_entities: runs of items with the same tag where no item but the first is B-. */
static bertc_status_t ner_group_all(ner_ctx_t *c, const ner_item_t *v, size_t n) {
  size_t a = 0;
  for (size_t i = 1; i <= n; i++) {
    if (i < n) {
      char bi, last_bi;
      const char *tag = ner_tag(c->m->labels[v[i].label], &bi);
      const char *last = ner_tag(c->m->labels[v[i - 1].label], &last_bi);
      if (!strcmp(tag, last) && bi != 'B') continue;
    }
    if (n) BERTC_RETURN_IF_ERROR(ner_group(c, v, a, i));
    a = i;
  }
  return BERTC_OK;
}

/* aggregate_word: one word from pre-entities [a, b). */
static bertc_status_t ner_word(const ner_ctx_t *c, const ner_item_t *v, size_t a, size_t b,
                               rt_aggregation_t agg, ner_item_t *w) {
  int32_t nl = c->m->num_labels;
  memset(w, 0, sizeof *w);
  const char **words = malloc((b - a) * sizeof *words);
  if (!words) return base_oom();
  for (size_t i = a; i < b; i++)
    words[i - a] = v[i].word;
  bertc_status_t s = rt_decoder_join(c->d, words, b - a, &w->word);
  free(words);
  BERTC_RETURN_IF_ERROR(s);
  if (agg == RT_AGG_FIRST) {
    w->label = argmax(v[a].scores, nl);
    w->score = v[a].scores[w->label];
  } else if (agg == RT_AGG_MAX) {
    size_t best = a;
    float best_max = v[a].scores[argmax(v[a].scores, nl)];
    for (size_t i = a + 1; i < b; i++) {
      float mx = v[i].scores[argmax(v[i].scores, nl)];
      if (mx > best_max) {
        best_max = mx;
        best = i;
      }
    }
    w->label = argmax(v[best].scores, nl);
    w->score = v[best].scores[w->label];
  } else { /* average */
    float *avg = malloc((size_t)nl * sizeof *avg);
    if (!avg) {
      free(w->word);
      w->word = NULL;
      return base_oom();
    }
    for (int32_t l = 0; l < nl; l++) {
      double sum = 0;
      for (size_t i = a; i < b; i++)
        sum += v[i].scores[l];
      avg[l] = (float)(sum / (double)(b - a));
    }
    w->label = argmax(avg, nl);
    w->score = avg[w->label];
    free(avg);
  }
  w->start = v[a].start;
  w->end = v[b - 1].end;
  w->index = -1;
  return BERTC_OK;
}

bertc_status_t rt_task_token_classify(const rt_task_model_t *m, const rt_decoder_t *d,
                                      const char *text, size_t text_len, const tok_encoding_t *enc,
                                      const float *logits, rt_aggregation_t agg,
                                      const char *const *ignore, size_t num_ignore,
                                      rt_entities_t *out) {
  memset(out, 0, sizeof *out);
  int32_t nl = m->num_labels;
  if (nl < 1) return bertc_status_make(BERTC_STATUS_DATA, "the model has no labels");
  static const char *const default_ignore[] = {"O"};
  if (!ignore) {
    ignore = default_ignore;
    num_ignore = 1;
  }
  cptext_t t;
  BERTC_RETURN_IF_ERROR(cptext_init(text, text_len, &t));
  size_t n = enc->len;
  float *probs = malloc((n ? n : 1) * (size_t)nl * sizeof *probs);
  ner_item_t *pre = calloc(n ? n : 1, sizeof *pre);
  ner_item_t *words = calloc(n ? n : 1, sizeof *words);
  size_t n_pre = 0, n_words = 0;
  bertc_status_t s = probs && pre && words ? BERTC_OK : base_oom();
  /* gather_pre_entities */
  for (size_t i = 0; !s && i < n; i++) {
    if (enc->sequence_ids[i] < 0) continue;
    ner_item_t *p = &pre[n_pre];
    float *sc = probs + i * (size_t)nl;
    softmax(logits + i * (size_t)nl, nl, sc);
    p->scores = sc;
    p->start = enc->offsets[2 * i];
    p->end = enc->offsets[2 * i + 1];
    p->index = (int32_t)i;
    if (enc->ids[i] == d->unk_id) {
      s = cptext_slice(&t, p->start, p->end, &p->word);
      p->is_subword = false;
    } else {
      s = base_strdup(enc->tokens[i], &p->word);
      if (d->has_subword_prefix) {
        p->is_subword = utf8_count(enc->tokens[i]) != (size_t)(p->end - p->start);
      } else {
        int32_t a = clamp_cp(&t, p->start);
        bool space = (a >= 1 && t.cp[a - 1] == ' ') || ((size_t)a < t.n && t.cp[a] == ' ');
        p->is_subword = p->start > 0 && !space;
      }
    }
    if (s) break;
    n_pre++;
    p->label = argmax(sc, nl);
    p->score = sc[p->label];
  }
  ner_ctx_t c = {m, d, out, 0};
  if (!s && agg == RT_AGG_NONE) {
    for (size_t i = 0; !s && i < n_pre; i++) {
      char *label = NULL;
      s = base_strdup(m->labels[pre[i].label], &label);
      if (!s) {
        s = ner_emit(&c, label, pre[i].score, pre[i].word, pre[i].start, pre[i].end, pre[i].index);
        pre[i].word = NULL;
      }
    }
  } else if (!s && agg == RT_AGG_SIMPLE) {
    s = ner_group_all(&c, pre, n_pre);
  } else if (!s) {
    size_t a = 0;
    for (size_t i = 1; !s && i <= n_pre; i++) {
      if (i < n_pre && pre[i].is_subword) continue;
      s = ner_word(&c, pre, a, i, agg, &words[n_words]);
      if (!s) n_words++;
      a = i;
    }
    if (!s) s = ner_group_all(&c, words, n_words);
  }
  /* drop ignored labels */
  int32_t k = 0;
  for (int32_t i = 0; !s && i < out->count; i++) {
    bool drop = false;
    for (size_t j = 0; j < num_ignore && !drop; j++)
      drop = !strcmp(out->items[i].label, ignore[j]);
    if (drop) {
      free(out->items[i].label);
      free(out->items[i].word);
    } else {
      out->items[k++] = out->items[i];
    }
  }
  if (!s) out->count = k;
  ner_items_free(pre, n_pre);
  ner_items_free(words, n_words);
  free(probs);
  cptext_deinit(&t);
  if (s) rt_entities_deinit(out);
  return s;
}

/* ---- Question answering ----------------------------------------------------------- */

void rt_qa_options_init(rt_qa_options_t *o) {
  memset(o, 0, sizeof *o);
  o->top_k = 1;
  o->max_answer_len = 15;
  o->max_seq_len = 0;
  o->doc_stride = -1;
  o->handle_impossible_answer = false;
  o->align_to_words = true;
}

void rt_qa_features_deinit(rt_qa_features_t *f) {
  if (!f) return;
  tok_encoding_deinit(&f->full);
  free(f->word_ids);
  for (int32_t i = 0; i < f->num_windows && f->windows; i++) {
    free(f->windows[i].ids);
    free(f->windows[i].type_ids);
    free(f->windows[i].source);
  }
  free(f->windows);
  memset(f, 0, sizeof *f);
}

static bertc_status_t qa_window(rt_qa_features_t *f, int32_t c0, int32_t c1, int32_t from,
                                int32_t to) {
  const tok_encoding_t *e = &f->full;
  int32_t len = c0 + (to - from) + ((int32_t)e->len - c1);
  rt_qa_window_t *w = &f->windows[f->num_windows];
  w->ids = malloc((size_t)len * sizeof *w->ids);
  w->type_ids = malloc((size_t)len * sizeof *w->type_ids);
  w->source = malloc((size_t)len * sizeof *w->source);
  f->num_windows++;
  if (!w->ids || !w->type_ids || !w->source) return base_oom();
  int32_t k = 0;
  for (int32_t i = 0; i < (int32_t)e->len; i++) {
    if (i >= c0 && i < c1 && (i < c0 + from || i >= c0 + to)) continue;
    w->ids[k] = e->ids[i];
    w->type_ids[k] = e->type_ids[i];
    w->source[k++] = i;
  }
  w->len = k;
  return BERTC_OK;
}

bertc_status_t rt_task_qa_features(const rt_decoder_t *d, const char *question, size_t question_len,
                                   const char *context, size_t context_len, int64_t model_max,
                                   const rt_qa_options_t *o, rt_qa_features_t *out) {
  memset(out, 0, sizeof *out);
  rt_qa_options_t dflt;
  if (!o) {
    rt_qa_options_init(&dflt);
    o = &dflt;
  }
  int64_t max_len = o->max_seq_len > 0 ? o->max_seq_len : model_max < 384 ? model_max : 384;
  if (max_len < 1)
    return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT, "question answering: no window length");
  int64_t stride = o->doc_stride >= 0 ? o->doc_stride : max_len / 2 < 128 ? max_len / 2 : 128;
  if (stride > max_len)
    return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT,
                             "doc stride %lld is larger than the window length %lld",
                             (long long)stride, (long long)max_len);
  out->max_seq_len = (int32_t)max_len;
  out->doc_stride = (int32_t)stride;
  bertc_status_t s = tok_encode(d->tok, question, question_len, context, context_len, 0,
                                         TOK_TRUNC_ONLY_SECOND, &out->full);
  const tok_encoding_t *e = &out->full;
  int32_t c0 = -1, c1 = -1;
  for (size_t i = 0; !s && i < e->len; i++)
    if (e->sequence_ids[i] == 1) {
      if (c0 < 0) c0 = (int32_t)i;
      c1 = (int32_t)i + 1;
    }
  if (!s && c0 < 0) s = bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT, "the context is empty");
  if (!s) {
    out->word_ids = malloc(e->len * sizeof *out->word_ids);
    s = out->word_ids
            ? rt_decoder_word_ids(d, question, question_len, context, context_len, e, out->word_ids)
            : base_oom();
  }
  if (s) {
    rt_qa_features_deinit(out);
    return s;
  }
  int32_t n_ctx = c1 - c0, total = (int32_t)e->len;
  int32_t window = n_ctx;
  if (total > max_len) {
    /* tokenizers: to_remove = total - max_len must leave the context non-empty,
     * and the stride must be smaller than what is left. */
    window = n_ctx - (total - (int32_t)max_len);
    if (window < 1)
      s = bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT,
                            "the question takes %d of the %lld tokens a window holds; no room "
                            "for the context",
                            total - n_ctx, (long long)max_len);
    else if (stride >= window && o->doc_stride >= 0)
      s = bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT,
                            "the question leaves %d context tokens per window, not more than "
                            "the doc stride %lld; use a shorter question or a smaller stride",
                            window, (long long)stride);
    else if (stride >= window) /* where the pipeline would fail: a default stride adapts */
      out->doc_stride = (int32_t)(stride = window / 2);
  }
  int32_t step = window - (int32_t)stride, count = 1;
  if (!s && window < n_ctx)
    for (int32_t st = 0; st + window < n_ctx; st += step)
      count++;
  if (!s) {
    out->windows = calloc((size_t)count, sizeof *out->windows);
    if (!out->windows) s = base_oom();
  }
  for (int32_t st = 0; !s && out->num_windows < count; st += step) {
    int32_t stop = st + window < n_ctx ? st + window : n_ctx;
    s = qa_window(out, c0, c1, st, stop);
  }
  if (s) rt_qa_features_deinit(out);
  return s;
}

void rt_qa_answers_deinit(rt_qa_answers_t *a) {
  if (!a) return;
  for (int32_t i = 0; i < a->count; i++)
    free(a->items[i].answer);
  free(a->items);
  memset(a, 0, sizeof *a);
}

typedef struct {
  float score;
  int32_t s, e;
} qa_span_t;

static int span_cmp(const void *pa, const void *pb) {
  const qa_span_t *a = pa, *b = pb;
  if (a->score != b->score) return a->score > b->score ? -1 : 1;
  if (a->s != b->s) return a->s < b->s ? -1 : 1;
  return (a->e > b->e) - (a->e < b->e);
}

/* Python's str.lower() for comparing answers (simple case mapping). */
static bool same_lower(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b), i = 0, j = 0;
  while (i < la && j < lb) {
    utf8proc_int32_t x, y;
    utf8proc_ssize_t p =
        utf8proc_iterate((const utf8proc_uint8_t *)a + i, (utf8proc_ssize_t)(la - i), &x);
    utf8proc_ssize_t q =
        utf8proc_iterate((const utf8proc_uint8_t *)b + j, (utf8proc_ssize_t)(lb - j), &y);
    if (p <= 0 || q <= 0) return !strcmp(a + i, b + j);
    if (utf8proc_tolower(x) != utf8proc_tolower(y)) return false;
    i += (size_t)p;
    j += (size_t)q;
  }
  return i == la && j == lb;
}

/* Encoding.word_to_chars within a window: the span of every context token of
 * the window that belongs to `word`. */
static void word_chars(const rt_qa_features_t *f, const rt_qa_window_t *w, int32_t word,
                       int32_t *start, int32_t *end) {
  int32_t a = -1, b = -1;
  for (int32_t i = 0; i < w->len; i++) {
    int32_t src = w->source[i];
    if (f->full.sequence_ids[src] == 1 && f->word_ids[src] == word) {
      if (a < 0) a = src;
      b = src;
    }
  }
  *start = f->full.offsets[2 * a];
  *end = f->full.offsets[2 * b + 1];
}

static bertc_status_t qa_add(rt_qa_answers_t *a, int32_t *cap, char *text, double score,
                             int32_t start, int32_t end) {
  for (int32_t i = 0; i < a->count; i++)
    if (same_lower(a->items[i].answer, text)) {
      a->items[i].score += score;
      free(text);
      return BERTC_OK;
    }
  if (a->count == *cap) {
    int32_t c = *cap ? 2 * *cap : 16;
    rt_qa_answer_t *p = realloc(a->items, (size_t)c * sizeof *p);
    if (!p) {
      free(text);
      return base_oom();
    }
    a->items = p;
    *cap = c;
  }
  a->items[a->count++] = (rt_qa_answer_t){text, score, start, end};
  return BERTC_OK;
}

bertc_status_t rt_task_qa_answers(const rt_decoder_t *d, const rt_qa_features_t *f,
                                  const char *context, size_t context_len,
                                  const float *const *start_logits, const float *const *end_logits,
                                  const rt_qa_options_t *o, rt_qa_answers_t *out) {
  memset(out, 0, sizeof *out);
  rt_qa_options_t dflt;
  if (!o) {
    rt_qa_options_init(&dflt);
    o = &dflt;
  }
  int32_t top_k = o->top_k > 0 ? o->top_k : 1;
  int32_t max_ans = o->max_answer_len > 0 ? o->max_answer_len : 1;
  int32_t pre_topk = o->align_to_words ? 2 * top_k + 10 : top_k;
  cptext_t t;
  BERTC_RETURN_IF_ERROR(cptext_init(context, context_len, &t));
  int32_t longest = 1;
  for (int32_t w = 0; w < f->num_windows; w++)
    if (f->windows[w].len > longest) longest = f->windows[w].len;
  float *ps = malloc((size_t)longest * sizeof *ps), *pe = malloc((size_t)longest * sizeof *pe);
  float *ms = malloc((size_t)longest * sizeof *ms), *me = malloc((size_t)longest * sizeof *me);
  bool *desired = malloc((size_t)longest * sizeof *desired);
  qa_span_t *spans = malloc((size_t)longest * (size_t)max_ans * sizeof *spans);
  bertc_status_t s = ps && pe && ms && me && desired && spans ? BERTC_OK : base_oom();
  double min_null = 1000000;
  int32_t cap = 0;
  for (int32_t wi = 0; !s && wi < f->num_windows; wi++) {
    const rt_qa_window_t *w = &f->windows[wi];
    int32_t n = w->len;
    /* p_mask: everything but the context and CLS tokens */
    for (int32_t i = 0; i < n; i++) {
      desired[i] = f->full.sequence_ids[w->source[i]] == 1 || w->ids[i] == d->cls_id;
      ms[i] = desired[i] ? start_logits[wi][i] : -10000.0f;
      me[i] = desired[i] ? end_logits[wi][i] : -10000.0f;
    }
    softmax(ms, n, ps);
    softmax(me, n, pe);
    double null = (double)(ps[0] * pe[0]);
    if (null < min_null) min_null = null;
    ps[0] = pe[0] = 0.0f;
    int32_t ns = 0;
    for (int32_t a = 0; a < n; a++) {
      if (!desired[a]) continue;
      for (int32_t b = a; b < n && b < a + max_ans; b++) {
        float sc = ps[a] * pe[b];
        if (desired[b] && sc > 0.0f) spans[ns++] = (qa_span_t){sc, a, b};
      }
    }
    qsort(spans, (size_t)ns, sizeof *spans, span_cmp);
    for (int32_t k = 0; !s && k < ns && k < pre_topk; k++) {
      int32_t a = spans[k].s, b = spans[k].e, sa = w->source[a], sb = w->source[b];
      int32_t start = f->full.offsets[2 * sa], end = f->full.offsets[2 * sb + 1];
      if (o->align_to_words && f->word_ids[sa] >= 0 && f->word_ids[sb] >= 0) {
        int32_t dummy;
        word_chars(f, w, f->word_ids[sa], &start, &dummy);
        word_chars(f, w, f->word_ids[sb], &dummy, &end);
      }
      char *text = NULL;
      s = cptext_slice(&t, start, end, &text);
      if (!s) s = qa_add(out, &cap, text, (double)spans[k].score, start, end);
    }
  }
  if (!s && o->handle_impossible_answer) {
    char *empty = NULL;
    s = base_strdup("", &empty);
    if (!s) {
      /* appended after the merge, as the pipeline does */
      if (out->count == cap) {
        rt_qa_answer_t *p = realloc(out->items, (size_t)(cap + 1) * sizeof *p);
        if (!p) {
          free(empty);
          s = base_oom();
        } else {
          out->items = p;
        }
      }
      if (!s) out->items[out->count++] = (rt_qa_answer_t){empty, min_null, 0, 0};
    }
  }
  if (!s) { /* stable sort by descending score, keep top_k */
    for (int32_t i = 1; i < out->count; i++) {
      rt_qa_answer_t x = out->items[i];
      int32_t j = i;
      while (j > 0 && out->items[j - 1].score < x.score) {
        out->items[j] = out->items[j - 1];
        j--;
      }
      out->items[j] = x;
    }
    while (out->count > top_k)
      free(out->items[--out->count].answer);
  }
  free(ps);
  free(pe);
  free(ms);
  free(me);
  free(desired);
  free(spans);
  cptext_deinit(&t);
  if (s) rt_qa_answers_deinit(out);
  return s;
}
