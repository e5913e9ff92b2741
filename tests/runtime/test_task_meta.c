/* runtime/task_meta.c: the model facts read from the metadata JSON. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/tasks.h"
#include "tests/testutil.h"

static void test_metadata(void **state) {
  (void)state;
  json_t *meta = json_loads("{\"task\": \"token-classification\", \"labels\": [\"O\", 7], "
                            "\"problem_type\": \"\", \"max_seq_length\": 128, "
                            "\"pad_token_id\": 1}",
                            0, NULL);
  rt_task_model_t m;
  TU_ASSERT_OK(rt_task_model_from_metadata(meta, &m));
  assert_int_equal(m.task, BERTC_TASK_TOKEN_CLASSIFICATION);
  assert_int_equal(m.num_labels, 2);
  assert_string_equal(m.labels[0], "O");
  assert_string_equal(m.labels[1], "LABEL_1");
  assert_int_equal(m.max_seq_length, 128);
  assert_int_equal(m.pad_id, 1);
  rt_task_model_deinit(&m);
  json_decref(meta);
  meta = json_loads("{\"task\": \"summarization\"}", 0, NULL);
  TU_ASSERT_ERROR(rt_task_model_from_metadata(meta, &m), "unknown task 'summarization'");
  json_decref(meta);
  meta = json_loads("{\"pad_token_id\": -3}", 0, NULL);
  assert_int_equal(rt_metadata_pad_id(meta), 0);
  TU_ASSERT_ERROR(rt_task_model_from_metadata(meta, &m), "unknown task '(missing)'");
  json_decref(meta);
  bertc_task_t t;
  assert_true(bertc_task_from_name("question-answering", &t) && t == BERTC_TASK_QUESTION_ANSWERING);
  assert_string_equal(bertc_task_name(BERTC_TASK_NSP), "next-sentence");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_metadata),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
