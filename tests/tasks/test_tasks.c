/* runtime/tasks.c through its C API: the decoder and word ids against
 * HuggingFace on the tokenizer corpus (tests/fixtures/pipelines/decode.*,
 * made by scripts/make_pipeline_fixtures.py), legacy tokenizer files,
 * classification functions and ordering, question-answering windows, and
 * the errors. The heads end to end are in test_pipelines.c. */
#define _GNU_SOURCE
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "base/base.h"
#include "runtime/tasks.h"
#include "tokenizer/tokenizer.h"
#include "tests/fixture.h"
#include "tests/testutil.h"

typedef struct {
  tok_tokenizer_t *tok;
  rt_decoder_t *dec;
} text_t;

static void text_load(const char *dir, text_t *t) {
  TU_ASSERT_OK(tok_load_dir(dir, &t->tok));
  TU_ASSERT_OK(rt_decoder_create_dir(t->tok, dir, &t->dec));
}

static void text_free(text_t *t) {
  rt_decoder_release(t->dec);
  tok_release(t->tok);
}

static void load_tiny(const char *name, text_t *t) {
  char *d = fx_dir(name);
  text_load(d, t);
  free(d);
}

/* ---- decode() and word_ids() on the tokenizer corpus ------------------------------ */

/* Whether a text holds a code point utf8proc's Unicode version leaves
 * unassigned: HF's regex may know its category, the word split here cannot. */
static bool has_unassigned(const char *s, size_t n) {
  utf8proc_int32_t c;
  for (size_t i = 0; i < n;) {
    utf8proc_ssize_t k =
        utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(n - i), &c);
    if (k <= 0) return false;
    if (utf8proc_category(c) == UTF8PROC_CATEGORY_CN) return true;
    i += (size_t)k;
  }
  return false;
}

static void check_decode_corpus(const char *name) {
  char rel[256];
  snprintf(rel, sizeof rel, "tests/fixtures/tokenizer/%s", name);
  char *dir = tu_source_path(rel);
  snprintf(rel, sizeof rel, "tests/fixtures/pipelines/decode.%s.jsonl", name);
  char *file = tu_source_path(rel);
  text_t t;
  text_load(dir, &t);
  FILE *f = fopen(file, "rb");
  assert_non_null(f);
  char *line = NULL;
  size_t cap = 0;
  int n = 0, skipped = 0;
  while (getline(&line, &cap, f) > 0) {
    n++;
    json_error_t err;
    json_t *row = json_loads(line, JSON_ALLOW_NUL, &err);
    if (!row) fail_msg("%s:%d: %s", file, n, err.text);
    json_t *text = json_object_get(row, "text"), *pair = json_object_get(row, "text_pair");
    tok_encoding_t e;
    bertc_status_t s =
        tok_encode(t.tok, json_string_value(text), json_string_length(text),
                            pair ? json_string_value(pair) : NULL,
                            pair ? json_string_length(pair) : 0, 0, TOK_TRUNC_LONGEST_FIRST, &e);
    if (s) fail_msg("%s line %d: %s", name, n, bertc_status_message(s));
    json_t *ids = json_object_get(row, "ids"), *words = json_object_get(row, "word_ids");
    assert_int_equal(e.len, json_array_size(ids));
    int32_t *w = malloc(e.len * sizeof *w);
    TU_ASSERT_OK(rt_decoder_word_ids(t.dec, json_string_value(text), json_string_length(text),
                                     pair ? json_string_value(pair) : NULL,
                                     pair ? json_string_length(pair) : 0, &e, w));
    /* WordPiece words come from the "##" prefix; byte-level ones from categories */
    bool words_known =
        strcmp(name, "bpe") ||
        (!has_unassigned(json_string_value(text), json_string_length(text)) &&
         !(pair && has_unassigned(json_string_value(pair), json_string_length(pair))));
    skipped += !words_known;
    for (size_t i = 0; i < e.len; i++) {
      if (e.ids[i] != json_integer_value(json_array_get(ids, i)))
        fail_msg("%s line %d: token %zu is %d, HF %lld", name, n, i, e.ids[i],
                 (long long)json_integer_value(json_array_get(ids, i)));
      if (words_known && w[i] != json_integer_value(json_array_get(words, i)))
        fail_msg("%s line %d (%s): word id of token %zu '%s' is %d, HF %lld", name, n,
                 json_string_value(text), i, e.tokens[i], w[i],
                 (long long)json_integer_value(json_array_get(words, i)));
    }
    char *d = NULL, *ds = NULL;
    TU_ASSERT_OK(rt_decoder_decode(t.dec, e.ids, e.len, false, &d));
    TU_ASSERT_OK(rt_decoder_decode(t.dec, e.ids, e.len, true, &ds));
    const char *want = json_string_value(json_object_get(row, "decode"));
    const char *want_skip = json_string_value(json_object_get(row, "decode_skip"));
    /* decoded text is a C string: compare up to a NUL the text may hold */
    if (strcmp(d, want)) fail_msg("%s line %d: decode '%s', HF '%s'", name, n, d, want);
    if (strcmp(ds, want_skip))
      fail_msg("%s line %d: decode(skip_special_tokens) '%s', HF '%s'", name, n, ds, want_skip);
    free(d);
    free(ds);
    free(w);
    tok_encoding_deinit(&e);
    json_decref(row);
  }
  assert_true(n > 800);
  print_message("%s: %d lines, word ids not compared on %d with code points newer than "
                "utf8proc's Unicode\n",
                name, n, skipped);
  free(line);
  fclose(f);
  text_free(&t);
  free(dir);
  free(file);
}

static void test_decode_wordpiece(void **state) {
  (void)state;
  check_decode_corpus("wordpiece");
}

static void test_decode_bpe(void **state) {
  (void)state;
  check_decode_corpus("bpe");
}

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
  char *wp = tu_scratch_path("tasks/legacy_wp/"), *bpe = tu_scratch_path("tasks/legacy_bpe/");
  copy_file(bert, wp, "vocab.txt");
  copy_file(bert, wp, "special_tokens_map.json");
  copy_file(roberta, bpe, "vocab.json");
  copy_file(roberta, bpe, "merges.txt");
  text_t t;
  text_load(wp, &t);
  tok_encoding_t e;
  const char *s = "Hello , [MASK] isn't it.";
  TU_ASSERT_OK(tok_encode(t.tok, s, strlen(s), NULL, 0, 0, TOK_TRUNC_LONGEST_FIRST, &e));
  char *d = NULL;
  TU_ASSERT_OK(rt_decoder_decode(t.dec, e.ids, e.len, false, &d));
  assert_string_equal(d, "[CLS] hello, [MASK] isn ' t it. [SEP]");
  free(d);
  TU_ASSERT_OK(rt_decoder_decode(t.dec, e.ids, e.len, true, &d));
  assert_string_equal(d, "hello, isn ' t it.");
  free(d);
  tok_encoding_deinit(&e);
  text_free(&t);
  text_load(bpe, &t);
  s = "The old station, left.";
  TU_ASSERT_OK(tok_encode(t.tok, s, strlen(s), NULL, 0, 0, TOK_TRUNC_LONGEST_FIRST, &e));
  TU_ASSERT_OK(rt_decoder_decode(t.dec, e.ids, e.len, false, &d));
  assert_string_equal(d, "<s>The old station, left.</s>");
  free(d);
  TU_ASSERT_OK(rt_decoder_decode(t.dec, e.ids, e.len, true, &d));
  assert_string_equal(d, "The old station, left.");
  free(d);
  const char *toks[] = {"\xC4\xA0"
                        "caf",
                        "\xC3\x83\xC2\xA9", " x"}; /* "Ġcaf", "Ã©" = é's bytes */
  TU_ASSERT_OK(rt_decoder_join(t.dec, toks, 3, &d));
  assert_string_equal(d, " caf\xC3\xA9 x");
  free(d);
  const char *broken[] = {"\xC3\x83", "a"}; /* a lone lead byte: one U+FFFD, like Rust */
  TU_ASSERT_OK(rt_decoder_join(t.dec, broken, 2, &d));
  assert_string_equal(d, "\xEF\xBF\xBD"
                         "a");
  free(d);
  tok_encoding_deinit(&e);
  text_free(&t);
  free(wp);
  free(bpe);
  free(bert);
  free(roberta);
}

/* A decoder bertc does not know only fails when used. */
static void test_decode_unsupported(void **state) {
  (void)state;
  char *bert = fx_dir("bert_mlm");
  text_t t;
  text_load(bert, &t);
  const char *blob_tj =
      "{\"decoder\": {\"type\": \"Metaspace\"}, \"model\": {\"type\": \"WordPiece\"}}";
  size_t n = strlen(blob_tj);
  uint8_t *blob = malloc(n + 64);
  size_t k = 0;
  memcpy(blob, "tokenizer.json", 15);
  k = 15;
  for (int i = 0; i < 8; i++)
    blob[k++] = (uint8_t)(n >> (8 * i));
  memcpy(blob + k, blob_tj, n);
  k += n;
  blob[k++] = 0;
  rt_decoder_t *d = NULL;
  TU_ASSERT_OK(rt_decoder_create(t.tok, blob, k, &d));
  int32_t ids[] = {2, 3};
  char *out = NULL;
  TU_ASSERT_ERROR(rt_decoder_decode(d, ids, 2, false, &out),
                  "decoder 'Metaspace' is not supported");
  assert_null(out);
  rt_decoder_release(d);
  free(blob);
  text_free(&t);
  free(bert);
}

/* ---- Classification --------------------------------------------------------------- */

static void test_classify(void **state) {
  (void)state;
  char *labels[] = {"a", "b", "c"};
  rt_task_model_t m = {BERTC_TASK_SEQUENCE_CLASSIFICATION, 3, labels, "", 64};
  float logits[] = {1.0f, 3.0f, 3.0f};
  rt_label_score_t ls[3];
  rt_task_classify(&m, logits, RT_CLASS_FN_DEFAULT, ls); /* softmax; ties keep label order */
  assert_int_equal(ls[0].label, 1);
  assert_int_equal(ls[1].label, 2);
  assert_int_equal(ls[2].label, 0);
  double e1 = exp(-2.0), sum = 2 + e1;
  assert_float_equal(ls[0].score, 1 / sum, 1e-6);
  assert_float_equal(ls[2].score, e1 / sum, 1e-6);
  snprintf(m.problem_type, sizeof m.problem_type, "multi_label_classification");
  rt_task_classify(&m, logits, RT_CLASS_FN_DEFAULT, ls);
  assert_float_equal(ls[0].score, 1 / (1 + exp(-3.0)), 1e-6);
  snprintf(m.problem_type, sizeof m.problem_type, "regression");
  rt_task_classify(&m, logits, RT_CLASS_FN_DEFAULT, ls);
  assert_float_equal(ls[0].score, 3.0, 0);
  rt_task_classify(&m, logits, RT_CLASS_FN_SOFTMAX, ls);
  assert_float_equal(ls[0].score, 1 / sum, 1e-6);
  m.problem_type[0] = '\0';
  m.num_labels = 1; /* one label without a problem type: sigmoid, as the pipeline */
  rt_task_classify(&m, logits, RT_CLASS_FN_DEFAULT, ls);
  assert_float_equal(ls[0].score, 1 / (1 + exp(-1.0)), 1e-6);
  float nsp[] = {2.0f, 0.0f};
  assert_float_equal(rt_task_next_sentence(nsp), 1 / (1 + exp(-2.0)), 1e-6);
  rt_class_fn_t fn;
  assert_true(rt_class_fn_from_name("sigmoid", &fn) && fn == RT_CLASS_FN_SIGMOID);
  assert_false(rt_class_fn_from_name("argmax", &fn));
}

static void test_metadata(void **state) {
  (void)state;
  json_t *meta = json_loads("{\"task\": \"token-classification\", \"labels\": [\"O\", 7], "
                            "\"problem_type\": \"\", \"max_seq_length\": 128}",
                            0, NULL);
  rt_task_model_t m;
  TU_ASSERT_OK(rt_task_model_from_metadata(meta, &m));
  assert_int_equal(m.task, BERTC_TASK_TOKEN_CLASSIFICATION);
  assert_int_equal(m.num_labels, 2);
  assert_string_equal(m.labels[0], "O");
  assert_string_equal(m.labels[1], "LABEL_1");
  assert_int_equal(m.max_seq_length, 128);
  rt_task_model_deinit(&m);
  json_decref(meta);
  meta = json_loads("{\"task\": \"summarization\"}", 0, NULL);
  TU_ASSERT_ERROR(rt_task_model_from_metadata(meta, &m), "unknown task 'summarization'");
  json_decref(meta);
  bertc_task_t t;
  assert_true(bertc_task_from_name("question-answering", &t) && t == BERTC_TASK_QUESTION_ANSWERING);
  assert_string_equal(bertc_task_name(BERTC_TASK_NSP), "next-sentence");
}

/* ---- Fill-mask and token classification errors -------------------------------------- */

static void test_fill_mask_api(void **state) {
  (void)state;
  text_t t;
  load_tiny("bert_mlm", &t);
  tok_encoding_t e;
  const char *s = "no mask";
  TU_ASSERT_OK(tok_encode(t.tok, s, strlen(s), NULL, 0, 0, TOK_TRUNC_LONGEST_FIRST, &e));
  float logits[16 * 4] = {0};
  rt_fill_mask_result_t r;
  TU_ASSERT_ERROR(rt_task_fill_mask(t.dec, &e, logits, 4, 5, &r), "no mask token ([MASK])");
  tok_encoding_deinit(&e);
  s = "[MASK]";
  TU_ASSERT_OK(tok_encode(t.tok, s, strlen(s), NULL, 0, 0, TOK_TRUNC_LONGEST_FIRST, &e));
  assert_int_equal(e.len, 3);
  for (int i = 0; i < 3 * 4; i++)
    logits[i] = (float)(i % 4);                                  /* vocab of 4: ids 0..3 */
  logits[4 + 1] = 3.0f;                                          /* tie of ids 1 and 3 */
  TU_ASSERT_OK(rt_task_fill_mask(t.dec, &e, logits, 4, 10, &r)); /* top_k capped at 4 */
  assert_int_equal(r.num_masks, 1);
  assert_int_equal(r.masks[0].position, 1);
  assert_int_equal(r.masks[0].count, 4);
  assert_int_equal(r.masks[0].candidates[0].token, 1);
  assert_int_equal(r.masks[0].candidates[1].token, 3);
  assert_string_equal(r.masks[0].candidates[1].token_str, "[SEP]");
  assert_string_equal(r.masks[0].candidates[1].sequence, ""); /* one mask: specials skipped */
  rt_fill_mask_result_deinit(&r);
  tok_encoding_deinit(&e);
  text_free(&t);
}

static void test_token_classify_ignore(void **state) {
  (void)state;
  text_t t;
  load_tiny("bert_tokcls", &t);
  char *labels[] = {"O", "B-PER", "I-PER"};
  rt_task_model_t m = {BERTC_TASK_TOKEN_CLASSIFICATION, 3, labels, "", 64};
  const char *s = "ann met the";
  tok_encoding_t e;
  TU_ASSERT_OK(tok_encode(t.tok, s, strlen(s), NULL, 0, 0, TOK_TRUNC_LONGEST_FIRST, &e));
  /* [CLS] an ##n met the [SEP]: B-PER I-PER O B-PER */
  int32_t want[] = {0, 1, 2, 0, 1, 0};
  assert_int_equal(e.len, 6);
  float logits[6 * 3];
  for (size_t i = 0; i < 6; i++)
    for (int l = 0; l < 3; l++)
      logits[i * 3 + (size_t)l] = l == want[i] ? 2.0f : 0.0f;
  rt_entities_t ents;
  TU_ASSERT_OK(
      rt_task_token_classify(&m, t.dec, s, strlen(s), &e, logits, RT_AGG_SIMPLE, NULL, 0, &ents));
  assert_int_equal(ents.count, 2);
  assert_string_equal(ents.items[0].label, "PER");
  assert_string_equal(ents.items[0].word, "ann");
  assert_int_equal(ents.items[0].start, 0);
  assert_int_equal(ents.items[0].end, 3);
  assert_string_equal(ents.items[1].word, "the");
  rt_entities_deinit(&ents);
  const char *none[1] = {NULL};
  TU_ASSERT_OK(
      rt_task_token_classify(&m, t.dec, s, strlen(s), &e, logits, RT_AGG_FIRST, none, 0, &ents));
  assert_int_equal(ents.count, 3); /* "O" kept */
  assert_string_equal(ents.items[1].label, "O");
  assert_string_equal(ents.items[1].word, "met");
  rt_entities_deinit(&ents);
  tok_encoding_deinit(&e);
  text_free(&t);
}

/* ---- Question-answering windows ---------------------------------------------------- */

static void test_qa_windows(void **state) {
  (void)state;
  text_t t;
  load_tiny("bert_qa", &t);
  const char *q = "where is it?";
  char ctx[2048] = "";
  for (int i = 0; i < 40; i++)
    strcat(ctx, i % 2 ? "tea and " : "the school ");
  rt_qa_options_t o;
  rt_qa_options_init(&o);
  o.max_seq_len = 24;
  o.doc_stride = 5;
  rt_qa_features_t f;
  TU_ASSERT_OK(rt_task_qa_features(t.dec, q, strlen(q), ctx, strlen(ctx), 64, &o, &f));
  /* [CLS] where is it ? [SEP] ... [SEP]: 6 + 1 specials, 17 context tokens per window */
  int32_t n_ctx = 0;
  for (size_t i = 0; i < f.full.len; i++)
    n_ctx += f.full.sequence_ids[i] == 1;
  int32_t per = 24 - 7, step = per - 5;
  assert_int_equal(f.num_windows, 1 + (n_ctx - per + step - 1) / step);
  for (int32_t w = 0; w < f.num_windows; w++) {
    const rt_qa_window_t *win = &f.windows[w];
    assert_true(win->len <= 24);
    assert_int_equal(win->ids[0], 2);
    assert_int_equal(win->ids[win->len - 1], 3);
    assert_int_equal(win->source[6], 6 + w * step); /* its first context token */
    assert_int_equal(win->type_ids[6], 1);
    assert_int_equal(win->type_ids[5], 0);
  }
  const rt_qa_window_t *last = &f.windows[f.num_windows - 1];
  assert_int_equal(last->source[last->len - 2], (int32_t)f.full.len - 2);
  rt_qa_features_deinit(&f);
  /* no room for the context */
  o.max_seq_len = 7;
  TU_ASSERT_ERROR(rt_task_qa_features(t.dec, q, strlen(q), ctx, strlen(ctx), 64, &o, &f),
                  "no room for the context");
  /* an explicit stride must be smaller than the context part; the default adapts */
  o.max_seq_len = 12;
  TU_ASSERT_ERROR(rt_task_qa_features(t.dec, q, strlen(q), ctx, strlen(ctx), 64, &o, &f),
                  "not more than the doc stride 5");
  o.doc_stride = -1;
  TU_ASSERT_OK(rt_task_qa_features(t.dec, q, strlen(q), ctx, strlen(ctx), 64, &o, &f));
  assert_int_equal(f.doc_stride, 2);
  rt_qa_features_deinit(&f);
  TU_ASSERT_ERROR(rt_task_qa_features(t.dec, q, strlen(q), "", 0, 64, &o, &f),
                  "the context is empty");
  text_free(&t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_decode_wordpiece),
      cmocka_unit_test(test_decode_bpe),
      cmocka_unit_test(test_decode_legacy_files),
      cmocka_unit_test(test_decode_unsupported),
      cmocka_unit_test(test_classify),
      cmocka_unit_test(test_metadata),
      cmocka_unit_test(test_fill_mask_api),
      cmocka_unit_test(test_token_classify_ignore),
      cmocka_unit_test(test_qa_windows),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
