/* runtime/task_classify.c: the functions sequence classification applies,
 * chosen from problem_type and the label count, the label order, and
 * next-sentence's probability. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "runtime/tasks.h"
#include "tests/testutil.h"

static void test_classify(void **state) {
  (void)state;
  char *labels[] = {"a", "b", "c"};
  rt_task_model_t m = {BERTC_TASK_SEQUENCE_CLASSIFICATION, 3, labels, "", 64, 0};
  float logits[] = {1.0f, 3.0f, 3.0f};
  bertc_label_score_t ls[3];
  rt_task_classify(&m, logits, BERTC_SCORE_FUNCTION_DEFAULT, ls); /* softmax; ties in order */
  assert_int_equal(ls[0].label, 1);
  assert_string_equal(ls[0].name, "b");
  assert_int_equal(ls[1].label, 2);
  assert_int_equal(ls[2].label, 0);
  double e1 = exp(-2.0), sum = 2 + e1;
  assert_float_equal(ls[0].score, 1 / sum, 1e-6);
  assert_float_equal(ls[2].score, e1 / sum, 1e-6);
  snprintf(m.problem_type, sizeof m.problem_type, "multi_label_classification");
  rt_task_classify(&m, logits, BERTC_SCORE_FUNCTION_DEFAULT, ls);
  assert_float_equal(ls[0].score, 1 / (1 + exp(-3.0)), 1e-6);
  snprintf(m.problem_type, sizeof m.problem_type, "regression");
  rt_task_classify(&m, logits, BERTC_SCORE_FUNCTION_DEFAULT, ls);
  assert_float_equal(ls[0].score, 3.0, 0);
  rt_task_classify(&m, logits, BERTC_SCORE_FUNCTION_SOFTMAX, ls);
  assert_float_equal(ls[0].score, 1 / sum, 1e-6);
  m.problem_type[0] = '\0';
  m.num_labels = 1; /* one label without a problem type: sigmoid, as the pipeline */
  rt_task_classify(&m, logits, BERTC_SCORE_FUNCTION_DEFAULT, ls);
  assert_float_equal(ls[0].score, 1 / (1 + exp(-1.0)), 1e-6);
  float nsp[] = {2.0f, 0.0f};
  assert_float_equal(rt_task_next_sentence(nsp), 1 / (1 + exp(-2.0)), 1e-6);
  bertc_score_function_t fn;
  assert_true(bertc_score_function_from_name("sigmoid", &fn) && fn == BERTC_SCORE_FUNCTION_SIGMOID);
  assert_true(bertc_score_function_from_name("default", &fn) && fn == BERTC_SCORE_FUNCTION_DEFAULT);
  assert_false(bertc_score_function_from_name("argmax", &fn));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_classify),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
