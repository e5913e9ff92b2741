/* runtime/task_qa.c: question + context windows (length, stride, the
 * stride a long question forces, errors) and the answers' span rules on
 * made-up logits. The pipeline against HuggingFace is in test_pipeline.c. */
#include <stdlib.h>
#include <string.h>

#include "runtime/tasks.h"
#include "tests/fixture.h"
#include "tests/testutil.h"

static void test_qa_windows(void **state) {
  (void)state;
  char *dir = fx_dir("bert_qa");
  tok_tokenizer_t *t = NULL;
  TU_ASSERT_OK(tok_load_dir(dir, &t));
  const char *q = "where is it?";
  char ctx[2048] = "";
  for (int i = 0; i < 40; i++)
    strcat(ctx, i % 2 ? "tea and " : "the school ");
  bertc_pipeline_options_t o;
  bertc_pipeline_options_init(&o);
  o.max_window_length = 24;
  o.doc_stride = 5;
  rt_qa_features_t f;
  TU_ASSERT_OK(rt_task_qa_features(t, q, strlen(q), ctx, strlen(ctx), 64, &o, &f));
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
  o.max_window_length = 7;
  TU_ASSERT_ERROR(rt_task_qa_features(t, q, strlen(q), ctx, strlen(ctx), 64, &o, &f),
                  "no room for the context");
  /* an explicit stride must be smaller than the context part; the default adapts */
  o.max_window_length = 12;
  TU_ASSERT_ERROR(rt_task_qa_features(t, q, strlen(q), ctx, strlen(ctx), 64, &o, &f),
                  "not more than the doc stride 5");
  o.doc_stride = -1;
  TU_ASSERT_OK(rt_task_qa_features(t, q, strlen(q), ctx, strlen(ctx), 64, &o, &f));
  assert_int_equal(f.doc_stride, 2);
  rt_qa_features_deinit(&f);
  TU_ASSERT_ERROR(rt_task_qa_features(t, q, strlen(q), "", 0, 64, &o, &f), "the context is empty");
  tok_release(t);
  free(dir);
}

/* Spans: start x end inside the context (CLS and the question left out),
 * widened to whole words, equal answers merged ignoring case. */
static void test_qa_answers(void **state) {
  (void)state;
  char *dir = fx_dir("bert_qa");
  tok_tokenizer_t *t = NULL;
  TU_ASSERT_OK(tok_load_dir(dir, &t));
  const char *q = "who?", *ctx = "Ann met ANN";
  bertc_pipeline_options_t o;
  bertc_pipeline_options_init(&o);
  rt_qa_features_t f;
  TU_ASSERT_OK(rt_task_qa_features(t, q, strlen(q), ctx, strlen(ctx), 64, &o, &f));
  assert_int_equal(f.num_windows, 1);
  /* [CLS] who ? [SEP] an ##n met an ##n [SEP] */
  assert_int_equal(f.windows[0].len, 10);
  float start[10] = {0, 9, 9, 9, 5, 0, 0, 5, 0, 9}, end[10] = {0, 9, 9, 9, 0, 6, 0, 0, 6, 9};
  const float *s = start, *e = end;
  bertc_qa_answers_t a;
  o.top_k = 3;
  o.max_answer_length = 2;
  TU_ASSERT_OK(rt_task_qa_answers(t, &f, ctx, strlen(ctx), &s, &e, &o, &a));
  assert_int_equal(a.count, 3);
  /* "Ann" (an ##n, 0..3) and "ANN" (8..11) are one answer with both scores */
  assert_string_equal(a.items[0].answer, "Ann");
  assert_int_equal(a.items[0].start, 0);
  assert_int_equal(a.items[0].end, 3);
  for (int32_t i = 1; i < a.count; i++) {
    assert_true(strcmp(a.items[i].answer, "ANN") != 0);
    assert_true(a.items[i - 1].score >= a.items[i].score);
  }
  assert_true(a.items[0].score > 0.45); /* about half from each span */
  bertc_qa_answers_deinit(&a);
  o.top_k = 1;
  o.max_answer_length = 1; /* one token, widened to its word */
  TU_ASSERT_OK(rt_task_qa_answers(t, &f, ctx, strlen(ctx), &s, &e, &o, &a));
  assert_int_equal(a.count, 1);
  assert_int_equal(a.items[0].end - a.items[0].start, 3);
  bertc_qa_answers_deinit(&a);
  rt_qa_features_deinit(&f);
  tok_release(t);
  free(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_qa_windows),
      cmocka_unit_test(test_qa_answers),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
