/* Replays saved fuzz inputs in the normal suite (and so under ASan + UBSan
 * in the sanitizer pass of CI), through the fuzz targets' own entry code
 * (fuzz/targets.c, compiled natively here).
 *
 * For every target in fuzz_targets: each file of
 * tests/reliability/regressions/<target>/ (inputs that once crashed a
 * fuzzer, kept after the fix) and each seed of fuzz/corpus/<target>/. An
 * input fails the test by crashing or by breaking one of the invariants the
 * entry code checks (it aborts). */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/testutil.h"

#include "fuzz/targets.h"

static int cmp_names(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static uint8_t *read_input(const char *path, size_t *out_size) {
  FILE *f = fopen(path, "rb");
  if (!f) fail_msg("cannot read %s", path);
  size_t cap = 4096, n = 0;
  uint8_t *buf = malloc(cap);
  size_t got;
  while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
    n += got;
    if (n == cap) buf = realloc(buf, cap *= 2);
  }
  fclose(f);
  assert_non_null(buf);
  *out_size = n;
  return buf;
}

/* Runs every regular file of `rel` (under the source tree) through `t`, in
 * name order; returns how many. A missing directory has none. */
static int replay_dir(const fuzz_target_t *t, const char *rel) {
  char *dir = tu_source_path(rel);
  DIR *d = opendir(dir);
  int count = 0;
  if (d) {
    char **names = NULL;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
      if (e->d_name[0] == '.' || !strcmp(e->d_name, "README.md")) continue;
      names = realloc(names, (n + 1) * sizeof *names);
      assert_non_null(names);
      names[n++] = strdup(e->d_name);
    }
    closedir(d);
    if (n) qsort(names, n, sizeof *names, cmp_names);
    for (size_t i = 0; i < n; i++) {
      size_t size = 0, len = strlen(dir) + strlen(names[i]) + 2;
      char *path = malloc(len);
      snprintf(path, len, "%s/%s", dir, names[i]);
      uint8_t *data = read_input(path, &size);
      print_message("    %s: %s (%zu bytes)\n", t->name, names[i], size);
      t->run(data, size);
      count++;
      free(data);
      free(path);
      free(names[i]);
    }
    free(names);
  }
  free(dir);
  return count;
}

static void test_replay(void **state) {
  (void)state;
  int regressions = 0, seeds = 0;
  for (size_t i = 0; i < fuzz_num_targets; i++) {
    const fuzz_target_t *t = &fuzz_targets[i];
    char rel[256];
    snprintf(rel, sizeof rel, "tests/reliability/regressions/%s", t->name);
    regressions += replay_dir(t, rel);
    snprintf(rel, sizeof rel, "fuzz/corpus/%s", t->name);
    int n = replay_dir(t, rel);
    if (n == 0) fail_msg("fuzz/corpus/%s has no seeds", t->name);
    seeds += n;
  }
  print_message("    replayed %d regression inputs and %d seeds\n", regressions, seeds);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_replay)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
