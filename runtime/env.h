/* The host side of the .so ABI's bertc_env_t: parallel_for on OpenMP and the
 * sgemm fallback on OpenBLAS. Internal header (not installed). */
#ifndef BERTC_RUNTIME_ENV_H
#define BERTC_RUNTIME_ENV_H

#include <stdint.h>

#include "bertc/abi.h"

/* The thread count "0 = all cores" resolves to (OpenMP's default team size,
 * which honours OMP_NUM_THREADS). */
int32_t rt_env_default_threads(void);

/* Fills `env` for `num_threads` (>= 1) threads. Also makes OpenBLAS
 * single-threaded (the generated code parallelises around sgemm) and starts
 * the calling thread's OpenMP team, so the first run does not pay for it. */
void rt_env_init(bertc_env_t *env, int32_t num_threads, void *host);

#endif
