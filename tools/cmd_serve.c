/* bertc serve MODEL.so [options]: the HTTP inference server (server/). This
 * file parses the options; srv_serve does the rest. */
#define _POSIX_C_SOURCE 200809L
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/server.h"
#include "tools/cli.h"

static const char *help =
    "usage: bertc serve MODEL.so [options]\n"
    "\n"
    "Serves a compiled model over HTTP until SIGTERM or SIGINT (then it stops\n"
    "accepting connections, answers every request it has received, and exits 0).\n"
    "Routes (docs/serve.md; the OpenAPI description is at /openapi.json):\n"
    "  POST /v1/embeddings, GET /v1/models   OpenAI (embedding models)\n"
    "  POST /embed /rerank /predict /tokenize text-embeddings-inference\n"
    "  POST /run                             any task: the answers 'bertc run' prints\n"
    "  GET  /health /info /metrics /openapi.json\n"
    "Concurrent requests are batched: a worker takes queued requests while their\n"
    "tokens fit --max-batch-tokens and runs them together. Compile the model with\n"
    "batch buckets (e.g. --batch-sizes 1,8,32) so that batches run as batches.\n"
    "\n"
    "  --host ADDR             address to listen on (default 127.0.0.1: loopback only)\n"
    "  --port N                port (default 8080; 0: any free port, printed)\n"
    "  --threads N             threads per worker (default: the cores / --workers)\n"
    "  --workers N             worker contexts running batches (default 1)\n"
    "  --max-batch-tokens N    tokens one batch may hold (default 16384)\n"
    "  --max-queue N           requests waiting for a worker; beyond it 503 (default 256)\n"
    "  --max-inputs N          inputs in one request; beyond it 413 (default 256)\n"
    "  --max-body BYTES        request body size; beyond it 413 (default 2097152)\n"
    "  --timeout SECONDS       close connections idle this long (default 30)\n"
    "  --max-connections N     open connections (default 4096)\n"
    "  --api-key-file FILE     require 'Authorization: Bearer <the file's line>' on every\n"
    "                          route but /health\n"
    "  --model-name NAME       the model id clients send (default: MODEL without .so)\n"
    "  -h, --help              show this help\n";

int cmd_serve(int argc, char **argv) {
  enum {
    O_HOST = 256,
    O_PORT,
    O_THREADS,
    O_WORKERS,
    O_TOKENS,
    O_QUEUE,
    O_INPUTS,
    O_BODY,
    O_TIMEOUT,
    O_CONNS,
    O_KEY,
    O_NAME
  };
  static const struct option opts[] = {{"host", required_argument, 0, O_HOST},
                                       {"port", required_argument, 0, O_PORT},
                                       {"threads", required_argument, 0, O_THREADS},
                                       {"workers", required_argument, 0, O_WORKERS},
                                       {"max-batch-tokens", required_argument, 0, O_TOKENS},
                                       {"max-queue", required_argument, 0, O_QUEUE},
                                       {"max-inputs", required_argument, 0, O_INPUTS},
                                       {"max-body", required_argument, 0, O_BODY},
                                       {"timeout", required_argument, 0, O_TIMEOUT},
                                       {"max-connections", required_argument, 0, O_CONNS},
                                       {"api-key-file", required_argument, 0, O_KEY},
                                       {"model-name", required_argument, 0, O_NAME},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
  /* Each numeric option: its name and range. */
  static const struct {
    int opt;
    const char *name;
    long long lo, hi;
  } ranges[] = {{O_PORT, "--port", 0, 65535},
                {O_THREADS, "--threads", 1, 1024},
                {O_WORKERS, "--workers", 1, 256},
                {O_TOKENS, "--max-batch-tokens", 1, 1 << 24},
                {O_QUEUE, "--max-queue", 1, 1 << 20},
                {O_INPUTS, "--max-inputs", 1, 1 << 20},
                {O_BODY, "--max-body", 64, 1LL << 32},
                {O_TIMEOUT, "--timeout", 1, 86400},
                {O_CONNS, "--max-connections", 1, 1 << 20}};
  srv_options_t o;
  srv_options_init(&o);
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
    if (c == 'h') {
      fputs(help, stdout);
      return CLI_OK;
    }
    if (c == O_HOST) {
      o.host = optarg;
      continue;
    }
    if (c == O_KEY) {
      o.api_key_file = optarg;
      continue;
    }
    if (c == O_NAME) {
      o.model_name = optarg;
      continue;
    }
    size_t k = 0;
    while (k < sizeof ranges / sizeof ranges[0] && ranges[k].opt != c)
      k++;
    if (k == sizeof ranges / sizeof ranges[0]) return cli_option_error("serve", c, argv);
    char *end;
    long long v = strtoll(optarg, &end, 10);
    if (!*optarg || *end || v < ranges[k].lo || v > ranges[k].hi)
      return cli_usage_error("serve", "%s wants %lld..%lld, got '%s'", ranges[k].name, ranges[k].lo,
                             ranges[k].hi, optarg);
    switch (c) {
    case O_PORT: o.port = (int)v; break;
    case O_THREADS: o.threads = (int)v; break;
    case O_WORKERS: o.workers = (int)v; break;
    case O_TOKENS: o.max_batch_tokens = v; break;
    case O_QUEUE: o.max_queue = (int)v; break;
    case O_INPUTS: o.max_inputs = (int)v; break;
    case O_BODY: o.max_body = (size_t)v; break;
    case O_TIMEOUT: o.timeout_s = (int)v; break;
    default: o.max_connections = (int)v; break;
    }
  }
  if (optind + 1 != argc) return cli_usage_error("serve", "expected one MODEL.so argument");
  if (!cli_is_shared_object(argv[optind]))
    return cli_fail("serve", bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT,
                                               "%s: not a compiled model (.so from 'bertc "
                                               "compile')",
                                               argv[optind]));
  bertc_status_t s = srv_serve(argv[optind], &o);
  return s ? cli_fail("serve", s) : CLI_OK;
}
