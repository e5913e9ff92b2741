/* The context thread pool (see pool.h).
 *
 * Publishing a loop: thread 0 writes the job (fn, ctx, count), sets
 * `pending` to the number of workers taking part, and then stores a new
 * `ticket`: a sequence number with the participant count in its low bits, so
 * a worker learns from one atomic load both that there is a new loop and
 * whether it takes part. Only participants read the job, and thread 0 does
 * not write the next job before every participant has counted `pending` down,
 * so a job is never read while it changes. A worker that takes no part in a
 * loop may see the next ticket without ever having seen this one; that is
 * fine, as it only compares tickets for inequality.
 *
 * Sleeping without lost wake-ups: a worker about to sleep increments
 * `sleepers` and then re-reads the ticket under the lock; thread 0 stores the
 * ticket and then reads `sleepers`. Both are sequentially consistent, so at
 * least one of them sees the other's write: either the worker sees the new
 * ticket and does not sleep, or thread 0 sees a sleeper and broadcasts under
 * the lock, which it can only take once the worker is waiting. */
#define _GNU_SOURCE
#include "runtime/pool.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/base.h"

#define TICKET_PARTS_BITS 16
#define TICKET_PARTS_MASK ((UINT64_C(1) << TICKET_PARTS_BITS) - 1)

typedef struct rt_worker {
  rt_pool_t *pool;
  int32_t index; /* 1 .. threads - 1 */
  pthread_t thread;
} rt_worker_t;

struct rt_pool {
  _Alignas(64) _Atomic uint64_t ticket;
  _Alignas(64) _Atomic int32_t pending;
  _Alignas(64) _Atomic int64_t next; /* the next task to take */
  _Alignas(64) _Atomic int32_t sleepers;
  _Atomic bool stop;
  _Atomic uint64_t wakeups;
  /* The current job: written by thread 0 before the ticket that publishes it. */
  bertc_abi_task_fn fn;
  void *ctx;
  int64_t count;
  int32_t threads;
  int32_t started; /* workers running */
  int64_t spin_ns;
  bool has_affinity; /* `allowed` holds the process's CPUs */
  cpu_set_t allowed;
  pthread_mutex_t lock;
  pthread_cond_t wake;
  rt_worker_t *workers; /* [threads - 1] */
};

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

/* One step of a spin-wait. Every RT_POOL_YIELD_EVERY steps it also yields:
 * a new worker starts on its creator's core until the scheduler moves it,
 * and two threads spinning on one core would each wait out the other's time
 * slice (measured: the first runs of a 2-thread context 3x slower than one
 * thread). With the cores to themselves, sched_yield returns at once. */
#define RT_POOL_YIELD_EVERY 64
static inline void spin_step(uint32_t i) {
  if (i % RT_POOL_YIELD_EVERY == 0)
    sched_yield();
  else
    cpu_relax();
}

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Takes tasks until none are left. */
static void run_tasks(rt_pool_t *p, bertc_abi_task_fn fn, void *ctx, int64_t count) {
  for (;;) {
    int64_t i = atomic_fetch_add_explicit(&p->next, 1, memory_order_relaxed);
    if (i >= count) return;
    fn(ctx, i);
  }
}

/* The next ticket after `seen`: spins for spin_ns, then sleeps. */
static uint64_t wait_ticket(rt_pool_t *p, uint64_t seen) {
  int64_t deadline = p->spin_ns > 0 ? now_ns() + p->spin_ns : 0;
  for (uint32_t i = 1;; i++) {
    uint64_t t = atomic_load_explicit(&p->ticket, memory_order_acquire);
    if (t != seen || atomic_load_explicit(&p->stop, memory_order_relaxed)) return t;
    if (p->spin_ns <= 0 || (i % 64 == 0 && now_ns() > deadline)) break;
    spin_step(i);
  }
  pthread_mutex_lock(&p->lock);
  atomic_fetch_add(&p->sleepers, 1);
  uint64_t t = atomic_load(&p->ticket);
  while (t == seen && !atomic_load(&p->stop)) {
    pthread_cond_wait(&p->wake, &p->lock);
    t = atomic_load(&p->ticket);
  }
  atomic_fetch_sub(&p->sleepers, 1);
  pthread_mutex_unlock(&p->lock);
  return t;
}

static void *worker_main(void *arg) {
  rt_worker_t *w = arg;
  rt_pool_t *p = w->pool;
  /* Started on a chosen core (rt_pool_create); from here on the scheduler
   * may move it anywhere the process may run. */
  if (p->has_affinity) (void)pthread_setaffinity_np(pthread_self(), sizeof p->allowed, &p->allowed);
  /* The ticket is 0 until the first loop, which may be published before
   * this thread gets to run: so start from 0, not from the current ticket. */
  uint64_t seen = 0;
  for (;;) {
    seen = wait_ticket(p, seen);
    if (atomic_load_explicit(&p->stop, memory_order_acquire)) return NULL;
    int32_t parts = (int32_t)(seen & TICKET_PARTS_MASK);
    if (w->index < parts) {
      run_tasks(p, p->fn, p->ctx, p->count);
      atomic_fetch_sub_explicit(&p->pending, 1, memory_order_release);
    }
  }
}

static int64_t spin_from_env(void) {
  const char *s = getenv("BERTC_SPIN_US");
  if (s && *s) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (!*end && !errno && v >= 0 && v <= 1000000) return v;
  }
  return RT_POOL_DEFAULT_SPIN_US;
}

static void stop_workers(rt_pool_t *p) {
  pthread_mutex_lock(&p->lock);
  atomic_store(&p->stop, true);
  atomic_fetch_add(&p->ticket, UINT64_C(1) << TICKET_PARTS_BITS);
  pthread_cond_broadcast(&p->wake);
  pthread_mutex_unlock(&p->lock);
  for (int32_t i = 0; i < p->started; i++) pthread_join(p->workers[i].thread, NULL);
  p->started = 0;
}

bertc_status_t rt_pool_create(int32_t threads, int64_t spin_us, rt_pool_t **out) {
  *out = NULL;
  if (threads < 1 || (uint64_t)threads > TICKET_PARTS_MASK)
    return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT,
                             "thread pool: %d threads is out of range (1..%llu)", threads,
                             (unsigned long long)TICKET_PARTS_MASK);
  rt_pool_t *p = NULL;
  BERTC_RETURN_IF_ERROR(base_calloc(1, sizeof(*p), (void **)&p));
  p->threads = threads;
  p->spin_ns = (spin_us < 0 ? spin_from_env() : spin_us) * 1000;
  atomic_init(&p->ticket, 0);
  atomic_init(&p->pending, 0);
  atomic_init(&p->next, 0);
  atomic_init(&p->sleepers, 0);
  atomic_init(&p->stop, false);
  atomic_init(&p->wakeups, 0);
  if (pthread_mutex_init(&p->lock, NULL)) {
    free(p);
    return bertc_status_make(BERTC_STATUS_INTERNAL, "thread pool: pthread_mutex_init failed");
  }
  if (pthread_cond_init(&p->wake, NULL)) {
    pthread_mutex_destroy(&p->lock);
    free(p);
    return bertc_status_make(BERTC_STATUS_INTERNAL, "thread pool: pthread_cond_init failed");
  }
  bertc_status_t s = BERTC_OK;
  if (threads > 1) s = base_calloc((size_t)threads - 1, sizeof(*p->workers), (void **)&p->workers);
  /* A new thread starts on its creator's core and stays there until the
   * scheduler balances, which takes longer than a model run. So each worker
   * starts on its own core: the allowed CPUs in turn, the caller's last. */
  int cpus[CPU_SETSIZE], ncpus = 0, here = sched_getcpu();
  p->has_affinity = threads > 1 && sched_getaffinity(0, sizeof p->allowed, &p->allowed) == 0;
  if (p->has_affinity) {
    for (int c = 0; c < CPU_SETSIZE; c++)
      if (CPU_ISSET(c, &p->allowed) && c != here) cpus[ncpus++] = c;
    if (here >= 0 && here < CPU_SETSIZE && CPU_ISSET(here, &p->allowed)) cpus[ncpus++] = here;
  }
  for (int32_t i = 0; !s && i < threads - 1; i++) {
    rt_worker_t *w = &p->workers[i];
    w->pool = p;
    w->index = i + 1;
    pthread_attr_t attr, *pattr = NULL;
    if (ncpus > 0 && !pthread_attr_init(&attr)) {
      pattr = &attr;
      cpu_set_t one;
      CPU_ZERO(&one);
      CPU_SET(cpus[i % ncpus], &one);
      (void)pthread_attr_setaffinity_np(&attr, sizeof one, &one);
    }
    int rc = pthread_create(&w->thread, pattr, worker_main, w);
    if (pattr) pthread_attr_destroy(pattr);
    if (rc)
      s = bertc_status_make(BERTC_STATUS_INTERNAL,
                            "thread pool: cannot start thread %d of %d: %s", i + 2, threads,
                            strerror(rc));
    else
      p->started++;
  }
  if (s) {
    rt_pool_destroy(p);
    return s;
  }
  *out = p;
  return BERTC_OK;
}

void rt_pool_destroy(rt_pool_t *p) {
  if (!p) return;
  stop_workers(p);
  pthread_cond_destroy(&p->wake);
  pthread_mutex_destroy(&p->lock);
  free(p->workers);
  free(p);
}

int32_t rt_pool_threads(const rt_pool_t *p) { return p->threads; }

uint64_t rt_pool_wakeups(const rt_pool_t *p) {
  return atomic_load_explicit(&((rt_pool_t *)p)->wakeups, memory_order_relaxed);
}

void rt_pool_run(rt_pool_t *p, int64_t count, bertc_abi_task_fn fn, void *ctx) {
  int32_t parts = count < p->threads ? (int32_t)(count > 0 ? count : 0) : p->threads;
  if (parts <= 1) {
    for (int64_t i = 0; i < count; i++) fn(ctx, i);
    return;
  }
  p->fn = fn;
  p->ctx = ctx;
  p->count = count;
  atomic_store_explicit(&p->pending, parts - 1, memory_order_relaxed);
  atomic_store_explicit(&p->next, 0, memory_order_relaxed);
  uint64_t seq = (atomic_load_explicit(&p->ticket, memory_order_relaxed) >> TICKET_PARTS_BITS) + 1;
  atomic_store(&p->ticket, seq << TICKET_PARTS_BITS | (uint64_t)parts);
  if (atomic_load(&p->sleepers) > 0) {
    pthread_mutex_lock(&p->lock);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);
    atomic_fetch_add_explicit(&p->wakeups, 1, memory_order_relaxed);
  }
  run_tasks(p, fn, ctx, count);
  for (uint32_t i = 1; atomic_load_explicit(&p->pending, memory_order_acquire) > 0; i++)
    spin_step(i);
}
