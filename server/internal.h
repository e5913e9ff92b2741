/* The server's parts, private to server/: the batching queue and its
 * workers (batcher.c), the metrics (metrics.c), the routes (api.c) and the
 * HTTP side (http.c). */
#ifndef BERTC_SERVER_INTERNAL_H
#define BERTC_SERVER_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bertc/bertc.h"
#include "bertc/tasks.h"
#include "server/server.h"

double srv_now(void); /* monotonic seconds */

/* ---- Metrics (metrics.c) ------------------------------------------------------------ */

/* The routes, in the order of the route table (api.c). */
typedef enum srv_route {
  SRV_ROUTE_EMBEDDINGS, /* POST /v1/embeddings */
  SRV_ROUTE_MODELS,     /* GET /v1/models */
  SRV_ROUTE_EMBED,      /* POST /embed */
  SRV_ROUTE_RERANK,     /* POST /rerank */
  SRV_ROUTE_PREDICT,    /* POST /predict */
  SRV_ROUTE_TOKENIZE,   /* POST /tokenize */
  SRV_ROUTE_RUN,        /* POST /run */
  SRV_ROUTE_HEALTH,     /* GET /health */
  SRV_ROUTE_INFO,       /* GET /info */
  SRV_ROUTE_METRICS,    /* GET /metrics */
  SRV_ROUTE_OPENAPI,    /* GET /openapi.json */
  SRV_ROUTE_OTHER,      /* no route: 404 */
  SRV_ROUTE_COUNT
} srv_route_t;

typedef struct srv_metrics srv_metrics_t;

bertc_status_t srv_metrics_create(srv_metrics_t **out) BERTC_MUST_USE;
void srv_metrics_release(srv_metrics_t *m);
/* One answered request: its route, HTTP status and seconds from arrival. */
void srv_metrics_request(srv_metrics_t *m, srv_route_t route, int status, double seconds);
/* One batch a worker ran: requests and sequences in it, real and computed
 * (padded) tokens, seconds it waited in the queue (its oldest request) and
 * ran. */
void srv_metrics_batch(srv_metrics_t *m, int requests, int sequences, uint64_t real_tokens,
                       uint64_t padded_tokens, double queued_s, double run_s);
/* The Prometheus text exposition (format 0.0.4); queue_depth and in_flight
 * are sampled by the caller. Heap string. */
char *srv_metrics_text(srv_metrics_t *m, int queue_depth, int in_flight);

/* ---- Jobs and the batcher (batcher.c) ----------------------------------------------- */

typedef enum srv_job_kind {
  SRV_JOB_EMBED,    /* token sequences -> sentence_embedding rows (the context directly) */
  SRV_JOB_PIPELINE, /* texts -> the task pipeline's answers */
} srv_job_kind_t;

/* Pipeline option sets a worker holds a pipeline for. */
typedef enum srv_variant {
  SRV_VARIANT_DEFAULT, /* the model's task, the CLI's defaults */
  SRV_VARIANT_SIGMOID, /* sequence classification scored with sigmoid */
  SRV_VARIANT_NONE,    /* sequence classification, raw logits */
  SRV_VARIANT_COUNT
} srv_variant_t;

typedef struct srv_job srv_job_t;
struct srv_job {
  srv_job_kind_t kind;
  srv_variant_t variant;
  int32_t count; /* inputs, answered together and in order */
  /* SRV_JOB_EMBED: count token sequences (owned) and count * dim outputs. */
  int32_t **ids;
  int32_t *lengths;
  float *embeddings;
  /* SRV_JOB_PIPELINE: count inputs (their text owned by the request) and
   * their answers. */
  bertc_pipeline_input_t *inputs;
  char (*names)[32]; /* the inputs' names in messages: "inputs[3]" */
  bertc_answer_t *answers;
  int64_t cost;                 /* tokens the job adds to a batch */
  bertc_status_t error;         /* set by the worker; owned by the job */
  double enqueued;              /* srv_now() at submission */
  void (*done)(srv_job_t *job); /* called by the worker once, when answered */
  void *user;
  srv_job_t *next; /* queue link */
};

void srv_job_free(srv_job_t *job);

/* Splits n sequences, sorted by length (lengths[]), into runs of the
 * context that compute the fewest tokens with these buckets (plan.c):
 * sizes[] gets the number of sequences of each run, in order; returns the
 * number of runs. cost and take are scratch of n + 1 entries, sizes has n;
 * largest_batch is the most sequences one run takes. */
size_t srv_plan_runs(const bertc_abi_bucket_t *buckets, uint32_t num_buckets, int32_t largest_batch,
                     const int32_t *lengths, size_t n, int64_t *cost, int32_t *take,
                     int32_t *sizes);

typedef struct srv_batcher srv_batcher_t;

typedef struct srv_batcher_options {
  int workers;
  int threads; /* per context */
  int64_t max_batch_tokens;
  int max_queue;
} srv_batcher_options_t;

/* Starts the workers, each with its own context and pipelines over `model`
 * (borrowed) and `tokenizer` (borrowed, shared). */
bertc_status_t srv_batcher_create(bertc_model_t *model, const bertc_tokenizer_t *tokenizer,
                                  const srv_batcher_options_t *o, srv_metrics_t *metrics,
                                  srv_batcher_t **out) BERTC_MUST_USE;
/* Queues a job; false when the queue is full (the job stays the caller's). */
bool srv_batcher_submit(srv_batcher_t *b, srv_job_t *job);
int srv_batcher_depth(srv_batcher_t *b);
/* A worker's pipeline: for answers' JSON and label names, which live as long
 * as the batcher. */
const bertc_pipeline_t *srv_batcher_pipeline(const srv_batcher_t *b, srv_variant_t v);
/* Answers every queued job, then stops the workers and frees. */
void srv_batcher_release(srv_batcher_t *b);

#endif

/* ---- The server and its routes (api.c) ---------------------------------------------- */

typedef struct srv {
  srv_options_t o;
  bertc_model_t *model;
  bertc_tokenizer_t *tokenizer;
  bertc_pipeline_t *encoder; /* encodes only (admission); used by the HTTP thread alone */
  srv_batcher_t *batcher;
  srv_metrics_t *metrics;
  bertc_task_t task;
  char *model_name;
  int32_t max_tokens; /* what inputs are truncated to (the tokenizer's max length) */
  int64_t vocab_size;
  int64_t hidden_size, num_layers; /* the metadata's, 0 when absent */
  int32_t dim;                     /* sentence_embedding size; 0 when the model has none */
  bool normalizes;                 /* the model normalizes its embeddings */
  int32_t num_labels;
  char *api_key; /* NULL: no authentication */
  size_t api_key_len;
  int port;
  double started;
  pthread_mutex_t mu; /* in_flight and its condition */
  pthread_cond_t idle;
  int in_flight;
  unsigned long long answered; /* requests answered */
  bool stopping;
} srv_t;

/* An answer: status, body (heap) and its type; retry_after adds
 * Retry-After: 1; allow is the Allow header of a 405. */
typedef struct srv_reply {
  int status;
  char *body;
  const char *content_type;
  bool retry_after;
  const char *allow;
} srv_reply_t;

/* A request between its arrival and its answer. */
typedef struct srv_call {
  srv_route_t route;
  srv_job_t *job; /* set by srv_api_begin when the request needs a worker */
  void *json;     /* the parsed body (json_t *), which the job's texts point into */
  bool single;    /* the input was one item, not a list */
  bool base64;    /* OpenAI encoding_format base64 */
  bool normalize; /* TEI normalize */
  bool return_text;
  int64_t prompt_tokens;
} srv_call_t;

/* The route of a path, and the method it takes ("GET" or "POST"). */
srv_route_t srv_route_find(const char *path, const char **out_method);
bool srv_route_openai(srv_route_t route); /* errors in OpenAI's shape */
/* An error answer for the route, in its API's shape. */
void srv_reply_error(srv_reply_t *r, srv_route_t route, int status, const char *param,
                     const char *fmt, ...) BERTC_PRINTF(5, 6);
/* Starts answering a request whose body has arrived: sets *reply, or
 * call->job (reply untouched) for the caller to submit. */
void srv_api_begin(srv_t *s, srv_call_t *call, const char *body, size_t length, srv_reply_t *reply);
/* The answer of a request whose job is done. */
void srv_api_finish(srv_t *s, srv_call_t *call, srv_reply_t *reply);
void srv_call_deinit(srv_call_t *call);
