/* The memory planner: on random interval sets and on real graphs, no two
 * buffers live at the same time overlap, offsets are 64-byte aligned, the
 * arena is never smaller than the peak of live bytes, and the plan is
 * deterministic. */
#include <stdlib.h>
#include <string.h>

#include "frontend/frontend.h"
#include "passes/memory_plan.h"
#include "tests/fixture.h"
#include "tests/testutil.h"

static uint64_t rng(uint64_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

static void test_random_intervals(void **state) {
  uint64_t seed = 0x9E3779B97F4A7C15ull;
  for (int round = 0; round < 300; round++) {
    size_t n = 1 + rng(&seed) % 120;
    mp_interval_t *items = calloc(n, sizeof(*items));
    int64_t horizon = 1 + (int64_t)(rng(&seed) % 200);
    for (size_t i = 0; i < n; i++) {
      int64_t a = (int64_t)(rng(&seed) % (uint64_t)horizon);
      int64_t len = (int64_t)(rng(&seed) % 20);
      items[i].first = a;
      items[i].last = a + len;
      items[i].bytes = 1 + rng(&seed) % (round % 3 ? 5000 : 100000);
    }
    uint64_t arena;
    TU_ASSERT_OK(mp_assign(items, n, &arena));
    TU_ASSERT_OK(mp_check(items, n));
    /* The arena holds the largest set of buffers alive at one moment. */
    for (int64_t t = 0; t < horizon + 20; t++) {
      uint64_t live = 0;
      for (size_t i = 0; i < n; i++)
        if (items[i].first <= t && t <= items[i].last) live += items[i].bytes;
      assert_true(live <= arena);
    }
    for (size_t i = 0; i < n; i++) assert_true(items[i].offset + items[i].bytes <= arena);
    /* Deterministic. */
    mp_interval_t *again = malloc(n * sizeof(*again));
    memcpy(again, items, n * sizeof(*again));
    uint64_t arena2;
    TU_ASSERT_OK(mp_assign(again, n, &arena2));
    assert_int_equal(arena, arena2);
    for (size_t i = 0; i < n; i++) assert_int_equal(again[i].offset, items[i].offset);
    free(again);
    free(items);
  }
}

static void test_check_catches_overlap(void **state) {
  mp_interval_t items[2] = {{128, 0, 5, 0}, {64, 3, 8, 64}};
  TU_ASSERT_ERROR(mp_check(items, 2), "overlap");
  items[1].offset = 128;
  TU_ASSERT_OK(mp_check(items, 2));
  items[1].offset = 100;
  TU_ASSERT_ERROR(mp_check(items, 2), "aligned");
}

/* Real graphs: every fixture's graph at a few buckets; recheck the whole plan
 * from the per-value offsets, in-place pairs included. */
static void check_graph_plan(const ir_graph_t *g, int64_t batch, int64_t seq) {
  mp_plan_t p;
  TU_ASSERT_OK(mp_plan_memory(g, batch, seq, &p));
  size_t n = g->num_nodes;
  int64_t *def = malloc(g->num_values * sizeof(int64_t)), *last = malloc(g->num_values * sizeof(int64_t));
  for (size_t v = 0; v < g->num_values; v++) def[v] = last[v] = -1;
  for (size_t i = 0; i < n; i++) {
    def[g->nodes[i].result] = (int64_t)i;
    for (int k = 0; k < g->nodes[i].num_operands; k++) last[g->nodes[i].operands[k]] = (int64_t)i;
  }
  for (size_t a = 0; a < g->num_values; a++) {
    if (p.offsets[a] == MP_NOT_IN_ARENA) continue;
    assert_int_equal(p.offsets[a] % 64, 0);
    uint64_t asz = (uint64_t)ir_value_numel(&g->values[a], batch, seq) * 4;
    assert_true(p.offsets[a] + asz <= p.arena_bytes);
    int64_t a0 = def[a], a1 = last[a] < 0 ? def[a] : last[a];
    for (size_t b = a + 1; b < g->num_values; b++) {
      if (p.offsets[b] == MP_NOT_IN_ARENA) continue;
      if (p.in_place_of[b] == (int32_t)a || p.in_place_of[a] == (int32_t)b) continue;
      int64_t b0 = def[b], b1 = last[b] < 0 ? def[b] : last[b];
      /* A value overwritten in place may share with its successor chain. */
      bool chained = false;
      for (int32_t c = (int32_t)b; c != IR_NONE && !chained; c = p.in_place_of[c]) chained = c == (int32_t)a;
      for (int32_t c = (int32_t)a; c != IR_NONE && !chained; c = p.in_place_of[c]) chained = c == (int32_t)b;
      if (chained) continue;
      if (!(a0 <= b1 && b0 <= a1)) continue;
      uint64_t bsz = (uint64_t)ir_value_numel(&g->values[b], batch, seq) * 4;
      bool overlap = p.offsets[a] < p.offsets[b] + bsz && p.offsets[b] < p.offsets[a] + asz;
      if (overlap) fail_msg("values %zu and %zu are live together and overlap", a, b);
    }
  }
  assert_true(p.peak_live_bytes <= p.arena_bytes);
  assert_true(p.arena_bytes <= p.total_temp_bytes);
  free(def);
  free(last);
  mp_plan_deinit(&p);
}

static void test_fixture_graphs(void **state) {
  const char *names[] = {"bert", "roberta", "distilbert", "albert_groups", "electra", "st_mean", "bert_qa"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    char *dir = fx_dir(names[i]);
    fe_model_t *m;
    TU_ASSERT_OK(fe_model_load(dir, NULL, &m));
    free(dir);
    check_graph_plan(m->graph, 1, 1);
    check_graph_plan(m->graph, 1, 13);
    check_graph_plan(m->graph, 3, 32);
    fe_model_destroy(m);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_random_intervals),
      cmocka_unit_test(test_check_catches_overlap),
      cmocka_unit_test(test_fixture_graphs),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
