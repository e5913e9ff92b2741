/* The HTTP side of bertc serve, on libmicrohttpd: one internal thread
 * polls every connection with epoll (idle and slow connections cost a
 * socket, not a thread), collects each request's body up to the limit, and
 * answers from the routes (api.c). A request that needs the model is
 * suspended while a worker runs its job and resumed by that worker, so the
 * polling thread never waits for the model. Lifecycle: SIGTERM or SIGINT
 * (taken with sigwait) closes the listening socket, lets every request
 * already received be answered, then stops. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netdb.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "server/internal.h"

void srv_options_init(srv_options_t *o) {
  memset(o, 0, sizeof *o);
  o->host = "127.0.0.1";
  o->port = 8080;
  o->workers = 1;
  o->max_batch_tokens = 16384;
  o->max_queue = 256;
  o->max_inputs = 256;
  o->max_body = 2u << 20;
  o->timeout_s = 30;
  o->max_connections = 4096;
}

/* One request from its first byte to its answer. */
typedef struct req {
  srv_t *s;
  struct MHD_Connection *conn;
  double t0;
  srv_call_t call;
  char *body;
  size_t length, cap;
  bool too_big;
  srv_reply_t reply; /* status 0: none yet */
  atomic_bool job_done;
  int answered; /* the status sent */
} req_t;

/* ---- Answers ------------------------------------------------------------------------ */

static enum MHD_Result send_reply(req_t *q) {
  srv_reply_t *r = &q->reply;
  char *body = r->body;
  r->body = NULL;
  struct MHD_Response *resp =
      MHD_create_response_from_buffer(body ? strlen(body) : 0, body, MHD_RESPMEM_MUST_FREE);
  if (!resp) {
    free(body);
    return MHD_NO;
  }
  MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->content_type);
  if (r->retry_after) MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "1");
  if (r->allow) MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r->allow);
  if (r->status == 401) MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
  pthread_mutex_lock(&q->s->mu);
  bool stopping = q->s->stopping;
  pthread_mutex_unlock(&q->s->mu);
  if (stopping || q->too_big) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
  q->answered = r->status;
  enum MHD_Result ret = MHD_queue_response(q->conn, (unsigned)r->status, resp);
  MHD_destroy_response(resp);
  return ret;
}

/* Bearer token against the key, in time independent of where they differ. */
static bool authorized(const srv_t *s, struct MHD_Connection *c) {
  const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
  if (!h || strncmp(h, "Bearer ", 7)) return false;
  const char *k = h + 7;
  size_t n = strlen(k);
  unsigned char diff = n != s->api_key_len;
  for (size_t i = 0; i < s->api_key_len; i++)
    diff |= (unsigned char)s->api_key[i] ^ (unsigned char)(i < n ? k[i] : 0);
  return diff == 0;
}

static void on_job_done(srv_job_t *job) {
  req_t *q = job->user;
  atomic_store(&q->job_done, true);
  MHD_resume_connection(q->conn);
}

/* The checks made when a request's headers have arrived; false when they
 * answered it. */
static bool admit(req_t *q, const char *url, const char *method) {
  srv_t *s = q->s;
  const char *want = NULL;
  srv_route_t route = srv_route_find(url, &want);
  q->call.route = route;
  if (route == SRV_ROUTE_OTHER) {
    srv_reply_error(&q->reply, route, 404, NULL,
                    "no route %s %s (the routes are listed at /openapi.json)", method, url);
    return false;
  }
  bool head = !strcmp(method, "HEAD") && !strcmp(want, "GET");
  if (strcmp(method, want) && !head) {
    srv_reply_error(&q->reply, route, 405, NULL, "%s takes %s, not %s", url, want, method);
    q->reply.allow = want;
    return false;
  }
  if (s->api_key && route != SRV_ROUTE_HEALTH && !authorized(s, q->conn)) {
    srv_reply_error(&q->reply, route, 401, NULL,
                    "this server needs an API key: send \"Authorization: Bearer <key>\"");
    return false;
  }
  const char *cl =
      MHD_lookup_connection_value(q->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
  if (cl) {
    char *end;
    errno = 0;
    unsigned long long n = strtoull(cl, &end, 10);
    if (errno || *end || n > s->o.max_body) {
      q->too_big = true;
      srv_reply_error(&q->reply, route, 413, NULL,
                      "the body is larger than %zu bytes, the limit (--max-body)", s->o.max_body);
      return false;
    }
  }
  return true;
}

static void append_body(req_t *q, const char *data, size_t n) {
  if (q->too_big) return;
  if (n > q->s->o.max_body - q->length) {
    q->too_big = true;
    return;
  }
  if (q->length + n + 1 > q->cap) {
    size_t cap = q->cap ? q->cap : 4096;
    while (cap < q->length + n + 1)
      cap *= 2;
    char *grown = realloc(q->body, cap);
    if (!grown) {
      q->too_big = true;
      return;
    }
    q->body = grown;
    q->cap = cap;
  }
  memcpy(q->body + q->length, data, n);
  q->length += n;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls) {
  (void)version;
  srv_t *s = cls;
  req_t *q = *con_cls;
  if (!q) {
    q = calloc(1, sizeof *q);
    if (!q) return MHD_NO;
    q->s = s;
    q->conn = c;
    q->t0 = srv_now();
    atomic_init(&q->job_done, false);
    *con_cls = q;
    pthread_mutex_lock(&s->mu);
    s->in_flight++;
    pthread_mutex_unlock(&s->mu);
    if (!admit(q, url, method)) return send_reply(q);
    return MHD_YES;
  }
  if (*upload_size) {
    append_body(q, upload, *upload_size);
    *upload_size = 0;
    return MHD_YES;
  }
  if (atomic_load(&q->job_done)) {
    srv_api_finish(s, &q->call, &q->reply);
    return send_reply(q);
  }
  if (q->reply.status) return send_reply(q); /* decided while suspended */
  if (q->too_big) {
    srv_reply_error(&q->reply, q->call.route, 413, NULL,
                    "the body is larger than %zu bytes, the limit (--max-body)", s->o.max_body);
    return send_reply(q);
  }
  srv_api_begin(s, &q->call, q->body ? q->body : "", q->length, &q->reply);
  srv_job_t *job = q->call.job;
  if (!job) return send_reply(q);
  job->done = on_job_done;
  job->user = q;
  /* Suspended before it is queued: a worker may resume it at once. */
  MHD_suspend_connection(c);
  if (!srv_batcher_submit(s->batcher, job)) {
    srv_job_free(job);
    q->call.job = NULL;
    srv_reply_error(&q->reply, q->call.route, 503, NULL,
                    "the server is busy: %d requests are waiting (--max-queue); retry later",
                    s->o.max_queue);
    MHD_resume_connection(c);
  }
  return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
  (void)c;
  (void)toe;
  srv_t *s = cls;
  req_t *q = *con_cls;
  if (!q) return;
  *con_cls = NULL;
  bool answered = q->answered != 0;
  if (answered) srv_metrics_request(s->metrics, q->call.route, q->answered, srv_now() - q->t0);
  srv_call_deinit(&q->call);
  free(q->reply.body);
  free(q->body);
  free(q);
  pthread_mutex_lock(&s->mu);
  if (answered) s->answered++;
  if (--s->in_flight == 0) pthread_cond_broadcast(&s->idle);
  pthread_mutex_unlock(&s->mu);
}

/* ---- Start and stop ----------------------------------------------------------------- */

static bertc_status_t read_key(srv_t *s, const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return bertc_status_make(BERTC_STATUS_IO, "%s: %s", path, strerror(errno));
  char buf[4096];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  bool more = fgetc(f) != EOF;
  fclose(f);
  while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
    n--;
  buf[n] = 0;
  if (more) return bertc_status_make(BERTC_STATUS_DATA, "%s: the key is longer than 4 KiB", path);
  if (n < 8 || strlen(buf) != n || strchr(buf, '\n'))
    return bertc_status_make(BERTC_STATUS_DATA, "%s: expected one line of at least 8 characters",
                             path);
  s->api_key = strdup(buf);
  s->api_key_len = n;
  return s->api_key ? BERTC_OK : bertc_status_make(BERTC_STATUS_OUT_OF_MEMORY, "out of memory");
}

/* The model's facts the routes need. */
static bertc_status_t load_model(srv_t *s, const char *path) {
  BERTC_RETURN_IF_ERROR(bertc_model_load(path, NULL, &s->model));
  BERTC_RETURN_IF_ERROR(bertc_tokenizer_create_from_model(s->model, &s->tokenizer));
  BERTC_RETURN_IF_ERROR(bertc_pipeline_create(NULL, bertc_model_metadata_json(s->model),
                                              s->tokenizer, NULL, &s->encoder));
  s->task = bertc_pipeline_model_task(s->encoder);
  s->num_labels =
      s->task == BERTC_TASK_SEQUENCE_CLASSIFICATION || s->task == BERTC_TASK_TOKEN_CLASSIFICATION
          ? bertc_pipeline_num_labels(s->encoder)
          : 0;
  s->max_tokens = bertc_tokenizer_max_length(s->tokenizer);
  if (s->max_tokens <= 0) s->max_tokens = bertc_model_max_seq(s->model);
  s->vocab_size = bertc_model_vocab_size(s->model);
  uint32_t n = 0;
  const bertc_abi_tensor_t *outs = bertc_model_outputs(s->model, &n);
  for (uint32_t i = 0; i < n; i++)
    if (!strcmp(outs[i].name, "sentence_embedding") && outs[i].rank == 2)
      s->dim = (int32_t)outs[i].dims[1];
  json_t *meta = json_loads(bertc_model_metadata_json(s->model), 0, NULL);
  s->normalizes = json_is_true(json_object_get(meta, "normalize"));
  s->hidden_size = json_integer_value(json_object_get(meta, "hidden_size"));
  s->num_layers = json_integer_value(json_object_get(meta, "num_layers"));
  json_decref(meta);
  if (s->o.model_name) {
    s->model_name = strdup(s->o.model_name);
  } else {
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    size_t len = strlen(base);
    if (len > 3 && !strcmp(base + len - 3, ".so")) len -= 3;
    s->model_name = strndup(base, len);
  }
  if (!s->model_name) return bertc_status_make(BERTC_STATUS_OUT_OF_MEMORY, "out of memory");
  return BERTC_OK;
}

static int cpu_count(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 && n < 4096 ? (int)n : 1;
}

static void srv_free(srv_t *s) {
  srv_batcher_release(s->batcher);
  srv_metrics_release(s->metrics);
  bertc_pipeline_release(s->encoder);
  bertc_tokenizer_release(s->tokenizer);
  bertc_model_release(s->model);
  free(s->model_name);
  free(s->api_key);
  pthread_cond_destroy(&s->idle);
  pthread_mutex_destroy(&s->mu);
  free(s);
}

/* Waits until no request is in flight; a second signal stops waiting. */
static void drain(srv_t *s, const sigset_t *sigs) {
  pthread_mutex_lock(&s->mu);
  while (s->in_flight > 0) {
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    t.tv_nsec += 100000000;
    if (t.tv_nsec >= 1000000000) {
      t.tv_sec++;
      t.tv_nsec -= 1000000000;
    }
    pthread_cond_timedwait(&s->idle, &s->mu, &t);
    struct timespec zero = {0, 0};
    pthread_mutex_unlock(&s->mu);
    int sig = sigtimedwait(sigs, NULL, &zero);
    pthread_mutex_lock(&s->mu);
    if (sig > 0) {
      fprintf(s->o.log, "bertc serve: second signal: stopping with %d requests unanswered\n",
              s->in_flight);
      break;
    }
  }
  pthread_mutex_unlock(&s->mu);
}

bertc_status_t srv_serve(const char *model_path, const srv_options_t *opts) {
  double t0 = srv_now();
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &sigs, NULL);
  signal(SIGPIPE, SIG_IGN);

  srv_t *s = calloc(1, sizeof *s);
  if (!s) return bertc_status_make(BERTC_STATUS_OUT_OF_MEMORY, "out of memory");
  pthread_mutex_init(&s->mu, NULL);
  pthread_cond_init(&s->idle, NULL);
  s->o = *opts;
  if (!s->o.log) s->o.log = stderr;
  s->started = t0;
  if (s->o.threads <= 0)
    s->o.threads = cpu_count() / s->o.workers > 0 ? cpu_count() / s->o.workers : 1;
  bertc_status_t st = BERTC_OK;
  if (s->o.api_key_file) st = read_key(s, s->o.api_key_file);
  if (!st) st = load_model(s, model_path);
  if (!st) st = srv_metrics_create(&s->metrics);
  if (!st) {
    srv_batcher_options_t bo = {s->o.workers, s->o.threads, s->o.max_batch_tokens, s->o.max_queue};
    st = srv_batcher_create(s->model, s->tokenizer, &bo, s->metrics, &s->batcher);
  }
  struct addrinfo *ai = NULL;
  if (!st) {
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | AI_PASSIVE;
    char port[16];
    snprintf(port, sizeof port, "%d", s->o.port);
    int rc = getaddrinfo(s->o.host, port, &hints, &ai);
    if (rc)
      st = bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT, "--host %s: %s", s->o.host,
                             gai_strerror(rc));
  }
  struct MHD_Daemon *d = NULL;
  if (!st) {
    /* Thousands of idle connections need as many descriptors. */
    struct rlimit rl;
    if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
      rl.rlim_cur = rl.rlim_max;
      setrlimit(RLIMIT_NOFILE, &rl);
    }
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ITC;
    if (ai->ai_family == AF_INET6) flags |= MHD_USE_IPv6;
    d = MHD_start_daemon(flags, (uint16_t)s->o.port, NULL, NULL, on_request, s,
                         MHD_OPTION_SOCK_ADDR, ai->ai_addr, MHD_OPTION_CONNECTION_TIMEOUT,
                         (unsigned)s->o.timeout_s, MHD_OPTION_CONNECTION_LIMIT,
                         (unsigned)s->o.max_connections, MHD_OPTION_NOTIFY_COMPLETED, on_completed,
                         s, MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u, MHD_OPTION_END);
    if (!d)
      st = bertc_status_make(BERTC_STATUS_IO, "cannot listen on %s port %d: %s", s->o.host,
                             s->o.port, errno ? strerror(errno) : "libmicrohttpd refused");
  }
  if (ai) freeaddrinfo(ai);
  if (st) {
    srv_free(s);
    return st;
  }
  const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
  s->port = info ? info->port : s->o.port;
  fprintf(s->o.log,
          "bertc serve: listening on http://%s%s%s:%d (model %s, task %s, %d worker%s x %d "
          "threads, started in %.1f ms)\n",
          strchr(s->o.host, ':') ? "[" : "", s->o.host, strchr(s->o.host, ':') ? "]" : "", s->port,
          s->model_name, bertc_task_name(s->task), s->o.workers, s->o.workers == 1 ? "" : "s",
          s->o.threads, (srv_now() - t0) * 1e3);
  fflush(s->o.log);

  int sig = 0;
  sigwait(&sigs, &sig);
  fprintf(s->o.log, "bertc serve: %s: finishing the requests in flight\n",
          sig == SIGINT ? "SIGINT" : "SIGTERM");
  fflush(s->o.log);
  pthread_mutex_lock(&s->mu);
  s->stopping = true;
  pthread_mutex_unlock(&s->mu);
  /* No new connections; the ones the kernel has completed already are
   * handed to the daemon, not reset. */
  MHD_socket fd = MHD_quiesce_daemon(d);
  if (fd != MHD_INVALID_SOCKET) {
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0) fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    for (;;) {
      struct sockaddr_storage a;
      socklen_t len = sizeof a;
      int c = accept(fd, (struct sockaddr *)&a, &len);
      if (c < 0) break;
      if (MHD_add_connection(d, c, (struct sockaddr *)&a, len) != MHD_YES) close(c);
    }
    close(fd);
  }
  drain(s, &sigs);
  pthread_mutex_lock(&s->mu);
  int left = s->in_flight;
  unsigned long long answered = s->answered;
  pthread_mutex_unlock(&s->mu);
  fprintf(s->o.log, "bertc serve: stopped: %llu requests answered, %d unanswered\n", answered,
          left);
  MHD_stop_daemon(d);
  srv_free(s);
  return BERTC_OK;
}
