/* End-to-end through the reference interpreter: every tiny fixture (all six
 * architectures, every head, legacy names, F16/BF16, shards, each activation,
 * sentence-transformers pooling) on a padded batch of three sequences equals
 * HuggingFace within 1e-5 max abs on every output; all-MiniLM-L6-v2 equals
 * sentence-transformers' encode() within 1e-5 on the committed sentences.
 * Also: the exact parameter count transformers reports. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/frontend.h"
#include "tests/fixture.h"
#include "tests/testutil.h"

#define TOL 1e-5

static void check_fixture(const char *name) {
  fx_reference_t r;
  fx_load(name, &r);
  char *dir = fx_dir(name);
  fe_model_t *m;
  TU_ASSERT_OK(fe_model_load(dir, NULL, &m));
  free(dir);
  TU_ASSERT_OK(ir_verify(m->graph));
  assert_int_equal((int64_t)m->parameters, r.parameters);
  ir_tensor_t outs[8];
  assert_true(m->graph->num_outputs <= 8);
  assert_int_equal((int)m->graph->num_outputs, r.num_outputs);
  TU_ASSERT_OK(ir_interpret(m->graph, r.batch, r.seq, r.input_ids, r.token_type_ids,
                            r.attention_mask, outs));
  for (size_t i = 0; i < m->graph->num_outputs; i++) {
    const fx_output_t *want = fx_output(&r, m->graph->outputs[i].name);
    if (!want) fail_msg("%s: output %s not in the reference", name, m->graph->outputs[i].name);
    assert_int_equal(outs[i].rank, want->rank);
    for (int d = 0; d < want->rank; d++) assert_int_equal(outs[i].dims[d], want->dims[d]);
    double diff = fx_max_abs_diff(&r, want, outs[i].data);
    print_message("%-22s %-24s max|diff| %.3g\n", name, want->name, diff);
    if (!(diff <= TOL)) fail_msg("%s: %s differs from HF by %g (> %g)", name, want->name, diff, TOL);
    ir_tensor_deinit(&outs[i]);
  }
  fe_model_destroy(m);
  fx_free(&r);
}

static void test_every_fixture(void **state) { fx_for_each(check_fixture); }

static void test_minilm(void **state) {
  fx_minilm_t ref;
  fx_minilm_load(&ref);
  assert_true(ref.num_items >= 20);
  fe_model_t *m;
  TU_ASSERT_OK(fe_model_load(tu_minilm_dir(), NULL, &m));
  assert_int_equal((int64_t)m->parameters, ref.parameters);
  assert_int_equal(m->max_seq_length, 256);
  assert_int_equal(m->task, BERTC_TASK_EMBEDDING);
  /* Batches of up to 6 sentences of neighbouring lengths, so padding and
   * masking are exercised without making the naive interpreter crawl. */
  int order[256];
  int batch_total = ref.num_items;
  for (int i = 0; i < batch_total; i++) order[i] = i;
  for (int i = 1; i < batch_total; i++)
    for (int j = i; j > 0 && ref.items[order[j]].len < ref.items[order[j - 1]].len; j--) {
      int t = order[j];
      order[j] = order[j - 1];
      order[j - 1] = t;
    }
  double worst = 0;
  for (int first = 0; first < batch_total; first += 6) {
    int batch = batch_total - first < 6 ? batch_total - first : 6;
    int64_t seq;
    int32_t *ids, *types, *mask;
    tu_minilm_batch(&ref, order + first, batch, &seq, &ids, &types, &mask);
    ir_tensor_t out;
    TU_ASSERT_OK(ir_interpret(m->graph, batch, seq, ids, types, mask, &out));
    assert_int_equal(out.dims[1], 384);
    double d = tu_minilm_max_diff(&ref, order + first, batch, out.data);
    if (!(d <= worst)) worst = d;
    ir_tensor_deinit(&out);
    free(ids);
    free(types);
    free(mask);
  }
  print_message("all-MiniLM-L6-v2: %d sentences, max|diff| %.3g\n", batch_total, worst);
  assert_true(worst <= TOL);
  fe_model_destroy(m);
  fx_minilm_free(&ref);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_every_fixture),
      cmocka_unit_test(test_minilm),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
