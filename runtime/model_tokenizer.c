/* bertc_tokenizer_*: the public face of the tokenizer a model .so carries.
 *
 * A compiled model holds its tokenizer files as a blob in the descriptor
 * (bertc/abi.h); this wraps tokenizer/tokenizer.h's loader and encoder around
 * it and applies the truncation `bertc run` applies: the metadata's
 * max_seq_length, capped by the largest compiled bucket, longest_first. A
 * model directory's tokenizer files load the same way, with the truncation
 * length the caller gives. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "bertc/bertc.h"
#include "base/base.h"
#include "runtime/model.h"
#include "runtime/tasks.h"
#include "tokenizer/tokenizer.h"

struct bertc_tokenizer_s {
  tok_tokenizer_t *tok;
  int32_t max_length;
};

bertc_status_t bertc_tokenizer_create_from_model(const bertc_model_t *model,
                                                 bertc_tokenizer_t **out_tokenizer) {
  *out_tokenizer = NULL;
  if (!model)
    return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT,
                             "bertc_tokenizer_create_from_model: model is NULL");
  const bertc_model_descriptor_t *d = bertc_model_descriptor(model);
  if (!d->tokenizer_blob || !d->tokenizer_blob_size)
    return bertc_status_make(BERTC_STATUS_NOT_FOUND,
                             "%s carries no tokenizer (its model had no tokenizer files)",
                             bertc_model_path(model));
  bertc_tokenizer_t *t = calloc(1, sizeof *t);
  if (!t) return bertc_status_make(BERTC_STATUS_OUT_OF_MEMORY, "out of memory");
  bertc_status_t s =
      tok_load_blob(d->tokenizer_blob, (size_t)d->tokenizer_blob_size, &t->tok);
  if (s) {
    free(t);
    return bertc_status_annotate(s, "%s", bertc_model_path(model));
  }
  int32_t largest = bertc_model_max_seq(model);
  json_t *max = json_object_get(model->metadata, "max_seq_length");
  double m = json_is_number(max) ? json_number_value(max) : 0;
  t->max_length = m > 0 && m < largest ? (int32_t)m : largest;
  *out_tokenizer = t;
  return BERTC_OK;
}

bertc_status_t bertc_tokenizer_create_from_dir(const char *dir, int32_t max_length,
                                               bertc_tokenizer_t **out_tokenizer) {
  *out_tokenizer = NULL;
  if (!dir || max_length < 0)
    return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT,
                             "bertc_tokenizer_create_from_dir: %s",
                             dir ? "negative max_length" : "dir is NULL");
  bertc_tokenizer_t *t = calloc(1, sizeof *t);
  if (!t) return bertc_status_make(BERTC_STATUS_OUT_OF_MEMORY, "out of memory");
  bertc_status_t s = tok_load_dir(dir, &t->tok);
  if (s) {
    free(t);
    return s;
  }
  t->max_length = max_length;
  *out_tokenizer = t;
  return BERTC_OK;
}

void bertc_tokenizer_release(bertc_tokenizer_t *tokenizer) {
  if (!tokenizer) return;
  tok_release(tokenizer->tok);
  free(tokenizer);
}

int32_t bertc_tokenizer_max_length(const bertc_tokenizer_t *tokenizer) {
  return tokenizer ? tokenizer->max_length : 0;
}

void bertc_tokenizer_encoding_deinit(bertc_encoding_t *e) {
  if (!e) return;
  free(e->input_ids);
  free(e->token_type_ids);
  free(e->offsets);
  free(e->tokens); /* the strings live in the same block */
  free(e->word_ids);
  memset(e, 0, sizeof *e);
}

const tok_tokenizer_t *rt_tokenizer_tok(const bertc_tokenizer_t *tokenizer) {
  return tokenizer ? tokenizer->tok : NULL;
}

bertc_status_t rt_encoding_copy(const tok_encoding_t *e, const int32_t *index, size_t n,
                                bertc_encoding_t *out) {
  memset(out, 0, sizeof *out);
#define AT(i) (index ? (size_t)index[i] : (i))
  size_t strs = 0, m = n ? n : 1;
  for (size_t i = 0; i < n; i++) strs += strlen(e->tokens[AT(i)]) + 1;
  out->input_ids = malloc(m * sizeof *out->input_ids);
  out->token_type_ids = malloc(m * sizeof *out->token_type_ids);
  out->offsets = malloc(2 * m * sizeof *out->offsets);
  out->word_ids = malloc(m * sizeof *out->word_ids);
  out->tokens = malloc(m * sizeof *out->tokens + strs);
  if (!out->input_ids || !out->token_type_ids || !out->offsets || !out->word_ids ||
      !out->tokens) {
    bertc_tokenizer_encoding_deinit(out);
    return base_oom();
  }
  char *p = (char *)(out->tokens + m);
  for (size_t i = 0; i < n; i++) {
    size_t k = AT(i), l = strlen(e->tokens[k]) + 1;
    out->input_ids[i] = e->ids[k];
    out->token_type_ids[i] = e->type_ids[k];
    out->offsets[2 * i] = e->offsets[2 * k];
    out->offsets[2 * i + 1] = e->offsets[2 * k + 1];
    out->word_ids[i] = e->word_ids[k];
    memcpy(p, e->tokens[k], l);
    out->tokens[i] = p;
    p += l;
  }
#undef AT
  out->length = (int32_t)n;
  out->truncated = e->truncated != 0;
  return BERTC_OK;
}

bertc_status_t bertc_tokenizer_encode(const bertc_tokenizer_t *tokenizer, const char *text,
                                      size_t text_length, const char *text_pair, size_t pair_length,
                                      bertc_encoding_t *out_encoding) {
  memset(out_encoding, 0, sizeof *out_encoding);
  if (!tokenizer || (!text && text_length))
    return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT,
                             "bertc_tokenizer_encode: NULL argument");
  tok_encoding_t e;
  BERTC_RETURN_IF_ERROR(tok_encode(tokenizer->tok, text ? text : "", text_length, text_pair,
                                   pair_length, (size_t)tokenizer->max_length,
                                   TOK_TRUNC_LONGEST_FIRST, &e));
  bertc_status_t s = rt_encoding_copy(&e, NULL, e.len, out_encoding);
  tok_encoding_deinit(&e);
  return s;
}
