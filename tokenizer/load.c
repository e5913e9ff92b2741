/* Loading tokenizers: from a model directory, from a packed blob, and from
 * either tokenizer.json (the full Rust `tokenizers` description) or the older
 * files (vocab.txt for WordPiece, vocab.json + merges.txt for byte-level BPE,
 * a SentencePiece sentencepiece.bpe.model (XLM-RoBERTa) or spiece.model
 * (ALBERT) for Unigram, with tokenizer_config.json and
 * special_tokens_map.json), which we turn into the pipeline transformers'
 * tokenizer classes build from them.
 *
 * Blob format: records "name\0" u64le(size) bytes..., then an empty name. */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "tokenizer/internal.h"

#define TOK_MAX_FILE_SIZE ((size_t)512 << 20)

static bertc_status_t bad_data(const char *fmt, ...) BERTC_PRINTF(1, 2);
static bertc_status_t bad_data(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  bertc_status_t s = bertc_status_makev(BERTC_STATUS_DATA, fmt, ap);
  va_end(ap);
  return s;
}

/* ---- File sets ------------------------------------------------------------------- */

static const char *const k_files[] = {"tokenizer.json",          "tokenizer_config.json",
                                      "special_tokens_map.json", "vocab.txt",
                                      "vocab.json",              "merges.txt",
                                      "sentencepiece.bpe.model", "spiece.model"};

/* The vocabulary files that make a tokenizer on their own. */
static bool has_vocabulary(const tok_files_t *f);

static const tok_file_t *get_file(const tok_files_t *f, const char *name) {
  for (size_t i = 0; i < f->n; i++)
    if (strcmp(f->files[i].name, name) == 0) return &f->files[i];
  return NULL;
}

static void files_free(tok_files_t *f) {
  for (size_t i = 0; i < f->n; i++) free(f->files[i].data);
  f->n = 0;
}

static bool is_known_name(const char *name, const char **canonical) {
  for (size_t i = 0; i < BASE_ARRAY_LEN(k_files); i++)
    if (strcmp(k_files[i], name) == 0) {
      *canonical = k_files[i];
      return true;
    }
  return false;
}

/* Reads the files a directory's tokenizer needs: tokenizer.json when present
 * (its vocabulary is inline), otherwise the vocabulary files. */
static bertc_status_t read_dir(const char *dir, tok_files_t *f) {
  f->n = 0;
  f->origin = dir;
  char *tj = NULL;
  BERTC_RETURN_IF_ERROR(base_path_join(dir, "tokenizer.json", &tj));
  bool has_json = base_file_exists(tj);
  free(tj);
  for (size_t i = 0; i < BASE_ARRAY_LEN(k_files); i++) {
    if (has_json && i >= 3) break;
    char *path = NULL;
    bertc_status_t s = base_path_join(dir, k_files[i], &path);
    if (!s && base_file_exists(path)) {
      tok_file_t *file = &f->files[f->n];
      s = base_read_file(path, TOK_MAX_FILE_SIZE, &file->data, &file->size);
      if (!s) {
        file->name = k_files[i];
        f->n++;
      }
    }
    free(path);
    if (s) {
      files_free(f);
      return s;
    }
  }
  if (!has_vocabulary(f)) {
    files_free(f);
    return bertc_status_make(BERTC_STATUS_NOT_FOUND,
                             "%s: no tokenizer.json, vocab.txt, vocab.json, "
                             "sentencepiece.bpe.model or spiece.model",
                             dir);
  }
  return BERTC_OK;
}

static bool has_vocabulary(const tok_files_t *f) {
  return get_file(f, "tokenizer.json") || get_file(f, "vocab.txt") || get_file(f, "vocab.json") ||
         get_file(f, "sentencepiece.bpe.model") || get_file(f, "spiece.model");
}

bertc_status_t tok_load_dir(const char *dir, tok_tokenizer_t **out) {
  *out = NULL;
  tok_files_t f;
  BERTC_RETURN_IF_ERROR(read_dir(dir, &f));
  bertc_status_t s = tok_build(&f, out);
  files_free(&f);
  return bertc_status_annotate(s, "loading tokenizer from %s", dir);
}

static void put_u64le(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

bertc_status_t tok_pack_dir(const char *dir, uint8_t **out_blob, size_t *out_size) {
  *out_blob = NULL;
  *out_size = 0;
  tok_files_t f;
  BERTC_RETURN_IF_ERROR(read_dir(dir, &f));
  size_t total = 1;
  for (size_t i = 0; i < f.n; i++) {
    size_t rec = strlen(f.files[i].name) + 1 + 8;
    if (!base_add_size(total, rec, &total) || !base_add_size(total, f.files[i].size, &total)) {
      files_free(&f);
      return bertc_status_make(BERTC_STATUS_DATA, "%s: tokenizer files too large", dir);
    }
  }
  uint8_t *blob = malloc(total);
  if (!blob) {
    files_free(&f);
    return tok_oom();
  }
  size_t k = 0;
  for (size_t i = 0; i < f.n; i++) {
    size_t nl = strlen(f.files[i].name) + 1;
    memcpy(blob + k, f.files[i].name, nl);
    k += nl;
    put_u64le(blob + k, f.files[i].size);
    k += 8;
    if (f.files[i].size) memcpy(blob + k, f.files[i].data, f.files[i].size);
    k += f.files[i].size;
  }
  blob[k++] = 0;
  files_free(&f);
  *out_blob = blob;
  *out_size = k;
  return BERTC_OK;
}

bertc_status_t tok_load_blob(const uint8_t *blob, size_t size, tok_tokenizer_t **out) {
  *out = NULL;
  tok_files_t f = {.n = 0, .origin = "<blob>"};
  size_t k = 0;
  bertc_status_t s = BERTC_OK;
  for (size_t rec = 0;; rec++) {
    const uint8_t *nul = k < size ? memchr(blob + k, 0, size - k) : NULL;
    if (!nul) {
      s = bertc_status_make(BERTC_STATUS_DATA,
                            "tokenizer blob: record %zu at byte %zu: missing name terminator",
                            rec, k);
      break;
    }
    const char *name = (const char *)blob + k;
    k = (size_t)(nul - blob) + 1;
    if (!*name) break;
    const char *canonical;
    if (!is_known_name(name, &canonical) || get_file(&f, canonical) ||
        f.n == BASE_ARRAY_LEN(f.files)) {
      s = bertc_status_make(BERTC_STATUS_DATA, "tokenizer blob: unexpected file '%.64s'", name);
      break;
    }
    uint64_t len = 0;
    if (size - k < 8) {
      s = bertc_status_make(BERTC_STATUS_DATA, "tokenizer blob: '%s': truncated size", name);
      break;
    }
    for (int i = 0; i < 8; i++) len |= (uint64_t)blob[k + i] << (8 * i);
    k += 8;
    if (len > size - k || len > TOK_MAX_FILE_SIZE) {
      s = bertc_status_make(BERTC_STATUS_DATA,
                            "tokenizer blob: '%s' claims %llu bytes, %zu remain", name,
                            (unsigned long long)len, size - k);
      break;
    }
    tok_file_t *file = &f.files[f.n];
    file->data = malloc((size_t)len + 1);
    if (!file->data) {
      s = tok_oom();
      break;
    }
    if (len) memcpy(file->data, blob + k, (size_t)len);
    file->data[len] = '\0';
    file->size = (size_t)len;
    file->name = canonical;
    f.n++;
    k += (size_t)len;
  }
  if (!s && !has_vocabulary(&f))
    s = bertc_status_make(BERTC_STATUS_DATA, "tokenizer blob: no vocabulary file");
  if (!s) s = tok_build(&f, out);
  files_free(&f);
  return s;
}

/* ---- JSON helpers --------------------------------------------------------------- */

/* `flags` add to JSON_ALLOW_NUL; configs use JSON_DECODE_INT_AS_REAL because
 * transformers writes model_max_length as 1e30 spelled as an integer. */
static bertc_status_t parse_json(const tok_file_t *file, size_t flags, json_t **out) {
  json_error_t err;
  *out = json_loadb(file->data, file->size, JSON_ALLOW_NUL | flags, &err);
  if (!*out)
    return bertc_status_make(BERTC_STATUS_DATA, "%s: invalid JSON at line %d column %d: %s",
                             file->name, err.line, err.column, err.text);
  return BERTC_OK;
}

static bool get_bool(const json_t *obj, const char *key, bool dflt) {
  json_t *v = json_object_get(obj, key);
  return json_is_boolean(v) ? json_is_true(v) : dflt;
}

static const char *get_str(const json_t *obj, const char *key) {
  return json_string_value(json_object_get(obj, key));
}

const char *tok_json_token_name(const json_t *v) {
  if (json_is_string(v)) return json_string_value(v);
  if (json_is_object(v)) return get_str(v, "content");
  return NULL;
}

static bertc_status_t dup(const char *s, char **out) {
  *out = NULL;
  return s ? base_strdup(s, out) : BERTC_OK;
}

/* ---- Building --------------------------------------------------------------------- */

/* Looks a special token name up in special_tokens_map, then tokenizer_config. */
static const json_t *special_entry(const tok_docs_t *d, const char *key) {
  const json_t *v = d->stmap ? json_object_get(d->stmap, key) : NULL;
  if (!tok_json_token_name(v) && d->config) v = json_object_get(d->config, key);
  return tok_json_token_name(v) ? v : NULL;
}

const char *tok_special_name(const tok_docs_t *d, const char *key, const char *dflt) {
  const json_t *v = special_entry(d, key);
  return v ? tok_json_token_name(v) : dflt;
}

static bertc_status_t add_added(tok_tokenizer_t *t, const char *content, int32_t id, bool special,
                                bool single_word, bool lstrip, bool rstrip, bool normalized) {
  if (!content || !*content) return BERTC_OK;
  for (size_t i = 0; i < t->n_added; i++)
    if (strcmp(t->added[i].content, content) == 0) return BERTC_OK;
  tok_added_t *v = realloc(t->added, (t->n_added + 1) * sizeof *v);
  if (!v) return tok_oom();
  t->added = v;
  tok_added_t *a = &t->added[t->n_added];
  memset(a, 0, sizeof *a);
  BERTC_RETURN_IF_ERROR(base_strdup(content, &a->content));
  t->n_added++;
  /* Rust gives a token already in the model its model id. */
  int32_t model_id = tok_vocab_get(&t->model.vocab, content, strlen(content));
  a->id = model_id >= 0 ? model_id : id;
  a->special = special;
  a->single_word = single_word;
  a->lstrip = lstrip;
  a->rstrip = rstrip;
  a->normalized = normalized;
  if (a->id < 0)
    return bertc_status_make(BERTC_STATUS_DATA, "added token '%s' has no id", content);
  return BERTC_OK;
}

static bertc_status_t load_vocab_object(const json_t *vocab, const char *file, tok_vocab_t *v) {
  if (!json_is_object(vocab)) return bad_data("%s: vocabulary is not an object", file);
  const char *key;
  json_t *val;
  json_object_foreach((json_t *)vocab, key, val) {
    if (!json_is_integer(val) || json_integer_value(val) < 0 ||
        json_integer_value(val) > INT32_MAX)
      return bad_data("%s: id of token '%s' is not an integer in [0, 2^31)", file, key);
    BERTC_RETURN_IF_ERROR(tok_vocab_put(v, key, strlen(key), (int32_t)json_integer_value(val)));
  }
  return tok_vocab_finish(v);
}

/* vocab.txt: one token per line, id = line number, trailing whitespace trimmed
 * (WordPiece::read_file). */
static bertc_status_t load_vocab_txt(const tok_file_t *f, tok_vocab_t *v) {
  const char *p = f->data, *end = f->data + f->size;
  int32_t id = 0;
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *e = nl ? nl : end;
    const char *t = e;
    while (t > p) { /* trim_end: ASCII whitespace plus multi-byte White_Space */
      unsigned char c = (unsigned char)t[-1];
      if (c == ' ' || (c >= 0x09 && c <= 0x0D)) {
        t--;
      } else if (t - p >= 2 && (unsigned char)t[-2] == 0xC2 && (c == 0x85 || c == 0xA0)) {
        t -= 2;
      } else if (t - p >= 3 && (unsigned char)t[-3] == 0xE2 && (unsigned char)t[-2] == 0x80 &&
                 ((c >= 0x80 && c <= 0x8A) || c == 0xA8 || c == 0xA9 || c == 0xAF)) {
        t -= 3;
      } else if (t - p >= 3 && (unsigned char)t[-3] == 0xE3 && (unsigned char)t[-2] == 0x80 &&
                 c == 0x80) {
        t -= 3;
      } else {
        break;
      }
    }
    BERTC_RETURN_IF_ERROR(tok_vocab_put(v, p, (size_t)(t - p), id));
    if (id == INT32_MAX) return bad_data("%s: too many lines", f->name);
    id++;
    if (!nl) break;
    p = nl + 1;
  }
  if (v->count == 0) return bad_data("%s: empty vocabulary", f->name);
  return tok_vocab_finish(v);
}

/* merges.txt: "#version" lines skipped, then "left right" per line. */
static bertc_status_t load_merges_txt(const tok_file_t *f, tok_model_t *m) {
  size_t lines = 0;
  for (size_t i = 0; i < f->size; i++) lines += f->data[i] == '\n';
  const char *p = f->data, *end = f->data + f->size;
  uint32_t rank = 0;
  for (size_t line = 1; p < end; line++) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *e = nl ? nl : end;
    size_t n = (size_t)(e - p);
    if (n && p[n - 1] == '\r') n--;
    if (!(n >= 8 && memcmp(p, "#version", 8) == 0)) {
      const char *sp = memchr(p, ' ', n);
      if (!sp || memchr(sp + 1, ' ', (size_t)(p + n - sp - 1)))
        return bertc_status_make(BERTC_STATUS_DATA, "%s: line %zu: expected 'left right'",
                                 f->name, line);
      BERTC_RETURN_IF_ERROR(tok_bpe_add_merge(m, p, (size_t)(sp - p), sp + 1,
                                              (size_t)(p + n - sp - 1), rank++, lines + 1));
    }
    if (!nl) break;
    p = nl + 1;
  }
  return BERTC_OK;
}

/* Unigram: "vocab": [[piece, score], ...] (id = position), "unk_id", "byte_fallback". */
static bertc_status_t load_unigram_json(tok_model_t *m, const json_t *model) {
  const char *F = "tokenizer.json: model";
  m->kind = TOK_MODEL_UNIGRAM;
  m->fuse_unk = true;
  m->byte_fallback = get_bool(model, "byte_fallback", false);
  json_t *vocab = json_object_get(model, "vocab");
  if (!json_is_array(vocab)) return bad_data("%s.vocab is not an array", F);
  size_t n = json_array_size(vocab);
  if (n == 0 || n > INT32_MAX) return bad_data("%s.vocab is empty", F);
  m->scores = malloc(n * sizeof *m->scores);
  if (!m->scores) return tok_oom();
  for (size_t i = 0; i < n; i++) {
    json_t *e = json_array_get(vocab, i);
    json_t *piece = json_array_get(e, 0), *score = json_array_get(e, 1);
    if (!json_is_array(e) || json_array_size(e) != 2 || !json_is_string(piece) ||
        !json_is_number(score))
      return bad_data("%s.vocab[%zu] is not [piece, score]", F, i);
    double sc = json_number_value(score);
    if (!isfinite(sc)) return bad_data("%s.vocab[%zu]: the score is not finite", F, i);
    m->scores[i] = sc;
    BERTC_RETURN_IF_ERROR(tok_vocab_put(&m->vocab, json_string_value(piece),
                                        json_string_length(piece), (int32_t)i));
  }
  BERTC_RETURN_IF_ERROR(tok_vocab_finish(&m->vocab));
  json_t *unk = json_object_get(model, "unk_id");
  m->unk_id = -1;
  if (json_is_integer(unk)) {
    if (json_integer_value(unk) < 0 || json_integer_value(unk) >= (json_int_t)n)
      return bad_data("%s.unk_id %lld is not in the vocabulary (%zu pieces)", F,
                      (long long)json_integer_value(unk), n);
    m->unk_id = (int32_t)json_integer_value(unk);
  } else if (unk && !json_is_null(unk)) {
    return bad_data("%s.unk_id is not an integer", F);
  }
  return tok_unigram_finish(m, F);
}

static bertc_status_t load_model_json(tok_tokenizer_t *t, const json_t *model) {
  const char *F = "tokenizer.json: model";
  if (!json_is_object(model)) return bad_data("%s is missing", F);
  const char *type = get_str(model, "type");
  tok_model_t *m = &t->model;
  if (!type) type = json_object_get(model, "merges") ? "BPE" : "WordPiece";
  if (strcmp(type, "WordPiece") == 0) {
    m->kind = TOK_MODEL_WORDPIECE;
    const char *unk = get_str(model, "unk_token");
    const char *prefix = get_str(model, "continuing_subword_prefix");
    BERTC_RETURN_IF_ERROR(dup(unk ? unk : "[UNK]", &m->unk_token));
    BERTC_RETURN_IF_ERROR(dup(prefix ? prefix : "##", &m->continuing_prefix));
    json_t *mx = json_object_get(model, "max_input_chars_per_word");
    m->max_input_chars_per_word = json_is_integer(mx) && json_integer_value(mx) >= 0
                                      ? (size_t)json_integer_value(mx)
                                      : 100;
    return load_vocab_object(json_object_get(model, "vocab"), "tokenizer.json: model.vocab",
                             &m->vocab);
  }
  if (strcmp(type, "Unigram") == 0) return load_unigram_json(m, model);
  if (strcmp(type, "BPE") != 0)
    return bertc_status_make(BERTC_STATUS_UNSUPPORTED,
                             "%s: type '%s' is not supported (WordPiece, BPE and Unigram are)", F,
                             type);
  m->kind = TOK_MODEL_BPE;
  json_t *dropout = json_object_get(model, "dropout");
  if (json_is_number(dropout) && json_number_value(dropout) > 0.0)
    return bertc_status_make(BERTC_STATUS_UNSUPPORTED, "%s: BPE dropout is not supported", F);
  BERTC_RETURN_IF_ERROR(dup(get_str(model, "unk_token"), &m->unk_token));
  BERTC_RETURN_IF_ERROR(dup(get_str(model, "continuing_subword_prefix"), &m->continuing_prefix));
  BERTC_RETURN_IF_ERROR(dup(get_str(model, "end_of_word_suffix"), &m->end_of_word_suffix));
  m->fuse_unk = get_bool(model, "fuse_unk", false);
  m->byte_fallback = get_bool(model, "byte_fallback", false);
  m->ignore_merges = get_bool(model, "ignore_merges", false);
  BERTC_RETURN_IF_ERROR(load_vocab_object(json_object_get(model, "vocab"),
                                          "tokenizer.json: model.vocab", &m->vocab));
  json_t *merges = json_object_get(model, "merges");
  if (!json_is_array(merges)) return bad_data("%s.merges is not an array", F);
  size_t n = json_array_size(merges);
  for (size_t i = 0; i < n; i++) {
    json_t *mg = json_array_get(merges, i);
    const char *l = NULL, *r = NULL;
    size_t ll = 0, rl = 0;
    if (json_is_string(mg)) {
      const char *s = json_string_value(mg);
      const char *sp = strchr(s, ' ');
      if (sp) {
        l = s;
        ll = (size_t)(sp - s);
        r = sp + 1;
        rl = strlen(r);
      }
    } else if (json_is_array(mg) && json_array_size(mg) == 2 &&
               json_is_string(json_array_get(mg, 0)) && json_is_string(json_array_get(mg, 1))) {
      l = json_string_value(json_array_get(mg, 0));
      r = json_string_value(json_array_get(mg, 1));
      ll = strlen(l);
      rl = strlen(r);
    }
    if (!l)
      return bertc_status_make(BERTC_STATUS_DATA, "%s.merges[%zu]: expected \"a b\" or [a, b]",
                               F, i);
    BERTC_RETURN_IF_ERROR(tok_bpe_add_merge(m, l, ll, r, rl, (uint32_t)i, n));
  }
  return BERTC_OK;
}

static bertc_status_t add_norm(tok_tokenizer_t *t, tok_norm_step_t step) {
  tok_norm_step_t *v = realloc(t->norm, (t->n_norm + 1) * sizeof *v);
  if (!v) return tok_oom();
  t->norm = v;
  t->norm[t->n_norm++] = step;
  return BERTC_OK;
}

/* Adds a Replace step; the step owns the compiled pattern. */
static bertc_status_t add_replace(tok_tokenizer_t *t, const char *pattern, bool regex,
                                  const char *content, const char *what) {
  tok_replace_t *r = calloc(1, sizeof *r);
  if (!r) return tok_oom();
  bertc_status_t st = tok_replace_init(r, pattern, regex, content, what);
  if (!st) st = add_norm(t, (tok_norm_step_t){.kind = TOK_NORM_REPLACE, .replace = r});
  if (st) {
    tok_replace_deinit(r);
    free(r);
  }
  return st;
}

static bertc_status_t load_normalizer(tok_tokenizer_t *t, const json_t *n) {
  if (json_is_null(n) || !n) return BERTC_OK;
  const char *type = get_str(n, "type");
  if (!type) return bad_data("tokenizer.json: normalizer has no type");
  if (strcmp(type, "Sequence") == 0) {
    json_t *list = json_object_get(n, "normalizers");
    for (size_t i = 0; i < json_array_size(list); i++)
      BERTC_RETURN_IF_ERROR(load_normalizer(t, json_array_get(list, i)));
    return BERTC_OK;
  }
  if (strcmp(type, "BertNormalizer") == 0) {
    bool lower = get_bool(n, "lowercase", true);
    return add_norm(t, (tok_norm_step_t){.kind = TOK_NORM_BERT,
                                         .clean_text = get_bool(n, "clean_text", true),
                                         .handle_chinese_chars =
                                             get_bool(n, "handle_chinese_chars", true),
                                         .strip_accents = get_bool(n, "strip_accents", lower),
                                         .lowercase = lower});
  }
  if (strcmp(type, "Lowercase") == 0)
    return add_norm(t, (tok_norm_step_t){.kind = TOK_NORM_LOWERCASE});
  if (strcmp(type, "NFD") == 0) return add_norm(t, (tok_norm_step_t){.kind = TOK_NORM_NFD});
  if (strcmp(type, "StripAccents") == 0)
    return add_norm(t, (tok_norm_step_t){.kind = TOK_NORM_STRIP_ACCENTS});
  if (strcmp(type, "NFKD") == 0) return add_norm(t, (tok_norm_step_t){.kind = TOK_NORM_NFKD});
  if (strcmp(type, "NFKC") == 0) return add_norm(t, (tok_norm_step_t){.kind = TOK_NORM_NFKC});
  if (strcmp(type, "Strip") == 0)
    return add_norm(t, (tok_norm_step_t){.kind = TOK_NORM_STRIP,
                                         .strip_left = get_bool(n, "strip_left", true),
                                         .strip_right = get_bool(n, "strip_right", true)});
  if (strcmp(type, "Replace") == 0) {
    json_t *pat = json_object_get(n, "pattern");
    const char *lit = get_str(pat, "String"), *rx = get_str(pat, "Regex");
    const char *content = get_str(n, "content");
    if ((!lit && !rx) || !content)
      return bad_data("tokenizer.json: Replace normalizer needs pattern.String or "
                      "pattern.Regex and content");
    return add_replace(t, rx ? rx : lit, rx != NULL, content, "tokenizer.json: Replace");
  }
  if (strcmp(type, "Precompiled") == 0) {
    json_t *cm = json_object_get(n, "precompiled_charsmap");
    if (!json_is_string(cm) || json_string_length(cm) == 0)
      return bad_data("tokenizer.json: Precompiled normalizer without precompiled_charsmap");
    tok_charsmap_t *m = calloc(1, sizeof *m);
    if (!m) return tok_oom();
    bertc_status_t st = tok_charsmap_parse_base64(json_string_value(cm), json_string_length(cm),
                                                  "tokenizer.json: normalizer", m);
    if (!st) st = add_norm(t, (tok_norm_step_t){.kind = TOK_NORM_PRECOMPILED, .charsmap = m});
    if (st) {
      tok_charsmap_deinit(m);
      free(m);
    }
    return st;
  }
  return bertc_status_make(BERTC_STATUS_UNSUPPORTED,
                           "tokenizer.json: normalizer '%s' is not supported", type);
}

/* Metaspace's options (pre-tokenizer and decoder): replacement, prepend_scheme
 * (or the older add_prefix_space), split. */
bertc_status_t tok_metaspace_options(const json_t *p, const char *what, uint32_t *replacement,
                                     tok_prepend_t *prepend, bool *split) {
  const char *rep = get_str(p, "replacement");
  if (!rep) rep = get_str(p, "str_rep");
  if (!rep) rep = "\xE2\x96\x81";
  uint32_t cps[2];
  size_t n = 0;
  if (strlen(rep) > 4 || tok_utf8_decode(rep, strlen(rep), what, cps, &n) || n != 1)
    return bertc_status_make(BERTC_STATUS_DATA, "%s: replacement must be one character", what);
  *replacement = cps[0];
  const char *scheme = get_str(p, "prepend_scheme");
  if (scheme) {
    if (!strcmp(scheme, "always"))
      *prepend = TOK_PREPEND_ALWAYS;
    else if (!strcmp(scheme, "first"))
      *prepend = TOK_PREPEND_FIRST;
    else if (!strcmp(scheme, "never"))
      *prepend = TOK_PREPEND_NEVER;
    else
      return bertc_status_make(BERTC_STATUS_DATA, "%s: unknown prepend_scheme '%.32s'", what,
                               scheme);
  } else {
    *prepend = get_bool(p, "add_prefix_space", true) ? TOK_PREPEND_ALWAYS : TOK_PREPEND_NEVER;
  }
  *split = get_bool(p, "split", true);
  return BERTC_OK;
}

static bertc_status_t load_metaspace(tok_tokenizer_t *t, const json_t *p) {
  t->pre = TOK_PRE_METASPACE;
  return tok_metaspace_options(p, "tokenizer.json: pre_tokenizer Metaspace", &t->ms_replacement,
                               &t->ms_prepend, &t->ms_split);
}

static bertc_status_t load_pre_tokenizer(tok_tokenizer_t *t, const json_t *p) {
  if (!p || json_is_null(p)) {
    t->pre = TOK_PRE_NONE;
    return BERTC_OK;
  }
  const char *type = get_str(p, "type");
  if (type && strcmp(type, "Sequence") == 0) {
    json_t *list = json_object_get(p, "pretokenizers");
    if (json_array_size(list) == 1) return load_pre_tokenizer(t, json_array_get(list, 0));
    const char *t0 = get_str(json_array_get(list, 0), "type");
    const char *t1 = get_str(json_array_get(list, 1), "type");
    if (json_array_size(list) == 2 && t0 && t1 && !strcmp(t0, "WhitespaceSplit") &&
        !strcmp(t1, "Metaspace")) {
      BERTC_RETURN_IF_ERROR(load_metaspace(t, json_array_get(list, 1)));
      t->ms_ws_split = true;
      return BERTC_OK;
    }
    type = "Sequence (other than one step or WhitespaceSplit + Metaspace)";
  } else if (type && strcmp(type, "WhitespaceSplit") == 0) {
    t->pre = TOK_PRE_WHITESPACE_SPLIT;
    return BERTC_OK;
  } else if (type && strcmp(type, "Metaspace") == 0) {
    return load_metaspace(t, p);
  } else if (type && strcmp(type, "BertPreTokenizer") == 0) {
    t->pre = TOK_PRE_BERT;
    return BERTC_OK;
  } else if (type && strcmp(type, "ByteLevel") == 0) {
    t->pre = TOK_PRE_BYTELEVEL;
    t->bl_add_prefix_space = get_bool(p, "add_prefix_space", true);
    t->bl_use_regex = get_bool(p, "use_regex", true);
    return BERTC_OK;
  }
  return bertc_status_make(BERTC_STATUS_UNSUPPORTED,
                           "tokenizer.json: pre_tokenizer '%s' is not supported",
                           type ? type : "?");
}

/* ---- Post-processors (all become a template plus optional offset trimming) ---- */

static bertc_status_t tpl_special(tok_post_t *p, const char *name, const json_t *ids,
                                  const json_t *tokens, size_t *out_index) {
  for (size_t i = 0; i < p->n_specials; i++)
    if (strcmp(p->specials[i].name, name) == 0) {
      *out_index = i;
      return BERTC_OK;
    }
  size_t n = json_array_size(ids);
  if (n == 0 || n != json_array_size(tokens))
    return bertc_status_make(BERTC_STATUS_DATA,
                             "tokenizer.json: post_processor special token '%s' has %zu ids "
                             "and %zu tokens",
                             name, n, json_array_size(tokens));
  tok_tpl_special_t *v = realloc(p->specials, (p->n_specials + 1) * sizeof *v);
  if (!v) return tok_oom();
  p->specials = v;
  tok_tpl_special_t *s = &p->specials[p->n_specials];
  memset(s, 0, sizeof *s);
  p->n_specials++;
  BERTC_RETURN_IF_ERROR(base_strdup(name, &s->name));
  s->ids = calloc(n, sizeof *s->ids);
  s->tokens = calloc(n, sizeof *s->tokens);
  if (!s->ids || !s->tokens) return tok_oom();
  s->n = n;
  for (size_t i = 0; i < n; i++) {
    json_t *id = json_array_get(ids, i);
    const char *tok = json_string_value(json_array_get(tokens, i));
    if (!json_is_integer(id) || json_integer_value(id) < 0 || !tok)
      return bertc_status_make(BERTC_STATUS_DATA,
                               "tokenizer.json: post_processor special token '%s' is malformed",
                               name);
    s->ids[i] = (int32_t)json_integer_value(id);
    BERTC_RETURN_IF_ERROR(base_strdup(tok, &s->tokens[i]));
  }
  *out_index = p->n_specials - 1;
  return BERTC_OK;
}

static bertc_status_t tpl_add_special_pair(tok_post_t *p, const char *tok, int32_t id,
                                           size_t *out_index) {
  json_t *ids = json_pack("[i]", (json_int_t)id);
  json_t *toks = json_pack("[s]", tok);
  bertc_status_t s = ids && toks ? tpl_special(p, tok, ids, toks, out_index) : tok_oom();
  json_decref(ids);
  json_decref(toks);
  return s;
}

/* cls A sep (sep2 B sep): the shape of BertProcessing and RobertaProcessing. */
static bertc_status_t tpl_classic(tok_post_t *p, const char *cls, int32_t cls_id, const char *sep,
                                  int32_t sep_id, bool roberta) {
  size_t ci, si;
  BERTC_RETURN_IF_ERROR(tpl_add_special_pair(p, cls, cls_id, &ci));
  BERTC_RETURN_IF_ERROR(tpl_add_special_pair(p, sep, sep_id, &si));
  int32_t b = roberta ? 0 : 1;
  static const size_t n_single = 3;
  p->single = calloc(n_single, sizeof *p->single);
  p->pair = calloc(6, sizeof *p->pair);
  if (!p->single || !p->pair) return tok_oom();
  p->single[0] = (tok_tpl_item_t){-1, ci, 0};
  p->single[1] = (tok_tpl_item_t){0, 0, 0};
  p->single[2] = (tok_tpl_item_t){-1, si, 0};
  p->n_single = n_single;
  memcpy(p->pair, p->single, n_single * sizeof *p->pair);
  size_t k = 3;
  if (roberta) p->pair[k++] = (tok_tpl_item_t){-1, si, 0};
  p->pair[k++] = (tok_tpl_item_t){1, 0, b};
  p->pair[k++] = (tok_tpl_item_t){-1, si, b};
  p->n_pair = k;
  p->has_template = true;
  return BERTC_OK;
}

static bertc_status_t tpl_items(tok_post_t *p, const json_t *list, const json_t *specials,
                                tok_tpl_item_t **out, size_t *out_n) {
  size_t n = json_array_size(list);
  *out = calloc(n ? n : 1, sizeof **out);
  if (!*out) return tok_oom();
  *out_n = n;
  for (size_t i = 0; i < n; i++) {
    json_t *item = json_array_get(list, i);
    json_t *sp = json_object_get(item, "SpecialToken");
    json_t *seq = json_object_get(item, "Sequence");
    json_t *obj = sp ? sp : seq;
    const char *id = get_str(obj, "id");
    json_t *ty = json_object_get(obj, "type_id");
    if (!id || (!sp && !seq))
      return bertc_status_make(BERTC_STATUS_DATA,
                               "tokenizer.json: post_processor template item %zu is malformed", i);
    int32_t type_id = json_is_integer(ty) ? (int32_t)json_integer_value(ty) : 0;
    if (seq) {
      if (strcmp(id, "A") && strcmp(id, "B"))
        return bertc_status_make(BERTC_STATUS_DATA,
                                 "tokenizer.json: template sequence '%s' is not A or B", id);
      (*out)[i] = (tok_tpl_item_t){id[0] == 'A' ? 0 : 1, 0, type_id};
    } else {
      json_t *def = json_object_get(specials, id);
      if (!def)
        return bertc_status_make(BERTC_STATUS_DATA,
                                 "tokenizer.json: template special token '%s' is not defined",
                                 id);
      size_t index;
      BERTC_RETURN_IF_ERROR(tpl_special(p, id, json_object_get(def, "ids"),
                                        json_object_get(def, "tokens"), &index));
      (*out)[i] = (tok_tpl_item_t){-1, index, type_id};
    }
  }
  return BERTC_OK;
}

static bertc_status_t pair_field(const json_t *pp, const char *key, const char **tok,
                                 int32_t *id) {
  json_t *v = json_object_get(pp, key);
  *tok = json_string_value(json_array_get(v, 0));
  json_t *i = json_array_get(v, 1);
  if (!*tok || !json_is_integer(i) || json_integer_value(i) < 0)
    return bertc_status_make(BERTC_STATUS_DATA,
                             "tokenizer.json: post_processor.%s must be [token, id]", key);
  *id = (int32_t)json_integer_value(i);
  return BERTC_OK;
}

static bertc_status_t load_post(tok_tokenizer_t *t, const json_t *pp) {
  tok_post_t *p = &t->post;
  if (!pp || json_is_null(pp)) return BERTC_OK;
  const char *type = get_str(pp, "type");
  if (!type) return bad_data("tokenizer.json: post_processor has no type");
  if (strcmp(type, "Sequence") == 0) {
    json_t *list = json_object_get(pp, "processors");
    for (size_t i = 0; i < json_array_size(list); i++)
      BERTC_RETURN_IF_ERROR(load_post(t, json_array_get(list, i)));
    return BERTC_OK;
  }
  if (strcmp(type, "ByteLevel") == 0) {
    p->trim_offsets = get_bool(pp, "trim_offsets", true);
    p->trim_add_prefix_space = get_bool(pp, "add_prefix_space", true);
    return BERTC_OK;
  }
  if (p->has_template)
    return bertc_status_make(BERTC_STATUS_UNSUPPORTED,
                             "tokenizer.json: more than one special-token post_processor");
  if (strcmp(type, "TemplateProcessing") == 0) {
    json_t *specials = json_object_get(pp, "special_tokens");
    BERTC_RETURN_IF_ERROR(
        tpl_items(p, json_object_get(pp, "single"), specials, &p->single, &p->n_single));
    BERTC_RETURN_IF_ERROR(
        tpl_items(p, json_object_get(pp, "pair"), specials, &p->pair, &p->n_pair));
    p->has_template = true;
    return BERTC_OK;
  }
  bool roberta = strcmp(type, "RobertaProcessing") == 0;
  if (roberta || strcmp(type, "BertProcessing") == 0) {
    const char *cls, *sep;
    int32_t cls_id, sep_id;
    BERTC_RETURN_IF_ERROR(pair_field(pp, "cls", &cls, &cls_id));
    BERTC_RETURN_IF_ERROR(pair_field(pp, "sep", &sep, &sep_id));
    if (roberta) {
      p->trim_offsets = get_bool(pp, "trim_offsets", true);
      p->trim_add_prefix_space = get_bool(pp, "add_prefix_space", true);
    }
    return tpl_classic(p, cls, cls_id, sep, sep_id, roberta);
  }
  return bertc_status_make(BERTC_STATUS_UNSUPPORTED,
                           "tokenizer.json: post_processor '%s' is not supported", type);
}

static bertc_status_t load_tokenizer_json(tok_tokenizer_t *t, const json_t *tj) {
  if (!json_is_object(tj)) return bad_data("tokenizer.json: not an object");
  BERTC_RETURN_IF_ERROR(load_model_json(t, json_object_get(tj, "model")));
  BERTC_RETURN_IF_ERROR(load_normalizer(t, json_object_get(tj, "normalizer")));
  BERTC_RETURN_IF_ERROR(load_pre_tokenizer(t, json_object_get(tj, "pre_tokenizer")));
  BERTC_RETURN_IF_ERROR(load_post(t, json_object_get(tj, "post_processor")));
  json_t *added = json_object_get(tj, "added_tokens");
  for (size_t i = 0; i < json_array_size(added); i++) {
    json_t *a = json_array_get(added, i);
    json_t *id = json_object_get(a, "id");
    const char *content = get_str(a, "content");
    if (!content || !json_is_integer(id) || json_integer_value(id) < 0 ||
        json_integer_value(id) > INT32_MAX)
      return bertc_status_make(BERTC_STATUS_DATA, "tokenizer.json: added_tokens[%zu] is malformed",
                               i);
    bool special = get_bool(a, "special", false);
    BERTC_RETURN_IF_ERROR(add_added(t, content, (int32_t)json_integer_value(id), special,
                                    get_bool(a, "single_word", false), get_bool(a, "lstrip", false),
                                    get_bool(a, "rstrip", false),
                                    get_bool(a, "normalized", !special)));
  }
  json_t *trunc = json_object_get(tj, "truncation");
  const char *dir = get_str(trunc, "direction");
  t->trunc_left = dir && strcmp(dir, "Left") == 0;
  json_t *pad = json_object_get(tj, "padding");
  json_t *pad_id = json_object_get(pad, "pad_id");
  if (json_is_integer(pad_id)) t->pad_id = (int32_t)json_integer_value(pad_id);
  return BERTC_OK;
}

/* Special tokens of the older files: tokenizer_config's added_tokens_decoder
 * when present (it carries the flags), else the named special tokens. */
static bertc_status_t legacy_added(tok_tokenizer_t *t, const tok_docs_t *d,
                                   const char *const *keys, size_t n_keys) {
  json_t *dec = d->config ? json_object_get(d->config, "added_tokens_decoder") : NULL;
  if (json_is_object(dec)) {
    const char *key;
    json_t *v;
    json_object_foreach(dec, key, v) {
      const char *content = get_str(v, "content");
      char *endp;
      long id = strtol(key, &endp, 10);
      if (!content || *endp || id < 0 || id > INT32_MAX)
        return bertc_status_make(BERTC_STATUS_DATA,
                                 "tokenizer_config.json: added_tokens_decoder['%s'] is malformed",
                                 key);
      bool special = get_bool(v, "special", true);
      BERTC_RETURN_IF_ERROR(add_added(t, content, (int32_t)id, special,
                                      get_bool(v, "single_word", false),
                                      get_bool(v, "lstrip", false), get_bool(v, "rstrip", false),
                                      get_bool(v, "normalized", !special)));
    }
    return BERTC_OK;
  }
  for (size_t i = 0; i < n_keys; i++) {
    const json_t *v = special_entry(d, keys[i]);
    const char *name = v ? tok_json_token_name(v) : NULL;
    if (!name) continue;
    int32_t id = tok_vocab_get(&t->model.vocab, name, strlen(name));
    if (id < 0) continue; /* transformers would append it; a vocab without it is unusual */
    bool obj = json_is_object(v);
    BERTC_RETURN_IF_ERROR(add_added(t, name, id, true, obj && get_bool(v, "single_word", false),
                                    obj && get_bool(v, "lstrip", false),
                                    obj && get_bool(v, "rstrip", false),
                                    obj && get_bool(v, "normalized", false)));
  }
  return BERTC_OK;
}

static bertc_status_t need_id(const tok_tokenizer_t *t, const char *file, const char *what,
                              const char *name, int32_t *id) {
  *id = tok_vocab_get(&t->model.vocab, name, strlen(name));
  if (*id < 0)
    return bertc_status_make(BERTC_STATUS_DATA, "%s: %s token '%s' is not in the vocabulary",
                             file, what, name);
  return BERTC_OK;
}

static bertc_status_t load_legacy_wordpiece(tok_tokenizer_t *t, const tok_file_t *vocab,
                                            const tok_docs_t *d) {
  tok_model_t *m = &t->model;
  m->kind = TOK_MODEL_WORDPIECE;
  m->max_input_chars_per_word = 100;
  BERTC_RETURN_IF_ERROR(load_vocab_txt(vocab, &m->vocab));
  BERTC_RETURN_IF_ERROR(dup(tok_special_name(d, "unk_token", "[UNK]"), &m->unk_token));
  BERTC_RETURN_IF_ERROR(dup("##", &m->continuing_prefix));
  const json_t *c = d->config;
  bool lower = c ? get_bool(c, "do_lower_case", true) : true;
  json_t *sa = c ? json_object_get(c, "strip_accents") : NULL;
  bool strip = json_is_boolean(sa) ? json_is_true(sa) : lower;
  BERTC_RETURN_IF_ERROR(add_norm(
      t, (tok_norm_step_t){.kind = TOK_NORM_BERT,
                           .clean_text = true,
                           .handle_chinese_chars =
                               c ? get_bool(c, "tokenize_chinese_chars", true) : true,
                           .strip_accents = strip,
                           .lowercase = lower}));
  t->pre = TOK_PRE_BERT;
  const char *cls = tok_special_name(d, "cls_token", "[CLS]");
  const char *sep = tok_special_name(d, "sep_token", "[SEP]");
  int32_t cls_id, sep_id;
  BERTC_RETURN_IF_ERROR(need_id(t, "vocab.txt", "cls", cls, &cls_id));
  BERTC_RETURN_IF_ERROR(need_id(t, "vocab.txt", "sep", sep, &sep_id));
  BERTC_RETURN_IF_ERROR(tpl_classic(&t->post, cls, cls_id, sep, sep_id, false));
  static const char *const keys[] = {"pad_token", "unk_token", "cls_token", "sep_token",
                                     "mask_token"};
  return legacy_added(t, d, keys, BASE_ARRAY_LEN(keys));
}

static bertc_status_t load_legacy_bpe(tok_tokenizer_t *t, const tok_file_t *vocab,
                                      const tok_file_t *merges, const tok_docs_t *d) {
  if (!merges)
    return bertc_status_make(BERTC_STATUS_NOT_FOUND, "vocab.json without merges.txt");
  tok_model_t *m = &t->model;
  m->kind = TOK_MODEL_BPE;
  json_t *vj;
  BERTC_RETURN_IF_ERROR(parse_json(vocab, 0, &vj));
  bertc_status_t s = load_vocab_object(vj, "vocab.json", &m->vocab);
  json_decref(vj);
  BERTC_RETURN_IF_ERROR(s);
  BERTC_RETURN_IF_ERROR(load_merges_txt(merges, m));
  const json_t *c = d->config;
  bool prefix = c ? get_bool(c, "add_prefix_space", false) : false;
  bool trim = c ? get_bool(c, "trim_offsets", true) : true;
  const char *cls_name = c ? get_str(c, "tokenizer_class") : NULL;
  t->pre = TOK_PRE_BYTELEVEL;
  t->bl_add_prefix_space = prefix;
  t->bl_use_regex = true;
  if (cls_name && strstr(cls_name, "GPT2")) {
    t->post.trim_offsets = false;
  } else {
    const char *cls = tok_special_name(d, "cls_token", "<s>");
    const char *sep = tok_special_name(d, "sep_token", "</s>");
    int32_t cls_id, sep_id;
    BERTC_RETURN_IF_ERROR(need_id(t, "vocab.json", "cls", cls, &cls_id));
    BERTC_RETURN_IF_ERROR(need_id(t, "vocab.json", "sep", sep, &sep_id));
    BERTC_RETURN_IF_ERROR(tpl_classic(&t->post, cls, cls_id, sep, sep_id, true));
    t->post.trim_offsets = trim;
    t->post.trim_add_prefix_space = prefix;
  }
  static const char *const keys[] = {"bos_token", "pad_token", "eos_token", "unk_token",
                                     "cls_token", "sep_token", "mask_token"};
  return legacy_added(t, d, keys, BASE_ARRAY_LEN(keys));
}

/* A SentencePiece model file with the id layout and pipeline of
 * transformers' tokenizer class (XLMRobertaTokenizer or AlbertTokenizer,
 * from tokenizer_config's tokenizer_class or else the file's name):
 *   XLM-R:  <s> <pad> </s> <unk>, the file's pieces from the fourth on (the
 *           fairseq offset: file id + 1), <mask> last; unk id 3; Precompiled;
 *           <s> A </s> (</s> B </s>), all type 0.
 *   ALBERT: the file's pieces as they are; its unk_id; Replace `` and '' by
 *           ", NFKD + StripAccents unless keep_accents, Lowercase when
 *           do_lower_case (default), Precompiled; [CLS] A [SEP] (B [SEP] type 1).
 * Both: WhitespaceSplit + Metaspace ("always", or "never" when
 * add_prefix_space is false), the Metaspace decoder, and the control pieces
 * and named special tokens as special added tokens. */
static bertc_status_t load_legacy_spm(tok_tokenizer_t *t, const tok_file_t *f,
                                      const tok_docs_t *d) {
  const json_t *c = d->config;
  const char *cls_name = c ? get_str(c, "tokenizer_class") : NULL;
  bool albert = cls_name ? strstr(cls_name, "Albert") != NULL : !strcmp(f->name, "spiece.model");
  if (cls_name && !albert && !strstr(cls_name, "XLMRoberta"))
    return bertc_status_make(BERTC_STATUS_UNSUPPORTED,
                             "%s: tokenizer_class '%s' is not supported with a SentencePiece "
                             "model (XLMRobertaTokenizer and AlbertTokenizer are)",
                             f->name, cls_name);
  tok_spm_model_t spm;
  BERTC_RETURN_IF_ERROR(tok_spm_parse((const uint8_t *)f->data, f->size, f->name, &spm));
  bertc_status_t s = BERTC_OK;
  tok_model_t *m = &t->model;
  m->kind = TOK_MODEL_UNIGRAM;
  m->fuse_unk = true;
  m->byte_fallback = spm.byte_fallback;
  if (spm.model_type != 1)
    s = bertc_status_make(BERTC_STATUS_UNSUPPORTED,
                          "%s: SentencePiece model type %d is not supported (Unigram is)",
                          f->name, spm.model_type);
  size_t n = spm.n_pieces + (albert ? 0 : 2);
  if (!s && !albert && spm.n_pieces < 3)
    s = bertc_status_make(BERTC_STATUS_DATA, "%s: fewer than 3 pieces", f->name);
  if (!s) {
    m->scores = malloc(n * sizeof *m->scores);
    if (!m->scores) s = tok_oom();
  }
  int32_t id = 0;
  if (!s && !albert) {
    const char *first[4] = {tok_special_name(d, "bos_token", "<s>"),
                            tok_special_name(d, "pad_token", "<pad>"),
                            tok_special_name(d, "eos_token", "</s>"),
                            tok_special_name(d, "unk_token", "<unk>")};
    for (int i = 0; i < 4 && !s; i++, id++) {
      m->scores[id] = 0.0;
      s = tok_vocab_put(&m->vocab, first[i], strlen(first[i]), id);
    }
  }
  for (size_t i = albert ? 0 : 3; i < spm.n_pieces && !s; i++, id++) {
    m->scores[id] = spm.pieces[i].score;
    s = tok_vocab_put(&m->vocab, spm.pieces[i].piece, strlen(spm.pieces[i].piece), id);
  }
  if (!s && !albert) {
    const char *mask = tok_special_name(d, "mask_token", "<mask>");
    m->scores[id] = 0.0;
    s = tok_vocab_put(&m->vocab, mask, strlen(mask), id);
  }
  if (!s) s = tok_vocab_finish(&m->vocab);
  if (!s) {
    m->unk_id = albert ? spm.unk_id : 3;
    s = tok_unigram_finish(m, f->name);
  }
  if (!s && albert) {
    bool keep_accents = c ? get_bool(c, "keep_accents", false) : false;
    bool lower = c ? get_bool(c, "do_lower_case", true) : true;
    s = add_replace(t, "``", false, "\"", f->name);
    if (!s) s = add_replace(t, "''", false, "\"", f->name);
    if (!s && !keep_accents) s = add_norm(t, (tok_norm_step_t){.kind = TOK_NORM_NFKD});
    if (!s && !keep_accents) s = add_norm(t, (tok_norm_step_t){.kind = TOK_NORM_STRIP_ACCENTS});
    if (!s && lower) s = add_norm(t, (tok_norm_step_t){.kind = TOK_NORM_LOWERCASE});
  }
  if (!s && spm.charsmap_size) {
    tok_charsmap_t *cm = calloc(1, sizeof *cm);
    if (!cm) s = tok_oom();
    if (!s) s = tok_charsmap_parse(spm.charsmap, spm.charsmap_size, f->name, cm);
    if (!s) s = add_norm(t, (tok_norm_step_t){.kind = TOK_NORM_PRECOMPILED, .charsmap = cm});
    if (s && cm) {
      tok_charsmap_deinit(cm);
      free(cm);
    }
  }
  if (!s) {
    t->pre = TOK_PRE_METASPACE;
    t->ms_ws_split = true;
    t->ms_split = true;
    t->ms_replacement = 0x2581;
    t->ms_prepend = (c ? get_bool(c, "add_prefix_space", true) : true) ? TOK_PREPEND_ALWAYS
                                                                      : TOK_PREPEND_NEVER;
  }
  if (!s) {
    const char *cls = tok_special_name(d, "cls_token", albert ? "[CLS]" : "<s>");
    const char *sep = tok_special_name(d, "sep_token", albert ? "[SEP]" : "</s>");
    if (!albert) { /* XLM-R's template names bos and eos */
      cls = tok_special_name(d, "bos_token", "<s>");
      sep = tok_special_name(d, "eos_token", "</s>");
    }
    int32_t cls_id, sep_id;
    s = need_id(t, f->name, "cls", cls, &cls_id);
    if (!s) s = need_id(t, f->name, "sep", sep, &sep_id);
    if (!s) s = tpl_classic(&t->post, cls, cls_id, sep, sep_id, !albert);
  }
  static const char *const keys[] = {"bos_token", "eos_token", "unk_token", "sep_token",
                                     "pad_token", "cls_token", "mask_token"};
  if (!s) s = legacy_added(t, d, keys, BASE_ARRAY_LEN(keys));
  for (size_t i = 0; !s && i < spm.n_pieces; i++) {
    if (spm.pieces[i].type != 3) continue; /* control pieces are special tokens */
    const char *p = spm.pieces[i].piece;
    int32_t pid = tok_vocab_get(&m->vocab, p, strlen(p));
    if (pid >= 0) s = add_added(t, p, pid, true, false, false, false, false);
  }
  tok_spm_deinit(&spm);
  return s;
}

static int32_t find_named_id(const tok_tokenizer_t *t, const tok_docs_t *d, const char *key,
                             const char *const *fallbacks) {
  const char *name = tok_special_name(d, key, NULL);
  if (name) return tok_token_id(t, name);
  for (size_t i = 0; fallbacks[i]; i++) {
    int32_t id = tok_token_id(t, fallbacks[i]);
    if (id >= 0) return id;
  }
  return -1;
}

static bertc_status_t build(tok_tokenizer_t *t, const tok_files_t *f, tok_docs_t *d) {
  const tok_file_t *tj = get_file(f, "tokenizer.json");
  const tok_file_t *cfg = get_file(f, "tokenizer_config.json");
  const tok_file_t *stm = get_file(f, "special_tokens_map.json");
  bool legacy_bpe = false;
  if (cfg) BERTC_RETURN_IF_ERROR(parse_json(cfg, JSON_DECODE_INT_AS_REAL, &d->config));
  if (stm) BERTC_RETURN_IF_ERROR(parse_json(stm, JSON_DECODE_INT_AS_REAL, &d->stmap));
  if (tj) {
    BERTC_RETURN_IF_ERROR(parse_json(tj, 0, &d->tj));
    BERTC_RETURN_IF_ERROR(load_tokenizer_json(t, d->tj));
  } else if (get_file(f, "vocab.txt")) {
    BERTC_RETURN_IF_ERROR(load_legacy_wordpiece(t, get_file(f, "vocab.txt"), d));
  } else if (get_file(f, "sentencepiece.bpe.model") || get_file(f, "spiece.model")) {
    const tok_file_t *spm = get_file(f, "sentencepiece.bpe.model");
    BERTC_RETURN_IF_ERROR(load_legacy_spm(t, spm ? spm : get_file(f, "spiece.model"), d));
  } else {
    legacy_bpe = true;
    BERTC_RETURN_IF_ERROR(
        load_legacy_bpe(t, get_file(f, "vocab.json"), get_file(f, "merges.txt"), d));
  }
  if (t->model.unk_token && t->model.kind != TOK_MODEL_UNIGRAM)
    t->model.unk_id = tok_vocab_get(&t->model.vocab, t->model.unk_token,
                                    strlen(t->model.unk_token));
  BERTC_RETURN_IF_ERROR(tok_added_finish(t));
  static const char *const pads[] = {"[PAD]", "<pad>", NULL};
  static const char *const masks[] = {"[MASK]", "<mask>", NULL};
  int32_t pad = find_named_id(t, d, "pad_token", pads);
  if (pad >= 0 || t->pad_id < 0) t->pad_id = pad;
  t->mask_id = find_named_id(t, d, "mask_token", masks);
  return tok_decoder_load(t, d, legacy_bpe);
}

bertc_status_t tok_build(const tok_files_t *f, tok_tokenizer_t **out) {
  *out = NULL;
  tok_tokenizer_t *t = calloc(1, sizeof *t);
  if (!t) return tok_oom();
  t->pad_id = -1;
  t->mask_id = -1;
  t->model.unk_id = -1;
  tok_docs_t d = {0};
  bertc_status_t s = build(t, f, &d);
  json_decref(d.tj);
  json_decref(d.config);
  json_decref(d.stmap);
  if (s) {
    tok_release(t);
    return s;
  }
  *out = t;
  return BERTC_OK;
}
