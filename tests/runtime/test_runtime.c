/* The runtime against hand-written model .so files (fake_model.c): loading and
 * every refusal, external weights, bucket choice, padding and output slicing,
 * input validation, thread-count independence, no heap use while running, and
 * many threads sharing one model. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "tests/testutil.h"

#include "bertc/bertc.h"
#include "base/base.h"
#include "runtime/cpu_features.h"

/* ---------------------------------------------- heap calls, counted ----- */
/* The executable links with --wrap=malloc,... (CMakeLists.txt), so every
 * call from bertc's static libraries and this file lands here. */
void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void *__real_aligned_alloc(size_t align, size_t n);
int __real_posix_memalign(void **p, size_t align, size_t n);

static atomic_bool counting;
static atomic_long heap_calls;

static void count_call(void) {
  if (atomic_load(&counting)) atomic_fetch_add(&heap_calls, 1);
}
void *__wrap_malloc(size_t n) {
  count_call();
  return __real_malloc(n);
}
void *__wrap_calloc(size_t n, size_t size) {
  count_call();
  return __real_calloc(n, size);
}
void *__wrap_realloc(void *p, size_t n) {
  count_call();
  return __real_realloc(p, n);
}
void *__wrap_aligned_alloc(size_t align, size_t n) {
  count_call();
  return __real_aligned_alloc(align, n);
}
int __wrap_posix_memalign(void **p, size_t align, size_t n) {
  count_call();
  return __real_posix_memalign(p, align, n);
}

/* ------------------------------------------------------------ helpers --- */

#define HIDDEN 4
#define MAX_SEQS 8
#define MAX_LEN 8

static bertc_model_t *load_ok(const char *path) {
  bertc_model_t *m = NULL;
  TU_ASSERT_OK(bertc_model_load(path, NULL, &m));
  assert_non_null(m);
  return m;
}

static bertc_context_t *context_ok(bertc_model_t *m, int32_t threads) {
  bertc_context_options_t o;
  bertc_context_options_init(&o);
  o.num_threads = threads;
  bertc_context_t *c = NULL;
  TU_ASSERT_OK(bertc_context_create(m, &o, &c));
  assert_non_null(c);
  return c;
}

/* Loads `path` expecting failure; returns the message (caller frees). */
static char *load_error(const char *path, const bertc_model_load_options_t *opts,
                        bertc_status_code_t code) {
  bertc_model_t *m = (bertc_model_t *)1;
  bertc_status_t s = bertc_model_load(path, opts, &m);
  assert_null(m);
  if (!s) fail_msg("loading %s succeeded, expected an error", path);
  if (bertc_status_code(s) != code) {
    print_error("message: %s\n", bertc_status_message(s));
    fail_msg("code %s, expected %s", bertc_status_code_name(bertc_status_code(s)),
             bertc_status_code_name(code));
  }
  char *msg = strdup(bertc_status_message(s));
  bertc_status_free(s);
  return msg;
}

static void assert_contains(const char *s, const char *needle) {
  if (!strstr(s, needle)) fail_msg("'%s' lacks '%s'", s, needle);
}

/* A batch of sequences with their own storage. */
typedef struct run_case {
  int32_t count;
  int32_t lengths[MAX_SEQS];
  int32_t ids[MAX_SEQS][MAX_LEN], types[MAX_SEQS][MAX_LEN], mask[MAX_SEQS][MAX_LEN];
  const int32_t *id_rows[MAX_SEQS], *type_rows[MAX_SEQS], *mask_rows[MAX_SEQS];
  bool with_types, with_mask;
} run_case_t;

static void case_rows(run_case_t *c) {
  for (int i = 0; i < MAX_SEQS; i++) {
    c->id_rows[i] = c->ids[i];
    c->type_rows[i] = c->types[i];
    c->mask_rows[i] = c->mask[i];
  }
}

/* Sequences with lengths `lens`, ids derived from the position. */
static void case_make(run_case_t *c, int32_t count, const int32_t *lens, bool types, bool mask) {
  memset(c, 0, sizeof(*c));
  c->count = count;
  c->with_types = types;
  c->with_mask = mask;
  for (int i = 0; i < count; i++) {
    c->lengths[i] = lens[i];
    for (int j = 0; j < MAX_LEN; j++) {
      c->ids[i][j] = (7 * i + 3 * j + 1) % 90;
      c->types[i][j] = j >= lens[i] / 2;
      c->mask[i][j] = !(j == 2 && i % 2 == 1); /* a masked real token in odd rows */
    }
  }
  case_rows(c);
}

/* A pseudo-random case: 1-5 sequences of 1-8 tokens. */
static void case_random(run_case_t *c, uint32_t seed) {
  uint32_t x = seed * 2654435761u + 12345u;
#define NEXT() (x = x * 1664525u + 1013904223u, x >> 8)
  memset(c, 0, sizeof(*c));
  c->count = 1 + (int32_t)(NEXT() % 5);
  c->with_types = NEXT() % 2;
  c->with_mask = NEXT() % 3 == 0;
  for (int i = 0; i < c->count; i++) {
    c->lengths[i] = 1 + (int32_t)(NEXT() % MAX_LEN);
    for (int j = 0; j < MAX_LEN; j++) {
      c->ids[i][j] = (int32_t)(NEXT() % 99); /* 99 would make the entry fail */
      c->types[i][j] = (int32_t)(NEXT() % 2);
      c->mask[i][j] = j == 0 || NEXT() % 5 != 0;
    }
  }
#undef NEXT
  case_rows(c);
}

static bertc_run_input_t case_input(const run_case_t *c) {
  bertc_run_input_t in;
  bertc_run_input_init(&in);
  in.count = c->count;
  in.lengths = c->lengths;
  in.input_ids = c->id_rows;
  in.token_type_ids = c->with_types ? c->type_rows : NULL;
  in.attention_mask = c->with_mask ? c->mask_rows : NULL;
  return in;
}

static void run_ok(bertc_context_t *ctx, const run_case_t *c) {
  bertc_run_input_t in = case_input(c);
  TU_ASSERT_OK(bertc_context_run(ctx, &in));
}

static void view_ok(bertc_context_t *ctx, const char *name, bertc_tensor_view_t *v) {
  TU_ASSERT_OK(bertc_context_output_by_name(ctx, name, v));
  assert_string_equal(v->name, name);
  assert_non_null(v->data);
}

/* Checks all three outputs against the fake model's definition (fake_model.c). */
static void check_outputs(bertc_context_t *ctx, const run_case_t *c) {
  const float *w =
      (const float *)(const void *)bertc_model_descriptor(bertc_context_model(ctx))->weights;
  static const float ext_w[HIDDEN * HIDDEN] = {0.5f, 2.0f, -1.0f, 0.25f, 1.0f, -0.5f,
                                               0.0f, 3.0f, 0.0f, 1.5f, 2.0f, -2.0f,
                                               4.0f, 0.0f, 0.75f, 1.0f};
  if (!w) w = ext_w; /* the external-weights model: the same values */
  int32_t longest = 0;
  for (int i = 0; i < c->count; i++)
    if (c->lengths[i] > longest) longest = c->lengths[i];

  bertc_tensor_view_t h, p, f;
  view_ok(ctx, "last_hidden_state", &h);
  view_ok(ctx, "pooler_output", &p);
  view_ok(ctx, "token_flags", &f);
  assert_int_equal(h.dtype, BERTC_DTYPE_F32);
  assert_int_equal(h.rank, 3);
  assert_int_equal(h.dims[0], c->count);
  assert_int_equal(h.dims[1], longest);
  assert_int_equal(h.dims[2], HIDDEN);
  assert_int_equal(h.size_bytes, (uint64_t)c->count * longest * HIDDEN * 4);
  assert_int_equal(p.rank, 2);
  assert_int_equal(p.dims[0], c->count);
  assert_int_equal(p.dims[1], HIDDEN);
  assert_int_equal(f.dtype, BERTC_DTYPE_I32);
  assert_int_equal(f.rank, 3);
  assert_int_equal(f.dims[0], c->count);
  assert_int_equal(f.dims[1], 2);
  assert_int_equal(f.dims[2], longest);

  const float *hd = h.data, *pd = p.data;
  const int32_t *fd = f.data;
  for (int b = 0; b < c->count; b++) {
    int32_t len = c->lengths[b];
    int32_t ones = 0;
    for (int s = 0; s < len; s++) ones += c->with_mask ? c->mask[b][s] : 1;
    for (int s = 0; s < longest; s++) {
      const float *row = hd + ((size_t)b * longest + s) * HIDDEN;
      float want[HIDDEN] = {0, 0, 0, 0};
      int32_t id = 0, m = 0;
      if (s < len) {
        id = c->ids[b][s];
        m = c->with_mask ? c->mask[b][s] : 1;
        int32_t type = c->with_types ? c->types[b][s] : 0;
        if (m) {
          want[0] = (float)id;
          want[1] = (float)(100 * type + s);
          want[2] = (float)ones;
          want[3] = (float)id * w[1];
        } else {
          want[0] = want[1] = want[2] = want[3] = -1.0f;
        }
      }
      for (int k = 0; k < HIDDEN; k++)
        if (row[k] != want[k])
          fail_msg("last_hidden_state[%d,%d,%d] = %g, expected %g", b, s, k, row[k], want[k]);
      assert_int_equal(fd[((size_t)b * 2 + 0) * longest + s], id);
      assert_int_equal(fd[((size_t)b * 2 + 1) * longest + s], m);
    }
    const float *cls = hd + (size_t)b * longest * HIDDEN;
    for (int n = 0; n < HIDDEN; n++) {
      float want = 0;
      for (int k = 0; k < HIDDEN; k++) want += cls[k] * w[k * HIDDEN + n];
      assert_float_equal(pd[b * HIDDEN + n], want, 1e-4);
    }
  }
}

static void assert_run_error(bertc_context_t *ctx, const bertc_run_input_t *in,
                             const char *needle) {
  TU_ASSERT_ERROR(bertc_context_run(ctx, in), needle);
}

/* ----------------------------------------------------------- loading ---- */

static void test_load_good(void **state) {
  bertc_model_t *m = load_ok(FAKE_SO_GOOD);
  const bertc_model_descriptor_t *d = bertc_model_descriptor(m);
  assert_int_equal(d->magic, BERTC_ABI_MAGIC);
  assert_int_equal(d->abi_version, BERTC_ABI_VERSION);
  assert_int_equal(d->flags, BERTC_ABI_FLAG_NEEDS_SGEMM);
  assert_string_equal(d->model_name, "fake");
  assert_string_equal(bertc_model_path(m), FAKE_SO_GOOD);
  /* FAKE_WEIGHTS_HASH in fake_model.c must be base_hash64 of its weights. */
  assert_int_equal(base_hash64(d->weights, d->weights_size), d->weights_hash);

  uint32_t n = 0;
  const bertc_abi_bucket_t *b = bertc_model_buckets(m, &n);
  assert_int_equal(n, 2);
  assert_int_equal(b[0].batch, 1);
  assert_int_equal(b[0].seq, 4);
  assert_int_equal(b[1].batch, 2);
  assert_int_equal(b[1].seq, 8);
  assert_int_equal(bertc_model_max_batch(m), 2);
  assert_int_equal(bertc_model_max_seq(m), 8);
  const bertc_abi_tensor_t *t = bertc_model_inputs(m, &n);
  assert_int_equal(n, 3);
  assert_string_equal(t[0].name, "input_ids");
  assert_string_equal(t[1].name, "attention_mask");
  t = bertc_model_outputs(m, &n);
  assert_int_equal(n, 3);
  assert_string_equal(t[0].name, "last_hidden_state");
  assert_int_equal(t[0].dims[1], BERTC_ABI_DIM_SEQ);

  assert_int_equal(bertc_model_vocab_size(m), 100);
  assert_int_equal(bertc_model_type_vocab_size(m), 2);
  assert_non_null(strstr(bertc_model_metadata_json(m), "\"model_type\": \"fake\""));
  json_t *meta = json_loads(bertc_model_metadata_json(m), 0, NULL);
  assert_true(json_is_object(meta));
  assert_string_equal(json_string_value(json_array_get(json_object_get(meta, "labels"), 1)),
                      "pos");
  json_decref(meta);
  bertc_model_release(m);

  /* Only the query symbol is exported. */
  void *h = dlopen(FAKE_SO_GOOD, RTLD_NOW | RTLD_LOCAL);
  assert_non_null(h);
  assert_non_null(dlsym(h, "bertc_model_query"));
  assert_null(dlsym(h, "fake_run"));
  assert_null(dlsym(h, "fake_descriptor"));
  dlclose(h);
}

static void test_refuse_no_symbol(void **state) {
  char *msg = load_error(FAKE_SO_NOSYM, NULL, BERTC_STATUS_INCOMPATIBLE);
  assert_string_equal(msg, FAKE_SO_NOSYM ": not a bertc model: no symbol bertc_model_query");
  free(msg);
}

/* A model of another ABI version than this runtime's, older or newer, is
 * refused with both versions and the file named. */
static void test_refuse_abi_version(void **state) {
  static const struct {
    const char *so;
    unsigned version;
  } others[] = {{FAKE_SO_ABI1, 1}, {FAKE_SO_ABI99, 99}};
  assert_int_equal(BERTC_ABI_VERSION, 3);
  for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
    char want[1024];
    snprintf(want, sizeof want,
             "%s: model uses bertc ABI version %u, this runtime supports version %u; compile it "
             "with a matching bertc",
             others[i].so, others[i].version, BERTC_ABI_VERSION);
    char *msg = load_error(others[i].so, NULL, BERTC_STATUS_INCOMPATIBLE);
    assert_string_equal(msg, want);
    free(msg);
  }
  char *msg = load_error(FAKE_SO_ABI_NONE, NULL, BERTC_STATUS_INCOMPATIBLE);
  assert_contains(msg, FAKE_SO_ABI_NONE ": the model implements no bertc ABI version <= 3");
  free(msg);
}

/* Flags name what a model needs from its host: one this runtime does not
 * know is refused. */
static void test_refuse_unknown_flags(void **state) {
  char *msg = load_error(FAKE_SO_FLAGS, NULL, BERTC_STATUS_INCOMPATIBLE);
  assert_string_equal(msg, FAKE_SO_FLAGS ": descriptor flags 0x80000001 have bits this runtime "
                                         "does not know (it knows 0x1); compile it with a "
                                         "matching bertc");
  free(msg);
}

static void test_refuse_bad_magic(void **state) {
  char *msg = load_error(FAKE_SO_BAD_MAGIC, NULL, BERTC_STATUS_INCOMPATIBLE);
  assert_string_equal(msg, FAKE_SO_BAD_MAGIC ": not a bertc model: descriptor magic is "
                                             "0x4c4c554e, expected 0x43545242");
  free(msg);
}

static void test_refuse_missing_or_not_so(void **state) {
  char *msg = load_error("/nonexistent/model.so", NULL, BERTC_STATUS_NOT_FOUND);
  assert_string_equal(msg, "/nonexistent/model.so: no such file");
  free(msg);
  char *txt = tu_scratch_path("runtime/not_a_library.so");
  tu_write_file(txt, "hello", 5);
  msg = load_error(txt, NULL, BERTC_STATUS_IO);
  assert_contains(msg, ": cannot load: ");
  free(msg);
  free(txt);
}

static void test_refuse_cpu_features(void **state) {
  static const char *const wanted[] = {"avx2", "amx-tile", "amx-fp16", "avx512fp16"};
  char with[256] = "", lacks[256] = "";
  for (size_t i = 0; i < sizeof(wanted) / sizeof(wanted[0]); i++) {
    int has = rt_cpu_has_feature(wanted[i]);
    assert_int_not_equal(has, -1);
    if (has) continue;
    snprintf(with + strlen(with), sizeof with - strlen(with), "%s+%s", *with ? "," : "",
             wanted[i]);
    snprintf(lacks + strlen(lacks), sizeof lacks - strlen(lacks), "%s%s", *lacks ? ", " : "",
             wanted[i]);
  }
  if (!*lacks) skip(); /* a host with AMX-FP16 and AVX512-FP16 */
  char want[1024];
  snprintf(want, sizeof want,
           "%s: compiled for cpu 'graniterapids' with %s, this host lacks %s", FAKE_SO_FEATURES,
           with, lacks);
  char *msg = load_error(FAKE_SO_FEATURES, NULL, BERTC_STATUS_INCOMPATIBLE);
  assert_string_equal(msg, want);
  free(msg);

  /* inspect_only reads the descriptor anyway but cannot run. */
  bertc_model_load_options_t o;
  bertc_model_load_options_init(&o);
  o.inspect_only = true;
  bertc_model_t *m = NULL;
  TU_ASSERT_OK(bertc_model_load(FAKE_SO_FEATURES, &o, &m));
  assert_string_equal(bertc_model_descriptor(m)->target_cpu, "graniterapids");
  bertc_context_t *c = (bertc_context_t *)1;
  TU_ASSERT_ERROR(bertc_context_create(m, NULL, &c), "loaded with inspect_only");
  assert_null(c);
  bertc_model_release(m);
}

/* The CPUID table against the kernel's view in /proc/cpuinfo. */
static void test_cpu_features_match_cpuinfo(void **state) {
  static const char *const pairs[][2] = {
      {"sse2", "sse2"},         {"ssse3", "ssse3"},           {"sse4.1", "sse4_1"},
      {"sse4.2", "sse4_2"},     {"popcnt", "popcnt"},         {"movbe", "movbe"},
      {"avx", "avx"},           {"avx2", "avx2"},             {"fma", "fma"},
      {"f16c", "f16c"},         {"bmi", "bmi1"},              {"bmi2", "bmi2"},
      {"lzcnt", "abm"},         {"avx512f", "avx512f"},       {"avx512bw", "avx512bw"},
      {"avx512cd", "avx512cd"}, {"avx512dq", "avx512dq"},     {"avx512vl", "avx512vl"},
      {"avx512vnni", "avx512_vnni"},   {"avx512bf16", "avx512_bf16"},
      {"avx512ifma", "avx512ifma"},    {"avx512vbmi", "avx512vbmi"},
      {"avx512vbmi2", "avx512_vbmi2"}, {"avx512bitalg", "avx512_bitalg"},
      {"avx512vpopcntdq", "avx512_vpopcntdq"}, {"avx512fp16", "avx512_fp16"},
      {"avx512vp2intersect", "avx512_vp2intersect"}, {"avxvnni", "avx_vnni"},
      {"amx-tile", "amx_tile"}, {"amx-int8", "amx_int8"},     {"amx-bf16", "amx_bf16"},
      {"gfni", "gfni"},         {"vaes", "vaes"},             {"sha", "sha_ni"},
  };
  const char *preload = getenv("LD_PRELOAD");
  bool under_valgrind = preload && strstr(preload, "vgpreload");
  FILE *fp = fopen("/proc/cpuinfo", "r"); /* procfs sizes are 0: read by lines */
  if (!fp) skip();
  char *info = NULL;
  size_t cap = 0;
  while (getline(&info, &cap, fp) > 0 && strncmp(info, "flags", 5) != 0) {
  }
  fclose(fp);
  char *flags = info ? strchr(info, ':') : NULL;
  if (!flags || strncmp(info, "flags", 5) != 0) {
    free(info);
    skip();
  }
  char *eol = strchr(flags + 1, '\n');
  size_t n = eol ? (size_t)(eol - flags) : strlen(flags);
  char *line = malloc(n + 2); /* with a space after the last flag too */
  assert_non_null(line);
  memcpy(line, flags, n);
  line[n] = ' ';
  line[n + 1] = '\0';
  for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
    char needle[64];
    snprintf(needle, sizeof needle, " %s ", pairs[i][1]);
    int in_cpuinfo = strstr(line, needle) != NULL;
    int has = rt_cpu_has_feature(pairs[i][0]);
    /* Under valgrind CPUID shows its emulated CPU (no AVX-512), rightly less
     * than the kernel saw; bertc must still never claim more. */
    if (has != in_cpuinfo && (has || !under_valgrind))
      fail_msg("feature %s: cpuid says %d, /proc/cpuinfo says %d", pairs[i][0],
               has, in_cpuinfo);
  }
  free(line);
  free(info);

  assert_int_equal(rt_cpu_has_feature("prefer-256-bit"), -1);
  assert_null(rt_cpu_check_features("x86-64", NULL));
  assert_null(rt_cpu_check_features("x86-64", ""));
  assert_null(rt_cpu_check_features("x86-64", "+sse2, +frobnicate,-avx512er,+prefer-no-gather"));
  if (rt_cpu_has_feature("avx512er") == 0) { /* Knights Landing only */
    bertc_status_t s = rt_cpu_check_features("knl", "+sse2,+avx512er,+avx512pf");
    assert_string_equal(bertc_status_message(s),
                        "compiled for cpu 'knl' with +avx512er,+avx512pf, this host lacks "
                        "avx512er, avx512pf");
    bertc_status_free(s);
  }
}

/* ---------------------------------------------------- external weights -- */

/* A folder holding a copy of fake_external.so and, unless size is 0, a
 * weights file of `size` bytes taken from the good model's weights with byte
 * `flip` (if >= 0) inverted. Returns the .so path. */
static char *external_dir(const char *name, size_t size, int flip) {
  char rel[256];
  snprintf(rel, sizeof rel, "runtime/%s/fake_external.so", name);
  char *so = tu_scratch_path(rel);
  char *bytes = NULL;
  size_t n = 0;
  TU_ASSERT_OK(base_read_file(FAKE_SO_EXTERNAL, 1 << 26, &bytes, &n));
  tu_write_file(so, bytes, n);
  free(bytes);
  snprintf(rel, sizeof rel, "runtime/%s/fake_external.weights", name);
  char *wpath = tu_scratch_path(rel);
  remove(wpath);
  if (size) {
    bertc_model_t *good = load_ok(FAKE_SO_GOOD);
    uint8_t buf[256];
    const bertc_model_descriptor_t *d = bertc_model_descriptor(good);
    assert_true(size <= sizeof buf && d->weights_size <= sizeof buf);
    memset(buf, 0, sizeof buf);
    memcpy(buf, d->weights, d->weights_size);
    if (flip >= 0) buf[flip] ^= 0xFF;
    tu_write_file(wpath, buf, size);
    bertc_model_release(good);
  }
  free(wpath);
  return so;
}

static void test_external_weights(void **state) {
  char *so = external_dir("ext_ok", 64, -1);
  bertc_model_t *m = load_ok(so);
  assert_null(bertc_model_descriptor(m)->weights);
  bertc_context_t *c = context_ok(m, 1);
  run_case_t rc;
  case_make(&rc, 2, (const int32_t[]){5, 7}, true, false);
  run_ok(c, &rc);
  check_outputs(c, &rc); /* the pooler uses the mapped weights */
  bertc_context_release(c);
  bertc_model_release(m);

  /* An explicit weights path, the .so staying in the build tree. */
  char *wpath = tu_scratch_path("runtime/ext_ok/fake_external.weights");
  bertc_model_load_options_t o;
  bertc_model_load_options_init(&o);
  o.weights_path = wpath;
  TU_ASSERT_OK(bertc_model_load(FAKE_SO_EXTERNAL, &o, &m));
  bertc_model_release(m);
  /* ...which an embedded-weights model refuses. */
  char *msg = load_error(FAKE_SO_GOOD, &o, BERTC_STATUS_INVALID_ARGUMENT);
  assert_contains(msg, "but the model embeds its weights");
  free(msg);
  free(wpath);
  free(so);
}

static void test_external_weights_missing(void **state) {
  char *so = external_dir("ext_missing", 0, -1);
  char *msg = load_error(so, NULL, BERTC_STATUS_NOT_FOUND);
  char want[1024];
  snprintf(want, sizeof want, "%s: ", so);
  assert_true(strncmp(msg, want, strlen(want)) == 0);
  assert_contains(msg, "ext_missing/fake_external.weights: cannot open: No such file");
  free(msg);
  free(so);
}

static void test_external_weights_corrupt(void **state) {
  char *so = external_dir("ext_corrupt", 64, 17);
  char *msg = load_error(so, NULL, BERTC_STATUS_INCOMPATIBLE);
  assert_contains(msg, "ext_corrupt/fake_external.weights: weights hash ");
  assert_contains(msg, "does not match the model's 36cd6919539f67fd (the file is corrupt");
  free(msg);
  /* Without verification the (corrupt) file loads. */
  bertc_model_load_options_t o;
  bertc_model_load_options_init(&o);
  o.verify_weights = false;
  bertc_model_t *m = NULL;
  TU_ASSERT_OK(bertc_model_load(so, &o, &m));
  bertc_model_release(m);
  free(so);
}

static void test_external_weights_wrong_size(void **state) {
  char *so = external_dir("ext_size", 60, -1);
  char *msg = load_error(so, NULL, BERTC_STATUS_INCOMPATIBLE);
  assert_contains(msg, "ext_size/fake_external.weights: is 60 bytes, the model expects 64");
  free(msg);
  free(so);
  so = external_dir("ext_size_big", 128, -1);
  msg = load_error(so, NULL, BERTC_STATUS_INCOMPATIBLE);
  assert_contains(msg, "is 128 bytes, the model expects 64");
  free(msg);
  free(so);
}

/* --------------------------------------------------------------- runs --- */

static void test_bucket_choice(void **state) {
  bertc_model_t *m = load_ok(FAKE_SO_GOOD);
  bertc_context_t *c = context_ok(m, 1);
  bertc_run_info_t info;
  run_case_t rc;

  case_make(&rc, 1, (const int32_t[]){3}, false, false);
  run_ok(c, &rc);
  bertc_context_run_info(c, &info);
  assert_int_equal(info.num_calls, 1);
  assert_int_equal(info.last_batch, 1);
  assert_int_equal(info.last_seq, 4);
  assert_int_equal(info.padded_tokens, 4);
  assert_int_equal(info.real_tokens, 3);
  check_outputs(c, &rc);

  case_make(&rc, 1, (const int32_t[]){6}, false, false); /* too long for seq 4 */
  run_ok(c, &rc);
  bertc_context_run_info(c, &info);
  assert_int_equal(info.num_calls, 1);
  assert_int_equal(info.last_batch, 2);
  assert_int_equal(info.last_seq, 8);
  check_outputs(c, &rc);

  case_make(&rc, 2, (const int32_t[]){5, 7}, false, false);
  run_ok(c, &rc);
  bertc_context_run_info(c, &info);
  assert_int_equal(info.num_calls, 1);
  assert_int_equal(info.last_batch, 2);
  assert_int_equal(info.last_seq, 8);
  assert_int_equal(info.real_tokens, 12);
  check_outputs(c, &rc);

  /* Three sequences: (batch 2, seq 8) for two, then (batch 1, seq 4). */
  case_make(&rc, 3, (const int32_t[]){3, 3, 3}, false, false);
  run_ok(c, &rc);
  bertc_context_run_info(c, &info);
  assert_int_equal(info.num_calls, 2);
  assert_int_equal(info.padded_tokens, 16 + 4);
  assert_int_equal(info.last_batch, 1);
  assert_int_equal(info.last_seq, 4);
  check_outputs(c, &rc);

  /* Chunks of different buckets, outputs stitched at the run's longest. */
  case_make(&rc, 5, (const int32_t[]){1, 8, 3, 4, 2}, true, true);
  run_ok(c, &rc);
  bertc_context_run_info(c, &info);
  assert_int_equal(info.num_calls, 3);
  assert_int_equal(info.padded_tokens, 16 + 16 + 4);
  assert_int_equal(info.real_tokens, 18);
  check_outputs(c, &rc);

  bertc_context_release(c);
  bertc_model_release(m);
}

static void test_mixed_lengths_and_padding(void **state) {
  bertc_model_t *m = load_ok(FAKE_SO_GOOD);
  bertc_context_t *c = context_ok(m, 2);
  run_case_t rc;
  /* Types and a mask with a zero on a real token (odd rows, position 2). */
  case_make(&rc, 2, (const int32_t[]){7, 5}, true, true);
  run_ok(c, &rc);
  check_outputs(c, &rc);
  bertc_tensor_view_t h;
  view_ok(c, "last_hidden_state", &h);
  const float *hd = h.data;
  assert_float_equal(hd[(1 * 7 + 2) * HIDDEN + 0], -1.0f, 0); /* masked real token */
  assert_float_equal(hd[(1 * 7 + 5) * HIDDEN + 0], 0.0f, 0);  /* past sequence 1's end */
  assert_float_equal(hd[(0 * 7 + 6) * HIDDEN + 2], 7.0f, 0);  /* mask ones of row 0 */
  assert_float_equal(hd[(1 * 7 + 0) * HIDDEN + 2], 4.0f, 0);  /* 5 real, one masked */

  /* Another pad id leaves the real positions alone. */
  bertc_run_input_t in = case_input(&rc);
  in.pad_id = 42;
  TU_ASSERT_OK(bertc_context_run(c, &in));
  check_outputs(c, &rc);

  /* Output access by index matches by name; unknown outputs fail clearly. */
  bertc_tensor_view_t v;
  TU_ASSERT_OK(bertc_context_output(c, 1, &v));
  assert_string_equal(v.name, "pooler_output");
  TU_ASSERT_ERROR(bertc_context_output(c, 3, &v), "output 3 of 3 does not exist");
  assert_null(v.data);
  TU_ASSERT_ERROR(bertc_context_output_by_name(c, "logits", &v), "has no output 'logits'");
  bertc_context_release(c);
  bertc_model_release(m);
}

static void test_invalid_inputs(void **state) {
  bertc_model_t *m = load_ok(FAKE_SO_GOOD);
  bertc_context_options_t o;
  bertc_context_options_init(&o);
  o.max_batch = 4;
  o.num_threads = 1;
  bertc_context_t *c = NULL;
  TU_ASSERT_OK(bertc_context_create(m, &o, &c));
  assert_int_equal(bertc_context_max_batch(c), 4);
  run_case_t rc;
  case_make(&rc, 3, (const int32_t[]){3, 5, 2}, true, true);
  bertc_run_input_t in = case_input(&rc);

  rc.ids[1][2] = 100;
  assert_run_error(c, &in,
                   "sequence 1, position 2: input id 100 is outside the vocabulary [0, 100)");
  rc.ids[1][2] = -3;
  assert_run_error(c, &in, "sequence 1, position 2: input id -3 is outside the vocabulary");
  rc.ids[1][2] = 5;
  rc.types[2][1] = 2;
  assert_run_error(c, &in, "sequence 2, position 1: token type id 2 is outside [0, 2)");
  rc.types[2][1] = 0;
  rc.mask[0][0] = 3;
  assert_run_error(c, &in, "sequence 0, position 0: attention mask 3 is not 0 or 1");
  rc.mask[0][0] = 1;
  /* Values past a sequence's length are never read. */
  rc.ids[2][5] = 1000;
  TU_ASSERT_OK(bertc_context_run(c, &in));
  check_outputs(c, &rc);

  rc.lengths[1] = 9;
  assert_run_error(c, &in,
                   "sequence 1 has 9 tokens, more than the longest bucket of model 'fake' (seq 8)");
  rc.lengths[1] = 0;
  assert_run_error(c, &in, "sequence 1 has length 0");
  rc.lengths[1] = 5;
  in.pad_id = 100;
  assert_run_error(c, &in, "pad id 100 is outside the vocabulary");
  in.pad_id = 0;
  in.count = 0;
  assert_run_error(c, &in, "a run takes 1 to 4 sequences (the context's max_batch), got 0");
  in.count = 5;
  assert_run_error(c, &in, "got 5");
  in.count = 3;

  /* A failing entry (id 99) is reported and leaves no outputs behind. */
  rc.ids[0][1] = 99;
  assert_run_error(c, &in, "the entry of bucket (batch 2, seq 8) returned status 7");
  bertc_tensor_view_t v;
  TU_ASSERT_ERROR(bertc_context_output(c, 0, &v), "no successful run yet");
  bertc_run_info_t info;
  bertc_context_run_info(c, &info);
  assert_int_equal(info.num_calls, 0);
  bertc_context_release(c);
  bertc_model_release(m);
}

static void test_threads_identical(void **state) {
  bertc_model_t *m = load_ok(FAKE_SO_GOOD);
  bertc_context_t *c1 = context_ok(m, 1), *c2 = context_ok(m, 2), *c0 = context_ok(m, 0);
  assert_int_equal(bertc_context_num_threads(c1), 1);
  assert_int_equal(bertc_context_num_threads(c2), 2);
  assert_true(bertc_context_num_threads(c0) >= 1);
  bertc_context_release(c0);
  /* The contexts keep the model alive. */
  bertc_model_release(m);
  for (uint32_t seed = 0; seed < 40; seed++) {
    run_case_t rc;
    case_random(&rc, seed);
    run_ok(c1, &rc);
    run_ok(c2, &rc);
    check_outputs(c1, &rc);
    for (uint32_t i = 0; i < 3; i++) {
      bertc_tensor_view_t a, b;
      TU_ASSERT_OK(bertc_context_output(c1, i, &a));
      TU_ASSERT_OK(bertc_context_output(c2, i, &b));
      assert_int_equal(a.size_bytes, b.size_bytes);
      assert_memory_equal(a.data, b.data, a.size_bytes);
    }
  }
  bertc_context_release(c1);
  bertc_context_release(c2);
}

static void test_run_allocates_nothing(void **state) {
  bertc_model_t *m = load_ok(FAKE_SO_GOOD);
  bertc_context_t *c = context_ok(m, 2);
  run_case_t cases[16];
  for (uint32_t i = 0; i < 16; i++) case_random(&cases[i], 100 + i);
  run_ok(c, &cases[0]); /* warm up: OpenMP, OpenBLAS */

  /* The counter sees this file's calls... */
  atomic_store(&heap_calls, 0);
  atomic_store(&counting, true);
  void *volatile p = malloc(16); /* volatile: the pair may not be elided */
  free(p);
  atomic_store(&counting, false);
  assert_int_equal(atomic_load(&heap_calls), 1);

  /* ...and none from the runs (status objects are only made on errors). */
  atomic_store(&heap_calls, 0);
  atomic_store(&counting, true);
  bertc_status_t s = BERTC_OK;
  for (int rep = 0; rep < 4 && !s; rep++)
    for (uint32_t i = 0; i < 16 && !s; i++) {
      bertc_run_input_t in = case_input(&cases[i]);
      s = bertc_context_run(c, &in);
    }
  bertc_tensor_view_t v;
  if (!s) s = bertc_context_output_by_name(c, "pooler_output", &v);
  atomic_store(&counting, false);
  TU_ASSERT_OK(s);
  assert_int_equal(atomic_load(&heap_calls), 0);
  bertc_context_release(c);
  bertc_model_release(m);
}

/* ------------------------------------------------- threads, one model --- */

#define MT_CASES 16
#define MT_THREADS 4
#define MT_RUNS 500

typedef struct mt_reference {
  run_case_t cases[MT_CASES];
  void *out[MT_CASES][3];
  uint64_t size[MT_CASES][3];
} mt_reference_t;

typedef struct mt_worker {
  bertc_model_t *model;
  const mt_reference_t *ref;
  int index;
  int failures;
  char error[256];
} mt_worker_t;

static void *mt_worker_main(void *arg) {
  mt_worker_t *w = arg;
  bertc_context_options_t o;
  bertc_context_options_init(&o);
  o.num_threads = 2;
  bertc_context_t *c = NULL;
  bertc_status_t s = bertc_context_create(w->model, &o, &c);
  for (int r = 0; r < MT_RUNS && !s; r++) {
    int k = (w->index * 7 + r * 5 + r / MT_CASES) % MT_CASES;
    bertc_run_input_t in = case_input(&w->ref->cases[k]);
    s = bertc_context_run(c, &in);
    for (uint32_t i = 0; i < 3 && !s; i++) {
      bertc_tensor_view_t v;
      s = bertc_context_output(c, i, &v);
      if (!s && (v.size_bytes != w->ref->size[k][i] ||
                 memcmp(v.data, w->ref->out[k][i], v.size_bytes) != 0)) {
        if (!w->failures++)
          snprintf(w->error, sizeof w->error, "thread %d run %d case %d: output %s differs",
                   w->index, r, k, v.name);
      }
    }
  }
  if (s) {
    snprintf(w->error, sizeof w->error, "thread %d: %s", w->index, bertc_status_message(s));
    w->failures++;
    bertc_status_free(s);
  }
  bertc_context_release(c);
  return NULL;
}

static void test_threads_share_model(void **state) {
  bertc_model_t *m = load_ok(FAKE_SO_GOOD);
  mt_reference_t *ref = calloc(1, sizeof(*ref));
  assert_non_null(ref);
  bertc_context_t *c = context_ok(m, 1);
  for (int k = 0; k < MT_CASES; k++) {
    case_random(&ref->cases[k], 1000 + (uint32_t)k);
    run_ok(c, &ref->cases[k]);
    check_outputs(c, &ref->cases[k]);
    for (uint32_t i = 0; i < 3; i++) {
      bertc_tensor_view_t v;
      TU_ASSERT_OK(bertc_context_output(c, i, &v));
      ref->out[k][i] = malloc(v.size_bytes);
      memcpy(ref->out[k][i], v.data, v.size_bytes);
      ref->size[k][i] = v.size_bytes;
    }
  }
  bertc_context_release(c);

  pthread_t threads[MT_THREADS];
  mt_worker_t workers[MT_THREADS];
  for (int t = 0; t < MT_THREADS; t++) {
    workers[t] = (mt_worker_t){.model = m, .ref = ref, .index = t};
    assert_int_equal(pthread_create(&threads[t], NULL, mt_worker_main, &workers[t]), 0);
  }
  int failures = 0;
  for (int t = 0; t < MT_THREADS; t++) {
    pthread_join(threads[t], NULL);
    if (workers[t].failures) print_error("%s\n", workers[t].error);
    failures += workers[t].failures;
  }
  for (int k = 0; k < MT_CASES; k++)
    for (int i = 0; i < 3; i++) free(ref->out[k][i]);
  free(ref);
  bertc_model_release(m);
  assert_int_equal(failures, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_load_good),
      cmocka_unit_test(test_refuse_no_symbol),
      cmocka_unit_test(test_refuse_abi_version),
      cmocka_unit_test(test_refuse_unknown_flags),
      cmocka_unit_test(test_refuse_bad_magic),
      cmocka_unit_test(test_refuse_missing_or_not_so),
      cmocka_unit_test(test_refuse_cpu_features),
      cmocka_unit_test(test_cpu_features_match_cpuinfo),
      cmocka_unit_test(test_external_weights),
      cmocka_unit_test(test_external_weights_missing),
      cmocka_unit_test(test_external_weights_corrupt),
      cmocka_unit_test(test_external_weights_wrong_size),
      cmocka_unit_test(test_bucket_choice),
      cmocka_unit_test(test_mixed_lengths_and_padding),
      cmocka_unit_test(test_invalid_inputs),
      cmocka_unit_test(test_threads_identical),
      cmocka_unit_test(test_run_allocates_nothing),
      cmocka_unit_test(test_threads_share_model),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
