/* Reference fixtures made by scripts/make_fixtures.py (HuggingFace outputs
 * for a padded batch) and scripts/make_minilm_reference.py. */
#ifndef BERTC_TESTS_FIXTURE_H
#define BERTC_TESTS_FIXTURE_H

#include <stdbool.h>
#include <stdint.h>

typedef struct fx_output {
  char *name;
  int rank;
  int64_t dims[4];
  float *data;
  bool compare_mask; /* per-token: compare only where attention_mask is 1 */
} fx_output_t;

typedef struct fx_reference {
  int64_t batch, seq;
  int32_t *input_ids, *token_type_ids, *attention_mask; /* [batch*seq] */
  int num_outputs;
  fx_output_t outputs[8];
  int64_t parameters;
} fx_reference_t;

/* Loads tests/fixtures/tiny/<name>/reference.json; fails the test on error. */
void fx_load(const char *name, fx_reference_t *out);
void fx_free(fx_reference_t *r);
/* Path of tests/fixtures/tiny/<name> (heap). */
char *fx_dir(const char *name);
/* Names of every tiny fixture from MANIFEST.json (heap array of heap strings). */
int fx_list(char ***out_names);
/* Calls check on every tiny fixture's name; fails the test when there are fewer than 40. */
void fx_for_each(void (*check)(const char *name));
const fx_output_t *fx_output(const fx_reference_t *r, const char *name);
/* Max |a-b| over an output, skipping padded tokens of per-token outputs. */
double fx_max_abs_diff(const fx_reference_t *r, const fx_output_t *o, const float *got);

/* MiniLM reference: items with ids and sentence-transformers embeddings. */
typedef struct fx_minilm_item {
  char *text;
  int64_t len;
  int32_t *input_ids, *token_type_ids, *attention_mask;
  float embedding[384];
} fx_minilm_item_t;
typedef struct fx_minilm {
  int num_items;
  fx_minilm_item_t *items;
  int64_t parameters;
} fx_minilm_t;
void fx_minilm_load(fx_minilm_t *out);
void fx_minilm_free(fx_minilm_t *m);

#endif
