/* A context as an engine (bertc/tasks.h): what task pipelines run token
 * sequences on. The calls forward to bertc_context_run / _output; the sizes
 * are the context's, the padding id the metadata's pad_token_id. */
#include <string.h>

#include "runtime/model.h"
#include "runtime/tasks.h"

static bertc_status_t engine_run(void *self, const bertc_run_input_t *in) {
  return bertc_context_run(self, in);
}

static uint32_t engine_num_outputs(void *self) {
  uint32_t n = 0;
  bertc_model_outputs(bertc_context_model(self), &n);
  return n;
}

static bertc_status_t engine_output(void *self, uint32_t index, bertc_tensor_view_t *out_view) {
  return bertc_context_output(self, index, out_view);
}

void bertc_context_engine(bertc_context_t *context, bertc_engine_t *out_engine) {
  memset(out_engine, 0, sizeof *out_engine);
  if (!context) return;
  const bertc_model_t *model = bertc_context_model(context);
  out_engine->self = context;
  out_engine->run = engine_run;
  out_engine->num_outputs = engine_num_outputs;
  out_engine->output = engine_output;
  out_engine->max_batch = bertc_context_max_batch(context);
  out_engine->max_seq = bertc_model_max_seq(model);
  out_engine->pad_id = rt_metadata_pad_id(model->metadata);
}
