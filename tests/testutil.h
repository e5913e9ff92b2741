/* Helpers shared by the cmocka tests: locating fixtures, scratch files,
 * running the CLI, and asserting on statuses. Include after <cmocka.h>. */
#ifndef BERTC_TESTUTIL_H
#define BERTC_TESTUTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "bertc/status.h"

/* $BERTC_SOURCE_DIR/<rel>, in a static-free heap string the caller frees. */
char *tu_source_path(const char *rel);
/* $BERTC_BINARY_DIR/test-scratch/<rel> (directories created). */
char *tu_scratch_path(const char *rel);
/* The MiniLM model directory ($BERTC_MINILM_DIR); fails the test if missing. */
const char *tu_minilm_dir(void);
/* Writes bytes to a file; fails the test on error. */
void tu_write_file(const char *path, const void *data, size_t size);
/* Runs a shell command; returns its exit code, captures stdout/stderr (each may
 * be NULL) into heap strings. */
int tu_run(const char *cmd, char **out_stdout, char **out_stderr);

struct fx_minilm;
/* Items items[0..count) of the MiniLM reference (tests/fixture.h) as one
 * batch padded with zeros to the longest: [count, *out_seq] token ids, token
 * types and attention mask, in heap arrays the caller frees. */
void tu_minilm_batch(const struct fx_minilm *ref, const int *items, int count, int64_t *out_seq,
                     int32_t **out_ids, int32_t **out_types, int32_t **out_mask);
/* Max |difference| between embeddings[count, 384] and those items' reference
 * (sentence-transformers) embeddings; NaN counts as infinite. */
double tu_minilm_max_diff(const struct fx_minilm *ref, const int *items, int count,
                          const float *embeddings);

/* Fails the test with the status message when `s` is not OK. */
#define TU_ASSERT_OK(expr)                                                     \
  do {                                                                         \
    bertc_status_t tu_s_ = (expr);                                             \
    if (tu_s_) {                                                               \
      print_error("%s\n", bertc_status_message(tu_s_));                        \
      bertc_status_free(tu_s_);                                                \
      fail_msg("%s failed", #expr);                                            \
    }                                                                          \
  } while (0)

/* Asserts `expr` fails and its message contains `needle`. */
#define TU_ASSERT_ERROR(expr, needle)                                          \
  do {                                                                         \
    bertc_status_t tu_s_ = (expr);                                             \
    if (!tu_s_) fail_msg("%s succeeded, expected an error with '%s'", #expr, (needle)); \
    if (!strstr(bertc_status_message(tu_s_), (needle))) {                      \
      print_error("message: %s\n", bertc_status_message(tu_s_));               \
      bertc_status_free(tu_s_);                                                \
      fail_msg("error of %s lacks '%s'", #expr, (needle));                     \
    }                                                                          \
    bertc_status_free(tu_s_);                                                  \
  } while (0)

#endif
