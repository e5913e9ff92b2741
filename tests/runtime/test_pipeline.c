/* Pipelines against the HuggingFace pipelines.
 *
 * Every file of tests/fixtures/pipelines (scripts/make_pipeline_fixtures.py)
 * is a `--input` file whose lines carry the pipeline's answer under
 * "expected". Through the public API (bertc/tasks.h) on a compiled fixture,
 * fill-mask and question answering give those answers both as typed results
 * and as JSON, batched over several engine runs. Through `bertc run`, each
 * file is run through the fixture model compiled to a .so (buckets 16, 32,
 * 64; 48 for the sentence-transformers models, whose max_seq_length is 48)
 * and through the reference interpreter on the model directory; every
 * answer must equal the pipeline's: same labels, tokens, words and spans,
 * scores within 1e-4. all-MiniLM-L6-v2 from raw text equals
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
#include "bertc/bertc.h"
#include "bertc/tasks.h"
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
 * heads the tiny set lacks, XLM-R and ALBERT on SentencePiece Unigram
 * tokenizers) or tests/fixtures/tiny/<name>. */
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
  char *rel = fmt("pipeline/%s.so", name), *so = tu_scratch_path(rel);
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

/* ---- The public API against the pipelines ------------------------------------------- */

typedef struct api {
  bertc_model_t *model;
  bertc_context_t *context;
  bertc_pipeline_t *pipeline;
} api_t;

/* A pipeline over a compiled fixture, in runs of at most 4 sequences. */
static void api_open(const char *name, const bertc_pipeline_options_t *o, api_t *a) {
  char *so = compiled(name);
  TU_ASSERT_OK(bertc_model_load(so, NULL, &a->model));
  bertc_context_options_t co;
  bertc_context_options_init(&co);
  co.max_batch = 4;
  TU_ASSERT_OK(bertc_context_create(a->model, &co, &a->context));
  TU_ASSERT_OK(bertc_pipeline_create_from_context(a->context, o, &a->pipeline));
  free(so);
}

static void api_close(api_t *a) {
  bertc_pipeline_release(a->pipeline);
  bertc_context_release(a->context);
  bertc_model_release(a->model);
}

/* A fixture file's lines: their inputs (pointing into the lines) and answers. */
typedef struct lines {
  size_t count;
  json_t *all;
  bertc_pipeline_input_t *inputs;
} lines_t;

static void lines_read(const char *file, lines_t *l) {
  char *rel = fmt("tests/fixtures/pipelines/%s.jsonl", file), *path = tu_source_path(rel);
  FILE *f = fopen(path, "rb");
  if (!f) fail_msg("cannot open %s", path);
  l->all = json_array();
  char *line = NULL;
  size_t cap = 0;
  while (getline(&line, &cap, f) > 0)
    json_array_append_new(l->all, json_loads(line, 0, NULL));
  l->count = json_array_size(l->all);
  l->inputs = calloc(l->count, sizeof *l->inputs);
  for (size_t i = 0; i < l->count; i++) {
    json_t *o = json_array_get(l->all, i);
    json_t *a = json_object_get(o, "text"), *b = json_object_get(o, "text_pair");
    if (!a) {
      a = json_object_get(o, "question");
      b = json_object_get(o, "context");
    }
    l->inputs[i] = (bertc_pipeline_input_t){json_string_value(a), json_string_length(a),
                                            b ? json_string_value(b) : NULL,
                                            b ? json_string_length(b) : 0, NULL};
  }
  free(line);
  fclose(f);
  free(path);
  free(rel);
}

static void lines_free(lines_t *l) {
  json_decref(l->all);
  free(l->inputs);
}

static const json_t *expected_at(const lines_t *l, size_t i) {
  return json_object_get(json_array_get(l->all, i), "expected");
}

static void check_close(const char *what, size_t i, const json_t *want, const json_t *got) {
  char why[512];
  if (!json_close(want, got, SCORE_TOL, why, sizeof why, "answer"))
    fail_msg("%s, input %zu: %s", what, i + 1, why);
}

/* What run_json delivered, checked against bertc_answer_json's texts. */
typedef struct delivered {
  char **texts;
  size_t next, truncated;
} delivered_t;

static bertc_status_t on_answer(void *user, size_t index, const char *json, size_t length) {
  delivered_t *d = user;
  assert_int_equal(index, d->next++);
  assert_int_equal(length, strlen(json));
  assert_string_equal(json, d->texts[index]);
  return BERTC_OK;
}

static void on_truncated(void *user, size_t index) {
  (void)index;
  ((delivered_t *)user)->truncated++;
}

/* The JSON of every answer equals the pipeline's, and bertc_pipeline_run_json
 * delivers the same texts in order. Returns how many inputs were truncated. */
static size_t check_json(const char *what, const api_t *a, const lines_t *l,
                         const bertc_answer_t *answers) {
  delivered_t d = {calloc(l->count, sizeof(char *)), 0, 0};
  for (size_t i = 0; i < l->count; i++) {
    TU_ASSERT_OK(bertc_answer_json(a->pipeline, &answers[i], &d.texts[i]));
    json_t *got = json_loads(d.texts[i], 0, NULL);
    if (!got) fail_msg("%s, input %zu: not JSON: %s", what, i + 1, d.texts[i]);
    check_close(what, i, expected_at(l, i), got);
    json_decref(got);
  }
  bertc_answer_sink_t sink = {on_answer, on_truncated, &d};
  TU_ASSERT_OK(bertc_pipeline_run_json(a->pipeline, l->inputs, l->count, &sink));
  assert_int_equal(d.next, l->count);
  for (size_t i = 0; i < l->count; i++)
    free(d.texts[i]);
  free(d.texts);
  return d.truncated;
}

/* Typed fill-mask candidates against the pipeline's list. */
static void check_candidates(const char *what, size_t i, const bertc_mask_fill_t *m,
                             const json_t *want) {
  if ((size_t)m->count != json_array_size(want))
    fail_msg("%s, input %zu: %d candidates, expected %zu", what, i + 1, m->count,
             json_array_size(want));
  for (int32_t c = 0; c < m->count; c++) {
    const json_t *w = json_array_get(want, (size_t)c);
    const bertc_fill_candidate_t *k = &m->candidates[c];
    assert_int_equal(k->token, json_integer_value(json_object_get(w, "token")));
    assert_string_equal(k->token_str, json_string_value(json_object_get(w, "token_str")));
    assert_string_equal(k->sequence, json_string_value(json_object_get(w, "sequence")));
    assert_float_equal(k->score, json_number_value(json_object_get(w, "score")), SCORE_TOL);
  }
}

/* Releases what a check_api_* test used. */
static void check_api_end(api_t *a, lines_t *l, bertc_answer_t *answers, char *file) {
  for (size_t i = 0; i < l->count; i++)
    bertc_answer_deinit(&answers[i]);
  free(answers);
  lines_free(l);
  api_close(a);
  free(file);
}

static void check_api_fill_mask(const char *name) {
  char *file = fmt("%s.fill-mask", name);
  api_t a;
  api_open(name, NULL, &a);
  assert_int_equal(bertc_pipeline_task(a.pipeline), BERTC_TASK_FILL_MASK);
  lines_t l;
  lines_read(file, &l);
  bertc_answer_t *answers = calloc(l.count, sizeof *answers);
  TU_ASSERT_OK(bertc_pipeline_run(a.pipeline, l.inputs, l.count, answers));
  size_t truncated = 0;
  for (size_t i = 0; i < l.count; i++) {
    const bertc_answer_t *r = &answers[i];
    const json_t *want = json_object_get(expected_at(&l, i), "mask");
    assert_int_equal(r->task, BERTC_TASK_FILL_MASK);
    assert_false(r->has_is_next);
    truncated += r->truncated;
    if (r->fill_mask.num_masks == 1) {
      check_candidates(file, i, &r->fill_mask.masks[0], want);
      continue;
    }
    assert_int_equal(r->fill_mask.num_masks, json_array_size(want));
    for (int32_t m = 0; m < r->fill_mask.num_masks; m++)
      check_candidates(file, i, &r->fill_mask.masks[m], json_array_get(want, (size_t)m));
  }
  assert_int_equal(check_json(file, &a, &l, answers), truncated);
  /* one input: the same candidates */
  bertc_fill_mask_t fm;
  TU_ASSERT_OK(
      bertc_pipeline_fill_mask(a.pipeline, l.inputs[0].text, l.inputs[0].text_length, &fm));
  check_candidates(file, 0, &fm.masks[0], json_object_get(expected_at(&l, 0), "mask"));
  bertc_fill_mask_deinit(&fm);
  check_api_end(&a, &l, answers, file);
}

static void test_api_fill_mask(void **state) {
  (void)state;
  check_api_fill_mask("bert_mlm");
  check_api_fill_mask("roberta_mlm");
}

static void check_qa_answer(const char *what, size_t i, const bertc_qa_answer_t *a,
                            const json_t *want) {
  if (strcmp(a->answer, json_string_value(json_object_get(want, "answer"))))
    fail_msg("%s, input %zu: answer '%s', expected '%s'", what, i + 1, a->answer,
             json_string_value(json_object_get(want, "answer")));
  assert_int_equal(a->start, json_integer_value(json_object_get(want, "start")));
  assert_int_equal(a->end, json_integer_value(json_object_get(want, "end")));
  assert_float_equal(a->score, json_number_value(json_object_get(want, "score")), SCORE_TOL);
}

static void check_api_qa(const char *name, int32_t top_k) {
  char *file = fmt("%s.question-answering%s", name, top_k > 1 ? ".top3" : "");
  bertc_pipeline_options_t o;
  bertc_pipeline_options_init(&o);
  o.top_k = top_k;
  api_t a;
  api_open(name, &o, &a);
  lines_t l;
  lines_read(file, &l);
  bertc_answer_t *answers = calloc(l.count, sizeof *answers);
  TU_ASSERT_OK(bertc_pipeline_run(a.pipeline, l.inputs, l.count, answers));
  for (size_t i = 0; i < l.count; i++) {
    const bertc_qa_answers_t *r = &answers[i].answers;
    const json_t *want = expected_at(&l, i), *list = json_object_get(want, "answers");
    assert_int_equal(answers[i].task, BERTC_TASK_QUESTION_ANSWERING);
    if (!list) {
      assert_int_equal(r->count, 1);
      check_qa_answer(file, i, &r->items[0], want);
      continue;
    }
    assert_int_equal(r->count, json_array_size(list));
    for (int32_t k = 0; k < r->count; k++)
      check_qa_answer(file, i, &r->items[k], json_array_get(list, (size_t)k));
  }
  assert_int_equal(check_json(file, &a, &l, answers), 0); /* contexts are windowed, not cut */
  /* one input: the same answers */
  bertc_qa_answers_t qa;
  const bertc_pipeline_input_t *in = &l.inputs[l.count - 1];
  TU_ASSERT_OK(bertc_pipeline_question_answering(a.pipeline, in->text, in->text_length,
                                                 in->text_pair, in->pair_length, &qa));
  assert_int_equal(qa.count, answers[l.count - 1].answers.count);
  for (int32_t k = 0; k < qa.count; k++)
    assert_string_equal(qa.items[k].answer, answers[l.count - 1].answers.items[k].answer);
  bertc_qa_answers_deinit(&qa);
  check_api_end(&a, &l, answers, file);
}

static void test_api_question_answering(void **state) {
  (void)state;
  static const char *const models[] = {"bert_qa", "distilbert_qa", "roberta_qa"};
  for (size_t i = 0; i < 3; i++) {
    check_api_qa(models[i], 0);
    check_api_qa(models[i], 3);
  }
}

static bertc_status_t collect(void *user, size_t index, const char *json, size_t length) {
  (void)length;
  char **out = user;
  out[index] = strdup(json);
  return BERTC_OK;
}

/* A refused input: its error names it; run_json delivers the answers before
 * it first, run zeroes every answer. The one-input calls check the task. */
static void test_api_errors(void **state) {
  (void)state;
  api_t a;
  api_open("bert_mlm", NULL, &a);
  bertc_pipeline_input_t in[3] = {{"a [MASK] b", 10, NULL, 0, NULL},
                                  {"no mask here", 12, NULL, 0, "line 7"},
                                  {"c [MASK]", 8, NULL, 0, NULL}};
  bertc_answer_t answers[3];
  TU_ASSERT_ERROR(bertc_pipeline_run(a.pipeline, in, 3, answers),
                  "line 7: no mask token ([MASK]) in the input");
  assert_int_equal(answers[0].fill_mask.num_masks, 0);
  char *texts[3] = {NULL, NULL, NULL};
  bertc_answer_sink_t sink = {collect, NULL, texts};
  TU_ASSERT_ERROR(bertc_pipeline_run_json(a.pipeline, in, 3, &sink), "line 7: no mask token");
  assert_non_null(texts[0]);
  assert_non_null(strstr(texts[0], "{\"mask\":[{\"token\":"));
  assert_null(texts[1]);
  assert_null(texts[2]);
  free(texts[0]);
  in[1].name = NULL;
  TU_ASSERT_ERROR(bertc_pipeline_run(a.pipeline, in, 3, answers), "input 2: no mask token");
  bertc_qa_answers_t qa;
  TU_ASSERT_ERROR(bertc_pipeline_question_answering(a.pipeline, "q", 1, "c", 1, &qa),
                  "the pipeline answers fill-mask");
  assert_int_equal(qa.count, 0);
  bertc_labels_t labels;
  TU_ASSERT_ERROR(bertc_pipeline_classify(a.pipeline, "a", 1, NULL, 0, &labels),
                  "the pipeline answers fill-mask");
  assert_null(bertc_pipeline_label(a.pipeline, -1));
  assert_null(bertc_pipeline_label(a.pipeline, bertc_pipeline_num_labels(a.pipeline)));
  assert_int_equal(bertc_pipeline_max_seq_length(a.pipeline), 64);
  bertc_features_t f;
  TU_ASSERT_OK(bertc_pipeline_encode(a.pipeline, &in[0], &f));
  assert_int_equal(f.count, 1);
  assert_false(f.windows);
  assert_string_equal(f.sequences[0].tokens[0], "[CLS]");
  char *json = NULL;
  TU_ASSERT_OK(bertc_features_json(&f, &json));
  assert_non_null(strstr(json, "\"tokens\":[\"[CLS]\",\"a\",\"[MASK]\""));
  free(json);
  bertc_features_deinit(&f);
  api_close(&a);
  /* a metadata without a task, an engine without functions */
  bertc_pipeline_t *p = NULL;
  bertc_tokenizer_t *tok = NULL;
  char *dir = fx_dir("bert_mlm");
  TU_ASSERT_OK(bertc_tokenizer_create_from_dir(dir, 0, &tok));
  TU_ASSERT_ERROR(bertc_pipeline_create(NULL, "{}", tok, NULL, &p), "unknown task '(missing)'");
  assert_null(p);
  TU_ASSERT_ERROR(bertc_pipeline_create(NULL, "{", tok, NULL, &p), "invalid JSON");
  bertc_engine_t none;
  memset(&none, 0, sizeof none);
  TU_ASSERT_ERROR(bertc_pipeline_create(&none, "{\"task\": \"fill-mask\"}", tok, NULL, &p),
                  "the engine lacks");
  TU_ASSERT_OK(bertc_pipeline_create(NULL, "{\"task\": \"fill-mask\"}", tok, NULL, &p));
  TU_ASSERT_ERROR(bertc_pipeline_run(p, in, 1, answers), "no engine");
  bertc_pipeline_release(p);
  bertc_tokenizer_release(tok);
  free(dir);
}

/* ---- Heads against the pipelines ---------------------------------------------------- */

static void test_fill_mask(void **state) {
  (void)state;
  /* xlmr_mlm carries tokenizer.json, albert_sp_mlm spiece.model alone */
  static const char *const models[] = {"bert_mlm",    "roberta_mlm", "distilbert_mlm",
                                       "electra_mlm", "xlmr_mlm",    "albert_sp_mlm"};
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
  /* xlmr_tokcls carries sentencepiece.bpe.model alone, albert_tokcls tokenizer.json */
  static const char *const models[] = {"bert_tokcls", "distilbert_tokcls", "roberta_tokcls",
                                       "xlmr_tokcls", "albert_tokcls"};
  static const char *const aggs[] = {"none", "simple", "first", "average", "max"};
  for (size_t i = 0; i < sizeof models / sizeof *models; i++)
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
  /* xlmr_qa carries sentencepiece.bpe.model alone */
  static const char *const models[] = {"bert_qa", "distilbert_qa", "roberta_qa", "xlmr_qa"};
  for (size_t i = 0; i < sizeof models / sizeof *models; i++) {
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
  char *so = tu_scratch_path("pipeline/minilm.so");
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
  char *subset = tu_scratch_path("pipeline/minilm-subset.jsonl");
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
  /* one line on stderr each: the model, the arguments, the exit code and the message */
  const struct {
    const char *model, *args;
    int rc;
    const char *needle;
  } cases[] = {
      {nsp, "--text 'only one sentence'", 1, "next-sentence prediction needs two texts"},
      {tok, "--text 'a' --pair 'b'", 1, "token classification takes one text, not a pair"},
      {qa, "--text 'where?'", 1, "question answering needs a question and a context"},
      {cls, "--text 'a' --task fill-mask", 1, "was compiled for task sequence-classification"},
      {tok, "--text 'a' --aggregation mean", 2,
       "--aggregation wants none, simple, first, average or max"},
      {nsp, "--pair 'b'", 2, "--pair must follow the --text"},
      {cls, "--text a --ids 1,2", 2, "not both"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    c = fmt("'%s' run '%s' %s", exe(), cases[i].model, cases[i].args);
    free(expect(cases[i].rc, cases[i].needle, c));
    free(c);
  }
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
  char *bad = tu_scratch_path("pipeline/bad.jsonl");
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
  char *small = tu_scratch_path("pipeline/bert_mlm_small.so");
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
      cmocka_unit_test(test_api_fill_mask),
      cmocka_unit_test(test_api_question_answering),
      cmocka_unit_test(test_api_errors),
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
