/* The thread pool behind a context's parallel_for (internal header).
 *
 * One pool per context: num_threads - 1 worker threads started when the
 * context is created and joined when it is released; the thread that calls
 * rt_pool_run is the pool's thread 0. The min(threads, count) participating
 * threads take tasks one at a time from a shared counter, so a thread that
 * the OS or a hypervisor slows down does fewer tasks instead of holding the
 * others up. Which thread runs a task never changes its result: tasks write
 * disjoint outputs and each one's arithmetic is fixed, so outputs stay
 * bitwise deterministic.
 *
 * Between loops the workers spin for a short while (spin_us) watching for
 * the next loop, then sleep on a condition variable. A model run is a chain
 * of parallel loops microseconds apart, so inside a run nobody sleeps and a
 * loop starts in well under a microsecond; after the run the workers give the
 * cores back within spin_us. Workers start on cores of their own (the
 * scheduler takes longer than a model run to separate threads that start on
 * one core) and are free to move afterwards. rt_pool_run allocates nothing and may only be
 * called by one thread at a time (a context is used by one thread at a time). */
#ifndef BERTC_RUNTIME_POOL_H
#define BERTC_RUNTIME_POOL_H

#include <stdint.h>

#include "bertc/abi.h"
#include "bertc/status.h"

typedef struct rt_pool rt_pool_t;

/* The spin time when BERTC_SPIN_US is not set (microseconds). */
#define RT_POOL_DEFAULT_SPIN_US 200

/* Starts threads - 1 workers (threads >= 1; 1 starts none). spin_us < 0
 * takes BERTC_SPIN_US from the environment, or RT_POOL_DEFAULT_SPIN_US. */
bertc_status_t rt_pool_create(int32_t threads, int64_t spin_us, rt_pool_t **out);

/* Stops and joins the workers. NULL is a no-op. */
void rt_pool_destroy(rt_pool_t *pool);

int32_t rt_pool_threads(const rt_pool_t *pool);

/* Runs fn(ctx, i) for i in [0, count) on the pool and returns when all are
 * done. The caller runs its share as thread 0. */
void rt_pool_run(rt_pool_t *pool, int64_t count, bertc_abi_task_fn fn, void *ctx);

/* Loops that found every worker asleep, since the pool was created (for tests). */
uint64_t rt_pool_wakeups(const rt_pool_t *pool);

#endif
