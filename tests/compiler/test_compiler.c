/* The public compiler API (bertc/compiler.h): bertc_compile of a tiny
 * fixture with its progress reports, the .so it writes loaded and run by the
 * runtime; compile errors (a missing model leaves no file; bad options);
 * bertc_inspect_json and `bertc inspect` of a directory; and the reference
 * engine: the numbers ir_interpret gives, padding zeroed as a context zeroes
 * it, the compiled .so's numbers within 1e-5, and its input checks. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/testutil.h"

#include "bertc/bertc.h"
#include "bertc/compiler.h"
#include "frontend/frontend.h"
#include "tests/fixture.h"

/* ---- compile --------------------------------------------------------------------------- */

typedef struct phases {
  char names[32][64];
  int count;
  double seconds;
} phases_t;

static void record(void *user, const char *phase, double seconds) {
  phases_t *p = user;
  if (p->count < 32) snprintf(p->names[p->count++], sizeof p->names[0], "%s", phase);
  assert_true(seconds >= 0);
  p->seconds += seconds;
}

static int phase_index(const phases_t *p, const char *prefix) {
  for (int i = 0; i < p->count; i++)
    if (!strncmp(p->names[i], prefix, strlen(prefix))) return i;
  return -1;
}

/* Quiet options writing `so` (removed first), phases recorded into p. */
static void quiet_options(bertc_compile_options_t *o, const char *so, phases_t *p) {
  unlink(so);
  memset(p, 0, sizeof *p);
  bertc_compile_options_init(o);
  o->output_path = so;
  o->quiet = true;
  o->progress = record;
  o->progress_user = p;
}

static bool file_exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

/* The fixture's sequences: real lengths, and rows of its padded arrays. */
static void fixture_input(const fx_reference_t *r, int32_t *lens, const int32_t **ids,
                          const int32_t **types, bertc_run_input_t *in) {
  for (int64_t b = 0; b < r->batch; b++) {
    lens[b] = 0;
    for (int64_t t = 0; t < r->seq; t++)
      lens[b] += r->attention_mask[b * r->seq + t] != 0;
    ids[b] = r->input_ids + b * r->seq;
    types[b] = r->token_type_ids + b * r->seq;
  }
  bertc_run_input_init(in);
  in->count = (int32_t)r->batch;
  in->lengths = lens;
  in->input_ids = ids;
  in->token_type_ids = types;
}

/* Max |a - b| over the real positions of two [count, seq, ...] or
 * [count, ...] outputs of the same shape. */
static double view_diff(const bertc_tensor_view_t *a, const bertc_tensor_view_t *b,
                        const int32_t *lens) {
  assert_string_equal(a->name, b->name);
  assert_int_equal(a->rank, b->rank);
  for (int d = 0; d < a->rank; d++)
    assert_int_equal(a->dims[d], b->dims[d]);
  bool per_token = a->rank >= 3;
  int64_t inner = 1;
  for (int d = per_token ? 2 : 1; d < a->rank; d++)
    inner *= a->dims[d];
  int64_t seq = per_token ? a->dims[1] : 1;
  const float *x = a->data, *y = b->data;
  double worst = 0;
  for (int64_t i = 0; i < a->dims[0]; i++)
    for (int64_t t = 0; t < (per_token ? lens[i] : 1); t++)
      for (int64_t k = 0; k < inner; k++) {
        int64_t at = (i * seq + t) * inner + k;
        double d = fabs((double)x[at] - (double)y[at]);
        if (d > worst) worst = d;
      }
  return worst;
}

static void test_compile_runs(void **state) {
  (void)state;
  char *dir = fx_dir("bert");
  char *so = tu_scratch_path("compiler/bert.so");
  phases_t p;
  bertc_compile_options_t o;
  quiet_options(&o, so, &p);
  o.seq_lens = (const int64_t[]){8, 16};
  o.num_seq_lens = 2;
  o.batch_sizes = (const int64_t[]){1, 4};
  o.num_batch_sizes = 2;
  o.jobs = 2;
  TU_ASSERT_OK(bertc_compile(dir, &o));
  for (int i = 0; i < p.count; i++)
    print_message("phase %s\n", p.names[i]);
  const char *order[] = {"import", "passes", "lower", "target", "llvm (", "link", "write"};
  int last = -1;
  for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
    int at = phase_index(&p, order[i]);
    if (at <= last) fail_msg("phase '%s' missing or out of order", order[i]);
    last = at;
  }
  assert_string_equal(p.names[p.count - 1], "total");

  bertc_model_t *model = NULL;
  TU_ASSERT_OK(bertc_model_load(so, NULL, &model));
  uint32_t nb = 0;
  bertc_model_buckets(model, &nb);
  assert_int_equal(nb, 4);
  assert_int_equal(bertc_model_max_seq(model), 16);
  assert_int_equal(bertc_model_max_batch(model), 4);
  bertc_context_t *ctx = NULL;
  TU_ASSERT_OK(bertc_context_create(model, NULL, &ctx));

  /* The same sequences through the reference engine and the .so. */
  fx_reference_t r;
  fx_load("bert", &r);
  int32_t lens[8];
  const int32_t *ids[8], *types[8];
  bertc_run_input_t in;
  fixture_input(&r, lens, ids, types, &in);
  bertc_reference_t *ref = NULL;
  TU_ASSERT_OK(bertc_reference_open(dir, NULL, &ref));
  bertc_engine_t e;
  bertc_reference_engine(ref, &e);
  in.pad_id = e.pad_id;
  TU_ASSERT_OK(e.run(e.self, &in));
  TU_ASSERT_OK(bertc_context_run(ctx, &in));
  uint32_t nout = 0;
  bertc_model_outputs(model, &nout);
  assert_int_equal(nout, e.num_outputs(e.self));
  for (uint32_t i = 0; i < nout; i++) {
    bertc_tensor_view_t a, b;
    TU_ASSERT_OK(e.output(e.self, i, &a));
    TU_ASSERT_OK(bertc_context_output(ctx, i, &b));
    double diff = view_diff(&a, &b, lens);
    print_message("%-20s reference vs .so max|diff| %.3g\n", a.name, diff);
    if (!(diff <= 1e-5)) fail_msg("%s: the .so differs from the reference by %g", a.name, diff);
  }
  bertc_reference_release(ref);
  fx_free(&r);
  bertc_context_release(ctx);
  bertc_model_release(model);
  unlink(so);
  free(so);
  free(dir);
}

static void test_compile_errors(void **state) {
  (void)state;
  char *missing = tu_source_path("tests/fixtures/tiny/no_such_model");
  char *so = tu_scratch_path("compiler/missing.so");
  phases_t p;
  bertc_compile_options_t o;
  quiet_options(&o, so, &p);
  TU_ASSERT_ERROR(bertc_compile(missing, &o), "no_such_model");
  assert_false(file_exists(so));
  assert_int_equal(p.count, 0);

  /* Options refused before anything is read. */
  char *dir = fx_dir("bert");
  int64_t many[BERTC_COMPILE_MAX_BUCKETS + 1];
  for (int i = 0; i <= BERTC_COMPILE_MAX_BUCKETS; i++)
    many[i] = i + 1;
  o.seq_lens = many;
  o.num_seq_lens = BERTC_COMPILE_MAX_BUCKETS + 1;
  TU_ASSERT_ERROR(bertc_compile(dir, &o), "seq_lens: 17 values");
  o.seq_lens = NULL;
  o.batch_sizes = (const int64_t[]){0};
  o.num_batch_sizes = 1;
  TU_ASSERT_ERROR(bertc_compile(dir, &o), "batch_sizes: 0 is out of range (1..4096)");
  o.batch_sizes = NULL;
  o.jobs = BERTC_COMPILE_MAX_JOBS + 1;
  TU_ASSERT_ERROR(bertc_compile(dir, &o), "jobs: 65 is outside 0..64");
  o.jobs = 0;
  o.output_path = NULL;
  TU_ASSERT_ERROR(bertc_compile(dir, &o), "no output path");
  /* A bucket past the model's maximum: the driver's check, naming the model. */
  o.output_path = so;
  o.seq_lens = (const int64_t[]){16, 100};
  o.num_seq_lens = 2;
  TU_ASSERT_ERROR(bertc_compile(dir, &o), "sequence bucket 100 is outside 1..64");
  assert_false(file_exists(so));

  int64_t v[4];
  size_t n = 9;
  TU_ASSERT_ERROR(bertc_parse_int_list("16,16", "--seq-lens", 64, v, 4, &n), "16 is listed twice");
  assert_int_equal(n, 0);
  TU_ASSERT_OK(bertc_parse_int_list("32, 8", "--seq-lens", 64, v, 4, &n));
  assert_int_equal(n, 2);
  const char *name = NULL, *summary = NULL;
  assert_true(bertc_compile_pass(0, &name, &summary));
  assert_non_null(name);
  assert_non_null(summary);
  size_t count = 0;
  while (bertc_compile_pass(count, &name, &summary))
    count++;
  assert_true(count >= 2);
  assert_null(name);
  free(dir);
  free(so);
  free(missing);
}

/* ---- inspect ---------------------------------------------------------------------------- */

static void test_inspect(void **state) {
  (void)state;
  char *dir = fx_dir("bert");
  char *text = NULL;
  TU_ASSERT_OK(bertc_inspect_json(dir, &text));
  json_t *o = json_loads(text, 0, NULL);
  assert_non_null(o);
  assert_string_equal(json_string_value(json_object_get(o, "name")), "bert");
  assert_string_equal(json_string_value(json_object_get(o, "model_type")), "bert");
  assert_int_equal(json_integer_value(json_object_get(o, "layers")), 2);
  assert_int_equal(json_integer_value(json_object_get(o, "vocab_size")), 1500);
  assert_int_equal(json_integer_value(json_object_get(o, "parameters")), 64810);
  assert_string_equal(json_string_value(json_object_get(o, "task")), "encoder");
  json_t *outs = json_object_get(o, "outputs");
  assert_int_equal(json_array_size(outs), 2);
  assert_string_equal(json_string_value(json_array_get(outs, 0)), "last_hidden_state");
  assert_true(json_integer_value(json_object_get(o, "nodes")) > 0);
  /* Keys in the documented order: name first, nodes last. */
  assert_string_equal(json_object_iter_key(json_object_iter(o)), "name");
  const char *key, *last = NULL;
  json_t *v;
  json_object_foreach(o, key, v) last = key;
  assert_string_equal(last, "nodes");
  json_decref(o);
  free(text);

  char *missing = tu_source_path("tests/fixtures/tiny/no_such_model");
  TU_ASSERT_ERROR(bertc_inspect_json(missing, &text), "no_such_model");
  assert_null(text);

  /* The CLI prints the same facts, as text and as JSON. */
  const char *exe = getenv("BERTC_EXE");
  if (!exe) fail_msg("BERTC_EXE is not set");
  char cmd[4096], *out = NULL;
  snprintf(cmd, sizeof cmd, "'%s' inspect '%s'", exe, dir);
  assert_int_equal(tu_run(cmd, &out, NULL), 0);
  assert_non_null(strstr(out, "\nlayers             2\n"));
  assert_non_null(strstr(out, "\noutputs            [\"last_hidden_state\",\"pooler_output\"]\n"));
  free(out);
  snprintf(cmd, sizeof cmd, "'%s' inspect --json '%s'", exe, dir);
  assert_int_equal(tu_run(cmd, &out, NULL), 0);
  assert_non_null(strstr(out, "\"hidden_size\": 32,"));
  free(out);
  free(missing);
  free(dir);
}

/* `bertc compile` takes the cpu from model.json's target unless --target-cpu names one. */
static void test_cli_target_cpu(void **state) {
  (void)state;
  const char *exe = getenv("BERTC_EXE");
  if (!exe) fail_msg("BERTC_EXE is not set");
  char *dir = fx_dir("bert");
  char *spec = tu_scratch_path("compiler/target/model.json");
  char *so = tu_scratch_path("compiler/target/model.so");
  char json[4096];
  snprintf(json, sizeof json,
           "{\"checkpoint\": \"%s\", \"seq_lens\": [8], \"target\": {\"cpu\": \"haswell\"}}",
           dir);
  tu_write_file(spec, json, strlen(json));
  const struct {
    const char *option, *want;
  } cases[] = {{"", "\"target_cpu\": \"haswell\""},
               {"--target-cpu x86-64-v3", "\"target_cpu\": \"x86-64-v3\""}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char cmd[8192], *out = NULL;
    snprintf(cmd, sizeof cmd, "'%s' compile '%s' -o '%s' %s >/dev/null 2>&1 && '%s' inspect --json '%s'",
             exe, spec, so, cases[i].option, exe, so);
    assert_int_equal(tu_run(cmd, &out, NULL), 0);
    if (!strstr(out, cases[i].want)) fail_msg("%s: no %s in\n%s", cmd, cases[i].want, out);
    free(out);
  }
  free(so);
  free(spec);
  free(dir);
}

/* ---- reference -------------------------------------------------------------------------- */

static void test_reference_matches_interpreter(void **state) {
  (void)state;
  fx_reference_t r;
  fx_load("bert", &r);
  char *dir = fx_dir("bert");
  fe_model_t *m = NULL;
  TU_ASSERT_OK(fe_model_load(dir, NULL, &m));
  ir_tensor_t want[8];
  TU_ASSERT_OK(ir_interpret(m->graph, r.batch, r.seq, r.input_ids, r.token_type_ids,
                            r.attention_mask, want));

  bertc_reference_t *ref = NULL;
  TU_ASSERT_OK(bertc_reference_open(dir, NULL, &ref));
  assert_string_equal(bertc_reference_tokenizer_dir(ref), m->spec.tokenizer_dir);
  assert_int_equal(bertc_reference_max_seq(ref), 64);
  char *meta = NULL;
  TU_ASSERT_OK(fe_model_metadata_json(m, &meta));
  assert_string_equal(bertc_reference_metadata_json(ref), meta);
  free(meta);
  bertc_engine_t e;
  bertc_reference_engine(ref, &e);
  assert_int_equal(e.max_batch, 1);
  assert_int_equal(e.max_seq, 64);
  assert_int_equal(e.pad_id, (int32_t)m->config.pad_token_id);
  bertc_tensor_view_t none;
  TU_ASSERT_ERROR(e.output(e.self, 0, &none), "no run yet");

  int32_t lens[8];
  const int32_t *ids[8], *types[8];
  bertc_run_input_t in;
  fixture_input(&r, lens, ids, types, &in);
  in.pad_id = e.pad_id;
  TU_ASSERT_OK(e.run(e.self, &in));
  assert_int_equal(e.num_outputs(e.self), m->graph->num_outputs);
  for (uint32_t o = 0; o < e.num_outputs(e.self); o++) {
    bertc_tensor_view_t v;
    TU_ASSERT_OK(e.output(e.self, o, &v));
    assert_string_equal(v.name, m->graph->outputs[o].name);
    assert_int_equal(v.dtype, BERTC_DTYPE_F32);
    assert_int_equal(v.rank, want[o].rank);
    int64_t numel = 1;
    for (int d = 0; d < v.rank; d++) {
      assert_int_equal(v.dims[d], want[o].dims[d]);
      numel *= v.dims[d];
    }
    assert_int_equal(v.size_bytes, (uint64_t)numel * 4);
    /* Real positions: the interpreter's numbers exactly; padding: zeros. */
    const float *got = v.data, *exp = want[o].data;
    int64_t inner = numel / v.dims[0] / (v.rank >= 3 ? v.dims[1] : 1);
    for (int64_t i = 0; i < v.dims[0]; i++)
      for (int64_t t = 0; t < (v.rank >= 3 ? v.dims[1] : 1); t++)
        for (int64_t k = 0; k < inner; k++) {
          int64_t at = ((i * (v.rank >= 3 ? v.dims[1] : 1)) + t) * inner + k;
          if (v.rank < 3 || t < lens[i]) assert_memory_equal(&got[at], &exp[at], sizeof(float));
          else assert_true(got[at] == 0.0f);
        }
    const fx_output_t *hf = fx_output(&r, v.name);
    assert_non_null(hf);
    assert_true(fx_max_abs_diff(&r, hf, got) <= 1e-5);
    ir_tensor_deinit(&want[o]);
  }

  /* One sequence a run, as max_batch says: the same numbers within 1e-5. */
  in.count = 1;
  in.lengths = &lens[1];
  in.input_ids = &ids[1];
  in.token_type_ids = &types[1];
  TU_ASSERT_OK(e.run(e.self, &in));
  bertc_tensor_view_t v;
  TU_ASSERT_OK(e.output(e.self, 0, &v));
  assert_int_equal(v.dims[0], 1);
  assert_int_equal(v.dims[1], lens[1]);
  fe_model_destroy(m);
  bertc_reference_release(ref);
  fx_free(&r);
  free(dir);
}

static void test_reference_errors(void **state) {
  (void)state;
  char *dir = fx_dir("bert");
  bertc_reference_t *ref = NULL;
  char *missing = tu_source_path("tests/fixtures/tiny/no_such_model");
  TU_ASSERT_ERROR(bertc_reference_open(missing, NULL, &ref), "no_such_model");
  assert_null(ref);
  bertc_reference_options_t ro;
  bertc_reference_options_init(&ro);
  ro.task = BERTC_TASK_FILL_MASK; /* the fixture has no MLM head */
  TU_ASSERT_ERROR(bertc_reference_open(dir, &ro, &ref), "fill-mask");
  assert_null(ref);
  TU_ASSERT_OK(bertc_reference_open(dir, NULL, &ref));
  bertc_engine_t e;
  bertc_reference_engine(ref, &e);
  int32_t ids[70] = {2, 5000, 3}, types[3] = {0, 0, 7}, len = 3;
  const int32_t *rows[1] = {ids}, *trows[1] = {types};
  bertc_run_input_t in;
  bertc_run_input_init(&in);
  in.count = 1;
  in.lengths = &len;
  in.input_ids = rows;
  TU_ASSERT_ERROR(e.run(e.self, &in),
                  "input 0: token id 5000 at position 1 is out of range [0, 1500)");
  ids[1] = 7;
  in.token_type_ids = trows;
  TU_ASSERT_ERROR(e.run(e.self, &in),
                  "input 0: token type id 7 at position 2 is out of range [0, 2)");
  in.token_type_ids = NULL;
  len = 70;
  TU_ASSERT_ERROR(e.run(e.self, &in),
                  "an input has 70 tokens, more than the model's maximum 64");
  len = 0;
  TU_ASSERT_ERROR(e.run(e.self, &in), "sequence 0 has length 0");
  bertc_tensor_view_t v;
  TU_ASSERT_ERROR(e.output(e.self, 0, &v), "no run yet");
  len = 3;
  TU_ASSERT_OK(e.run(e.self, &in));
  TU_ASSERT_ERROR(e.output(e.self, 2, &v), "output 2: the model has 2 outputs");
  assert_null(v.name);
  bertc_reference_release(ref);
  bertc_reference_release(NULL);
  free(missing);
  free(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_compile_runs),
      cmocka_unit_test(test_compile_errors),
      cmocka_unit_test(test_inspect),
      cmocka_unit_test(test_cli_target_cpu),
      cmocka_unit_test(test_reference_matches_interpreter),
      cmocka_unit_test(test_reference_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
