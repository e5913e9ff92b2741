/* The host side of the .so ABI's bertc_env_t: parallel_for on the context's
 * thread pool (pool.h) and the sgemm fallback on a CBLAS library loaded at run
 * time (env.c). Internal header
 * (not installed). */
#ifndef BERTC_RUNTIME_ENV_H
#define BERTC_RUNTIME_ENV_H

#include <stdint.h>

#include "bertc/abi.h"
#include "bertc/status.h"
#include "runtime/pool.h"

/* Fills `env` for `num_threads` (>= 1) threads and starts its pool (*pool;
 * released with rt_pool_destroy). env->sgemm may be called only after
 * rt_env_load_blas succeeded. */
bertc_status_t rt_env_init(bertc_env_t *env, int32_t num_threads, rt_pool_t **pool);

/* Loads the process's CBLAS library for env->sgemm once (thread-safe; a
 * failure is not remembered, a success is): BERTC_BLAS_LIBRARY when set,
 * else the first of libopenblas.so.0, libopenblas.so, libcblas.so.3,
 * libblas.so.3 that has cblas_sgemm. OpenBLAS is made single-threaded (the
 * generated code parallelises around sgemm). */
bertc_status_t rt_env_load_blas(void);

#endif
