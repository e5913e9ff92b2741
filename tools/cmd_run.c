/* bertc run MODEL (--text TEXT [--pair TEXT] | --input FILE.jsonl | --ids ID,...)
 *
 * MODEL is a compiled .so (run through the runtime, tokenizer from the .so)
 * or a HuggingFace directory / model.json (run through the reference
 * interpreter, tokenizer from its files). Text inputs are tokenized,
 * truncated to the model's max_seq_length (a note on stderr says so), run in
 * batches and post-processed for the model's task (runtime/tasks.h): one
 * JSON object per input on stdout, in order (formats in docs/cli.md). Token
 * ids (--ids) print the raw output tensors, as does --raw.
 *
 * The work is a loop over blocks of inputs: each input becomes one or more
 * features (token sequences; question answering cuts long contexts into
 * windows), features run in chunks of the engine's batch, and an input's
 * answer is printed as soon as its last feature has run. */
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bertc/bertc.h"
#include "frontend/frontend.h"
#include "base/base.h"
#include "runtime/tasks.h"
#include "tools/cli.h"

static const char *help =
    "usage: bertc run MODEL (--text TEXT [--pair TEXT] ... | --input FILE.jsonl |\n"
    "                        --ids ID,ID,... [--type-ids ID,...] ...) [options]\n"
    "\n"
    "Runs MODEL (a .so from 'bertc compile', a model.json or a HuggingFace model\n"
    "directory) and prints one JSON object per input on stdout, in order. Text is\n"
    "tokenized with the model's tokenizer, truncated to its max_seq_length (a note\n"
    "on stderr says so) and post-processed for its task like the HuggingFace\n"
    "pipelines (formats in docs/cli.md):\n"
    "  embedding               {\"embedding\": [...]}\n"
    "  fill-mask               {\"mask\": [{\"token\", \"token_str\", \"score\", \"sequence\"}, "
    "...]}\n"
    "  next-sentence           {\"is_next\": p}\n"
    "  sequence-classification {\"label\", \"score\", \"scores\": [{\"label\", \"score\"}, ...]}\n"
    "  token-classification    {\"entities\": [{\"entity_group\", \"score\", \"word\", \"start\", "
    "\"end\"}]}\n"
    "  question-answering      {\"answer\", \"score\", \"start\", \"end\"}\n"
    "\n"
    "  --text TEXT          one input (repeat for more); for question answering the question\n"
    "  --pair TEXT          second text of the preceding --text (next-sentence, pairs;\n"
    "                       the context for question answering)\n"
    "  --question, --context  the same as --text, --pair\n"
    "  --input FILE         JSON Lines: {\"text\", \"text_pair\"} or {\"question\", \"context\"}\n"
    "                       per line ('-' for stdin); other keys are ignored\n"
    "  --ids LIST           token ids of one input (repeat for a batch); prints raw outputs\n"
    "  --type-ids LIST      token type ids for the preceding --ids (default zeros)\n"
    "  --task NAME          post-process as NAME instead of the model's task: a directory\n"
    "                       is rebuilt for it; a .so must have the outputs it needs\n"
    "  --top-k N            fill-mask candidates (default 5), labels listed in \"scores\"\n"
    "                       (default all), answers (default 1; N > 1 prints \"answers\")\n"
    "  --aggregation NAME   token classification: none, simple (default), first,\n"
    "                       average or max\n"
    "  --function NAME      sequence classification: softmax, sigmoid or none (default:\n"
    "                       from the model's problem_type and label count)\n"
    "  --doc-stride N       question answering: window overlap in tokens (default\n"
    "                       min(window/2, 128))\n"
    "  --max-answer-len N   question answering: longest answer in tokens (default 15)\n"
    "  --raw                print the output tensors instead of post-processing\n"
    "  --threads N          threads for a compiled model (default: all cores)\n"
    "  -h, --help           show this help\n";

/* ---- Engines: the runtime for a .so, the interpreter for a directory ---------------- */

typedef struct engine {
  bertc_model_t *model; /* compiled */
  bertc_context_t *ctx;
  fe_model_t *fe; /* interpreter */
  int32_t batch;  /* sequences per run */
  int32_t pad_id;
} engine_t;

#define MAX_OUTPUTS 8

/* The outputs of one run of `count` sequences padded to `seq`. */
typedef struct run_out {
  int count;
  int64_t seq;
  int nt;
  cli_tensor_t t[MAX_OUTPUTS];
  ir_tensor_t owned[MAX_OUTPUTS];
  int n_owned;
} run_out_t;

static void run_out_clear(run_out_t *o) {
  for (int i = 0; i < o->n_owned; i++)
    ir_tensor_deinit(&o->owned[i]);
  memset(o, 0, sizeof *o);
}

static const cli_tensor_t *out_find(const run_out_t *o, const char *name) {
  for (int i = 0; i < o->nt; i++)
    if (!strcmp(o->t[i].name, name)) return &o->t[i];
  return NULL;
}

/* Sequence i's slice of an output. */
static const float *out_row(const cli_tensor_t *t, int i) {
  int64_t per = 1;
  for (int k = 1; k < t->rank; k++)
    per *= t->dims[k];
  return t->data + (int64_t)i * per;
}

static bertc_status_t engine_run(engine_t *e, int n, const int32_t *const *ids,
                                 const int32_t *const *types, const int32_t *lens, run_out_t *out) {
  run_out_clear(out);
  int64_t seq = 0;
  for (int i = 0; i < n; i++)
    if (lens[i] > seq) seq = lens[i];
  out->count = n;
  out->seq = seq;
  if (e->ctx) {
    bertc_run_input_t ri;
    bertc_run_input_init(&ri);
    ri.count = n;
    ri.lengths = lens;
    ri.input_ids = ids;
    ri.token_type_ids = types;
    ri.pad_id = e->pad_id;
    BERTC_RETURN_IF_ERROR(bertc_context_run(e->ctx, &ri));
    uint32_t nout;
    bertc_model_outputs(e->model, &nout);
    for (uint32_t o = 0; o < nout && out->nt < MAX_OUTPUTS; o++) {
      bertc_tensor_view_t v;
      BERTC_RETURN_IF_ERROR(bertc_context_output(e->ctx, o, &v));
      cli_tensor_t *t = &out->t[out->nt++];
      t->name = v.name;
      t->rank = v.rank;
      memcpy(t->dims, v.dims, sizeof t->dims);
      t->data = v.data;
    }
    return BERTC_OK;
  }
  const fe_model_t *m = e->fe;
  size_t cells = (size_t)n * (size_t)seq;
  int32_t *pids = calloc(cells, sizeof *pids), *ptypes = calloc(cells, sizeof *ptypes),
          *mask = calloc(cells, sizeof *mask);
  bertc_status_t s = pids && ptypes && mask
                         ? BERTC_OK
                         : bertc_status_make(BERTC_STATUS_OUT_OF_MEMORY, "out of memory");
  if (!s && seq > m->max_seq_length)
    s = bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT,
                          "an input has %lld tokens, more than the model's maximum %lld",
                          (long long)seq, (long long)m->max_seq_length);
  for (int i = 0; !s && i < n; i++)
    for (int64_t t = 0; !s && t < seq; t++) {
      bool real = t < lens[i];
      int32_t id = real ? ids[i][t] : (int32_t)m->config.pad_token_id;
      int32_t ty = real && types && types[i] ? types[i][t] : 0;
      if (id < 0 || id >= m->config.vocab_size)
        s = bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT,
                              "input %d: token id %d at position %lld is out of range [0, %lld)", i,
                              id, (long long)t, (long long)m->config.vocab_size);
      else if (m->config.type_vocab_size > 0 && (ty < 0 || ty >= m->config.type_vocab_size))
        s = bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT,
                              "input %d: token type id %d at position %lld is out of range "
                              "[0, %lld)",
                              i, ty, (long long)t, (long long)m->config.type_vocab_size);
      pids[i * seq + t] = id;
      ptypes[i * seq + t] = ty;
      mask[i * seq + t] = real;
    }
  size_t no = m->graph->num_outputs < MAX_OUTPUTS ? m->graph->num_outputs : MAX_OUTPUTS;
  ir_tensor_t outs[MAX_OUTPUTS];
  if (!s && m->graph->num_outputs > MAX_OUTPUTS)
    s = bertc_status_make(BERTC_STATUS_UNSUPPORTED, "the graph has more than %d outputs",
                          MAX_OUTPUTS);
  if (!s) s = ir_interpret(m->graph, n, seq, pids, ptypes, mask, outs);
  if (!s) {
    for (size_t o = 0; o < no; o++) {
      out->owned[out->n_owned++] = outs[o];
      cli_tensor_t *t = &out->t[out->nt++];
      t->name = m->graph->outputs[o].name;
      t->rank = outs[o].rank;
      memcpy(t->dims, outs[o].dims, sizeof t->dims);
      t->data = outs[o].data;
    }
  }
  free(pids);
  free(ptypes);
  free(mask);
  return s;
}

static void engine_close(engine_t *e) {
  bertc_context_release(e->ctx);
  bertc_model_release(e->model);
  fe_model_destroy(e->fe);
  memset(e, 0, sizeof *e);
}

/* ---- Options and per-input state ------------------------------------------------------ */

typedef struct run_opts {
  bertc_task_t task;
  bool raw;
  int top_k; /* 0 = the task's default */
  rt_aggregation_t agg;
  rt_class_fn_t fn;
  rt_qa_options_t qa;
} run_opts_t;

/* One input being processed: its encoding (or QA windows) and, for QA, the
 * logits of the windows run so far. */
typedef struct item {
  const cli_text_t *in;
  size_t index;
  tok_encoding_t enc;
  rt_qa_features_t qa;
  float **start, **end;
  int windows_done;
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
  memset(it, 0, sizeof *it);
}

/* A feature: one token sequence to run, belonging to an item. */
typedef struct feature {
  item_t *item;
  int window; /* QA window index, else 0 */
  int32_t len;
  const int32_t *ids, *types;
} feature_t;

/* ---- Printing answers -------------------------------------------------------------- */

static void print_label_scores(const cli_text_model_t *tm, const rt_label_score_t *ls, int n) {
  fputc('[', stdout);
  for (int i = 0; i < n; i++) {
    fputs(i ? ",{\"label\":" : "{\"label\":", stdout);
    cli_print_json_string(stdout, tm->facts.labels[ls[i].label]);
    fputs(",\"score\":", stdout);
    cli_print_number(stdout, ls[i].score);
    fputc('}', stdout);
  }
  fputc(']', stdout);
}

static bertc_status_t print_classification(const cli_text_model_t *tm, const run_opts_t *o,
                                           const float *logits) {
  int n = tm->facts.num_labels;
  if (n < 1) return bertc_status_make(BERTC_STATUS_DATA, "the model metadata lists no labels");
  rt_label_score_t *ls = malloc((size_t)n * sizeof *ls);
  if (!ls) return bertc_status_make(BERTC_STATUS_OUT_OF_MEMORY, "out of memory");
  rt_task_classify(&tm->facts, logits, o->fn, ls);
  fputs("{\"label\":", stdout);
  cli_print_json_string(stdout, tm->facts.labels[ls[0].label]);
  fputs(",\"score\":", stdout);
  cli_print_number(stdout, ls[0].score);
  fputs(",\"scores\":", stdout);
  print_label_scores(tm, ls, o->top_k > 0 && o->top_k < n ? o->top_k : n);
  fputs("}\n", stdout);
  free(ls);
  return BERTC_OK;
}

static void print_candidates(const rt_fill_mask_t *m) {
  fputc('[', stdout);
  for (int32_t c = 0; c < m->count; c++) {
    const rt_fill_candidate_t *k = &m->candidates[c];
    fprintf(stdout, "%s{\"token\":%d,\"token_str\":", c ? "," : "", k->token);
    cli_print_json_string(stdout, k->token_str);
    fputs(",\"score\":", stdout);
    cli_print_number(stdout, k->score);
    fputs(",\"sequence\":", stdout);
    cli_print_json_string(stdout, k->sequence);
    fputc('}', stdout);
  }
  fputc(']', stdout);
}

/* "mask": candidates of the one mask, or a list per mask. */
static void print_fill_mask_field(const rt_fill_mask_result_t *r) {
  fputs("\"mask\":", stdout);
  if (r->num_masks == 1) {
    print_candidates(&r->masks[0]);
  } else {
    fputc('[', stdout);
    for (int32_t m = 0; m < r->num_masks; m++) {
      if (m) fputc(',', stdout);
      print_candidates(&r->masks[m]);
    }
    fputc(']', stdout);
  }
}

static bertc_status_t print_entities(const cli_text_model_t *tm, const run_opts_t *o,
                                     const item_t *it, const float *logits) {
  rt_entities_t ents;
  BERTC_RETURN_IF_ERROR(rt_task_token_classify(&tm->facts, tm->decoder, it->in->text,
                                               it->in->text_len, &it->enc, logits, o->agg, NULL, 0,
                                               &ents));
  fputs("{\"entities\":[", stdout);
  for (int32_t i = 0; i < ents.count; i++) {
    const rt_entity_t *e = &ents.items[i];
    fputs(i ? ",{" : "{", stdout);
    fputs(o->agg == RT_AGG_NONE ? "\"entity\":" : "\"entity_group\":", stdout);
    cli_print_json_string(stdout, e->label);
    fputs(",\"score\":", stdout);
    cli_print_number(stdout, e->score);
    if (o->agg == RT_AGG_NONE) fprintf(stdout, ",\"index\":%d", e->index);
    fputs(",\"word\":", stdout);
    cli_print_json_string(stdout, e->word);
    fprintf(stdout, ",\"start\":%d,\"end\":%d}", e->start, e->end);
  }
  fputs("]}\n", stdout);
  rt_entities_deinit(&ents);
  return BERTC_OK;
}

static void print_answer(const rt_qa_answer_t *a) {
  fputs("{\"answer\":", stdout);
  cli_print_json_string(stdout, a->answer);
  fputs(",\"score\":", stdout);
  cli_print_number(stdout, a->score);
  fprintf(stdout, ",\"start\":%d,\"end\":%d}", a->start, a->end);
}

static bertc_status_t print_answers(const cli_text_model_t *tm, const run_opts_t *o, item_t *it) {
  rt_qa_answers_t ans;
  BERTC_RETURN_IF_ERROR(rt_task_qa_answers(tm->decoder, &it->qa, it->in->pair, it->in->pair_len,
                                           (const float *const *)it->start,
                                           (const float *const *)it->end, &o->qa, &ans));
  if (o->qa.top_k > 1) {
    fputs("{\"answers\":[", stdout);
    for (int32_t i = 0; i < ans.count; i++) {
      if (i) fputc(',', stdout);
      print_answer(&ans.items[i]);
    }
    fputs("]}\n", stdout);
  } else if (ans.count) {
    print_answer(&ans.items[0]);
    fputc('\n', stdout);
  } else {
    fputs("{\"answer\":\"\",\"score\":0,\"start\":0,\"end\":0}\n", stdout);
  }
  rt_qa_answers_deinit(&ans);
  return BERTC_OK;
}

static const cli_tensor_t *need(const run_out_t *r, const char *a, const char *b) {
  const cli_tensor_t *t = out_find(r, a);
  return t ? t : b ? out_find(r, b) : NULL;
}

/* Post-processes feature i of a run; prints the item's answer when complete. */
static bertc_status_t finish_feature(const cli_text_model_t *tm, const run_opts_t *o,
                                     const run_out_t *r, int i, const feature_t *f) {
  item_t *it = f->item;
  int64_t len = f->len;
  if (o->raw || o->task == BERTC_TASK_ENCODER) {
    cli_print_result(stdout, r->t, r->nt, i, r->seq, len);
    return BERTC_OK;
  }
  switch (o->task) {
  case BERTC_TASK_EMBEDDING: {
    const cli_tensor_t *t = need(r, "sentence_embedding", NULL);
    if (!t) break;
    fputs("{\"embedding\":", stdout);
    cli_print_floats(stdout, out_row(t, i), t->dims[1]);
    fputs("}\n", stdout);
    return BERTC_OK;
  }
  case BERTC_TASK_SEQUENCE_CLASSIFICATION: {
    const cli_tensor_t *t = need(r, "logits", NULL);
    if (!t || t->rank != 2 || t->dims[1] != tm->facts.num_labels) break;
    return print_classification(tm, o, out_row(t, i));
  }
  case BERTC_TASK_NSP: {
    const cli_tensor_t *t = need(r, "seq_relationship_logits", "logits");
    if (!t || t->rank != 2 || t->dims[1] != 2) break;
    fputs("{\"is_next\":", stdout);
    cli_print_number(stdout, rt_task_next_sentence(out_row(t, i)));
    fputs("}\n", stdout);
    return BERTC_OK;
  }
  case BERTC_TASK_FILL_MASK:
  case BERTC_TASK_PRETRAINING: {
    const cli_tensor_t *p = need(r, "prediction_logits", "logits");
    const cli_tensor_t *q = need(r, "seq_relationship_logits", NULL);
    bool both = o->task == BERTC_TASK_PRETRAINING;
    if (!p || p->rank != 3 || (both && !q)) break;
    rt_fill_mask_result_t fm = {0};
    int32_t mask = tok_mask_id(tm->tokenizer);
    bool any = false;
    for (size_t k = 0; k < it->enc.len; k++)
      any |= it->enc.ids[k] == mask;
    if (any || !both)
      BERTC_RETURN_IF_ERROR(rt_task_fill_mask(tm->decoder, &it->enc, out_row(p, i), p->dims[2],
                                              o->top_k > 0 ? o->top_k : 5, &fm));
    fputc('{', stdout);
    if (fm.num_masks) print_fill_mask_field(&fm);
    if (both) {
      fputs(fm.num_masks ? ",\"is_next\":" : "\"is_next\":", stdout);
      cli_print_number(stdout, rt_task_next_sentence(out_row(q, i)));
    }
    fputs("}\n", stdout);
    rt_fill_mask_result_deinit(&fm);
    return BERTC_OK;
  }
  case BERTC_TASK_TOKEN_CLASSIFICATION: {
    const cli_tensor_t *t = need(r, "logits", NULL);
    if (!t || t->rank != 3 || t->dims[2] != tm->facts.num_labels) break;
    return print_entities(tm, o, it, out_row(t, i));
  }
  case BERTC_TASK_DISCRIMINATOR: {
    const cli_tensor_t *t = need(r, "logits", NULL);
    if (!t || t->rank != 2) break;
    const float *row = out_row(t, i);
    fputs("{\"tokens\":[", stdout);
    for (size_t k = 0; k < it->enc.len; k++) {
      if (k) fputc(',', stdout);
      cli_print_json_string(stdout, it->enc.tokens[k]);
    }
    fputs("],\"replaced\":[", stdout);
    for (size_t k = 0; k < it->enc.len; k++) {
      if (k) fputc(',', stdout);
      cli_print_number(stdout, 1.0 / (1.0 + exp(-(double)row[k])));
    }
    fputs("]}\n", stdout);
    return BERTC_OK;
  }
  case BERTC_TASK_QUESTION_ANSWERING: {
    const cli_tensor_t *s = need(r, "start_logits", NULL), *e = need(r, "end_logits", NULL);
    if (!s || !e) break;
    float *a = malloc((size_t)len * sizeof *a), *b = malloc((size_t)len * sizeof *b);
    if (!a || !b) {
      free(a);
      free(b);
      return bertc_status_make(BERTC_STATUS_OUT_OF_MEMORY, "out of memory");
    }
    memcpy(a, out_row(s, i), (size_t)len * sizeof *a);
    memcpy(b, out_row(e, i), (size_t)len * sizeof *b);
    it->start[f->window] = a;
    it->end[f->window] = b;
    if (++it->windows_done == it->qa.num_windows) return print_answers(tm, o, it);
    return BERTC_OK;
  }
  case BERTC_TASK_AUTO:
  case BERTC_TASK_ENCODER: break;
  }
  return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT,
                           "the model's outputs do not fit task %s (recompile with --task %s)",
                           bertc_task_name(o->task), bertc_task_name(o->task));
}

typedef struct fvec {
  feature_t *v;
  int n, cap;
} fvec_t;

static bertc_status_t fvec_push(fvec_t *f, feature_t x) {
  if (f->n == f->cap) {
    int cap = f->cap ? 2 * f->cap : 64;
    feature_t *p = realloc(f->v, (size_t)cap * sizeof *p);
    if (!p) return bertc_status_make(BERTC_STATUS_OUT_OF_MEMORY, "out of memory");
    f->v = p;
    f->cap = cap;
  }
  f->v[f->n++] = x;
  return BERTC_OK;
}

/* Makes an item's features: its encoding, or its question-answering windows. */
static bertc_status_t prepare(const cli_text_model_t *tm, const run_opts_t *o, item_t *it,
                              fvec_t *fs) {
  char where[64];
  const cli_text_t *in = it->in;
  cli_text_where(in, it->index, where, sizeof where);
  if (o->task == BERTC_TASK_QUESTION_ANSWERING && !o->raw) {
    if (!in->pair)
      return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT,
                               "%s: question answering needs a question and a context (--text "
                               "and --pair, or \"question\" and \"context\")",
                               where);
    BERTC_RETURN_IF_ERROR_CTX(rt_task_qa_features(tm->decoder, in->text, in->text_len, in->pair,
                                                  in->pair_len, tm->max_len, &o->qa, &it->qa),
                              "%s", where);
    it->start = calloc((size_t)it->qa.num_windows, sizeof *it->start);
    it->end = calloc((size_t)it->qa.num_windows, sizeof *it->end);
    if (!it->start || !it->end)
      return bertc_status_make(BERTC_STATUS_OUT_OF_MEMORY, "out of memory");
    for (int w = 0; w < it->qa.num_windows; w++)
      BERTC_RETURN_IF_ERROR(
          fvec_push(fs, (feature_t){it, w, it->qa.windows[w].len, it->qa.windows[w].ids,
                                    it->qa.windows[w].type_ids}));
    return BERTC_OK;
  }
  if (!o->raw && o->task == BERTC_TASK_TOKEN_CLASSIFICATION && in->pair)
    return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT,
                             "%s: token classification takes one text, not a pair", where);
  if (!o->raw && o->task == BERTC_TASK_NSP && !in->pair)
    return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT,
                             "%s: next-sentence prediction needs two texts (--text and --pair, "
                             "or \"text\" and \"text_pair\")",
                             where);
  BERTC_RETURN_IF_ERROR(cli_encode("run", tm, in, it->index, &it->enc));
  if (!o->raw && o->task == BERTC_TASK_FILL_MASK) { /* the pipeline checks before running */
    int32_t mask = tok_mask_id(tm->tokenizer);
    bool any = false;
    for (size_t k = 0; k < it->enc.len; k++)
      any |= it->enc.ids[k] == mask;
    const char *name = tok_id_to_token(tm->tokenizer, mask);
    if (!any)
      return bertc_status_make(
          BERTC_STATUS_INVALID_ARGUMENT, "%s: no mask token (%s) in the input%s", where,
          name ? name : "none defined", it->enc.truncated ? " after truncation" : "");
  }
  return fvec_push(fs, (feature_t){it, 0, (int32_t)it->enc.len, it->enc.ids, it->enc.type_ids});
}

#define BLOCK 64

/* Runs every text input through the engine, BLOCK inputs at a time. */
static bertc_status_t run_texts(engine_t *e, const cli_text_model_t *tm, const run_opts_t *o,
                                const cli_texts_t *texts) {
  bertc_status_t s = BERTC_OK, bad = BERTC_OK;
  item_t *items = calloc(BLOCK, sizeof *items);
  run_out_t out;
  memset(&out, 0, sizeof out);
  const int32_t **ids = calloc((size_t)e->batch, sizeof *ids);
  const int32_t **types = calloc((size_t)e->batch, sizeof *types);
  int32_t *lens = calloc((size_t)e->batch, sizeof *lens);
  if (!items || !ids || !types || !lens)
    s = bertc_status_make(BERTC_STATUS_OUT_OF_MEMORY, "out of memory");
  for (size_t first = 0; !s && first < texts->count; first += BLOCK) {
    size_t n = texts->count - first < BLOCK ? texts->count - first : BLOCK;
    fvec_t fs = {0};
    for (size_t k = 0; k < n; k++) {
      items[k].in = &texts->items[first + k];
      items[k].index = first + k;
      bad = prepare(tm, o, &items[k], &fs);
      if (bad) { /* answer the inputs before this one, then report it */
        while (fs.n > 0 && fs.v[fs.n - 1].item == &items[k])
          fs.n--;
        n = k + 1;
        break;
      }
    }
    for (int a = 0; !s && a < fs.n; a += e->batch) {
      int m = fs.n - a < e->batch ? fs.n - a : e->batch;
      for (int j = 0; j < m; j++) {
        ids[j] = fs.v[a + j].ids;
        types[j] = fs.v[a + j].types;
        lens[j] = fs.v[a + j].len;
      }
      s = engine_run(e, m, ids, types, lens, &out);
      for (int j = 0; !s && j < m; j++) {
        const feature_t *f = &fs.v[a + j];
        s = finish_feature(tm, o, &out, j, f);
        if (s) {
          char where[64];
          s = bertc_status_annotate(
              s, "%s", cli_text_where(f->item->in, f->item->index, where, sizeof where));
        }
      }
    }
    fflush(stdout);
    for (size_t k = 0; k < n; k++)
      item_deinit(&items[k]);
    free(fs.v);
    if (bad && s)
      bertc_status_free(bad);
    else if (bad)
      s = bad;
  }
  run_out_clear(&out);
  free(items);
  free(ids);
  free(types);
  free(lens);
  return s;
}

/* ---- Token ids (--ids) ------------------------------------------------------------- */

#define MAX_IDS 4096

typedef struct id_inputs {
  int n;
  int32_t *ids[MAX_IDS];
  int32_t *types[MAX_IDS];
  int32_t lengths[MAX_IDS];
} id_inputs_t;

static void id_inputs_free(id_inputs_t *in) {
  for (int i = 0; i < in->n; i++) {
    free(in->ids[i]);
    free(in->types[i]);
  }
  free(in);
}

static bertc_status_t run_ids(engine_t *e, const id_inputs_t *in) {
  run_out_t out;
  memset(&out, 0, sizeof out);
  bertc_status_t s = BERTC_OK;
  int32_t longest = 1;
  for (int i = 0; i < in->n; i++)
    if (in->lengths[i] > longest) longest = in->lengths[i];
  int32_t *zeros = calloc((size_t)longest, sizeof *zeros);
  const int32_t *types[MAX_IDS];
  for (int i = 0; i < in->n; i++)
    types[i] = in->types[i] ? in->types[i] : zeros;
  if (!zeros) s = bertc_status_make(BERTC_STATUS_OUT_OF_MEMORY, "out of memory");
  for (int a = 0; !s && a < in->n; a += e->batch) {
    int m = in->n - a < e->batch ? in->n - a : e->batch;
    s = engine_run(e, m, (const int32_t *const *)in->ids + a, types + a, in->lengths + a, &out);
    for (int j = 0; !s && j < m; j++)
      cli_print_result(stdout, out.t, out.nt, j, out.seq, in->lengths[a + j]);
  }
  run_out_clear(&out);
  free(zeros);
  return s;
}

/* ---- Loading -------------------------------------------------------------------------- */

/* Whether a .so compiled for one task has the outputs another task reads. */
static bool so_serves(bertc_task_t compiled, bertc_task_t want) {
  if (want == compiled || want == BERTC_TASK_ENCODER) return true;
  if (compiled == BERTC_TASK_PRETRAINING) return want == BERTC_TASK_FILL_MASK || want == BERTC_TASK_NSP;
  return false;
}

static bertc_status_t open_compiled(const char *path, int threads, engine_t *e) {
  BERTC_RETURN_IF_ERROR(bertc_model_load(path, NULL, &e->model));
  /* Runs of 8 sequences (or the largest batch bucket, up to 64): the context's
   * output buffers are sized for it, which matters for fill-mask's logits. */
  int32_t largest = bertc_model_max_batch(e->model);
  e->batch = largest > 8 ? (largest < 64 ? largest : 64) : 8;
  bertc_context_options_t co;
  bertc_context_options_init(&co);
  co.num_threads = threads;
  co.max_batch = e->batch;
  BERTC_RETURN_IF_ERROR(bertc_context_create(e->model, &co, &e->ctx));
  const json_t *meta = bertc_model_metadata(e->model);
  json_t *pad = json_object_get(meta, "pad_token_id");
  e->pad_id = json_is_integer(pad) ? (int32_t)json_integer_value(pad) : 0;
  return BERTC_OK;
}

int cmd_run(int argc, char **argv) {
  enum { O_TEXT = 256, O_PAIR, O_INPUT, O_TASK, O_TOPK, O_AGG, O_FN, O_STRIDE, O_MAXANS, O_RAW };
  static const struct option opts[] = {{"ids", required_argument, 0, 'i'},
                                       {"type-ids", required_argument, 0, 't'},
                                       {"threads", required_argument, 0, 'T'},
                                       {"text", required_argument, 0, O_TEXT},
                                       {"question", required_argument, 0, O_TEXT},
                                       {"pair", required_argument, 0, O_PAIR},
                                       {"context", required_argument, 0, O_PAIR},
                                       {"input", required_argument, 0, O_INPUT},
                                       {"task", required_argument, 0, O_TASK},
                                       {"top-k", required_argument, 0, O_TOPK},
                                       {"aggregation", required_argument, 0, O_AGG},
                                       {"function", required_argument, 0, O_FN},
                                       {"doc-stride", required_argument, 0, O_STRIDE},
                                       {"max-answer-len", required_argument, 0, O_MAXANS},
                                       {"raw", no_argument, 0, O_RAW},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
  id_inputs_t *in = calloc(1, sizeof *in);
  if (!in) return cli_fail("run", bertc_status_make(BERTC_STATUS_OUT_OF_MEMORY, "out of memory"));
  cli_texts_t texts;
  memset(&texts, 0, sizeof texts);
  const char *task_name = NULL, *input_path = NULL;
  run_opts_t ro;
  memset(&ro, 0, sizeof ro);
  ro.agg = RT_AGG_SIMPLE;
  ro.fn = RT_CLASS_FN_DEFAULT;
  rt_qa_options_init(&ro.qa);
  bool pending_pair_ok = false;
  int threads = 0, c, rc = CLI_OK;
  optind = 1;
  bertc_status_t s = BERTC_OK;
  while (!s && rc == CLI_OK && (c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
    int64_t len = 0;
    char *end;
    long v = 0;
    switch (c) {
    case 'i':
      if (in->n == MAX_IDS) {
        rc = cli_usage_error("run", "at most %d --ids inputs", MAX_IDS);
        break;
      }
      s = cli_parse_ids(optarg, "--ids", &in->ids[in->n], &len);
      if (!s && len == 0) s = bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT, "--ids is empty");
      if (!s && len > INT32_MAX)
        s = bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT, "--ids too long");
      if (!s) in->lengths[in->n++] = (int32_t)len;
      break;
    case 't':
      if (in->n == 0 || in->types[in->n - 1]) {
        rc = cli_usage_error("run", "--type-ids must follow the --ids it belongs to");
        break;
      }
      s = cli_parse_ids(optarg, "--type-ids", &in->types[in->n - 1], &len);
      if (!s && len != in->lengths[in->n - 1])
        s = bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT,
                              "--type-ids has %lld values, its --ids has %d", (long long)len,
                              in->lengths[in->n - 1]);
      break;
    case O_TEXT:
      s = cli_texts_add(&texts, optarg, strlen(optarg), NULL, 0, false, 0);
      pending_pair_ok = true;
      break;
    case O_PAIR: {
      if (!pending_pair_ok) {
        rc = cli_usage_error("run", "--pair must follow the --text it belongs to");
        break;
      }
      cli_text_t *t = &texts.items[texts.count - 1];
      t->pair_len = strlen(optarg);
      s = base_strdup(optarg, &t->pair);
      pending_pair_ok = false;
      break;
    }
    case O_INPUT: input_path = optarg; break;
    case O_TASK: task_name = optarg; break;
    case O_TOPK:
    case O_STRIDE:
    case O_MAXANS:
      v = strtol(optarg, &end, 10);
      if (*end || v < (c == O_STRIDE ? 0 : 1) || v > 1000000) {
        rc = cli_usage_error("run", "%s wants a number%s, got '%s'",
                             c == O_TOPK     ? "--top-k"
                             : c == O_STRIDE ? "--doc-stride"
                                             : "--max-answer-len",
                             c == O_STRIDE ? " >= 0" : " >= 1", optarg);
        break;
      }
      if (c == O_TOPK) ro.top_k = ro.qa.top_k = (int)v;
      if (c == O_STRIDE) ro.qa.doc_stride = (int32_t)v;
      if (c == O_MAXANS) ro.qa.max_answer_len = (int32_t)v;
      break;
    case O_AGG:
      if (!rt_aggregation_from_name(optarg, &ro.agg))
        rc = cli_usage_error("run",
                             "--aggregation wants none, simple, first, average or max, "
                             "got '%s'",
                             optarg);
      break;
    case O_FN:
      if (!rt_class_fn_from_name(optarg, &ro.fn))
        rc = cli_usage_error("run", "--function wants softmax, sigmoid or none, got '%s'", optarg);
      break;
    case O_RAW: ro.raw = true; break;
    case 'T':
      v = strtol(optarg, &end, 10);
      if (*end || v < 1 || v > 1024)
        rc = cli_usage_error("run", "--threads wants 1..1024, got '%s'", optarg);
      threads = (int)v;
      break;
    case 'h':
      fputs(help, stdout);
      id_inputs_free(in);
      cli_texts_free(&texts);
      return CLI_OK;
    default: rc = cli_option_error("run", c, argv);
    }
  }
  if (!s && rc == CLI_OK && input_path) s = cli_texts_read_jsonl(&texts, input_path);
  if (s) {
    id_inputs_free(in);
    cli_texts_free(&texts);
    return cli_fail("run", s);
  }
  if (rc == CLI_OK && optind + 1 != argc)
    rc = cli_usage_error("run", "expected one MODEL argument");
  if (rc == CLI_OK && in->n == 0 && texts.count == 0 && !input_path)
    rc = cli_usage_error("run", "no input: give --text, --input or --ids");
  if (rc == CLI_OK && in->n && (texts.count || input_path))
    rc = cli_usage_error("run", "give token ids (--ids) or text (--text, --input), not both");
  bertc_task_t want = BERTC_TASK_ENCODER;
  if (rc == CLI_OK && task_name &&
      (!bertc_task_from_name(task_name, &want) || want == BERTC_TASK_AUTO))
    rc = cli_usage_error("run",
                         "unknown --task '%s' (embedding, fill-mask, next-sentence, "
                         "sequence-classification, token-classification, "
                         "question-answering, encoder, ...)",
                         task_name);
  if (rc != CLI_OK) {
    id_inputs_free(in);
    cli_texts_free(&texts);
    return rc;
  }
  const char *path = argv[optind];
  engine_t e;
  memset(&e, 0, sizeof e);
  cli_text_model_t tm;
  memset(&tm, 0, sizeof tm);
  bool compiled = cli_is_shared_object(path);
  e.batch = 1; /* the interpreter runs one sequence at a time: no padding to compute */
  if (compiled) {
    s = open_compiled(path, threads, &e);
    if (!s && texts.count) s = cli_text_model_from_so(e.model, &tm);
    if (!s && texts.count && task_name && !so_serves(tm.facts.task, want))
      s = bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT,
                            "%s was compiled for task %s; its outputs cannot serve --task %s "
                            "(compile the model with --task %s)",
                            path, bertc_task_name(tm.facts.task), task_name, task_name);
  } else {
    fe_load_options_t lo;
    fe_load_options_init(&lo);
    if (task_name && !bertc_task_from_name(task_name, &lo.task))
      s = bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT, "unknown task '%s'", task_name);
    if (!s) s = fe_model_load(path, &lo, &e.fe);
    if (!s && texts.count) {
      char *meta = NULL;
      s = fe_model_metadata_json(e.fe, &meta);
      if (!s) s = cli_text_model_from_dir(e.fe->spec.tokenizer_dir, meta, &tm);
      free(meta);
    }
  }
  if (!s && texts.count) {
    ro.task = task_name ? want : tm.facts.task;
    s = run_texts(&e, &tm, &ro, &texts);
  } else if (!s && in->n) {
    s = run_ids(&e, in);
  }
  cli_text_model_deinit(&tm);
  engine_close(&e);
  id_inputs_free(in);
  cli_texts_free(&texts);
  return s ? cli_fail("run", s) : CLI_OK;
}
