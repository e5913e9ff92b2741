/* examples/tasks: the program includes nothing but the public headers (it
 * compiles with -I include alone), and, run on the tiny bert_mlm and bert_qa
 * fixtures, it compiles both and prints the answers of the HuggingFace
 * pipelines (tests/fixtures/pipelines): the fill-mask candidates for the
 * first fill-mask input, and the top 3 answers to a question whose context
 * takes 10 windows. Errors: usage (exit 2), a model without the head
 * (exit 1 with the pipeline's message). */
#define _GNU_SOURCE
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/fixture.h"
#include "tests/testutil.h"

#define SCORE_TOL 1e-4

/* Line `index` (0-based) of a pipeline fixture file. */
static json_t *fixture_line(const char *file, size_t index) {
  char rel[256];
  snprintf(rel, sizeof rel, "tests/fixtures/pipelines/%s.jsonl", file);
  char *path = tu_source_path(rel), *line = NULL;
  FILE *f = fopen(path, "rb");
  if (!f) fail_msg("cannot open %s", path);
  size_t cap = 0;
  json_t *o = NULL;
  for (size_t i = 0; !o && getline(&line, &cap, f) > 0; i++)
    if (i == index) o = json_loads(line, 0, NULL);
  if (!o) fail_msg("%s has no line %zu", path, index + 1);
  free(line);
  fclose(f);
  free(path);
  return o;
}

/* Quotes a string for sh (no single quotes in the fixtures' texts). */
static const char *q(const json_t *o, const char *key) {
  const char *s = json_string_value(json_object_get(o, key));
  assert_non_null(s);
  assert_null(strchr(s, '\''));
  return s;
}

/* The next line of `*p` after `prefix`, tab-separated into at most 4 fields. */
static int fields(char **p, const char *prefix, char **out) {
  char *line = *p, *nl = strchr(line, '\n');
  if (!nl) fail_msg("output ends early, expected a line starting with '%s'", prefix);
  *nl = '\0';
  *p = nl + 1;
  if (strncmp(line, prefix, strlen(prefix))) fail_msg("expected '%s...', got '%s'", prefix, line);
  int n = 0;
  for (char *t = line + strlen(prefix); n < 4 && t; n++) {
    out[n] = t;
    t = strchr(t, '\t');
    if (t) *t++ = '\0';
  }
  return n;
}

static void test_public_headers_only(void **state) {
  (void)state;
  char *src = tu_source_path("examples/tasks/tasks.c"), *inc = tu_source_path("include");
  char cmd[4096];
  snprintf(cmd, sizeof cmd,
           "cc -std=c11 -Wall -Wextra -Wpedantic -Werror -fsyntax-only -I'%s' '%s'", inc, src);
  char *err = NULL;
  if (tu_run(cmd, NULL, &err) != 0) fail_msg("%s:\n%s", cmd, err);
  free(err);
  free(inc);
  free(src);
}

static void test_answers(void **state) {
  (void)state;
  json_t *fm = fixture_line("bert_mlm.fill-mask", 0);
  json_t *qa = fixture_line("bert_qa.question-answering.top3", 5);
  assert_int_equal(json_integer_value(json_object_get(qa, "windows")), 10);
  char *mlm = fx_dir("bert_mlm"), *qa_dir = fx_dir("bert_qa");
  char *out_dir = tu_scratch_path("examples/tasks/"); /* made with its folder */
  char cmd[8192];
  snprintf(cmd, sizeof cmd, "'%s' '%s' '%s' '%s' '%s' '%s' '%s'", TASKS_EXAMPLE, out_dir, mlm,
           q(fm, "text"), qa_dir, q(qa, "question"), q(qa, "context"));
  char *out = NULL, *err = NULL;
  if (tu_run(cmd, &out, &err) != 0) fail_msg("%s:\n%s%s", cmd, out, err);
  print_message("%s", out);
  char *p = out, *f[4];
  char head[512];
  snprintf(head, sizeof head, "fill-mask: %s", q(fm, "text"));
  fields(&p, head, f);
  fields(&p, " mask at token ", f);
  const json_t *cands = json_object_get(json_object_get(fm, "expected"), "mask");
  assert_int_equal(json_array_size(cands), 5);
  for (size_t i = 0; i < json_array_size(cands); i++) {
    const json_t *c = json_array_get(cands, i);
    assert_int_equal(fields(&p, "  ", f), 3);
    assert_float_equal(strtod(f[0], NULL), json_number_value(json_object_get(c, "score")),
                       SCORE_TOL);
    assert_string_equal(f[1], json_string_value(json_object_get(c, "token_str")));
    assert_string_equal(f[2], json_string_value(json_object_get(c, "sequence")));
  }
  snprintf(head, sizeof head, "question: %s", q(qa, "question"));
  fields(&p, head, f);
  const json_t *answers = json_object_get(json_object_get(qa, "expected"), "answers");
  assert_int_equal(json_array_size(answers), 3);
  for (size_t i = 0; i < json_array_size(answers); i++) {
    const json_t *a = json_array_get(answers, i);
    assert_int_equal(fields(&p, "  ", f), 4);
    assert_float_equal(strtod(f[0], NULL), json_number_value(json_object_get(a, "score")),
                       SCORE_TOL);
    assert_string_equal(f[1], json_string_value(json_object_get(a, "answer")));
    assert_int_equal(atoi(f[2]), json_integer_value(json_object_get(a, "start")));
    assert_int_equal(atoi(f[3]), json_integer_value(json_object_get(a, "end")));
  }
  assert_string_equal(p, "");
  free(out);
  free(err);
  /* usage; the masked-LM model where the question-answering one belongs */
  snprintf(cmd, sizeof cmd, "'%s' '%s'", TASKS_EXAMPLE, out_dir);
  assert_int_equal(tu_run(cmd, NULL, NULL), 2);
  snprintf(cmd, sizeof cmd, "'%s' '%s' '%s' 'a [MASK].' '%s' 'q?' 'c.'", TASKS_EXAMPLE, out_dir,
           mlm, mlm);
  assert_int_equal(tu_run(cmd, NULL, &err), 1);
  if (!strstr(err, "the pipeline answers fill-mask")) fail_msg("unexpected error: %s", err);
  free(err);
  free(out_dir);
  free(qa_dir);
  free(mlm);
  json_decref(qa);
  json_decref(fm);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_public_headers_only),
      cmocka_unit_test(test_answers),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
