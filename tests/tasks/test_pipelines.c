/* `bertc run` from text against the HuggingFace pipelines.
 *
 * Every file of tests/fixtures/pipelines (scripts/make_pipeline_fixtures.py)
 * is a `--input` file whose lines carry the pipeline's answer under
 * "expected". Each is run through the fixture model compiled to a .so
 * (buckets 16, 32, 64; 48 for the sentence-transformers models, whose
 * max_seq_length is 48) and through the reference interpreter on the model
 * directory; every answer must equal the pipeline's: same labels, tokens,
 * words and spans, scores within 1e-4. all-MiniLM-L6-v2 from raw text equals
 * sentence-transformers encode() (cosine >= 0.99999), the long texts
 * truncated at 256 tokens with a note: all 43 texts compiled, the short ones
 * and the longest through the interpreter. Then the CLI's input checks and
 * error messages, and `bertc tokenize`. */
#define _GNU_SOURCE
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/driver.h"
#include "tests/fixture.h"
#include "tests/testutil.h"

#define SCORE_TOL 1e-4

/* ---- Helpers ---------------------------------------------------------------------- */

static char *fmt(const char *f, ...) BERTC_PRINTF(1, 2);
static char *fmt(const char *f, ...) {
  va_list ap, ap2;
  va_start(ap, f);
  va_copy(ap2, ap);
  int n = vsnprintf(NULL, 0, f, ap);
  va_end(ap);
  char *s = malloc((size_t)n + 1);
  vsnprintf(s, (size_t)n + 1, f, ap2);
  va_end(ap2);
  return s;
}

static const char *exe(void) {
  const char *e = getenv("BERTC_EXE");
  if (!e) fail_msg("BERTC_EXE is not set");
  return e;
}

/* A fixture model: tests/fixtures/pipelines/models/<name> (the byte-level BPE
 * heads the tiny set lacks) or tests/fixtures/tiny/<name>. */
static char *model_dir(const char *name) {
  char *rel = fmt("tests/fixtures/pipelines/models/%s/config.json", name);
  char *p = tu_source_path(rel);
  free(rel);
  FILE *f = fopen(p, "rb");
  free(p);
  if (!f) return fx_dir(name);
  fclose(f);
  rel = fmt("tests/fixtures/pipelines/models/%s", name);
  p = tu_source_path(rel);
  free(rel);
  return p;
}

/* Compiles a fixture model (once per test program); returns the .so path. */
static char *compiled(const char *name) {
  static char *done[64];
  static size_t num_done;
  char *rel = fmt("tasks/%s.so", name), *so = tu_scratch_path(rel);
  free(rel);
  for (size_t i = 0; i < num_done; i++)
    if (!strcmp(done[i], name)) return so;
  char *dir = model_dir(name);
  static const int64_t seqs[] = {16, 32, 64}, st_seqs[] = {16, 32, 48};
  driver_options_t d;
  driver_options_init(&d);
  d.quiet = true;
  d.seq_lens = strncmp(name, "st_", 3) ? seqs : st_seqs;
  d.num_seq_lens = 3;
  TU_ASSERT_OK(driver_compile(dir, &d, so));
  free(dir);
  if (num_done < 64) done[num_done++] = strdup(name);
  return so;
}

/* Equal JSON, numbers within tol; describes the first difference in `why`. */
static bool json_close(const json_t *want, const json_t *got, double tol, char *why, size_t cap,
                       const char *path) {
  char sub[256];
  if (json_is_number(want) && json_is_number(got)) {
    double a = json_number_value(want), b = json_number_value(got);
    if (json_is_integer(want) && json_is_integer(got) ? a == b : fabs(a - b) <= tol) return true;
    snprintf(why, cap, "%s: expected %.9g, got %.9g", path, a, b);
    return false;
  }
  if (json_typeof(want) != json_typeof(got)) {
    snprintf(why, cap, "%s: expected a JSON %d, got %d", path, json_typeof(want), json_typeof(got));
    return false;
  }
  if (json_is_string(want)) {
    if (!strcmp(json_string_value(want), json_string_value(got))) return true;
    snprintf(why, cap, "%s: expected \"%s\", got \"%s\"", path, json_string_value(want),
             json_string_value(got));
    return false;
  }
  if (json_is_array(want)) {
    if (json_array_size(want) != json_array_size(got)) {
      snprintf(why, cap, "%s: expected %zu entries, got %zu", path, json_array_size(want),
               json_array_size(got));
      return false;
    }
    for (size_t i = 0; i < json_array_size(want); i++) {
      snprintf(sub, sizeof sub, "%s[%zu]", path, i);
      if (!json_close(json_array_get(want, i), json_array_get(got, i), tol, why, cap, sub))
        return false;
    }
    return true;
  }
  if (json_is_object(want)) {
    if (json_object_size(want) != json_object_size(got)) {
      snprintf(why, cap, "%s: expected %zu keys, got %zu", path, json_object_size(want),
               json_object_size(got));
      return false;
    }
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)want, k, v) {
      snprintf(sub, sizeof sub, "%s.%s", path, k);
      json_t *g = json_object_get(got, k);
      if (!g) {
        snprintf(why, cap, "%s: missing", sub);
        return false;
      }
      if (!json_close(v, g, tol, why, cap, sub)) return false;
    }
    return true;
  }
  return json_equal(want, got);
}

/* The "expected" of every line of a fixture file. */
static json_t *expected_lines(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) fail_msg("cannot open %s", path);
  json_t *all = json_array();
  char *line = NULL;
  size_t cap = 0;
  while (getline(&line, &cap, f) > 0) {
    json_error_t err;
    json_t *o = json_loads(line, 0, &err);
    if (!o) fail_msg("%s: %s", path, err.text);
    json_array_append(all, json_object_get(o, "expected"));
    json_decref(o);
  }
  free(line);
  fclose(f);
  return all;
}

/* Runs `bertc run MODEL --input FILE ARGS` and checks every answer. */
static void check_run(const char *model, const char *file, const char *args, const char *what) {
  char *cmd = fmt("'%s' run '%s' --input '%s' %s", exe(), model, file, args);
  char *out = NULL, *err = NULL;
  int rc = tu_run(cmd, &out, &err);
  if (rc != 0) fail_msg("%s: exit %d: %s", cmd, rc, err);
  json_t *want = expected_lines(file);
  size_t n = 0;
  char why[512];
  for (char *p = out, *nl; *p; p = nl + 1, n++) {
    nl = strchr(p, '\n');
    if (!nl) fail_msg("%s: unterminated output line", what);
    *nl = '\0';
    json_error_t e;
    json_t *got = json_loads(p, 0, &e);
    if (!got) fail_msg("%s: line %zu is not JSON (%s): %s", what, n + 1, e.text, p);
    if (n >= json_array_size(want)) fail_msg("%s: more output lines than inputs", what);
    if (!json_close(json_array_get(want, n), got, SCORE_TOL, why, sizeof why, "answer"))
      fail_msg("%s, input %zu: %s\n  got: %s", what, n + 1, why, p);
    json_decref(got);
  }
  if (n != json_array_size(want))
    fail_msg("%s: %zu answers for %zu inputs", what, n, json_array_size(want));
  json_decref(want);
  free(cmd);
  free(out);
  free(err);
}

/* Checks one fixture file through the .so and through the interpreter. */
static void check_fixture(const char *file, const char *model, const char *args) {
  char *rel = fmt("tests/fixtures/pipelines/%s.jsonl", file);
  char *path = tu_source_path(rel);
  free(rel);
  char *so = compiled(model), *dir = model_dir(model);
  char *what = fmt("%s (compiled)", file);
  check_run(so, path, args, what);
  free(what);
  what = fmt("%s (interpreter)", file);
  check_run(dir, path, args, what);
  free(what);
  free(path);
  free(so);
  free(dir);
}

/* ---- Heads against the pipelines ---------------------------------------------------- */

static void test_fill_mask(void **state) {
  (void)state;
  static const char *const models[] = {"bert_mlm", "roberta_mlm", "distilbert_mlm", "electra_mlm"};
  for (size_t i = 0; i < sizeof models / sizeof *models; i++) {
    char *f = fmt("%s.fill-mask", models[i]);
    check_fixture(f, models[i], "");
    free(f);
  }
}

static void test_text_classification(void **state) {
  (void)state;
  static const char *const models[] = {"bert_seqcls",    "bert_multilabel",   "bert_regression",
                                       "roberta_seqcls", "distilbert_seqcls", "electra_seqcls"};
  for (size_t i = 0; i < sizeof models / sizeof *models; i++) {
    char *f = fmt("%s.text-classification", models[i]);
    check_fixture(f, models[i], "");
    free(f);
  }
}

static void test_token_classification(void **state) {
  (void)state;
  static const char *const models[] = {"bert_tokcls", "distilbert_tokcls", "roberta_tokcls"};
  static const char *const aggs[] = {"none", "simple", "first", "average", "max"};
  for (size_t i = 0; i < 3; i++)
    for (size_t a = 0; a < 5; a++) {
      char *f = fmt("%s.token-classification.%s", models[i], aggs[a]);
      char *args = fmt("--aggregation %s", aggs[a]);
      check_fixture(f, models[i], args);
      free(f);
      free(args);
    }
}

static void test_question_answering(void **state) {
  (void)state;
  static const char *const models[] = {"bert_qa", "distilbert_qa", "roberta_qa"};
  for (size_t i = 0; i < 3; i++) {
    char *f = fmt("%s.question-answering", models[i]);
    check_fixture(f, models[i], "");
    free(f);
    f = fmt("%s.question-answering.top3", models[i]);
    check_fixture(f, models[i], "--top-k 3");
    free(f);
  }
}

static void test_next_sentence(void **state) {
  (void)state;
  check_fixture("bert_nsp.next-sentence", "bert_nsp", "");
}

static void test_embedding(void **state) {
  (void)state;
  static const char *const models[] = {"st_mean", "st_cls", "st_max", "st_mean_sqrt"};
  for (size_t i = 0; i < 4; i++) {
    char *f = fmt("%s.embedding", models[i]);
    check_fixture(f, models[i], "");
    free(f);
  }
}

/* ---- all-MiniLM-L6-v2 from raw text ------------------------------------------------- */

static double cosine(const json_t *a, const json_t *b) {
  double ab = 0, aa = 0, bb = 0;
  for (size_t i = 0; i < json_array_size(a); i++) {
    double x = json_number_value(json_array_get(a, i)), y = json_number_value(json_array_get(b, i));
    ab += x * y;
    aa += x * x;
    bb += y * y;
  }
  return ab / sqrt(aa * bb);
}

static void check_minilm(const char *model, const char *file, size_t expect_truncated) {
  char *cmd = fmt("'%s' run '%s' --input '%s'", exe(), model, file);
  char *out = NULL, *err = NULL;
  int rc = tu_run(cmd, &out, &err);
  if (rc != 0) fail_msg("%s: exit %d: %s", cmd, rc, err);
  json_t *want = expected_lines(file);
  size_t n = 0;
  double worst = 1;
  for (char *p = out, *nl; (nl = strchr(p, '\n')); p = nl + 1, n++) {
    *nl = '\0';
    json_t *got = json_loads(p, 0, NULL);
    assert_non_null(got);
    json_t *e = json_object_get(json_array_get(want, n), "embedding");
    json_t *g = json_object_get(got, "embedding");
    assert_int_equal(json_array_size(g), 384);
    double c = cosine(e, g);
    if (c < worst) worst = c;
    if (c < 0.99999)
      fail_msg("%s: input %zu: cosine %.7f with sentence-transformers", model, n + 1, c);
    json_decref(got);
  }
  assert_int_equal(n, json_array_size(want));
  size_t notes = 0;
  for (const char *p = err; (p = strstr(p, "truncated to 256 tokens")); p++)
    notes++;
  assert_int_equal(notes, expect_truncated);
  print_message("%s: %zu texts, worst cosine %.8f\n", model, n, worst);
  json_decref(want);
  free(cmd);
  free(out);
  free(err);
}

static void test_minilm(void **state) {
  (void)state;
  const char *dir = tu_minilm_dir();
  char *so = tu_scratch_path("tasks/minilm.so");
  static const int64_t seqs[] = {32, 128, 256};
  driver_options_t d;
  driver_options_init(&d);
  d.quiet = true;
  d.seq_lens = seqs;
  d.num_seq_lens = 3;
  TU_ASSERT_OK(driver_compile(dir, &d, so));
  char *file = tu_source_path("tests/fixtures/pipelines/minilm.embedding.jsonl");
  check_minilm(so, file, 2);
  /* The interpreter is slow: the short texts and the longest one (cut at 256). */
  char *subset = tu_scratch_path("tasks/minilm-subset.jsonl");
  FILE *in = fopen(file, "rb"), *out = fopen(subset, "wb");
  assert_non_null(in);
  assert_non_null(out);
  char *line = NULL;
  size_t cap = 0;
  ssize_t len;
  while ((len = getline(&line, &cap, in)) > 0) {
    json_t *o = json_loads(line, 0, NULL);
    size_t chars = strlen(json_string_value(json_object_get(o, "text")));
    if (chars < 120 || chars > 5000) fwrite(line, 1, (size_t)len, out);
    json_decref(o);
  }
  free(line);
  fclose(in);
  fclose(out);
  check_minilm(dir, subset, 1);
  free(subset);
  free(file);
  free(so);
}

/* ---- The CLI's checks and messages -------------------------------------------------- */

/* Runs a command; checks its exit code and that stderr contains `needle`. */
static char *expect(int want_rc, const char *needle, const char *cmd) {
  char *out = NULL, *err = NULL;
  int rc = tu_run(cmd, &out, &err);
  if (rc != want_rc) fail_msg("%s: exit %d, expected %d\nstderr: %s", cmd, rc, want_rc, err);
  if (needle && !strstr(err, needle)) fail_msg("%s: stderr lacks '%s':\n%s", cmd, needle, err);
  if (!needle && *err) fail_msg("%s: unexpected stderr:\n%s", cmd, err);
  free(err);
  return out;
}

static void test_cli_errors(void **state) {
  (void)state;
  char *mlm = compiled("bert_mlm"), *cls = compiled("bert_seqcls"), *nsp = compiled("bert_nsp");
  char *tok = compiled("bert_tokcls"), *qa = compiled("bert_qa");
  char *c;
  /* a text without a mask, after one with: the first answer is printed */
  c = fmt("'%s' run '%s' --text 'a [MASK] b' --text 'no mask here'", exe(), mlm);
  char *out = expect(1, "input 2: no mask token ([MASK]) in the input", c);
  assert_non_null(strstr(out, "\"mask\":"));
  assert_null(strchr(strchr(out, '\n') + 1, '\n'));
  free(out);
  free(c);
  c = fmt("'%s' run '%s' --text 'only one sentence'", exe(), nsp);
  free(expect(1, "next-sentence prediction needs two texts", c));
  free(c);
  c = fmt("'%s' run '%s' --text 'a' --pair 'b'", exe(), tok);
  free(expect(1, "token classification takes one text, not a pair", c));
  free(c);
  c = fmt("'%s' run '%s' --text 'where?'", exe(), qa);
  free(expect(1, "question answering needs a question and a context", c));
  free(c);
  c = fmt("'%s' run '%s' --text 'a' --task fill-mask", exe(), cls);
  free(expect(1, "was compiled for task sequence-classification", c));
  free(c);
  c = fmt("'%s' run '%s' --text 'a' --aggregation mean", exe(), tok);
  free(expect(2, "--aggregation wants none, simple, first, average or max", c));
  free(c);
  c = fmt("'%s' run '%s' --pair 'b'", exe(), nsp);
  free(expect(2, "--pair must follow the --text", c));
  free(c);
  c = fmt("'%s' run '%s' --text a --ids 1,2", exe(), cls);
  free(expect(2, "not both", c));
  free(c);
  /* question so long that the default stride has to adapt; an explicit one is refused */
  c = fmt("'%s' run '%s' --question \"$(printf 'why is the sky blue %%.0s' $(seq 8))\" "
          "--context \"$(printf 'the sky is blue. %%.0s' $(seq 20))\"",
          exe(), qa);
  free(expect(0, NULL, c));
  free(c);
  c = fmt("'%s' run '%s' --doc-stride 32 --question \"$(printf 'why is the sky blue %%.0s' "
          "$(seq 8))\" --context \"$(printf 'the sky is blue. %%.0s' $(seq 20))\"",
          exe(), qa);
  free(expect(1, "not more than the doc stride 32", c));
  free(c);
  /* JSON Lines errors name the file and line */
  char *bad = tu_scratch_path("tasks/bad.jsonl");
  const char *lines = "{\"text\": \"fine\"}\n\n{\"txt\": \"typo\"}\n";
  tu_write_file(bad, lines, strlen(lines));
  c = fmt("'%s' run '%s' --input '%s'", exe(), cls, bad);
  char *needle = fmt("%s:3: expected a string \"text\"", bad);
  free(expect(1, needle, c));
  free(needle);
  free(c);
  lines = "{\"question\": \"q\", \"text\": \"t\"}\n";
  tu_write_file(bad, lines, strlen(lines));
  c = fmt("'%s' run '%s' --input '%s'", exe(), qa, bad);
  free(expect(1, ":1: give \"text\" (and \"text_pair\") or \"question\" and \"context\"", c));
  free(c);
  /* a model without tokenizer files takes token ids only */
  char *albert = compiled("albert");
  c = fmt("'%s' run '%s' --text 'hello'", exe(), albert);
  free(expect(1, "carries no tokenizer", c));
  free(c);
  c = fmt("'%s' run '%s' --ids 2,10,3", exe(), albert);
  free(expect(0, NULL, c));
  free(c);
  free(albert);
  free(bad);
  free(mlm);
  free(cls);
  free(nsp);
  free(tok);
  free(qa);
}

/* --raw / --task encoder print the output tensors; --ids of the same tokens
 * print the same thing. Labels come sorted; --top-k cuts them. */
static void test_cli_raw_and_options(void **state) {
  (void)state;
  char *cls = compiled("bert_seqcls"), *dir = fx_dir("bert_seqcls");
  char *c = fmt("'%s' run '%s' --text 'i like green tea .' --raw", exe(), cls);
  char *raw = expect(0, NULL, c);
  free(c);
  c = fmt("'%s' tokenize '%s' --text 'i like green tea .'", exe(), cls);
  char *tok = expect(0, NULL, c);
  free(c);
  json_t *t = json_loads(tok, 0, NULL);
  assert_non_null(t);
  json_t *ids = json_object_get(t, "ids");
  char list[256] = "";
  for (size_t i = 0; i < json_array_size(ids); i++)
    snprintf(list + strlen(list), sizeof list - strlen(list), "%s%lld", i ? "," : "",
             (long long)json_integer_value(json_array_get(ids, i)));
  c = fmt("'%s' run '%s' --ids %s", exe(), cls, list);
  char *by_ids = expect(0, NULL, c);
  free(c);
  assert_string_equal(raw, by_ids);
  assert_non_null(strstr(raw, "{\"logits\":["));
  c = fmt("'%s' run '%s' --text 'i like green tea .' --task encoder", exe(), dir);
  char *enc = expect(0, NULL, c);
  free(c);
  assert_non_null(strstr(enc, "\"last_hidden_state\":"));
  c = fmt("'%s' run '%s' --text 'i like green tea .' --top-k 1 --function sigmoid", exe(), cls);
  char *top = expect(0, NULL, c);
  free(c);
  json_t *o = json_loads(top, 0, NULL);
  assert_int_equal(json_array_size(json_object_get(o, "scores")), 1);
  double sc = json_number_value(json_object_get(o, "score"));
  assert_true(sc > 0 && sc < 1);
  json_decref(o);
  json_decref(t);
  free(top);
  free(enc);
  free(tok);
  free(raw);
  free(by_ids);
  free(cls);
  free(dir);
}

/* `bertc tokenize`: the tokenizer's output in JSON, truncation as run does it,
 * QA windows as run makes them. */
static void test_tokenize(void **state) {
  (void)state;
  char *mlm = compiled("bert_mlm"), *dir = fx_dir("bert_mlm");
  const char *want =
      "{\"ids\":[2,214,61,3,316,54,3],\"tokens\":[\"[CLS]\",\"where\",\"?\",\"[SEP]\","
      "\"here\",\".\",\"[SEP]\"],\"type_ids\":[0,0,0,0,1,1,1],\"offsets\":[[0,0],[0,5],[5,6],"
      "[0,0],[0,4],[4,5],[0,0]]}\n";
  const char *models[] = {mlm, dir};
  for (int i = 0; i < 2; i++) {
    char *c = fmt("'%s' tokenize '%s' --text 'Where?' --pair 'Here.'", exe(), models[i]);
    char *out = expect(0, NULL, c);
    assert_string_equal(out, want);
    free(out);
    free(c);
  }
  char *long_text = NULL;
  size_t n = 0;
  FILE *m = open_memstream(&long_text, &n);
  for (int i = 0; i < 80; i++)
    fputs("tea ", m);
  fclose(m);
  char *c = fmt("'%s' tokenize '%s' --text '%s'", exe(), mlm, long_text);
  char *out = expect(0, "input 1 truncated to 64 tokens (the model's max_seq_length)", c);
  json_t *o = json_loads(out, 0, NULL);
  assert_int_equal(json_array_size(json_object_get(o, "ids")), 64);
  json_decref(o);
  free(out);
  free(c);
  /* a .so compiled with smaller buckets truncates to its largest one */
  char *small = tu_scratch_path("tasks/bert_mlm_small.so");
  static const int64_t seqs[] = {8, 16};
  driver_options_t d;
  driver_options_init(&d);
  d.quiet = true;
  d.seq_lens = seqs;
  d.num_seq_lens = 2;
  TU_ASSERT_OK(driver_compile(dir, &d, small));
  c = fmt("'%s' run '%s' --text 'a [MASK]' --text '%s [MASK]'", exe(), small, long_text);
  char *err = NULL;
  assert_int_equal(tu_run(c, &out, &err), 1);
  assert_non_null(strstr(err, "input 2 truncated to 16 tokens (the largest compiled bucket; the "
                              "model takes 64)"));
  assert_non_null(strstr(err, "input 2: no mask token ([MASK]) in the input after truncation"));
  assert_non_null(strstr(out, "{\"mask\":[{"));
  assert_int_equal(strchr(out, '\n') - out + 1, strlen(out)); /* one answer, input 1's */
  free(err);
  free(out);
  free(c);
  /* QA windows: as many as the pipeline made */
  char *qa = compiled("bert_qa");
  char *file = tu_source_path("tests/fixtures/pipelines/bert_qa.question-answering.jsonl");
  c = fmt("'%s' tokenize '%s' --input '%s'", exe(), qa, file);
  out = expect(0, NULL, c);
  json_t *want_lines = expected_lines(file);
  FILE *f = fopen(file, "rb");
  char *line = NULL;
  size_t cap = 0;
  char *p = out;
  while (getline(&line, &cap, f) > 0) {
    json_t *in = json_loads(line, 0, NULL);
    char *nl = strchr(p, '\n');
    assert_non_null(nl);
    *nl = '\0';
    json_t *got = json_loads(p, 0, NULL);
    json_t *w = json_object_get(got, "windows");
    assert_int_equal(json_array_size(w), json_integer_value(json_object_get(in, "windows")));
    for (size_t k = 0; k < json_array_size(w); k++)
      assert_true(json_array_size(json_object_get(json_array_get(w, k), "ids")) <= 64);
    json_decref(got);
    json_decref(in);
    p = nl + 1;
  }
  free(line);
  fclose(f);
  json_decref(want_lines);
  free(out);
  free(c);
  free(file);
  free(qa);
  free(small);
  free(long_text);
  free(mlm);
  free(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fill_mask),
      cmocka_unit_test(test_text_classification),
      cmocka_unit_test(test_token_classification),
      cmocka_unit_test(test_question_answering),
      cmocka_unit_test(test_next_sentence),
      cmocka_unit_test(test_embedding),
      cmocka_unit_test(test_cli_errors),
      cmocka_unit_test(test_cli_raw_and_options),
      cmocka_unit_test(test_tokenize),
      cmocka_unit_test(test_minilm),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
