/* The weights' layout (backend/layout.c) for each gemm mode.
 *
 * - Golden: tests/backend/golden/layout/<case>.in.ir through the bertc
 *   layout, printed with its constant data, equals <case>.out.ir
 *   (BERTC_UPDATE_GOLDEN=1 rewrites them; review the diff): shared weights
 *   packed once, a tied table kept for the gather that still reads it.
 * - Modes, on tiny fixtures after the default passes: bertc and amx put every
 *   linear weight in BK_GEMM_NR-wide panels, blas leaves the graph as it is;
 *   the interpreter's outputs stay bit for bit the same; the layout is
 *   idempotent; amx makes bk_pack_weights_amx's parts for exactly the weights
 *   a bucket runs on AMX tiles (lower_plan_gemm), and none when no bucket
 *   has the rows for it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/layout.h"
#include "base/base.h"
#include "frontend/frontend.h"
#include "kernels/kernels.h"
#include "passes/passes.h"
#include "tests/fixture.h"
#include "tests/testutil.h"

static char *print_graph(const ir_graph_t *g) {
  char *text;
  TU_ASSERT_OK(ir_print_to_string(g, 0, &text));
  return text;
}

static void layout(ir_graph_t *g, lower_gemm_t gemm, int threads, int64_t batch, int64_t seq,
                   layout_t *out) {
  lower_options_t o;
  lower_options_init(&o);
  o.gemm = gemm;
  o.threads = threads;
  lower_buckets_t b = {&batch, 1, &seq, 1, NULL, 0};
  TU_ASSERT_OK(layout_weights(g, &o, &b, out));
  TU_ASSERT_OK(ir_verify(g));
}

/* The outputs of a and b on the same inputs are the same bits. */
static void assert_same_outputs(const ir_graph_t *a, const ir_graph_t *b, const char *what) {
  enum { BATCH = 2, SEQ = 5 };
  int32_t ids[BATCH * SEQ] = {2, 5, 1, 3, 1, 4, 3, 2, 0, 0};
  int32_t mask[BATCH * SEQ] = {1, 1, 1, 1, 1, 1, 1, 1, 0, 0};
  ir_tensor_t x[8], y[8];
  assert_true(a->num_outputs <= 8);
  assert_int_equal(a->num_outputs, b->num_outputs);
  TU_ASSERT_OK(ir_interpret(a, BATCH, SEQ, ids, NULL, mask, x));
  TU_ASSERT_OK(ir_interpret(b, BATCH, SEQ, ids, NULL, mask, y));
  for (size_t i = 0; i < a->num_outputs; i++) {
    assert_int_equal(ir_tensor_numel(&x[i]), ir_tensor_numel(&y[i]));
    if (memcmp(x[i].data, y[i].data, (size_t)ir_tensor_numel(&x[i]) * 4))
      fail_msg("%s: output %s changed", what, a->outputs[i].name);
    ir_tensor_deinit(&x[i]);
    ir_tensor_deinit(&y[i]);
  }
}

static void check_golden(const char *name) {
  char rel[256];
  snprintf(rel, sizeof rel, "tests/backend/golden/layout/%s.in.ir", name);
  char *in_path = tu_source_path(rel);
  snprintf(rel, sizeof rel, "tests/backend/golden/layout/%s.out.ir", name);
  char *out_path = tu_source_path(rel);
  char *text;
  size_t size;
  TU_ASSERT_OK(base_read_file(in_path, 1 << 24, &text, &size));
  ir_graph_t *g, *before;
  TU_ASSERT_OK(ir_parse(text, size, in_path, &g));
  free(text);
  TU_ASSERT_OK(ir_graph_clone(g, &before));
  layout_t l;
  layout(g, LOWER_GEMM_BERTC, 1, 1, 4, &l);
  assert_null(l.amx);
  char *got = print_graph(g);
  const char *update = getenv("BERTC_UPDATE_GOLDEN");
  if (update && !strcmp(update, "1")) {
    tu_write_file(out_path, got, strlen(got));
    print_message("updated %s\n", out_path);
  } else {
    TU_ASSERT_OK(base_read_file(out_path, 1 << 24, &text, &size));
    assert_string_equal(got, text);
    free(text);
  }
  assert_same_outputs(before, g, name);
  /* Idempotent: panels stay as they are. */
  layout(g, LOWER_GEMM_BERTC, 1, 1, 4, &l);
  char *again = print_graph(g);
  assert_string_equal(again, got);
  free(again);
  free(got);
  ir_graph_destroy(before);
  ir_graph_destroy(g);
  free(in_path);
  free(out_path);
}

static void test_golden(void **state) {
  (void)state;
  check_golden("shared");
  check_golden("tied");
}

/* A tiny fixture through the frontend and the default passes. */
static ir_graph_t *optimized(const char *fixture) {
  char *dir = fx_dir(fixture);
  fe_model_t *m;
  TU_ASSERT_OK(fe_model_load(dir, NULL, &m));
  free(dir);
  TU_ASSERT_OK(pass_run_pipeline(m->graph, NULL, NULL, NULL));
  ir_graph_t *g;
  TU_ASSERT_OK(ir_graph_clone(m->graph, &g));
  fe_model_destroy(m);
  return g;
}

static bool is_linear(const ir_node_t *n) {
  return n->op == IR_OP_LINEAR || n->op == IR_OP_LINEAR_ADD_LN;
}

static void check_modes(const char *fixture) {
  ir_graph_t *g0 = optimized(fixture), *g;
  char *text0 = print_graph(g0);
  layout_t l;

  /* blas: row-major weights, nothing changes. */
  TU_ASSERT_OK(ir_graph_clone(g0, &g));
  layout(g, LOWER_GEMM_BLAS, 1, 16, 16, &l);
  assert_null(l.amx);
  char *text = print_graph(g);
  assert_string_equal(text, text0);
  free(text);
  ir_graph_destroy(g);

  /* bertc: every linear weight in panels, the same numbers. */
  TU_ASSERT_OK(ir_graph_clone(g0, &g));
  layout(g, LOWER_GEMM_BERTC, 1, 16, 16, &l);
  assert_null(l.amx);
  size_t linears = 0;
  for (size_t i = 0; i < g->num_nodes; i++) {
    if (!is_linear(&g->nodes[i])) continue;
    const ir_value_t *w = &g->values[g->nodes[i].operands[1]];
    assert_int_equal(w->layout, IR_LAYOUT_PANEL);
    assert_int_equal(w->layout_param, BK_GEMM_NR);
    linears++;
  }
  assert_true(linears > 0);
  assert_same_outputs(g0, g, fixture);
  char *packed = print_graph(g);

  /* amx: the same panels; parts for the weights a bucket of 16 x 16 rows on
   * one thread multiplies on AMX tiles, none for a bucket of 1 x 4. */
  ir_graph_t *a;
  TU_ASSERT_OK(ir_graph_clone(g0, &a));
  layout(a, LOWER_GEMM_AMX, 1, 1, 4, &l);
  assert_null(l.amx);
  text = print_graph(a);
  assert_string_equal(text, packed);
  free(text);
  ir_graph_destroy(a);
  TU_ASSERT_OK(ir_graph_clone(g0, &a));
  layout(a, LOWER_GEMM_AMX, 1, 16, 16, &l);
  text = print_graph(a);
  assert_string_equal(text, packed);
  free(text);
  assert_non_null(l.amx);
  assert_int_equal(l.num_values, a->num_values);
  lower_options_t o;
  lower_options_init(&o);
  o.gemm = LOWER_GEMM_AMX;
  o.threads = 1;
  size_t parts = 0;
  for (size_t v = 0; v < a->num_values; v++) {
    bool runs_on_amx = false;
    for (size_t i = 0; i < a->num_nodes; i++) {
      if (!is_linear(&a->nodes[i]) || a->nodes[i].operands[1] != (int32_t)v) continue;
      lower_gemm_plan_t p;
      lower_plan_gemm(a, &a->nodes[i], 16, 16, &o, &p);
      runs_on_amx |= p.kernel == LOWER_KERNEL_GEMM_AMX;
    }
    assert_int_equal(l.amx[v] != NULL, runs_on_amx);
    if (!l.amx[v]) continue;
    const ir_value_t *w = &a->values[v];
    size_t bytes = (size_t)bk_packed_amx_bytes(w->dims[0], w->dims[1]);
    uint16_t *want = malloc(bytes);
    assert_non_null(want);
    bk_pack_weights_amx(w->data, w->dims[0], w->dims[1], want);
    assert_memory_equal(l.amx[v], want, bytes);
    free(want);
    parts++;
  }
  assert_true(parts > 0);
  print_message("%-18s %zu linear weights in panels, %zu with AMX parts\n", fixture, linears,
                parts);
  layout_deinit(&l);
  ir_graph_destroy(a);
  free(packed);
  ir_graph_destroy(g);
  free(text0);
  ir_graph_destroy(g0);
}

static void test_modes(void **state) {
  (void)state;
  check_modes("bert_qa");
  check_modes("albert_groups"); /* layers sharing their weights */
  check_modes("distilbert_seqcls");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_golden),
      cmocka_unit_test(test_modes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
