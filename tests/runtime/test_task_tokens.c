/* runtime/task_tokens.c: grouping with and without words, the ignore list,
 * and the aggregation names. The strategies against HuggingFace are in
 * test_pipeline.c. */
#include <stdlib.h>
#include <string.h>

#include "runtime/tasks.h"
#include "tests/fixture.h"
#include "tests/testutil.h"

static void test_token_classify_ignore(void **state) {
  (void)state;
  char *dir = fx_dir("bert_tokcls");
  tok_tokenizer_t *t = NULL;
  TU_ASSERT_OK(tok_load_dir(dir, &t));
  char *labels[] = {"O", "B-PER", "I-PER"};
  rt_task_model_t m = {BERTC_TASK_TOKEN_CLASSIFICATION, 3, labels, "", 64, 0};
  const char *s = "ann met the";
  tok_encoding_t e;
  TU_ASSERT_OK(tok_encode(t, s, strlen(s), NULL, 0, 0, TOK_TRUNC_LONGEST_FIRST, &e));
  /* [CLS] an ##n met the [SEP]: B-PER I-PER O B-PER */
  int32_t want[] = {0, 1, 2, 0, 1, 0};
  assert_int_equal(e.len, 6);
  float logits[6 * 3];
  for (size_t i = 0; i < 6; i++)
    for (int l = 0; l < 3; l++)
      logits[i * 3 + (size_t)l] = l == want[i] ? 2.0f : 0.0f;
  bertc_entities_t ents;
  TU_ASSERT_OK(rt_task_token_classify(&m, t, s, strlen(s), &e, logits, BERTC_AGGREGATION_SIMPLE,
                                      NULL, 0, &ents));
  assert_int_equal(ents.count, 2);
  assert_string_equal(ents.items[0].label, "PER");
  assert_string_equal(ents.items[0].word, "ann");
  assert_int_equal(ents.items[0].start, 0);
  assert_int_equal(ents.items[0].end, 3);
  assert_int_equal(ents.items[0].index, -1);
  assert_string_equal(ents.items[1].word, "the");
  bertc_entities_deinit(&ents);
  const char *none[1] = {NULL};
  TU_ASSERT_OK(rt_task_token_classify(&m, t, s, strlen(s), &e, logits, BERTC_AGGREGATION_FIRST,
                                      none, 0, &ents));
  assert_int_equal(ents.count, 3); /* "O" kept */
  assert_string_equal(ents.items[1].label, "O");
  assert_string_equal(ents.items[1].word, "met");
  bertc_entities_deinit(&ents);
  TU_ASSERT_OK(rt_task_token_classify(&m, t, s, strlen(s), &e, logits, BERTC_AGGREGATION_NONE, NULL,
                                      0, &ents));
  assert_int_equal(ents.count, 3); /* an, ##n, the */
  assert_string_equal(ents.items[1].label, "I-PER");
  assert_int_equal(ents.items[1].index, 2);
  bertc_entities_deinit(&ents);
  tok_encoding_deinit(&e);
  tok_release(t);
  free(dir);
}

static void test_aggregation_names(void **state) {
  (void)state;
  bertc_aggregation_t a;
  assert_true(bertc_aggregation_from_name("average", &a) && a == BERTC_AGGREGATION_AVERAGE);
  assert_false(bertc_aggregation_from_name("mean", &a));
  assert_string_equal(bertc_aggregation_name(BERTC_AGGREGATION_MAX), "max");
  assert_string_equal(bertc_aggregation_name((bertc_aggregation_t)9), "?");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_token_classify_ignore),
      cmocka_unit_test(test_aggregation_names),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
