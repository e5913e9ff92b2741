/* Packed runs: the packing plan (runtime/pack.c), a context running token
 * buckets (outputs equal to the padded path's within 1e-5, run info, the
 * packing option, no heap calls), `bertc run --input` (order, --stats, a bad
 * line), and the token bucket options of the compiler and model.json. Every
 * architecture and task is checked against its sequences run alone in
 * backend_test_e2e_compiled; this test compiles one tiny model (st_mean:
 * mean pooling, normalized) with the default token buckets and once more
 * without any. */
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bertc/bertc.h"
#include "bertc/compiler.h"
#include "runtime/pack.h"
#include "tests/fixture.h"
#include "tests/testutil.h"

/* ---------------------------------------------- heap calls, counted ----- */
/* Linked with --wrap=malloc,... (tests/runtime/CMakeLists.txt). */
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

/* ------------------------------------------------------------- the plan --- */

static void expect_bin(const rt_packer_t *p, int32_t b, const int32_t *want, int32_t n,
                       int32_t load) {
  assert_int_equal(p->bin_start[b + 1] - p->bin_start[b], n);
  for (int32_t j = 0; j < n; j++) assert_int_equal(p->members[p->bin_start[b] + j], want[j]);
  assert_int_equal(p->bin_load[b], load);
}

static void test_pack_plan(void **state) {
  (void)state;
  rt_packer_t p;
  TU_ASSERT_OK(rt_packer_init(&p, 16, 10));
  /* longest first (ties in input order), each into the first bin with room */
  const int32_t lens[] = {5, 9, 3, 9, 1};
  assert_int_equal(rt_pack(&p, lens, 5, 10, 4), 3);
  expect_bin(&p, 0, (const int32_t[]){1, 4}, 2, 10);
  expect_bin(&p, 1, (const int32_t[]){3}, 1, 9);
  expect_bin(&p, 2, (const int32_t[]){0, 2}, 2, 8);
  /* the sequence limit of a bin */
  const int32_t ones[10] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
  assert_int_equal(rt_pack(&p, ones, 10, 10, 4), 3);
  expect_bin(&p, 2, (const int32_t[]){8, 9}, 2, 2);
  /* a sequence longer than a bin: no plan */
  assert_int_equal(rt_pack(&p, lens, 5, 8, 4), 0);
  /* random plans: every sequence exactly once, within the bins' limits */
  uint64_t x = 88172645463325252ull;
  int32_t rl[16];
  for (int round = 0; round < 200; round++) {
    int32_t n = 1 + round % 16;
    for (int32_t i = 0; i < n; i++) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      rl[i] = 1 + (int32_t)(x % 10);
    }
    int32_t bins = rt_pack(&p, rl, n, 10, 3), seen[16] = {0};
    assert_true(bins >= 1 && bins <= n);
    for (int32_t b = 0; b < bins; b++) {
      int32_t load = 0, count = p.bin_start[b + 1] - p.bin_start[b];
      assert_true(count >= 1 && count <= 3);
      for (int32_t j = p.bin_start[b]; j < p.bin_start[b + 1]; j++) {
        seen[p.members[j]]++;
        load += rl[p.members[j]];
        if (j > p.bin_start[b]) assert_true(rl[p.members[j - 1]] >= rl[p.members[j]]);
      }
      assert_int_equal(load, p.bin_load[b]);
      assert_true(load <= 10);
    }
    for (int32_t i = 0; i < n; i++) assert_int_equal(seen[i], 1);
  }
  rt_packer_deinit(&p);
  const bertc_abi_bucket_t buckets[] = {{.batch = 16, .seq = 32}, {.batch = 64, .seq = 128}};
  assert_ptr_equal(rt_pack_bucket(buckets, 2, 32, 16), &buckets[0]);
  assert_ptr_equal(rt_pack_bucket(buckets, 2, 20, 17), &buckets[1]);
  assert_ptr_equal(rt_pack_bucket(buckets, 2, 129, 1), NULL);
}

/* ---------------------------------------------------------- a context --- */

static char *compile_st_mean(const char *file, const int64_t *tokens, size_t num_tokens) {
  char *dir = fx_dir("st_mean");
  char *so = tu_scratch_path(file);
  bertc_compile_options_t o;
  bertc_compile_options_init(&o);
  o.output_path = so;
  o.seq_lens = (const int64_t[]){16, 32};
  o.num_seq_lens = 2;
  o.token_buckets = tokens;
  o.num_token_buckets = num_tokens;
  o.quiet = true;
  TU_ASSERT_OK(bertc_compile(dir, &o));
  free(dir);
  return so;
}

#define RUN_SEQS 24

typedef struct run_case {
  int32_t lens[RUN_SEQS];
  int32_t ids[RUN_SEQS][32], types[RUN_SEQS][32], mask[RUN_SEQS][32];
  const int32_t *id_rows[RUN_SEQS], *type_rows[RUN_SEQS], *mask_rows[RUN_SEQS];
} run_case_t;

static bertc_run_input_t make_case(run_case_t *c, int32_t count, uint64_t seed) {
  for (int32_t b = 0; b < count; b++) {
    seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
    c->lens[b] = 1 + (int32_t)(seed % 32);
    for (int32_t t = 0; t < c->lens[b]; t++) {
      c->ids[b][t] = 3 + (int32_t)(((seed >> 8) + 31u * (uint64_t)t) % 900);
      c->types[b][t] = t >= c->lens[b] / 2;
      c->mask[b][t] = t == 0 || (t * 7 + b) % 11 != 3; /* a few holes */
    }
    c->id_rows[b] = c->ids[b];
    c->type_rows[b] = c->types[b];
    c->mask_rows[b] = c->mask[b];
  }
  bertc_run_input_t in;
  bertc_run_input_init(&in);
  in.count = count;
  in.lengths = c->lens;
  in.input_ids = c->id_rows;
  in.token_type_ids = c->type_rows;
  in.attention_mask = c->mask_rows;
  return in;
}

static bertc_context_t *context_with(bertc_model_t *m, bertc_packing_t packing) {
  bertc_context_options_t o;
  bertc_context_options_init(&o);
  o.num_threads = 2;
  o.packing = packing;
  bertc_context_t *c = NULL;
  TU_ASSERT_OK(bertc_context_create(m, &o, &c));
  return c;
}

/* st_mean with the default buckets and token buckets, for the tests below. */
static int setup(void **state) {
  *state = compile_st_mean("pack/st_mean.so", NULL, 0);
  return 0;
}

static int teardown(void **state) {
  unlink(*state);
  free(*state);
  return 0;
}

static void test_packed_context(void **state) {
  const char *so = *state;
  bertc_model_t *m = NULL;
  TU_ASSERT_OK(bertc_model_load(so, NULL, &m));
  uint32_t n = 0;
  const bertc_abi_bucket_t *tb = bertc_model_token_buckets(m, &n);
  assert_int_equal(n, 2);
  assert_int_equal(tb[0].seq, 32);
  assert_int_equal(tb[0].batch, 16);
  assert_int_equal(tb[1].seq, 128);
  bertc_context_t *packed = context_with(m, BERTC_PACKING_AUTO);
  bertc_context_t *padded = context_with(m, BERTC_PACKING_NEVER);
  bertc_context_t *always = context_with(m, BERTC_PACKING_ALWAYS);
  run_case_t *rc = calloc(1, sizeof *rc);
  for (int32_t round = 0; round < 6; round++) {
    int32_t count = round == 0 ? 2 : 4 * round;
    bertc_run_input_t in = make_case(rc, count, 0x9E3779B97F4A7C15ull + (uint64_t)round);
    TU_ASSERT_OK(bertc_context_run(padded, &in));
    TU_ASSERT_OK(bertc_context_run(packed, &in));
    bertc_run_info_t pi, qi;
    bertc_context_run_info(padded, &qi);
    bertc_context_run_info(packed, &pi);
    uint64_t real = 0;
    for (int32_t b = 0; b < count; b++) real += (uint64_t)rc->lens[b];
    assert_int_equal(qi.packed_calls, 0);
    assert_int_equal(pi.real_tokens, real);
    assert_true(pi.padded_tokens <= qi.padded_tokens); /* packed only when it computes less */
    if (count >= 8) assert_true(pi.packed_calls >= 1 && pi.packed_calls == pi.num_calls);
    bertc_tensor_view_t a, b;
    TU_ASSERT_OK(bertc_context_output_by_name(padded, "sentence_embedding", &a));
    TU_ASSERT_OK(bertc_context_output_by_name(packed, "sentence_embedding", &b));
    assert_int_equal(a.size_bytes, b.size_bytes);
    assert_int_equal(a.dims[0], count);
    for (uint64_t i = 0; i < a.size_bytes / 4; i++) {
      float x = ((const float *)a.data)[i], y = ((const float *)b.data)[i];
      if (!(fabsf(x - y) <= 1e-5f))
        fail_msg("%d sequences: element %llu is %g packed, %g padded", count,
                 (unsigned long long)i, (double)y, (double)x);
    }
  }
  /* ALWAYS packs one sequence too, in the smallest token bucket */
  bertc_run_input_t one = make_case(rc, 1, 7);
  TU_ASSERT_OK(bertc_context_run(always, &one));
  bertc_run_info_t info;
  bertc_context_run_info(always, &info);
  assert_int_equal(info.packed_calls, 1);
  assert_int_equal(info.last_seq, 32);

  /* no heap calls on the packed path */
  bertc_run_input_t in = make_case(rc, RUN_SEQS, 99);
  TU_ASSERT_OK(bertc_context_run(packed, &in)); /* warm up */
  atomic_store(&heap_calls, 0);
  atomic_store(&counting, true);
  bertc_status_t s = BERTC_OK;
  for (int rep = 0; rep < 4 && !s; rep++) s = bertc_context_run(packed, &in);
  atomic_store(&counting, false);
  TU_ASSERT_OK(s);
  bertc_context_run_info(packed, &info);
  assert_true(info.packed_calls >= 1);
  assert_int_equal(atomic_load(&heap_calls), 0);

  bertc_context_options_t bad;
  bertc_context_options_init(&bad);
  bad.packing = (bertc_packing_t)7;
  bertc_context_t *none = NULL;
  TU_ASSERT_ERROR(bertc_context_create(m, &bad, &none), "packing 7");
  free(rc);
  bertc_context_release(packed);
  bertc_context_release(padded);
  bertc_context_release(always);
  bertc_model_release(m);
}

/* bertc run --input: every line answered in order, the same packed or not,
 * totals on stderr with --stats, and a bad line reported after the answers
 * to the lines before it. */
static void test_corpus_cli(void **state) {
  const char *so = *state;
  char *input = tu_scratch_path("pack/corpus.jsonl");
  FILE *f = fopen(input, "w");
  assert_non_null(f);
  static const char *const words[] = {"the", "quick", "brown", "fox", "packs", "many", "texts"};
  for (int i = 0; i < 700; i++) {
    fputs("{\"text\": \"", f);
    for (int w = 0; w <= (i * 7) % 23; w++) fprintf(f, "%s%s", w ? " " : "", words[(i + w) % 7]);
    fputs(i % 97 == 5 ? "\"}\n\n" : "\"}\n", f); /* blank lines are skipped */
  }
  fclose(f);
  const char *exe = getenv("BERTC_EXE");
  assert_non_null(exe);
  char cmd[4096];
  char *packed = NULL, *padded = NULL, *err = NULL;
  snprintf(cmd, sizeof cmd, "'%s' run '%s' --input '%s' --stats --batch-tokens 300", exe, so,
           input);
  assert_int_equal(tu_run(cmd, &packed, &err), 0);
  if (!strstr(err, "{\"texts\": 700, ") || !strstr(err, "\"computed_tokens\": "))
    fail_msg("--stats printed: %s", err);
  free(err);
  snprintf(cmd, sizeof cmd, "'%s' run '%s' --input '%s' --packing never", exe, so, input);
  assert_int_equal(tu_run(cmd, &padded, NULL), 0);
  size_t lines = 0;
  for (const char *p = packed; *p; p++) lines += *p == '\n';
  assert_int_equal(lines, 700);
  /* the same answers in the same order (9 significant digits each) */
  const char *a = packed, *b = padded;
  for (size_t i = 0; i < 700; i++) {
    const char *ea = strchr(a, '\n'), *eb = strchr(b, '\n');
    assert_non_null(ea);
    assert_non_null(eb);
    char *end;
    const char *pa = strchr(a, '['), *pb = strchr(b, '[');
    for (pa++, pb++; pa < ea && pb < eb; pa = end + 1) {
      double x = strtod(pa, &end), y = strtod(pb, (char **)&pb);
      pb++;
      if (!(fabs(x - y) <= 1e-5)) fail_msg("line %zu: %g packed, %g padded", i + 1, x, y);
    }
    a = ea + 1, b = eb + 1;
  }
  free(packed);
  free(padded);
  /* a bad line: the answers before it, then its error */
  f = fopen(input, "a");
  fputs("{\"text\": 5}\n{\"text\": \"after\"}\n", f);
  fclose(f);
  snprintf(cmd, sizeof cmd, "'%s' run '%s' --input '%s'", exe, so, input);
  char *out = NULL;
  assert_int_equal(tu_run(cmd, &out, &err), 1);
  lines = 0;
  for (const char *p = out; *p; p++) lines += *p == '\n';
  assert_int_equal(lines, 700);
  if (!strstr(err, "corpus.jsonl:709: expected a string \"text\""))
    fail_msg("the error names the file and line: %s", err);
  free(out);
  free(err);
  unlink(input);
  free(input);
}

/* ------------------------------------------------------------- options --- */

static void test_token_bucket_options(void **state) {
  (void)state;
  char *dir = fx_dir("st_mean");
  char *so = tu_scratch_path("pack/options.so");
  bertc_compile_options_t o;
  bertc_compile_options_init(&o);
  o.output_path = so;
  o.seq_lens = (const int64_t[]){32};
  o.num_seq_lens = 1;
  o.quiet = true;
  o.token_buckets = (const int64_t[]){40};
  o.num_token_buckets = 1;
  TU_ASSERT_ERROR(bertc_compile(dir, &o), "token bucket 40 is not a multiple of 16");
  o.token_buckets = (const int64_t[]){16, 64};
  o.num_token_buckets = 2;
  TU_ASSERT_ERROR(bertc_compile(dir, &o),
                  "token bucket 16 cannot hold a sequence of the longest sequence bucket (32)");
  o.token_buckets = (const int64_t[]){0};
  o.num_token_buckets = 1;
  TU_ASSERT_ERROR(bertc_compile(dir, &o), "token_buckets: 0 is out of range");
  /* a model.json without token buckets ([]) */
  char *json_path = tu_scratch_path("pack/model.json");
  char json[1024];
  int len = snprintf(json, sizeof json,
                     "{\"checkpoint\": \"%s\", \"seq_lens\": [32], \"token_buckets\": []}", dir);
  tu_write_file(json_path, json, (size_t)len);
  o.token_buckets = NULL;
  o.num_token_buckets = 0;
  TU_ASSERT_OK(bertc_compile(json_path, &o));
  bertc_model_t *m = NULL;
  TU_ASSERT_OK(bertc_model_load(so, NULL, &m));
  uint32_t n = 7;
  assert_null(bertc_model_token_buckets(m, &n));
  assert_int_equal(n, 0);
  bertc_model_release(m);
  len = snprintf(json, sizeof json,
                 "{\"checkpoint\": \"%s\", \"seq_lens\": [32], \"token_buckets\": [48]}", dir);
  tu_write_file(json_path, json, (size_t)len);
  o.emit = BERTC_EMIT_HEADER; /* the table, without generating code */
  TU_ASSERT_OK(bertc_compile(json_path, &o));
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "grep -c '_TOKEN_BUCKET_T48 0 /\\* N = 24;' '%s'", so);
  char *out = NULL;
  assert_int_equal(tu_run(cmd, &out, NULL), 0);
  free(out);
  unlink(so);
  unlink(json_path);
  free(json_path);
  free(so);
  free(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_pack_plan),
      cmocka_unit_test(test_packed_context),
      cmocka_unit_test(test_corpus_cli),
      cmocka_unit_test(test_token_bucket_options),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
