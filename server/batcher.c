/* Dynamic batching: one bounded FIFO queue of jobs (a request's inputs)
 * feeding N workers, each owning a context and its pipelines.
 *
 * A worker takes the oldest job and, behind it, every following job of the
 * same kind and pipeline variant while their tokens fit the batch's budget
 * (a job larger than the budget runs alone). Embedding jobs become one list
 * of token sequences, sorted by length and split into the runs of the
 * context that compute the fewest tokens for the buckets (plan.c), and
 * each sequence's sentence_embedding row is copied back to its job: requests that arrive
 * together share runs, and each request's inputs come back in its order.
 * Pipeline jobs (classification, reranking, fill-mask, NER, QA) are
 * answered by one bertc_pipeline_run over all the batch's inputs; when it
 * refuses an input, each job is run again on its own so that only the job
 * with the bad input gets the error. Runs go through bertc_context_run, so
 * the context picks the bucket (or whatever run strategy the model has).
 * The queue is bounded: submit fails when it is full and the HTTP side
 * answers 503. */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/internal.h"

typedef struct worker {
  struct srv_batcher *b;
  pthread_t thread;
  bool started;
  bertc_context_t *ctx;
  bertc_engine_t engine;  /* the context's */
  bertc_engine_t counted; /* the context's, counting tokens for the metrics */
  bertc_pipeline_t *pipelines[SRV_VARIANT_COUNT];
  const bertc_abi_bucket_t *buckets; /* the model's, for splitting batches into runs */
  uint32_t num_buckets;
  int32_t largest_batch;               /* the largest batch a run takes */
  uint64_t real_tokens, padded_tokens; /* of the batch being run */
} worker_t;

struct srv_batcher {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  srv_job_t *head, *tail;
  int depth;
  bool stopping;
  srv_batcher_options_t o;
  srv_metrics_t *metrics;
  const bertc_model_t *model;
  int num_workers;
  worker_t *workers;
};

void srv_job_free(srv_job_t *job) {
  if (!job) return;
  if (job->ids)
    for (int32_t i = 0; i < job->count; i++)
      free(job->ids[i]);
  free(job->ids);
  free(job->lengths);
  free(job->embeddings);
  if (job->answers)
    for (int32_t i = 0; i < job->count; i++)
      bertc_answer_deinit(&job->answers[i]);
  free(job->answers);
  free(job->inputs);
  free(job->names);
  bertc_status_free(job->error);
  free(job);
}

/* ---- The counting engine ------------------------------------------------------------ */

static bertc_status_t counted_run(void *self, const bertc_run_input_t *in) {
  worker_t *w = self;
  bertc_status_t s = bertc_context_run(w->ctx, in);
  if (!s) {
    bertc_run_info_t info;
    bertc_context_run_info(w->ctx, &info);
    w->real_tokens += info.real_tokens;
    w->padded_tokens += info.padded_tokens;
  }
  return s;
}

static uint32_t counted_num_outputs(void *self) {
  worker_t *w = self;
  return w->engine.num_outputs(w->engine.self);
}

static bertc_status_t counted_output(void *self, uint32_t index, bertc_tensor_view_t *out) {
  worker_t *w = self;
  return w->engine.output(w->engine.self, index, out);
}

/* ---- Running a batch ---------------------------------------------------------------- */

typedef struct seq_ref {
  srv_job_t *job;
  int32_t index;
  int32_t length;
} seq_ref_t;

static int by_length(const void *a, const void *b) {
  const seq_ref_t *x = a, *y = b;
  if (x->length != y->length) return x->length < y->length ? -1 : 1;
  return x < y ? -1 : x > y; /* qsort is not stable; the order does not change results */
}

static bertc_status_t run_embed(worker_t *w, srv_job_t **jobs, int n) {
  size_t total = 0;
  for (int j = 0; j < n; j++)
    total += (size_t)jobs[j]->count;
  int32_t max_batch = w->largest_batch;
  seq_ref_t *refs = calloc(total, sizeof *refs);
  const int32_t **ids = calloc((size_t)max_batch, sizeof *ids);
  int32_t *lens = calloc((size_t)max_batch, sizeof *lens);
  int64_t *cost = calloc(total + 1, sizeof *cost);
  int32_t *take = calloc(total + 1, sizeof *take), *sizes = calloc(total + 1, sizeof *sizes);
  int32_t *sorted = calloc(total + 1, sizeof *sorted);
  bertc_status_t s = BERTC_OK;
  if (!refs || !ids || !lens || !cost || !take || !sizes || !sorted)
    s = bertc_status_make(BERTC_STATUS_OUT_OF_MEMORY, "out of memory");
  size_t k = 0;
  for (int j = 0; !s && j < n; j++)
    for (int32_t i = 0; i < jobs[j]->count; i++)
      refs[k++] = (seq_ref_t){jobs[j], i, jobs[j]->lengths[i]};
  size_t runs = 0;
  if (!s) {
    qsort(refs, total, sizeof *refs, by_length);
    for (size_t i = 0; i < total; i++)
      sorted[i] = refs[i].length;
    runs = srv_plan_runs(w->buckets, w->num_buckets, w->largest_batch, sorted, total, cost, take,
                         sizes);
  }
  for (size_t run = 0, a = 0, m = 0; !s && run < runs; run++, a += m) {
    m = (size_t)sizes[run];
    for (size_t i = 0; i < m; i++) {
      ids[i] = refs[a + i].job->ids[refs[a + i].index];
      lens[i] = refs[a + i].length;
    }
    bertc_run_input_t in;
    bertc_run_input_init(&in);
    in.count = (int32_t)m;
    in.lengths = lens;
    in.input_ids = ids;
    in.pad_id = w->engine.pad_id;
    s = counted_run(w, &in);
    bertc_tensor_view_t v;
    if (!s) s = bertc_context_output_by_name(w->ctx, "sentence_embedding", &v);
    if (!s && (v.rank != 2 || v.dims[0] != (int64_t)m))
      s = bertc_status_make(BERTC_STATUS_INTERNAL, "sentence_embedding has an unexpected shape");
    for (size_t i = 0; !s && i < m; i++) {
      const seq_ref_t *r = &refs[a + i];
      size_t dim = (size_t)v.dims[1];
      memcpy(r->job->embeddings + (size_t)r->index * dim, (const float *)v.data + i * dim,
             dim * sizeof(float));
    }
  }
  free(refs);
  free(ids);
  free(lens);
  free(cost);
  free(take);
  free(sizes);
  free(sorted);
  return s;
}

static bertc_status_t run_pipeline(worker_t *w, srv_job_t **jobs, int n) {
  size_t total = 0;
  for (int j = 0; j < n; j++)
    total += (size_t)jobs[j]->count;
  bertc_pipeline_t *p = w->pipelines[jobs[0]->variant];
  if (n == 1) return bertc_pipeline_run(p, jobs[0]->inputs, total, jobs[0]->answers);
  bertc_pipeline_input_t *inputs = calloc(total, sizeof *inputs);
  bertc_answer_t *answers = calloc(total, sizeof *answers);
  if (!inputs || !answers) {
    free(inputs);
    free(answers);
    return bertc_status_make(BERTC_STATUS_OUT_OF_MEMORY, "out of memory");
  }
  size_t k = 0;
  for (int j = 0; j < n; j++)
    for (int32_t i = 0; i < jobs[j]->count; i++)
      inputs[k++] = jobs[j]->inputs[i];
  bertc_status_t s = bertc_pipeline_run(p, inputs, total, answers);
  if (!s) {
    k = 0;
    for (int j = 0; j < n; j++)
      for (int32_t i = 0; i < jobs[j]->count; i++)
        jobs[j]->answers[i] = answers[k++];
  }
  free(inputs);
  free(answers);
  return s;
}

static void run_batch(worker_t *w, srv_job_t **jobs, int n, double started) {
  w->real_tokens = w->padded_tokens = 0;
  int sequences = 0;
  for (int j = 0; j < n; j++)
    sequences += jobs[j]->count;
  bertc_status_t s =
      jobs[0]->kind == SRV_JOB_EMBED ? run_embed(w, jobs, n) : run_pipeline(w, jobs, n);
  if (s && n > 1) { /* find the job it was: each on its own */
    bertc_status_free(s);
    s = BERTC_OK;
    for (int j = 0; j < n; j++) {
      srv_job_t *one[1] = {jobs[j]};
      jobs[j]->error =
          jobs[j]->kind == SRV_JOB_EMBED ? run_embed(w, one, 1) : run_pipeline(w, one, 1);
    }
  } else if (s) {
    jobs[0]->error = s;
  }
  double queued = started - jobs[0]->enqueued;
  srv_metrics_batch(w->b->metrics, n, sequences, w->real_tokens, w->padded_tokens, queued,
                    srv_now() - started);
  for (int j = 0; j < n; j++)
    jobs[j]->done(jobs[j]);
}

/* ---- The workers -------------------------------------------------------------------- */

static bool compatible(const srv_job_t *a, const srv_job_t *b) {
  return a->kind == b->kind && a->variant == b->variant;
}

static void *worker_main(void *arg) {
  worker_t *w = arg;
  srv_batcher_t *b = w->b;
  int cap = 64, n = 0;
  srv_job_t **jobs = malloc((size_t)cap * sizeof *jobs);
  for (;;) {
    pthread_mutex_lock(&b->mu);
    while (!b->head && !b->stopping)
      pthread_cond_wait(&b->cv, &b->mu);
    if (!b->head) {
      pthread_mutex_unlock(&b->mu);
      break;
    }
    /* The oldest job, then the compatible ones behind it that fit. */
    n = 0;
    int64_t tokens = 0;
    srv_job_t **link = &b->head, *prev = NULL;
    while (*link) {
      srv_job_t *j = *link;
      bool take = n == 0 || (compatible(jobs[0], j) && tokens + j->cost <= b->o.max_batch_tokens);
      if (take && n == cap) {
        srv_job_t **grown = realloc(jobs, (size_t)cap * 2 * sizeof *jobs);
        if (!grown) break;
        jobs = grown;
        cap *= 2;
      }
      if (!jobs) break;
      if (take) {
        jobs[n++] = j;
        tokens += j->cost;
        *link = j->next;
        if (b->tail == j) b->tail = prev;
        b->depth--;
        j->next = NULL;
        if (tokens >= b->o.max_batch_tokens) break;
      } else {
        prev = j;
        link = &j->next;
      }
    }
    pthread_mutex_unlock(&b->mu);
    if (n == 0) continue; /* out of memory for the list: try again */
    run_batch(w, jobs, n, srv_now());
  }
  free(jobs);
  return NULL;
}

bertc_status_t srv_batcher_create(bertc_model_t *model, const bertc_tokenizer_t *tokenizer,
                                  const srv_batcher_options_t *o, srv_metrics_t *metrics,
                                  srv_batcher_t **out) {
  *out = NULL;
  srv_batcher_t *b = calloc(1, sizeof *b);
  if (!b) return bertc_status_make(BERTC_STATUS_OUT_OF_MEMORY, "out of memory");
  pthread_mutex_init(&b->mu, NULL);
  pthread_cond_init(&b->cv, NULL);
  b->o = *o;
  b->metrics = metrics;
  b->model = model;
  b->workers = calloc((size_t)o->workers, sizeof *b->workers);
  if (!b->workers) {
    srv_batcher_release(b);
    return bertc_status_make(BERTC_STATUS_OUT_OF_MEMORY, "out of memory");
  }
  bertc_status_t s = BERTC_OK;
  for (int i = 0; !s && i < o->workers; i++) {
    worker_t *w = &b->workers[i];
    w->b = b;
    b->num_workers = i + 1;
    bertc_context_options_t co;
    bertc_context_options_init(&co);
    co.num_threads = o->threads;
    s = bertc_context_create(model, &co, &w->ctx);
    if (s) break;
    w->buckets = bertc_model_buckets(model, &w->num_buckets);
    w->largest_batch = 1;
    for (uint32_t k = 0; k < w->num_buckets; k++)
      if (w->buckets[k].batch > w->largest_batch) w->largest_batch = w->buckets[k].batch;
    if (w->largest_batch > bertc_context_max_batch(w->ctx))
      w->largest_batch = bertc_context_max_batch(w->ctx);
    bertc_context_engine(w->ctx, &w->engine);
    w->counted = w->engine;
    w->counted.self = w;
    w->counted.run = counted_run;
    w->counted.num_outputs = counted_num_outputs;
    w->counted.output = counted_output;
    for (int v = 0; !s && v < SRV_VARIANT_COUNT; v++) {
      bertc_pipeline_options_t po;
      bertc_pipeline_options_init(&po);
      if (v == SRV_VARIANT_SIGMOID) po.function = BERTC_SCORE_FUNCTION_SIGMOID;
      if (v == SRV_VARIANT_NONE) po.function = BERTC_SCORE_FUNCTION_NONE;
      s = bertc_pipeline_create(&w->counted, bertc_model_metadata_json(model), tokenizer, &po,
                                &w->pipelines[v]);
    }
  }
  for (int i = 0; !s && i < b->num_workers; i++) {
    if (pthread_create(&b->workers[i].thread, NULL, worker_main, &b->workers[i]))
      s = bertc_status_make(BERTC_STATUS_INTERNAL, "cannot start a worker thread");
    else
      b->workers[i].started = true;
  }
  if (s) {
    srv_batcher_release(b);
    return s;
  }
  *out = b;
  return BERTC_OK;
}

bool srv_batcher_submit(srv_batcher_t *b, srv_job_t *job) {
  pthread_mutex_lock(&b->mu);
  bool ok = !b->stopping && b->depth < b->o.max_queue;
  if (ok) {
    job->next = NULL;
    job->enqueued = srv_now();
    if (b->tail)
      b->tail->next = job;
    else
      b->head = job;
    b->tail = job;
    b->depth++;
    pthread_cond_signal(&b->cv);
  }
  pthread_mutex_unlock(&b->mu);
  return ok;
}

int srv_batcher_depth(srv_batcher_t *b) {
  pthread_mutex_lock(&b->mu);
  int d = b->depth;
  pthread_mutex_unlock(&b->mu);
  return d;
}

const bertc_pipeline_t *srv_batcher_pipeline(const srv_batcher_t *b, srv_variant_t v) {
  return b->workers[0].pipelines[v];
}

void srv_batcher_release(srv_batcher_t *b) {
  if (!b) return;
  pthread_mutex_lock(&b->mu);
  b->stopping = true;
  pthread_cond_broadcast(&b->cv);
  pthread_mutex_unlock(&b->mu);
  for (int i = 0; i < b->num_workers; i++) {
    worker_t *w = &b->workers[i];
    if (w->started) pthread_join(w->thread, NULL);
    for (int v = 0; v < SRV_VARIANT_COUNT; v++)
      bertc_pipeline_release(w->pipelines[v]);
    bertc_context_release(w->ctx);
  }
  free(b->workers);
  pthread_cond_destroy(&b->cv);
  pthread_mutex_destroy(&b->mu);
  free(b);
}
