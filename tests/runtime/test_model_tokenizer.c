/* The public text API (runtime/model_tokenizer.c: bertc_tokenizer_*) and the
 * program built on it, examples/search/search.c: the tokenizer a .so carries
 * encodes like `bertc tokenize` (same ids, same truncation), a .so without
 * tokenizer files says so, and the search example, compiled against the
 * public header and the shared runtime, finds the right document with
 * all-MiniLM-L6-v2. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/driver.h"
#include "bertc/bertc.h"
#include "tests/fixture.h"
#include "tests/testutil.h"

static char *compile_fixture(const char *dir, const char *out_rel, const int64_t *seqs, size_t n) {
  char *so = tu_scratch_path(out_rel);
  driver_options_t d;
  driver_options_init(&d);
  d.quiet = true;
  d.seq_lens = seqs;
  d.num_seq_lens = n;
  TU_ASSERT_OK(driver_compile(dir, &d, so));
  return so;
}

static void test_encode_like_cli(void **state) {
  (void)state;
  char *dir = fx_dir("bert_nsp");
  static const int64_t seqs[] = {8, 16};
  char *so = compile_fixture(dir, "tasks/public/bert_nsp.so", seqs, 2);
  bertc_model_t *model = NULL;
  bertc_model_load_options_t lo;
  bertc_model_load_options_init(&lo);
  lo.inspect_only = true;
  TU_ASSERT_OK(bertc_model_load(so, &lo, &model));
  bertc_tokenizer_t *tok = NULL;
  TU_ASSERT_OK(bertc_tokenizer_create_from_model(model, &tok));
  bertc_model_release(model); /* the tokenizer does not need it */
  assert_int_equal(bertc_tokenizer_max_length(tok), 16);
  bertc_encoding_t e;
  const char *a = "Where?", *b = "Here.";
  TU_ASSERT_OK(bertc_tokenizer_encode(tok, a, strlen(a), b, strlen(b), &e));
  static const int32_t ids[] = {2, 214, 61, 3, 316, 54, 3}, types[] = {0, 0, 0, 0, 1, 1, 1};
  static const int32_t offsets[] = {0, 0, 0, 5, 5, 6, 0, 0, 0, 4, 4, 5, 0, 0};
  assert_int_equal(e.length, 7);
  assert_memory_equal(e.input_ids, ids, sizeof ids);
  assert_memory_equal(e.token_type_ids, types, sizeof types);
  assert_memory_equal(e.offsets, offsets, sizeof offsets);
  assert_false(e.truncated);
  bertc_tokenizer_encoding_deinit(&e);
  const char *long_text = "tea tea tea tea tea tea tea tea tea tea tea tea tea tea tea tea tea";
  TU_ASSERT_OK(bertc_tokenizer_encode(tok, long_text, strlen(long_text), NULL, 0, &e));
  assert_int_equal(e.length, 16);
  assert_true(e.truncated);
  assert_int_equal(e.input_ids[15], 3);
  bertc_tokenizer_encoding_deinit(&e);
  TU_ASSERT_ERROR(bertc_tokenizer_encode(tok, "\xff", 1, NULL, 0, &e), "UTF-8");
  assert_int_equal(e.length, 0);
  bertc_tokenizer_encoding_deinit(&e);
  bertc_tokenizer_release(tok);
  bertc_tokenizer_release(NULL);
  free(so);
  free(dir);
  /* a model compiled without tokenizer files */
  dir = fx_dir("albert");
  so = compile_fixture(dir, "tasks/public/albert.so", seqs, 2);
  TU_ASSERT_OK(bertc_model_load(so, &lo, &model));
  TU_ASSERT_ERROR(bertc_tokenizer_create_from_model(model, &tok), "carries no tokenizer");
  assert_null(tok);
  bertc_model_release(model);
  free(so);
  free(dir);
}

/* A model directory's tokenizer encodes like the one its .so carries. */
static void test_create_from_dir(void **state) {
  (void)state;
  char *dir = fx_dir("bert_nsp");
  bertc_tokenizer_t *tok = NULL;
  TU_ASSERT_OK(bertc_tokenizer_create_from_dir(dir, 6, &tok));
  assert_int_equal(bertc_tokenizer_max_length(tok), 6);
  bertc_encoding_t e;
  const char *a = "Where?", *b = "Here.";
  TU_ASSERT_OK(bertc_tokenizer_encode(tok, a, strlen(a), b, strlen(b), &e));
  static const int32_t ids[] = {2, 214, 3, 316, 54, 3};
  assert_int_equal(e.length, 6);
  assert_memory_equal(e.input_ids, ids, sizeof ids);
  assert_true(e.truncated);
  bertc_tokenizer_encoding_deinit(&e);
  bertc_tokenizer_release(tok);
  TU_ASSERT_OK(bertc_tokenizer_create_from_dir(dir, 0, &tok));
  assert_int_equal(bertc_tokenizer_max_length(tok), 0);
  const char *long_text = "tea tea tea tea tea tea tea tea tea tea tea tea tea tea tea tea tea";
  TU_ASSERT_OK(bertc_tokenizer_encode(tok, long_text, strlen(long_text), NULL, 0, &e));
  assert_int_equal(e.length, 53);
  assert_false(e.truncated);
  bertc_tokenizer_encoding_deinit(&e);
  bertc_tokenizer_release(tok);
  free(dir);
  bertc_status_t s = bertc_tokenizer_create_from_dir("/nonexistent-bertc-dir", 0, &tok);
  assert_non_null(s);
  bertc_status_free(s);
  assert_null(tok);
}

static void test_search_example(void **state) {
  (void)state;
  static const int64_t seqs[] = {32, 64};
  char *so = compile_fixture(tu_minilm_dir(), "tasks/public/minilm.so", seqs, 2);
  char *src = tu_source_path("examples/search/search.c");
  char *inc = tu_source_path("include");
  char *docs = tu_source_path("examples/search/docs.txt");
  char *bin = tu_scratch_path("tasks/public/search");
  const char *build = getenv("BERTC_BINARY_DIR");
  char cmd[4096];
  snprintf(cmd, sizeof cmd,
           "cc -std=c11 -Wall -Wextra -Wpedantic -Werror %s -I'%s' '%s' -L'%s/runtime' "
           "-lbertc_runtime -lm -Wl,-rpath,'%s/runtime' -o '%s'",
           BERTC_TEST_CC_FLAGS, inc, src, build, build, bin);
  char *out = NULL, *err = NULL;
  if (tu_run(cmd, &out, &err) != 0) fail_msg("%s:\n%s", cmd, err);
  free(out);
  free(err);
  snprintf(cmd, sizeof cmd,
           "'%s' -k 2 '%s' '%s' 'how do I reset my password' 'when is the office open?' "
           "'how long does delivery take'",
           bin, so, docs);
  if (tu_run(cmd, &out, &err) != 0) fail_msg("%s:\n%s", cmd, err);
  print_message("%s", out);
  const char *want[] = {"how do I reset my password\n  0.",  "To reset your password",
                        "when is the office open?\n  0.",    "Our office is open",
                        "how long does delivery take\n  0.", "Shipping to Europe"};
  const char *p = out;
  for (size_t i = 0; i < 6; i++) {
    const char *q = strstr(p, want[i]);
    if (!q) fail_msg("search output lacks '%s' where expected:\n%s", want[i], out);
    p = q + strlen(want[i]);
  }
  free(out);
  free(err);
  /* usage and a model without a sentence embedding */
  snprintf(cmd, sizeof cmd, "'%s' '%s'", bin, so);
  assert_int_equal(tu_run(cmd, NULL, NULL), 2);
  char *dir = fx_dir("bert");
  static const int64_t small[] = {16};
  char *enc = compile_fixture(dir, "tasks/public/bert.so", small, 1);
  snprintf(cmd, sizeof cmd, "'%s' '%s' '%s' q", bin, enc, docs);
  assert_int_equal(tu_run(cmd, NULL, &err), 1);
  assert_non_null(strstr(err, "no sentence_embedding output"));
  free(err);
  free(enc);
  free(dir);
  free(bin);
  free(docs);
  free(inc);
  free(src);
  free(so);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_encode_like_cli),
      cmocka_unit_test(test_create_from_dir),
      cmocka_unit_test(test_search_example),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
