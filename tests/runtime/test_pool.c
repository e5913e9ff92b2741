/* The context thread pool (runtime/pool.c): every task runs exactly once,
 * on at most min(threads, count) distinct threads, for every thread count
 * and task count (fewer tasks than threads included);
 * workers that sleep between loops (no spinning) wake for every loop; a
 * pool is destroyed cleanly whether its workers spin or sleep; bad thread
 * counts are refused. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tests/testutil.h"

#include "runtime/pool.h"

enum { MAX_TASKS = 4096 };

typedef struct {
  atomic_int runs[MAX_TASKS];
  pthread_t who[MAX_TASKS];
} record_t;

static void record_task(void *ctx, int64_t i) {
  record_t *r = ctx;
  atomic_fetch_add(&r->runs[i], 1);
  r->who[i] = pthread_self();
}

/* Runs `count` tasks and checks: each ran once, nothing past count ran, and
 * at most min(threads, count) distinct threads ran them. */
static void check_loop(rt_pool_t *pool, int64_t count, record_t *r) {
  memset(r, 0, sizeof *r);
  rt_pool_run(pool, count, record_task, r);
  int64_t parts = count < rt_pool_threads(pool) ? count : rt_pool_threads(pool);
  for (int64_t i = 0; i < count; i++) assert_int_equal(atomic_load(&r->runs[i]), 1);
  for (int64_t i = count; i < MAX_TASKS && i < count + 8; i++)
    assert_int_equal(atomic_load(&r->runs[i]), 0);
  pthread_t seen[64];
  int64_t distinct = 0;
  for (int64_t i = 0; i < count; i++) {
    int64_t j = 0;
    while (j < distinct && !pthread_equal(seen[j], r->who[i])) j++;
    if (j == distinct) {
      assert_true(distinct < 64);
      seen[distinct++] = r->who[i];
    }
  }
  assert_true(distinct <= parts);
}

static void test_every_task_once(void **state) {
  (void)state;
  static const int64_t counts[] = {0, 1, 2, 3, 5, 7, 8, 64, 1000, MAX_TASKS};
  record_t *r = malloc(sizeof *r);
  assert_non_null(r);
  for (int32_t threads = 1; threads <= 5; threads++) {
    rt_pool_t *pool;
    TU_ASSERT_OK(rt_pool_create(threads, 1000, &pool));
    assert_int_equal(rt_pool_threads(pool), threads);
    for (int rep = 0; rep < 20; rep++)
      for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++)
        check_loop(pool, counts[c], r);
    rt_pool_destroy(pool);
  }
  free(r);
}

/* With no spinning the workers sleep after every loop, so every loop with
 * more than one task must wake them (the lost-wake-up path). */
static void test_sleeping_workers(void **state) {
  (void)state;
  record_t *r = malloc(sizeof *r);
  assert_non_null(r);
  rt_pool_t *pool;
  TU_ASSERT_OK(rt_pool_create(3, 0, &pool));
  for (int rep = 0; rep < 2000; rep++) check_loop(pool, 1 + rep % 17, r);
  print_message("    2000 loops, %llu found the workers asleep\n",
                (unsigned long long)rt_pool_wakeups(pool));
  rt_pool_destroy(pool);
  free(r);
}

static void sum_task(void *ctx, int64_t i) { atomic_fetch_add((atomic_llong *)ctx, i + 1); }

/* Destroying a pool right after creating it (workers spinning), after a
 * pause (workers asleep), and with a loop in between. */
static void test_destroy(void **state) {
  (void)state;
  for (int i = 0; i < 50; i++) {
    rt_pool_t *pool;
    TU_ASSERT_OK(rt_pool_create(4, i % 2 ? 0 : 100000, &pool));
    if (i % 3 == 0) {
      atomic_llong sum = 0;
      rt_pool_run(pool, 100, sum_task, &sum);
      assert_int_equal(atomic_load(&sum), 5050);
    }
    if (i % 5 == 0) nanosleep(&(struct timespec){0, 2000000}, NULL);
    rt_pool_destroy(pool);
  }
  rt_pool_destroy(NULL);
}

static void test_bad_thread_counts(void **state) {
  (void)state;
  rt_pool_t *pool = (rt_pool_t *)1;
  TU_ASSERT_ERROR(rt_pool_create(0, 0, &pool), "out of range");
  assert_null(pool);
  TU_ASSERT_ERROR(rt_pool_create(-3, 0, &pool), "out of range");
  TU_ASSERT_ERROR(rt_pool_create(1 << 20, 0, &pool), "out of range");
}

/* Two pools driven from two threads at once do not interfere. */
typedef struct {
  rt_pool_t *pool;
  int64_t total;
} driver_t;

static void *drive(void *arg) {
  driver_t *d = arg;
  for (int rep = 0; rep < 500; rep++) {
    atomic_llong sum = 0;
    rt_pool_run(d->pool, 1 + rep % 33, sum_task, &sum);
    d->total += atomic_load(&sum);
  }
  return NULL;
}

static void test_two_pools(void **state) {
  (void)state;
  driver_t d[2];
  pthread_t th[2];
  for (int i = 0; i < 2; i++) {
    d[i].total = 0;
    TU_ASSERT_OK(rt_pool_create(2 + i, 50, &d[i].pool));
    assert_int_equal(pthread_create(&th[i], NULL, drive, &d[i]), 0);
  }
  int64_t want = 0;
  for (int rep = 0; rep < 500; rep++) {
    int64_t n = 1 + rep % 33;
    want += n * (n + 1) / 2;
  }
  for (int i = 0; i < 2; i++) {
    pthread_join(th[i], NULL);
    assert_int_equal(d[i].total, want);
    rt_pool_destroy(d[i].pool);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_every_task_once),  cmocka_unit_test(test_sleeping_workers),
      cmocka_unit_test(test_destroy),          cmocka_unit_test(test_bad_thread_counts),
      cmocka_unit_test(test_two_pools),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
