/* The status type: OK is NULL, messages format and gain context. */
#include <string.h>
#include "tests/testutil.h"

static void test_ok_is_null(void **state) {
  assert_null(BERTC_OK);
  assert_int_equal(bertc_status_code(BERTC_OK), BERTC_STATUS_OK);
  assert_string_equal(bertc_status_message(BERTC_OK), "OK");
  assert_null(bertc_status_annotate(BERTC_OK, "ctx"));
}

static void test_message_and_annotate(void **state) {
  bertc_status_t s = bertc_status_make(BERTC_STATUS_DATA, "tensor '%s' has %d dims", "w", 3);
  assert_int_equal(bertc_status_code(s), BERTC_STATUS_DATA);
  assert_string_equal(bertc_status_message(s), "tensor 'w' has 3 dims");
  s = bertc_status_annotate(s, "%s", "model.safetensors");
  assert_string_equal(bertc_status_message(s), "model.safetensors: tensor 'w' has 3 dims");
  bertc_status_free(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ok_is_null),
      cmocka_unit_test(test_message_and_annotate),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
