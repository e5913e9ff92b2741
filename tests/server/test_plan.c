/* The split of a batch into runs (server/plan.c): the fewest computed
 * tokens for the buckets, runs in length order, every sequence once. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdint.h>
#include <stdlib.h>

#include "server/internal.h"

/* Buckets of batch {1, 8, 32} x seq {16, 32, 64}, sorted as the runtime sorts them. */
static const bertc_abi_bucket_t buckets[] = {
    {1, 16, NULL, 0, 0, 0, 0},  {1, 32, NULL, 0, 0, 0, 0},  {1, 64, NULL, 0, 0, 0, 0},
    {8, 16, NULL, 0, 0, 0, 0},  {8, 32, NULL, 0, 0, 0, 0},  {8, 64, NULL, 0, 0, 0, 0},
    {32, 16, NULL, 0, 0, 0, 0}, {32, 32, NULL, 0, 0, 0, 0}, {32, 64, NULL, 0, 0, 0, 0}};
#define NB (uint32_t)(sizeof buckets / sizeof buckets[0])

static size_t plan(const int32_t *lengths, size_t n, int32_t *sizes) {
  int64_t cost[256];
  int32_t take[256];
  size_t runs = srv_plan_runs(buckets, NB, 32, lengths, n, cost, take, sizes);
  size_t sum = 0;
  for (size_t r = 0; r < runs; r++) {
    assert_true(sizes[r] >= 1 && sizes[r] <= 32);
    sum += (size_t)sizes[r];
  }
  assert_int_equal(sum, n); /* every sequence in exactly one run */
  return runs;
}

static void test_sixteen_short_run_as_two_eights(void **state) {
  (void)state;
  int32_t lens[16], sizes[16];
  for (int i = 0; i < 16; i++)
    lens[i] = 10;
  assert_int_equal(plan(lens, 16, sizes), 2);
  assert_int_equal(sizes[0], 8);
  assert_int_equal(sizes[1], 8);
}

static void test_full_bucket_runs_once(void **state) {
  (void)state;
  int32_t lens[32], sizes[32];
  for (int i = 0; i < 32; i++)
    lens[i] = 12 + i % 4;
  assert_int_equal(plan(lens, 32, sizes), 1);
  assert_int_equal(sizes[0], 32);
}

static void test_short_ones_apart_from_long_ones(void **state) {
  (void)state;
  /* 8 sequences of 10 tokens and 8 of 60: together they take a 32 x 64 run
   * (2048 tokens); apart, 8 x 16 and 8 x 64 (640). */
  int32_t lens[16], sizes[16];
  for (int i = 0; i < 16; i++)
    lens[i] = i < 8 ? 10 : 60;
  assert_int_equal(plan(lens, 16, sizes), 2);
  assert_int_equal(sizes[0], 8);
  assert_int_equal(sizes[1], 8);
}

static void test_one_and_more_than_the_largest(void **state) {
  (void)state;
  int32_t lens[100], sizes[100];
  lens[0] = 5;
  assert_int_equal(plan(lens, 1, sizes), 1);
  for (int i = 0; i < 100; i++)
    lens[i] = 20;
  size_t runs = plan(lens, 100, sizes); /* 3 x 32 + 4 (in a batch-8 bucket) */
  assert_int_equal(runs, 4);
  assert_int_equal(sizes[3], 4);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sixteen_short_run_as_two_eights),
      cmocka_unit_test(test_full_bucket_runs_once),
      cmocka_unit_test(test_short_ones_apart_from_long_ones),
      cmocka_unit_test(test_one_and_more_than_the_largest),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
