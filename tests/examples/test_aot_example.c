/* examples/aot built the way its README says, against this build of bertc:
 * once from an installed package (`cmake --install` into a scratch prefix,
 * find_package through CMAKE_PREFIX_PATH) and once from the build tree's own
 * package (-Dbertc_DIR, with TARGET_CPU x86-64-v3 x86-64-v4: a .so with two
 * code variants). Each time bertc_add_model compiles the tiny
 * sentence-transformers fixture at build time, a second build must find
 * everything up to date, and the program's numbers must equal what
 * `bertc run` prints for the same .so and token ids. A bad id must make the
 * program fail with the runtime's message. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/testutil.h"

/* Three sequences of different lengths: batch bucket 4, seq bucket 32. */
static const char *const example_ids[] = {"2,13,208,779,24,3", "2,338,433,3",
                                          "2,5,9,14,7,7,7,7,7,7,7,7,7,7,7,7,7,7,3"};
enum { NUM_IDS = 3 };

/* Runs a printf-formatted shell command; fails the test with its output when
 * the exit code is not `want_rc` (or any non-zero code for want_rc < 0).
 * Returns its stdout (and stderr in *out_stderr if asked), heap strings. */
static char *run_cmd(int want_rc, char **out_stderr, const char *fmt, ...) {
  char cmd[8192];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(cmd, sizeof cmd, fmt, ap);
  va_end(ap);
  assert_true(n > 0 && (size_t)n < sizeof cmd);
  char *out = NULL, *err = NULL;
  int rc = tu_run(cmd, &out, &err);
  if (want_rc >= 0 ? rc != want_rc : rc == 0) {
    print_error("$ %s\n%s%s", cmd, out, err);
    fail_msg("exit code %d, expected %s%d", rc, want_rc >= 0 ? "" : "not ",
             want_rc >= 0 ? want_rc : 0);
  }
  if (out_stderr)
    *out_stderr = err;
  else
    free(err);
  return out;
}

/* Reads up to `max` numbers from text, skipping JSON punctuation. */
static int read_numbers(const char *text, double *out, int max) {
  int n = 0;
  while (n < max && *text) {
    while (*text == ' ' || *text == '[' || *text == ',') text++;
    char *end;
    double v = strtod(text, &end);
    if (end == text) break;
    out[n++] = v;
    text = end;
  }
  return n;
}

/* The start of the line after the one `s` is in (the terminating NUL at the end). */
static const char *next_line(const char *s) {
  const char *nl = strchr(s, '\n');
  return nl ? nl + 1 : s + strlen(s);
}

/* Every "  [i] v v v ..." line of embed's output against the same output of
 * input i in `bertc run`'s JSON lines (which call sentence_embedding
 * "embedding"). */
static void compare_with_bertc_run(const char *embed_out, const char *run_out) {
  const char *json_lines[NUM_IDS];
  const char *p = run_out;
  for (int i = 0; i < NUM_IDS; i++, p = next_line(p)) {
    if (!*p) fail_msg("bertc run printed %d lines, expected %d:\n%s", i, NUM_IDS, run_out);
    json_lines[i] = p;
  }
  char name[128] = "";
  int outputs = 0, rows = 0;
  for (const char *line = embed_out; *line; line = next_line(line)) {
    long long count;
    if (sscanf(line, "output %127s %*s [%lld", name, &count) == 2) {
      assert_int_equal(count, NUM_IDS);
      outputs++;
      continue;
    }
    int seq, skip;
    if (sscanf(line, " [%d]%n", &seq, &skip) != 1) continue;
    assert_true(outputs > 0 && seq >= 0 && seq < NUM_IDS);
    double got[16], want[16];
    int n = read_numbers(line + skip, got, 16);
    assert_true(n > 0);
    char key[160];
    snprintf(key, sizeof key, "\"%s\":", strcmp(name, "sentence_embedding") ? name : "embedding");
    const char *at = strstr(json_lines[seq], key);
    if (!at) fail_msg("bertc run's output for input %d has no %s", seq, key);
    assert_int_equal(read_numbers(at + strlen(key), want, n), n);
    for (int i = 0; i < n; i++)
      if (fabs(got[i] - want[i]) > 1e-6 * (1 + fabs(want[i])))
        fail_msg("%s of input %d, value %d: embed printed %.9g, bertc run %.9g", name, seq, i,
                 got[i], want[i]);
    rows++;
  }
  assert_int_equal(outputs, 1); /* st_mean has one output */
  assert_int_equal(rows, NUM_IDS);
}

/* Configures and builds examples/aot in test-scratch/<scratch>/build, with
 * `package_args` telling CMake where bertc is, and checks the program. */
static void build_and_check(const char *scratch, const char *package_args) {
  char rel[256];
  snprintf(rel, sizeof rel, "%s/build", scratch);
  char *build = tu_scratch_path(rel), *example = tu_source_path("examples/aot"),
       *model = tu_source_path("tests/fixtures/tiny/st_mean");
  free(run_cmd(0, NULL, "rm -rf '%s'", build));
  free(run_cmd(0, NULL,
               "'%s' -S '%s' -B '%s' -G '%s' %s -DEXAMPLE_MODEL='%s' -DCMAKE_C_COMPILER='%s' "
               "-DCMAKE_C_FLAGS='%s -Werror' -DCMAKE_EXE_LINKER_FLAGS='%s'",
               EXAMPLE_CMAKE, example, build, EXAMPLE_GENERATOR, package_args, model,
               EXAMPLE_C_COMPILER, EXAMPLE_C_FLAGS, EXAMPLE_LINK_FLAGS));
  char *out = run_cmd(0, NULL, "'%s' --build '%s'", EXAMPLE_CMAKE, build);
  if (!strstr(out, "Compiling model encoder")) fail_msg("the build compiled no model:\n%s", out);
  free(out);
  out = run_cmd(0, NULL, "'%s' --build '%s'", EXAMPLE_CMAKE, build);
  if (strstr(out, "Compiling model") || strstr(out, "Linking"))
    fail_msg("a second build was not a no-op:\n%s", out);
  free(out);

  char ids[512] = "", run_ids[600] = "";
  for (int i = 0; i < NUM_IDS; i++) {
    strcat(ids, " ");
    strcat(ids, example_ids[i]);
    strcat(run_ids, " --ids ");
    strcat(run_ids, example_ids[i]);
  }
  char *embed_out = run_cmd(0, NULL, "'%s/embed'%s", build, ids);
  if (!strstr(embed_out, "output sentence_embedding f32 [3, 32]"))
    fail_msg("unexpected embed output:\n%s", embed_out);
  char *run_out =
      run_cmd(0, NULL, "'%s' run '%s/encoder.so'%s", getenv("BERTC_EXE"), build, run_ids);
  compare_with_bertc_run(embed_out, run_out);
  free(embed_out);
  free(run_out);

  free(run_cmd(0, NULL, "'%s/embed'", build)); /* the built-in batch */
  char *err = NULL;
  free(run_cmd(-1, &err, "'%s/embed' 2,99999,3", build));
  if (!strstr(err, "input id 99999 is outside the vocabulary"))
    fail_msg("embed's error lacks the runtime's message: %s", err);
  free(err);
  free(build);
  free(example);
  free(model);
}

static void test_installed_package(void **state) {
  (void)state;
  char *prefix = tu_scratch_path("aot_example_installed/prefix");
  free(run_cmd(0, NULL, "rm -rf '%s' && '%s' --install '%s' --prefix '%s'", prefix, EXAMPLE_CMAKE,
               getenv("BERTC_BINARY_DIR"), prefix));
  char args[1024];
  snprintf(args, sizeof args, "-DCMAKE_PREFIX_PATH='%s'", prefix);
  build_and_check("aot_example_installed", args);
  /* find_package found the installed copy, not this build tree. */
  free(run_cmd(0, NULL, "grep -q \"^bertc_DIR:PATH=%s/\" '%s/../build/CMakeCache.txt'", prefix,
               prefix));
  free(prefix);
}

/* This one also passes bertc_add_model a list of CPUs: one .so with a code
 * variant for each. */
static void test_build_tree_package(void **state) {
  (void)state;
  char args[1024];
  snprintf(args, sizeof args, "-Dbertc_DIR='%s' -DEXAMPLE_TARGET_CPU='x86-64-v3;x86-64-v4'",
           getenv("BERTC_BINARY_DIR"));
  build_and_check("aot_example_build_tree", args);
  char *so = tu_scratch_path("aot_example_build_tree/build/encoder.so");
  char *out = run_cmd(0, NULL, "'%s' inspect '%s'", getenv("BERTC_EXE"), so);
  if (!strstr(out, "variants           x86-64-v4") || !strstr(out, "x86-64-v3"))
    fail_msg("encoder.so does not have the two variants:\n%s", out);
  free(out);
  free(so);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_installed_package),
      cmocka_unit_test(test_build_tree_package),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
