/* Compiled models against the interpreter and HuggingFace.
 *
 * Every tiny fixture is compiled with buckets batch {1,3} x seq {1,13,16}
 * (seq 1 and a length that is not a multiple of 16 included) through the
 * default pass pipeline, then:
 *  - at every bucket, on inputs of exactly that shape, each output equals the
 *    reference interpreter on the unoptimized graph within 1e-5;
 *  - the fixture's padded HF batch (3 sequences, real lengths, run through
 *    the runtime's bucket choice and padding) equals transformers within 1e-4;
 *  - seven sequences of mixed lengths (1..16, 48 tokens) run packed in the
 *    token bucket of 48 tokens equal each sequence run alone within 1e-5.
 * The other kernel paths get the same checks on a spread of fixtures: AVX2
 * code (--target-cpu haswell), linear layers on the host BLAS (--gemm blas),
 * task splits planned for 1 and for 4 threads (which fuse the LayerNorm
 * into the GEMM, or split it out, differently), and, on CPUs with AMX-BF16,
 * linear layers on AMX tiles (--gemm amx, with a 16 x 16 bucket that uses
 * them).
 * all-MiniLM-L6-v2 compiled equals sentence-transformers within 1e-4, and
 * gives bitwise-identical results with 1 and 2 threads. Compiling twice gives
 * identical bytes. A CBLAS library is loaded only for models that call it. */
#define _GNU_SOURCE /* RTLD_NOLOAD, setenv */
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/driver.h"
#include "bertc/bertc.h"
#include "runtime/cpu_features.h"
#include "tests/fixture.h"
#include "tests/testutil.h"

static const int64_t kSeqs[] = {1, 13, 16};
static const int64_t kBatches[] = {1, 3};
/* One token bucket: the GEMMs of 48 rows are batch 3 x seq 16's already. */
static const int64_t kTokens[] = {48};
static const int32_t kPackedLens[] = {16, 1, 9, 5, 13, 2, 2};

/* A kernel path other than the default (test_kernel_paths). */
typedef struct {
  const char *name;
  const char *target_cpu; /* NULL: native */
  int gemm;               /* -1: the model's (bertc), else an fe_gemm_t */
  int plan_threads;       /* 0: the default */
  int64_t big_batch;      /* 0, or one more batch bucket (checked at seq 16 only) */
} variant_t;

static void compile_variant(const char *model, const char *out, const char *passes,
                            const variant_t *v) {
  driver_options_t d;
  driver_options_init(&d);
  d.passes = passes;
  if (v) {
    d.codegen.target_cpu = v->target_cpu;
    d.gemm = v->gemm;
    if (v->plan_threads) d.lower.threads = d.pass.threads = v->plan_threads;
  }
  int64_t batches[3] = {kBatches[0], kBatches[1], v ? v->big_batch : 0};
  d.quiet = true;
  d.seq_lens = kSeqs;
  d.num_seq_lens = 3;
  d.batch_sizes = batches;
  d.num_batch_sizes = batches[2] ? 3 : 2;
  d.token_buckets = kTokens;
  d.num_token_buckets = 1;
  d.pass.verify_each = true;
  TU_ASSERT_OK(driver_compile(model, &d, out));
}

static void compile_to(const char *model, const char *out, const char *passes) {
  compile_variant(model, out, passes, NULL);
}

static uint64_t rng(uint64_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

/* Runs the compiled model and the interpreter on the same full-length inputs. */
static void check_bucket(const char *name, fe_model_t *m, bertc_context_t *ctx, int64_t batch,
                         int64_t seq, uint64_t *seed) {
  size_t cells = (size_t)(batch * seq);
  int32_t *ids = malloc(cells * 4), *types = calloc(cells, 4), *mask = malloc(cells * 4);
  const int32_t *id_rows[16], *type_rows[16];
  int32_t lens[16];
  assert_true(batch <= 16);
  int64_t vocab = m->config.vocab_size;
  for (size_t i = 0; i < cells; i++) {
    ids[i] = (int32_t)(rng(seed) % (uint64_t)vocab);
    if (m->config.position_padding_idx >= 0 && ids[i] == m->config.pad_token_id) ids[i] = 2;
    if (m->config.type_vocab_size > 1) types[i] = (int32_t)(i % (size_t)seq >= (size_t)seq / 2);
    mask[i] = 1;
  }
  for (int64_t b = 0; b < batch; b++) {
    id_rows[b] = ids + b * seq;
    type_rows[b] = types + b * seq;
    lens[b] = (int32_t)seq;
  }
  bertc_run_input_t in;
  bertc_run_input_init(&in);
  in.count = (int32_t)batch;
  in.lengths = lens;
  in.input_ids = id_rows;
  in.token_type_ids = type_rows;
  TU_ASSERT_OK(bertc_context_run(ctx, &in));
  bertc_run_info_t info;
  bertc_context_run_info(ctx, &info);
  assert_int_equal(info.last_seq, seq);
  ir_tensor_t outs[8];
  TU_ASSERT_OK(ir_interpret(m->graph, batch, seq, ids, types, mask, outs));
  for (size_t o = 0; o < m->graph->num_outputs; o++) {
    bertc_tensor_view_t v;
    TU_ASSERT_OK(bertc_context_output_by_name(ctx, m->graph->outputs[o].name, &v));
    int64_t n = ir_tensor_numel(&outs[o]);
    assert_int_equal((int64_t)(v.size_bytes / 4), n);
    double worst = 0;
    for (int64_t i = 0; i < n; i++) {
      double d = fabs((double)((const float *)v.data)[i] - ((const float *)outs[o].data)[i]);
      if (!(d <= worst)) worst = d;
    }
    if (!(worst <= 1e-5))
      fail_msg("%s batch %lld seq %lld: %s differs from the interpreter by %g", name, (long long)batch,
               (long long)seq, m->graph->outputs[o].name, worst);
    ir_tensor_deinit(&outs[o]);
  }
  free(ids);
  free(types);
  free(mask);
}

static void check_hf(const char *name, const fx_reference_t *r, bertc_model_t *model,
                     bertc_context_t *ctx, int64_t pad) {
  const int32_t *ids[8], *types[8];
  int32_t lens[8];
  for (int64_t b = 0; b < r->batch; b++) {
    lens[b] = 0;
    for (int64_t t = 0; t < r->seq; t++) lens[b] += r->attention_mask[b * r->seq + t] != 0;
    ids[b] = r->input_ids + b * r->seq;
    types[b] = r->token_type_ids + b * r->seq;
  }
  bertc_run_input_t in;
  bertc_run_input_init(&in);
  in.count = (int32_t)r->batch;
  in.lengths = lens;
  in.input_ids = ids;
  in.token_type_ids = bertc_model_type_vocab_size(model) > 0 ? types : NULL;
  in.pad_id = (int32_t)pad;
  TU_ASSERT_OK(bertc_context_run(ctx, &in));
  for (int i = 0; i < r->num_outputs; i++) {
    bertc_tensor_view_t v;
    TU_ASSERT_OK(bertc_context_output_by_name(ctx, r->outputs[i].name, &v));
    for (int d = 0; d < r->outputs[i].rank; d++) assert_int_equal(v.dims[d], r->outputs[i].dims[d]);
    double diff = fx_max_abs_diff(r, &r->outputs[i], v.data);
    if (!(diff <= 1e-4)) fail_msg("%s: %s differs from HF by %g", name, r->outputs[i].name, diff);
  }
}

/* Sequences of kPackedLens run packed (one call of the token bucket) equal
 * each run alone, output by output, within 1e-5. */
static void check_packed(const char *name, fe_model_t *m, bertc_context_t *ctx, uint64_t *seed) {
  enum { N = sizeof kPackedLens / sizeof kPackedLens[0] };
  int32_t ids[N][16], types[N][16];
  const int32_t *id_rows[N], *type_rows[N];
  int32_t lens[N], real = 0;
  for (int b = 0; b < N; b++) {
    for (int t = 0; t < kPackedLens[b]; t++) {
      ids[b][t] = (int32_t)(rng(seed) % (uint64_t)m->config.vocab_size);
      if (m->config.position_padding_idx >= 0 && ids[b][t] == m->config.pad_token_id)
        ids[b][t] = 2;
      types[b][t] = m->config.type_vocab_size > 1 && t >= kPackedLens[b] / 2;
    }
    id_rows[b] = ids[b];
    type_rows[b] = types[b];
    lens[b] = kPackedLens[b];
    real += lens[b];
  }
  bertc_run_input_t in;
  bertc_run_input_init(&in);
  in.count = N;
  in.lengths = lens;
  in.input_ids = id_rows;
  in.token_type_ids = type_rows;
  in.pad_id = (int32_t)m->config.pad_token_id;
  TU_ASSERT_OK(bertc_context_run(ctx, &in));
  bertc_run_info_t info;
  bertc_context_run_info(ctx, &info);
  if (info.packed_calls != 1 || info.padded_tokens != 48 || info.real_tokens != (uint64_t)real)
    fail_msg("%s: the packed run made %u packed calls computing %llu tokens for %llu", name,
             info.packed_calls, (unsigned long long)info.padded_tokens,
             (unsigned long long)info.real_tokens);
  size_t nout = m->graph->num_outputs;
  bertc_tensor_view_t packed[8];
  void *copies[8];
  for (size_t o = 0; o < nout; o++) {
    TU_ASSERT_OK(bertc_context_output_by_name(ctx, m->graph->outputs[o].name, &packed[o]));
    copies[o] = malloc(packed[o].size_bytes);
    memcpy(copies[o], packed[o].data, packed[o].size_bytes);
  }
  for (int b = 0; b < N; b++) {
    bertc_run_input_t one = in;
    one.count = 1;
    one.lengths = &lens[b];
    one.input_ids = &id_rows[b];
    one.token_type_ids = &type_rows[b];
    TU_ASSERT_OK(bertc_context_run(ctx, &one));
    bertc_context_run_info(ctx, &info);
    assert_int_equal(info.packed_calls, 0);
    for (size_t o = 0; o < nout; o++) {
      bertc_tensor_view_t v;
      TU_ASSERT_OK(bertc_context_output_by_name(ctx, m->graph->outputs[o].name, &v));
      /* alone [1, len, ...] or [1, ...]; packed row b of [N, 16, ...] or [N, ...] */
      bool per_token = packed[o].rank >= 2 && packed[o].dims[1] == 16 && v.dims[1] == lens[b];
      size_t row = packed[o].size_bytes / N / 4, n = per_token ? v.size_bytes / 4 : row;
      const float *want = v.data, *got = (const float *)copies[o] + (size_t)b * row;
      double worst = 0;
      for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - want[i]);
        if (!(d <= worst)) worst = d;
      }
      if (!(worst <= 1e-5))
        fail_msg("%s: sequence %d (%d tokens): %s packed differs from alone by %g", name, b,
                 lens[b], m->graph->outputs[o].name, worst);
    }
  }
  for (size_t o = 0; o < nout; o++) free(copies[o]);
}

/* bk_gemm_amx calls in the program fixture `dir` lowers to through variant v
 * (with --gemm amx), over all its buckets. */
static size_t count_amx_calls(const char *dir, const variant_t *v) {
  fe_model_t *m;
  TU_ASSERT_OK(fe_model_load(dir, NULL, &m));
  TU_ASSERT_OK(pass_run_pipeline(m->graph, NULL, NULL, NULL));
  lower_options_t o;
  lower_options_init(&o);
  o.gemm = LOWER_GEMM_AMX;
  if (v->plan_threads) o.threads = v->plan_threads;
  int64_t batches[3] = {kBatches[0], kBatches[1], v->big_batch};
  lower_buckets_t b = {batches, v->big_batch ? 3 : 2, kSeqs, 3, kTokens, 1};
  layout_t layout;
  lower_result_t r;
  TU_ASSERT_OK(layout_weights(m->graph, &o, &b, &layout));
  TU_ASSERT_OK(lower_program(m->graph, &layout, "m", &b, &o, &r));
  size_t n = 0;
  for (size_t i = 0; i < r.program.num_buckets; i++)
    for (size_t c = 0; c < r.program.buckets[i].num_calls; c++)
      n += !strcmp(r.program.buckets[i].calls[c].kernel, "bk_gemm_amx");
  lower_result_deinit(&r);
  layout_deinit(&layout);
  fe_model_destroy(m);
  return n;
}

/* Compiles fixture `name` (through `v`, or the default path when NULL) and
 * checks it against the interpreter at every bucket and against HF. */
static void check_fixture(const char *name, int index, const variant_t *v) {
  char *dir = fx_dir(name);
  char rel[256];
  snprintf(rel, sizeof rel, "compiled/%s%s%s.so", name, v ? "-" : "", v ? v->name : "");
  char *so = tu_scratch_path(rel);
  compile_variant(dir, so, NULL, v);
  fe_model_t *m;
  TU_ASSERT_OK(fe_model_load(dir, NULL, &m));
  bertc_model_t *model;
  TU_ASSERT_OK(bertc_model_load(so, NULL, &model));
  bertc_context_t *ctx;
  TU_ASSERT_OK(bertc_context_create(model, NULL, &ctx));
  uint64_t seed = 0x1234567ull + (uint64_t)index;
  for (size_t b = 0; b < 2; b++)
    for (size_t s = 0; s < 3; s++) check_bucket(name, m, ctx, kBatches[b], kSeqs[s], &seed);
  if (v && v->big_batch) check_bucket(name, m, ctx, v->big_batch, 16, &seed);
  /* The bucket of big_batch x 16 rows must have run on AMX. */
  if (v && v->gemm == FE_GEMM_AMX && count_amx_calls(dir, v) == 0)
    fail_msg("%s: compiled with gemm amx, but no layer runs on AMX", name);
  fx_reference_t r;
  fx_load(name, &r);
  check_hf(name, &r, model, ctx, m->config.pad_token_id);
  check_packed(name, m, ctx, &seed);
  print_message("%-22s %-10s compiled == interpreter (1e-5) at %d buckets, == HF (1e-4), "
                "packed == alone (1e-5)\n",
                name, v ? v->name : "default", v && v->big_batch ? 7 : 6);
  fx_free(&r);
  bertc_context_release(ctx);
  bertc_model_release(model);
  fe_model_destroy(m);
  if (v) unlink(so);
  free(so);
  free(dir);
}

/* The runtime loads a CBLAS library only for models that call sgemm, and a
 * missing one is a clear error at load time. Runs before any BLAS model is
 * loaded in this process (the library, once loaded, stays). */
static void test_blas_loaded_on_demand(void **state) {
  (void)state;
  char *dir = fx_dir("bert_qa");
  char *so = tu_scratch_path("compiled/bert_qa-ondemand.so");
  char *so_blas = tu_scratch_path("compiled/bert_qa-ondemand-blas.so");
  static const variant_t blas = {"blas", NULL, FE_GEMM_BLAS, 0, 0};
  compile_variant(dir, so, NULL, NULL);
  compile_variant(dir, so_blas, NULL, &blas);
  bertc_model_t *model;
  TU_ASSERT_OK(bertc_model_load(so, NULL, &model));
  assert_int_equal(bertc_model_descriptor(model)->flags & BERTC_ABI_FLAG_NEEDS_SGEMM, 0);
  if (dlopen("libopenblas.so.0", RTLD_NOW | RTLD_NOLOAD))
    fail_msg("loading a model without BLAS calls loaded OpenBLAS");
  bertc_model_release(model);

  setenv("BERTC_BLAS_LIBRARY", "/nonexistent/libcblas-for-bertc-test.so.3", 1);
  bertc_status_t s = bertc_model_load(so_blas, NULL, &model);
  unsetenv("BERTC_BLAS_LIBRARY");
  assert_int_equal(bertc_status_code(s), BERTC_STATUS_NOT_FOUND);
  if (!strstr(bertc_status_message(s), "/nonexistent/libcblas-for-bertc-test.so.3"))
    fail_msg("error does not name the library: %s", bertc_status_message(s));
  bertc_status_free(s);

  TU_ASSERT_OK(bertc_model_load(so_blas, NULL, &model));
  assert_int_equal(bertc_model_descriptor(model)->flags, BERTC_ABI_FLAG_NEEDS_SGEMM);
  bertc_model_release(model);
  unlink(so);
  unlink(so_blas);
  free(so);
  free(so_blas);
  free(dir);
}

/* The fixtures the kernel paths other than the default run on. */
static const char *const kPathFixtures[] = {"bert_qa",       "roberta_mlm",  "distilbert_seqcls",
                                            "albert_groups", "electra_disc", "st_mean"};

static void test_kernel_paths(void **state) {
  (void)state;
  static const variant_t variants[] = {
      {"avx2", "haswell", -1, 0, 0},
      {"blas", NULL, FE_GEMM_BLAS, 0, 0},
      {"plan1", NULL, -1, 1, 0},
      {"plan4", NULL, -1, 4, 0},
  };
  for (size_t v = 0; v < sizeof variants / sizeof variants[0]; v++)
    for (size_t f = 0; f < sizeof kPathFixtures / sizeof kPathFixtures[0]; f++)
      check_fixture(kPathFixtures[f], (int)f, &variants[v]);
}

/* Linear layers on AMX tiles: a bucket of 16 x 16 = 256 rows planned for one
 * thread (bk_gemm_use_amx wants >= 128 rows per thread). */
static void test_kernel_path_amx(void **state) {
  (void)state;
  if (rt_cpu_has_feature("amx-tile") != 1 || rt_cpu_has_feature("amx-bf16") != 1 ||
      rt_cpu_has_feature("avx512bf16") != 1)
    skip(); /* this CPU lacks AMX-BF16 */
  static const variant_t amx = {"amx", NULL, FE_GEMM_AMX, 1, 16};
  for (size_t f = 0; f < sizeof kPathFixtures / sizeof kPathFixtures[0]; f++)
    check_fixture(kPathFixtures[f], (int)f, &amx);
}

static void test_every_fixture(void **state) {
  (void)state;
  char **names;
  int n = fx_list(&names);
  for (int i = 0; i < n; i++) {
    check_fixture(names[i], i, NULL);
    free(names[i]);
  }
  free(names);
}

static char *read_all(const char *path, size_t *size) {
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *b = malloc((size_t)n);
  assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
  fclose(f);
  *size = (size_t)n;
  return b;
}

static void test_deterministic(void **state) {
  char *dir = fx_dir("bert_mlm");
  char *a = tu_scratch_path("compiled/det_a.so"), *b = tu_scratch_path("compiled/det_b.so");
  compile_to(dir, a, NULL);
  compile_to(dir, b, NULL);
  size_t na, nb;
  char *x = read_all(a, &na), *y = read_all(b, &nb);
  assert_int_equal(na, nb);
  assert_memory_equal(x, y, na);
  free(x);
  free(y);
  free(a);
  free(b);
  free(dir);
}

static void test_minilm(void **state) {
  fx_minilm_t ref;
  fx_minilm_load(&ref);
  char *so = tu_scratch_path("compiled/minilm.so");
  driver_options_t d;
  driver_options_init(&d);
  d.quiet = true;
  TU_ASSERT_OK(driver_compile(tu_minilm_dir(), &d, so));
  bertc_model_t *model;
  TU_ASSERT_OK(bertc_model_load(so, NULL, &model));
  float *first = malloc((size_t)ref.num_items * 384 * sizeof(float));
  for (int threads = 1; threads <= 2; threads++) {
    bertc_context_options_t co;
    bertc_context_options_init(&co);
    co.num_threads = threads;
    bertc_context_t *ctx;
    TU_ASSERT_OK(bertc_context_create(model, &co, &ctx));
    double worst = 0;
    /* In batches of 4 mixed lengths (the runtime pads to a bucket). */
    for (int i = 0; i < ref.num_items; i += 4) {
      int count = ref.num_items - i < 4 ? ref.num_items - i : 4;
      const int32_t *ids[4], *types[4];
      int32_t lens[4];
      for (int k = 0; k < count; k++) {
        ids[k] = ref.items[i + k].input_ids;
        types[k] = ref.items[i + k].token_type_ids;
        lens[k] = (int32_t)ref.items[i + k].len;
      }
      bertc_run_input_t in;
      bertc_run_input_init(&in);
      in.count = count;
      in.lengths = lens;
      in.input_ids = ids;
      in.token_type_ids = types;
      TU_ASSERT_OK(bertc_context_run(ctx, &in));
      bertc_tensor_view_t v;
      TU_ASSERT_OK(bertc_context_output_by_name(ctx, "sentence_embedding", &v));
      const float *e = v.data;
      for (int k = 0; k < count; k++)
        for (int j = 0; j < 384; j++) {
          double diff = fabs((double)e[k * 384 + j] - ref.items[i + k].embedding[j]);
          if (!(diff <= worst)) worst = diff;
          if (threads == 1)
            first[(i + k) * 384 + j] = e[k * 384 + j];
          else if (memcmp(&first[(i + k) * 384 + j], &e[k * 384 + j], 4))
            fail_msg("sentence %d: 1 and 2 threads differ", i + k);
        }
    }
    print_message("all-MiniLM-L6-v2 compiled, %d thread(s): max|diff| vs sentence-transformers %.3g\n",
                  threads, worst);
    assert_true(worst <= 1e-4);
    bertc_context_release(ctx);
  }
  free(first);
  bertc_model_release(model);
  free(so);
  fx_minilm_free(&ref);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_every_fixture),
      cmocka_unit_test(test_blas_loaded_on_demand),
      cmocka_unit_test(test_kernel_paths),
      cmocka_unit_test(test_kernel_path_amx),
      cmocka_unit_test(test_deterministic),
      cmocka_unit_test(test_minilm),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
