/* Codegen end to end: hand-built programs compiled to real .so files, loaded
 * with dlopen and run; the outputs are compared with the same arithmetic done
 * here. Also: the descriptor, the exported symbols and NEEDED libraries,
 * byte-identical rebuilds, external weights, every --emit kind, and errors
 * (bad linker, bad kernel calls) that must leave no file behind. */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/testutil.h"

#include "kernels/kernels.h"
#include "backend/program.h"
#include "base/base.h"

/* --- a serial host ---------------------------------------------------------- */

static int parallel_calls;

static void serial_for(const bertc_env_t *env, int64_t count, bertc_abi_task_fn fn, void *ctx) {
  (void)env;
  parallel_calls++;
  for (int64_t i = 0; i < count; i++) fn(ctx, i);
}

static bertc_env_t serial_env(void) {
  return (bertc_env_t){
      .abi_version = BERTC_ABI_VERSION, .num_threads = 1, .parallel_for = serial_for};
}

/* --- the "tiny" program ------------------------------------------------------
 * Two identical "layers" per bucket over x[B,S,8]:
 *   a = x + bias0 (bk_add, 2 tasks); h = 0.5 a (bk_scale); y = h W^T + bias1 (bk_gemm)
 * Layer 2 reads layer 1's y. Outputs: y of layer 2 and h of layer 2. */

#define TINY_D 8
#define W_BIAS0 0   /* 8 floats */
#define W_PACKED 64 /* bk_packed_floats(8, 8) floats */

typedef struct tiny {
  cg_program_t p;
  cg_bucket_t buckets[2];
  cg_call_t calls[2][6];
  bertc_abi_tensor_t inputs[1], outputs[2];
  float *weights;
  float w[TINY_D * TINY_D], bias0[TINY_D], bias1[TINY_D];
  uint64_t w_bias1;
  uint8_t tokenizer[32];
} tiny_t;

static cg_arg_t ptr_arg(cg_region_t r, int32_t index, int64_t offset) {
  return (cg_arg_t){.kind = CG_ARG_PTR, .region = r, .index = index, .i = offset};
}
static cg_arg_t i64_arg(int64_t v) { return (cg_arg_t){.kind = CG_ARG_I64, .i = v}; }
static cg_arg_t f32_arg(float v) { return (cg_arg_t){.kind = CG_ARG_F32, .f = v}; }
static cg_arg_t null_arg(void) {
  return (cg_arg_t){.kind = CG_ARG_PTR, .region = CG_REGION_NULL};
}

static void set_call(cg_call_t *c, const char *kernel, int64_t ntasks, int n,
                     const cg_arg_t *args) {
  memset(c, 0, sizeof *c);
  c->kernel = kernel;
  c->ntasks = ntasks;
  c->num_args = n;
  memcpy(c->args, args, (size_t)n * sizeof *args);
}
#define SET_CALL(c, kernel, ntasks, ...)                                \
  set_call((c), (kernel), (ntasks),                                     \
           (int)(sizeof((cg_arg_t[]){__VA_ARGS__}) / sizeof(cg_arg_t)), \
           (cg_arg_t[]){__VA_ARGS__})

/* One layer: src -> arena[a] -> h_dst -> y_dst. */
static void tiny_layer(tiny_t *t, cg_call_t *c, int64_t rows, cg_arg_t src, cg_arg_t h_dst,
                       cg_arg_t y_dst) {
  int64_t total = rows * TINY_D;
  SET_CALL(&c[0], "bk_add", 2, src, ptr_arg(CG_REGION_WEIGHTS, 0, W_BIAS0),
           ptr_arg(CG_REGION_ARENA, 0, 0), i64_arg((total + 1) / 2), i64_arg(total),
           i64_arg(TINY_D));
  SET_CALL(&c[1], "bk_scale", 1, ptr_arg(CG_REGION_ARENA, 0, 0), h_dst, i64_arg(total),
           i64_arg(total), f32_arg(0.5f));
  int64_t m_block = 2;
  SET_CALL(&c[2], "bk_gemm", (rows + m_block - 1) / m_block, h_dst,
           ptr_arg(CG_REGION_WEIGHTS, 0, W_PACKED),
           ptr_arg(CG_REGION_WEIGHTS, 0, (int64_t)t->w_bias1), null_arg(), null_arg(),
           null_arg(), y_dst, i64_arg(rows), i64_arg(TINY_D), i64_arg(TINY_D), i64_arg(m_block),
           i64_arg(TINY_D), i64_arg(0), f32_arg(0.0f));
}

static void tiny_init(tiny_t *t, const char *name) {
  memset(t, 0, sizeof *t);
  srand(7);
  for (int i = 0; i < TINY_D * TINY_D; i++) t->w[i] = (float)(rand() % 17 - 8) / 8.0f;
  for (int i = 0; i < TINY_D; i++) {
    t->bias0[i] = (float)i * 0.25f - 1.0f;
    t->bias1[i] = 0.125f * (float)(i % 3);
  }
  int64_t packed = bk_packed_floats(TINY_D, TINY_D);
  t->w_bias1 = base_align_up(W_PACKED + (uint64_t)packed * 4, 64);
  uint64_t size = t->w_bias1 + TINY_D * 4;
  t->weights = aligned_alloc(64, base_align_up(size, 64));
  memset(t->weights, 0, base_align_up(size, 64));
  memcpy((uint8_t *)t->weights + W_BIAS0, t->bias0, sizeof t->bias0);
  bk_pack_weights(t->w, TINY_D, TINY_D, (float *)((uint8_t *)t->weights + W_PACKED));
  memcpy((uint8_t *)t->weights + t->w_bias1, t->bias1, sizeof t->bias1);
  for (size_t i = 0; i < sizeof t->tokenizer; i++) t->tokenizer[i] = (uint8_t)(i * 7);

  t->inputs[0] = (bertc_abi_tensor_t){
      "x", BERTC_ABI_F32, 3, {BERTC_ABI_DIM_BATCH, BERTC_ABI_DIM_SEQ, TINY_D, 0}};
  t->outputs[0] = (bertc_abi_tensor_t){
      "y", BERTC_ABI_F32, 3, {BERTC_ABI_DIM_BATCH, BERTC_ABI_DIM_SEQ, TINY_D, 0}};
  t->outputs[1] = (bertc_abi_tensor_t){
      "h", BERTC_ABI_F32, 3, {BERTC_ABI_DIM_BATCH, BERTC_ABI_DIM_SEQ, TINY_D, 0}};
  static const int32_t shapes[2][2] = {{1, 4}, {2, 3}};
  for (int b = 0; b < 2; b++) {
    int64_t rows = shapes[b][0] * shapes[b][1];
    uint64_t buf = base_align_up((uint64_t)rows * TINY_D * 4, 64);
    cg_arg_t y1 = ptr_arg(CG_REGION_ARENA, 0, (int64_t)buf);
    cg_arg_t h1 = ptr_arg(CG_REGION_ARENA, 0, (int64_t)(2 * buf));
    tiny_layer(t, &t->calls[b][0], rows, ptr_arg(CG_REGION_INPUT, 0, 0), h1, y1);
    tiny_layer(t, &t->calls[b][3], rows, y1, ptr_arg(CG_REGION_OUTPUT, 1, 0),
               ptr_arg(CG_REGION_OUTPUT, 0, 0));
    t->buckets[b] = (cg_bucket_t){.batch = shapes[b][0],
                                  .seq = shapes[b][1],
                                  .arena_bytes = 3 * buf,
                                  .num_calls = 6,
                                  .calls = t->calls[b],
                                  .peak_live_bytes = 2 * buf,
                                  .unplanned_bytes = 5 * buf};
  }
  t->p = (cg_program_t){.model_name = name,
                        .metadata_json = "{\"model_type\":\"tiny\"}",
                        .flags = BERTC_ABI_FLAG_NEEDS_SGEMM, /* recorded, whatever the calls */
                        .weights = (const uint8_t *)t->weights,
                        .weights_size = size,
                        .tokenizer_blob = t->tokenizer,
                        .tokenizer_blob_size = sizeof t->tokenizer,
                        .num_buckets = 2,
                        .buckets = t->buckets,
                        .num_inputs = 1,
                        .num_outputs = 2,
                        .inputs = t->inputs,
                        .outputs = t->outputs};
}

static void tiny_reference(const tiny_t *t, const float *x, int64_t rows, float *y, float *h) {
  float *cur = malloc((size_t)rows * TINY_D * sizeof *cur);
  memcpy(cur, x, (size_t)rows * TINY_D * sizeof *cur);
  for (int layer = 0; layer < 2; layer++) {
    for (int64_t i = 0; i < rows * TINY_D; i++) h[i] = (cur[i] + t->bias0[i % TINY_D]) * 0.5f;
    for (int64_t r = 0; r < rows; r++)
      for (int n = 0; n < TINY_D; n++) {
        double acc = t->bias1[n];
        for (int k = 0; k < TINY_D; k++)
          acc += (double)h[r * TINY_D + k] * t->w[n * TINY_D + k];
        y[r * TINY_D + n] = (float)acc;
      }
    memcpy(cur, y, (size_t)rows * TINY_D * sizeof *cur);
  }
  free(cur);
}

static void tiny_free(tiny_t *t) { free(t->weights); }

/* --- helpers ---------------------------------------------------------------- */

static void print_phase(void *user, const char *phase, double seconds) {
  (void)user;
  print_message("    %-9s %7.3f s\n", phase, seconds);
}

/* Appends each phase name to the char[512] at user. */
static void record_phase(void *user, const char *phase, double seconds) {
  (void)seconds;
  char *log = user;
  size_t n = strlen(log);
  snprintf(log + n, 512 - n, "%s;", phase);
}

static cg_options_t test_options(void) {
  cg_options_t o;
  cg_options_init(&o);
  o.progress = print_phase;
  return o;
}

static uint8_t *read_all(const char *path, size_t *size) {
  char *data = NULL;
  TU_ASSERT_OK(base_read_file(path, (size_t)1 << 31, &data, size));
  return (uint8_t *)data;
}

/* No file of `dir` starts with `prefix` (outputs and temporaries). */
static void assert_no_files(const char *path) {
  char *dir = strdup(path);
  char *slash = strrchr(dir, '/');
  *slash = '\0';
  const char *prefix = slash + 1;
  DIR *d = opendir(dir);
  assert_non_null(d);
  for (struct dirent *e; (e = readdir(d));)
    if (!strncmp(e->d_name, prefix, strlen(prefix))) fail_msg("left behind: %s", e->d_name);
  closedir(d);
  free(dir);
}

static void remove_outputs(const char *path) {
  unlink(path);
  char buf[4096];
  snprintf(buf, sizeof buf, "%s.weights", path);
  unlink(buf);
}

static const bertc_model_descriptor_t *load(const char *so, void **out_handle) {
  void *h = dlopen(so, RTLD_NOW | RTLD_LOCAL);
  if (!h) fail_msg("dlopen %s: %s", so, dlerror());
  void *sym = dlsym(h, BERTC_ABI_QUERY_SYMBOL);
  assert_non_null(sym);
  bertc_model_query_fn query;
  memcpy(&query, &sym, sizeof query); /* POSIX: data and function pointers agree */
  assert_null(query(0));
  const bertc_model_descriptor_t *d = query(BERTC_ABI_VERSION);
  assert_non_null(d);
  assert_ptr_equal(query(BERTC_ABI_VERSION + 5), d);
  *out_handle = h;
  return d;
}

static void run_tiny_buckets(const tiny_t *t, const bertc_model_descriptor_t *d,
                             const uint8_t *weights, int use_parallel_for) {
  for (uint32_t b = 0; b < d->num_buckets; b++) {
    const bertc_abi_bucket_t *bk = &d->buckets[b];
    int64_t rows = (int64_t)bk->batch * bk->seq;
    size_t n = (size_t)rows * TINY_D;
    float *x = malloc(n * 4), *y = calloc(n, 4), *h = calloc(n, 4);
    float *ry = malloc(n * 4), *rh = malloc(n * 4);
    for (size_t i = 0; i < n; i++) x[i] = (float)((int)(i * 37 % 23) - 11) / 4.0f;
    uint8_t *arena = aligned_alloc(64, base_align_up(d->arena_size, 64));
    memset(arena, 0xAB, d->arena_size);
    bertc_env_t env = serial_env();
    if (!use_parallel_for) env.parallel_for = NULL;
    parallel_calls = 0;
    const void *inputs[] = {x};
    void *outputs[] = {y, h};
    assert_int_equal(bk->entry(&env, weights, arena, inputs, outputs), 0);
    /* per layer: bk_add (2 tasks) and bk_gemm (rows / 2 tasks) go through parallel_for */
    assert_int_equal(parallel_calls, use_parallel_for ? 4 : 0);
    tiny_reference(t, x, rows, ry, rh);
    for (size_t i = 0; i < n; i++) {
      if (fabsf(h[i] - rh[i]) > 1e-5f * (1 + fabsf(rh[i])))
        fail_msg("bucket %u: h[%zu] = %g, expected %g", b, i, h[i], rh[i]);
      if (fabsf(y[i] - ry[i]) > 1e-4f * (1 + fabsf(ry[i])))
        fail_msg("bucket %u: y[%zu] = %g, expected %g", b, i, y[i], ry[i]);
    }
    free(x), free(y), free(h), free(ry), free(rh), free(arena);
  }
}

static char *run_stdout(const char *fmt, const char *arg) {
  char cmd[4096];
  snprintf(cmd, sizeof cmd, fmt, arg);
  char *out = NULL, *err = NULL;
  int rc = tu_run(cmd, &out, &err);
  if (rc != 0) fail_msg("'%s' failed (%d): %s", cmd, rc, err);
  free(err);
  return out;
}

/* --- tests ------------------------------------------------------------------ */

static void test_resolve_target(void **state) {
  (void)state;
  char *cpu, *features;
  TU_ASSERT_OK(cg_resolve_target("native", NULL, &cpu, &features));
  assert_true(strlen(cpu) > 0);
  assert_non_null(strstr(features, "+sse2"));
  print_message("    native: %s\n", cpu);
  free(cpu), free(features);
  TU_ASSERT_OK(cg_resolve_target(NULL, "+avx2,-avx512f", &cpu, &features));
  assert_string_equal(features, "+avx2,-avx512f");
  free(cpu), free(features);
  TU_ASSERT_OK(cg_resolve_target("x86-64-v3", NULL, &cpu, &features));
  assert_string_equal(cpu, "x86-64-v3");
  assert_non_null(strstr(features, "+avx2"));
  assert_null(strstr(features, "avx512"));
  free(cpu), free(features);
  TU_ASSERT_OK(cg_resolve_target("znver4", NULL, &cpu, &features));
  assert_string_equal(cpu, "znver4");
  assert_string_equal(features, "");
  free(cpu), free(features);
  TU_ASSERT_ERROR(cg_resolve_target("native", "avx2", &cpu, &features), "+NAME");
  assert_null(cpu);
  TU_ASSERT_ERROR(cg_resolve_target("bad cpu;", NULL, &cpu, &features), "not a CPU name");
}

static void test_so_runs(void **state) {
  (void)state;
  tiny_t t;
  tiny_init(&t, "tiny");
  char *so = tu_scratch_path("codegen/tiny.so");
  remove_outputs(so);
  cg_options_t o = test_options();
  TU_ASSERT_OK(cg_compile(&t.p, &o, so));

  void *handle;
  const bertc_model_descriptor_t *d = load(so, &handle);
  assert_int_equal(d->magic, BERTC_ABI_MAGIC);
  assert_int_equal(d->abi_version, BERTC_ABI_VERSION);
  assert_string_equal(d->model_name, "tiny");
  assert_string_equal(d->metadata_json, t.p.metadata_json);
  char *cpu, *features;
  TU_ASSERT_OK(cg_resolve_target("native", NULL, &cpu, &features));
  assert_string_equal(d->target_cpu, cpu);
  assert_string_equal(d->target_features, features);
  free(cpu), free(features);
  assert_true(strlen(d->bertc_version) > 0);
  assert_non_null(d->weights);
  assert_null(d->weights_file);
  assert_int_equal((uintptr_t)d->weights % 64, 0);
  assert_int_equal(d->weights_size, t.p.weights_size);
  assert_memory_equal(d->weights, t.p.weights, t.p.weights_size);
  assert_int_equal(d->weights_align, 64);
  assert_int_equal(d->weights_hash, base_hash64(t.p.weights, t.p.weights_size));
  assert_int_equal(d->arena_size, t.buckets[1].arena_bytes > t.buckets[0].arena_bytes
                                      ? t.buckets[1].arena_bytes
                                      : t.buckets[0].arena_bytes);
  assert_int_equal(d->arena_align, 64);
  assert_int_equal(d->num_buckets, 2);
  for (int b = 0; b < 2; b++) {
    assert_int_equal(d->buckets[b].batch, t.buckets[b].batch);
    assert_int_equal(d->buckets[b].seq, t.buckets[b].seq);
    assert_int_equal(d->buckets[b].arena_bytes, t.buckets[b].arena_bytes);
    assert_int_equal(d->buckets[b].peak_live_bytes, t.buckets[b].peak_live_bytes);
    assert_int_equal(d->buckets[b].unplanned_bytes, t.buckets[b].unplanned_bytes);
    assert_int_equal(d->buckets[b].kernel_calls, t.buckets[b].num_calls);
    assert_non_null(d->buckets[b].entry);
  }
  assert_int_equal(d->flags, t.p.flags);
  assert_int_equal(d->num_inputs, 1);
  assert_int_equal(d->num_outputs, 2);
  assert_string_equal(d->inputs[0].name, "x");
  assert_string_equal(d->outputs[1].name, "h");
  assert_int_equal(d->outputs[0].rank, 3);
  assert_int_equal(d->outputs[0].dims[0], BERTC_ABI_DIM_BATCH);
  assert_int_equal(d->outputs[0].dims[1], BERTC_ABI_DIM_SEQ);
  assert_int_equal(d->outputs[0].dims[2], TINY_D);
  assert_int_equal(d->tokenizer_blob_size, sizeof t.tokenizer);
  assert_memory_equal(d->tokenizer_blob, t.tokenizer, sizeof t.tokenizer);

  run_tiny_buckets(&t, d, d->weights, 1);
  run_tiny_buckets(&t, d, d->weights, 0); /* no parallel_for: serial fallback */
  dlclose(handle);

  /* exactly one exported symbol; only libc/libm needed */
  char *syms = run_stdout("nm -D --defined-only %s | awk '{print $3}'", so);
  assert_string_equal(syms, "bertc_model_query\n");
  free(syms);
  char *needed = run_stdout("readelf -d %s | grep NEEDED || true", so);
  for (char *line = strtok(needed, "\n"); line; line = strtok(NULL, "\n"))
    if (!strstr(line, "[libc.so") && !strstr(line, "[libm.so"))
      fail_msg("unexpected dependency: %s", line);
  free(needed);
  free(so);
  tiny_free(&t);
}

/* Other optimization levels and named targets give the same answers. */
static void test_levels_and_targets(void **state) {
  (void)state;
  tiny_t t;
  tiny_init(&t, "tiny");
  char *so = tu_scratch_path("codegen/variant.so");
  static const struct {
    int opt_level;
    const char *cpu, *features, *want_cpu, *want_feature;
  } variants[] = {
      {0, "native", NULL, NULL, NULL},
      {2, "native", NULL, NULL, NULL},
      {3, "x86-64-v2", NULL, "x86-64-v2", "+sse4.2"},
      {3, NULL, "+avx2,+fma", NULL, "+avx2,+fma"},
  };
  for (size_t i = 0; i < sizeof variants / sizeof variants[0]; i++) {
    cg_options_t o = test_options();
    o.opt_level = variants[i].opt_level;
    o.target_cpu = variants[i].cpu;
    o.target_features = variants[i].features;
    TU_ASSERT_OK(cg_compile(&t.p, &o, so));
    void *handle;
    const bertc_model_descriptor_t *d = load(so, &handle);
    if (variants[i].want_cpu) assert_string_equal(d->target_cpu, variants[i].want_cpu);
    if (variants[i].want_feature)
      assert_non_null(strstr(d->target_features, variants[i].want_feature));
    run_tiny_buckets(&t, d, d->weights, 1);
    dlclose(handle);
  }
  unlink(so);
  free(so);
  tiny_free(&t);
}

static void test_deterministic(void **state) {
  (void)state;
  tiny_t t;
  tiny_init(&t, "tiny");
  char *a = tu_scratch_path("codegen/det_a.so"), *b = tu_scratch_path("codegen/det_b.so");
  cg_options_t o = test_options();
  TU_ASSERT_OK(cg_compile(&t.p, &o, a));
  TU_ASSERT_OK(cg_compile(&t.p, &o, b));
  size_t na, nb;
  uint8_t *da = read_all(a, &na), *db = read_all(b, &nb);
  assert_int_equal(na, nb);
  assert_memory_equal(da, db, na);
  free(da), free(db);
  /* a .so's modules (the entries' and one per wrapper: 2 buckets x 3
   * wrappers) built on one thread or on several: the same bytes */
  char phases[512] = "";
  o.progress = record_phase;
  o.progress_user = phases;
  o.jobs = 1;
  TU_ASSERT_OK(cg_compile(&t.p, &o, a));
  assert_non_null(strstr(phases, "llvm (7 modules, 1 thread)"));
  o.jobs = 3;
  TU_ASSERT_OK(cg_compile(&t.p, &o, b));
  assert_non_null(strstr(phases, "llvm (7 modules, 3 threads)"));
  o = test_options();
  da = read_all(a, &na), db = read_all(b, &nb);
  assert_int_equal(na, nb);
  assert_memory_equal(da, db, na);
  free(da), free(db);
  /* and the same for a named CPU, through the object file */
  o.target_cpu = "x86-64-v2";
  o.emit = CG_EMIT_OBJ;
  TU_ASSERT_OK(cg_compile(&t.p, &o, a));
  TU_ASSERT_OK(cg_compile(&t.p, &o, b));
  da = read_all(a, &na), db = read_all(b, &nb);
  assert_int_equal(na, nb);
  assert_memory_equal(da, db, na);
  free(da), free(db);
  unlink(a), unlink(b);
  free(a), free(b);
  tiny_free(&t);
}

static void test_weights_external(void **state) {
  (void)state;
  tiny_t t;
  tiny_init(&t, "tiny");
  char *so = tu_scratch_path("codegen/ext.so");
  remove_outputs(so);
  cg_options_t o = test_options();
  o.weights_external = 1;
  TU_ASSERT_OK(cg_compile(&t.p, &o, so));
  char wpath[4096];
  snprintf(wpath, sizeof wpath, "%s.weights", so);
  size_t n;
  uint8_t *w = read_all(wpath, &n);
  assert_int_equal(n, t.p.weights_size);
  assert_memory_equal(w, t.p.weights, n);

  void *handle;
  const bertc_model_descriptor_t *d = load(so, &handle);
  assert_null(d->weights);
  assert_string_equal(d->weights_file, "ext.so.weights");
  assert_int_equal(d->weights_size, n);
  assert_int_equal(d->weights_hash, base_hash64(w, n));
  uint8_t *aligned = aligned_alloc(64, base_align_up(n, 64));
  memcpy(aligned, w, n);
  run_tiny_buckets(&t, d, aligned, 1);
  free(aligned);
  dlclose(handle);

  free(w);
  free(so);
  tiny_free(&t);
}

static void test_emit_kinds(void **state) {
  (void)state;
  tiny_t t;
  tiny_init(&t, "tiny");
  static const struct {
    cg_emit_t kind;
    const char *file, *needle;
  } kinds[] = {
      {CG_EMIT_LLVM, "codegen/tiny.ll", "define ptr @bertc_model_query"},
      {CG_EMIT_ASM, "codegen/tiny.s", "bertc_model_query:"},
      {CG_EMIT_OBJ, "codegen/tiny.o", "\177ELF"},
      {CG_EMIT_HEADER, "codegen/tiny.h", "#define TINY_WEIGHTS_SIZE"},
  };
  for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
    char *path = tu_scratch_path(kinds[i].file);
    unlink(path);
    cg_options_t o = test_options();
    o.emit = kinds[i].kind;
    TU_ASSERT_OK(cg_compile(&t.p, &o, path));
    size_t n;
    uint8_t *data = read_all(path, &n);
    assert_non_null(memmem(data, n, kinds[i].needle, strlen(kinds[i].needle)));
    if (kinds[i].kind == CG_EMIT_LLVM) {
      /* one wrapper per (kernel, constants): 3 per bucket, shared by both layers */
      size_t wrappers = 0;
      char *ir = strndup((const char *)data, n);
      for (char *save = NULL, *line = strtok_r(ir, "\n", &save); line;
           line = strtok_r(NULL, "\n", &save))
        wrappers += !strncmp(line, "define ", 7) && strstr(line, " @tiny_bk_");
      free(ir);
      print_message("    %zu task wrappers in the IR\n", wrappers);
      assert_int_equal(wrappers, 6);
    }
    free(data);
    if (kinds[i].kind == CG_EMIT_HEADER) {
      char *out = run_stdout("cc -std=c11 -Wall -Werror -fsyntax-only -x c %s", path);
      free(out);
    }
    if (kinds[i].kind == CG_EMIT_OBJ) {
      char *syms = run_stdout("nm -g --defined-only %s | awk '{print $3}'", path);
      assert_string_equal(syms, "bertc_model_query\n");
      free(syms);
    }
    free(path);
  }
  tiny_free(&t);
}

static void test_bad_linker(void **state) {
  (void)state;
  tiny_t t;
  tiny_init(&t, "tiny");
  char *so = tu_scratch_path("codegen/badlink.so");
  remove_outputs(so);
  cg_options_t o = test_options();
  o.weights_external = 1;
  o.linker = "/nonexistent/bertc-cc";
  TU_ASSERT_ERROR(cg_compile(&t.p, &o, so), "/nonexistent/bertc-cc");
  assert_no_files(so);
  o.linker = "false";
  TU_ASSERT_ERROR(cg_compile(&t.p, &o, so), "failed");
  assert_no_files(so);
  /* $CC is honoured when no linker is given */
  o.linker = NULL;
  const char *old = getenv("CC");
  char *saved = old ? strdup(old) : NULL;
  setenv("CC", "/nonexistent/cc-from-env -O2", 1);
  TU_ASSERT_ERROR(cg_compile(&t.p, &o, so), "cc-from-env");
  if (saved)
    setenv("CC", saved, 1);
  else
    unsetenv("CC");
  free(saved);
  assert_no_files(so);
  free(so);
  tiny_free(&t);
}

static void test_bad_calls(void **state) {
  (void)state;
  tiny_t t;
  tiny_init(&t, "tiny");
  char *so = tu_scratch_path("codegen/badcall.so");
  remove_outputs(so);
  cg_options_t o = test_options();

  cg_call_t saved = t.calls[0][1];
  t.calls[0][1].num_args = 4; /* bk_scale without alpha */
  TU_ASSERT_ERROR(cg_compile(&t.p, &o, so), "bk_scale");
  t.calls[0][1] = saved;
  t.calls[0][1].args[4] = i64_arg(2); /* alpha as an integer */
  TU_ASSERT_ERROR(cg_compile(&t.p, &o, so), "kernel 'bk_scale': argument 4 is f32");
  t.calls[0][1] = saved;
  t.calls[0][1].kernel = "bk_no_such_kernel";
  TU_ASSERT_ERROR(cg_compile(&t.p, &o, so), "bk_no_such_kernel");
  t.calls[0][1] = saved;
  /* found while the second bucket's module is built, on one thread or two */
  saved = t.calls[1][2];
  t.calls[1][2].kernel = "bk_missing_too";
  for (int jobs = 1; jobs <= 2; jobs++) {
    o.jobs = jobs;
    TU_ASSERT_ERROR(cg_compile(&t.p, &o, so), "kernel 'bk_missing_too' is not in");
    assert_no_files(so);
  }
  o.jobs = 0;
  t.calls[1][2] = saved;
  t.calls[0][1].args[1] = ptr_arg(CG_REGION_OUTPUT, 7, 0);
  TU_ASSERT_ERROR(cg_compile(&t.p, &o, so), "bad pointer");
  t.calls[0][1] = saved;
  t.p.model_name = "bad-name";
  TU_ASSERT_ERROR(cg_compile(&t.p, &o, so), "model name");
  t.p.model_name = "tiny";
  o.opt_level = 4;
  TU_ASSERT_ERROR(cg_compile(&t.p, &o, so), "optimization level");
  assert_no_files(so);
  free(so);
  tiny_free(&t);
}

/* --- compile work on a MiniLM-shaped program ---------------------------------
 * all-MiniLM-L6-v2's shapes (H 384, 12 heads, I 1536, 6 layers, vocab 30522)
 * with the fused kernel calls lowering produces, six buckets and ~90 MB of
 * (zero) weights. Nearly all of a compile is optimizing and emitting the task
 * wrappers, so what keeps it short is that identical layers share them: the
 * .so may hold no more wrappers than a one-layer model has calls (a count,
 * where a time limit would depend on the machine and its load). The outputs
 * are not checked here (the end-to-end tests do that). */

enum { ML_H = 384, ML_HEADS = 12, ML_I = 1536, ML_LAYERS = 6, ML_VOCAB = 30522, ML_POS = 512 };

typedef struct ml_layer_w {
  uint64_t qkv, qkv_b, o, o_b, ln1_g, ln1_b, f1, f1_b, f2, f2_b, ln2_g, ln2_b;
} ml_layer_w_t;

static uint64_t ml_alloc(uint64_t *top, uint64_t floats) {
  uint64_t at = *top;
  *top = base_align_up(at + floats * 4, 64);
  return at;
}

static void ml_gemm(cg_call_t *c, cg_arg_t x, uint64_t w, uint64_t bias, cg_arg_t residual,
                    int64_t gamma, int64_t beta, cg_arg_t out, int64_t m, int64_t n, int64_t k,
                    int64_t act) {
  int64_t mb, nb;
  bk_gemm_plan(m, n, k, gamma >= 0, 2, &mb, &nb);
  int64_t tasks = ((m + mb - 1) / mb) * ((n + nb - 1) / nb);
  cg_arg_t g = gamma >= 0 ? ptr_arg(CG_REGION_WEIGHTS, 0, gamma) : null_arg();
  cg_arg_t be = beta >= 0 ? ptr_arg(CG_REGION_WEIGHTS, 0, beta) : null_arg();
  SET_CALL(c, "bk_gemm", tasks, x, ptr_arg(CG_REGION_WEIGHTS, 0, (int64_t)w),
           ptr_arg(CG_REGION_WEIGHTS, 0, (int64_t)bias), residual, g, be, out, i64_arg(m),
           i64_arg(n), i64_arg(k), i64_arg(mb), i64_arg(nb), i64_arg(act), f32_arg(1e-12f));
}

static void test_minilm_shared_wrappers(void **state) {
  (void)state;
  static const int32_t shapes[][2] = {{1, 16}, {1, 32}, {1, 64}, {1, 128}, {1, 256}, {8, 128}};
  enum { NB = sizeof shapes / sizeof shapes[0], CALLS = 3 + 5 * ML_LAYERS };
  uint64_t top = 0;
  uint64_t word = ml_alloc(&top, (uint64_t)ML_VOCAB * ML_H);
  uint64_t pos = ml_alloc(&top, (uint64_t)ML_POS * ML_H);
  uint64_t type = ml_alloc(&top, 2 * ML_H);
  uint64_t emb_g = ml_alloc(&top, ML_H), emb_b = ml_alloc(&top, ML_H);
  ml_layer_w_t lw[ML_LAYERS];
  for (int l = 0; l < ML_LAYERS; l++) {
    lw[l].qkv = ml_alloc(&top, (uint64_t)bk_packed_floats(3 * ML_H, ML_H));
    lw[l].qkv_b = ml_alloc(&top, 3 * ML_H);
    lw[l].o = ml_alloc(&top, (uint64_t)bk_packed_floats(ML_H, ML_H));
    lw[l].o_b = ml_alloc(&top, ML_H);
    lw[l].ln1_g = ml_alloc(&top, ML_H), lw[l].ln1_b = ml_alloc(&top, ML_H);
    lw[l].f1 = ml_alloc(&top, (uint64_t)bk_packed_floats(ML_I, ML_H));
    lw[l].f1_b = ml_alloc(&top, ML_I);
    lw[l].f2 = ml_alloc(&top, (uint64_t)bk_packed_floats(ML_H, ML_I));
    lw[l].f2_b = ml_alloc(&top, ML_H);
    lw[l].ln2_g = ml_alloc(&top, ML_H), lw[l].ln2_b = ml_alloc(&top, ML_H);
  }
  uint8_t *weights = calloc(1, top);
  assert_non_null(weights);

  cg_bucket_t buckets[NB];
  static cg_call_t calls[NB][CALLS];
  for (int bi = 0; bi < NB; bi++) {
    int64_t B = shapes[bi][0], S = shapes[bi][1], M = B * S;
    uint64_t arena = 0;
    uint64_t hid = ml_alloc(&arena, (uint64_t)M * ML_H),
             hid2 = ml_alloc(&arena, (uint64_t)M * ML_H);
    uint64_t qkv = ml_alloc(&arena, (uint64_t)M * 3 * ML_H);
    uint64_t ctx = ml_alloc(&arena, (uint64_t)M * ML_H);
    uint64_t ffn = ml_alloc(&arena, (uint64_t)M * ML_I);
    uint64_t pooled = ml_alloc(&arena, (uint64_t)B * ML_H);
    cg_arg_t A = ptr_arg(CG_REGION_ARENA, 0, (int64_t)hid);
    cg_arg_t A2 = ptr_arg(CG_REGION_ARENA, 0, (int64_t)hid2);
    cg_call_t *c = calls[bi];
    int n = 0;
    SET_CALL(&c[n++], "bk_embed_ln", B, ptr_arg(CG_REGION_INPUT, 0, 0),
             ptr_arg(CG_REGION_INPUT, 1, 0), ptr_arg(CG_REGION_WEIGHTS, 0, (int64_t)word),
             ptr_arg(CG_REGION_WEIGHTS, 0, (int64_t)pos),
             ptr_arg(CG_REGION_WEIGHTS, 0, (int64_t)type),
             ptr_arg(CG_REGION_WEIGHTS, 0, (int64_t)emb_g),
             ptr_arg(CG_REGION_WEIGHTS, 0, (int64_t)emb_b), A, i64_arg(S), i64_arg(ML_H),
             i64_arg(ML_VOCAB), i64_arg(ML_POS), i64_arg(2), i64_arg(-1), f32_arg(1e-12f));
    int64_t rpt = S < 32 ? S : 32;
    for (int l = 0; l < ML_LAYERS; l++) {
      cg_arg_t Q = ptr_arg(CG_REGION_ARENA, 0, (int64_t)qkv);
      cg_arg_t C = ptr_arg(CG_REGION_ARENA, 0, (int64_t)ctx);
      cg_arg_t F = ptr_arg(CG_REGION_ARENA, 0, (int64_t)ffn);
      ml_gemm(&c[n++], A, lw[l].qkv, lw[l].qkv_b, null_arg(), -1, -1, Q, M, 3 * ML_H, ML_H, 0);
      SET_CALL(&c[n++], "bk_attention", B * ML_HEADS * ((S + rpt - 1) / rpt), Q,
               ptr_arg(CG_REGION_ARENA, 0, (int64_t)(qkv + ML_H * 4)),
               ptr_arg(CG_REGION_ARENA, 0, (int64_t)(qkv + 2 * ML_H * 4)),
               ptr_arg(CG_REGION_INPUT, 2, 0), C, i64_arg(S), i64_arg(ML_HEADS),
               i64_arg(ML_H / ML_HEADS), i64_arg(3 * ML_H), i64_arg(rpt), f32_arg(0.17677669f));
      ml_gemm(&c[n++], C, lw[l].o, lw[l].o_b, A, (int64_t)lw[l].ln1_g, (int64_t)lw[l].ln1_b, A2,
              M, ML_H, ML_H, 0);
      ml_gemm(&c[n++], A2, lw[l].f1, lw[l].f1_b, null_arg(), -1, -1, F, M, ML_I, ML_H, 1);
      ml_gemm(&c[n++], F, lw[l].f2, lw[l].f2_b, A2, (int64_t)lw[l].ln2_g, (int64_t)lw[l].ln2_b,
              A, M, ML_H, ML_I, 0);
    }
    SET_CALL(&c[n++], "bk_pool", B, A, ptr_arg(CG_REGION_INPUT, 2, 0),
             ptr_arg(CG_REGION_ARENA, 0, (int64_t)pooled), i64_arg(S), i64_arg(ML_H),
             i64_arg(0));
    SET_CALL(&c[n++], "bk_l2_normalize", 1, ptr_arg(CG_REGION_ARENA, 0, (int64_t)pooled),
             ptr_arg(CG_REGION_OUTPUT, 0, 0), i64_arg(B), i64_arg(B), i64_arg(ML_H));
    assert_int_equal(n, CALLS);
    buckets[bi] = (cg_bucket_t){.batch = (int32_t)B,
                                .seq = (int32_t)S,
                                .arena_bytes = arena,
                                .num_calls = CALLS,
                                .calls = c};
  }
  bertc_abi_tensor_t inputs[3] = {
      {"input_ids", BERTC_ABI_I32, 2, {BERTC_ABI_DIM_BATCH, BERTC_ABI_DIM_SEQ, 0, 0}},
      {"token_type_ids", BERTC_ABI_I32, 2, {BERTC_ABI_DIM_BATCH, BERTC_ABI_DIM_SEQ, 0, 0}},
      {"attention_mask", BERTC_ABI_I32, 2, {BERTC_ABI_DIM_BATCH, BERTC_ABI_DIM_SEQ, 0, 0}}};
  bertc_abi_tensor_t outputs[1] = {
      {"sentence_embedding", BERTC_ABI_F32, 2, {BERTC_ABI_DIM_BATCH, ML_H, 0, 0}}};
  cg_program_t p = {.model_name = "minilm_shaped",
                    .metadata_json = "{}",
                    .weights = weights,
                    .weights_size = top,
                    .num_buckets = NB,
                    .buckets = buckets,
                    .num_inputs = 3,
                    .num_outputs = 1,
                    .inputs = inputs,
                    .outputs = outputs};
  char *so = tu_scratch_path("codegen/minilm_shaped.so");
  cg_options_t o = test_options();
  print_message("    %d buckets x %d calls, %.1f MB of weights\n", NB, CALLS,
                (double)top / 1e6);
  TU_ASSERT_OK(cg_compile(&p, &o, so));
  /* Task wrappers are the .so's local symbols <model>_bk_<kernel>_<n>. */
  char *syms = run_stdout("nm '%s'", so);
  int wrappers = 0;
  for (const char *at = syms; (at = strstr(at, " minilm_shaped_bk_")) != NULL; at++) wrappers++;
  free(syms);
  print_message("    %d task wrappers for %d calls\n", wrappers, NB * CALLS);
  assert_true(wrappers > 0);
  assert_true(wrappers <= NB * (CALLS - 5 * (ML_LAYERS - 1)));

  void *handle;
  const bertc_model_descriptor_t *d = load(so, &handle);
  assert_int_equal(d->num_buckets, NB);
  assert_int_equal(d->weights_size, top);
  assert_int_equal(d->weights_hash, base_hash64(weights, top));
  dlclose(handle);
  unlink(so);
  free(so);
  free(weights);
}

/* Which kernel build a target gets: its feature list decides, the last
 * mention winning; without one, its CPU name. */
static void test_kernel_variant_choice(void **state) {
  (void)state;
  assert_true(cg_target_has_avx512("haswell", "+avx512f"));
  assert_false(cg_target_has_avx512("haswell", ""));
  assert_false(cg_target_has_avx512("x86-64-v3", "+avx,+avx2,+fma"));
  assert_true(cg_target_has_avx512("skylake-avx512", ""));
  assert_true(cg_target_has_avx512("x86-64-v4", ""));
  assert_true(cg_target_has_avx512("znver4", NULL));
  assert_false(cg_target_has_avx512("znver3", NULL));
  assert_false(cg_target_has_avx512("sapphirerapids", "+avx2,-avx512f"));
  assert_true(cg_target_has_avx512("x86-64", "-avx512f,+avx512f"));
  assert_false(cg_target_has_avx512("x86-64", "+avx512fp16"));
  char *cpu, *features;
  TU_ASSERT_OK(cg_resolve_target("native", NULL, &cpu, &features));
  print_message("    host %s: AVX-512 kernels %s\n", cpu,
                cg_target_has_avx512(cpu, features) ? "yes" : "no");
  assert_int_equal(cg_target_has_avx512(cpu, features), strstr(features, "+avx512f,") != NULL ||
                                                            (strlen(features) >= 8 &&
                                                             !strcmp(features + strlen(features) - 8, "+avx512f")));
  free(cpu);
  free(features);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_resolve_target),      cmocka_unit_test(test_so_runs),
      cmocka_unit_test(test_levels_and_targets),  cmocka_unit_test(test_deterministic),
      cmocka_unit_test(test_weights_external),    cmocka_unit_test(test_emit_kinds),
      cmocka_unit_test(test_bad_linker),          cmocka_unit_test(test_bad_calls),
      cmocka_unit_test(test_minilm_shared_wrappers), cmocka_unit_test(test_kernel_variant_choice),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
