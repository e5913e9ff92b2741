/* bertc_inspect_json (bertc/compiler.h): what the frontend reads from a model
 * directory or model.json, as one JSON object. */
#include <jansson.h>
#include <stdlib.h>

#include "base/base.h"
#include "bertc/compiler.h"
#include "frontend/frontend.h"

static json_t *heads_json(unsigned heads) {
  static const struct {
    unsigned bit;
    const char *name;
  } names[] = {{FE_HEAD_POOLER, "pooler"},
               {FE_HEAD_MLM, "mlm"},
               {FE_HEAD_NSP, "nsp"},
               {FE_HEAD_SEQ_CLS, "sequence_classification"},
               {FE_HEAD_TOKEN_CLS, "token_classification"},
               {FE_HEAD_QA, "question_answering"},
               {FE_HEAD_DISCRIMINATOR, "discriminator"}};
  json_t *a = json_array();
  for (size_t i = 0; i < BASE_ARRAY_LEN(names); i++)
    if (heads & names[i].bit) json_array_append_new(a, json_string(names[i].name));
  return a;
}

static json_t *model_json(const fe_model_t *m) {
  const fe_config_t *c = &m->config;
  json_t *o = json_object();
  json_object_set_new(o, "name", json_string(m->spec.name));
  json_object_set_new(o, "source", json_string(m->spec.source));
  json_object_set_new(o, "model_type", json_string(fe_arch_name(c->arch)));
  json_object_set_new(o, "architecture", json_string(c->architecture));
  json_object_set_new(o, "layers", json_integer(c->num_layers));
  json_object_set_new(o, "hidden_size", json_integer(c->hidden_size));
  json_object_set_new(o, "heads", json_integer(c->num_heads));
  json_object_set_new(o, "intermediate_size", json_integer(c->intermediate_size));
  json_object_set_new(o, "vocab_size", json_integer(c->vocab_size));
  json_object_set_new(o, "max_positions", json_integer(c->max_position_embeddings));
  json_object_set_new(o, "max_seq_length", json_integer(m->max_seq_length));
  json_object_set_new(o, "embedding_size", json_integer(c->embedding_size));
  json_object_set_new(o, "hidden_act", json_string(c->hidden_act_name));
  json_object_set_new(o, "parameters", json_integer((json_int_t)m->parameters));
  json_object_set_new(o, "weight_bytes", json_integer((json_int_t)m->weight_bytes));
  json_object_set_new(o, "heads_present", heads_json(m->heads));
  json_object_set_new(o, "task", json_string(bertc_task_name(m->task)));
  char *meta = NULL;
  bertc_status_t s = fe_model_metadata_json(m, &meta);
  json_t *md = s ? NULL : json_loads(meta, 0, NULL);
  bertc_status_free(s);
  free(meta);
  json_object_set(o, "pooling", md ? json_object_get(md, "pooling") : json_array());
  json_object_set_new(o, "normalize",
                      json_boolean(m->task == BERTC_TASK_EMBEDDING && m->normalize));
  json_object_set(o, "labels", md ? json_object_get(md, "labels") : json_array());
  json_object_set(o, "outputs", md ? json_object_get(md, "outputs") : json_array());
  json_decref(md);
  size_t counts[IR_OP_COUNT];
  ir_count_ops(m->graph, counts);
  json_t *ops = json_object();
  for (int i = 0; i < IR_OP_COUNT; i++)
    if (counts[i])
      json_object_set_new(ops, ir_op_info((ir_op_t)i)->name, json_integer((json_int_t)counts[i]));
  json_object_set_new(o, "op_counts", ops);
  json_object_set_new(o, "nodes", json_integer((json_int_t)m->graph->num_nodes));
  return o;
}

bertc_status_t bertc_inspect_json(const char *model, char **out_json) {
  *out_json = NULL;
  fe_model_t *m = NULL;
  BERTC_RETURN_IF_ERROR(fe_model_load(model, NULL, &m));
  json_t *o = model_json(m);
  fe_model_destroy(m);
  char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
  json_decref(o);
  if (!text) return base_oom();
  *out_json = text;
  return BERTC_OK;
}
