/* bertc run MODEL --ids 101,2023,102 [--ids ...] [--type-ids ...]
 *
 * MODEL is a compiled .so (run through the runtime) or a HuggingFace
 * directory / model.json (run through the reference interpreter). Inputs of
 * different lengths form one padded batch. One JSON object per input on
 * stdout, in order: {"embedding": [...]} for sentence-transformers models,
 * {"last_hidden_state": [[...]], "pooler_output": [...]} for bare encoders,
 * the head's logits otherwise. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bertc/bertc.h"
#include "frontend/frontend.h"
#include "tools/cli.h"

static const char *help =
    "usage: bertc run MODEL --ids ID,ID,... [--ids ...] [--type-ids ID,...] [--threads N]\n"
    "\n"
    "Runs MODEL (a .so from 'bertc compile', a model.json or a HuggingFace model\n"
    "directory) and prints one JSON object per input on stdout.\n"
    "\n"
    "  --ids LIST        token ids of one input (repeat for a batch)\n"
    "  --type-ids LIST   token type ids for the preceding --ids (default zeros)\n"
    "  --threads N       threads for a compiled model (default: all cores)\n"
    "  -h, --help        show this help\n";

#define MAX_INPUTS 4096

typedef struct inputs {
  int n;
  int32_t *ids[MAX_INPUTS];
  int32_t *types[MAX_INPUTS];
  int32_t lengths[MAX_INPUTS];
} inputs_t;

static void inputs_free(inputs_t *in) {
  for (int i = 0; i < in->n; i++) {
    free(in->ids[i]);
    free(in->types[i]);
  }
}

static bertc_status_t run_interpreter(const char *path, const inputs_t *in) {
  fe_model_t *m;
  BERTC_RETURN_IF_ERROR(fe_model_load(path, NULL, &m));
  int64_t seq = 0;
  for (int i = 0; i < in->n; i++)
    if (in->lengths[i] > seq) seq = in->lengths[i];
  size_t cells = (size_t)in->n * (size_t)seq;
  int32_t *ids = calloc(cells, sizeof(int32_t)), *types = calloc(cells, sizeof(int32_t)),
          *mask = calloc(cells, sizeof(int32_t));
  ir_tensor_t *outs = calloc(m->graph->num_outputs, sizeof(ir_tensor_t));
  bertc_status_t s = BERTC_OK;
  if (!ids || !types || !mask || !outs)
    s = bertc_status_make(BERTC_STATUS_OUT_OF_MEMORY, "out of memory");
  for (int i = 0; !s && i < in->n; i++)
    for (int64_t t = 0; t < seq; t++) {
      bool real = t < in->lengths[i];
      ids[i * seq + t] = real ? in->ids[i][t] : (int32_t)m->config.pad_token_id;
      types[i * seq + t] = real && in->types[i] ? in->types[i][t] : 0;
      mask[i * seq + t] = real;
      if (real && in->ids[i][t] >= m->config.vocab_size)
        s = bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT,
                              "input %d: token id %d at position %lld is out of range [0, %lld)", i,
                              in->ids[i][t], (long long)t, (long long)m->config.vocab_size);
      if (!s && real && in->types[i] && in->types[i][t] >= m->config.type_vocab_size)
        s = bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT,
                              "input %d: token type id %d at position %lld is out of range [0, %lld)",
                              i, in->types[i][t], (long long)t, (long long)m->config.type_vocab_size);
      if (s) break;
    }
  if (!s && seq > m->max_seq_length)
    s = bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT,
                          "an input has %lld tokens, more than the model's maximum %lld",
                          (long long)seq, (long long)m->max_seq_length);
  if (!s) s = ir_interpret(m->graph, in->n, seq, ids, types, mask, outs);
  if (!s) {
    cli_tensor_t ts[16];
    int nt = 0;
    for (size_t o = 0; o < m->graph->num_outputs && nt < 16; o++) {
      ts[nt].name = m->graph->outputs[o].name;
      ts[nt].rank = outs[o].rank;
      memcpy(ts[nt].dims, outs[o].dims, sizeof(ts[nt].dims));
      ts[nt].data = outs[o].data;
      nt++;
    }
    for (int i = 0; i < in->n; i++) cli_print_result(stdout, ts, nt, i, seq, in->lengths[i]);
    for (size_t o = 0; o < m->graph->num_outputs; o++) ir_tensor_deinit(&outs[o]);
  }
  free(outs);
  free(ids);
  free(types);
  free(mask);
  fe_model_destroy(m);
  return s;
}

static bertc_status_t run_compiled(const char *path, const inputs_t *in, int threads) {
  bertc_model_t *model = NULL;
  bertc_context_t *ctx = NULL;
  BERTC_RETURN_IF_ERROR(bertc_model_load(path, NULL, &model));
  bertc_context_options_t co;
  bertc_context_options_init(&co);
  co.num_threads = threads;
  co.max_batch = in->n;
  bertc_status_t s = bertc_context_create(model, &co, &ctx);
  bertc_run_input_t ri;
  bertc_run_input_init(&ri);
  ri.count = in->n;
  ri.lengths = in->lengths;
  ri.input_ids = (const int32_t *const *)in->ids;
  bool any_types = false;
  for (int i = 0; i < in->n; i++) any_types |= in->types[i] != NULL;
  int32_t *zeros = NULL;
  const int32_t *types[MAX_INPUTS];
  if (any_types) {
    int32_t maxlen = 0;
    for (int i = 0; i < in->n; i++)
      if (in->lengths[i] > maxlen) maxlen = in->lengths[i];
    zeros = calloc((size_t)maxlen + 1, sizeof(int32_t));
    for (int i = 0; i < in->n; i++) types[i] = in->types[i] ? in->types[i] : zeros;
    ri.token_type_ids = types;
  }
  if (!s) s = bertc_context_run(ctx, &ri);
  if (!s) {
    uint32_t nout;
    bertc_model_outputs(model, &nout);
    cli_tensor_t ts[16];
    int nt = 0;
    int64_t seq = 0;
    for (int i = 0; i < in->n; i++)
      if (in->lengths[i] > seq) seq = in->lengths[i];
    for (uint32_t o = 0; o < nout && nt < 16 && !s; o++) {
      bertc_tensor_view_t v;
      s = bertc_context_output(ctx, o, &v);
      if (s) break;
      ts[nt].name = v.name;
      ts[nt].rank = v.rank;
      memcpy(ts[nt].dims, v.dims, sizeof(ts[nt].dims));
      ts[nt].data = v.data;
      nt++;
    }
    for (int i = 0; !s && i < in->n; i++) cli_print_result(stdout, ts, nt, i, seq, in->lengths[i]);
  }
  free(zeros);
  bertc_context_release(ctx);
  bertc_model_release(model);
  return s;
}

int cmd_run(int argc, char **argv) {
  static const struct option opts[] = {{"ids", required_argument, 0, 'i'},
                                       {"type-ids", required_argument, 0, 't'},
                                       {"threads", required_argument, 0, 'T'},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
  inputs_t in;
  memset(&in, 0, sizeof(in));
  int threads = 0, c, rc = CLI_OK;
  optind = 1;
  bertc_status_t s = BERTC_OK;
  while (!s && rc == CLI_OK && (c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    int64_t len = 0;
    switch (c) {
    case 'i':
      if (in.n == MAX_INPUTS) {
        rc = cli_usage_error("run", "at most %d inputs", MAX_INPUTS);
        break;
      }
      s = cli_parse_ids(optarg, "--ids", &in.ids[in.n], &len);
      if (!s && len == 0) s = bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT, "--ids is empty");
      if (!s && len > INT32_MAX) s = bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT, "--ids too long");
      if (!s) in.lengths[in.n++] = (int32_t)len;
      break;
    case 't':
      if (in.n == 0 || in.types[in.n - 1]) {
        rc = cli_usage_error("run", "--type-ids must follow the --ids it belongs to");
        break;
      }
      s = cli_parse_ids(optarg, "--type-ids", &in.types[in.n - 1], &len);
      if (!s && len != in.lengths[in.n - 1])
        s = bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT,
                              "--type-ids has %lld values, its --ids has %d", (long long)len,
                              in.lengths[in.n - 1]);
      break;
    case 'T': {
      char *end;
      long v = strtol(optarg, &end, 10);
      if (*end || v < 1 || v > 1024) rc = cli_usage_error("run", "--threads wants 1..1024, got '%s'", optarg);
      threads = (int)v;
      break;
    }
    case 'h':
      fputs(help, stdout);
      inputs_free(&in);
      return CLI_OK;
    default: rc = cli_usage_error("run", "unknown option");
    }
  }
  if (s) {
    inputs_free(&in);
    return cli_fail("run", s);
  }
  if (rc == CLI_OK && optind + 1 != argc) rc = cli_usage_error("run", "expected one MODEL argument");
  if (rc == CLI_OK && in.n == 0) rc = cli_usage_error("run", "no input: give --ids");
  if (rc != CLI_OK) {
    inputs_free(&in);
    return rc;
  }
  const char *path = argv[optind];
  s = cli_is_shared_object(path) ? run_compiled(path, &in, threads) : run_interpreter(path, &in);
  inputs_free(&in);
  return s ? cli_fail("run", s) : CLI_OK;
}
