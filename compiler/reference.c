/* The reference interpreter behind bertc_reference_* (bertc/compiler.h): a
 * model loaded by the frontend, run by ir_interpret, with the input checks
 * and output shapes of a runtime context. */
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "bertc/compiler.h"
#include "frontend/frontend.h"

#define REF_MAX_OUTPUTS 8

struct bertc_reference_s {
  fe_model_t *model;
  char *metadata_json;
  ir_tensor_t outputs[REF_MAX_OUTPUTS]; /* of the last successful run */
  size_t num_outputs;
};

void bertc_reference_options_init(bertc_reference_options_t *o) {
  memset(o, 0, sizeof *o);
  o->task = BERTC_TASK_AUTO;
}

static void clear_outputs(bertc_reference_t *r) {
  for (size_t i = 0; i < r->num_outputs; i++)
    ir_tensor_deinit(&r->outputs[i]);
  r->num_outputs = 0;
}

bertc_status_t bertc_reference_open(const char *model, const bertc_reference_options_t *options,
                                    bertc_reference_t **out_reference) {
  *out_reference = NULL;
  bertc_reference_options_t defaults;
  bertc_reference_options_init(&defaults);
  if (!options) options = &defaults;
  bertc_reference_t *r = calloc(1, sizeof *r);
  if (!r) return base_oom();
  fe_load_options_t lo;
  fe_load_options_init(&lo);
  lo.task = options->task;
  bertc_status_t s = fe_model_load(model, &lo, &r->model);
  if (!s) s = fe_model_metadata_json(r->model, &r->metadata_json);
  if (!s && r->model->graph->num_outputs > REF_MAX_OUTPUTS)
    s = bertc_status_make(BERTC_STATUS_UNSUPPORTED, "the graph has more than %d outputs",
                          REF_MAX_OUTPUTS);
  if (s) {
    bertc_reference_release(r);
    return s;
  }
  *out_reference = r;
  return BERTC_OK;
}

void bertc_reference_release(bertc_reference_t *r) {
  if (!r) return;
  clear_outputs(r);
  free(r->metadata_json);
  fe_model_destroy(r->model);
  free(r);
}

const char *bertc_reference_metadata_json(const bertc_reference_t *r) { return r->metadata_json; }

const char *bertc_reference_tokenizer_dir(const bertc_reference_t *r) {
  return r->model->spec.tokenizer_dir;
}

int32_t bertc_reference_max_seq(const bertc_reference_t *r) {
  return (int32_t)r->model->max_seq_length;
}

/* Padded [count, seq] inputs from `in`, every id checked against the
 * vocabularies (padding included, as the model would read it). */
static bertc_status_t pad_inputs(const fe_model_t *m, const bertc_run_input_t *in, int64_t seq,
                                 int32_t *ids, int32_t *types, int32_t *mask) {
  const fe_config_t *c = &m->config;
  for (int i = 0; i < in->count; i++)
    for (int64_t t = 0; t < seq; t++) {
      bool real = t < in->lengths[i];
      int32_t id = real ? in->input_ids[i][t] : in->pad_id;
      int32_t ty = real && in->token_type_ids && in->token_type_ids[i]
                       ? in->token_type_ids[i][t]
                       : 0;
      int32_t mk = !real ? 0 : in->attention_mask ? in->attention_mask[i][t] : 1;
      if (id < 0 || id >= c->vocab_size)
        return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT,
                                 "input %d: token id %d at position %lld is out of range "
                                 "[0, %lld)",
                                 i, id, (long long)t, (long long)c->vocab_size);
      if (c->type_vocab_size > 0 && (ty < 0 || ty >= c->type_vocab_size))
        return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT,
                                 "input %d: token type id %d at position %lld is out of range "
                                 "[0, %lld)",
                                 i, ty, (long long)t, (long long)c->type_vocab_size);
      if (mk != 0 && mk != 1)
        return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT,
                                 "input %d: attention mask %d at position %lld is not 0 or 1",
                                 i, mk, (long long)t);
      size_t at = (size_t)i * (size_t)seq + (size_t)t;
      ids[at] = id;
      types[at] = ty;
      mask[at] = mk;
    }
  return BERTC_OK;
}

/* Zeroes the positions past each sequence's length of a [count, seq, ...]
 * output, as a context's outputs read. */
static void zero_padding(ir_tensor_t *t, const bertc_run_input_t *in, int64_t seq) {
  if (t->rank < 2 || t->dims[0] != in->count || t->dims[1] != seq) return;
  size_t row = t->dtype == IR_I32 ? sizeof(int32_t) : sizeof(float);
  for (int k = 2; k < t->rank; k++)
    row *= (size_t)t->dims[k];
  char *data = t->data;
  for (int i = 0; i < in->count; i++) {
    int64_t len = in->lengths[i];
    memset(data + ((size_t)i * (size_t)seq + (size_t)len) * row, 0, (size_t)(seq - len) * row);
  }
}

static bertc_status_t reference_run(void *self, const bertc_run_input_t *in) {
  bertc_reference_t *r = self;
  const fe_model_t *m = r->model;
  clear_outputs(r);
  if (in->count < 1 || !in->lengths || !in->input_ids)
    return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT,
                             "run input: a count >= 1, lengths and input_ids are required");
  int64_t seq = 0;
  for (int i = 0; i < in->count; i++) {
    if (in->lengths[i] < 1)
      return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT,
                               "sequence %d has length %d; every sequence needs a token", i,
                               in->lengths[i]);
    if (in->lengths[i] > seq) seq = in->lengths[i];
  }
  if (seq > m->max_seq_length)
    return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT,
                             "an input has %lld tokens, more than the model's maximum %lld",
                             (long long)seq, (long long)m->max_seq_length);
  size_t cells = (size_t)in->count * (size_t)seq;
  int32_t *ids = calloc(cells, sizeof *ids), *types = calloc(cells, sizeof *types),
          *mask = calloc(cells, sizeof *mask);
  bertc_status_t s = ids && types && mask ? BERTC_OK : base_oom();
  if (!s) s = pad_inputs(m, in, seq, ids, types, mask);
  if (!s) s = ir_interpret(m->graph, in->count, seq, ids, types, mask, r->outputs);
  if (!s) {
    r->num_outputs = m->graph->num_outputs;
    for (size_t o = 0; o < r->num_outputs; o++)
      zero_padding(&r->outputs[o], in, seq);
  }
  free(ids);
  free(types);
  free(mask);
  return s;
}

static uint32_t reference_num_outputs(void *self) {
  const bertc_reference_t *r = self;
  return (uint32_t)r->model->graph->num_outputs;
}

static bertc_status_t reference_output(void *self, uint32_t index, bertc_tensor_view_t *out) {
  const bertc_reference_t *r = self;
  memset(out, 0, sizeof *out);
  if (!r->num_outputs)
    return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT, "output %u: no run yet", index);
  if (index >= r->num_outputs)
    return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT, "output %u: the model has %zu outputs",
                             index, r->num_outputs);
  const ir_tensor_t *t = &r->outputs[index];
  out->name = r->model->graph->outputs[index].name;
  out->dtype = t->dtype == IR_I32 ? BERTC_DTYPE_I32 : BERTC_DTYPE_F32;
  out->rank = t->rank;
  uint64_t bytes = 4;
  for (int k = 0; k < t->rank && k < 4; k++) {
    out->dims[k] = t->dims[k];
    bytes *= (uint64_t)t->dims[k];
  }
  out->data = t->data;
  out->size_bytes = bytes;
  return BERTC_OK;
}

void bertc_reference_engine(bertc_reference_t *r, bertc_engine_t *out) {
  memset(out, 0, sizeof *out);
  out->self = r;
  out->run = reference_run;
  out->num_outputs = reference_num_outputs;
  out->output = reference_output;
  out->max_batch = 1;
  out->max_seq = (int32_t)r->model->max_seq_length;
  out->pad_id = (int32_t)r->model->config.pad_token_id;
}
