/* .so files with several code variants (--target-cpu LIST) and the runtime's
 * choice between them.
 *
 * A tiny BERT and all-MiniLM-L6-v2 are compiled for x86-64-v3 and x86-64-v4
 * (one .so each, one weights blob), then:
 *  - the descriptor lists both variants best first, with their own entries;
 *  - natively, every variant this host runs (chosen by name through the load
 *    options) equals the reference interpreter within 1e-5 at every bucket and
 *    HuggingFace within 1e-4 (tiny), sentence-transformers within 1e-4 (MiniLM);
 *    the default choice is the best variant the host runs;
 *  - under `qemu-x86_64 -cpu Haswell` (AVX2, no AVX-512) this same program
 *    loads the same .so files, must choose x86-64-v3 and pass the same checks;
 *    there a .so for x86-64-v4 alone is refused naming what the host lacks, and
 *    under `-cpu Nehalem` (no AVX) the two-variant .so is refused naming both
 *    variants. Without qemu-x86_64 (Debian's qemu-user), and in sanitizer builds
 *    (their programs do not run under qemu's user mode), those tests skip.
 * A target list is refused where it cannot work: with --target-features, with
 * a CPU whose features bertc cannot list, twice the same CPU, --emit obj. */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/driver.h"
#include "bertc/bertc.h"
#include "tests/fixture.h"
#include "tests/testutil.h"

#define FIXTURE "bert"
#define TARGETS "x86-64-v3,x86-64-v4"

static const int64_t kSeqs[] = {13, 16};
static const int64_t kBatches[] = {1, 3};
static const int64_t kMiniSeqs[] = {32};
static const int kMiniItems = 6; /* the first items of <= 32 tokens (natively) */

static void compile(const char *model, const char *targets, const int64_t *seqs, size_t nseqs,
                    const int64_t *batches, size_t nbatches, const char *out) {
  driver_options_t d;
  driver_options_init(&d);
  d.quiet = true;
  d.codegen.target_cpu = targets;
  d.seq_lens = seqs;
  d.num_seq_lens = nseqs;
  d.batch_sizes = batches;
  d.num_batch_sizes = nbatches;
  TU_ASSERT_OK(driver_compile(model, &d, out));
}

/* The compiled .so files, made once per process (under qemu, by the parent). */
static char *tiny_so(bool make) {
  char *so = tu_scratch_path("multi_isa/" FIXTURE "-v3v4.so");
  if (make) {
    char *dir = fx_dir(FIXTURE);
    compile(dir, TARGETS, kSeqs, 2, kBatches, 2, so);
    free(dir);
  }
  return so;
}

static char *minilm_so(bool make) {
  char *so = tu_scratch_path("multi_isa/minilm-portable.so");
  static const int64_t one = 1;
  if (make) compile(tu_minilm_dir(), "portable", kMiniSeqs, 1, &one, 1, so);
  return so;
}

static uint64_t rng(uint64_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

/* One bucket's shape of random ids through the context and the interpreter. */
static void check_bucket(fe_model_t *m, bertc_context_t *ctx, int64_t batch, int64_t seq,
                         uint64_t *seed, const char *variant) {
  size_t cells = (size_t)(batch * seq);
  int32_t *ids = malloc(cells * 4), *types = calloc(cells, 4), *mask = malloc(cells * 4);
  const int32_t *id_rows[4], *type_rows[4];
  int32_t lens[4];
  assert_true(batch <= 4);
  for (size_t i = 0; i < cells; i++) {
    ids[i] = (int32_t)(rng(seed) % (uint64_t)m->config.vocab_size);
    types[i] = (int32_t)(m->config.type_vocab_size > 1 && i % (size_t)seq >= (size_t)seq / 2);
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
      fail_msg("%s batch %lld seq %lld: %s differs from the interpreter by %g", variant,
               (long long)batch, (long long)seq, m->graph->outputs[o].name, worst);
    ir_tensor_deinit(&outs[o]);
  }
  free(ids);
  free(types);
  free(mask);
}

static void check_hf(const fx_reference_t *r, bertc_model_t *model, bertc_context_t *ctx,
                     int64_t pad, const char *variant) {
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
    double diff = fx_max_abs_diff(r, &r->outputs[i], v.data);
    if (!(diff <= 1e-4))
      fail_msg("%s: %s differs from HF by %g", variant, r->outputs[i].name, diff);
  }
}

/* Loads `so` running `variant` (NULL: the runtime's choice, which must be
 * `expect`), or returns NULL when the host lacks that variant's features. */
static bertc_model_t *load_variant(const char *so, const char *variant, const char *expect) {
  bertc_model_load_options_t lo;
  bertc_model_load_options_init(&lo);
  lo.variant = variant;
  bertc_model_t *model = NULL;
  bertc_status_t s = bertc_model_load(so, &lo, &model);
  if (s && variant && bertc_status_code(s) == BERTC_STATUS_INCOMPATIBLE) {
    print_message("NOT TESTED: variant %s (this host lacks its features: %s)\n", variant,
                  bertc_status_message(s));
    bertc_status_free(s);
    return NULL;
  }
  TU_ASSERT_OK(s);
  uint32_t index = 99;
  const bertc_abi_variant_t *runs = bertc_model_variant(model, &index);
  assert_non_null(runs);
  const bertc_model_descriptor_t *d = bertc_model_descriptor(model);
  assert_ptr_equal(runs, &d->variants[index]);
  assert_string_equal(runs->target_cpu, variant ? variant : expect);
  assert_string_equal(d->target_cpu, runs->target_cpu); /* the descriptor as it runs */
  assert_ptr_equal(d->buckets, runs->buckets);
  return model;
}

/* The tiny model through `variant` (NULL: the runtime's choice, `expect`). */
static void check_tiny(const char *so, const char *variant, const char *expect) {
  bertc_model_t *model = load_variant(so, variant, expect);
  if (!model) return;
  const char *name = bertc_model_variant(model, NULL)->target_cpu;
  char *dir = fx_dir(FIXTURE);
  fe_model_t *m;
  TU_ASSERT_OK(fe_model_load(dir, NULL, &m));
  bertc_context_t *ctx;
  TU_ASSERT_OK(bertc_context_create(model, NULL, &ctx));
  uint64_t seed = 0x5eed;
  for (size_t b = 0; b < 2; b++)
    for (size_t s = 0; s < 2; s++) check_bucket(m, ctx, kBatches[b], kSeqs[s], &seed, name);
  fx_reference_t r;
  fx_load(FIXTURE, &r);
  check_hf(&r, model, ctx, m->config.pad_token_id, name);
  print_message("%s [%s]: == interpreter (1e-5) at 4 buckets, == HF (1e-4)\n", FIXTURE, name);
  fx_free(&r);
  bertc_context_release(ctx);
  bertc_model_release(model);
  fe_model_destroy(m);
  free(dir);
}

/* MiniLM's first `num_items` short items through `variant`, against
 * sentence-transformers. */
static void check_minilm(const char *so, const char *variant, const char *expect,
                         int num_items) {
  bertc_model_t *model = load_variant(so, variant, expect);
  if (!model) return;
  fx_minilm_t ref;
  fx_minilm_load(&ref);
  int items[16], count = 0;
  assert_true(num_items <= 16);
  for (int i = 0; i < ref.num_items && count < num_items; i++)
    if (ref.items[i].len <= kMiniSeqs[0]) items[count++] = i;
  assert_int_equal(count, num_items);
  bertc_context_t *ctx;
  TU_ASSERT_OK(bertc_context_create(model, NULL, &ctx));
  double worst = 0;
  for (int k = 0; k < count; k++) {
    const fx_minilm_item_t *it = &ref.items[items[k]];
    int32_t len = (int32_t)it->len;
    bertc_run_input_t in;
    bertc_run_input_init(&in);
    in.count = 1;
    in.lengths = &len;
    in.input_ids = (const int32_t *const[]){it->input_ids};
    in.token_type_ids = (const int32_t *const[]){it->token_type_ids};
    TU_ASSERT_OK(bertc_context_run(ctx, &in));
    bertc_tensor_view_t v;
    TU_ASSERT_OK(bertc_context_output_by_name(ctx, "sentence_embedding", &v));
    double d = tu_minilm_max_diff(&ref, &items[k], 1, v.data);
    if (!(d <= worst)) worst = d;
  }
  const char *name = bertc_model_variant(model, NULL)->target_cpu;
  print_message("all-MiniLM-L6-v2 [%s]: %d sentences, max|diff| vs sentence-transformers %.3g\n",
                name, count, worst);
  if (!(worst <= 1e-4)) fail_msg("MiniLM [%s] differs from sentence-transformers by %g", name, worst);
  bertc_context_release(ctx);
  bertc_model_release(model);
  fx_minilm_free(&ref);
}

/* The variant this host should run: v4 where AVX-512 is there. */
static const char *best_here(void) {
  bertc_model_t *model;
  char *so = tiny_so(false);
  bertc_model_load_options_t lo;
  bertc_model_load_options_init(&lo);
  lo.variant = "x86-64-v4";
  bertc_status_t s = bertc_model_load(so, &lo, &model);
  free(so);
  if (s) {
    bertc_status_free(s);
    return "x86-64-v3";
  }
  bertc_model_release(model);
  return "x86-64-v4";
}

static void test_descriptor(void **state) {
  (void)state;
  char *so = tiny_so(true);
  bertc_model_load_options_t lo;
  bertc_model_load_options_init(&lo);
  lo.inspect_only = true;
  bertc_model_t *model;
  TU_ASSERT_OK(bertc_model_load(so, &lo, &model));
  const bertc_model_descriptor_t *d = bertc_model_descriptor(model);
  assert_int_equal(d->num_variants, 2);
  assert_string_equal(d->variants[0].target_cpu, "x86-64-v4"); /* best first */
  assert_string_equal(d->variants[1].target_cpu, "x86-64-v3");
  assert_non_null(strstr(d->variants[0].target_features, "+avx512f"));
  assert_null(strstr(d->variants[1].target_features, "avx512"));
  for (uint32_t i = 0; i < d->num_buckets; i++) {
    assert_int_equal(d->variants[0].buckets[i].seq, d->variants[1].buckets[i].seq);
    assert_true(d->variants[0].buckets[i].entry != d->variants[1].buckets[i].entry);
  }
  bertc_model_release(model);
  /* the same choice through the CLI's inspect */
  char cmd[4096], *out = NULL;
  snprintf(cmd, sizeof cmd, "'%s' inspect '%s'", getenv("BERTC_EXE"), so);
  assert_int_equal(tu_run(cmd, &out, NULL), 0);
  char want[64];
  snprintf(want, sizeof want, "%s  (runs here)", best_here());
  if (!strstr(out, want)) fail_msg("bertc inspect does not say '%s':\n%s", want, out);
  free(out);
  free(so);
}

static void test_tiny_native(void **state) {
  (void)state;
  char *so = tiny_so(false);
  check_tiny(so, NULL, best_here());
  check_tiny(so, "x86-64-v4", NULL);
  check_tiny(so, "x86-64-v3", NULL);
  bertc_model_load_options_t lo;
  bertc_model_load_options_init(&lo);
  lo.variant = "znver4";
  bertc_model_t *model;
  TU_ASSERT_ERROR(bertc_model_load(so, &lo, &model),
                  "no code variant for cpu 'znver4' (the model has 'x86-64-v4', 'x86-64-v3')");
  free(so);
}

static void test_minilm_native(void **state) {
  (void)state;
  char *so = minilm_so(true);
  check_minilm(so, NULL, best_here(), kMiniItems);
  check_minilm(so, "x86-64-v4", NULL, kMiniItems);
  check_minilm(so, "x86-64-v3", NULL, kMiniItems);
  free(so);
}

/* qemu-x86_64's path, or NULL. */
static char *find_qemu(void) {
  char *out = NULL;
  if (tu_run("command -v qemu-x86_64", &out, NULL) != 0 || !out || !*out) {
    free(out);
    return NULL;
  }
  out[strcspn(out, "\n")] = '\0';
  return out;
}

/* This program's own path, to run it under qemu. */
static char *self_path(void) {
  char *p = calloc(4096, 1);
  ssize_t n = readlink("/proc/self/exe", p, 4095);
  assert_true(n > 0);
  return p;
}

#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZED 1
#endif
#endif

static void test_qemu_haswell(void **state) {
  (void)state;
#ifdef SANITIZED
  print_message("SKIPPED: AddressSanitizer's shadow memory does not fit qemu-x86_64's user "
                "mode (the process is killed); the normal build runs this test\n");
  skip();
#endif
  char *qemu = find_qemu();
  if (!qemu) {
    print_message("SKIPPED: no qemu-x86_64 (Debian package qemu-user, scripts/install-deps.sh)\n");
    skip();
  }
  char *self = self_path(), *tiny = tiny_so(false);
  char cmd[8192], *out = NULL, *err = NULL;
  /* this program in its child mode, on an AVX2-only CPU (the tiny model
   * only: qemu's AVX2 runs MiniLM at ~10 MFLOP/s, two minutes a sentence) */
  snprintf(cmd, sizeof cmd, "'%s' -cpu Haswell '%s' --child '%s'", qemu, self, tiny);
  int rc = tu_run(cmd, &out, &err);
  print_message("under qemu-x86_64 -cpu Haswell:\n%s", out ? out : "");
  if (rc != 0)
    fail_msg("the checks under qemu-x86_64 -cpu Haswell failed (exit %d):\n%s", rc, err);
  assert_non_null(strstr(out, FIXTURE " [x86-64-v3]: == interpreter (1e-5) at 4 buckets"));
  free(out);
  free(err);

  /* a .so for AVX-512 alone is refused there, naming what the host lacks */
  char *v4 = tu_scratch_path("multi_isa/" FIXTURE "-v4.so");
  char *dir = fx_dir(FIXTURE);
  compile(dir, "x86-64-v4", kSeqs, 1, kBatches, 1, v4);
  snprintf(cmd, sizeof cmd, "'%s' -cpu Haswell '%s' bench '%s'", qemu, getenv("BERTC_EXE"), v4);
  assert_int_not_equal(tu_run(cmd, NULL, &err), 0);
  if (!strstr(err, "compiled for cpu 'x86-64-v4'") || !strstr(err, "this host lacks avx512bw"))
    fail_msg("the refusal does not say what the host lacks:\n%s", err);
  free(err);
  /* and a CPU without AVX runs neither variant of the fat .so */
  snprintf(cmd, sizeof cmd, "'%s' -cpu Nehalem '%s' bench '%s'", qemu, getenv("BERTC_EXE"), tiny);
  assert_int_not_equal(tu_run(cmd, NULL, &err), 0);
  if (!strstr(err, "none of its 2 code variants ('x86-64-v4', 'x86-64-v3') runs on this host") ||
      !strstr(err, "compiled for cpu 'x86-64-v3' with +avx,+avx2"))
    fail_msg("the refusal does not name both variants:\n%s", err);
  print_message("refused under -cpu Haswell (x86-64-v4 alone) and -cpu Nehalem (both)\n");
  free(err);
  unlink(v4);
  free(v4);
  free(dir);
  free(self);
  free(tiny);
  free(qemu);
}

static void test_bad_lists(void **state) {
  (void)state;
  cg_target_t *t;
  size_t n;
  TU_ASSERT_ERROR(cg_resolve_targets("x86-64-v4,portable", NULL, &t, &n),
                  "'x86-64-v4' appears twice");
  TU_ASSERT_ERROR(cg_resolve_targets("x86-64-v3,x86-64-v3", NULL, &t, &n), "appears twice");
  TU_ASSERT_ERROR(cg_resolve_targets("portable", "+avx2", &t, &n), "give a single cpu");
  TU_ASSERT_ERROR(cg_resolve_targets("x86-64-v3,znver4", NULL, &t, &n),
                  "'znver4' in a list: bertc cannot tell which CPU features");
  TU_ASSERT_ERROR(cg_resolve_targets("x86-64-v3,,x86-64-v4", NULL, &t, &n), "empty item");
  TU_ASSERT_OK(cg_resolve_targets("native,x86-64-v3", NULL, &t, &n));
  assert_int_equal(n, 2);
  assert_string_equal(t[1].cpu, "x86-64-v3"); /* the host has more features */
  cg_targets_free(t, n);
  TU_ASSERT_OK(cg_resolve_targets("x86-64-v3", "+avx2", &t, &n));
  assert_int_equal(n, 1);
  cg_targets_free(t, n);
  /* --emit obj keeps one module, so one target */
  driver_options_t d;
  driver_options_init(&d);
  d.quiet = true;
  d.codegen.target_cpu = "portable";
  d.codegen.emit = CG_EMIT_OBJ;
  char *dir = fx_dir(FIXTURE), *obj = tu_scratch_path("multi_isa/bad.o");
  TU_ASSERT_ERROR(driver_compile(dir, &d, obj), "--emit obj/asm/llvm take one target");
  assert_int_not_equal(access(obj, F_OK), 0);
  free(obj);
  free(dir);
}

/* Child mode (run under qemu by test_qemu_haswell): the checks on the .so
 * files the parent made, with the runtime's own choice, which must be the
 * AVX2 variant. `--child TINY.so [MINILM.so N]` (the MiniLM check, on N
 * sentences, is run by hand: under qemu it takes minutes). */
static void test_child(void **state) {
  char **args = *state; /* argv + 2 */
  check_tiny(args[0], NULL, "x86-64-v3");
  if (args[1] && args[2]) check_minilm(args[1], NULL, "x86-64-v3", atoi(args[2]));
}

int main(int argc, char **argv) {
  if ((argc == 3 || argc == 5) && !strcmp(argv[1], "--child")) {
    const struct CMUnitTest child[] = {cmocka_unit_test_prestate(test_child, argv + 2)};
    return cmocka_run_group_tests(child, NULL, NULL);
  }
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_descriptor),   cmocka_unit_test(test_tiny_native),
      cmocka_unit_test(test_minilm_native), cmocka_unit_test(test_qemu_haswell),
      cmocka_unit_test(test_bad_lists),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
