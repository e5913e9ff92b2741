/* config.json: each of the six architectures with its own keys and with the
 * config class's defaults, every hidden_act spelling, id2label, the real
 * all-MiniLM-L6-v2 config, and one malformed or unsupported config per rule,
 * each checked for the message it must give (starting with the file name). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/testutil.h"

#include "frontend/frontend.h"

/* Writes test-scratch/config/<rel>/config.json and returns its path. */
static char *write_config(const char *rel, const char *json) {
  char full[256];
  snprintf(full, sizeof full, "config/%s/config.json", rel);
  char *path = tu_scratch_path(full);
  tu_write_file(path, json, strlen(json));
  return path;
}

static void load_ok(const char *rel, const char *json, fe_config_t *c) {
  char *path = write_config(rel, json);
  TU_ASSERT_OK(fe_config_load(path, c));
  free(path);
}

static void test_bert_explicit(void **state) {
  (void)state;
  fe_config_t c;
  load_ok("bert", "{\"model_type\": \"bert\", \"architectures\": [\"BertForMaskedLM\"],"
                  " \"vocab_size\": 1000, \"hidden_size\": 64, \"num_hidden_layers\": 3,"
                  " \"num_attention_heads\": 4, \"intermediate_size\": 256,"
                  " \"hidden_act\": \"gelu\", \"max_position_embeddings\": 128,"
                  " \"type_vocab_size\": 3, \"layer_norm_eps\": 1e-5, \"pad_token_id\": 7,"
                  " \"position_embedding_type\": \"absolute\", \"classifier_dropout\": null,"
                  " \"is_decoder\": false, \"add_cross_attention\": false,"
                  " \"pruned_heads\": {}, \"use_cache\": true}",
          &c);
  assert_int_equal(c.arch, FE_ARCH_BERT);
  assert_string_equal(c.architecture, "BertForMaskedLM");
  assert_int_equal(c.vocab_size, 1000);
  assert_int_equal(c.hidden_size, 64);
  assert_int_equal(c.num_layers, 3);
  assert_int_equal(c.num_heads, 4);
  assert_int_equal(c.intermediate_size, 256);
  assert_int_equal(c.max_position_embeddings, 128);
  assert_int_equal(c.type_vocab_size, 3);
  assert_int_equal(c.embedding_size, 64);
  assert_int_equal(c.num_hidden_groups, 1);
  assert_int_equal(c.inner_group_num, 1);
  assert_int_equal(c.hidden_act, IR_ACT_GELU);
  assert_string_equal(c.hidden_act_name, "gelu");
  assert_float_equal(c.layer_norm_eps, 1e-5f, 1e-12);
  assert_int_equal(c.pad_token_id, 7);
  assert_int_equal(c.position_padding_idx, -1);
  assert_int_equal(c.num_labels, 2);
  assert_string_equal(c.id2label[0], "LABEL_0");
  assert_string_equal(c.id2label[1], "LABEL_1");
  assert_string_equal(c.problem_type, "");
  fe_config_deinit(&c);
  assert_null(c.id2label);
}

static void test_bert_defaults(void **state) {
  (void)state;
  fe_config_t c;
  load_ok("bert-defaults", "{\"model_type\": \"bert\"}", &c);
  assert_int_equal(c.arch, FE_ARCH_BERT);
  assert_string_equal(c.architecture, "");
  assert_int_equal(c.vocab_size, 30522);
  assert_int_equal(c.hidden_size, 768);
  assert_int_equal(c.num_layers, 12);
  assert_int_equal(c.num_heads, 12);
  assert_int_equal(c.intermediate_size, 3072);
  assert_int_equal(c.max_position_embeddings, 512);
  assert_int_equal(c.type_vocab_size, 2);
  assert_int_equal(c.embedding_size, 768);
  assert_int_equal(c.hidden_act, IR_ACT_GELU);
  assert_float_equal(c.layer_norm_eps, 1e-12f, 1e-20);
  assert_int_equal(c.pad_token_id, 0);
  assert_int_equal(c.position_padding_idx, -1);
  assert_int_equal(c.num_labels, 2);
  fe_config_deinit(&c);

  /* null is "use the default", as in transformers' config classes. */
  load_ok("bert-nulls", "{\"model_type\": \"bert\", \"hidden_size\": null, "
                        "\"pad_token_id\": null, \"architectures\": null, "
                        "\"id2label\": null, \"problem_type\": null}",
          &c);
  assert_int_equal(c.hidden_size, 768);
  assert_int_equal(c.pad_token_id, 0);
  assert_int_equal(c.num_labels, 2);
  fe_config_deinit(&c);
}

static void test_roberta(void **state) {
  (void)state;
  fe_config_t c;
  /* roberta-base's config.json */
  load_ok("roberta", "{\"architectures\": [\"RobertaForMaskedLM\"], \"bos_token_id\": 0,"
                     " \"eos_token_id\": 2, \"hidden_act\": \"gelu\", \"hidden_size\": 768,"
                     " \"intermediate_size\": 3072, \"layer_norm_eps\": 1e-05,"
                     " \"max_position_embeddings\": 514, \"model_type\": \"roberta\","
                     " \"num_attention_heads\": 12, \"num_hidden_layers\": 12,"
                     " \"pad_token_id\": 1, \"type_vocab_size\": 1, \"vocab_size\": 50265}",
          &c);
  assert_int_equal(c.arch, FE_ARCH_ROBERTA);
  assert_int_equal(c.max_position_embeddings, 514);
  assert_int_equal(c.type_vocab_size, 1);
  assert_int_equal(c.pad_token_id, 1);
  assert_int_equal(c.position_padding_idx, 1);
  assert_float_equal(c.layer_norm_eps, 1e-5f, 1e-12);
  fe_config_deinit(&c);

  load_ok("roberta-defaults", "{\"model_type\": \"roberta\"}", &c);
  assert_int_equal(c.vocab_size, 50265);
  assert_int_equal(c.pad_token_id, 1);
  assert_int_equal(c.position_padding_idx, 1);
  assert_int_equal(c.type_vocab_size, 2);
  fe_config_deinit(&c);

  load_ok("xlmr-defaults", "{\"model_type\": \"xlm-roberta\"}", &c);
  assert_int_equal(c.arch, FE_ARCH_XLM_ROBERTA);
  assert_int_equal(c.vocab_size, 30522);
  assert_int_equal(c.position_padding_idx, 1);
  fe_config_deinit(&c);

  load_ok("xlmr", "{\"model_type\": \"xlm-roberta\", \"vocab_size\": 250002,"
                  " \"max_position_embeddings\": 514, \"pad_token_id\": 1}",
          &c);
  assert_int_equal(c.vocab_size, 250002);
  assert_int_equal(c.position_padding_idx, 1);
  fe_config_deinit(&c);
}

static void test_distilbert(void **state) {
  (void)state;
  fe_config_t c;
  load_ok("distilbert", "{\"model_type\": \"distilbert\", \"dim\": 384, \"n_layers\": 3,"
                        " \"n_heads\": 6, \"hidden_dim\": 1536, \"activation\": \"relu\","
                        " \"vocab_size\": 2000, \"max_position_embeddings\": 256,"
                        " \"sinusoidal_pos_embds\": false, \"layer_norm_eps\": 1e-5,"
                        " \"type_vocab_size\": 2, \"hidden_act\": \"tanh\"}",
          &c);
  assert_int_equal(c.arch, FE_ARCH_DISTILBERT);
  assert_int_equal(c.hidden_size, 384);
  assert_int_equal(c.num_layers, 3);
  assert_int_equal(c.num_heads, 6);
  assert_int_equal(c.intermediate_size, 1536);
  assert_int_equal(c.hidden_act, IR_ACT_RELU); /* "activation", not "hidden_act" */
  assert_string_equal(c.hidden_act_name, "relu");
  assert_int_equal(c.vocab_size, 2000);
  assert_int_equal(c.max_position_embeddings, 256);
  assert_int_equal(c.type_vocab_size, 0);
  assert_int_equal(c.embedding_size, 384);
  assert_float_equal(c.layer_norm_eps, 1e-12f, 1e-20); /* fixed, not from the file */
  assert_int_equal(c.position_padding_idx, -1);
  fe_config_deinit(&c);

  load_ok("distilbert-defaults", "{\"model_type\": \"distilbert\"}", &c);
  assert_int_equal(c.hidden_size, 768);
  assert_int_equal(c.num_layers, 6);
  assert_int_equal(c.num_heads, 12);
  assert_int_equal(c.intermediate_size, 3072);
  assert_int_equal(c.vocab_size, 30522);
  assert_int_equal(c.hidden_act, IR_ACT_GELU);
  fe_config_deinit(&c);

  /* transformers' attribute_map: hidden_size, num_hidden_layers, ... also work. */
  load_ok("distilbert-alias", "{\"model_type\": \"distilbert\", \"hidden_size\": 256,"
                              " \"num_hidden_layers\": 2, \"num_attention_heads\": 4,"
                              " \"n_heads\": 4}",
          &c);
  assert_int_equal(c.hidden_size, 256);
  assert_int_equal(c.num_layers, 2);
  assert_int_equal(c.num_heads, 4);
  fe_config_deinit(&c);
}

static void test_albert(void **state) {
  (void)state;
  fe_config_t c;
  load_ok("albert-defaults", "{\"model_type\": \"albert\"}", &c);
  assert_int_equal(c.arch, FE_ARCH_ALBERT);
  assert_int_equal(c.vocab_size, 30000);
  assert_int_equal(c.embedding_size, 128);
  assert_int_equal(c.hidden_size, 4096);
  assert_int_equal(c.num_layers, 12);
  assert_int_equal(c.num_heads, 64);
  assert_int_equal(c.intermediate_size, 16384);
  assert_int_equal(c.num_hidden_groups, 1);
  assert_int_equal(c.inner_group_num, 1);
  assert_int_equal(c.hidden_act, IR_ACT_GELU_TANH);
  assert_string_equal(c.hidden_act_name, "gelu_new");
  assert_int_equal(c.type_vocab_size, 2);
  assert_int_equal(c.position_padding_idx, -1);
  fe_config_deinit(&c);

  /* albert-base-v2 with two groups of two inner layers */
  load_ok("albert", "{\"model_type\": \"albert\", \"embedding_size\": 128,"
                    " \"hidden_size\": 768, \"num_attention_heads\": 12,"
                    " \"intermediate_size\": 3072, \"num_hidden_layers\": 12,"
                    " \"num_hidden_groups\": 2, \"inner_group_num\": 2,"
                    " \"hidden_act\": \"gelu_new\", \"pad_token_id\": 0,"
                    " \"architectures\": [\"AlbertForMaskedLM\"]}",
          &c);
  assert_int_equal(c.embedding_size, 128);
  assert_int_equal(c.hidden_size, 768);
  assert_int_equal(c.num_hidden_groups, 2);
  assert_int_equal(c.inner_group_num, 2);
  assert_string_equal(c.architecture, "AlbertForMaskedLM");
  fe_config_deinit(&c);
}

static void test_electra(void **state) {
  (void)state;
  fe_config_t c;
  load_ok("electra-defaults", "{\"model_type\": \"electra\"}", &c);
  assert_int_equal(c.arch, FE_ARCH_ELECTRA);
  assert_int_equal(c.vocab_size, 30522);
  assert_int_equal(c.embedding_size, 128);
  assert_int_equal(c.hidden_size, 256);
  assert_int_equal(c.num_layers, 12);
  assert_int_equal(c.num_heads, 4);
  assert_int_equal(c.intermediate_size, 1024);
  assert_int_equal(c.hidden_act, IR_ACT_GELU);
  assert_int_equal(c.num_hidden_groups, 1);
  fe_config_deinit(&c);

  load_ok("electra", "{\"model_type\": \"electra\", \"embedding_size\": 768,"
                     " \"hidden_size\": 768, \"num_attention_heads\": 12,"
                     " \"intermediate_size\": 3072,"
                     " \"architectures\": [\"ElectraForPreTraining\"]}",
          &c);
  assert_int_equal(c.embedding_size, 768);
  assert_int_equal(c.hidden_size, 768);
  assert_string_equal(c.architecture, "ElectraForPreTraining");
  fe_config_deinit(&c);
}

static void test_activations(void **state) {
  (void)state;
  static const struct {
    const char *name;
    ir_act_t act;
  } cases[] = {
      {"gelu", IR_ACT_GELU},
      {"gelu_python", IR_ACT_GELU},
      {"gelu_new", IR_ACT_GELU_TANH},
      {"gelu_pytorch_tanh", IR_ACT_GELU_TANH},
      {"gelu_accurate", IR_ACT_GELU_TANH},
      {"gelu_fast", IR_ACT_GELU_FAST},
      {"quick_gelu", IR_ACT_QUICK_GELU},
      {"relu", IR_ACT_RELU},
      {"silu", IR_ACT_SILU},
      {"swish", IR_ACT_SILU},
      {"tanh", IR_ACT_TANH},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char json[128];
    snprintf(json, sizeof json, "{\"model_type\": \"bert\", \"hidden_act\": \"%s\"}",
             cases[i].name);
    fe_config_t c;
    load_ok("act", json, &c);
    assert_int_equal(c.hidden_act, cases[i].act);
    assert_string_equal(c.hidden_act_name, cases[i].name);
    fe_config_deinit(&c);
  }
}

static void test_labels(void **state) {
  (void)state;
  fe_config_t c;
  /* Sorted by integer key, not by the order in the file or as strings. */
  load_ok("labels", "{\"model_type\": \"bert\", \"problem_type\": "
                    "\"single_label_classification\", \"id2label\": {\"2\": \"neutral\","
                    " \"10\": \"ten\", \"0\": \"negative\", \"1\": \"positive\", \"3\": \"a\","
                    " \"4\": \"b\", \"5\": \"c\", \"6\": \"d\", \"7\": \"e\", \"8\": \"f\","
                    " \"9\": \"g\"}, \"label2id\": {\"negative\": 0}, \"num_labels\": 3}",
          &c);
  assert_int_equal(c.num_labels, 11);
  assert_string_equal(c.id2label[0], "negative");
  assert_string_equal(c.id2label[1], "positive");
  assert_string_equal(c.id2label[2], "neutral");
  assert_string_equal(c.id2label[9], "g");
  assert_string_equal(c.id2label[10], "ten");
  assert_string_equal(c.problem_type, "single_label_classification");
  fe_config_deinit(&c);

  load_ok("num-labels", "{\"model_type\": \"bert\", \"num_labels\": 5,"
                        " \"problem_type\": \"regression\"}",
          &c);
  assert_int_equal(c.num_labels, 5);
  assert_string_equal(c.id2label[4], "LABEL_4");
  assert_string_equal(c.problem_type, "regression");
  fe_config_deinit(&c);

  load_ok("one-label", "{\"model_type\": \"bert\", \"id2label\": {\"0\": \"score\"}}", &c);
  assert_int_equal(c.num_labels, 1);
  assert_string_equal(c.id2label[0], "score");
  fe_config_deinit(&c);
}

static void test_minilm(void **state) {
  (void)state;
  char path[4096];
  snprintf(path, sizeof path, "%s/config.json", tu_minilm_dir());
  fe_config_t c;
  TU_ASSERT_OK(fe_config_load(path, &c));
  assert_int_equal(c.arch, FE_ARCH_BERT);
  assert_string_equal(fe_arch_name(c.arch), "bert");
  assert_string_equal(c.architecture, "BertModel");
  assert_int_equal(c.vocab_size, 30522);
  assert_int_equal(c.hidden_size, 384);
  assert_int_equal(c.num_layers, 6);
  assert_int_equal(c.num_heads, 12);
  assert_int_equal(c.intermediate_size, 1536);
  assert_int_equal(c.max_position_embeddings, 512);
  assert_int_equal(c.type_vocab_size, 2);
  assert_int_equal(c.embedding_size, 384);
  assert_int_equal(c.hidden_act, IR_ACT_GELU);
  assert_float_equal(c.layer_norm_eps, 1e-12f, 1e-20);
  assert_int_equal(c.pad_token_id, 0);
  assert_int_equal(c.position_padding_idx, -1);
  fe_config_deinit(&c);
}

static void test_arch_names(void **state) {
  (void)state;
  assert_string_equal(fe_arch_name(FE_ARCH_BERT), "bert");
  assert_string_equal(fe_arch_name(FE_ARCH_ROBERTA), "roberta");
  assert_string_equal(fe_arch_name(FE_ARCH_XLM_ROBERTA), "xlm-roberta");
  assert_string_equal(fe_arch_name(FE_ARCH_DISTILBERT), "distilbert");
  assert_string_equal(fe_arch_name(FE_ARCH_ALBERT), "albert");
  assert_string_equal(fe_arch_name(FE_ARCH_ELECTRA), "electra");
  assert_string_equal(fe_arch_name((fe_arch_t)99), "?");
}

/* Each malformed or unsupported config and the text its error must contain
 * after "config.json: ". */
static const struct {
  const char *json;
  const char *message;
} refusals[] = {
    {"{\"hidden_size\": 768}", "model_type is missing (supported: bert, roberta"},
    {"{\"model_type\": \"mpnet\"}",
     "model_type 'mpnet' is not supported (supported: bert, roberta, xlm-roberta, "
     "distilbert, albert, electra)"},
    {"{\"model_type\": 3}", "model_type must be a string, got an integer"},
    {"{\"model_type\": \"bert\", \"hidden_size\": 384, \"num_attention_heads\": 5}",
     "hidden_size 384 is not a multiple of num_attention_heads 5"},
    {"{\"model_type\": \"distilbert\", \"dim\": 100, \"n_heads\": 3}",
     "dim 100 is not a multiple of n_heads 3"},
    {"{\"model_type\": \"distilbert\", \"dim\": 768, \"hidden_size\": 384}",
     "dim 768 and hidden_size 384 disagree"},
    {"{\"model_type\": \"bert\", \"hidden_size\": \"384\"}",
     "hidden_size must be an integer, got a string"},
    {"{\"model_type\": \"bert\", \"hidden_size\": 384.0}",
     "hidden_size must be an integer, got a real number"},
    {"{\"model_type\": \"bert\", \"hidden_size\": 0}", "hidden_size 0 is out of range (1..65536)"},
    {"{\"model_type\": \"bert\", \"intermediate_size\": -4}",
     "intermediate_size -4 is out of range"},
    {"{\"model_type\": \"bert\", \"num_hidden_layers\": 5000}",
     "num_hidden_layers 5000 is out of range (1..1024)"},
    {"{\"model_type\": \"bert\", \"vocab_size\": 20000000}",
     "vocab_size 20000000 is out of range (1..10000000)"},
    {"{\"model_type\": \"bert\", \"vocab_size\": 99999999999999999999999}", "invalid JSON"},
    {"{\"model_type\": \"bert\", \"type_vocab_size\": 0}", "type_vocab_size 0 is out of range"},
    {"{\"model_type\": \"electra\", \"embedding_size\": 100000}",
     "embedding_size 100000 is out of range (1..65536)"},
    {"{\"model_type\": \"bert\", \"hidden_act\": \"mish\"}",
     "hidden_act 'mish' is not supported (supported: gelu"},
    {"{\"model_type\": \"distilbert\", \"activation\": \"gelu_10\"}",
     "activation 'gelu_10' is not supported"},
    {"{\"model_type\": \"bert\", \"hidden_act\": 1}",
     "hidden_act must be a string, got an integer"},
    {"{\"model_type\": \"bert\", \"position_embedding_type\": \"relative_key\"}",
     "position_embedding_type 'relative_key': relative position embeddings are not supported"},
    {"{\"model_type\": \"bert\", \"position_embedding_type\": \"relative_key_query\"}",
     "position_embedding_type 'relative_key_query': relative position embeddings are not "
     "supported"},
    {"{\"model_type\": \"bert\", \"position_embedding_type\": \"rotary\"}",
     "position_embedding_type 'rotary' is not supported (expected 'absolute')"},
    {"{\"model_type\": \"bert\", \"position_embedding_type\": null}",
     "position_embedding_type null (no position embeddings) is not supported"},
    {"{\"model_type\": \"bert\", \"is_decoder\": true}",
     "is_decoder is true: decoder models are not supported"},
    {"{\"model_type\": \"bert\", \"is_decoder\": \"no\"}",
     "is_decoder must be a boolean, got a string"},
    {"{\"model_type\": \"roberta\", \"add_cross_attention\": true}",
     "add_cross_attention is true: cross-attention is not supported"},
    {"{\"model_type\": \"bert\", \"pruned_heads\": {\"0\": [1, 2]}}",
     "pruned_heads: pruned attention heads are not supported"},
    {"{\"model_type\": \"bert\", \"quantization_config\": {\"bits\": 4}}",
     "quantization_config: quantized checkpoints are not supported"},
    {"{\"model_type\": \"albert\", \"num_hidden_layers\": 12, \"num_hidden_groups\": 13}",
     "num_hidden_groups 13 is more than num_hidden_layers 12"},
    {"{\"model_type\": \"albert\", \"inner_group_num\": 0}", "inner_group_num 0 is out of range"},
    {"{\"model_type\": \"bert\", \"layer_norm_eps\": \"small\"}",
     "layer_norm_eps must be a number, got a string"},
    {"{\"model_type\": \"bert\", \"layer_norm_eps\": -1e-5}",
     "layer_norm_eps -1e-05 is out of range"},
    {"{\"model_type\": \"bert\", \"vocab_size\": 100, \"pad_token_id\": 100}",
     "pad_token_id 100 is out of range (0..99)"},
    {"{\"model_type\": \"roberta\", \"max_position_embeddings\": 2, \"pad_token_id\": 1}",
     "max_position_embeddings 2 leaves no positions after the padding index 1"},
    {"{\"model_type\": \"bert\", \"architectures\": \"BertModel\"}",
     "architectures must be an array, got a string"},
    {"{\"model_type\": \"bert\", \"architectures\": [7]}",
     "architectures[0] must be a string, got an integer"},
    {"{\"model_type\": \"bert\", \"id2label\": {\"0\": \"a\", \"2\": \"b\"}}",
     "id2label key '2' is not an index in 0..1 (the keys must be 0..n-1)"},
    {"{\"model_type\": \"bert\", \"id2label\": {\"00\": \"a\"}}", "id2label key '00' is not"},
    {"{\"model_type\": \"bert\", \"id2label\": {\"-1\": \"a\"}}", "id2label key '-1' is not"},
    {"{\"model_type\": \"bert\", \"id2label\": {\"0\": 1}}",
     "id2label['0'] must be a string, got an integer"},
    {"{\"model_type\": \"bert\", \"id2label\": {}}", "id2label is empty"},
    {"{\"model_type\": \"bert\", \"id2label\": [\"a\"]}",
     "id2label must be an object, got an array"},
    {"{\"model_type\": \"bert\", \"num_labels\": 0}", "num_labels 0 is out of range (1..4096)"},
    {"{\"model_type\": \"bert\", \"problem_type\": \"ranking\"}",
     "problem_type 'ranking' is not one of regression"},
    {"[{\"model_type\": \"bert\"}]", "expected a JSON object, got an array"},
    {"{\"model_type\": \"bert\", \"hidden_size\": 768", "invalid JSON at line 1, column"},
    {"{\"model_type\": \"bert\",, }", "invalid JSON at line 1, column 23"},
    {"{\n\"model_type\": \"bert\",\n\"hidden_size\": 768,\n\"hidden_size\": 384}",
     "invalid JSON at line 4"},
    {"", "invalid JSON at line"},
};

static void test_refusals(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof refusals / sizeof refusals[0]; i++) {
    char *path = write_config("refused", refusals[i].json);
    char needle[512];
    snprintf(needle, sizeof needle, "config.json: %s", refusals[i].message);
    fe_config_t c;
    memset(&c, 0xab, sizeof c);
    TU_ASSERT_ERROR(fe_config_load(path, &c), needle);
    /* The output is cleared on every error path. */
    assert_null(c.id2label);
    assert_int_equal(c.num_labels, 0);
    fe_config_deinit(&c);
    free(path);
  }
}

static void test_missing_file(void **state) {
  (void)state;
  char *path = tu_scratch_path("config/nowhere/none.json");
  fe_config_t c;
  bertc_status_t s = fe_config_load(path, &c);
  assert_non_null(s);
  assert_int_equal(bertc_status_code(s), BERTC_STATUS_NOT_FOUND);
  assert_non_null(strstr(bertc_status_message(s), "none.json: cannot open"));
  bertc_status_free(s);
  free(path);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_bert_explicit), cmocka_unit_test(test_bert_defaults),
      cmocka_unit_test(test_roberta),       cmocka_unit_test(test_distilbert),
      cmocka_unit_test(test_albert),        cmocka_unit_test(test_electra),
      cmocka_unit_test(test_activations),   cmocka_unit_test(test_labels),
      cmocka_unit_test(test_minilm),        cmocka_unit_test(test_arch_names),
      cmocka_unit_test(test_refusals),      cmocka_unit_test(test_missing_file),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
