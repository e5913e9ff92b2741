/* sentence-transformers metadata: the real all-MiniLM-L6-v2 directory,
 * pooling by booleans and by the "pooling_mode" string, sentence_bert_config
 * present or not, and the unsupported modules and malformed files, each
 * checked for the message it must give. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/testutil.h"

#include "frontend/frontend.h"

#define TRANSFORMER "{\"idx\": 0, \"name\": \"0\", \"path\": \"\", " \
                    "\"type\": \"sentence_transformers.models.Transformer\"}"
#define POOLING "{\"idx\": 1, \"name\": \"1\", \"path\": \"1_Pooling\", " \
                "\"type\": \"sentence_transformers.models.Pooling\"}"
#define NORMALIZE "{\"idx\": 2, \"name\": \"2\", \"path\": \"2_Normalize\", " \
                  "\"type\": \"sentence_transformers.models.Normalize\"}"

/* A fresh test-scratch/sbert/<name>/ holding the given files (NULL content: skip). */
static char *make_dir(const char *name, const char *modules, const char *pooling,
                      const char *sbert) {
  char rel[256];
  snprintf(rel, sizeof rel, "sbert/%s/", name);
  char *dir = tu_scratch_path(rel);
  const struct {
    const char *file, *text;
  } files[] = {{"modules.json", modules},
               {"1_Pooling/config.json", pooling},
               {"sentence_bert_config.json", sbert}};
  for (size_t i = 0; i < 3; i++) {
    snprintf(rel, sizeof rel, "sbert/%s/%s", name, files[i].file);
    char *path = tu_scratch_path(rel);
    if (files[i].text)
      tu_write_file(path, files[i].text, strlen(files[i].text));
    else
      remove(path);
    free(path);
  }
  return dir;
}

static void test_minilm(void **state) {
  (void)state;
  fe_sbert_t sb;
  TU_ASSERT_OK(fe_sbert_load(tu_minilm_dir(), &sb));
  assert_true(sb.present);
  assert_int_equal(sb.pooling, FE_POOL_MEAN);
  assert_true(sb.normalize);
  assert_int_equal(sb.max_seq_length, 256);
  assert_false(sb.do_lower_case);
}

static void test_no_modules(void **state) {
  (void)state;
  char *dir = make_dir("plain", NULL, NULL, "{\"max_seq_length\": 128}");
  fe_sbert_t sb;
  memset(&sb, 0xab, sizeof sb);
  TU_ASSERT_OK(fe_sbert_load(dir, &sb));
  assert_false(sb.present);
  assert_int_equal(sb.pooling, 0);
  assert_false(sb.normalize);
  assert_int_equal(sb.max_seq_length, 0);
  assert_false(sb.do_lower_case);
  free(dir);
}

static void test_cls_without_normalize(void **state) {
  (void)state;
  char *dir = make_dir("cls", "[" TRANSFORMER ", " POOLING "]",
                       "{\"word_embedding_dimension\": 384, \"pooling_mode_cls_token\": true,"
                       " \"pooling_mode_mean_tokens\": false, \"pooling_mode_max_tokens\": false,"
                       " \"pooling_mode_mean_sqrt_len_tokens\": false,"
                       " \"pooling_mode_weightedmean_tokens\": false,"
                       " \"pooling_mode_lasttoken\": false, \"include_prompt\": true}",
                       NULL);
  fe_sbert_t sb;
  TU_ASSERT_OK(fe_sbert_load(dir, &sb));
  assert_true(sb.present);
  assert_int_equal(sb.pooling, FE_POOL_CLS);
  assert_false(sb.normalize);
  assert_int_equal(sb.max_seq_length, 0);
  assert_false(sb.do_lower_case);
  free(dir);
}

static void test_transformer_only(void **state) {
  (void)state;
  char *dir = make_dir("transformer-only", "[" TRANSFORMER "]", NULL,
                       "{\"max_seq_length\": null, \"do_lower_case\": true}");
  fe_sbert_t sb;
  TU_ASSERT_OK(fe_sbert_load(dir, &sb));
  assert_true(sb.present);
  assert_int_equal(sb.pooling, 0);
  assert_int_equal(sb.max_seq_length, 0);
  assert_true(sb.do_lower_case);
  free(dir);
}

static void test_several_modes(void **state) {
  (void)state;
  char *dir = make_dir("several", "[" TRANSFORMER ", " POOLING ", " NORMALIZE "]",
                       "{\"pooling_mode_cls_token\": true, \"pooling_mode_mean_tokens\": true,"
                       " \"pooling_mode_max_tokens\": true,"
                       " \"pooling_mode_mean_sqrt_len_tokens\": true}",
                       "{\"max_seq_length\": 512, \"do_lower_case\": true}");
  fe_sbert_t sb;
  TU_ASSERT_OK(fe_sbert_load(dir, &sb));
  assert_int_equal(sb.pooling, FE_POOL_CLS | FE_POOL_MAX | FE_POOL_MEAN | FE_POOL_MEAN_SQRT);
  assert_true(sb.normalize);
  assert_int_equal(sb.max_seq_length, 512);
  assert_true(sb.do_lower_case);
  free(dir);
}

static void test_pooling_mode_string(void **state) {
  (void)state;
  static const struct {
    const char *mode;
    unsigned bits;
  } cases[] = {{"mean", FE_POOL_MEAN},
               {"CLS", FE_POOL_CLS},
               {"max", FE_POOL_MAX},
               {"mean_sqrt_len_tokens", FE_POOL_MEAN_SQRT}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char pooling[256];
    /* The string overrides the booleans, as in sentence-transformers. */
    snprintf(pooling, sizeof pooling,
             "{\"pooling_mode\": \"%s\", \"pooling_mode_lasttoken\": true}", cases[i].mode);
    char *dir = make_dir("mode-string", "[" TRANSFORMER ", " POOLING "]", pooling, NULL);
    fe_sbert_t sb;
    TU_ASSERT_OK(fe_sbert_load(dir, &sb));
    assert_int_equal(sb.pooling, cases[i].bits);
    free(dir);
  }
}

static void test_module_type_paths(void **state) {
  (void)state;
  /* The class path's last component decides, whatever the module path. */
  char *dir = make_dir("type-paths",
                       "[{\"idx\": 0, \"name\": \"0\", \"path\": \".\", \"type\": "
                       "\"sentence_transformers.models.Transformer\"}, {\"idx\": 1, \"name\": "
                       "\"1\", \"path\": \"1_Pooling\", \"type\": "
                       "\"sentence_transformers.models.Pooling.Pooling\"}]",
                       "{\"pooling_mode_max_tokens\": true}", NULL);
  fe_sbert_t sb;
  TU_ASSERT_OK(fe_sbert_load(dir, &sb));
  assert_int_equal(sb.pooling, FE_POOL_MAX);
  free(dir);
}

/* Each broken directory and the text its error must contain. */
static const struct {
  const char *modules, *pooling, *sbert, *message;
} refusals[] = {
    {"[" TRANSFORMER ", " POOLING ", {\"idx\": 2, \"name\": \"2\", \"path\": \"2_Dense\", "
     "\"type\": \"sentence_transformers.models.Dense\"}]",
     "{\"pooling_mode_mean_tokens\": true}", NULL,
     "modules.json: module 2 has type 'sentence_transformers.models.Dense', which bertc does "
     "not support (supported: Transformer, Pooling, Normalize)"},
    {"[" TRANSFORMER ", {\"idx\": 1, \"name\": \"1\", \"path\": \"x\", \"type\": "
     "\"my_package.CustomPooling\"}]",
     NULL, NULL, "module 1 has type 'my_package.CustomPooling', which bertc does not support"},
    {"[" TRANSFORMER ", " POOLING "]", "{\"pooling_mode\": \"weightedmean\"}", NULL,
     "1_Pooling/config.json: pooling_mode 'weightedmean' is not supported (supported: cls, "
     "mean, max, mean_sqrt_len_tokens)"},
    {"[" TRANSFORMER ", " POOLING "]", "{\"pooling_mode\": \"lasttoken\"}", NULL,
     "pooling_mode 'lasttoken' is not supported"},
    {"[" TRANSFORMER ", " POOLING "]", "{\"pooling_mode\": \"median\"}", NULL,
     "pooling_mode 'median' is not a pooling mode"},
    {"[" TRANSFORMER ", " POOLING "]", "{\"pooling_mode\": 1}", NULL,
     "pooling_mode must be a string"},
    {"[" TRANSFORMER ", " POOLING "]",
     "{\"pooling_mode_mean_tokens\": true, \"pooling_mode_weightedmean_tokens\": true}", NULL,
     "pooling_mode_weightedmean_tokens is true: this pooling mode is not supported"},
    {"[" TRANSFORMER ", " POOLING "]", "{\"pooling_mode_lasttoken\": true}", NULL,
     "pooling_mode_lasttoken is true: this pooling mode is not supported"},
    {"[" TRANSFORMER ", " POOLING "]", "{\"pooling_mode_mean_tokens\": 1}", NULL,
     "pooling_mode_mean_tokens must be a boolean"},
    {"[" TRANSFORMER ", " POOLING "]", "{\"pooling_mode_mean_tokens\": false}", NULL,
     "1_Pooling/config.json: no pooling mode is selected"},
    {"[" TRANSFORMER ", " POOLING "]", NULL, NULL, "1_Pooling/config.json: cannot open"},
    {"[" TRANSFORMER ", " POOLING "]", "[true]", NULL, "config.json: expected a JSON object"},
    {"[" TRANSFORMER ", " POOLING "]", "{\"pooling_mode_mean_tokens\": tru}", NULL,
     "1_Pooling/config.json: invalid JSON at line 1"},
    {"[" TRANSFORMER ", " NORMALIZE "]", NULL, NULL,
     "modules.json: module 1: Normalize must directly follow the Pooling module"},
    {"[" POOLING ", " TRANSFORMER "]", "{\"pooling_mode_mean_tokens\": true}", NULL,
     "modules.json: module 0: Pooling must directly follow the Transformer module"},
    {"[" TRANSFORMER ", " TRANSFORMER "]", NULL, NULL,
     "module 1: Transformer must be the first and only Transformer"},
    {"[{\"idx\": 0, \"name\": \"0\", \"path\": \"0_Transformer\", \"type\": "
     "\"sentence_transformers.models.Transformer\"}]",
     NULL, NULL, "the Transformer module is in '0_Transformer', not in the model directory"},
    {"[{\"idx\": 0, \"name\": \"0\", \"path\": \"\"}]", NULL, NULL,
     "modules.json: module 0: \"type\" must be a string"},
    {"[{\"idx\": 0, \"type\": \"sentence_transformers.models.Transformer\"}]", NULL, NULL,
     "modules.json: module 0: \"path\" must be a string"},
    {"[\"sentence_transformers.models.Transformer\"]", NULL, NULL,
     "modules.json: module 0 must be an object"},
    {"[]", NULL, NULL, "modules.json: lists no modules"},
    {"{\"0\": \"Transformer\"}", NULL, NULL, "modules.json: expected a JSON array of modules"},
    {"[" TRANSFORMER ",", NULL, NULL, "modules.json: invalid JSON at line 1"},
    {"[" TRANSFORMER "]", NULL, "{\"max_seq_length\": \"256\"}",
     "sentence_bert_config.json: max_seq_length must be an integer"},
    {"[" TRANSFORMER "]", NULL, "{\"max_seq_length\": 0}",
     "sentence_bert_config.json: max_seq_length 0 is out of range (1..1048576)"},
    {"[" TRANSFORMER "]", NULL, "{\"do_lower_case\": \"yes\"}",
     "sentence_bert_config.json: do_lower_case must be a boolean"},
    {"[" TRANSFORMER "]", NULL, "{\"max_seq_length\": 256",
     "sentence_bert_config.json: invalid JSON"},
};

static void test_refusals(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof refusals / sizeof refusals[0]; i++) {
    char *dir = make_dir("refused", refusals[i].modules, refusals[i].pooling, refusals[i].sbert);
    fe_sbert_t sb;
    TU_ASSERT_ERROR(fe_sbert_load(dir, &sb), refusals[i].message);
    assert_false(sb.present);
    assert_int_equal(sb.pooling, 0);
    free(dir);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_minilm),
      cmocka_unit_test(test_no_modules),
      cmocka_unit_test(test_cls_without_normalize),
      cmocka_unit_test(test_transformer_only),
      cmocka_unit_test(test_several_modes),
      cmocka_unit_test(test_pooling_mode_string),
      cmocka_unit_test(test_module_type_paths),
      cmocka_unit_test(test_refusals),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
