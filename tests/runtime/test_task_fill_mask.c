/* runtime/task_fill_mask.c: the mask check, top-k with ties and its cap at
 * the vocabulary, the decoded token and sequence. The pipeline against
 * HuggingFace is in test_pipeline.c. */
#include <stdlib.h>
#include <string.h>

#include "runtime/tasks.h"
#include "tests/fixture.h"
#include "tests/testutil.h"

static void test_fill_mask(void **state) {
  (void)state;
  char *dir = fx_dir("bert_mlm");
  tok_tokenizer_t *t = NULL;
  TU_ASSERT_OK(tok_load_dir(dir, &t));
  tok_encoding_t e;
  const char *s = "no mask";
  TU_ASSERT_OK(tok_encode(t, s, strlen(s), NULL, 0, 0, TOK_TRUNC_LONGEST_FIRST, &e));
  float logits[16 * 4] = {0};
  bertc_fill_mask_t r;
  TU_ASSERT_ERROR(rt_task_fill_mask(t, &e, logits, 4, 5, &r), "no mask token ([MASK])");
  assert_int_equal(r.num_masks, 0);
  tok_encoding_deinit(&e);
  s = "[MASK]";
  TU_ASSERT_OK(tok_encode(t, s, strlen(s), NULL, 0, 0, TOK_TRUNC_LONGEST_FIRST, &e));
  assert_int_equal(e.len, 3);
  for (int i = 0; i < 3 * 4; i++)
    logits[i] = (float)(i % 4);                              /* vocab of 4: ids 0..3 */
  logits[4 + 1] = 3.0f;                                      /* tie of ids 1 and 3 */
  TU_ASSERT_OK(rt_task_fill_mask(t, &e, logits, 4, 10, &r)); /* top_k capped at 4 */
  assert_int_equal(r.num_masks, 1);
  assert_int_equal(r.masks[0].position, 1);
  assert_int_equal(r.masks[0].count, 4);
  assert_int_equal(r.masks[0].candidates[0].token, 1);
  assert_int_equal(r.masks[0].candidates[1].token, 3);
  assert_string_equal(r.masks[0].candidates[1].token_str, "[SEP]");
  assert_string_equal(r.masks[0].candidates[1].sequence, ""); /* one mask: specials skipped */
  bertc_fill_mask_deinit(&r);
  bertc_fill_mask_deinit(NULL);
  tok_encoding_deinit(&e);
  tok_release(t);
  free(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fill_mask),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
