/* Measured fp32 FMA peak of this machine, for bench/run.py.
 *
 * Each thread runs a register-only loop of independent FMA chains (enough
 * accumulators to cover latency x throughput of two FMA ports), zmm when
 * compiled with -mavx512f, ymm otherwise. All threads start together; the
 * result is total FLOPs over wall time (first thread start to last thread end),
 * best of several repetitions, which
 * filters out other processes on a shared machine. Built by run.py with
 *
 *   cc -O2 -mavx512f -mfma bench/peak.c -o peak -lpthread   (or -mavx2 -mfma)
 *
 * and run as `peak THREADS [SECONDS_PER_REP] [REPS]`; prints one JSON object. */
#define _POSIX_C_SOURCE 200809L
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#if defined(__AVX512F__)
typedef __m512 vec;
#define VLEN 16
#define ISA "avx512"
#define SET1 _mm512_set1_ps
#define FMA _mm512_fmadd_ps
#define ADD _mm512_add_ps
#define REDUCE(v) _mm512_reduce_add_ps(v)
#elif defined(__AVX2__) && defined(__FMA__)
typedef __m256 vec;
#define VLEN 8
#define ISA "avx2"
#define SET1 _mm256_set1_ps
#define FMA _mm256_fmadd_ps
#define ADD _mm256_add_ps
static float reduce256(__m256 v) {
  float t[8];
  _mm256_storeu_ps(t, v);
  return t[0] + t[1] + t[2] + t[3] + t[4] + t[5] + t[6] + t[7];
}
#define REDUCE(v) reduce256(v)
#else
#error "peak.c needs -mavx512f or -mavx2 -mfma"
#endif

#define NACC 12   /* 2 ports x 4-5 cycle latency, with margin */
#define INNER 1000

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

typedef struct {
  long outer;
  float sink;
  double t0, t1; /* this thread's own start and end */
  pthread_barrier_t *barrier;
} job_t;

static void *worker(void *arg) {
  job_t *j = arg;
  vec a[NACC];
  for (int i = 0; i < NACC; i++) a[i] = SET1(0.001f * (float)(i + 1));
  const vec m = SET1(0.999999f), c = SET1(1e-7f);
  pthread_barrier_wait(j->barrier);
  j->t0 = now();
  for (long o = 0; o < j->outer; o++) {
    for (int k = 0; k < INNER; k++) {
      a[0] = FMA(a[0], m, c); a[1] = FMA(a[1], m, c); a[2] = FMA(a[2], m, c);
      a[3] = FMA(a[3], m, c); a[4] = FMA(a[4], m, c); a[5] = FMA(a[5], m, c);
      a[6] = FMA(a[6], m, c); a[7] = FMA(a[7], m, c); a[8] = FMA(a[8], m, c);
      a[9] = FMA(a[9], m, c); a[10] = FMA(a[10], m, c); a[11] = FMA(a[11], m, c);
    }
    __asm__ volatile("" ::: "memory");
  }
  j->t1 = now();
  vec s = a[0];
  for (int i = 1; i < NACC; i++) s = ADD(s, a[i]);
  j->sink = REDUCE(s);
  return NULL;
}

/* GFLOP/s of `threads` threads each doing `outer` outer iterations. */
static double run(int threads, long outer) {
  pthread_t tid[256];
  job_t jobs[256];
  pthread_barrier_t barrier;
  pthread_barrier_init(&barrier, NULL, (unsigned)threads + 1);
  for (int t = 0; t < threads; t++) {
    jobs[t].outer = outer;
    jobs[t].barrier = &barrier;
    pthread_create(&tid[t], NULL, worker, &jobs[t]);
  }
  pthread_barrier_wait(&barrier);
  float sink = 0;
  double t0 = 1e300, t1 = 0;
  for (int t = 0; t < threads; t++) {
    pthread_join(tid[t], NULL);
    sink += jobs[t].sink;
    if (jobs[t].t0 < t0) t0 = jobs[t].t0;
    if (jobs[t].t1 > t1) t1 = jobs[t].t1;
  }
  /* Wall time from the first thread starting to the last one finishing, taken by
   * the threads themselves (the main thread may be descheduled after the barrier). */
  double dt = t1 - t0;
  pthread_barrier_destroy(&barrier);
  if (sink == 12345.0f) fprintf(stderr, "unlikely\n");
  double flops = 2.0 * VLEN * NACC * (double)INNER * (double)outer * threads;
  return flops / dt * 1e-9;
}

int main(int argc, char **argv) {
  int threads = argc > 1 ? atoi(argv[1]) : 1;
  double seconds = argc > 2 ? atof(argv[2]) : 0.3;
  int reps = argc > 3 ? atoi(argv[3]) : 5;
  if (threads < 1 || threads > 256 || seconds <= 0 || reps < 1) {
    fprintf(stderr, "usage: peak THREADS [SECONDS_PER_REP] [REPS]\n");
    return 2;
  }
  /* Calibrate the outer count to about `seconds` per repetition on one thread. */
  long outer = 100;
  for (;;) {
    double t0 = now();
    run(1, outer);
    double dt = now() - t0;
    if (dt > 0.05) {
      outer = (long)((double)outer * seconds / dt) + 1;
      break;
    }
    outer *= 4;
  }
  double best = 0, sum = 0;
  double all[64];
  if (reps > 64) reps = 64;
  for (int r = 0; r < reps; r++) {
    all[r] = run(threads, outer);
    sum += all[r];
    if (all[r] > best) best = all[r];
  }
  printf("{\"isa\":\"%s\",\"threads\":%d,\"reps\":%d,\"best_gflops\":%.2f,\"mean_gflops\":%.2f,\"runs\":[",
         ISA, threads, reps, best, sum / reps);
  for (int r = 0; r < reps; r++) printf("%s%.2f", r ? "," : "", all[r]);
  printf("]}\n");
  return 0;
}
