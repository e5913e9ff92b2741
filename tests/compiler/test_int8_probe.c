/* bertc_compile's int8 agreement probe (compiler/agreement.c), through the
 * public compiler API: a model whose agreement with fp32 is below min_cosine is
 * refused with the report and leaves no file; a malformed line of the probe
 * texts is an error naming the file and the line, before anything is
 * compiled, and leaves no file. With --keep-fp32 auto a model below the target
 * is rebuilt with its most sensitive layers in fp32 until it meets it (probe
 * texts from the user's JSON Lines file), and the metadata lists them. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bertc/bertc.h"
#include "bertc/compiler.h"
#include "tests/fixture.h"
#include "tests/testutil.h"

static bool exists(const char *path) { return access(path, F_OK) == 0; }

static bertc_status_t compile_int8_keep(const char *dir, const char *out, double min_cosine,
                                        const char *texts, const char *keep) {
  static const int64_t seqs[] = {16};
  bertc_compile_options_t o;
  bertc_compile_options_init(&o);
  o.output_path = out;
  o.precision = BERTC_PRECISION_INT8;
  o.seq_lens = seqs;
  o.num_seq_lens = 1;
  o.min_cosine = min_cosine;
  o.probe_texts = texts;
  o.keep_fp32 = keep;
  o.quiet = true;
  return bertc_compile(dir, &o);
}

static bertc_status_t compile_int8(const char *dir, const char *out, double min_cosine,
                                   const char *texts) {
  return compile_int8_keep(dir, out, min_cosine, texts, NULL);
}

static void test_probe(void **state) {
  (void)state;
  char *dir = fx_dir("bert");
  char *so = tu_scratch_path("compiled/int8-probe.so");
  char *texts = tu_scratch_path("compiled/int8-probe.jsonl");
  /* refused: no int8 model agrees with fp32 to 1e-9 */
  bertc_status_t s = compile_int8(dir, so, 1.0 - 1e-9, NULL);
  assert_non_null(s);
  assert_non_null(strstr(bertc_status_message(s), "refused"));
  assert_non_null(strstr(bertc_status_message(s), "last_hidden_state: mean cosine"));
  bertc_status_free(s);
  assert_false(exists(so));
  /* a malformed line: an error naming the file and line, no output */
  unlink(so);
  const char bad[] = "{\"text\": \"fine\"}\n[1, 2]\n";
  tu_write_file(texts, bad, sizeof bad - 1);
  s = compile_int8(dir, so, 0.9, texts);
  assert_non_null(s);
  assert_non_null(strstr(bertc_status_message(s), "int8-probe.jsonl:2"));
  bertc_status_free(s);
  assert_false(exists(so));
  free(texts);
  free(so);
  free(dir);
}

/* --keep-fp32 auto: the tiny model's int8 agreement on these two texts (pooler
 * output: mean cosine 0.99993) is below 0.99994, so layers are kept in fp32
 * until it is not (measured: one layer, the most sensitive FFN input layer,
 * gives 0.99995); the metadata lists them. */
static void test_keep_auto(void **state) {
  (void)state;
  char *dir = fx_dir("bert");
  char *so = tu_scratch_path("compiled/int8-auto.so");
  char *texts = tu_scratch_path("compiled/int8-auto.jsonl");
  /* the user's probe texts, this time */
  const char good[] = "{\"text\": \"hello world\"}\n{\"text\": \"the cat sat on the mat\"}\n";
  tu_write_file(texts, good, sizeof good - 1);
  TU_ASSERT_OK(compile_int8_keep(dir, so, 0.99994, texts, "auto"));
  bertc_model_t *model;
  TU_ASSERT_OK(bertc_model_load(so, NULL, &model));
  assert_non_null(strstr(bertc_model_metadata_json(model), "\"kept_fp32\":\""));
  bertc_model_release(model);
  free(texts);
  free(so);
  free(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_probe),
      cmocka_unit_test(test_keep_auto),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
