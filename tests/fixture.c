#define _POSIX_C_SOURCE 200809L
/* Readers for the committed reference fixtures (jansson). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/fixture.h"
#include "tests/testutil.h"

static json_t *load_json(const char *path) {
  json_error_t e;
  json_t *j = json_load_file(path, 0, &e);
  if (!j) fail_msg("%s: %s (line %d)", path, e.text, e.line);
  return j;
}

char *fx_dir(const char *name) {
  char rel[256];
  snprintf(rel, sizeof rel, "tests/fixtures/tiny/%s", name);
  return tu_source_path(rel);
}

static int32_t *int_matrix(json_t *rows, int64_t *batch, int64_t *seq) {
  *batch = (int64_t)json_array_size(rows);
  *seq = (int64_t)json_array_size(json_array_get(rows, 0));
  int32_t *v = calloc((size_t)(*batch * *seq), sizeof(int32_t));
  for (int64_t b = 0; b < *batch; b++)
    for (int64_t s = 0; s < *seq; s++)
      v[b * *seq + s] = (int32_t)json_integer_value(json_array_get(json_array_get(rows, (size_t)b), (size_t)s));
  return v;
}

void fx_load(const char *name, fx_reference_t *r) {
  memset(r, 0, sizeof(*r));
  char *dir = fx_dir(name);
  char path[1024];
  snprintf(path, sizeof path, "%s/reference.json", dir);
  free(dir);
  json_t *j = load_json(path);
  json_t *in = json_object_get(j, "inputs");
  int64_t b, s;
  r->input_ids = int_matrix(json_object_get(in, "input_ids"), &r->batch, &r->seq);
  r->token_type_ids = int_matrix(json_object_get(in, "token_type_ids"), &b, &s);
  r->attention_mask = int_matrix(json_object_get(in, "attention_mask"), &b, &s);
  r->parameters = json_integer_value(json_object_get(j, "parameters"));
  const char *key;
  json_t *o;
  json_object_foreach(json_object_get(j, "outputs"), key, o) {
    assert_true(r->num_outputs < 8);
    fx_output_t *x = &r->outputs[r->num_outputs++];
    x->name = strdup(key);
    json_t *shape = json_object_get(o, "shape");
    x->rank = (int)json_array_size(shape);
    int64_t n = 1;
    for (int i = 0; i < x->rank; i++) n *= x->dims[i] = json_integer_value(json_array_get(shape, (size_t)i));
    json_t *data = json_object_get(o, "data");
    assert_int_equal(json_array_size(data), n);
    x->data = malloc((size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; i++) x->data[i] = (float)json_number_value(json_array_get(data, (size_t)i));
    x->compare_mask = json_is_true(json_object_get(o, "compare_mask"));
  }
  json_decref(j);
}

void fx_free(fx_reference_t *r) {
  free(r->input_ids);
  free(r->token_type_ids);
  free(r->attention_mask);
  for (int i = 0; i < r->num_outputs; i++) {
    free(r->outputs[i].name);
    free(r->outputs[i].data);
  }
}

int fx_list(char ***out) {
  char *p = tu_source_path("tests/fixtures/tiny/MANIFEST.json");
  json_t *j = load_json(p);
  free(p);
  json_t *f = json_object_get(j, "fixtures");
  int n = 0;
  char **names = calloc(json_is_array(f) ? json_array_size(f) : json_object_size(f), sizeof(char *));
  if (json_is_array(f)) {
    size_t i;
    json_t *v;
    json_array_foreach(f, i, v) {
      json_t *nm = json_is_string(v) ? v : json_object_get(v, "name");
      names[n++] = strdup(json_string_value(nm));
    }
  } else {
    const char *key;
    json_t *v;
    json_object_foreach(f, key, v) names[n++] = strdup(key);
  }
  json_decref(j);
  *out = names;
  return n;
}

void fx_for_each(void (*check)(const char *name)) {
  char **names;
  int n = fx_list(&names);
  assert_true(n >= 40);
  for (int i = 0; i < n; i++) {
    check(names[i]);
    free(names[i]);
  }
  free(names);
}

const fx_output_t *fx_output(const fx_reference_t *r, const char *name) {
  for (int i = 0; i < r->num_outputs; i++)
    if (!strcmp(r->outputs[i].name, name)) return &r->outputs[i];
  return NULL;
}

double fx_max_abs_diff(const fx_reference_t *r, const fx_output_t *o, const float *got) {
  int64_t n = 1;
  for (int i = 0; i < o->rank; i++) n *= o->dims[i];
  int64_t per_token = o->rank >= 2 ? n / (o->dims[0] * o->dims[1]) : 0;
  double worst = 0;
  for (int64_t i = 0; i < n; i++) {
    if (o->compare_mask && o->rank >= 2 && o->dims[1] == r->seq) {
      int64_t token = i / per_token; /* b * seq + s */
      if (!r->attention_mask[token]) continue;
    }
    double d = fabs((double)o->data[i] - (double)got[i]);
    if (isnan(got[i])) d = INFINITY;
    if (d > worst) worst = d;
  }
  return worst;
}

void fx_minilm_load(fx_minilm_t *m) {
  memset(m, 0, sizeof(*m));
  char *p = tu_source_path("tests/fixtures/minilm/reference.json");
  json_t *j = load_json(p);
  free(p);
  json_t *items = json_object_get(j, "items");
  m->num_items = (int)json_array_size(items);
  m->items = calloc((size_t)m->num_items, sizeof(fx_minilm_item_t));
  m->parameters = json_integer_value(json_object_get(j, "parameters"));
  for (int i = 0; i < m->num_items; i++) {
    json_t *it = json_array_get(items, (size_t)i);
    fx_minilm_item_t *x = &m->items[i];
    x->text = strdup(json_string_value(json_object_get(it, "text")));
    json_t *ids = json_object_get(it, "input_ids");
    x->len = (int64_t)json_array_size(ids);
    x->input_ids = malloc((size_t)x->len * sizeof(int32_t));
    x->token_type_ids = malloc((size_t)x->len * sizeof(int32_t));
    x->attention_mask = malloc((size_t)x->len * sizeof(int32_t));
    for (int64_t t = 0; t < x->len; t++) {
      x->input_ids[t] = (int32_t)json_integer_value(json_array_get(ids, (size_t)t));
      x->token_type_ids[t] = (int32_t)json_integer_value(json_array_get(json_object_get(it, "token_type_ids"), (size_t)t));
      x->attention_mask[t] = (int32_t)json_integer_value(json_array_get(json_object_get(it, "attention_mask"), (size_t)t));
    }
    json_t *e = json_object_get(it, "embedding");
    assert_int_equal(json_array_size(e), 384);
    for (int k = 0; k < 384; k++) x->embedding[k] = (float)json_number_value(json_array_get(e, (size_t)k));
  }
  json_decref(j);
}

void fx_minilm_free(fx_minilm_t *m) {
  for (int i = 0; i < m->num_items; i++) {
    free(m->items[i].text);
    free(m->items[i].input_ids);
    free(m->items[i].token_type_ids);
    free(m->items[i].attention_mask);
  }
  free(m->items);
}
