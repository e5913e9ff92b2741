/* bertc cold start for bench/run.py: process start to first result.
 *
 *   coldstart OUT.so SEQ BATCH THREADS OUT_PREFIX
 *
 * Loads the compiled model, creates a context, runs once on the same ids
 * `bertc bench` uses (xorshift64, tools/cmd_bench.c; mask all ones, token
 * types zero), prints one JSON line as soon as the result is there (run.py
 * stops its clock on that line), then writes every output as raw float32 to
 * OUT_PREFIX.<name>.f32 for the numerical check. Links only the runtime
 * library (libbertc_runtime.a), not the compiler, so it measures what an
 * application embedding bertc pays. Built by run.py:
 *
 *   cc -O2 -I main -I main/include bench/coldstart.c BUILD/runtime/libbertc_runtime.a \
 *      -pthread -ljansson -lutf8proc -ldl -lm -o coldstart
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bertc/bertc.h"

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static long vm_hwm_kb(void) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long kb = -1;
  if (!f) return -1;
  while (fgets(line, sizeof line, f))
    if (!strncmp(line, "VmHWM:", 6)) kb = strtol(line + 6, NULL, 10);
  fclose(f);
  return kb;
}

static int fail(bertc_status_t s) {
  fprintf(stderr, "coldstart: %s\n", bertc_status_message(s));
  return 1;
}

int main(int argc, char **argv) {
  double t0 = now_ms();
  if (argc != 6) {
    fprintf(stderr, "usage: coldstart OUT.so SEQ BATCH THREADS OUT_PREFIX\n");
    return 2;
  }
  const char *path = argv[1];
  long seq = atol(argv[2]), batch = atol(argv[3]);
  int threads = atoi(argv[4]);
  bertc_model_t *m = NULL;
  bertc_context_t *ctx = NULL;
  bertc_status_t s = bertc_model_load(path, NULL, &m);
  if (s) return fail(s);
  bertc_context_options_t co;
  bertc_context_options_init(&co);
  co.num_threads = threads;
  co.max_batch = (int32_t)batch;
  s = bertc_context_create(m, &co, &ctx);
  if (s) return fail(s);
  double t_loaded = now_ms();
  int64_t vocab = bertc_model_vocab_size(m);
  int32_t *ids = malloc((size_t)(batch * seq) * sizeof(int32_t));
  const int32_t **rows = malloc((size_t)batch * sizeof(int32_t *));
  int32_t *lens = malloc((size_t)batch * sizeof(int32_t));
  uint64_t x = 88172645463325252ull;
  for (long i = 0; i < batch * seq; i++) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    ids[i] = (int32_t)(100 + x % (uint64_t)(vocab > 200 ? vocab - 200 : 1));
  }
  for (long b = 0; b < batch; b++) {
    rows[b] = ids + b * seq;
    lens[b] = (int32_t)seq;
  }
  bertc_run_input_t in;
  bertc_run_input_init(&in);
  in.count = (int32_t)batch;
  in.lengths = lens;
  in.input_ids = rows;
  s = bertc_context_run(ctx, &in);
  if (s) return fail(s);
  double t_done = now_ms();
  printf("{\"done\":true,\"in_process_ms\":%.3f,\"load_ms\":%.3f,\"first_run_ms\":%.3f,\"vmhwm_kb\":%ld,"
         "\"threads\":%d}\n",
         t_done - t0, t_loaded - t0, t_done - t_loaded, vm_hwm_kb(), bertc_context_num_threads(ctx));
  fflush(stdout);
  uint32_t nout;
  bertc_model_outputs(m, &nout);
  for (uint32_t o = 0; o < nout; o++) {
    bertc_tensor_view_t v;
    if (bertc_context_output(ctx, o, &v) || v.dtype != BERTC_DTYPE_F32) continue;
    char name[4096];
    snprintf(name, sizeof name, "%s.%s.f32", argv[5], v.name);
    FILE *f = fopen(name, "wb");
    if (!f) continue;
    fwrite(v.data, 1, (size_t)v.size_bytes, f);
    fclose(f);
    fprintf(stderr, "coldstart: wrote %s [", name);
    for (int d = 0; d < v.rank; d++) fprintf(stderr, "%s%lld", d ? "," : "", (long long)v.dims[d]);
    fprintf(stderr, "]\n");
  }
  free(ids);
  free(rows);
  free(lens);
  bertc_context_release(ctx);
  bertc_model_release(m);
  return 0;
}
