/* The environment a model's entry functions call back into (bertc/abi.h).
 *
 * parallel_for runs on the context's own thread pool (pool.c); a run with one
 * thread (or one task) is a plain loop on the caller's thread. A pool per context keeps contexts independent (two
 * contexts on two threads never wait for each other) and keeps any thread
 * runtime's ABI out of the generated code (reference/ecosystem.md §5: TVM and
 * Halide call a runtime helper with a function pointer and a closure in the
 * same way).
 *
 * sgemm is OpenBLAS's cblas_sgemm in row-major form. OpenBLAS is pinned to one
 * thread: the model already splits work across threads with parallel_for, and
 * a second pool underneath would oversubscribe the cores. */
#define _GNU_SOURCE
#include "runtime/env.h"

#include <assert.h>
#include <cblas.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <unistd.h>

int32_t rt_env_default_threads(void) {
  const char *s = getenv("OMP_NUM_THREADS");
  if (s && *s) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if ((!*end || *end == ',') && !errno && v >= 1 && v <= 1024) return (int32_t)v;
  }
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    int n = CPU_COUNT(&set);
    if (n > 0) return n > 1024 ? 1024 : n;
  }
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n < 1 ? 1 : n > 1024 ? 1024 : (int32_t)n;
}

static void env_parallel_for(const bertc_env_t *env, int64_t count, bertc_abi_task_fn fn,
                             void *ctx) {
  rt_pool_run(env->host, count, fn, ctx);
}

static void env_sgemm(const bertc_env_t *env, int trans_b, int64_t m, int64_t n, int64_t k,
                      float alpha, const float *a, int64_t lda, const float *b, int64_t ldb,
                      float beta, float *c, int64_t ldc) {
  (void)env;
  assert(m <= INT_MAX && n <= INT_MAX && k <= INT_MAX && lda <= INT_MAX && ldb <= INT_MAX &&
         ldc <= INT_MAX);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, (int)m, (int)n,
              (int)k, alpha, a, (int)lda, b, (int)ldb, beta, c, (int)ldc);
}

static pthread_once_t blas_once = PTHREAD_ONCE_INIT;
static void blas_single_threaded(void) { openblas_set_num_threads(1); }

bertc_status_t rt_env_init(bertc_env_t *env, int32_t num_threads, rt_pool_t **pool) {
  pthread_once(&blas_once, blas_single_threaded);
  if (num_threads < 1) num_threads = 1;
  BERTC_RETURN_IF_ERROR(rt_pool_create(num_threads, -1, pool));
  env->abi_version = BERTC_ABI_VERSION;
  env->num_threads = (uint32_t)num_threads;
  env->host = *pool;
  env->parallel_for = env_parallel_for;
  env->sgemm = env_sgemm;
  return BERTC_OK;
}
