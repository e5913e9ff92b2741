/* fe_model_load: everything from a path to a graph.
 *
 * spec (model.json or directory) -> config.json -> sentence-transformers
 * metadata -> safetensors checkpoint -> heads present -> task -> the
 * architecture's builder. The task is, in order: the caller's override, the
 * model.json's, sentence-transformers metadata (embedding), the config's
 * architectures[0] (BertForMaskedLM -> fill-mask, ...), else a bare encoder.
 * A task whose head is not in the weights is refused, and so is a tokenizer
 * that does not load. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/build.h"
#include "base/base.h"
#include "tokenizer/tokenizer.h"

void fe_load_options_init(fe_load_options_t *o) {
  memset(o, 0, sizeof(*o));
  o->task = BERTC_TASK_AUTO;
}

static bertc_task_t task_from_architecture(const char *arch) {
  static const struct {
    const char *suffix;
    bertc_task_t task;
  } map[] = {
      {"ForMaskedLM", BERTC_TASK_FILL_MASK},
      {"ForNextSentencePrediction", BERTC_TASK_NSP},
      {"BertForPreTraining", BERTC_TASK_PRETRAINING},
      {"ElectraForPreTraining", BERTC_TASK_DISCRIMINATOR},
      {"ForSequenceClassification", BERTC_TASK_SEQUENCE_CLASSIFICATION},
      {"ForTokenClassification", BERTC_TASK_TOKEN_CLASSIFICATION},
      {"ForQuestionAnswering", BERTC_TASK_QUESTION_ANSWERING},
  };
  for (size_t i = 0; i < BASE_ARRAY_LEN(map); i++)
    if (strstr(arch, map[i].suffix)) return map[i].task;
  return BERTC_TASK_ENCODER;
}

static unsigned head_for_task(bertc_task_t t) {
  switch (t) {
  case BERTC_TASK_FILL_MASK: return FE_HEAD_MLM;
  case BERTC_TASK_NSP: return FE_HEAD_NSP | FE_HEAD_POOLER;
  case BERTC_TASK_PRETRAINING: return FE_HEAD_MLM | FE_HEAD_NSP | FE_HEAD_POOLER;
  case BERTC_TASK_SEQUENCE_CLASSIFICATION: return FE_HEAD_SEQ_CLS;
  case BERTC_TASK_TOKEN_CLASSIFICATION: return FE_HEAD_TOKEN_CLS;
  case BERTC_TASK_QUESTION_ANSWERING: return FE_HEAD_QA;
  case BERTC_TASK_DISCRIMINATOR: return FE_HEAD_DISCRIMINATOR;
  default: return 0;
  }
}

static bertc_status_t count_parameters(fe_model_t *m, st_checkpoint_t *ckpt, bool warn) {
  for (size_t i = 0; i < st_checkpoint_count(ckpt); i++) {
    const st_tensor_t *t = st_checkpoint_tensor(ckpt, i);
    if (t->dtype != ST_F32 && t->dtype != ST_F16 && t->dtype != ST_BF16 && t->dtype != ST_F64)
      continue; /* I64 buffers such as embeddings.position_ids */
    if (!base_add_u64(m->parameters, t->numel, &m->parameters) ||
        !base_add_u64(m->weight_bytes, t->nbytes, &m->weight_bytes))
      return bertc_status_make(BERTC_STATUS_DATA, "%s: parameter count overflows", t->file);
    if (warn) {
      uint64_t bad = st_tensor_count_nonfinite(t);
      if (bad)
        fprintf(stderr, "bertc: warning: %s: tensor '%s' has %llu NaN/Inf values\n", t->file,
                t->name, (unsigned long long)bad);
    }
  }
  return BERTC_OK;
}

/* The tokenizer files a compile packs into the .so must load now, so a broken
 * tokenizer.json, vocab.txt, merges.txt or SentencePiece model is reported
 * with the model, not on
 * the first `run --text`. A directory with none of the vocabulary files is
 * fine: the .so then takes token ids only. */
static bertc_status_t check_tokenizer(const char *dir) {
  static const char *const vocab_files[] = {"tokenizer.json", "vocab.txt", "vocab.json",
                                            "sentencepiece.bpe.model", "spiece.model"};
  bool any = false;
  for (size_t i = 0; i < BASE_ARRAY_LEN(vocab_files) && !any; i++) {
    char *p;
    BERTC_RETURN_IF_ERROR(base_path_join(dir, vocab_files[i], &p));
    any = base_file_exists(p);
    free(p);
  }
  if (!any) return BERTC_OK;
  tok_tokenizer_t *t = NULL;
  bertc_status_t s = tok_load_dir(dir, &t);
  tok_release(t);
  return s;
}

static bertc_status_t resolve_task(fe_model_t *m, const fe_load_options_t *o, unsigned heads) {
  bertc_task_t t = o->task != BERTC_TASK_AUTO ? o->task : m->spec.task;
  if (t == BERTC_TASK_AUTO) {
    if (m->sbert.present && m->sbert.pooling)
      t = BERTC_TASK_EMBEDDING;
    else
      t = task_from_architecture(m->config.architecture);
  }
  unsigned need = head_for_task(t);
  if ((heads & need) != need)
    return bertc_status_make(BERTC_STATUS_NOT_FOUND,
                             "%s: task %s needs a head that the weights do not contain",
                             m->spec.source, bertc_task_name(t));
  if (t == BERTC_TASK_PRETRAINING && m->config.arch != FE_ARCH_BERT)
    return bertc_status_make(BERTC_STATUS_UNSUPPORTED, "%s: task pretraining is BERT-only",
                             m->spec.source);
  m->task = t;
  m->pooling = m->spec.pooling ? m->spec.pooling : m->sbert.pooling;
  if (!m->pooling) m->pooling = FE_POOL_MEAN;
  m->normalize = m->spec.normalize >= 0 ? m->spec.normalize != 0 : m->sbert.normalize;
  int64_t positions = m->config.max_position_embeddings;
  if (m->config.position_padding_idx >= 0) positions -= m->config.position_padding_idx + 1;
  int64_t max = positions;
  if (m->sbert.max_seq_length > 0 && m->sbert.max_seq_length < max) max = m->sbert.max_seq_length;
  if (m->spec.max_seq_length > 0) {
    if (m->spec.max_seq_length > positions)
      return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT,
                               "%s: max_seq_length %lld exceeds the model's %lld positions",
                               m->spec.source, (long long)m->spec.max_seq_length,
                               (long long)positions);
    max = m->spec.max_seq_length;
  }
  m->max_seq_length = max;
  return BERTC_OK;
}

bertc_status_t fe_model_load(const char *path, const fe_load_options_t *opts, fe_model_t **out) {
  *out = NULL;
  fe_load_options_t defaults;
  if (!opts) {
    fe_load_options_init(&defaults);
    opts = &defaults;
  }
  fe_model_t *m;
  BERTC_RETURN_IF_ERROR(base_calloc(1, sizeof(*m), (void **)&m));
  fe_builder_t b;
  memset(&b, 0, sizeof(b));
  st_checkpoint_t *ckpt = NULL;
  bertc_status_t s = fe_spec_load(path, &m->spec);
  if (!s) s = fe_config_load(m->spec.config_path, &m->config);
  if (!s) s = fe_sbert_load(m->spec.checkpoint_dir, &m->sbert);
  if (!s) s = check_tokenizer(m->spec.tokenizer_dir);
  if (!s) s = st_checkpoint_open(m->spec.weights_path, &ckpt);
  if (!s) s = count_parameters(m, ckpt, opts->warn_nonfinite);
  if (!s) s = ir_graph_create(m->spec.name, &m->graph);
  if (!s) {
    fe_builder_init(&b, m->graph, &m->config, ckpt, m->spec.config_path);
    m->heads = fe_detect_heads(&b);
    s = resolve_task(m, opts, m->heads);
  }
  if (!s) s = ir_add_input(m->graph, "input_ids", &b.ids);
  if (!s && m->config.type_vocab_size > 0)
    s = ir_add_input(m->graph, "token_type_ids", &b.type_ids);
  if (!s) s = ir_add_input(m->graph, "attention_mask", &b.mask);
  if (!s) {
    fe_build_request_t r = {m->task, m->pooling, m->normalize};
    s = fe_build(&b, &r);
  }
  fe_builder_deinit(&b);
  st_checkpoint_close(ckpt);
  if (s) {
    fe_model_destroy(m);
    return bertc_status_annotate(s, "loading %s", path);
  }
  *out = m;
  return BERTC_OK;
}

void fe_model_destroy(fe_model_t *m) {
  if (!m) return;
  ir_graph_destroy(m->graph);
  fe_config_deinit(&m->config);
  fe_spec_deinit(&m->spec);
  free(m);
}

bertc_status_t fe_model_metadata_json(const fe_model_t *m, char **out) {
  const fe_config_t *c = &m->config;
  json_t *o = json_object();
  json_t *labels = json_array();
  json_t *pooling = json_array();
  json_t *outputs = json_array();
  if (!o || !labels || !pooling || !outputs) {
    json_decref(o);
    json_decref(labels);
    json_decref(pooling);
    json_decref(outputs);
    return bertc_status_make(BERTC_STATUS_OUT_OF_MEMORY, "out of memory");
  }
  json_object_set_new(o, "name", json_string(m->spec.name));
  json_object_set_new(o, "model_type", json_string(fe_arch_name(c->arch)));
  json_object_set_new(o, "architecture", json_string(c->architecture));
  json_object_set_new(o, "task", json_string(bertc_task_name(m->task)));
  json_object_set_new(o, "hidden_size", json_integer(c->hidden_size));
  json_object_set_new(o, "num_layers", json_integer(c->num_layers));
  json_object_set_new(o, "num_heads", json_integer(c->num_heads));
  json_object_set_new(o, "intermediate_size", json_integer(c->intermediate_size));
  json_object_set_new(o, "vocab_size", json_integer(c->vocab_size));
  json_object_set_new(o, "type_vocab_size", json_integer(c->type_vocab_size));
  json_object_set_new(o, "max_position_embeddings", json_integer(c->max_position_embeddings));
  json_object_set_new(o, "max_seq_length", json_integer(m->max_seq_length));
  json_object_set_new(o, "pad_token_id", json_integer(c->pad_token_id));
  json_object_set_new(o, "hidden_act", json_string(c->hidden_act_name));
  json_object_set_new(o, "parameters", json_integer((json_int_t)m->parameters));
  json_object_set_new(o, "precision", json_string(m->spec.precision ? m->spec.precision : "fp32"));
  if (m->spec.keep_fp32 && *m->spec.keep_fp32)
    json_object_set_new(o, "kept_fp32", json_string(m->spec.keep_fp32));
  json_object_set_new(o, "problem_type", json_string(c->problem_type));
  for (int64_t i = 0; i < c->num_labels && c->id2label; i++)
    json_array_append_new(labels, json_string(c->id2label[i]));
  json_object_set_new(o, "labels", labels);
  if (m->task == BERTC_TASK_EMBEDDING) {
    static const struct {
      unsigned bit;
      const char *name;
    } modes[] = {{FE_POOL_CLS, "cls"}, {FE_POOL_MAX, "max"}, {FE_POOL_MEAN, "mean"},
                 {FE_POOL_MEAN_SQRT, "mean_sqrt_len"}};
    for (size_t i = 0; i < BASE_ARRAY_LEN(modes); i++)
      if (m->pooling & modes[i].bit) json_array_append_new(pooling, json_string(modes[i].name));
  }
  json_object_set_new(o, "pooling", pooling);
  json_object_set_new(o, "normalize",
                      json_boolean(m->task == BERTC_TASK_EMBEDDING && m->normalize));
  for (size_t i = 0; i < m->graph->num_outputs; i++)
    json_array_append_new(outputs, json_string(m->graph->outputs[i].name));
  json_object_set_new(o, "outputs", outputs);
  char *text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
  json_decref(o);
  if (!text) return bertc_status_make(BERTC_STATUS_OUT_OF_MEMORY, "out of memory");
  bertc_status_t s = base_strdup(text, out);
  free(text);
  return s;
}
