/* bertc inspect MODEL [--json]: what a model is. MODEL is a HuggingFace
 * directory or model.json (read through the frontend) or a compiled .so (read
 * through the runtime: descriptor, buckets, regions, target). */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/frontend.h"
#include "tools/cli.h"
#include "tools/so_info.h"

static const char *help =
    "usage: bertc inspect MODEL [--json]\n"
    "\n"
    "Describes MODEL: a HuggingFace model directory, a model.json, or a .so made\n"
    "by 'bertc compile'.\n"
    "\n"
    "  --json     print one JSON object instead of text\n"
    "  -h, --help show this help\n";

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
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
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
  json_object_set_new(o, "normalize", json_boolean(m->task == BERTC_TASK_EMBEDDING && m->normalize));
  json_object_set(o, "labels", md ? json_object_get(md, "labels") : json_array());
  json_object_set(o, "outputs", md ? json_object_get(md, "outputs") : json_array());
  json_decref(md);
  size_t counts[IR_OP_COUNT];
  ir_count_ops(m->graph, counts);
  json_t *ops = json_object();
  for (int i = 0; i < IR_OP_COUNT; i++)
    if (counts[i]) json_object_set_new(ops, ir_op_info((ir_op_t)i)->name, json_integer((json_int_t)counts[i]));
  json_object_set_new(o, "op_counts", ops);
  json_object_set_new(o, "nodes", json_integer((json_int_t)m->graph->num_nodes));
  return o;
}

static void print_text(json_t *o) {
  const char *key;
  json_t *v;
  json_object_foreach(o, key, v) {
    printf("%-18s ", key);
    if (json_is_string(v)) {
      printf("%s\n", json_string_value(v));
    } else {
      char *t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
      printf("%s\n", t ? t : "?");
      free(t);
    }
  }
}

int cmd_inspect(int argc, char **argv) {
  static const struct option opts[] = {
      {"json", no_argument, 0, 'j'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
  int as_json = 0, c;
  optind = 1;
  while ((c = getopt_long(argc, argv, ":jh", opts, NULL)) != -1) {
    if (c == 'j') as_json = 1;
    else if (c == 'h') {
      fputs(help, stdout);
      return CLI_OK;
    } else
      return cli_option_error("inspect", c, argv);
  }
  if (optind + 1 != argc) return cli_usage_error("inspect", "expected one MODEL argument");
  const char *path = argv[optind];
  json_t *o = NULL;
  if (cli_is_shared_object(path)) {
    bertc_status_t s = so_info_json(path, &o);
    if (s) return cli_fail("inspect", s);
  } else {
    fe_model_t *m;
    bertc_status_t s = fe_model_load(path, NULL, &m);
    if (s) return cli_fail("inspect", s);
    o = model_json(m);
    fe_model_destroy(m);
  }
  if (as_json) {
    char *t = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    puts(t);
    free(t);
  } else {
    print_text(o);
  }
  json_decref(o);
  return CLI_OK;
}
