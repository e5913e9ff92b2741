/* The three ways a context runs a model's parallel loops (bertc_threading_t)
 * give the same outputs bit for bit.
 *
 * The tiny BERT fixture is compiled once (seq buckets {4, 16}, batch buckets
 * {1, 4}) and a few runs (one sequence; four of mixed lengths; six, which
 * take two bucket calls) are made on a one-thread pool for the reference
 * bytes. The same runs then go through a two-thread pool, OpenMP teams of two
 * and three threads, a caller-supplied parallel_for that runs the tasks in
 * reverse order on the calling thread, and one that runs them on three
 * pthreads of its own (never the calling thread); every output must equal
 * the reference byte for byte. Contexts are also created and run inside a
 * host `#pragma omp parallel` region, one per host thread, with nested
 * parallelism off (their loops run on the host thread alone) and on (each
 * gets a nested team): neither may deadlock or change a bit. The OpenMP
 * parts skip when no OpenMP runtime is installed, or when the test was built
 * without -fopenmp (tests/runtime/CMakeLists.txt builds it with LLVM's
 * libomp when libomp-19-dev is installed). */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "tests/fixture.h"
#include "tests/testutil.h"

#include "backend/driver.h"
#include "base/base.h"
#include "bertc/bertc.h"
#include "runtime/env.h"

#define NUM_JOBS 3
#define MAX_COUNT 6
#define MAX_LEN 16
#define OWN_THREADS 3

static const int64_t kSeqs[] = {4, 16};
static const int64_t kBatches[] = {1, 4};
static const int32_t kLengths[NUM_JOBS][MAX_COUNT] = {{16}, {3, 16, 7, 1}, {5, 2, 16, 9, 4, 12}};
static const int32_t kCounts[NUM_JOBS] = {1, 4, 6};

static char *so_path;
static bertc_model_t *model;
static int32_t ids[NUM_JOBS][MAX_COUNT][MAX_LEN];
static uint8_t *reference; /* every output of every job, in order */
static size_t reference_bytes;

/* ---- runs --------------------------------------------------------------------- */

/* Runs every job on `c` and appends each output's bytes to a heap buffer. */
static bertc_status_t run_jobs(bertc_context_t *c, uint8_t **out, size_t *out_bytes) {
  *out = NULL;
  *out_bytes = 0;
  uint8_t *buf = NULL;
  size_t used = 0;
  for (int k = 0; k < NUM_JOBS; k++) {
    const int32_t *rows[MAX_COUNT];
    for (int i = 0; i < kCounts[k]; i++) rows[i] = ids[k][i];
    bertc_run_input_t in;
    bertc_run_input_init(&in);
    in.count = kCounts[k];
    in.lengths = kLengths[k];
    in.input_ids = rows;
    BERTC_RETURN_IF_ERROR(bertc_context_run(c, &in));
    uint32_t n;
    bertc_model_outputs(model, &n);
    for (uint32_t o = 0; o < n; o++) {
      bertc_tensor_view_t v;
      bertc_status_t s = bertc_context_output(c, o, &v);
      uint8_t *grown = s ? NULL : realloc(buf, used + v.size_bytes);
      if (!grown) {
        free(buf);
        return s ? s : bertc_status_make(BERTC_STATUS_OUT_OF_MEMORY, "out of memory");
      }
      buf = grown;
      memcpy(buf + used, v.data, v.size_bytes);
      used += v.size_bytes;
    }
  }
  *out = buf;
  *out_bytes = used;
  return BERTC_OK;
}

static bertc_context_options_t options(bertc_threading_t threading, int32_t threads) {
  bertc_context_options_t o;
  bertc_context_options_init(&o);
  o.threading = threading;
  o.num_threads = threads;
  o.max_batch = MAX_COUNT;
  return o;
}

/* Whether `c`'s runs give the reference bytes (false with a message printed). */
static bool matches_reference(bertc_context_t *c, const char *what) {
  uint8_t *got;
  size_t bytes;
  bertc_status_t s = run_jobs(c, &got, &bytes);
  if (s) {
    print_error("%s: %s\n", what, bertc_status_message(s));
    bertc_status_free(s);
    return false;
  }
  bool same = bytes == reference_bytes && memcmp(got, reference, bytes) == 0;
  if (!same) print_error("%s: the outputs differ from the one-thread pool's\n", what);
  free(got);
  return same;
}

static void check_options(const bertc_context_options_t *o, const char *what) {
  bertc_context_t *c = NULL;
  TU_ASSERT_OK(bertc_context_create(model, o, &c));
  assert_int_equal(bertc_context_threading(c), o->threading);
  assert_true(matches_reference(c, what));
  bertc_context_release(c);
}

static int setup(void **state) {
  (void)state;
  so_path = tu_scratch_path("runtime/threading/bert.so");
  char *dir = fx_dir("bert");
  driver_options_t d;
  driver_options_init(&d);
  d.quiet = true;
  d.seq_lens = kSeqs;
  d.num_seq_lens = BASE_ARRAY_LEN(kSeqs);
  d.batch_sizes = kBatches;
  d.num_batch_sizes = BASE_ARRAY_LEN(kBatches);
  bertc_status_t s = driver_compile(dir, &d, so_path);
  free(dir);
  if (!s) s = bertc_model_load(so_path, NULL, &model);
  if (s) {
    fprintf(stderr, "%s\n", bertc_status_message(s));
    bertc_status_free(s);
    return -1;
  }
  uint64_t x = 0x9e3779b97f4a7c15u;
  for (int k = 0; k < NUM_JOBS; k++)
    for (int i = 0; i < MAX_COUNT; i++)
      for (int t = 0; t < MAX_LEN; t++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        ids[k][i][t] = (int32_t)(x % (uint64_t)bertc_model_vocab_size(model));
      }
  bertc_context_options_t o = options(BERTC_THREADING_POOL, 1);
  bertc_context_t *c = NULL;
  s = bertc_context_create(model, &o, &c);
  if (!s) s = run_jobs(c, &reference, &reference_bytes);
  bertc_context_release(c);
  if (s) {
    fprintf(stderr, "%s\n", bertc_status_message(s));
    bertc_status_free(s);
    return -1;
  }
  return 0;
}

static int teardown(void **state) {
  (void)state;
  bertc_model_release(model);
  free(reference);
  free(so_path);
  return 0;
}

/* ---- caller-supplied parallel_for -------------------------------------------- */

typedef struct loop_stats {
  int64_t loops, tasks;
  bool bad_call; /* count < 1, or the wrong user pointer */
} loop_stats_t;

static void reverse_for(void *user, int64_t count, bertc_abi_task_fn task, void *task_ctx) {
  loop_stats_t *st = user;
  st->bad_call |= count < 1;
  st->loops++;
  st->tasks += count;
  for (int64_t i = count - 1; i >= 0; i--) task(task_ctx, i);
}

typedef struct own_loop {
  bertc_abi_task_fn task;
  void *task_ctx;
  int64_t count;
  atomic_llong next;
} own_loop_t;

static void *own_worker(void *arg) {
  own_loop_t *l = arg;
  for (int64_t i; (i = atomic_fetch_add(&l->next, 1)) < l->count;) l->task(l->task_ctx, i);
  return NULL;
}

/* Starts OWN_THREADS pthreads per loop, which run every task while the
 * calling thread waits, and joins them (the join makes their writes visible
 * to the caller). */
static void own_threads_for(void *user, int64_t count, bertc_abi_task_fn task, void *task_ctx) {
  loop_stats_t *st = user;
  st->bad_call |= count < 1;
  st->loops++;
  st->tasks += count;
  own_loop_t l = {.task = task, .task_ctx = task_ctx, .count = count};
  atomic_init(&l.next, 0);
  pthread_t th[OWN_THREADS];
  int started = 0;
  while (started < OWN_THREADS && pthread_create(&th[started], NULL, own_worker, &l) == 0)
    started++;
  if (!started) own_worker(&l); /* no threads to be had: still run every task */
  for (int i = 0; i < started; i++) pthread_join(th[i], NULL);
}

/* ---- tests -------------------------------------------------------------------- */

static void test_pool_matches(void **state) {
  (void)state;
  for (int32_t threads = 1; threads <= 3; threads++) {
    bertc_context_options_t o = options(BERTC_THREADING_POOL, threads);
    check_options(&o, "pool");
  }
}

static void test_caller_parallel_for_matches(void **state) {
  (void)state;
  bertc_parallel_for_fn fns[] = {reverse_for, own_threads_for};
  const char *names[] = {"reverse order", "own pthreads"};
  for (size_t k = 0; k < BASE_ARRAY_LEN(fns); k++) {
    loop_stats_t st = {0};
    bertc_context_options_t o = options(BERTC_THREADING_CALLER, 4);
    o.parallel_for = fns[k];
    o.parallel_for_user = &st;
    bertc_context_t *c = NULL;
    TU_ASSERT_OK(bertc_context_create(model, &o, &c));
    assert_int_equal(bertc_context_num_threads(c), 4);
    assert_int_equal(bertc_context_threading(c), BERTC_THREADING_CALLER);
    assert_true(matches_reference(c, names[k]));
    bertc_context_release(c);
    print_message("    %s: %lld loops, %lld tasks\n", names[k], (long long)st.loops,
                  (long long)st.tasks);
    assert_true(st.loops > 0 && st.tasks > st.loops); /* some loops have several tasks */
    assert_false(st.bad_call);
  }
}

/* A context with OpenMP threading, or skip() when no OpenMP runtime is found. */
static bertc_context_t *openmp_context(int32_t threads) {
  bertc_context_options_t o = options(BERTC_THREADING_OPENMP, threads);
  bertc_context_t *c = NULL;
  bertc_status_t s = bertc_context_create(model, &o, &c);
  if (s && bertc_status_code(s) == BERTC_STATUS_NOT_FOUND) {
    print_message("    skipped: %s\n", bertc_status_message(s));
    bertc_status_free(s);
    skip();
  }
  TU_ASSERT_OK(s);
  return c;
}

static void test_openmp_matches(void **state) {
  (void)state;
  for (int32_t threads = 2; threads <= 3; threads++) {
    bertc_context_t *c = openmp_context(threads);
    assert_int_equal(bertc_context_num_threads(c), threads);
    assert_int_equal(bertc_context_threading(c), BERTC_THREADING_OPENMP);
    assert_true(matches_reference(c, "OpenMP"));
    bertc_context_release(c);
  }
}

/* A named OpenMP library that does not load is NOT_FOUND with the name. It
 * runs first: the library found by the first OpenMP context is kept for the
 * process, and BERTC_OPENMP_LIBRARY is read only until then. */
static void test_openmp_library_missing(void **state) {
  (void)state;
  setenv("BERTC_OPENMP_LIBRARY", "/nonexistent/libomp.so.5", 1);
  bertc_context_options_t o = options(BERTC_THREADING_OPENMP, 2);
  bertc_context_t *c = (bertc_context_t *)1;
  bertc_status_t s = bertc_context_create(model, &o, &c);
  unsetenv("BERTC_OPENMP_LIBRARY");
  assert_null(c);
  assert_non_null(s);
  assert_int_equal(bertc_status_code(s), BERTC_STATUS_NOT_FOUND);
  assert_non_null(strstr(bertc_status_message(s), "BERTC_OPENMP_LIBRARY=/nonexistent/libomp"));
  bertc_status_free(s);
}

static void test_bad_threading_options(void **state) {
  (void)state;
  bertc_context_t *c = (bertc_context_t *)1;
  bertc_context_options_t o = options(BERTC_THREADING_CALLER, 2);
  TU_ASSERT_ERROR(bertc_context_create(model, &o, &c), "needs a parallel_for");
  assert_null(c);
  o = options(BERTC_THREADING_POOL, 2);
  o.parallel_for = reverse_for;
  TU_ASSERT_ERROR(bertc_context_create(model, &o, &c), "threading is not");
  o = options((bertc_threading_t)7, 2);
  TU_ASSERT_ERROR(bertc_context_create(model, &o, &c), "threading 7");
  assert_null(c);
}

/* env->parallel_for itself, for each threading: every task runs once for
 * counts below, at and above the thread count, and with two threads two tasks
 * really run at once (each waits, up to 10 s, until the other has started;
 * run one after the other, the first would time out). */
typedef struct rendezvous {
  int64_t count;
  atomic_int started;
  atomic_int runs[100];
  atomic_bool timed_out;
} rendezvous_t;

static void meet_task(void *ctx, int64_t i) {
  rendezvous_t *r = ctx;
  atomic_fetch_add(&r->runs[i], 1);
  if (i >= 2 || r->count < 2) return;
  atomic_fetch_add(&r->started, 1);
  struct timespec t0, t;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  while (atomic_load(&r->started) < 2) {
    clock_gettime(CLOCK_MONOTONIC, &t);
    if (t.tv_sec - t0.tv_sec > 10) {
      atomic_store(&r->timed_out, true);
      return;
    }
  }
}

static void test_env_parallel_for(void **state) {
  (void)state;
  static const int64_t counts[] = {0, 1, 2, 3, 100};
  bertc_threading_t kinds[] = {BERTC_THREADING_POOL, BERTC_THREADING_OPENMP,
                               BERTC_THREADING_CALLER};
  loop_stats_t st = {0};
  for (size_t k = 0; k < BASE_ARRAY_LEN(kinds); k++) {
    bertc_context_options_t o = options(kinds[k], 2);
    if (kinds[k] == BERTC_THREADING_CALLER) {
      o.parallel_for = own_threads_for;
      o.parallel_for_user = &st;
    }
    bertc_env_t env;
    rt_threads_t threads;
    bertc_status_t s = rt_env_init(&env, &o, &threads);
    if (s && bertc_status_code(s) == BERTC_STATUS_NOT_FOUND) {
      print_message("    OpenMP not checked: %s\n", bertc_status_message(s));
      bertc_status_free(s);
      rt_env_deinit(&threads);
      continue;
    }
    TU_ASSERT_OK(s);
    assert_int_equal(env.num_threads, 2);
    for (size_t c = 0; c < BASE_ARRAY_LEN(counts); c++) {
      rendezvous_t *r = calloc(1, sizeof *r);
      assert_non_null(r);
      r->count = counts[c];
      env.parallel_for(&env, counts[c], meet_task, r);
      for (int64_t i = 0; i < 100; i++)
        assert_int_equal(atomic_load(&r->runs[i]), i < counts[c] ? 1 : 0);
      assert_false(atomic_load(&r->timed_out));
      free(r);
    }
    rt_env_deinit(&threads);
  }
  assert_false(st.bad_call); /* the runtime passes no empty loop on */
}

#ifdef _OPENMP
/* One context per host thread inside a host parallel region. */
static void test_openmp_inside_host_region(void **state) {
  (void)state;
  bertc_context_release(openmp_context(2)); /* skips without an OpenMP runtime */
  int saved_levels = omp_get_max_active_levels();
  for (int levels = 1; levels <= 2; levels++) {
    omp_set_max_active_levels(levels);
    atomic_int failures = 0, inner_teams = 0;
#pragma omp parallel num_threads(2)
    {
      bertc_context_options_t o = options(BERTC_THREADING_OPENMP, 2);
      bertc_context_t *c = NULL;
      bertc_status_t s = bertc_context_create(model, &o, &c);
      if (s) {
        print_error("host thread %d: %s\n", omp_get_thread_num(), bertc_status_message(s));
        bertc_status_free(s);
        atomic_fetch_add(&failures, 1);
      } else if (!matches_reference(c, "OpenMP inside a host region")) {
        atomic_fetch_add(&failures, 1);
      }
      bertc_context_release(c);
#pragma omp parallel num_threads(2)
      {
        if (omp_get_thread_num() == 1) atomic_fetch_add(&inner_teams, 1);
      }
    }
    print_message("    max active levels %d: %d nested teams of 2\n", levels,
                  atomic_load(&inner_teams));
    assert_int_equal(atomic_load(&failures), 0);
  }
  omp_set_max_active_levels(saved_levels);
}
#else
static void test_openmp_inside_host_region(void **state) {
  (void)state;
  print_message("    skipped: this test was built without -fopenmp (no libomp-19-dev)\n");
  skip();
}
#endif

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_openmp_library_missing),
      cmocka_unit_test(test_env_parallel_for),
      cmocka_unit_test(test_pool_matches),
      cmocka_unit_test(test_caller_parallel_for_matches),
      cmocka_unit_test(test_openmp_matches),
      cmocka_unit_test(test_openmp_inside_host_region),
      cmocka_unit_test(test_bad_threading_options),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
