/* bertc run --input FILE: a corpus of JSON Lines through the model's task
 * pipeline in bounded memory.
 *
 * The file is cut into blocks of lines. Worker threads take the next block
 * (reading its lines under a lock, so blocks follow the file), parse and
 * tokenize it (bertc_pipeline_prepare) and leave it in a ring of slots; at
 * most CORPUS_SLOTS blocks exist at once, which bounds memory whatever the
 * file's size. The calling thread runs the blocks in file order
 * (bertc_pipeline_run_prepared_json: runs of at most --batch-tokens tokens,
 * packed into the model's token buckets) and writes each answer as it
 * completes, so reading, tokenizing, running and writing overlap and the
 * output keeps the input's order. Ctrl-C sets a flag the answer sink checks:
 * the run stops after a complete line and stdout is flushed, leaving a
 * valid JSON Lines prefix. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tools/cli.h"

#define CORPUS_MAX_WORKERS 16

/* Set by SIGINT; the one piece of process state, as a signal handler can
 * reach nothing else. */
static volatile sig_atomic_t corpus_interrupted;

static void on_sigint(int sig) {
  (void)sig;
  corpus_interrupted = 1;
}

typedef struct corpus_block {
  size_t first;      /* index of its first input */
  char *lines;       /* the raw lines, NUL-separated */
  size_t lines_size, lines_cap;
  int32_t *line_no;  /* file line of each raw line */
  size_t num_lines, cap_lines;
  cli_texts_t texts;
  bertc_pipeline_input_t *inputs;
  bertc_prepared_t *prepared;
  bertc_status_t status; /* reading or parsing line num_parsed + 1 failed */
  bool ready, last;
} corpus_block_t;

#define CORPUS_SLOTS (2 * CORPUS_MAX_WORKERS + 2)

typedef struct corpus {
  bertc_pipeline_t *pipeline;
  const char *path; /* for messages */
  FILE *in;
  size_t block_lines;
  size_t slots; /* in use: 2 * workers + 2 */
  pthread_mutex_t mu;
  pthread_cond_t cv;
  size_t next_read, next_run;
  size_t inputs_read;
  int line;
  bool eof, stop;
  char *buf; /* getline's */
  size_t buf_cap;
  uint64_t bytes_read, file_size;
  corpus_block_t block[CORPUS_SLOTS];
} corpus_t;

static void block_clear(corpus_block_t *b) {
  bertc_prepared_release(b->prepared);
  free(b->inputs);
  cli_texts_free(&b->texts);
  bertc_status_free(b->status);
  char *lines = b->lines;
  int32_t *nos = b->line_no;
  size_t lc = b->lines_cap, nc = b->cap_lines;
  memset(b, 0, sizeof *b);
  b->lines = lines, b->line_no = nos, b->lines_cap = lc, b->cap_lines = nc;
}

static bertc_status_t block_add_line(corpus_block_t *b, const char *s, size_t n, int line) {
  if (b->lines_size + n + 1 > b->lines_cap) {
    size_t cap = (b->lines_size + n + 1) * 2;
    char *p = realloc(b->lines, cap);
    if (!p) return bertc_status_make(BERTC_STATUS_OUT_OF_MEMORY, "out of memory");
    b->lines = p, b->lines_cap = cap;
  }
  if (b->num_lines == b->cap_lines) {
    size_t cap = b->cap_lines ? 2 * b->cap_lines : 64;
    int32_t *p = realloc(b->line_no, cap * sizeof *p);
    if (!p) return bertc_status_make(BERTC_STATUS_OUT_OF_MEMORY, "out of memory");
    b->line_no = p, b->cap_lines = cap;
  }
  memcpy(b->lines + b->lines_size, s, n);
  b->lines[b->lines_size + n] = '\0';
  b->lines_size += n + 1;
  b->line_no[b->num_lines++] = line;
  return BERTC_OK;
}

/* Reads the next block's lines (the lock held): up to block_lines inputs,
 * blank lines skipped. */
static void read_block(corpus_t *c, corpus_block_t *b) {
  b->first = c->inputs_read;
  while (b->num_lines < c->block_lines) {
    errno = 0;
    ssize_t got = getline(&c->buf, &c->buf_cap, c->in);
    if (got < 0) {
      if (ferror(c->in))
        b->status = bertc_status_make(BERTC_STATUS_IO, "%s: read failed after line %d: %s",
                                      c->path, c->line, strerror(errno));
      c->eof = true;
      b->last = true;
      break;
    }
    c->line++;
    c->bytes_read += (uint64_t)got;
    size_t a = 0, e = (size_t)got;
    while (a < e && strchr(" \t\r\n", c->buf[a])) a++;
    while (e > a && strchr(" \t\r\n", c->buf[e - 1])) e--;
    if (e == a) continue;
    b->status = block_add_line(b, c->buf + a, e - a, c->line);
    if (b->status) {
      c->eof = true;
      b->last = true;
      break;
    }
  }
  c->inputs_read += b->num_lines;
}

/* Parses and tokenizes a block (no lock held). A line that does not parse
 * ends the block: the inputs before it run, then its error is reported. */
static void prepare_block(corpus_t *c, corpus_block_t *b) {
  b->texts.base = b->first;
  bertc_status_t s = BERTC_OK;
  const char *at = b->lines;
  for (size_t i = 0; !s && i < b->num_lines; i++) {
    size_t n = strlen(at);
    s = cli_texts_parse_line(&b->texts, c->path, b->line_no[i], at, n);
    at += n + 1;
  }
  if (s) {
    bertc_status_free(b->status);
    b->status = s;
    b->last = true;
  }
  s = cli_texts_inputs(&b->texts, &b->inputs);
  if (!s) s = bertc_pipeline_prepare(c->pipeline, b->inputs, b->texts.count, b->first, &b->prepared);
  if (s) {
    bertc_status_free(b->status);
    b->status = s;
    b->last = true;
  }
}

static void *worker_main(void *arg) {
  corpus_t *c = arg;
  pthread_mutex_lock(&c->mu);
  while (!c->stop && !c->eof) {
    if (c->next_read >= c->next_run + c->slots) {
      pthread_cond_wait(&c->cv, &c->mu);
      continue;
    }
    corpus_block_t *b = &c->block[c->next_read % c->slots];
    c->next_read++;
    read_block(c, b);
    pthread_mutex_unlock(&c->mu);
    if (!b->status) prepare_block(c, b);
    pthread_mutex_lock(&c->mu);
    b->ready = true;
    pthread_cond_broadcast(&c->cv);
  }
  pthread_mutex_unlock(&c->mu);
  return NULL;
}

/* ---- Writing answers, progress and totals ---- */

#define CORPUS_TRUNCATION_NOTES 10 /* notes of truncated inputs; then a count at the end */

typedef struct corpus_out {
  size_t written;
  size_t truncated;
  const cli_model_t *model;
  const corpus_block_t *block; /* the block running */
  uint64_t real_tokens, computed_tokens;
  double t0, last_progress;
  bool progress;
  corpus_t *corpus;
} corpus_out_t;

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static bertc_status_t write_answer(void *user, size_t index, const char *json, size_t length) {
  corpus_out_t *o = user;
  (void)index;
  if (corpus_interrupted) return bertc_status_make(BERTC_STATUS_IO, "interrupted");
  fwrite(json, 1, length, stdout);
  fputc('\n', stdout);
  o->written++;
  return BERTC_OK;
}

/* The first truncated inputs get a note each, the rest a count at the end. */
static void note_truncated(void *user, size_t index) {
  corpus_out_t *o = user;
  if (o->truncated++ < CORPUS_TRUNCATION_NOTES && index >= o->block->first &&
      index - o->block->first < o->block->texts.count)
    cli_note_truncated("run", o->model, &o->block->texts.items[index - o->block->first]);
}

static void print_progress(corpus_out_t *o, bool final) {
  double t = now_seconds(), dt = t - o->t0;
  if (!o->progress || (!final && t - o->last_progress < 0.5) || dt <= 0) return;
  o->last_progress = t;
  corpus_t *c = o->corpus;
  pthread_mutex_lock(&c->mu);
  uint64_t bytes = c->bytes_read;
  pthread_mutex_unlock(&c->mu);
  char eta[32] = "";
  if (c->file_size && bytes && !final) {
    double done = (double)bytes / (double)c->file_size;
    if (done > 0 && done <= 1) snprintf(eta, sizeof eta, ", ETA %.0f s", dt / done - dt);
  }
  fprintf(stderr, "\r%zu texts, %.1f texts/s, %.0f tokens/s%s   %s", o->written,
          (double)o->written / dt, (double)o->real_tokens / dt, eta, final ? "\n" : "");
  fflush(stderr);
}

/* An engine that forwards to the model's and counts the tokens of its runs. */
typedef struct counting_engine {
  bertc_engine_t inner;
  bertc_context_t *context; /* NULL: the reference interpreter */
  corpus_out_t *out;
} counting_engine_t;

static bertc_status_t counting_run(void *self, const bertc_run_input_t *in) {
  counting_engine_t *e = self;
  BERTC_RETURN_IF_ERROR(e->inner.run(e->inner.self, in));
  int32_t longest = 0;
  uint64_t real = 0;
  for (int32_t i = 0; i < in->count; i++) {
    real += (uint64_t)in->lengths[i];
    if (in->lengths[i] > longest) longest = in->lengths[i];
  }
  e->out->real_tokens += real;
  if (e->context) {
    bertc_run_info_t info;
    bertc_context_run_info(e->context, &info);
    e->out->computed_tokens += info.padded_tokens;
  } else {
    e->out->computed_tokens += (uint64_t)in->count * (uint64_t)longest;
  }
  print_progress(e->out, false);
  return BERTC_OK;
}

static uint32_t counting_num_outputs(void *self) {
  counting_engine_t *e = self;
  return e->inner.num_outputs(e->inner.self);
}

static bertc_status_t counting_output(void *self, uint32_t index, bertc_tensor_view_t *v) {
  counting_engine_t *e = self;
  return e->inner.output(e->inner.self, index, v);
}

int cli_run_corpus(cli_model_t *m, const char *path, const bertc_pipeline_options_t *po,
                   const cli_corpus_options_t *o) {
  corpus_t *c = calloc(1, sizeof *c);
  if (!c) return cli_fail("run", bertc_status_make(BERTC_STATUS_OUT_OF_MEMORY, "out of memory"));
  corpus_out_t out = {0};
  out.corpus = c;
  out.model = m;
  out.progress = o->progress && isatty(STDERR_FILENO);
  counting_engine_t ce = {m->engine, m->context, &out};
  bertc_engine_t engine = m->engine;
  engine.self = &ce;
  engine.run = counting_run;
  engine.num_outputs = counting_num_outputs;
  engine.output = counting_output;
  bertc_pipeline_options_t popts = *po;
  popts.max_batch_tokens = o->batch_tokens;
  const char *meta = m->model ? bertc_model_metadata_json(m->model)
                              : bertc_reference_metadata_json(m->reference);
  bertc_status_t s = bertc_pipeline_create(&engine, meta, m->tokenizer, &popts, &c->pipeline);

  c->path = strcmp(path, "-") ? path : "<stdin>";
  c->in = strcmp(path, "-") ? fopen(path, "rb") : stdin;
  if (!s && !c->in)
    s = bertc_status_make(errno == ENOENT ? BERTC_STATUS_NOT_FOUND : BERTC_STATUS_IO,
                          "%s: cannot open: %s", path, strerror(errno));
  struct stat st;
  if (!s && fstat(fileno(c->in), &st) == 0 && S_ISREG(st.st_mode))
    c->file_size = (uint64_t)st.st_size;
  int workers = o->workers < 1 ? 1 : o->workers > CORPUS_MAX_WORKERS ? CORPUS_MAX_WORKERS
                                                                       : o->workers;
  c->slots = 2 * (size_t)workers + 2;
  c->block_lines = (size_t)(m->engine.max_batch > 16 ? m->engine.max_batch : 16);
  pthread_mutex_init(&c->mu, NULL);
  pthread_cond_init(&c->cv, NULL);

  struct sigaction sa, old_sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sigint;
  sa.sa_flags = SA_RESETHAND; /* a second Ctrl-C ends the process at once */
  sigemptyset(&sa.sa_mask);
  corpus_interrupted = 0;
  sigaction(SIGINT, &sa, &old_sa);
  static char outbuf[1 << 20];
  setvbuf(stdout, outbuf, _IOFBF, sizeof outbuf);

  pthread_t threads[CORPUS_MAX_WORKERS];
  int started = 0;
  out.t0 = now_seconds();
  for (; !s && started < workers; started++)
    if (pthread_create(&threads[started], NULL, worker_main, c) != 0) {
      s = bertc_status_make(BERTC_STATUS_OUT_OF_MEMORY, "cannot start a worker thread");
      break;
    }
  bertc_answer_sink_t sink = {write_answer, note_truncated, &out};
  for (size_t k = 0; !s; k++) {
    corpus_block_t *b = &c->block[k % c->slots];
    pthread_mutex_lock(&c->mu);
    while (!b->ready) pthread_cond_wait(&c->cv, &c->mu);
    pthread_mutex_unlock(&c->mu);
    out.block = b;
    if (b->prepared) s = bertc_pipeline_run_prepared_json(c->pipeline, b->prepared, &sink);
    if (!s && b->status) {
      s = b->status;
      b->status = NULL;
    }
    bool last = b->last;
    pthread_mutex_lock(&c->mu);
    block_clear(b);
    c->next_run++;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    print_progress(&out, false);
    if (last) break;
  }
  fflush(stdout);
  pthread_mutex_lock(&c->mu);
  c->stop = true;
  pthread_cond_broadcast(&c->cv);
  pthread_mutex_unlock(&c->mu);
  for (int i = 0; i < started; i++) pthread_join(threads[i], NULL);
  sigaction(SIGINT, &old_sa, NULL);
  double seconds = now_seconds() - out.t0;
  print_progress(&out, true);
  int rc = CLI_OK;
  if (out.truncated > CORPUS_TRUNCATION_NOTES)
    fprintf(stderr, "bertc run: note: %zu more inputs were truncated\n",
            out.truncated - CORPUS_TRUNCATION_NOTES);
  if (corpus_interrupted) {
    bertc_status_free(s);
    s = BERTC_OK;
    fprintf(stderr, "bertc run: interrupted after %zu inputs; the output holds their answers\n",
            out.written);
    rc = 130;
  }
  if (o->stats)
    fprintf(stderr,
            "{\"texts\": %zu, \"truncated\": %zu, \"real_tokens\": %llu, "
            "\"computed_tokens\": %llu, \"seconds\": %.3f, \"texts_per_second\": %.2f}\n",
            out.written, out.truncated, (unsigned long long)out.real_tokens,
            (unsigned long long)out.computed_tokens, seconds,
            seconds > 0 ? (double)out.written / seconds : 0.0);
  for (size_t i = 0; i < CORPUS_SLOTS; i++) {
    block_clear(&c->block[i]);
    free(c->block[i].lines);
    free(c->block[i].line_no);
  }
  if (c->in && c->in != stdin) fclose(c->in);
  free(c->buf);
  bertc_pipeline_release(c->pipeline);
  pthread_mutex_destroy(&c->mu);
  pthread_cond_destroy(&c->cv);
  free(c);
  if (ferror(stdout) && !s) s = bertc_status_make(BERTC_STATUS_IO, "writing the output failed");
  if (s) return cli_fail("run", s);
  return rc;
}
