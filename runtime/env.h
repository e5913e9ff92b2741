/* The host side of the .so ABI's bertc_env_t: parallel_for on the context's
 * threads (its own pool, pool.h; the process's OpenMP runtime; or the
 * program's own parallel_for) and the sgemm fallback on a CBLAS library
 * loaded at run time (env.c). Internal header (not installed). */
#ifndef BERTC_RUNTIME_ENV_H
#define BERTC_RUNTIME_ENV_H

#include <stdint.h>

#include "bertc/abi.h"
#include "bertc/bertc.h"
#include "bertc/status.h"
#include "runtime/pool.h"

/* The threads behind one context's env->parallel_for. */
typedef struct rt_threads {
  bertc_threading_t threading;
  rt_pool_t *pool;                    /* BERTC_THREADING_POOL */
  bertc_parallel_for_fn parallel_for; /* BERTC_THREADING_CALLER */
  void *user;
} rt_threads_t;

/* Fills `env` for the options' threading and num_threads (0: the default,
 * base_default_threads) and starts what it needs in *threads (released with
 * rt_env_deinit, also after a failure): the pool's workers, or the OpenMP
 * runtime (rt_env_load_openmp). A bad threading choice is INVALID_ARGUMENT.
 * `threads` must stay where it is while env is used (env->host may point
 * at it). env->sgemm may be called only after rt_env_load_blas succeeded. */
bertc_status_t rt_env_init(bertc_env_t *env, const bertc_context_options_t *opts,
                           rt_threads_t *threads);
void rt_env_deinit(rt_threads_t *threads);

/* Loads the process's CBLAS library for env->sgemm once (thread-safe; a
 * failure is not remembered, a success is): BERTC_BLAS_LIBRARY when set,
 * else the first of libopenblas.so.0, libopenblas.so, libcblas.so.3,
 * libblas.so.3 that has cblas_sgemm. OpenBLAS is made single-threaded (the
 * generated code parallelises around sgemm). */
bertc_status_t rt_env_load_blas(void);

/* Finds the process's OpenMP runtime once, the same way (thread-safe; a
 * success is remembered): BERTC_OPENMP_LIBRARY when set, else one already
 * loaded (libomp.so.5, libgomp.so.1, libiomp5.so), else the first of
 * libomp.so.5 and libgomp.so.1 that loads; NOT_FOUND when none does. */
bertc_status_t rt_env_load_openmp(void);

#endif
