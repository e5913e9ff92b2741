/* tokenizer/decode.c and the encoder's word ids against HuggingFace on the
 * tokenizer corpus (tests/fixtures/pipelines/decode.*, made by
 * scripts/make_pipeline_fixtures.py): tokenizer.decode with and without
 * special tokens, and Encoding.word_ids; then the decoders of the older
 * tokenizer files, convert_tokens_to_string, and a decoder bertc does not
 * know. */
#define _GNU_SOURCE
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "tokenizer/tokenizer.h"
#include "tests/fixture.h"
#include "tests/testutil.h"

static tok_tokenizer_t *load(const char *dir) {
  tok_tokenizer_t *t = NULL;
  TU_ASSERT_OK(tok_load_dir(dir, &t));
  return t;
}

static void encode(const tok_tokenizer_t *t, const char *s, tok_encoding_t *e) {
  TU_ASSERT_OK(tok_encode(t, s, strlen(s), NULL, 0, 0, TOK_TRUNC_LONGEST_FIRST, e));
}

/* ---- decode() and word_ids() on the tokenizer corpus ------------------------------ */

/* The corpus of tokenizer `name` through the tokenizer in `dir` (NULL: the
 * fixture directory of that name). */
static void check_decode_in(const char *name, const char *in_dir) {
  char rel[256];
  snprintf(rel, sizeof rel, "tests/fixtures/tokenizer/%s", name);
  char *dir = in_dir ? strdup(in_dir) : tu_source_path(rel);
  snprintf(rel, sizeof rel, "tests/fixtures/pipelines/decode.%s.jsonl", name);
  char *file = tu_source_path(rel);
  tok_tokenizer_t *t = load(dir);
  FILE *f = fopen(file, "rb");
  assert_non_null(f);
  char *line = NULL;
  size_t cap = 0;
  int n = 0;
  while (getline(&line, &cap, f) > 0) {
    n++;
    json_error_t err;
    json_t *row = json_loads(line, JSON_ALLOW_NUL, &err);
    if (!row) fail_msg("%s:%d: %s", file, n, err.text);
    json_t *text = json_object_get(row, "text"), *pair = json_object_get(row, "text_pair");
    tok_encoding_t e;
    bertc_status_t s = tok_encode(
        t, json_string_value(text), json_string_length(text), pair ? json_string_value(pair) : NULL,
        pair ? json_string_length(pair) : 0, 0, TOK_TRUNC_LONGEST_FIRST, &e);
    if (s) fail_msg("%s line %d: %s", name, n, bertc_status_message(s));
    json_t *ids = json_object_get(row, "ids"), *words = json_object_get(row, "word_ids");
    assert_int_equal(e.len, json_array_size(ids));
    for (size_t i = 0; i < e.len; i++) {
      if (e.ids[i] != json_integer_value(json_array_get(ids, i)))
        fail_msg("%s line %d: token %zu is %d, HF %lld", name, n, i, e.ids[i],
                 (long long)json_integer_value(json_array_get(ids, i)));
      json_t *w = json_array_get(words, i);
      int32_t want = json_is_null(w) ? -1 : (int32_t)json_integer_value(w);
      if (e.word_ids[i] != want)
        fail_msg("%s line %d (%s): word id of token %zu '%s' is %d, HF %d", name, n,
                 json_string_value(text), i, e.tokens[i], e.word_ids[i], want);
    }
    char *d = NULL, *ds = NULL;
    TU_ASSERT_OK(tok_decode(t, e.ids, e.len, false, &d));
    TU_ASSERT_OK(tok_decode(t, e.ids, e.len, true, &ds));
    const char *want = json_string_value(json_object_get(row, "decode"));
    const char *want_skip = json_string_value(json_object_get(row, "decode_skip"));
    /* decoded text is a C string: compare up to a NUL the text may hold */
    if (strcmp(d, want)) fail_msg("%s line %d: decode '%s', HF '%s'", name, n, d, want);
    if (strcmp(ds, want_skip))
      fail_msg("%s line %d: decode(skip_special_tokens) '%s', HF '%s'", name, n, ds, want_skip);
    free(d);
    free(ds);
    tok_encoding_deinit(&e);
    json_decref(row);
  }
  assert_true(n > 800);
  print_message("%s: %d lines\n", name, n);
  free(line);
  fclose(f);
  tok_release(t);
  free(dir);
  free(file);
}

static void check_decode_corpus(const char *name) { check_decode_in(name, NULL); }

static void copy_file(const char *from_dir, const char *to_dir, const char *name);

static void test_decode_wordpiece(void **state) {
  (void)state;
  check_decode_corpus("wordpiece");
}

static void test_decode_bpe(void **state) {
  (void)state;
  check_decode_corpus("bpe");
}

/* SentencePiece Unigram: the Metaspace decoder, from tokenizer.json and from
 * the .model file alone (the tokenizer class's decoder). */
static void test_decode_unigram(void **state) {
  (void)state;
  static const char *const kinds[][2] = {{"unigram_xlmr", "sentencepiece.bpe.model"},
                                         {"unigram_albert", "spiece.model"}};
  for (size_t k = 0; k < 2; k++) {
    check_decode_corpus(kinds[k][0]);
    char rel[256];
    snprintf(rel, sizeof rel, "tests/fixtures/tokenizer/%s", kinds[k][0]);
    char *src = tu_source_path(rel);
    snprintf(rel, sizeof rel, "tokenizer/%s_model/", kinds[k][0]);
    char *dir = tu_scratch_path(rel);
    copy_file(src, dir, kinds[k][1]);
    copy_file(src, dir, "tokenizer_config.json");
    copy_file(src, dir, "special_tokens_map.json");
    check_decode_in(kinds[k][0], dir);
    free(dir);
    free(src);
  }
  /* byte fallback: Replace, ByteFallback, Fuse and Strip decoders */
  check_decode_corpus("unigram_bytefb");
}

/* ---- The older files, token strings, lookups ------------------------------------- */

/* Without tokenizer.json the decoder is the tokenizer class's: WordPiece
 * ("##", cleanup) for vocab.txt, ByteLevel for vocab.json + merges.txt. */
static void copy_file(const char *from_dir, const char *to_dir, const char *name) {
  char *src = NULL, *dst = NULL, *data = NULL;
  size_t size = 0;
  TU_ASSERT_OK(base_path_join(from_dir, name, &src));
  TU_ASSERT_OK(base_path_join(to_dir, name, &dst));
  TU_ASSERT_OK(base_read_file(src, (size_t)1 << 26, &data, &size));
  tu_write_file(dst, data, size);
  free(data);
  free(src);
  free(dst);
}

static void test_decode_legacy_files(void **state) {
  (void)state;
  char *bert = fx_dir("bert_mlm"), *roberta = fx_dir("roberta_mlm");
  char *wp = tu_scratch_path("tokenizer/legacy_wp/"),
       *bpe = tu_scratch_path("tokenizer/legacy_bpe/");
  copy_file(bert, wp, "vocab.txt");
  copy_file(bert, wp, "special_tokens_map.json");
  copy_file(roberta, bpe, "vocab.json");
  copy_file(roberta, bpe, "merges.txt");
  tok_tokenizer_t *t = load(wp);
  assert_string_equal(tok_subword_prefix(t), "##");
  assert_int_equal(tok_unk_id(t), tok_token_id(t, "[UNK]"));
  assert_int_equal(tok_cls_id(t), tok_token_id(t, "[CLS]"));
  tok_encoding_t e;
  encode(t, "Hello , [MASK] isn't it.", &e);
  /* [CLS] hell ##o , [MASK] is ##n ' t it . [SEP]: a word's pieces share its id */
  static const int32_t words[] = {-1, 0, 0, 1, 2, 3, 3, 4, 5, 6, 7, -1};
  assert_int_equal(e.len, BASE_ARRAY_LEN(words));
  assert_memory_equal(e.word_ids, words, sizeof words);
  char *d = NULL;
  TU_ASSERT_OK(tok_decode(t, e.ids, e.len, false, &d));
  assert_string_equal(d, "[CLS] hello, [MASK] isn ' t it. [SEP]");
  free(d);
  TU_ASSERT_OK(tok_decode(t, e.ids, e.len, true, &d));
  assert_string_equal(d, "hello, isn ' t it.");
  free(d);
  assert_true(tok_is_special(t, e.ids[0]));
  assert_false(tok_is_special(t, e.ids[1]));
  tok_encoding_deinit(&e);
  tok_release(t);
  t = load(bpe);
  assert_string_equal(tok_subword_prefix(t), "");
  assert_int_equal(tok_cls_id(t), tok_token_id(t, "<s>"));
  encode(t, "The old station, left.", &e);
  TU_ASSERT_OK(tok_decode(t, e.ids, e.len, false, &d));
  assert_string_equal(d, "<s>The old station, left.</s>");
  free(d);
  TU_ASSERT_OK(tok_decode(t, e.ids, e.len, true, &d));
  assert_string_equal(d, "The old station, left.");
  free(d);
  const char *toks[] = {"\xC4\xA0"
                        "caf",
                        "\xC3\x83\xC2\xA9", " x"}; /* "Ġcaf", "Ã©" = é's bytes */
  TU_ASSERT_OK(tok_tokens_to_string(t, toks, 3, &d));
  assert_string_equal(d, " caf\xC3\xA9 x");
  free(d);
  const char *broken[] = {"\xC3\x83", "a"}; /* a lone lead byte: one U+FFFD, like Rust */
  TU_ASSERT_OK(tok_tokens_to_string(t, broken, 2, &d));
  assert_string_equal(d, "\xEF\xBF\xBD"
                         "a");
  free(d);
  tok_encoding_deinit(&e);
  tok_release(t);
  free(wp);
  free(bpe);
  free(bert);
  free(roberta);
}

/* A decoder bertc does not know loads, and only fails when used; one without
 * a type is refused when loading. */
static void test_decode_unsupported(void **state) {
  (void)state;
  char *bert = fx_dir("bert_mlm"), *src = NULL, *json = NULL;
  TU_ASSERT_OK(base_path_join(bert, "tokenizer.json", &src));
  size_t size = 0;
  TU_ASSERT_OK(base_read_file(src, (size_t)1 << 26, &json, &size));
  json_t *tj = json_loads(json, 0, NULL);
  assert_non_null(tj);
  char *dir = tu_scratch_path("tokenizer/ctc/"), *dst = NULL;
  TU_ASSERT_OK(base_path_join(dir, "tokenizer.json", &dst));
  json_object_set_new(tj, "decoder", json_pack("{s:s}", "type", "CTC"));
  char *text = json_dumps(tj, 0);
  tu_write_file(dst, text, strlen(text));
  free(text);
  tok_tokenizer_t *t = load(dir);
  int32_t ids[] = {2, 3};
  char *out = NULL;
  TU_ASSERT_ERROR(tok_decode(t, ids, 2, false, &out), "decoder 'CTC' is not supported");
  assert_null(out);
  tok_release(t);
  json_object_set_new(tj, "decoder", json_pack("{s:s}", "prefix", "##"));
  text = json_dumps(tj, 0);
  tu_write_file(dst, text, strlen(text));
  free(text);
  TU_ASSERT_ERROR(tok_load_dir(dir, &t), "decoder has no type");
  assert_null(t);
  json_decref(tj);
  free(dst);
  free(dir);
  free(json);
  free(src);
  free(bert);
}

/* Code point offsets slice the text they index. */
static void test_chars(void **state) {
  (void)state;
  const char *s = "h\xC3\xA9llo \xF0\x9F\x99\x82!";
  tok_chars_t c;
  TU_ASSERT_OK(tok_chars_init(s, strlen(s), &c));
  assert_int_equal(c.n, 8);
  char *x = NULL;
  TU_ASSERT_OK(tok_chars_slice(&c, s, 1, 3, &x));
  assert_string_equal(x, "\xC3\xA9l");
  free(x);
  TU_ASSERT_OK(tok_chars_slice(&c, s, 6, 100, &x));
  assert_string_equal(x, "\xF0\x9F\x99\x82!");
  free(x);
  TU_ASSERT_OK(tok_chars_slice(&c, s, 5, 2, &x));
  assert_string_equal(x, "");
  free(x);
  tok_chars_deinit(&c);
  TU_ASSERT_ERROR(tok_chars_init("a\xFF", 2, &c), "not valid UTF-8 at byte 1");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_decode_wordpiece),
      cmocka_unit_test(test_decode_bpe),
      cmocka_unit_test(test_decode_unigram),
      cmocka_unit_test(test_decode_legacy_files),
      cmocka_unit_test(test_decode_unsupported),
      cmocka_unit_test(test_chars),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
