/* The environment a model's entry functions call back into (bertc/abi.h).
 *
 * parallel_for runs on the context's own thread pool (pool.c); a run with one
 * thread (or one task) is a plain loop on the caller's thread. A pool per
 * context keeps contexts independent (two contexts on two threads never wait
 * for each other) and keeps any thread runtime's ABI out of the generated
 * code (reference/ecosystem.md §5: TVM and Halide call a runtime helper with a
 * function pointer and a closure in the same way).
 *
 * sgemm is a CBLAS library's cblas_sgemm in row-major form. Only models
 * compiled with `--gemm blas` call it (their metadata says "uses_blas"), so
 * the library is loaded with dlopen when such a model is loaded
 * (rt_env_load_blas), not linked: linking OpenBLAS cost every process ~2 ms
 * of start-up (OpenBLAS, libgfortran and libquadmath load and OpenBLAS
 * starts its threads), a tenth of a compiled MiniLM's cold start. The first
 * library found of BERTC_BLAS_LIBRARY (when set: only it), libopenblas.so.0,
 * libopenblas.so, libcblas.so.3 and libblas.so.3 is kept for the process,
 * like a linked one. OpenBLAS is pinned to one thread: the model already
 * splits work across threads with parallel_for, and a second pool underneath
 * would oversubscribe the cores. */
#define _GNU_SOURCE
#include "runtime/env.h"

#include <assert.h>
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void env_parallel_for(const bertc_env_t *env, int64_t count, bertc_abi_task_fn fn,
                             void *ctx) {
  rt_pool_run(env->host, count, fn, ctx);
}

/* cblas.h's values for row-major storage and (no) transposition. */
enum { CBLAS_ROW_MAJOR = 101, CBLAS_NO_TRANS = 111, CBLAS_TRANS = 112 };
typedef void (*cblas_sgemm_fn)(int order, int trans_a, int trans_b, int m, int n, int k,
                               float alpha, const float *a, int lda, const float *b, int ldb,
                               float beta, float *c, int ldc);
typedef void (*set_threads_fn)(int threads);

/* The process's CBLAS sgemm: set once under blas_lock by rt_env_load_blas,
 * never changed or unloaded afterwards (as a linked library would be). */
static pthread_mutex_t blas_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic(cblas_sgemm_fn) blas_sgemm;

static void env_sgemm(const bertc_env_t *env, int trans_b, int64_t m, int64_t n, int64_t k,
                      float alpha, const float *a, int64_t lda, const float *b, int64_t ldb,
                      float beta, float *c, int64_t ldc) {
  (void)env;
  assert(m <= INT_MAX && n <= INT_MAX && k <= INT_MAX && lda <= INT_MAX && ldb <= INT_MAX &&
         ldc <= INT_MAX);
  cblas_sgemm_fn sgemm = blas_sgemm;
  assert(sgemm); /* bertc_model_load loaded it for every model that calls sgemm */
  sgemm(CBLAS_ROW_MAJOR, CBLAS_NO_TRANS, trans_b ? CBLAS_TRANS : CBLAS_NO_TRANS, (int)m, (int)n,
        (int)k, alpha, a, (int)lda, b, (int)ldb, beta, c, (int)ldc);
}

/* dlopen + dlsym of one candidate; NULL with the reason in why. */
static cblas_sgemm_fn blas_open(const char *name, char *why, size_t why_size) {
  dlerror();
  void *h = dlopen(name, RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    const char *e = dlerror();
    snprintf(why, why_size, "%s", e ? e : "dlopen failed");
    return NULL;
  }
  void *sym = dlsym(h, "cblas_sgemm");
  cblas_sgemm_fn sgemm;
  memcpy(&sgemm, &sym, sizeof sgemm); /* object to function pointer, POSIX-style */
  if (!sgemm) {
    snprintf(why, why_size, "%s: no symbol cblas_sgemm", name);
    dlclose(h);
    return NULL;
  }
  sym = dlsym(h, "openblas_set_num_threads");
  set_threads_fn set_threads;
  memcpy(&set_threads, &sym, sizeof set_threads);
  if (set_threads) set_threads(1);
  return sgemm; /* h stays open for the process */
}

bertc_status_t rt_env_load_blas(void) {
  static const char *const defaults[] = {"libopenblas.so.0", "libopenblas.so", "libcblas.so.3",
                                         "libblas.so.3"};
  pthread_mutex_lock(&blas_lock);
  char why[512] = "";
  const char *chosen = getenv("BERTC_BLAS_LIBRARY");
  if (chosen && !*chosen) chosen = NULL;
  for (size_t i = 0; !blas_sgemm && i < (chosen ? 1 : sizeof defaults / sizeof defaults[0]); i++)
    blas_sgemm = blas_open(chosen ? chosen : defaults[i], why, sizeof why);
  bool ok = blas_sgemm != NULL;
  pthread_mutex_unlock(&blas_lock);
  if (ok) return BERTC_OK;
  if (chosen)
    return bertc_status_make(BERTC_STATUS_NOT_FOUND,
                             "the model calls BLAS (compiled with --gemm blas) and "
                             "BERTC_BLAS_LIBRARY=%s cannot be used: %s",
                             chosen, why);
  return bertc_status_make(BERTC_STATUS_NOT_FOUND,
                           "the model calls BLAS (compiled with --gemm blas) and no CBLAS library "
                           "was found (tried libopenblas.so.0, libopenblas.so, libcblas.so.3, "
                           "libblas.so.3; install libopenblas0 or set BERTC_BLAS_LIBRARY); last "
                           "error: %s",
                           why);
}

bertc_status_t rt_env_init(bertc_env_t *env, int32_t num_threads, rt_pool_t **pool) {
  if (num_threads < 1) num_threads = 1;
  BERTC_RETURN_IF_ERROR(rt_pool_create(num_threads, -1, pool));
  env->abi_version = BERTC_ABI_VERSION;
  env->num_threads = (uint32_t)num_threads;
  env->host = *pool;
  env->parallel_for = env_parallel_for;
  env->sgemm = env_sgemm;
  return BERTC_OK;
}
