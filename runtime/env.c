/* The environment a model's entry functions call back into (bertc/abi.h).
 *
 * parallel_for is one OpenMP worksharing loop with a static schedule, so task
 * i always runs on the same thread for a given count and thread count, and a
 * run with one thread (or one task) is a plain loop on the caller's thread.
 * This keeps the OpenMP ABI out of the generated code (reference/ecosystem.md
 * §5: TVM and Halide call a runtime helper with a function pointer and a
 * closure in the same way).
 *
 * sgemm is OpenBLAS's cblas_sgemm in row-major form. OpenBLAS is pinned to one
 * thread: the model already splits work across threads with parallel_for, and
 * a second pool underneath would oversubscribe the cores. */
#include "runtime/env.h"

#include <assert.h>
#include <cblas.h>
#include <limits.h>
#include <omp.h>
#include <pthread.h>

int32_t rt_env_default_threads(void) {
  int n = omp_get_max_threads();
  return n > 0 ? n : 1;
}

static void env_parallel_for(const bertc_env_t *env, int64_t count, bertc_abi_task_fn fn,
                             void *ctx) {
  int64_t threads = env->num_threads;
  if (threads > count) threads = count;
  if (threads <= 1) {
    for (int64_t i = 0; i < count; i++) fn(ctx, i);
    return;
  }
#pragma omp parallel for schedule(static) num_threads((int)threads)
  for (int64_t i = 0; i < count; i++) fn(ctx, i);
}

static void env_sgemm(const bertc_env_t *env, int trans_b, int64_t m, int64_t n, int64_t k,
                      float alpha, const float *a, int64_t lda, const float *b, int64_t ldb,
                      float beta, float *c, int64_t ldc) {
  assert(m <= INT_MAX && n <= INT_MAX && k <= INT_MAX && lda <= INT_MAX && ldb <= INT_MAX &&
         ldc <= INT_MAX);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, (int)m, (int)n,
              (int)k, alpha, a, (int)lda, b, (int)ldb, beta, c, (int)ldc);
}

static pthread_once_t blas_once = PTHREAD_ONCE_INIT;
static void blas_single_threaded(void) { openblas_set_num_threads(1); }

static void warm_up_task(void *ctx, int64_t index) {}

void rt_env_init(bertc_env_t *env, int32_t num_threads, void *host) {
  pthread_once(&blas_once, blas_single_threaded);
  env->abi_version = BERTC_ABI_VERSION;
  env->num_threads = num_threads > 0 ? (uint32_t)num_threads : 1;
  env->host = host;
  env->parallel_for = env_parallel_for;
  env->sgemm = env_sgemm;
  env_parallel_for(env, env->num_threads, warm_up_task, NULL);
}
