/* Tokenizers: parity with HuggingFace `tokenizers` on the generated corpus
 * (scripts/make_tokenizer_corpus.py), the public test vectors of transformers'
 * test_tokenization_bert.py and of tokenizers' test_bert_wordpiece.py, the
 * packed-blob round trip, truncation rules and errors. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <utf8proc.h>

#include "tests/testutil.h"
#include "base/base.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/internal.h"

/* ---- Helpers --------------------------------------------------------------------- */

static char *fixture(const char *rel) {
  char buf[512];
  snprintf(buf, sizeof buf, "tests/fixtures/tokenizer/%s", rel);
  return tu_source_path(buf);
}

/* A fresh scratch directory (trailing slash removed, stale files deleted). */
static char *scratch_dir(const char *name) {
  char buf[256];
  snprintf(buf, sizeof buf, "tokenizer/%s/", name);
  char *p = tu_scratch_path(buf);
  p[strlen(p) - 1] = '\0';
  static const char *const names[] = {"tokenizer.json",          "tokenizer_config.json",
                                      "special_tokens_map.json", "vocab.txt",
                                      "vocab.json",              "merges.txt",
                                      "sentencepiece.bpe.model", "spiece.model"};
  for (size_t i = 0; i < BASE_ARRAY_LEN(names); i++) {
    char *f = NULL;
    TU_ASSERT_OK(base_path_join(p, names[i], &f));
    unlink(f);
    free(f);
  }
  return p;
}

static void write_in(const char *dir, const char *name, const char *data) {
  char *f = NULL;
  TU_ASSERT_OK(base_path_join(dir, name, &f));
  tu_write_file(f, data, strlen(data));
  free(f);
}

static void copy_in(const char *from_dir, const char *to_dir, const char *name) {
  char *src = NULL, *dst = NULL, *data = NULL;
  size_t size = 0;
  TU_ASSERT_OK(base_path_join(from_dir, name, &src));
  TU_ASSERT_OK(base_path_join(to_dir, name, &dst));
  TU_ASSERT_OK(base_read_file(src, (size_t)1 << 30, &data, &size));
  tu_write_file(dst, data, size);
  free(data);
  free(src);
  free(dst);
}

static tok_tokenizer_t *load(const char *dir) {
  tok_tokenizer_t *t = NULL;
  TU_ASSERT_OK(tok_load_dir(dir, &t));
  assert_non_null(t);
  return t;
}

static tok_tokenizer_t *load_fixture(const char *rel) {
  char *dir = fixture(rel);
  tok_tokenizer_t *t = load(dir);
  free(dir);
  return t;
}

/* Encodes and checks the tokens (space separated) and optionally ids. */
static void expect_tokens(const tok_tokenizer_t *t, const char *text, const char *pair,
                          const char *want) {
  tok_encoding_t e;
  TU_ASSERT_OK(tok_encode(t, text, strlen(text), pair, pair ? strlen(pair) : 0, 0,
                                   TOK_TRUNC_LONGEST_FIRST, &e));
  char got[2048] = "";
  for (size_t i = 0; i < e.len; i++) {
    if (i) strncat(got, " ", sizeof got - strlen(got) - 1);
    strncat(got, e.tokens[i], sizeof got - strlen(got) - 1);
  }
  tok_encoding_deinit(&e);
  if (strcmp(got, want) != 0) fail_msg("'%s': got [%s], want [%s]", text, got, want);
}

static void expect_offsets(const tok_tokenizer_t *t, const char *text, const int32_t *want,
                           size_t n) {
  tok_encoding_t e;
  TU_ASSERT_OK(tok_encode(t, text, strlen(text), NULL, 0, 0, TOK_TRUNC_LONGEST_FIRST,
                                   &e));
  assert_int_equal(e.len, n);
  for (size_t i = 0; i < n; i++) {
    if (e.offsets[2 * i] != want[2 * i] || e.offsets[2 * i + 1] != want[2 * i + 1])
      fail_msg("'%s' token %zu '%s': offsets (%d,%d), want (%d,%d)", text, i, e.tokens[i],
               e.offsets[2 * i], e.offsets[2 * i + 1], want[2 * i], want[2 * i + 1]);
  }
  tok_encoding_deinit(&e);
}

/* ---- Corpus parity --------------------------------------------------------------- */

typedef struct {
  json_t **lines; /* corpus.jsonl rows by id */
  size_t n;
} corpus_t;

static json_t *load_jsonl_line(const char *line, size_t len, const char *what, size_t lineno) {
  json_error_t err;
  json_t *j = json_loadb(line, len, JSON_ALLOW_NUL, &err);
  if (!j) fail_msg("%s:%zu: %s", what, lineno, err.text);
  return j;
}

static void corpus_load(corpus_t *c) {
  char *path = fixture("corpus.jsonl"), *data = NULL;
  size_t size = 0;
  TU_ASSERT_OK(base_read_file(path, (size_t)64 << 20, &data, &size));
  c->n = 0;
  for (size_t i = 0; i < size; i++) c->n += data[i] == '\n';
  c->lines = calloc(c->n + 1, sizeof *c->lines);
  assert_non_null(c->lines);
  size_t k = 0;
  for (char *p = data; p < data + size && k < c->n; k++) {
    char *nl = memchr(p, '\n', (size_t)(data + size - p));
    json_t *j = load_jsonl_line(p, (size_t)(nl - p), path, k + 1);
    assert_int_equal(json_integer_value(json_object_get(j, "id")), (json_int_t)k);
    c->lines[k] = j;
    p = nl + 1;
  }
  free(data);
  free(path);
}

static void corpus_free(corpus_t *c) {
  for (size_t i = 0; i < c->n; i++) json_decref(c->lines[i]);
  free(c->lines);
}

static tok_trunc_strategy_t strategy_of(const char *s) {
  if (strcmp(s, "only_first") == 0) return TOK_TRUNC_ONLY_FIRST;
  if (strcmp(s, "only_second") == 0) return TOK_TRUNC_ONLY_SECOND;
  return TOK_TRUNC_LONGEST_FIRST;
}

static void print_case(const char *label, const tok_encoding_t *e, const json_t *want) {
  print_error("    want tokens:");
  json_t *v;
  size_t i;
  json_array_foreach(json_object_get(want, "tokens"), i, v) {
    json_t *o = json_array_get(json_object_get(want, "offsets"), i);
    print_error(" %s(%d)[%d,%d]", json_string_value(v),
                (int)json_integer_value(json_array_get(json_object_get(want, "ids"), i)),
                (int)json_integer_value(json_array_get(o, 0)),
                (int)json_integer_value(json_array_get(o, 1)));
  }
  print_error("\n    %s tokens: ", label);
  for (i = 0; e && i < e->len; i++)
    print_error(" %s(%d)[%d,%d]", e->tokens[i], e->ids[i], e->offsets[2 * i],
                e->offsets[2 * i + 1]);
  print_error("\n");
}

/* Returns a description of the first difference, or NULL. */
static const char *compare(const tok_encoding_t *e, const json_t *want) {
  json_t *ids = json_object_get(want, "ids"), *types = json_object_get(want, "type_ids");
  json_t *offs = json_object_get(want, "offsets"), *toks = json_object_get(want, "tokens");
  if (e->len != json_array_size(ids)) return "length";
  for (size_t i = 0; i < e->len; i++) {
    if (e->ids[i] != json_integer_value(json_array_get(ids, i))) return "ids";
    if (e->type_ids[i] != json_integer_value(json_array_get(types, i))) return "type_ids";
    json_t *o = json_array_get(offs, i);
    if (e->offsets[2 * i] != json_integer_value(json_array_get(o, 0)) ||
        e->offsets[2 * i + 1] != json_integer_value(json_array_get(o, 1)))
      return "offsets";
    if (strcmp(e->tokens[i], json_string_value(json_array_get(toks, i))) != 0) return "tokens";
    if (e->attention_mask[i] != 1) return "attention_mask";
    bool special = e->sequence_ids[i] < 0;
    if (special && (e->offsets[2 * i] != 0 || e->offsets[2 * i + 1] != 0))
      return "special offsets";
    json_t *words = json_object_get(want, "word_ids");
    if (words && e->word_ids[i] != json_integer_value(json_array_get(words, i)))
      return "word_ids";
  }
  return NULL;
}

static void check_parity_min(const char *label, const tok_tokenizer_t *t,
                             const char *expected_rel, size_t min_lines);

static void check_parity(const char *label, const tok_tokenizer_t *t, const char *expected_rel) {
  check_parity_min(label, t, expected_rel, 800);
}

static void check_parity_min(const char *label, const tok_tokenizer_t *t,
                             const char *expected_rel, size_t min_lines) {
  corpus_t c;
  corpus_load(&c);
  char *path = fixture(expected_rel), *data = NULL;
  size_t size = 0;
  TU_ASSERT_OK(base_read_file(path, (size_t)64 << 20, &data, &size));
  size_t lines = 0, matched = 0, cases = 0, failures = 0;
  for (char *p = data; p < data + size;) {
    char *nl = memchr(p, '\n', (size_t)(data + size - p));
    json_t *row = load_jsonl_line(p, (size_t)(nl - p), expected_rel, lines + 1);
    p = nl + 1;
    lines++;
    size_t id = (size_t)json_integer_value(json_object_get(row, "id"));
    assert_true(id < c.n);
    json_t *line = c.lines[id];
    json_t *jt = json_object_get(line, "text"), *jp = json_object_get(line, "pair");
    bool line_ok = true;
    size_t k;
    json_t *cs;
    json_array_foreach(json_object_get(row, "cases"), k, cs) {
      cases++;
      size_t max_length = (size_t)json_integer_value(json_object_get(cs, "max_length"));
      const char *strat = json_string_value(json_object_get(cs, "strategy"));
      tok_encoding_t e;
      bertc_status_t s = tok_encode(
          t, json_string_value(jt), json_string_length(jt), jp ? json_string_value(jp) : NULL,
          jp ? json_string_length(jp) : 0, max_length, strategy_of(strat), &e);
      const char *diff = NULL;
      bool want_error = json_object_get(cs, "error") != NULL;
      if (want_error && !s) diff = "expected a truncation error";
      if (!want_error && s) diff = bertc_status_message(s);
      if (!want_error && !s) diff = compare(&e, cs);
      if (diff) {
        line_ok = false;
        if (failures++ < 5) {
          print_error("[%s] line %zu (max_length %zu, %s) differs in %s\n  text: %s\n", label,
                      id, max_length, strat, diff, json_string_value(jt));
          if (jp) print_error("  pair: %s\n", json_string_value(jp));
          if (!want_error) print_case("got ", s ? NULL : &e, cs);
        }
      }
      bertc_status_free(s);
      tok_encoding_deinit(&e);
    }
    matched += line_ok;
    json_decref(row);
  }
  print_message("[%s] %zu / %zu lines match (%zu cases)\n", label, matched, lines, cases);
  free(data);
  free(path);
  corpus_free(&c);
  if (failures) fail_msg("[%s] %zu cases differ from HuggingFace tokenizers", label, failures);
  assert_true(lines >= min_lines);
}

static void test_parity_wordpiece_json(void **state) {
  tok_tokenizer_t *t = load_fixture("wordpiece");
  check_parity("wordpiece tokenizer.json", t, "wordpiece_expected.jsonl");
  tok_release(t);
}

static void test_parity_wordpiece_vocab_txt(void **state) {
  char *src = fixture("wordpiece"), *dir = scratch_dir("wordpiece_vocab");
  copy_in(src, dir, "vocab.txt");
  copy_in(src, dir, "tokenizer_config.json");
  copy_in(src, dir, "special_tokens_map.json");
  tok_tokenizer_t *t = load(dir);
  check_parity("wordpiece vocab.txt", t, "wordpiece_expected.jsonl");
  tok_release(t);
  free(src);
  free(dir);
}

static void test_parity_bpe_json(void **state) {
  tok_tokenizer_t *t = load_fixture("bpe");
  check_parity("bpe tokenizer.json", t, "bpe_expected.jsonl");
  tok_release(t);
}

static void test_parity_bpe_vocab_json(void **state) {
  char *src = fixture("bpe"), *dir = scratch_dir("bpe_vocab");
  copy_in(src, dir, "vocab.json");
  copy_in(src, dir, "merges.txt");
  copy_in(src, dir, "tokenizer_config.json");
  copy_in(src, dir, "special_tokens_map.json");
  tok_tokenizer_t *t = load(dir);
  check_parity("bpe vocab.json+merges.txt", t, "bpe_expected.jsonl");
  tok_release(t);
  free(src);
  free(dir);
}

static void test_parity_bpe_prefix_space(void **state) {
  tok_tokenizer_t *t = load_fixture("bpe_prefix");
  check_parity("bpe add_prefix_space", t, "bpe_prefix_expected.jsonl");
  tok_release(t);
}

/* SentencePiece Unigram tokenizers trained by scripts/make_tokenizer_corpus.py:
 * tokenizer.json in XLM-R's and ALBERT's layouts, and the .model file alone
 * (with tokenizer_config.json), which must load into the same tokenizer
 * transformers builds from it (the generator checks that the two forms
 * agree in HuggingFace; a *_model_expected.jsonl would hold the difference). */
static void test_parity_unigram_xlmr_json(void **state) {
  tok_tokenizer_t *t = load_fixture("unigram_xlmr");
  check_parity("unigram xlmr tokenizer.json", t, "unigram_xlmr_expected.jsonl");
  tok_release(t);
}

static void unigram_model_only(const char *kind, const char *model_file) {
  char *src = fixture(kind), *dir = scratch_dir(kind);
  copy_in(src, dir, model_file);
  copy_in(src, dir, "tokenizer_config.json");
  copy_in(src, dir, "special_tokens_map.json");
  tok_tokenizer_t *t = load(dir);
  char label[128], expected[128];
  snprintf(label, sizeof label, "%s %s", kind, model_file);
  snprintf(expected, sizeof expected, "%s_expected.jsonl", kind);
  check_parity(label, t, expected);
  tok_release(t);
  free(src);
  free(dir);
}

static void test_parity_unigram_xlmr_model(void **state) {
  unigram_model_only("unigram_xlmr", "sentencepiece.bpe.model");
}

static void test_parity_unigram_albert_json(void **state) {
  tok_tokenizer_t *t = load_fixture("unigram_albert");
  check_parity("unigram albert tokenizer.json", t, "unigram_albert_expected.jsonl");
  tok_release(t);
}

static void test_parity_unigram_albert_model(void **state) {
  unigram_model_only("unigram_albert", "spiece.model");
}

static void test_parity_unigram_byte_fallback(void **state) {
  tok_tokenizer_t *t = load_fixture("unigram_bytefb");
  check_parity_min("unigram byte_fallback", t, "unigram_bytefb_expected.jsonl", 1200);
  tok_release(t);
}

/* The hub's xlm-roberta-base / albert-base-v2 tokenizer.json layout. */
static void test_parity_unigram_hub_layout(void **state) {
  tok_tokenizer_t *t = load_fixture("unigram_xlmr_hub");
  check_parity("unigram xlm-roberta-base layout", t, "unigram_xlmr_hub_expected.jsonl");
  tok_release(t);
  t = load_fixture("unigram_albert_hub");
  check_parity("unigram albert-base-v2 layout", t, "unigram_albert_hub_expected.jsonl");
  tok_release(t);
}

static void test_parity_unigram_nfkc(void **state) {
  tok_tokenizer_t *t = load_fixture("unigram_nfkc");
  check_parity_min("unigram nfkc/strip/replace/metaspace never", t,
                   "unigram_nfkc_expected.jsonl", 800);
  tok_release(t);
}

/* tokenizers' Unigram doc test: "abcdacdxx" -> abcd a cd xx (the unknown xx fused). */
static void test_unigram_vectors(void **state) {
  char *dir = scratch_dir("unigram_doc");
  write_in(dir, "tokenizer.json",
           "{\"model\": {\"type\": \"Unigram\", \"unk_id\": 0, \"vocab\": [[\"<unk>\", 0], "
           "[\"a\", 0], [\"b\", 0], [\"c\", 0], [\"d\", 0], [\"cd\", 1], [\"ab\", 2], "
           "[\"abc\", 5], [\"abcd\", 10]]}}");
  tok_tokenizer_t *t = load(dir);
  expect_tokens(t, "abcdacdxx", NULL, "abcd a cd xx");
  static const int32_t offs[] = {0, 4, 4, 5, 5, 7, 7, 9};
  expect_offsets(t, "abcdacdxx", offs, 4);
  tok_encoding_t e;
  TU_ASSERT_OK(tok_encode(t, "xxab", 4, NULL, 0, 0, TOK_TRUNC_LONGEST_FIRST, &e));
  assert_int_equal(e.len, 2);
  assert_int_equal(e.ids[0], 0); /* unknown, its own text as the token */
  assert_string_equal(e.tokens[0], "xx");
  assert_int_equal(e.ids[1], 6);
  tok_encoding_deinit(&e);
  tok_release(t);
  /* without unk_id an unknown character is an error, as in tokenizers */
  write_in(dir, "tokenizer.json",
           "{\"model\": {\"type\": \"Unigram\", \"unk_id\": null, \"vocab\": [[\"a\", -1]]}}");
  t = load(dir);
  TU_ASSERT_ERROR(tok_encode(t, "ab", 2, NULL, 0, 0, TOK_TRUNC_LONGEST_FIRST, &e), "no unk_id");
  tok_release(t);
  free(dir);
}

/* Hostile SentencePiece inputs: refused with the file and the problem. */
static void expect_charsmap_error(const char *dir, const uint8_t *blob, size_t n,
                                  const char *want) {
  static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  char text[1024];
  size_t k = 0;
  for (size_t i = 0; i < n; i += 3) {
    uint32_t w = (uint32_t)blob[i] << 16 | (i + 1 < n ? (uint32_t)blob[i + 1] << 8 : 0) |
                 (i + 2 < n ? blob[i + 2] : 0);
    text[k++] = b64[w >> 18];
    text[k++] = b64[(w >> 12) & 63];
    text[k++] = i + 1 < n ? b64[(w >> 6) & 63] : '=';
    text[k++] = i + 2 < n ? b64[w & 63] : '=';
  }
  text[k] = '\0';
  char json[1400];
  snprintf(json, sizeof json,
           "{\"model\": {\"type\": \"Unigram\", \"unk_id\": 0, \"vocab\": [[\"<unk>\", 0]]}, "
           "\"normalizer\": {\"type\": \"Precompiled\", \"precompiled_charsmap\": \"%s\"}}",
           text);
  write_in(dir, "tokenizer.json", json);
  tok_tokenizer_t *t = NULL;
  bertc_status_t s = tok_load_dir(dir, &t);
  if (!s) fail_msg("charsmap accepted, want '%s'", want);
  if (!strstr(bertc_status_message(s), want) ||
      !strstr(bertc_status_message(s), "tokenizer.json: normalizer: precompiled_charsmap"))
    fail_msg("'%s' does not say '%s'", bertc_status_message(s), want);
  assert_null(t);
  bertc_status_free(s);
}

static void put32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static void test_unigram_hostile(void **state) {
  char *dir = scratch_dir("unigram_hostile");
  uint8_t b[64];
  memset(b, 0, sizeof b);
  expect_charsmap_error(dir, b, 3, "shorter than its 4-byte trie size");
  put32(b, 6);
  expect_charsmap_error(dir, b, 12, "not a multiple of 4");
  put32(b, 400);
  expect_charsmap_error(dir, b, 12, "runs past the end");
  /* root unit 0 (offset 0); unit 'a' (0x61) at 0 ^ 0x61 = 97 would be out of
   * the 4-unit trie: no child, fine. Unit 1: label 1, leaf, offset 64 -> its
   * leaf at 1 ^ 64 = 65, outside the trie. */
  put32(b, 16);
  put32(b + 4, 0);
  put32(b + 8, 1u | (1u << 8) | (64u << 10));
  put32(b + 12, 0);
  put32(b + 16, 0);
  expect_charsmap_error(dir, b, 24, "a trie leaf lies outside the trie");
  /* the same leaf inside (offset 2: leaf at 1 ^ 2 = 3) but valued past the strings */
  put32(b + 8, 1u | (1u << 8) | (2u << 10));
  put32(b + 16, 100);
  memcpy(b + 20, "x\0", 2);
  expect_charsmap_error(dir, b, 22, "does not start a replacement string");
  put32(b + 16, 0);
  b[20] = 0xFF;
  expect_charsmap_error(dir, b, 22, "not valid UTF-8");
  write_in(dir, "tokenizer.json",
           "{\"model\": {\"type\": \"Unigram\", \"unk_id\": 0, \"vocab\": [[\"<unk>\", 0]]}, "
           "\"normalizer\": {\"type\": \"Precompiled\", \"precompiled_charsmap\": \"AA$=\"}}");
  tok_tokenizer_t *t = NULL;
  TU_ASSERT_ERROR(tok_load_dir(dir, &t), "invalid base64");
  write_in(dir, "tokenizer.json",
           "{\"model\": {\"type\": \"Unigram\", \"unk_id\": 5, \"vocab\": [[\"<unk>\", 0]]}}");
  TU_ASSERT_ERROR(tok_load_dir(dir, &t), "unk_id 5 is not in the vocabulary");
  write_in(dir, "tokenizer.json",
           "{\"model\": {\"type\": \"Unigram\", \"vocab\": [[\"<unk>\", \"x\"]]}}");
  TU_ASSERT_ERROR(tok_load_dir(dir, &t), "vocab[0] is not [piece, score]");
  write_in(dir, "tokenizer.json",
           "{\"model\": {\"type\": \"Unigram\", \"vocab\": [[\"a\", 0]]}, \"normalizer\": "
           "{\"type\": \"Replace\", \"pattern\": {\"Regex\": \"(\"}, \"content\": \"\"}}");
  TU_ASSERT_ERROR(tok_load_dir(dir, &t), "regex '('");
  free(dir);

  /* The SentencePiece model file: every cut of it, and broken fields. */
  char *src = fixture("unigram_albert"), *mdir = scratch_dir("spm_hostile"), *data = NULL;
  char *path = NULL;
  size_t size = 0;
  TU_ASSERT_OK(base_path_join(src, "spiece.model", &path));
  TU_ASSERT_OK(base_read_file(path, (size_t)1 << 26, &data, &size));
  free(path);
  TU_ASSERT_OK(base_path_join(mdir, "spiece.model", &path));
  size_t refused = 0, cuts = 0;
  for (size_t cut = 0; cut < size; cut += cut < 256 ? 1 : size / 13 + 1) {
    tu_write_file(path, data, cut);
    cuts++;
    bertc_status_t s = tok_load_dir(mdir, &t);
    if (s) {
      refused++;
      assert_non_null(strstr(bertc_status_message(s), "spiece.model"));
    }
    tok_release(t);
    t = NULL;
    bertc_status_free(s);
  }
  assert_true(refused * 10 >= cuts * 9); /* a cut inside a field can leave a valid prefix */
  static const uint8_t long_varint[] = {0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
                                        0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01};
  tu_write_file(path, long_varint, sizeof long_varint);
  TU_ASSERT_ERROR(tok_load_dir(mdir, &t), "spiece.model: invalid SentencePiece model: varint "
                                          "longer than 10 bytes at byte 11");
  static const uint8_t past_end[] = {0x0A, 0x10, 0x0A, 0x01, 'a'};
  tu_write_file(path, past_end, sizeof past_end);
  TU_ASSERT_ERROR(tok_load_dir(mdir, &t), "length past the end of its message");
  static const uint8_t group[] = {0x0B, 0x0C};
  tu_write_file(path, group, sizeof group);
  TU_ASSERT_ERROR(tok_load_dir(mdir, &t), "unsupported wire type");
  static const uint8_t bad_utf8[] = {0x0A, 0x05, 0x0A, 0x01, 0xFF, 0x10, 0x01};
  tu_write_file(path, bad_utf8, sizeof bad_utf8);
  TU_ASSERT_ERROR(tok_load_dir(mdir, &t), "a piece that is not UTF-8");
  static const uint8_t no_pieces[] = {0x12, 0x02, 0x18, 0x01};
  tu_write_file(path, no_pieces, sizeof no_pieces);
  TU_ASSERT_ERROR(tok_load_dir(mdir, &t), "no pieces");
  static const uint8_t bpe[] = {0x0A, 0x03, 0x0A, 0x01, 'a', 0x12, 0x02, 0x18, 0x02};
  tu_write_file(path, bpe, sizeof bpe);
  TU_ASSERT_ERROR(tok_load_dir(mdir, &t), "SentencePiece model type 2 is not supported");
  free(path);
  free(data);
  free(src);
  free(mdir);
}

/* ---- public vectors: transformers' test_tokenization_bert.py, tokenizers' tests ---- */

static const char k_toy_vocab[] = "[UNK]\n[CLS]\n[SEP]\n[PAD]\n[MASK]\nwant\n##want\n##ed\nwa\nun\n"
                                  "runn\n##ing\n,\nlow\nlowest\n";

static void test_vectors_toy_vocab(void **state) {
  char *dir = scratch_dir("toy");
  write_in(dir, "vocab.txt", k_toy_vocab);
  tok_tokenizer_t *t = load(dir);
  const char *text = "UNwant\xC3\xA9" "d,running";
  tok_encoding_t e;
  TU_ASSERT_OK(tok_encode(t, text, strlen(text), NULL, 0, 0, TOK_TRUNC_LONGEST_FIRST, &e));
  static const int32_t want[] = {1, 9, 6, 7, 12, 10, 11, 2};
  assert_int_equal(e.len, BASE_ARRAY_LEN(want));
  for (size_t i = 0; i < e.len; i++) assert_int_equal(e.ids[i], want[i]);
  tok_encoding_deinit(&e);
  expect_tokens(t, "", NULL, "[CLS] [SEP]");
  expect_tokens(t, "unwanted running", NULL, "[CLS] un ##want ##ed runn ##ing [SEP]");
  expect_tokens(t, "unwantedX running", NULL, "[CLS] [UNK] runn ##ing [SEP]");
  /* clean_text: the soft hyphen (Cf) vanishes; "test" is unknown here */
  expect_tokens(t, "\xC2\xAD", NULL, "[CLS] [SEP]");
  expect_tokens(t, "Test \xC2\xAD test", NULL, "[CLS] [UNK] [UNK] [SEP]");
  /* chinese characters are split out (but Hangul and kana are not) */
  static const int32_t cjk[] = {0, 0, 0, 2, 2, 3, 3, 4, 4, 6, 0, 0};
  expect_offsets(t, "ah\xE5\x8D\x9A\xE6\x8E\xA8zz", cjk, 6);
  tok_release(t);
  free(dir);
}

static void test_vectors_accent_options(void **state) {
  char *dir = scratch_dir("accents");
  write_in(dir, "vocab.txt", "[UNK]\n[CLS]\n[SEP]\nh\xC3\xA4llo\nHaLLo\nhello\n");
  write_in(dir, "tokenizer_config.json", "{\"do_lower_case\": true, \"strip_accents\": false}");
  tok_tokenizer_t *t = load(dir);
  expect_tokens(t, "H\xC3\xA4LLo", NULL, "[CLS] h\xC3\xA4llo [SEP]");
  tok_release(t);
  write_in(dir, "tokenizer_config.json", "{\"do_lower_case\": false, \"strip_accents\": true}");
  t = load(dir);
  expect_tokens(t, "H\xC3\xA4LLo", NULL, "[CLS] HaLLo [SEP]");
  tok_release(t);
  write_in(dir, "tokenizer_config.json", "{\"do_lower_case\": true}");
  t = load(dir);
  expect_tokens(t, "H\xC3\xA9llo", NULL, "[CLS] hello [SEP]");
  tok_release(t);
  free(dir);
}

static void test_vectors_minilm(void **state) {
  tok_tokenizer_t *t = load_fixture("wordpiece");
  expect_tokens(t, " \tHeLLo!how  \n Are yoU?  ", NULL,
                "[CLS] hello ! how are you ? [SEP]");
  expect_tokens(t, "a\n'll !!to?'d of, can't.", NULL,
                "[CLS] a ' ll ! ! to ? ' d of , can ' t . [SEP]");
  expect_tokens(t, "A, na\xC3\xAFve [MASK] AllenNLP sentence.", NULL,
                "[CLS] a , naive [MASK] allen ##nl ##p sentence . [SEP]");
  assert_int_equal(tok_token_id(t, "[CLS]"), 101);
  assert_int_equal(tok_token_id(t, "[SEP]"), 102);
  assert_int_equal(tok_pad_id(t), 0);
  assert_int_equal(tok_mask_id(t), 103);
  assert_int_equal(tok_vocab_size(t), 30522);
  assert_string_equal(tok_id_to_token(t, 2026), "my");
  assert_int_equal(tok_token_id(t, "no-such-token"), -1);
  assert_null(tok_id_to_token(t, 1 << 30));

  /* tokenizers test_bert_wordpiece.py */
  tok_encoding_t e;
  TU_ASSERT_OK(tok_encode(t, "My name is John", 15, "pair", 4, 0,
                                   TOK_TRUNC_LONGEST_FIRST, &e));
  static const int32_t ids[] = {101, 2026, 2171, 2003, 2198, 102, 3940, 102};
  static const int32_t types[] = {0, 0, 0, 0, 0, 0, 1, 1};
  static const int32_t seqs[] = {-1, 0, 0, 0, 0, -1, 1, -1};
  static const int32_t offs[] = {0, 0, 0, 2, 3, 7, 8, 10, 11, 15, 0, 0, 0, 4, 0, 0};
  assert_int_equal(e.len, 8);
  for (size_t i = 0; i < 8; i++) {
    assert_int_equal(e.ids[i], ids[i]);
    assert_int_equal(e.type_ids[i], types[i]);
    assert_int_equal(e.sequence_ids[i], seqs[i]);
    assert_int_equal(e.attention_mask[i], 1);
    assert_int_equal(e.offsets[2 * i], offs[2 * i]);
    assert_int_equal(e.offsets[2 * i + 1], offs[2 * i + 1]);
  }
  assert_false(e.truncated);
  tok_encoding_deinit(&e);

  /* tokenizers pre_tokenizers/bert.rs (offsets as code points) */
  static const int32_t hey[] = {0, 0, 0, 3, 4, 10, 10, 11, 16, 19, 20, 23,
                                24, 27, 27, 28, 28, 29, 29, 30, 0, 0};
  expect_offsets(t, "Hey friend!     How are you?!?", hey, 11);
  expect_tokens(t, "\xE9\x87\x8E\xE5\x8F\xA3\xE9\x87\x8C\xE4\xBD\xB3 Noguchi Rika", NULL,
                "[CLS] \xE9\x87\x8E \xE5\x8F\xA3 \xE9\x87\x8C [UNK] no ##guchi ri ##ka [SEP]");
  tok_release(t);
}

/* ---- Truncation -------------------------------------------------------------------- */

static size_t encode_len(const tok_tokenizer_t *t, const char *a, const char *b, size_t max,
                         tok_trunc_strategy_t st, int *truncated) {
  tok_encoding_t e;
  TU_ASSERT_OK(tok_encode(t, a, strlen(a), b, b ? strlen(b) : 0, max, st, &e));
  size_t n = e.len;
  if (truncated) *truncated = e.truncated;
  tok_encoding_deinit(&e);
  return n;
}

static void test_truncation(void **state) {
  tok_tokenizer_t *t = load_fixture("wordpiece");
  const char *a = "one two three four five six seven eight nine ten";
  const char *b = "alpha beta gamma";
  int tr = 0;
  assert_int_equal(encode_len(t, a, NULL, 8, TOK_TRUNC_LONGEST_FIRST, &tr), 8);
  assert_true(tr);
  assert_int_equal(encode_len(t, a, NULL, 0, TOK_TRUNC_LONGEST_FIRST, &tr), 12);
  assert_false(tr);
  /* longest_first keeps the short input whole when it fits */
  tok_encoding_t e;
  TU_ASSERT_OK(tok_encode(t, a, strlen(a), b, strlen(b), 10, TOK_TRUNC_LONGEST_FIRST,
                                   &e));
  assert_int_equal(e.len, 10);
  int n_b = 0;
  for (size_t i = 0; i < e.len; i++) n_b += e.sequence_ids[i] == 1;
  assert_int_equal(n_b, 3);
  tok_encoding_deinit(&e);
  /* below the special-token budget: no truncation; at it: specials only */
  assert_int_equal(encode_len(t, "hello world", "x y", 2, TOK_TRUNC_LONGEST_FIRST, NULL), 7);
  assert_int_equal(encode_len(t, "hello world", "x y", 3, TOK_TRUNC_LONGEST_FIRST, NULL), 3);
  assert_int_equal(encode_len(t, "hello world", NULL, 2, TOK_TRUNC_LONGEST_FIRST, NULL), 2);
  /* only_second without a pair, only_first with a too-short first input */
  TU_ASSERT_ERROR(tok_encode(t, a, strlen(a), NULL, 0, 8, TOK_TRUNC_ONLY_SECOND, &e),
                  "second sequence");
  assert_int_equal(e.len, 0);
  TU_ASSERT_ERROR(tok_encode(t, "hi", 2, a, strlen(a), 8, TOK_TRUNC_ONLY_FIRST, &e),
                  "too short");
  assert_int_equal(encode_len(t, "hi", a, 8, TOK_TRUNC_ONLY_SECOND, &tr), 8);
  assert_true(tr);
  tok_release(t);
}

/* ---- Blob --------------------------------------------------------------------------- */

static void same_encoding(const tok_tokenizer_t *x, const tok_tokenizer_t *y, const char *text) {
  tok_encoding_t a, b;
  TU_ASSERT_OK(tok_encode(x, text, strlen(text), NULL, 0, 0, TOK_TRUNC_LONGEST_FIRST, &a));
  TU_ASSERT_OK(tok_encode(y, text, strlen(text), NULL, 0, 0, TOK_TRUNC_LONGEST_FIRST, &b));
  assert_int_equal(a.len, b.len);
  assert_memory_equal(a.ids, b.ids, a.len * sizeof *a.ids);
  assert_memory_equal(a.offsets, b.offsets, 2 * a.len * sizeof *a.offsets);
  for (size_t i = 0; i < a.len; i++) assert_string_equal(a.tokens[i], b.tokens[i]);
  tok_encoding_deinit(&a);
  tok_encoding_deinit(&b);
}

static void test_blob_round_trip(void **state) {
  static const char *const kinds[] = {"wordpiece", "bpe", "unigram_xlmr", "unigram_albert"};
  static const char *const texts[] = {
      "Hello world, <mask> [MASK] caf\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC",
      "  tokenizer's   runtime!", ""};
  for (size_t k = 0; k < BASE_ARRAY_LEN(kinds); k++) {
    char *dir = fixture(kinds[k]);
    uint8_t *blob = NULL;
    size_t size = 0;
    TU_ASSERT_OK(tok_pack_dir(dir, &blob, &size));
    /* tokenizer.json first, then configs; the vocabulary files stay out */
    assert_string_equal((const char *)blob, "tokenizer.json");
    assert_int_equal(blob[size - 1], 0);
    assert_null(memmem(blob, size, "vocab.txt", 10));
    tok_tokenizer_t *from_blob = NULL, *from_dir = load(dir);
    TU_ASSERT_OK(tok_load_blob(blob, size, &from_blob));
    for (size_t i = 0; i < BASE_ARRAY_LEN(texts); i++)
      same_encoding(from_dir, from_blob, texts[i]);
    assert_int_equal(tok_mask_id(from_dir), tok_mask_id(from_blob));
    assert_int_equal(tok_pad_id(from_dir), tok_pad_id(from_blob));
    tok_release(from_blob);
    /* every truncation of the blob is an error, never a crash */
    for (size_t cut = 0; cut < size; cut += cut < 64 ? 1 : size / 7 + 1) {
      tok_tokenizer_t *bad = NULL;
      bertc_status_t s = tok_load_blob(blob, cut, &bad);
      assert_non_null(s);
      assert_null(bad);
      bertc_status_free(s);
    }
    tok_release(from_dir);
    free(blob);
    free(dir);
  }
  /* the vocab.txt layout packs its own files */
  char *src = fixture("wordpiece"), *dir = scratch_dir("blob_vocab");
  copy_in(src, dir, "vocab.txt");
  copy_in(src, dir, "tokenizer_config.json");
  uint8_t *blob = NULL;
  size_t size = 0;
  TU_ASSERT_OK(tok_pack_dir(dir, &blob, &size));
  assert_non_null(memmem(blob, size, "vocab.txt", 10));
  tok_tokenizer_t *x = NULL, *y = load(dir);
  TU_ASSERT_OK(tok_load_blob(blob, size, &x));
  same_encoding(x, y, texts[0]);
  tok_release(x);
  tok_release(y);
  free(blob);
  free(src);
  free(dir);
  /* a SentencePiece model alone packs itself */
  static const char *const spm[][2] = {{"unigram_xlmr", "sentencepiece.bpe.model"},
                                       {"unigram_albert", "spiece.model"}};
  for (size_t k = 0; k < 2; k++) {
    char *from = fixture(spm[k][0]), *to = scratch_dir(spm[k][0]);
    copy_in(from, to, spm[k][1]);
    copy_in(from, to, "tokenizer_config.json");
    TU_ASSERT_OK(tok_pack_dir(to, &blob, &size));
    assert_non_null(memmem(blob, size, spm[k][1], strlen(spm[k][1]) + 1));
    tok_tokenizer_t *p = NULL, *q = load(to), *r = load(from);
    TU_ASSERT_OK(tok_load_blob(blob, size, &p));
    for (size_t i = 0; i < BASE_ARRAY_LEN(texts); i++) {
      same_encoding(p, q, texts[i]);
      same_encoding(p, r, texts[i]);
    }
    assert_int_equal(tok_mask_id(p), tok_mask_id(r));
    assert_int_equal(tok_pad_id(p), tok_pad_id(r));
    assert_int_equal(tok_vocab_size(p), tok_vocab_size(r));
    tok_release(p);
    tok_release(q);
    tok_release(r);
    free(blob);
    free(from);
    free(to);
  }
  static const uint8_t unknown[] = "evil.bin\0\1\0\0\0\0\0\0\0x";
  tok_tokenizer_t *bad = NULL;
  TU_ASSERT_ERROR(tok_load_blob(unknown, sizeof unknown, &bad), "unexpected file");
  static const uint8_t huge[] = "vocab.txt\0\xff\xff\xff\xff\xff\xff\xff\xff";
  TU_ASSERT_ERROR(tok_load_blob(huge, sizeof huge - 1, &bad), "claims");
}

/* ---- Errors ------------------------------------------------------------------------ */

static void test_errors(void **state) {
  tok_tokenizer_t *t = NULL;
  char *dir = scratch_dir("empty");
  TU_ASSERT_ERROR(tok_load_dir(dir, &t), "no tokenizer.json, vocab.txt, vocab.json");
  assert_null(t);
  write_in(dir, "tokenizer.json", "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": 0,}}");
  TU_ASSERT_ERROR(tok_load_dir(dir, &t), "tokenizer.json: invalid JSON at line 1");
  write_in(dir, "tokenizer.json", "{\"model\": {\"type\": \"Unigram\", \"vocab\": []}}");
  TU_ASSERT_ERROR(tok_load_dir(dir, &t), "model.vocab is empty");
  write_in(dir, "tokenizer.json", "{\"model\": {\"type\": \"WordPieceX\", \"vocab\": {}}}");
  TU_ASSERT_ERROR(tok_load_dir(dir, &t), "'WordPieceX' is not supported");
  write_in(dir, "tokenizer.json", "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": -1}}}");
  TU_ASSERT_ERROR(tok_load_dir(dir, &t), "id of token 'a'");
  write_in(dir, "tokenizer.json",
           "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1}, "
           "\"merges\": [\"a b\"]}}");
  TU_ASSERT_ERROR(tok_load_dir(dir, &t), "merged token not in the vocabulary");
  free(dir);

  dir = scratch_dir("bpe_no_merges");
  write_in(dir, "vocab.json", "{\"a\": 0}");
  TU_ASSERT_ERROR(tok_load_dir(dir, &t), "merges.txt");
  write_in(dir, "merges.txt", "#version: 0.2\na b c\n");
  TU_ASSERT_ERROR(tok_load_dir(dir, &t), "merges.txt: line 2");
  free(dir);

  t = load_fixture("wordpiece");
  tok_encoding_t e;
  TU_ASSERT_ERROR(tok_encode(t, "ab\xFF" "cd", 5, NULL, 0, 0, TOK_TRUNC_LONGEST_FIRST, &e),
                  "text: invalid UTF-8 at byte offset 2");
  assert_int_equal(e.len, 0);
  assert_null(e.ids);
  TU_ASSERT_ERROR(tok_encode(t, "ok", 2, "\xE6\x97", 2, 0, TOK_TRUNC_LONGEST_FIRST, &e),
                  "text_pair: invalid UTF-8 at byte offset 0");
  TU_ASSERT_ERROR(tok_encode(t, "\xED\xA0\x80", 3, NULL, 0, 0, TOK_TRUNC_LONGEST_FIRST, &e),
                  "byte offset 0"); /* an encoded surrogate */
  /* NUL bytes are text (dropped by clean_text) */
  TU_ASSERT_OK(tok_encode(t, "a\0b", 3, NULL, 0, 0, TOK_TRUNC_LONGEST_FIRST, &e));
  assert_int_equal(e.len, 3);
  assert_string_equal(e.tokens[1], "ab");
  tok_encoding_deinit(&e);
  tok_release(t);
}

static void test_bpe_lookups(void **state) {
  tok_tokenizer_t *t = load_fixture("bpe");
  assert_int_equal(tok_pad_id(t), 1);
  assert_int_equal(tok_mask_id(t), 4);
  assert_int_equal(tok_vocab_size(t), 2000);
  assert_string_equal(tok_id_to_token(t, 0), "<s>");
  /* <mask> strips the space before it; the offsets then skip that space */
  expect_tokens(t, "a <mask>", NULL, "<s> a  <mask> </s>");
  static const int32_t offs[] = {0, 0, 0, 1, 2, 8, 0, 0};
  expect_offsets(t, "a <mask>", offs, 4);
  tok_release(t);
}

/* Normalizes `in` with a BertNormalizer and compares the code points. */
static void expect_bert_norm(bool strip_accents, const uint32_t *in, size_t n,
                             const uint32_t *want, size_t n_want) {
  tok_arena_t a = {0};
  tok_norm_step_t step = {.kind = TOK_NORM_BERT,
                          .clean_text = true,
                          .handle_chinese_chars = true,
                          .strip_accents = strip_accents,
                          .lowercase = true};
  tok_span_t al[8];
  uint32_t cp[8];
  for (size_t i = 0; i < n; i++) {
    cp[i] = in[i];
    al[i] = (tok_span_t){(int32_t)i, (int32_t)i + 1};
  }
  tok_nstr_t s = {cp, al, n};
  TU_ASSERT_OK(tok_normalize(&step, 1, &a, &s));
  assert_int_equal(s.len, n_want);
  for (size_t i = 0; i < n_want; i++) assert_int_equal(s.cp[i], want[i]);
  tok_arena_free(&a);
}

static size_t pieces_of(bool bytelevel, const uint32_t *in, size_t n, tok_piece_t **out,
                        tok_arena_t *a) {
  tok_span_t al[8] = {{0, 0}};
  tok_nstr_t s = {(uint32_t *)in, al, n};
  size_t np = 0;
  if (bytelevel)
    TU_ASSERT_OK(tok_pre_bytelevel_split(&s, a, out, &np));
  else
    TU_ASSERT_OK(tok_pre_bert(&s, a, out, &np));
  return np;
}

/* Code points where the Rust crates and utf8proc disagree (answers from
 * tokenizers 0.23); the corpus cannot show all of them through a vocabulary. */
static void test_unicode_edges(void **state) {
  static const uint32_t dotted_i[] = {0x130, 'x'}, dotted_i_low[] = {'i', 0x307, 'x'};
  expect_bert_norm(false, dotted_i, 2, dotted_i_low, 3);
  static const uint32_t mtavruli[] = {0x1C89}, mtavruli_low[] = {0x1C8A};
  expect_bert_norm(false, mtavruli, 1, mtavruli_low, 1);
  static const uint32_t dives[] = {0x11938};
  expect_bert_norm(true, dives, 1, dives, 1); /* no decomposition in Rust's tables */
  static const uint32_t cf[] = {0x890, 'a', 0x200B, 'b'}, cf_out[] = {0x890, 'a', 'b'};
  expect_bert_norm(false, cf, 4, cf_out, 3);
  static const uint32_t mn[] = {0x898, 'e', 0x301, 0x1AC0, 0x1734}, mn_out[] = {0x898, 'e', 0x1AC0};
  expect_bert_norm(true, mn, 5, mn_out, 3);

  tok_arena_t a = {0};
  tok_piece_t *p;
  static const uint32_t l16[] = {'a', 0x1C89, ','};
  assert_int_equal(pieces_of(true, l16, 3, &p, &a), 2);
  assert_int_equal(p[0].end, 2);
  static const uint32_t n16[] = {'1', 0x10D40, '!'};
  assert_int_equal(pieces_of(true, n16, 3, &p, &a), 2);
  assert_int_equal(p[0].end, 2);
  static const uint32_t pd14[] = {'a', 0x2E5D, 'b'}, po_old[] = {'a', 0x166D, 'b'};
  assert_int_equal(pieces_of(false, pd14, 3, &p, &a), 1);
  assert_int_equal(pieces_of(false, po_old, 3, &p, &a), 3);
  tok_arena_free(&a);

  /* İ lowercases to two code points sharing its offsets */
  char *dir = scratch_dir("dotted_i");
  write_in(dir, "vocab.txt", "[UNK]\n[CLS]\n[SEP]\ni\xCC\x87stanbul\nistanbul\n");
  write_in(dir, "tokenizer_config.json", "{\"do_lower_case\": true, \"strip_accents\": false}");
  tok_tokenizer_t *t = load(dir);
  expect_tokens(t, "\xC4\xB0stanbul", NULL, "[CLS] i\xCC\x87stanbul [SEP]");
  static const int32_t offs[] = {0, 0, 0, 8, 0, 0};
  expect_offsets(t, "\xC4\xB0stanbul", offs, 3);
  tok_release(t);
  free(dir);
}

static void test_unicode_tables_match_utf8proc(void **state) {
  /* The exception tables are relative to one utf8proc Unicode version. */
  assert_string_equal(utf8proc_unicode_version(), tok_unicode_tables_version());
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_unicode_tables_match_utf8proc),
      cmocka_unit_test(test_unicode_edges),
      cmocka_unit_test(test_vectors_toy_vocab),
      cmocka_unit_test(test_vectors_accent_options),
      cmocka_unit_test(test_vectors_minilm),
      cmocka_unit_test(test_truncation),
      cmocka_unit_test(test_bpe_lookups),
      cmocka_unit_test(test_errors),
      cmocka_unit_test(test_blob_round_trip),
      cmocka_unit_test(test_parity_wordpiece_json),
      cmocka_unit_test(test_parity_wordpiece_vocab_txt),
      cmocka_unit_test(test_parity_bpe_json),
      cmocka_unit_test(test_parity_bpe_vocab_json),
      cmocka_unit_test(test_parity_bpe_prefix_space),
      cmocka_unit_test(test_parity_unigram_xlmr_json),
      cmocka_unit_test(test_parity_unigram_xlmr_model),
      cmocka_unit_test(test_parity_unigram_albert_json),
      cmocka_unit_test(test_parity_unigram_albert_model),
      cmocka_unit_test(test_parity_unigram_byte_fallback),
      cmocka_unit_test(test_parity_unigram_hub_layout),
      cmocka_unit_test(test_parity_unigram_nfkc),
      cmocka_unit_test(test_unigram_vectors),
      cmocka_unit_test(test_unigram_hostile),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
