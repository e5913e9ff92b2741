/* One compiled model under load: threads, repeated loading, repeated compiles.
 *
 * The tiny BERT fixture is compiled once (driver_compile, seq buckets {4, 16},
 * batch buckets {1, 4}). A table of jobs (mixed lengths 1..16 and batch
 * sizes 1..6, so some runs pad, some pick the larger seq bucket and some are
 * split into several bucket calls) is run once single-threaded to get the
 * reference outputs. Then four threads share the loaded model, each with its
 * own context, and make 10,000 runs in total; every output must equal its
 * reference bit for bit. Half the contexts use one OpenMP thread and half
 * two, so the results must not depend on the team size either.
 *
 * Then the process's resident memory (/proc/self/statm) is watched while the
 * .so is loaded, run and unloaded 200 times and while the model is compiled
 * 10 times: after a warm-up it may not grow by more than a few MB, which
 * catches a leaked mapping, dlopen handle, arena or LLVM context per call
 * (in AddressSanitizer builds LeakSanitizer does that job instead). */
#define _GNU_SOURCE
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/fixture.h"
#include "tests/testutil.h"

#include "backend/driver.h"
#include "bertc/bertc.h"

#define NUM_THREADS 4
#define TOTAL_RUNS 10000
#define NUM_JOBS 48
#define MAX_COUNT 6
#define MAX_LEN 16
#define MAX_OUTPUTS 4
#define RSS_TOLERANCE_MB 4.0

static const int64_t kSeqs[] = {4, 16};
static const int64_t kBatches[] = {1, 4};

static char *so_path;

static void compile_model(const char *out) {
  char *dir = fx_dir("bert");
  driver_options_t d;
  driver_options_init(&d);
  d.quiet = true;
  d.seq_lens = kSeqs;
  d.num_seq_lens = 2;
  d.batch_sizes = kBatches;
  d.num_batch_sizes = 2;
  TU_ASSERT_OK(driver_compile(dir, &d, out));
  free(dir);
}

static int setup(void **state) {
  (void)state;
  so_path = tu_scratch_path("reliability/concurrency/bert.so");
  compile_model(so_path);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  free(so_path);
  return 0;
}

static uint64_t rng(uint64_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

/* ---- jobs and their reference outputs -------------------------------------- */

typedef struct job {
  int32_t count;
  int32_t lengths[MAX_COUNT];
  int32_t ids[MAX_COUNT][MAX_LEN];
  const int32_t *rows[MAX_COUNT];
  uint32_t num_outputs;
  void *ref[MAX_OUTPUTS];
  uint64_t ref_bytes[MAX_OUTPUTS];
} job_t;

static job_t jobs[NUM_JOBS];

static void job_input(const job_t *j, bertc_run_input_t *in) {
  bertc_run_input_init(in);
  in->count = j->count;
  in->lengths = j->lengths;
  in->input_ids = j->rows;
}

static void make_jobs(int64_t vocab) {
  uint64_t s = 0x9e3779b97f4a7c15u;
  for (int k = 0; k < NUM_JOBS; k++) {
    job_t *j = &jobs[k];
    memset(j, 0, sizeof *j);
    j->count = 1 + (int32_t)(rng(&s) % MAX_COUNT);
    for (int i = 0; i < j->count; i++) {
      j->lengths[i] = 1 + (int32_t)(rng(&s) % MAX_LEN);
      for (int t = 0; t < j->lengths[i]; t++)
        j->ids[i][t] = (int32_t)(rng(&s) % (uint64_t)vocab);
      j->rows[i] = j->ids[i];
    }
  }
}

static void free_jobs(void) {
  for (int k = 0; k < NUM_JOBS; k++)
    for (uint32_t o = 0; o < jobs[k].num_outputs; o++)
      free(jobs[k].ref[o]);
}

static bertc_context_t *context_with(bertc_model_t *m, int32_t threads) {
  bertc_context_options_t o;
  bertc_context_options_init(&o);
  o.num_threads = threads;
  o.max_batch = MAX_COUNT;
  bertc_context_t *c = NULL;
  TU_ASSERT_OK(bertc_context_create(m, &o, &c));
  return c;
}

/* ---- threads ------------------------------------------------------------------ */

typedef struct worker {
  bertc_model_t *model;
  int id;
  int runs;
  atomic_int *mismatches;
  char error[256]; /* first error, "" if none */
} worker_t;

static void *worker_main(void *arg) {
  worker_t *w = arg;
  bertc_context_t *ctx = NULL;
  bertc_context_options_t o;
  bertc_context_options_init(&o);
  o.num_threads = 1 + w->id % 2;
  o.max_batch = MAX_COUNT;
  bertc_status_t s = bertc_context_create(w->model, &o, &ctx);
  for (int r = 0; !s && r < w->runs; r++) {
    const job_t *j = &jobs[(r * 7 + w->id * 13) % NUM_JOBS];
    bertc_run_input_t in;
    job_input(j, &in);
    s = bertc_context_run(ctx, &in);
    for (uint32_t o2 = 0; !s && o2 < j->num_outputs; o2++) {
      bertc_tensor_view_t v;
      s = bertc_context_output(ctx, o2, &v);
      if (!s && (v.size_bytes != j->ref_bytes[o2] || memcmp(v.data, j->ref[o2], v.size_bytes))) {
        if (atomic_fetch_add(w->mismatches, 1) == 0)
          snprintf(w->error, sizeof w->error, "thread %d run %d: output %s differs", w->id, r,
                   v.name);
      }
    }
  }
  if (s) {
    snprintf(w->error, sizeof w->error, "thread %d: %s", w->id, bertc_status_message(s));
    bertc_status_free(s);
  }
  bertc_context_release(ctx);
  return NULL;
}

static void test_threads_share_a_model(void **state) {
  (void)state;
  bertc_model_t *m = NULL;
  TU_ASSERT_OK(bertc_model_load(so_path, NULL, &m));
  make_jobs(bertc_model_vocab_size(m));

  bertc_context_t *ref = context_with(m, 1);
  for (int k = 0; k < NUM_JOBS; k++) {
    job_t *j = &jobs[k];
    bertc_run_input_t in;
    job_input(j, &in);
    TU_ASSERT_OK(bertc_context_run(ref, &in));
    bertc_model_outputs(m, &j->num_outputs);
    assert_true(j->num_outputs <= MAX_OUTPUTS);
    for (uint32_t o = 0; o < j->num_outputs; o++) {
      bertc_tensor_view_t v;
      TU_ASSERT_OK(bertc_context_output(ref, o, &v));
      j->ref[o] = malloc(v.size_bytes);
      assert_non_null(j->ref[o]);
      memcpy(j->ref[o], v.data, v.size_bytes);
      j->ref_bytes[o] = v.size_bytes;
    }
  }
  bertc_run_info_t info;
  bertc_context_run_info(ref, &info);
  bertc_context_release(ref);

  atomic_int mismatches = 0;
  worker_t workers[NUM_THREADS];
  pthread_t threads[NUM_THREADS];
  for (int t = 0; t < NUM_THREADS; t++) {
    workers[t] = (worker_t){
        .model = m, .id = t, .runs = TOTAL_RUNS / NUM_THREADS, .mismatches = &mismatches};
    assert_int_equal(pthread_create(&threads[t], NULL, worker_main, &workers[t]), 0);
  }
  for (int t = 0; t < NUM_THREADS; t++)
    pthread_join(threads[t], NULL);
  for (int t = 0; t < NUM_THREADS; t++)
    if (workers[t].error[0]) print_error("%s\n", workers[t].error);
  assert_int_equal(atomic_load(&mismatches), 0);
  for (int t = 0; t < NUM_THREADS; t++)
    assert_string_equal(workers[t].error, "");
  print_message("    %d runs on %d threads, %d distinct jobs: all outputs bitwise equal\n",
                TOTAL_RUNS, NUM_THREADS, NUM_JOBS);
  free_jobs();
  bertc_model_release(m);
}

/* ---- memory over repetitions --------------------------------------------------- */

static double rss_mb(void) {
  malloc_trim(0);
  FILE *f = fopen("/proc/self/statm", "r");
  assert_non_null(f);
  long size = 0, resident = 0;
  assert_int_equal(fscanf(f, "%ld %ld", &size, &resident), 2);
  fclose(f);
  return (double)resident * (double)sysconf(_SC_PAGESIZE) / (1024.0 * 1024.0);
}

static void load_run_unload(void) {
  bertc_model_t *m = NULL;
  TU_ASSERT_OK(bertc_model_load(so_path, NULL, &m));
  bertc_context_t *c = context_with(m, 1);
  static const int32_t ids[5] = {101, 7, 8, 9, 102};
  const int32_t *rows[1] = {ids};
  int32_t len = 5;
  bertc_run_input_t in;
  bertc_run_input_init(&in);
  in.count = 1;
  in.lengths = &len;
  in.input_ids = rows;
  TU_ASSERT_OK(bertc_context_run(c, &in));
  bertc_context_release(c);
  bertc_model_release(m);
}

/* Under AddressSanitizer freed memory sits in a quarantine, so resident size
 * says nothing about leaks; LeakSanitizer checks them at exit instead. */
#if defined(__SANITIZE_ADDRESS__)
#define RSS_MEANINGFUL 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RSS_MEANINGFUL 0
#endif
#endif
#ifndef RSS_MEANINGFUL
#define RSS_MEANINGFUL 1
#endif

static void check_growth(const char *what, double before, double after) {
  print_message("    %s: RSS %.1f MB -> %.1f MB\n", what, before, after);
  if (!RSS_MEANINGFUL) skip(); /* AddressSanitizer: LeakSanitizer checks at exit instead */
  if (!(after - before < RSS_TOLERANCE_MB))
    fail_msg("%s: resident memory grew by %.1f MB (limit %.1f)", what, after - before,
             RSS_TOLERANCE_MB);
}

static void test_load_unload_does_not_grow(void **state) {
  (void)state;
  for (int i = 0; i < 20; i++)
    load_run_unload();
  double before = rss_mb();
  for (int i = 0; i < 200; i++)
    load_run_unload();
  check_growth("200 x load/run/unload", before, rss_mb());
}

static void test_compile_does_not_grow(void **state) {
  (void)state;
  char *out = tu_scratch_path("reliability/concurrency/again.so");
  for (int i = 0; i < 2; i++)
    compile_model(out);
  double before = rss_mb();
  for (int i = 0; i < 10; i++)
    compile_model(out);
  double after = rss_mb();
  unlink(out);
  free(out);
  check_growth("10 x compile", before, after);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_threads_share_a_model),
      cmocka_unit_test(test_load_unload_does_not_grow),
      cmocka_unit_test(test_compile_does_not_grow),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
