/* Pipelines: text in, answers out, over an engine.
 *
 * A run is a loop over blocks of inputs. Each input is checked against the
 * task and becomes one or more features (token sequences: its encoding,
 * truncated to the tokenizer's max length, or for question answering the
 * question's windows over a long context, which are never truncated).
 * Features run through the engine in chunks of its max_batch and of at most
 * max_batch_tokens tokens; after each chunk every feature's slice of the
 * outputs is post-processed for the task (tasks.h), and an input's answer is
 * delivered as soon as its last feature has run: in input order, since an
 * input's features are consecutive. When an input is refused, the inputs
 * before it in its block still run and are delivered, then its error is
 * returned. A caller may prepare blocks (check and encode) on other threads
 * while the pipeline runs earlier ones (bertc_pipeline_prepare): preparing
 * only reads the pipeline and its tokenizer. */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "runtime/tasks.h"

struct bertc_pipeline_s {
  bertc_engine_t engine;
  bool has_engine;
  const bertc_tokenizer_t *tokenizer;
  bertc_tokenizer_t *owned_tokenizer; /* create_from_context's */
  rt_task_model_t facts;
  bertc_task_t task;
  bertc_pipeline_options_t options;
  int64_t max_len; /* inputs are truncated to this many tokens (0: no limit) */
};

void bertc_pipeline_options_init(bertc_pipeline_options_t *o) {
  memset(o, 0, sizeof *o);
  o->task = BERTC_TASK_AUTO;
  o->aggregation = BERTC_AGGREGATION_SIMPLE;
  o->function = BERTC_SCORE_FUNCTION_DEFAULT;
  o->doc_stride = -1;
  o->max_answer_length = 15;
  o->align_to_words = true;
}

/* ---- Lifetime --------------------------------------------------------------------- */

bertc_status_t bertc_pipeline_create(const bertc_engine_t *engine, const char *metadata_json,
                                     const bertc_tokenizer_t *tokenizer,
                                     const bertc_pipeline_options_t *options,
                                     bertc_pipeline_t **out_pipeline) {
  *out_pipeline = NULL;
  if (!metadata_json || !tokenizer)
    return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT, "bertc_pipeline_create: %s is NULL",
                             metadata_json ? "tokenizer" : "metadata_json");
  if (engine && (!engine->run || !engine->num_outputs || !engine->output || engine->max_batch < 1 ||
                 engine->max_seq < 1))
    return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT,
                             "bertc_pipeline_create: the engine lacks a function or a size");
  bertc_pipeline_t *p;
  BERTC_RETURN_IF_ERROR(base_calloc(1, sizeof *p, (void **)&p));
  if (options)
    p->options = *options;
  else
    bertc_pipeline_options_init(&p->options);
  if (engine) {
    p->engine = *engine;
    p->has_engine = true;
  }
  p->tokenizer = tokenizer;
  json_error_t err;
  json_t *meta = json_loads(metadata_json, 0, &err);
  bertc_status_t s = meta ? rt_task_model_from_metadata(meta, &p->facts)
                          : bertc_status_make(BERTC_STATUS_DATA,
                                              "model metadata: invalid JSON at line %d "
                                              "column %d: %s",
                                              err.line, err.column, err.text);
  json_decref(meta);
  if (s) {
    bertc_pipeline_release(p);
    return s;
  }
  p->task = p->options.task != BERTC_TASK_AUTO ? p->options.task : p->facts.task;
  p->max_len = bertc_tokenizer_max_length(tokenizer);
  *out_pipeline = p;
  return BERTC_OK;
}

bertc_status_t bertc_pipeline_create_from_context(bertc_context_t *context,
                                                  const bertc_pipeline_options_t *options,
                                                  bertc_pipeline_t **out_pipeline) {
  *out_pipeline = NULL;
  if (!context)
    return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT,
                             "bertc_pipeline_create_from_context: context is NULL");
  const bertc_model_t *model = bertc_context_model(context);
  bertc_tokenizer_t *tok = NULL;
  BERTC_RETURN_IF_ERROR(bertc_tokenizer_create_from_model(model, &tok));
  bertc_engine_t engine;
  bertc_context_engine(context, &engine);
  bertc_status_t s =
      bertc_pipeline_create(&engine, bertc_model_metadata_json(model), tok, options, out_pipeline);
  if (s) {
    bertc_tokenizer_release(tok);
    return bertc_status_annotate(s, "%s", bertc_model_path(model));
  }
  (*out_pipeline)->owned_tokenizer = tok;
  return BERTC_OK;
}

void bertc_pipeline_release(bertc_pipeline_t *p) {
  if (!p) return;
  rt_task_model_deinit(&p->facts);
  bertc_tokenizer_release(p->owned_tokenizer);
  free(p);
}

bertc_task_t bertc_pipeline_task(const bertc_pipeline_t *p) { return p->task; }
bertc_task_t bertc_pipeline_model_task(const bertc_pipeline_t *p) { return p->facts.task; }
int32_t bertc_pipeline_num_labels(const bertc_pipeline_t *p) { return p->facts.num_labels; }

const char *bertc_pipeline_label(const bertc_pipeline_t *p, int32_t index) {
  return index >= 0 && index < p->facts.num_labels ? p->facts.labels[index] : NULL;
}

const bertc_pipeline_options_t *rt_pipeline_options(const bertc_pipeline_t *p) {
  return &p->options;
}

int32_t bertc_pipeline_max_seq_length(const bertc_pipeline_t *p) {
  int64_t m = p->facts.max_seq_length;
  return m > 0 && m <= INT32_MAX ? (int32_t)m : 0;
}

/* The longest sequence the model runs: the truncation length, else the
 * metadata's, else the engine's. */
static int64_t model_max(const bertc_pipeline_t *p) {
  if (p->max_len > 0) return p->max_len;
  if (p->facts.max_seq_length > 0) return p->facts.max_seq_length;
  return p->has_engine ? p->engine.max_seq : 0;
}

/* ---- Answers ---------------------------------------------------------------------- */

void bertc_labels_deinit(bertc_labels_t *l) {
  if (!l) return;
  free(l->items);
  memset(l, 0, sizeof *l);
}

void bertc_embedding_deinit(bertc_embedding_t *e) {
  if (!e) return;
  free(e->values);
  memset(e, 0, sizeof *e);
}

void bertc_replaced_tokens_deinit(bertc_replaced_tokens_t *r) {
  if (!r) return;
  free(r->tokens); /* the strings live in the same block */
  free(r->probabilities);
  memset(r, 0, sizeof *r);
}

void bertc_outputs_deinit(bertc_outputs_t *o) {
  if (!o) return;
  for (int32_t i = 0; i < o->count; i++) {
    free(o->items[i].name);
    free(o->items[i].data);
  }
  free(o->items);
  memset(o, 0, sizeof *o);
}

void bertc_answer_deinit(bertc_answer_t *a) {
  if (!a) return;
  bertc_fill_mask_deinit(&a->fill_mask);
  bertc_labels_deinit(&a->labels);
  bertc_entities_deinit(&a->entities);
  bertc_qa_answers_deinit(&a->answers);
  bertc_embedding_deinit(&a->embedding);
  bertc_replaced_tokens_deinit(&a->replaced);
  bertc_outputs_deinit(&a->outputs);
  memset(a, 0, sizeof *a);
}

void bertc_features_deinit(bertc_features_t *f) {
  if (!f) return;
  for (int32_t i = 0; i < f->count && f->sequences; i++)
    bertc_tokenizer_encoding_deinit(&f->sequences[i]);
  free(f->sequences);
  memset(f, 0, sizeof *f);
}

/* ---- Inputs and features ---------------------------------------------------------- */

/* One input being processed: its encoding (or question-answering windows),
 * for question answering the logits of the windows run so far, and its
 * answer. */
typedef struct item {
  const bertc_pipeline_input_t *in;
  size_t index;
  char where[64]; /* the input's name for messages */
  tok_encoding_t enc;
  rt_qa_features_t qa;
  float **start, **end;
  int windows_done;
  bertc_answer_t answer;
} item_t;

static void item_deinit(item_t *it) {
  tok_encoding_deinit(&it->enc);
  for (int w = 0; w < it->qa.num_windows; w++) {
    if (it->start) free(it->start[w]);
    if (it->end) free(it->end[w]);
  }
  free(it->start);
  free(it->end);
  rt_qa_features_deinit(&it->qa);
  bertc_answer_deinit(&it->answer);
  memset(it, 0, sizeof *it);
}

/* A feature: one token sequence to run, belonging to an item. */
typedef struct feature {
  item_t *item;
  int window; /* QA window index, else 0 */
  int32_t len;
  const int32_t *ids, *types;
} feature_t;

typedef struct fvec {
  feature_t *v;
  int n, cap;
} fvec_t;

static bertc_status_t fvec_push(fvec_t *f, feature_t x) {
  if (f->n == f->cap) {
    int cap = f->cap ? 2 * f->cap : 64;
    feature_t *p = realloc(f->v, (size_t)cap * sizeof *p);
    if (!p) return base_oom();
    f->v = p;
    f->cap = cap;
  }
  f->v[f->n++] = x;
  return BERTC_OK;
}

/* What receives the answers of a run, and hears of truncated inputs. */
typedef struct sink {
  bertc_status_t (*deliver)(void *user, const bertc_pipeline_t *p, item_t *it);
  void *user;
  void (*truncated)(void *user, size_t index);
  void *truncated_user;
} sink_t;

static bool has_mask(const tok_tokenizer_t *t, const tok_encoding_t *e) {
  int32_t mask = tok_mask_id(t);
  for (size_t k = 0; k < e->len; k++)
    if (e->ids[k] == mask) return true;
  return false;
}

/* Checks an input against the task and makes its features. */
static bertc_status_t prepare(const bertc_pipeline_t *p, const sink_t *sink, item_t *it,
                              fvec_t *fs) {
  const bertc_pipeline_input_t *in = it->in;
  const tok_tokenizer_t *tok = rt_tokenizer_tok(p->tokenizer);
  bool raw = p->options.raw;
  if (!in->text && in->text_length)
    return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT, "%s: text is NULL", it->where);
  const char *text = in->text ? in->text : "";
  if (p->task == BERTC_TASK_QUESTION_ANSWERING && !raw) {
    if (!in->text_pair)
      return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT,
                               "%s: question answering needs a question and a context (--text "
                               "and --pair, or \"question\" and \"context\")",
                               it->where);
    BERTC_RETURN_IF_ERROR_CTX(rt_task_qa_features(tok, text, in->text_length, in->text_pair,
                                                  in->pair_length, model_max(p), &p->options,
                                                  &it->qa),
                              "%s", it->where);
    it->start = calloc((size_t)it->qa.num_windows, sizeof *it->start);
    it->end = calloc((size_t)it->qa.num_windows, sizeof *it->end);
    if (!it->start || !it->end) return base_oom();
    for (int w = 0; w < it->qa.num_windows; w++)
      BERTC_RETURN_IF_ERROR(
          fvec_push(fs, (feature_t){it, w, it->qa.windows[w].len, it->qa.windows[w].ids,
                                    it->qa.windows[w].type_ids}));
    return BERTC_OK;
  }
  if (!raw && p->task == BERTC_TASK_TOKEN_CLASSIFICATION && in->text_pair)
    return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT,
                             "%s: token classification takes one text, not a pair", it->where);
  if (!raw && p->task == BERTC_TASK_NSP && !in->text_pair)
    return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT,
                             "%s: next-sentence prediction needs two texts (--text and --pair, "
                             "or \"text\" and \"text_pair\")",
                             it->where);
  BERTC_RETURN_IF_ERROR_CTX(tok_encode(tok, text, in->text_length, in->text_pair, in->pair_length,
                                       (size_t)p->max_len, TOK_TRUNC_LONGEST_FIRST, &it->enc),
                            "%s", it->where);
  if (it->enc.truncated) {
    it->answer.truncated = true;
    if (sink->truncated) sink->truncated(sink->truncated_user, it->index);
  }
  if (!raw && p->task == BERTC_TASK_FILL_MASK && !has_mask(tok, &it->enc)) {
    /* the pipeline checks before running */
    const char *name = tok_id_to_token(tok, tok_mask_id(tok));
    return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT, "%s: no mask token (%s) in the input%s",
                             it->where, name ? name : "none defined",
                             it->enc.truncated ? " after truncation" : "");
  }
  return fvec_push(fs, (feature_t){it, 0, (int32_t)it->enc.len, it->enc.ids, it->enc.type_ids});
}

/* ---- Post-processing one feature ------------------------------------------------- */

/* The outputs of one run of `count` sequences, the longest `seq` tokens. */
typedef struct run_out {
  int32_t count;
  int64_t seq;
  uint32_t num;
  bertc_tensor_view_t *views;
} run_out_t;

static const bertc_tensor_view_t *out_find(const run_out_t *r, const char *a, const char *b) {
  for (int k = 0; k < 2; k++) {
    const char *name = k ? b : a;
    for (uint32_t i = 0; name && i < r->num; i++)
      if (!strcmp(r->views[i].name, name)) return &r->views[i];
  }
  return NULL;
}

/* Sequence i's slice of an f32 output. */
static const float *out_row(const bertc_tensor_view_t *t, int32_t i) {
  int64_t per = 1;
  for (int k = 1; k < t->rank; k++)
    per *= t->dims[k];
  return (const float *)t->data + (int64_t)i * per;
}

/* Sequence i's outputs, each cut to its length where a dimension is per token. */
static bertc_status_t copy_outputs(const run_out_t *r, int32_t i, int64_t len,
                                   bertc_outputs_t *out) {
  out->items = calloc(r->num ? r->num : 1, sizeof *out->items);
  if (!out->items) return base_oom();
  for (uint32_t k = 0; k < r->num; k++) {
    const bertc_tensor_view_t *v = &r->views[k];
    bertc_output_t *o = &out->items[out->count++];
    o->rank = v->rank - 1;
    int64_t n = 1;
    for (int d = 1; d < v->rank; d++)
      n *= o->dims[d - 1] = v->dims[d];
    if (v->rank >= 2 && v->dims[1] == r->seq) {
      n = n / v->dims[1] * len;
      o->dims[0] = len;
    }
    BERTC_RETURN_IF_ERROR(base_strdup(v->name, &o->name));
    BERTC_RETURN_IF_ERROR(base_alloc((size_t)(n ? n : 1) * sizeof *o->data, (void **)&o->data));
    memcpy(o->data, out_row(v, i), (size_t)n * sizeof *o->data);
  }
  return BERTC_OK;
}

static bertc_status_t classify(const bertc_pipeline_t *p, const float *logits,
                               bertc_labels_t *out) {
  int32_t n = p->facts.num_labels;
  if (n < 1) return bertc_status_make(BERTC_STATUS_DATA, "the model metadata lists no labels");
  BERTC_RETURN_IF_ERROR(base_alloc((size_t)n * sizeof *out->items, (void **)&out->items));
  rt_task_classify(&p->facts, logits, p->options.function, out->items);
  int32_t k = p->options.top_k;
  out->count = k > 0 && k < n ? k : n;
  return BERTC_OK;
}

static bertc_status_t replaced_tokens(const tok_encoding_t *e, const float *logits,
                                      bertc_replaced_tokens_t *out) {
  size_t n = e->len ? e->len : 1, strs = 0;
  for (size_t k = 0; k < e->len; k++)
    strs += strlen(e->tokens[k]) + 1;
  out->tokens = malloc(n * sizeof *out->tokens + strs);
  out->probabilities = malloc(n * sizeof *out->probabilities);
  if (!out->tokens || !out->probabilities) return base_oom();
  char *s = (char *)(out->tokens + n);
  for (size_t k = 0; k < e->len; k++) {
    size_t l = strlen(e->tokens[k]) + 1;
    memcpy(s, e->tokens[k], l);
    out->tokens[k] = s;
    s += l;
    out->probabilities[k] = 1.0 / (1.0 + exp(-(double)logits[k]));
  }
  out->count = (int32_t)e->len;
  return BERTC_OK;
}

/* Post-processes feature i of a run into its item's answer; *done tells
 * whether the answer is complete. */
static bertc_status_t finish_feature(const bertc_pipeline_t *p, const run_out_t *r, int32_t i,
                                     const feature_t *f, bool *done) {
  item_t *it = f->item;
  bertc_answer_t *a = &it->answer;
  const tok_tokenizer_t *tok = rt_tokenizer_tok(p->tokenizer);
  const bertc_pipeline_options_t *o = &p->options;
  *done = true;
  a->task = p->task;
  if (o->raw || p->task == BERTC_TASK_ENCODER) {
    a->raw = true;
    return copy_outputs(r, i, f->len, &a->outputs);
  }
  switch (p->task) {
  case BERTC_TASK_EMBEDDING: {
    const bertc_tensor_view_t *t = out_find(r, "sentence_embedding", NULL);
    if (!t || t->rank != 2) break;
    a->embedding.values = malloc((size_t)t->dims[1] * sizeof *a->embedding.values);
    if (!a->embedding.values) return base_oom();
    memcpy(a->embedding.values, out_row(t, i), (size_t)t->dims[1] * sizeof(float));
    a->embedding.size = (int32_t)t->dims[1];
    return BERTC_OK;
  }
  case BERTC_TASK_SEQUENCE_CLASSIFICATION: {
    const bertc_tensor_view_t *t = out_find(r, "logits", NULL);
    if (!t || t->rank != 2 || t->dims[1] != p->facts.num_labels) break;
    return classify(p, out_row(t, i), &a->labels);
  }
  case BERTC_TASK_NSP: {
    const bertc_tensor_view_t *t = out_find(r, "seq_relationship_logits", "logits");
    if (!t || t->rank != 2 || t->dims[1] != 2) break;
    a->has_is_next = true;
    a->is_next = rt_task_next_sentence(out_row(t, i));
    return BERTC_OK;
  }
  case BERTC_TASK_FILL_MASK:
  case BERTC_TASK_PRETRAINING: {
    const bertc_tensor_view_t *m = out_find(r, "prediction_logits", "logits");
    const bertc_tensor_view_t *q = out_find(r, "seq_relationship_logits", NULL);
    bool both = p->task == BERTC_TASK_PRETRAINING;
    if (!m || m->rank != 3 || (both && !q)) break;
    if (!both || has_mask(tok, &it->enc))
      BERTC_RETURN_IF_ERROR(rt_task_fill_mask(tok, &it->enc, out_row(m, i), m->dims[2],
                                              o->top_k > 0 ? o->top_k : 5, &a->fill_mask));
    if (both) {
      a->has_is_next = true;
      a->is_next = rt_task_next_sentence(out_row(q, i));
    }
    return BERTC_OK;
  }
  case BERTC_TASK_TOKEN_CLASSIFICATION: {
    const bertc_tensor_view_t *t = out_find(r, "logits", NULL);
    if (!t || t->rank != 3 || t->dims[2] != p->facts.num_labels) break;
    return rt_task_token_classify(&p->facts, tok, it->in->text, it->in->text_length, &it->enc,
                                  out_row(t, i), o->aggregation, o->ignore_labels,
                                  o->num_ignore_labels, &a->entities);
  }
  case BERTC_TASK_DISCRIMINATOR: {
    const bertc_tensor_view_t *t = out_find(r, "logits", NULL);
    if (!t || t->rank != 2) break;
    return replaced_tokens(&it->enc, out_row(t, i), &a->replaced);
  }
  case BERTC_TASK_QUESTION_ANSWERING: {
    const bertc_tensor_view_t *s = out_find(r, "start_logits", NULL);
    const bertc_tensor_view_t *e = out_find(r, "end_logits", NULL);
    if (!s || !e) break;
    size_t bytes = (size_t)f->len * sizeof(float);
    BERTC_RETURN_IF_ERROR(base_alloc(bytes, (void **)&it->start[f->window]));
    BERTC_RETURN_IF_ERROR(base_alloc(bytes, (void **)&it->end[f->window]));
    memcpy(it->start[f->window], out_row(s, i), bytes);
    memcpy(it->end[f->window], out_row(e, i), bytes);
    *done = ++it->windows_done == it->qa.num_windows;
    if (!*done) return BERTC_OK;
    return rt_task_qa_answers(tok, &it->qa, it->in->text_pair, it->in->pair_length,
                              (const float *const *)it->start, (const float *const *)it->end, o,
                              &a->answers);
  }
  case BERTC_TASK_AUTO:
  case BERTC_TASK_ENCODER: break;
  }
  return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT,
                           "the model's outputs do not fit task %s (recompile with --task %s)",
                           bertc_task_name(p->task), bertc_task_name(p->task));
}

/* ---- Runs ------------------------------------------------------------------------- */

#define BLOCK 64

/* Runs one chunk of features and finishes them, delivering complete answers. */
static bertc_status_t run_chunk(bertc_pipeline_t *p, const sink_t *sink, const feature_t *fs,
                                int32_t m, const int32_t **ids, const int32_t **types,
                                int32_t *lens, run_out_t *out) {
  bertc_run_input_t ri;
  bertc_run_input_init(&ri);
  ri.count = m;
  ri.lengths = lens;
  ri.input_ids = ids;
  ri.token_type_ids = types;
  ri.pad_id = p->engine.pad_id;
  out->count = m;
  out->seq = 0;
  for (int32_t j = 0; j < m; j++) {
    ids[j] = fs[j].ids;
    types[j] = fs[j].types;
    lens[j] = fs[j].len;
    if (lens[j] > out->seq) out->seq = lens[j];
  }
  BERTC_RETURN_IF_ERROR(p->engine.run(p->engine.self, &ri));
  for (uint32_t k = 0; k < out->num; k++)
    BERTC_RETURN_IF_ERROR(p->engine.output(p->engine.self, k, &out->views[k]));
  for (int32_t j = 0; j < m; j++) {
    item_t *it = fs[j].item;
    bool done = false;
    bertc_status_t s = finish_feature(p, out, j, &fs[j], &done);
    if (!s && done) s = sink->deliver(sink->user, p, it);
    if (s) return bertc_status_annotate(s, "%s", it->where);
  }
  return BERTC_OK;
}

/* Inputs checked and encoded, waiting to run: a block of run_inputs, or
 * what bertc_pipeline_prepare makes. `bad` is the refusal of input n - 1
 * (its features are dropped); the inputs before it run. */
struct bertc_prepared_s {
  item_t *items;
  size_t n;
  fvec_t fs;
  bertc_status_t bad;
  int64_t tokens; /* in the features */
};

/* Prepares inputs[0..count) as inputs first + 0.. into `b`, stopping at
 * the first refused input; `sink` hears of truncated inputs (may be NULL). */
static bertc_status_t prepare_block(const bertc_pipeline_t *p, const bertc_pipeline_input_t *inputs,
                                    size_t count, size_t first, const sink_t *sink,
                                    bertc_prepared_t *b) {
  memset(b, 0, sizeof *b);
  b->items = calloc(count ? count : 1, sizeof *b->items);
  if (!b->items) return base_oom();
  sink_t quiet = {0};
  for (size_t k = 0; k < count; k++) {
    item_t *it = &b->items[k];
    it->in = &inputs[k];
    it->index = first + k;
    if (it->in->name)
      snprintf(it->where, sizeof it->where, "%s", it->in->name);
    else
      snprintf(it->where, sizeof it->where, "input %zu", first + k + 1);
    b->n = k + 1;
    b->bad = prepare(p, sink ? sink : &quiet, it, &b->fs);
    if (b->bad) { /* answer the inputs before this one, then report it */
      while (b->fs.n > 0 && b->fs.v[b->fs.n - 1].item == it) b->fs.n--;
      break;
    }
  }
  for (int i = 0; i < b->fs.n; i++) b->tokens += b->fs.v[i].len;
  return BERTC_OK;
}

static void block_deinit(bertc_prepared_t *b) {
  for (size_t k = 0; k < b->n; k++) item_deinit(&b->items[k]);
  free(b->items);
  free(b->fs.v);
  bertc_status_free(b->bad);
  memset(b, 0, sizeof *b);
}

/* Runs a prepared block in chunks of at most max_batch features and
 * max_batch_tokens tokens, delivering answers; then its refusal, if any. */
static bertc_status_t run_block(bertc_pipeline_t *p, const sink_t *sink, bertc_prepared_t *b,
                                run_out_t *out, const int32_t **ids, const int32_t **types,
                                int32_t *lens) {
  int32_t batch = p->engine.max_batch;
  int64_t max_tokens = p->options.max_batch_tokens;
  bertc_status_t s = BERTC_OK;
  for (int a = 0, m = 0; !s && a < b->fs.n; a += m) {
    int64_t tokens = 0;
    for (m = 0; a + m < b->fs.n && m < batch; m++) {
      if (m > 0 && max_tokens > 0 && tokens + b->fs.v[a + m].len > max_tokens) break;
      tokens += b->fs.v[a + m].len;
    }
    s = run_chunk(p, sink, b->fs.v + a, m, ids, types, lens, out);
  }
  if (!s && b->bad) {
    s = b->bad;
    b->bad = BERTC_OK;
  }
  return s;
}

typedef struct run_buffers {
  run_out_t out;
  const int32_t **ids, **types;
  int32_t *lens;
} run_buffers_t;

static void run_buffers_deinit(run_buffers_t *r) {
  free(r->ids);
  free(r->types);
  free(r->lens);
  free(r->out.views);
}

static bertc_status_t run_buffers_init(bertc_pipeline_t *p, run_buffers_t *r) {
  memset(r, 0, sizeof *r);
  if (!p->has_engine)
    return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT,
                             "the pipeline has no engine (it only encodes)");
  size_t batch = (size_t)p->engine.max_batch;
  r->out.num = p->engine.num_outputs(p->engine.self);
  r->ids = calloc(batch, sizeof *r->ids);
  r->types = calloc(batch, sizeof *r->types);
  r->lens = calloc(batch, sizeof *r->lens);
  r->out.views = calloc(r->out.num ? r->out.num : 1, sizeof *r->out.views);
  if (r->ids && r->types && r->lens && r->out.views) return BERTC_OK;
  run_buffers_deinit(r);
  return base_oom();
}

static bertc_status_t run_inputs(bertc_pipeline_t *p, const bertc_pipeline_input_t *inputs,
                                 size_t count, const sink_t *sink) {
  if (count && !inputs)
    return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT, "bertc_pipeline_run: inputs is NULL");
  run_buffers_t r;
  bertc_status_t s = run_buffers_init(p, &r);
  for (size_t first = 0; !s && first < count; first += BLOCK) {
    size_t n = count - first < BLOCK ? count - first : BLOCK;
    bertc_prepared_t b;
    s = prepare_block(p, inputs + first, n, first, sink, &b);
    if (!s) s = run_block(p, sink, &b, &r.out, r.ids, r.types, r.lens);
    block_deinit(&b);
  }
  run_buffers_deinit(&r);
  return s;
}

static bertc_status_t deliver_to_array(void *user, const bertc_pipeline_t *p, item_t *it) {
  (void)p;
  bertc_answer_t *answers = user;
  answers[it->index] = it->answer;
  memset(&it->answer, 0, sizeof it->answer);
  return BERTC_OK;
}

bertc_status_t bertc_pipeline_run(bertc_pipeline_t *p, const bertc_pipeline_input_t *inputs,
                                  size_t count, bertc_answer_t *out_answers) {
  if (count) memset(out_answers, 0, count * sizeof *out_answers);
  sink_t sink = {deliver_to_array, out_answers, NULL, NULL};
  bertc_status_t s = run_inputs(p, inputs, count, &sink);
  if (s)
    for (size_t i = 0; i < count; i++)
      bertc_answer_deinit(&out_answers[i]);
  return s;
}

static bertc_status_t deliver_json(void *user, const bertc_pipeline_t *p, item_t *it) {
  const bertc_answer_sink_t *sink = user;
  char *json = NULL;
  BERTC_RETURN_IF_ERROR(bertc_answer_json(p, &it->answer, &json));
  bertc_status_t s = sink->answer(sink->user, it->index, json, strlen(json));
  free(json);
  return s;
}

bertc_status_t bertc_pipeline_run_json(bertc_pipeline_t *p, const bertc_pipeline_input_t *inputs,
                                       size_t count, const bertc_answer_sink_t *sink) {
  if (!sink || !sink->answer)
    return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT,
                             "bertc_pipeline_run_json: the sink has no answer function");
  sink_t s = {deliver_json, (void *)sink, sink->truncated, sink->user};
  return run_inputs(p, inputs, count, &s);
}

bertc_status_t bertc_pipeline_prepare(const bertc_pipeline_t *p,
                                     const bertc_pipeline_input_t *inputs, size_t count,
                                     size_t first_index, bertc_prepared_t **out_prepared) {
  *out_prepared = NULL;
  if (!p || (count && !inputs))
    return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT,
                             "bertc_pipeline_prepare: pipeline and inputs are required");
  bertc_prepared_t *b;
  BERTC_RETURN_IF_ERROR(base_calloc(1, sizeof *b, (void **)&b));
  bertc_status_t s = prepare_block(p, inputs, count, first_index, NULL, b);
  if (s) {
    bertc_prepared_release(b);
    return s;
  }
  *out_prepared = b;
  return BERTC_OK;
}

int64_t bertc_prepared_tokens(const bertc_prepared_t *prepared) {
  return prepared ? prepared->tokens : 0;
}

void bertc_prepared_release(bertc_prepared_t *prepared) {
  if (!prepared) return;
  block_deinit(prepared);
  free(prepared);
}

bertc_status_t bertc_pipeline_run_prepared_json(bertc_pipeline_t *p, bertc_prepared_t *prepared,
                                                const bertc_answer_sink_t *sink) {
  if (!p || !prepared || !sink || !sink->answer)
    return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT,
                             "bertc_pipeline_run_prepared_json: pipeline, prepared inputs and an "
                             "answer function are required");
  sink_t s = {deliver_json, (void *)sink, sink->truncated, sink->user};
  for (size_t k = 0; sink->truncated && k < prepared->n; k++)
    if (prepared->items[k].answer.truncated) sink->truncated(sink->user, prepared->items[k].index);
  run_buffers_t r;
  bertc_status_t st = run_buffers_init(p, &r);
  if (!st) st = run_block(p, &s, prepared, &r.out, r.ids, r.types, r.lens);
  run_buffers_deinit(&r);
  return st;
}

/* ---- One input -------------------------------------------------------------------- */

/* Runs one input and moves the answer's member at `offset` (`size` bytes)
 * into *out, which is zeroed on failure; fails unless the pipeline's task is
 * one of `tasks` (and not raw). */
static bertc_status_t run_one(bertc_pipeline_t *p, const char *what, const bertc_task_t *tasks,
                              size_t num_tasks, const bertc_pipeline_input_t *in, size_t offset,
                              void *out, size_t size) {
  memset(out, 0, size);
  bool fits = false;
  for (size_t i = 0; i < num_tasks; i++)
    fits |= p->task == tasks[i];
  if (!fits || p->options.raw)
    return bertc_status_make(
        BERTC_STATUS_INVALID_ARGUMENT, "bertc_pipeline_%s: the pipeline answers %s%s", what,
        p->options.raw ? "with raw outputs for " : "", bertc_task_name(p->task));
  bertc_answer_t a;
  BERTC_RETURN_IF_ERROR(bertc_pipeline_run(p, in, 1, &a));
  memcpy(out, (char *)&a + offset, size);
  memset((char *)&a + offset, 0, size);
  bertc_answer_deinit(&a);
  return BERTC_OK;
}

#define ONE_INPUT(p, what, tasks, in, member, out)                                              \
  run_one(p, what, tasks, BASE_ARRAY_LEN(tasks), in, offsetof(bertc_answer_t, member), out,   \
          sizeof *(out))

bertc_status_t bertc_pipeline_fill_mask(bertc_pipeline_t *p, const char *text, size_t length,
                                        bertc_fill_mask_t *out_fill_mask) {
  static const bertc_task_t tasks[] = {BERTC_TASK_FILL_MASK, BERTC_TASK_PRETRAINING};
  bertc_pipeline_input_t in = {text, length, NULL, 0, NULL};
  BERTC_RETURN_IF_ERROR(ONE_INPUT(p, "fill_mask", tasks, &in, fill_mask, out_fill_mask));
  if (out_fill_mask->num_masks) return BERTC_OK;
  /* pretraining answers an input without a mask with is_next alone */
  const tok_tokenizer_t *tok = rt_tokenizer_tok(p->tokenizer);
  const char *name = tok_id_to_token(tok, tok_mask_id(tok));
  return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT, "input 1: no mask token (%s) in the input",
                           name ? name : "none defined");
}

bertc_status_t bertc_pipeline_classify(bertc_pipeline_t *p, const char *text, size_t length,
                                       const char *text_pair, size_t pair_length,
                                       bertc_labels_t *out_labels) {
  static const bertc_task_t tasks[] = {BERTC_TASK_SEQUENCE_CLASSIFICATION};
  bertc_pipeline_input_t in = {text, length, text_pair, pair_length, NULL};
  return ONE_INPUT(p, "classify", tasks, &in, labels, out_labels);
}

bertc_status_t bertc_pipeline_next_sentence(bertc_pipeline_t *p, const char *text, size_t length,
                                            const char *text_pair, size_t pair_length,
                                            float *out_probability) {
  static const bertc_task_t tasks[] = {BERTC_TASK_NSP, BERTC_TASK_PRETRAINING};
  *out_probability = 0;
  if (!text_pair) /* pretraining would take one text */
    return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT,
                             "bertc_pipeline_next_sentence: text_pair is NULL");
  bertc_pipeline_input_t in = {text, length, text_pair, pair_length, NULL};
  return ONE_INPUT(p, "next_sentence", tasks, &in, is_next, out_probability);
}

bertc_status_t bertc_pipeline_token_classify(bertc_pipeline_t *p, const char *text,
                                             size_t length, bertc_entities_t *out_entities) {
  static const bertc_task_t tasks[] = {BERTC_TASK_TOKEN_CLASSIFICATION};
  bertc_pipeline_input_t in = {text, length, NULL, 0, NULL};
  return ONE_INPUT(p, "token_classify", tasks, &in, entities, out_entities);
}

bertc_status_t bertc_pipeline_question_answering(bertc_pipeline_t *p, const char *question,
                                                 size_t question_length, const char *context,
                                                 size_t context_length,
                                                 bertc_qa_answers_t *out_answers) {
  static const bertc_task_t tasks[] = {BERTC_TASK_QUESTION_ANSWERING};
  bertc_pipeline_input_t in = {question, question_length, context, context_length, NULL};
  return ONE_INPUT(p, "question_answering", tasks, &in, answers, out_answers);
}

bertc_status_t bertc_pipeline_embed(bertc_pipeline_t *p, const char *text, size_t length,
                                    bertc_embedding_t *out_embedding) {
  static const bertc_task_t tasks[] = {BERTC_TASK_EMBEDDING};
  bertc_pipeline_input_t in = {text, length, NULL, 0, NULL};
  return ONE_INPUT(p, "embed", tasks, &in, embedding, out_embedding);
}

/* ---- Features --------------------------------------------------------------------- */

bertc_status_t bertc_pipeline_encode(const bertc_pipeline_t *p, const bertc_pipeline_input_t *in,
                                     bertc_features_t *out) {
  memset(out, 0, sizeof *out);
  if (!in || (!in->text && in->text_length))
    return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT, "bertc_pipeline_encode: no text");
  const tok_tokenizer_t *tok = rt_tokenizer_tok(p->tokenizer);
  const char *text = in->text ? in->text : "";
  bertc_status_t s;
  if (p->task == BERTC_TASK_QUESTION_ANSWERING && in->text_pair && !p->options.raw) {
    rt_qa_features_t f;
    BERTC_RETURN_IF_ERROR(rt_task_qa_features(tok, text, in->text_length, in->text_pair,
                                              in->pair_length, model_max(p), &p->options, &f));
    out->windows = true;
    out->sequences = calloc((size_t)f.num_windows, sizeof *out->sequences);
    s = out->sequences ? BERTC_OK : base_oom();
    for (int32_t w = 0; !s && w < f.num_windows; w++, out->count++)
      s = rt_encoding_copy(&f.full, f.windows[w].source, (size_t)f.windows[w].len,
                           &out->sequences[w]);
    rt_qa_features_deinit(&f);
  } else {
    tok_encoding_t e;
    BERTC_RETURN_IF_ERROR(tok_encode(tok, text, in->text_length, in->text_pair, in->pair_length,
                                     (size_t)p->max_len, TOK_TRUNC_LONGEST_FIRST, &e));
    out->sequences = calloc(1, sizeof *out->sequences);
    s = out->sequences ? rt_encoding_copy(&e, NULL, e.len, &out->sequences[0]) : base_oom();
    if (!s) out->count = 1;
    out->truncated = e.truncated != 0;
    tok_encoding_deinit(&e);
  }
  if (s) bertc_features_deinit(out);
  return s;
}
