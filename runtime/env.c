/* The host's threads (env.h) and the host's libraries for generated code.
 *
 * parallel_for runs a model's parallel loop in one of three ways, chosen per
 * context (bertc_context_options_t.threading):
 *  - on the context's own thread pool (pool.c), the default. A pool per
 *    context keeps contexts independent (two contexts on two threads never
 *    wait for each other) and keeps any thread runtime's ABI out of the
 *    generated code (TVM's TVMBackendParallelLaunch and Halide's
 *    halide_do_par_for call a runtime helper with a function pointer and a
 *    closure in the same way);
 *  - as an OpenMP parallel region of num_threads threads, for programs that
 *    already run an OpenMP team, so the model runs on that runtime's threads
 *    instead of a second set competing for the cores. The region is entered
 *    through GOMP_parallel, the entry point gcc's `#pragma omp parallel`
 *    compiles to, which libgomp and LLVM's libomp both export; its threads
 *    take tasks from a shared counter (schedule(dynamic, 1)), as the pool's do;
 *  - through the program's own bertc_parallel_for_fn.
 * A loop of one task, or a context of one thread, runs as a plain loop on the
 * caller's thread in the first two.
 *
 * The OpenMP runtime is found when the first OpenMP context is created
 * (rt_env_load_openmp) and loaded with dlopen if the process has none, not
 * linked. Not for start-up time: measured on 2 Xeon cores, linking libomp
 * cost an empty program ~0.15 ms (1.19 -> 1.34 ms median spawn-to-exit) and
 * was lost in the noise of `bertc run` on a compiled MiniLM (83.2 vs 83.6 ms
 * median of 60 interleaved runs) and of a 22 ms runtime-only cold start. But
 * which OpenMP runtime is right depends on the program: one it has already
 * loaded (libgomp for gcc's -fopenmp, libomp for clang's) is used, so bertc
 * and the program share one team of threads, where a linked libomp would be a
 * second OpenMP runtime in a libgomp program, the two competing thread sets
 * OpenMP threading is there to avoid. And a program that never asks for
 * OpenMP needs no OpenMP library installed.
 *
 * sgemm is a CBLAS library's cblas_sgemm in row-major form. Only models
 * compiled with `--gemm blas` call it (BERTC_ABI_FLAG_NEEDS_SGEMM), so
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
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"

/* The libraries below are looked up under this lock, once per process: a
 * function found is stored, never changed or unloaded afterwards (as with a
 * linked library). */
static pthread_mutex_t libs_lock = PTHREAD_MUTEX_INITIALIZER;

/* The value of environment variable `name`, NULL when unset or empty. */
static const char *env_library(const char *name) {
  const char *v = getenv(name);
  return v && *v ? v : NULL;
}

/* dlopen(RTLD_NOW | RTLD_LOCAL | extra_flags) of the first of names[0..n)
 * that has `symbol`: the symbol's address, and its library's handle in
 * *out_handle (kept open for the process); NULL with the reason in why. */
static void *open_with_symbol(const char *const *names, size_t n, int extra_flags,
                              const char *symbol, void **out_handle, char *why,
                              size_t why_size) {
  for (size_t i = 0; i < n; i++) {
    dlerror();
    void *h = dlopen(names[i], RTLD_NOW | RTLD_LOCAL | extra_flags);
    if (!h) {
      const char *e = dlerror();
      snprintf(why, why_size, "%s", e ? e : "dlopen failed");
      continue;
    }
    void *sym = dlsym(h, symbol);
    if (sym) {
      *out_handle = h;
      return sym;
    }
    snprintf(why, why_size, "%s: no symbol %s", names[i], symbol);
    dlclose(h);
  }
  return NULL;
}

/* ---- parallel_for ------------------------------------------------------------ */

static void env_pool_for(const bertc_env_t *env, int64_t count, bertc_abi_task_fn fn,
                         void *ctx) {
  rt_pool_run(env->host, count, fn, ctx);
}

static void env_caller_for(const bertc_env_t *env, int64_t count, bertc_abi_task_fn fn,
                           void *ctx) {
  const rt_threads_t *t = env->host;
  if (count > 0) t->parallel_for(t->user, count, fn, ctx);
}

/* libgomp's GOMP_parallel (also in libomp): runs fn(data) on a team of up to
 * num_threads threads, the caller among them, and returns when all are done. */
typedef void (*gomp_parallel_fn)(void (*fn)(void *), void *data, unsigned num_threads,
                                 unsigned flags);
static _Atomic(gomp_parallel_fn) omp_parallel;

typedef struct omp_loop {
  bertc_abi_task_fn fn;
  void *ctx;
  int64_t count;
  _Atomic int64_t next; /* the next task to take */
} omp_loop_t;

/* Every thread of the team: takes tasks until none are left. */
static void omp_loop_body(void *arg) {
  omp_loop_t *loop = arg;
  for (;;) {
    int64_t i = atomic_fetch_add_explicit(&loop->next, 1, memory_order_relaxed);
    if (i >= loop->count) return;
    loop->fn(loop->ctx, i);
  }
}

static void env_openmp_for(const bertc_env_t *env, int64_t count, bertc_abi_task_fn fn,
                           void *ctx) {
  if (count <= 1 || env->num_threads <= 1) {
    for (int64_t i = 0; i < count; i++) fn(ctx, i);
    return;
  }
  omp_loop_t loop = {.fn = fn, .ctx = ctx, .count = count};
  atomic_init(&loop.next, 0);
  unsigned team = count < env->num_threads ? (unsigned)count : env->num_threads;
  gomp_parallel_fn parallel = atomic_load_explicit(&omp_parallel, memory_order_relaxed);
  assert(parallel); /* rt_env_init loaded it for every OpenMP context */
  parallel(omp_loop_body, &loop, team, 0);
}

bertc_status_t rt_env_load_openmp(void) {
  static const char *const loaded[] = {"libomp.so.5", "libgomp.so.1", "libiomp5.so"};
  static const char *const installed[] = {"libomp.so.5", "libgomp.so.1"};
  const char *chosen = env_library("BERTC_OPENMP_LIBRARY");
  char why[512] = "";
  pthread_mutex_lock(&libs_lock);
  if (!atomic_load(&omp_parallel)) {
    void *h = NULL, *sym;
    if (chosen)
      sym = open_with_symbol(&chosen, 1, 0, "GOMP_parallel", &h, why, sizeof why);
    else if (!(sym = open_with_symbol(loaded, BASE_ARRAY_LEN(loaded), RTLD_NOLOAD,
                                      "GOMP_parallel", &h, why, sizeof why)))
      sym = open_with_symbol(installed, BASE_ARRAY_LEN(installed), 0, "GOMP_parallel", &h, why,
                             sizeof why);
    gomp_parallel_fn parallel;
    memcpy(&parallel, &sym, sizeof parallel); /* object to function pointer, POSIX-style */
    atomic_store(&omp_parallel, parallel);
  }
  bool ok = atomic_load(&omp_parallel) != NULL;
  pthread_mutex_unlock(&libs_lock);
  if (ok) return BERTC_OK;
  if (chosen)
    return bertc_status_make(BERTC_STATUS_NOT_FOUND,
                             "OpenMP threading: BERTC_OPENMP_LIBRARY=%s cannot be used: %s",
                             chosen, why);
  return bertc_status_make(BERTC_STATUS_NOT_FOUND,
                           "OpenMP threading: no OpenMP runtime was found (tried libomp.so.5 and "
                           "libgomp.so.1; install libomp5 or libgomp1, or set "
                           "BERTC_OPENMP_LIBRARY); last error: %s",
                           why);
}

/* ---- sgemm ------------------------------------------------------------------- */

/* cblas.h's values for row-major storage and (no) transposition. */
enum { CBLAS_ROW_MAJOR = 101, CBLAS_NO_TRANS = 111, CBLAS_TRANS = 112 };
typedef void (*cblas_sgemm_fn)(int order, int trans_a, int trans_b, int m, int n, int k,
                               float alpha, const float *a, int lda, const float *b, int ldb,
                               float beta, float *c, int ldc);
typedef void (*set_threads_fn)(int threads);

/* The process's CBLAS sgemm (set under libs_lock by rt_env_load_blas). */
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

bertc_status_t rt_env_load_blas(void) {
  static const char *const defaults[] = {"libopenblas.so.0", "libopenblas.so", "libcblas.so.3",
                                         "libblas.so.3"};
  const char *chosen = env_library("BERTC_BLAS_LIBRARY");
  char why[512] = "";
  pthread_mutex_lock(&libs_lock);
  if (!atomic_load(&blas_sgemm)) {
    void *h = NULL;
    void *sym = chosen ? open_with_symbol(&chosen, 1, 0, "cblas_sgemm", &h, why, sizeof why)
                       : open_with_symbol(defaults, BASE_ARRAY_LEN(defaults), 0, "cblas_sgemm",
                                          &h, why, sizeof why);
    if (sym) {
      void *set = dlsym(h, "openblas_set_num_threads");
      set_threads_fn set_threads;
      memcpy(&set_threads, &set, sizeof set_threads); /* object to function pointer, POSIX-style */
      if (set_threads) set_threads(1);
    }
    cblas_sgemm_fn sgemm;
    memcpy(&sgemm, &sym, sizeof sgemm);
    atomic_store(&blas_sgemm, sgemm);
  }
  bool ok = atomic_load(&blas_sgemm) != NULL;
  pthread_mutex_unlock(&libs_lock);
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

/* ---- the environment ------------------------------------------------------------ */

bertc_status_t rt_env_init(bertc_env_t *env, const bertc_context_options_t *opts,
                           rt_threads_t *threads) {
  memset(threads, 0, sizeof *threads);
  threads->threading = opts->threading;
  int32_t n = opts->num_threads > 0 ? opts->num_threads : base_default_threads();
  if (n < 1) n = 1;
  env->abi_version = BERTC_ABI_VERSION;
  env->num_threads = (uint32_t)n;
  env->sgemm = env_sgemm;
  if (opts->threading == BERTC_THREADING_CALLER && !opts->parallel_for)
    return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT,
                             "context options: threading BERTC_THREADING_CALLER needs a "
                             "parallel_for");
  if (opts->threading != BERTC_THREADING_CALLER && opts->parallel_for)
    return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT,
                             "context options: parallel_for is set but threading is not "
                             "BERTC_THREADING_CALLER");
  switch (opts->threading) {
  case BERTC_THREADING_POOL:
    BERTC_RETURN_IF_ERROR(rt_pool_create(n, -1, &threads->pool));
    env->host = threads->pool;
    env->parallel_for = env_pool_for;
    return BERTC_OK;
  case BERTC_THREADING_OPENMP:
    BERTC_RETURN_IF_ERROR(rt_env_load_openmp());
    env->host = NULL;
    env->parallel_for = env_openmp_for;
    return BERTC_OK;
  case BERTC_THREADING_CALLER:
    threads->parallel_for = opts->parallel_for;
    threads->user = opts->parallel_for_user;
    env->host = threads;
    env->parallel_for = env_caller_for;
    return BERTC_OK;
  }
  return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT,
                           "context options: threading %d is not a bertc_threading_t",
                           (int)opts->threading);
}

void rt_env_deinit(rt_threads_t *threads) {
  rt_pool_destroy(threads->pool);
  threads->pool = NULL;
}
