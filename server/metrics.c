/* Counters and histograms for GET /metrics, in the Prometheus text format
 * (version 0.0.4): requests by route and status, request latency by route,
 * batches (requests and sequences per batch, queue wait, run time), tokens
 * computed and real, and the queue depth and requests in flight sampled
 * when scraped. One mutex: a request or a batch updates a few numbers. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/internal.h"

double srv_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static const char *const route_names[SRV_ROUTE_COUNT] = {
    "/v1/embeddings", "/v1/models", "/embed", "/rerank",  "/predict",      "/tokenize",
    "/run",           "/health",    "/info",  "/metrics", "/openapi.json", "other"};

/* The statuses the server answers with; anything else counts as 500. */
static const int statuses[] = {200, 400, 401, 404, 405, 413, 422, 500, 503};
#define NUM_STATUSES (int)(sizeof statuses / sizeof statuses[0])

static const double latency_bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                        0.25,  0.5,    1,     2.5,  5,     10};
#define NUM_LATENCY (int)(sizeof latency_bounds / sizeof latency_bounds[0])
static const double size_bounds[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024};
#define NUM_SIZE (int)(sizeof size_bounds / sizeof size_bounds[0])

typedef struct histogram {
  uint64_t counts[16]; /* per bound, not cumulative; the last one is +Inf */
  uint64_t count;
  double sum;
} histogram_t;

struct srv_metrics {
  pthread_mutex_t mu;
  uint64_t requests[SRV_ROUTE_COUNT][NUM_STATUSES];
  histogram_t latency[SRV_ROUTE_COUNT];
  histogram_t batch_requests, batch_sequences, queue_wait, batch_run;
  uint64_t real_tokens, padded_tokens;
};

static void observe(histogram_t *h, const double *bounds, int n, double v) {
  int i = 0;
  while (i < n && v > bounds[i])
    i++;
  h->counts[i]++;
  h->count++;
  h->sum += v;
}

bertc_status_t srv_metrics_create(srv_metrics_t **out) {
  *out = calloc(1, sizeof **out);
  if (!*out) return bertc_status_make(BERTC_STATUS_OUT_OF_MEMORY, "out of memory");
  pthread_mutex_init(&(*out)->mu, NULL);
  return BERTC_OK;
}

void srv_metrics_release(srv_metrics_t *m) {
  if (!m) return;
  pthread_mutex_destroy(&m->mu);
  free(m);
}

void srv_metrics_request(srv_metrics_t *m, srv_route_t route, int status, double seconds) {
  int k = 0;
  while (k < NUM_STATUSES && statuses[k] != status)
    k++;
  if (k == NUM_STATUSES) k = NUM_STATUSES - 2; /* 500 */
  pthread_mutex_lock(&m->mu);
  m->requests[route][k]++;
  observe(&m->latency[route], latency_bounds, NUM_LATENCY, seconds);
  pthread_mutex_unlock(&m->mu);
}

void srv_metrics_batch(srv_metrics_t *m, int requests, int sequences, uint64_t real_tokens,
                       uint64_t padded_tokens, double queued_s, double run_s) {
  pthread_mutex_lock(&m->mu);
  observe(&m->batch_requests, size_bounds, NUM_SIZE, requests);
  observe(&m->batch_sequences, size_bounds, NUM_SIZE, sequences);
  observe(&m->queue_wait, latency_bounds, NUM_LATENCY, queued_s);
  observe(&m->batch_run, latency_bounds, NUM_LATENCY, run_s);
  m->real_tokens += real_tokens;
  m->padded_tokens += padded_tokens;
  pthread_mutex_unlock(&m->mu);
}

static void put_histogram(FILE *f, const char *name, const char *labels, const histogram_t *h,
                          const double *bounds, int n) {
  uint64_t cum = 0;
  for (int i = 0; i <= n; i++) {
    cum += h->counts[i];
    if (i < n)
      fprintf(f, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels, *labels ? "," : "", bounds[i],
              (unsigned long long)cum);
    else
      fprintf(f, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, *labels ? "," : "",
              (unsigned long long)cum);
  }
  const char *open = *labels ? "{" : "", *close = *labels ? "}" : "";
  fprintf(f, "%s_sum%s%s%s %.9g\n", name, open, labels, close, h->sum);
  fprintf(f, "%s_count%s%s%s %llu\n", name, open, labels, close, (unsigned long long)h->count);
}

char *srv_metrics_text(srv_metrics_t *m, int queue_depth, int in_flight) {
  char *text = NULL;
  size_t size = 0;
  FILE *f = open_memstream(&text, &size);
  if (!f) return NULL;
  pthread_mutex_lock(&m->mu);
  fputs("# HELP bertc_requests_total HTTP requests answered, by route and status.\n"
        "# TYPE bertc_requests_total counter\n",
        f);
  for (int r = 0; r < SRV_ROUTE_COUNT; r++)
    for (int k = 0; k < NUM_STATUSES; k++)
      if (m->requests[r][k])
        fprintf(f, "bertc_requests_total{route=\"%s\",status=\"%d\"} %llu\n", route_names[r],
                statuses[k], (unsigned long long)m->requests[r][k]);
  fputs("# HELP bertc_request_duration_seconds Time from a request's arrival to its answer.\n"
        "# TYPE bertc_request_duration_seconds histogram\n",
        f);
  for (int r = 0; r < SRV_ROUTE_COUNT; r++) {
    if (!m->latency[r].count) continue;
    char labels[64];
    snprintf(labels, sizeof labels, "route=\"%s\"", route_names[r]);
    put_histogram(f, "bertc_request_duration_seconds", labels, &m->latency[r], latency_bounds,
                  NUM_LATENCY);
  }
  fputs("# HELP bertc_batch_requests Requests coalesced into one batch.\n"
        "# TYPE bertc_batch_requests histogram\n",
        f);
  put_histogram(f, "bertc_batch_requests", "", &m->batch_requests, size_bounds, NUM_SIZE);
  fputs("# HELP bertc_batch_sequences Token sequences in one batch.\n"
        "# TYPE bertc_batch_sequences histogram\n",
        f);
  put_histogram(f, "bertc_batch_sequences", "", &m->batch_sequences, size_bounds, NUM_SIZE);
  fputs("# HELP bertc_queue_wait_seconds Time a batch's oldest request waited in the queue.\n"
        "# TYPE bertc_queue_wait_seconds histogram\n",
        f);
  put_histogram(f, "bertc_queue_wait_seconds", "", &m->queue_wait, latency_bounds, NUM_LATENCY);
  fputs("# HELP bertc_batch_run_seconds Time a worker took to run one batch.\n"
        "# TYPE bertc_batch_run_seconds histogram\n",
        f);
  put_histogram(f, "bertc_batch_run_seconds", "", &m->batch_run, latency_bounds, NUM_LATENCY);
  fprintf(f,
          "# HELP bertc_tokens_total Real tokens run through the model (rate() gives tokens/s).\n"
          "# TYPE bertc_tokens_total counter\n"
          "bertc_tokens_total %llu\n"
          "# HELP bertc_padded_tokens_total Tokens computed, padding included.\n"
          "# TYPE bertc_padded_tokens_total counter\n"
          "bertc_padded_tokens_total %llu\n",
          (unsigned long long)m->real_tokens, (unsigned long long)m->padded_tokens);
  pthread_mutex_unlock(&m->mu);
  fprintf(f,
          "# HELP bertc_queue_depth Requests waiting for a worker.\n"
          "# TYPE bertc_queue_depth gauge\n"
          "bertc_queue_depth %d\n"
          "# HELP bertc_requests_in_flight Requests received and not yet answered.\n"
          "# TYPE bertc_requests_in_flight gauge\n"
          "bertc_requests_in_flight %d\n",
          queue_depth, in_flight);
  if (fclose(f)) {
    free(text);
    return NULL;
  }
  return text;
}
