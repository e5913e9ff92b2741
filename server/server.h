/* bertc serve: an HTTP inference server over a compiled model, on the public
 * headers (bertc/bertc.h, bertc/tasks.h) and libmicrohttpd.
 *
 * srv_serve loads the model, starts --workers batching workers (each with
 * its own context of --threads threads), listens, and serves until SIGTERM
 * or SIGINT: then it stops accepting connections, answers every request it
 * has accepted, and returns. Routes, limits and the batching are described
 * in docs/serve.md; the OpenAPI document the server publishes at
 * /openapi.json is server/openapi.json. */
#ifndef BERTC_SERVER_SERVER_H
#define BERTC_SERVER_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "bertc/status.h"

typedef struct srv_options {
  const char *host;         /* address to bind; default "127.0.0.1" (loopback) */
  int port;                 /* default 8080; 0: any free port (printed) */
  int threads;              /* threads per worker context; 0: all cores / workers */
  int workers;              /* worker contexts; default 1 */
  int64_t max_batch_tokens; /* token budget of one batch (padded tokens); default 16384 */
  int max_queue;            /* requests waiting for a worker; default 256 */
  int max_inputs;           /* inputs in one request; default 256 */
  size_t max_body;          /* request body bytes; default 2 MiB */
  int timeout_s;            /* idle connection timeout, seconds; default 30 */
  int max_connections;      /* open connections; default 4096 */
  const char *api_key_file; /* NULL: no authentication */
  const char *model_name;   /* NULL: the .so's file name without ".so" */
  FILE *log;                /* the start-up line and errors; default stderr */
} srv_options_t;

void srv_options_init(srv_options_t *o);

/* Serves MODEL_PATH (a .so) until SIGTERM or SIGINT. The two signals are
 * blocked in the calling thread (and so in every thread it starts) and
 * taken with sigwait. Prints "bertc serve: listening on http://HOST:PORT"
 * to the log once the first request can be answered. */
bertc_status_t srv_serve(const char *model_path, const srv_options_t *o) BERTC_MUST_USE;

#endif
