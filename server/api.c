/* The routes: what each request body means, the job it becomes, and the
 * answer's JSON.
 *
 * OpenAI's POST /v1/embeddings and GET /v1/models; text-embeddings-
 * inference's POST /embed, /rerank, /predict and /tokenize; POST /run for
 * every task bertc answers, with the answers `bertc run` prints; and GET
 * /health, /info, /metrics and /openapi.json. Bodies are checked here, on
 * the HTTP thread, before anything is queued: JSON syntax (400), types and
 * values (422 naming the field), the number of inputs and their length in
 * tokens (413 naming the limit; an input longer than the model takes is cut
 * only when the request says "truncate": true, as TEI does). Texts are
 * tokenized here too, so a job's cost in tokens is known when it is queued.
 * Errors of the /v1 routes have OpenAI's shape ({"error": {"message",
 * "type", "param", "code"}}), the others TEI's ({"error", "error_type"}). */
#define _POSIX_C_SOURCE 200809L
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/internal.h"

extern const char srv_openapi_json[]; /* server/openapi.json, embedded by CMake */

static const struct {
  const char *path;
  const char *method;
  srv_route_t route;
} routes[] = {
    {"/v1/embeddings", "POST", SRV_ROUTE_EMBEDDINGS},
    {"/v1/models", "GET", SRV_ROUTE_MODELS},
    {"/embed", "POST", SRV_ROUTE_EMBED},
    {"/rerank", "POST", SRV_ROUTE_RERANK},
    {"/predict", "POST", SRV_ROUTE_PREDICT},
    {"/tokenize", "POST", SRV_ROUTE_TOKENIZE},
    {"/run", "POST", SRV_ROUTE_RUN},
    {"/health", "GET", SRV_ROUTE_HEALTH},
    {"/info", "GET", SRV_ROUTE_INFO},
    {"/metrics", "GET", SRV_ROUTE_METRICS},
    {"/openapi.json", "GET", SRV_ROUTE_OPENAPI},
};

srv_route_t srv_route_find(const char *path, const char **out_method) {
  for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
    if (!strcmp(path, routes[i].path)) {
      *out_method = routes[i].method;
      return routes[i].route;
    }
  *out_method = NULL;
  return SRV_ROUTE_OTHER;
}

bool srv_route_openai(srv_route_t route) {
  return route == SRV_ROUTE_EMBEDDINGS || route == SRV_ROUTE_MODELS;
}

void srv_call_deinit(srv_call_t *call) {
  srv_job_free(call->job);
  json_decref(call->json);
  memset(call, 0, sizeof *call);
}

/* ---- Writing JSON ------------------------------------------------------------------- */

typedef struct out {
  FILE *f;
  char *text;
  size_t size;
} out_t;

static bool out_open(out_t *o) {
  o->text = NULL;
  o->size = 0;
  o->f = open_memstream(&o->text, &o->size);
  return o->f != NULL;
}

static char *out_close(out_t *o) {
  if (fclose(o->f)) {
    free(o->text);
    return NULL;
  }
  return o->text;
}

static void put_string(FILE *f, const char *s, size_t n) {
  json_t *j = json_stringn(s ? s : "", s ? n : 0);
  char *d = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;
  fputs(d ? d : "\"\"", f);
  free(d);
  json_decref(j);
}

static void put_cstring(FILE *f, const char *s) { put_string(f, s, s ? strlen(s) : 0); }

/* float32 as `bertc run` prints it: 9 significant digits; JSON has no NaN. */
static void put_float(FILE *f, double v) {
  if (isfinite(v))
    fprintf(f, "%.9g", v);
  else
    fputs("null", f);
}

static void reply_json(srv_reply_t *r, int status, char *body) {
  r->status = body ? status : 500;
  r->body = body ? body : strdup("{\"error\":\"out of memory\",\"error_type\":\"Backend\"}");
  r->content_type = "application/json";
}

/* ---- Errors ------------------------------------------------------------------------- */

static const char *openai_type(int status) {
  switch (status) {
  case 401: return "authentication_error";
  case 404: return "not_found_error";
  case 500:
  case 503: return "server_error";
  default: return "invalid_request_error";
  }
}

static const char *tei_type(int status) {
  switch (status) {
  case 401: return "Unauthorized";
  case 404: return "NotFound";
  case 405: return "MethodNotAllowed";
  case 500: return "Backend";
  case 503: return "Overloaded";
  default: return "Validation";
  }
}

void srv_reply_error(srv_reply_t *r, srv_route_t route, int status, const char *param,
                     const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  out_t o;
  if (!out_open(&o)) {
    reply_json(r, 500, NULL);
    return;
  }
  if (srv_route_openai(route)) {
    fputs("{\"error\":{\"message\":", o.f);
    put_cstring(o.f, msg);
    fprintf(o.f, ",\"type\":\"%s\",\"param\":", openai_type(status));
    if (param)
      put_cstring(o.f, param);
    else
      fputs("null", o.f);
    fprintf(o.f, ",\"code\":%s}}", status == 404 ? "\"model_not_found\"" : "null");
  } else {
    fputs("{\"error\":", o.f);
    put_cstring(o.f, msg);
    fprintf(o.f, ",\"error_type\":\"%s\"}", tei_type(status));
  }
  reply_json(r, status, out_close(&o));
  if (status == 503) r->retry_after = true;
}

/* The answer for a failed job: the pipeline refused an input (422) or the
 * run failed (500). */
static void reply_status(srv_reply_t *r, srv_route_t route, bertc_status_t st) {
  int code = bertc_status_code(st) == BERTC_STATUS_INVALID_ARGUMENT ? 422 : 500;
  srv_reply_error(r, route, code, NULL, "%s", bertc_status_message(st));
}

/* ---- Reading the body --------------------------------------------------------------- */

/* The body as a JSON object, or an error reply. */
static json_t *parse_body(srv_call_t *call, const char *body, size_t length, srv_reply_t *r) {
  json_error_t err;
  json_t *root = json_loadb(body, length, JSON_REJECT_DUPLICATES, &err);
  if (!root) {
    srv_reply_error(r, call->route, 400, NULL,
                    "the body is not valid JSON (line %d, column %d): %s", err.line, err.column,
                    err.text);
    return NULL;
  }
  if (!json_is_object(root)) {
    json_decref(root);
    srv_reply_error(r, call->route, 422, NULL, "the body must be a JSON object");
    return NULL;
  }
  call->json = root;
  return root;
}

/* An optional boolean member; false and an error reply when it is not one. */
static bool get_bool(srv_call_t *call, json_t *root, const char *name, bool dflt, bool *out,
                     srv_reply_t *r) {
  json_t *v = json_object_get(root, name);
  *out = dflt;
  if (!v || json_is_null(v)) return true;
  if (!json_is_boolean(v)) {
    srv_reply_error(r, call->route, 422, name, "`%s` must be a boolean", name);
    return false;
  }
  *out = json_is_true(v);
  return true;
}

/* A list of inputs: the member's items when it is an array (call->single
 * false), else the member itself. Checks the count against the limit. */
static bool get_list(srv_t *s, srv_call_t *call, json_t *root, const char *name, json_t **out,
                     size_t *out_count, srv_reply_t *r) {
  json_t *v = json_object_get(root, name);
  *out = v;
  *out_count = 0;
  if (!v) {
    srv_reply_error(r, call->route, 422, name, "`%s` is required", name);
    return false;
  }
  size_t n = json_is_array(v) ? json_array_size(v) : 1;
  if (n == 0) {
    srv_reply_error(r, call->route, 422, name, "`%s` must not be empty", name);
    return false;
  }
  if (n > (size_t)s->o.max_inputs) {
    srv_reply_error(r, call->route, 413, name,
                    "`%s` has %zu inputs; the limit is %d per request (--max-inputs)", name, n,
                    s->o.max_inputs);
    return false;
  }
  *out_count = n;
  return true;
}

/* ---- Jobs --------------------------------------------------------------------------- */

static srv_job_t *job_new(srv_job_kind_t kind, size_t count) {
  srv_job_t *j = calloc(1, sizeof *j);
  if (!j) return NULL;
  j->kind = kind;
  j->count = (int32_t)count;
  bool ok;
  if (kind == SRV_JOB_EMBED) {
    j->ids = calloc(count, sizeof *j->ids);
    j->lengths = calloc(count, sizeof *j->lengths);
    ok = j->ids && j->lengths;
  } else {
    j->inputs = calloc(count, sizeof *j->inputs);
    j->names = calloc(count, sizeof *j->names);
    j->answers = calloc(count, sizeof *j->answers);
    ok = j->inputs && j->names && j->answers;
  }
  if (!ok) {
    srv_job_free(j);
    return NULL;
  }
  return j;
}

static void too_long(srv_t *s, srv_call_t *call, srv_reply_t *r, const char *field, size_t i,
                     bool list) {
  char where[64];
  if (list)
    snprintf(where, sizeof where, "%s[%zu]", field, i);
  else
    snprintf(where, sizeof where, "%s", field);
  srv_reply_error(r, call->route, 413, field,
                  "`%s` is longer than %d tokens, the most this model takes; shorten it%s", where,
                  s->max_tokens,
                  call->route == SRV_ROUTE_EMBEDDINGS ? "" : " or set \"truncate\": true");
}

/* Tokenizes text i of an embedding job. */
static bool embed_text(srv_t *s, srv_call_t *call, srv_job_t *j, size_t i, json_t *v,
                       const char *field, bool truncate, srv_reply_t *r) {
  bertc_encoding_t enc;
  bertc_status_t st = bertc_tokenizer_encode(s->tokenizer, json_string_value(v),
                                             json_string_length(v), NULL, 0, &enc);
  if (st) {
    srv_reply_error(r, call->route, 422, field, "`%s[%zu]`: %s", field, i,
                    bertc_status_message(st));
    bertc_status_free(st);
    bertc_tokenizer_encoding_deinit(&enc);
    return false;
  }
  if (enc.truncated && !truncate) {
    bertc_tokenizer_encoding_deinit(&enc);
    too_long(s, call, r, field, i, !call->single);
    return false;
  }
  j->ids[i] = enc.input_ids; /* taken from the encoding */
  enc.input_ids = NULL;
  j->lengths[i] = enc.length;
  j->cost += enc.length;
  bertc_tokenizer_encoding_deinit(&enc);
  return true;
}

/* Token ids given by the client (OpenAI token arrays). */
static bool embed_ids(srv_t *s, srv_call_t *call, srv_job_t *j, size_t i, json_t *arr,
                      srv_reply_t *r) {
  size_t n = json_array_size(arr);
  if (n == 0) {
    srv_reply_error(r, call->route, 422, "input", "`input[%zu]` has no tokens", i);
    return false;
  }
  if (n > (size_t)s->max_tokens) {
    srv_reply_error(r, call->route, 413, "input",
                    "`input[%zu]` has %zu tokens; the most this model takes is %d", i, n,
                    s->max_tokens);
    return false;
  }
  j->ids[i] = malloc(n * sizeof(int32_t));
  if (!j->ids[i]) {
    srv_reply_error(r, call->route, 500, NULL, "out of memory");
    return false;
  }
  for (size_t k = 0; k < n; k++) {
    json_t *t = json_array_get(arr, k);
    json_int_t id = json_is_integer(t) ? json_integer_value(t) : -1;
    if (id < 0 || id >= s->vocab_size) {
      srv_reply_error(r, call->route, 422, "input",
                      "`input[%zu][%zu]` must be a token id in [0, %lld)", i, k,
                      (long long)s->vocab_size);
      return false;
    }
    j->ids[i][k] = (int32_t)id;
  }
  j->lengths[i] = (int32_t)n;
  j->cost += (int64_t)n;
  return true;
}

static bool needs_embedding(srv_t *s, srv_call_t *call, srv_reply_t *r) {
  if (s->dim > 0) return true;
  srv_reply_error(r, call->route, 400, NULL,
                  "this model is compiled for %s and has no sentence embedding; embeddings "
                  "need an embedding model",
                  bertc_task_name(s->task));
  return false;
}

static void begin_openai(srv_t *s, srv_call_t *call, const char *body, size_t length,
                         srv_reply_t *r) {
  json_t *root = parse_body(call, body, length, r);
  if (!root || !needs_embedding(s, call, r)) return;
  json_t *model = json_object_get(root, "model");
  if (!json_is_string(model)) {
    srv_reply_error(r, call->route, 422, "model", "`model` is required and must be a string");
    return;
  }
  if (strcmp(json_string_value(model), s->model_name)) {
    srv_reply_error(r, call->route, 404, "model",
                    "the model '%s' does not exist; this server serves '%s'",
                    json_string_value(model), s->model_name);
    return;
  }
  json_t *fmt = json_object_get(root, "encoding_format");
  if (fmt && !json_is_null(fmt)) {
    const char *f = json_is_string(fmt) ? json_string_value(fmt) : "";
    if (strcmp(f, "float") && strcmp(f, "base64")) {
      srv_reply_error(r, call->route, 422, "encoding_format",
                      "`encoding_format` must be \"float\" or \"base64\"");
      return;
    }
    call->base64 = !strcmp(f, "base64");
  }
  json_t *dims = json_object_get(root, "dimensions");
  if (dims && !json_is_null(dims) &&
      (!json_is_integer(dims) || json_integer_value(dims) != s->dim)) {
    srv_reply_error(r, call->route, 422, "dimensions",
                    "`dimensions` must be %d, the size of this model's embeddings", s->dim);
    return;
  }
  json_t *user = json_object_get(root, "user");
  if (user && !json_is_null(user) && !json_is_string(user)) {
    srv_reply_error(r, call->route, 422, "user", "`user` must be a string");
    return;
  }
  json_t *in = json_object_get(root, "input");
  /* One text, texts, one token array, or token arrays. */
  bool ids = false, nested = false;
  size_t n = 0;
  if (json_is_string(in)) {
    call->single = true;
    n = 1;
  } else if (json_is_array(in) && json_array_size(in) > 0) {
    json_t *first = json_array_get(in, 0);
    ids = json_is_integer(first);
    nested = json_is_array(first);
    call->single = ids;
    n = ids ? 1 : json_array_size(in);
    size_t i;
    json_t *v;
    json_array_foreach(in, i, v) {
      bool ok = ids ? json_is_integer(v) : nested ? json_is_array(v) : json_is_string(v);
      if (!ok) {
        n = 0;
        break;
      }
    }
  }
  if (n == 0) {
    srv_reply_error(r, call->route, 422, "input",
                    "`input` must be a string, an array of strings, an array of token ids or an "
                    "array of token id arrays (not empty)");
    return;
  }
  if (n > (size_t)s->o.max_inputs) {
    srv_reply_error(r, call->route, 413, "input",
                    "`input` has %zu inputs; the limit is %d per request (--max-inputs)", n,
                    s->o.max_inputs);
    return;
  }
  srv_job_t *j = job_new(SRV_JOB_EMBED, n);
  if (!j) {
    srv_reply_error(r, call->route, 500, NULL, "out of memory");
    return;
  }
  call->job = j;
  bool ok = true;
  for (size_t i = 0; ok && i < n; i++) {
    if (ids)
      ok = embed_ids(s, call, j, i, in, r);
    else if (nested)
      ok = embed_ids(s, call, j, i, json_array_get(in, i), r);
    else
      ok = embed_text(s, call, j, i, call->single ? in : json_array_get(in, i), "input", false, r);
  }
  if (!ok) {
    srv_job_free(j);
    call->job = NULL;
    return;
  }
  call->prompt_tokens = j->cost;
}

static void begin_embed(srv_t *s, srv_call_t *call, const char *body, size_t length,
                        srv_reply_t *r) {
  json_t *root = parse_body(call, body, length, r);
  if (!root || !needs_embedding(s, call, r)) return;
  bool truncate;
  if (!get_bool(call, root, "normalize", true, &call->normalize, r) ||
      !get_bool(call, root, "truncate", false, &truncate, r))
    return;
  if (!call->normalize && s->normalizes) {
    srv_reply_error(r, call->route, 422, "normalize",
                    "this model normalizes its embeddings itself; \"normalize\": false is not "
                    "available");
    return;
  }
  json_t *in;
  size_t n;
  if (!get_list(s, call, root, "inputs", &in, &n, r)) return;
  call->single = !json_is_array(in);
  for (size_t i = 0; i < n; i++)
    if (!json_is_string(call->single ? in : json_array_get(in, i))) {
      srv_reply_error(r, call->route, 422, "inputs",
                      "`inputs` must be a string or an array of strings");
      return;
    }
  srv_job_t *j = job_new(SRV_JOB_EMBED, n);
  if (!j) {
    srv_reply_error(r, call->route, 500, NULL, "out of memory");
    return;
  }
  for (size_t i = 0; i < n; i++)
    if (!embed_text(s, call, j, i, call->single ? in : json_array_get(in, i), "inputs", truncate,
                    r)) {
      srv_job_free(j);
      return;
    }
  call->job = j;
}

/* Pipeline input i from a text (and a pair): checked against the length
 * limit by encoding it (QA windows are never cut). */
static bool pipeline_input(srv_t *s, srv_call_t *call, srv_job_t *j, size_t i, json_t *text,
                           json_t *pair, const char *field, bool truncate, srv_reply_t *r) {
  bertc_pipeline_input_t *in = &j->inputs[i];
  snprintf(j->names[i], sizeof j->names[i], "`%s[%zu]`", field, i);
  in->name = j->names[i];
  in->text = json_string_value(text);
  in->text_length = json_string_length(text);
  if (pair) {
    in->text_pair = json_string_value(pair);
    in->pair_length = json_string_length(pair);
  }
  bertc_features_t f;
  bertc_status_t st = bertc_pipeline_encode(s->encoder, in, &f);
  if (st) {
    srv_reply_error(r, call->route, 422, field, "`%s[%zu]`: %s", field, i,
                    bertc_status_message(st));
    bertc_status_free(st);
    return false;
  }
  bool cut = f.truncated;
  for (int32_t k = 0; k < f.count; k++)
    j->cost += f.sequences[k].length;
  bertc_features_deinit(&f);
  if (cut && !truncate) {
    too_long(s, call, r, field, i, !call->single);
    return false;
  }
  return true;
}

static void begin_rerank(srv_t *s, srv_call_t *call, const char *body, size_t length,
                         srv_reply_t *r) {
  json_t *root = parse_body(call, body, length, r);
  if (!root) return;
  if (s->task != BERTC_TASK_SEQUENCE_CLASSIFICATION || s->num_labels != 1) {
    srv_reply_error(r, call->route, 400, NULL,
                    "this model is not a reranker: /rerank needs a sequence-classification "
                    "model with one label (a cross-encoder); this one is %s with %d labels",
                    bertc_task_name(s->task), s->num_labels);
    return;
  }
  bool truncate, raw;
  if (!get_bool(call, root, "truncate", false, &truncate, r) ||
      !get_bool(call, root, "raw_scores", false, &raw, r) ||
      !get_bool(call, root, "return_text", false, &call->return_text, r))
    return;
  json_t *query = json_object_get(root, "query");
  if (!json_is_string(query)) {
    srv_reply_error(r, call->route, 422, "query", "`query` is required and must be a string");
    return;
  }
  json_t *texts;
  size_t n;
  if (!get_list(s, call, root, "texts", &texts, &n, r)) return;
  for (size_t i = 0; i < n; i++)
    if (!json_is_array(texts) || !json_is_string(json_array_get(texts, i))) {
      srv_reply_error(r, call->route, 422, "texts", "`texts` must be an array of strings");
      return;
    }
  srv_job_t *j = job_new(SRV_JOB_PIPELINE, n);
  if (!j) {
    srv_reply_error(r, call->route, 500, NULL, "out of memory");
    return;
  }
  j->variant = raw ? SRV_VARIANT_NONE : SRV_VARIANT_SIGMOID;
  for (size_t i = 0; i < n; i++)
    if (!pipeline_input(s, call, j, i, query, json_array_get(texts, i), "texts", truncate, r)) {
      srv_job_free(j);
      return;
    }
  call->job = j;
}

/* One predict input: a string, or a pair as an array of two strings. */
static bool predict_item(json_t *v, json_t **text, json_t **pair) {
  *text = *pair = NULL;
  if (json_is_string(v)) {
    *text = v;
    return true;
  }
  if (json_is_array(v) && json_array_size(v) == 2 && json_is_string(json_array_get(v, 0)) &&
      json_is_string(json_array_get(v, 1))) {
    *text = json_array_get(v, 0);
    *pair = json_array_get(v, 1);
    return true;
  }
  return false;
}

static void begin_predict(srv_t *s, srv_call_t *call, const char *body, size_t length,
                          srv_reply_t *r) {
  json_t *root = parse_body(call, body, length, r);
  if (!root) return;
  if (s->task != BERTC_TASK_SEQUENCE_CLASSIFICATION) {
    srv_reply_error(r, call->route, 400, NULL,
                    "/predict needs a sequence-classification model; this one is compiled for %s",
                    bertc_task_name(s->task));
    return;
  }
  bool truncate, raw;
  if (!get_bool(call, root, "truncate", false, &truncate, r) ||
      !get_bool(call, root, "raw_scores", false, &raw, r))
    return;
  json_t *in = json_object_get(root, "inputs"), *text, *pair;
  if (!in) {
    srv_reply_error(r, call->route, 422, "inputs", "`inputs` is required");
    return;
  }
  /* As TEI: a string or a pair of strings is one input, else a list. */
  call->single = predict_item(in, &text, &pair);
  size_t n = call->single ? 1 : json_is_array(in) ? json_array_size(in) : 0;
  if (n == 0) {
    srv_reply_error(r, call->route, 422, "inputs",
                    "`inputs` must be a string, a pair [text, text_pair] or a non-empty array of "
                    "those");
    return;
  }
  if (n > (size_t)s->o.max_inputs) {
    srv_reply_error(r, call->route, 413, "inputs",
                    "`inputs` has %zu inputs; the limit is %d per request (--max-inputs)", n,
                    s->o.max_inputs);
    return;
  }
  srv_job_t *j = job_new(SRV_JOB_PIPELINE, n);
  if (!j) {
    srv_reply_error(r, call->route, 500, NULL, "out of memory");
    return;
  }
  j->variant = raw ? SRV_VARIANT_NONE : SRV_VARIANT_DEFAULT;
  for (size_t i = 0; i < n; i++) {
    if (!call->single && !predict_item(json_array_get(in, i), &text, &pair)) {
      srv_reply_error(r, call->route, 422, "inputs",
                      "`inputs[%zu]` must be a string or a pair [text, text_pair]", i);
      srv_job_free(j);
      return;
    }
    if (!pipeline_input(s, call, j, i, text, pair, "inputs", truncate, r)) {
      srv_job_free(j);
      return;
    }
  }
  call->job = j;
}

/* One /run input: a string, {"text", "text_pair"} or {"question", "context"}. */
static bool run_item(json_t *v, json_t **text, json_t **pair) {
  *text = *pair = NULL;
  if (json_is_string(v)) {
    *text = v;
    return true;
  }
  if (!json_is_object(v)) return false;
  bool qa = json_object_get(v, "question") != NULL;
  *text = json_object_get(v, qa ? "question" : "text");
  *pair = json_object_get(v, qa ? "context" : "text_pair");
  if (*pair && json_is_null(*pair)) *pair = NULL;
  return json_is_string(*text) && (!*pair || json_is_string(*pair)) && (!qa || *pair);
}

static void begin_run(srv_t *s, srv_call_t *call, const char *body, size_t length, srv_reply_t *r) {
  json_t *root = parse_body(call, body, length, r);
  if (!root) return;
  bool truncate;
  if (!get_bool(call, root, "truncate", false, &truncate, r)) return;
  json_t *in, *text, *pair;
  size_t n;
  if (!get_list(s, call, root, "inputs", &in, &n, r)) return;
  call->single = !json_is_array(in);
  srv_job_t *j = job_new(SRV_JOB_PIPELINE, n);
  if (!j) {
    srv_reply_error(r, call->route, 500, NULL, "out of memory");
    return;
  }
  for (size_t i = 0; i < n; i++) {
    if (!run_item(call->single ? in : json_array_get(in, i), &text, &pair)) {
      srv_reply_error(r, call->route, 422, "inputs",
                      "`inputs[%zu]` must be a string, {\"text\", \"text_pair\"} or "
                      "{\"question\", \"context\"}",
                      i);
      srv_job_free(j);
      return;
    }
    if (!pipeline_input(s, call, j, i, text, pair, "inputs", truncate, r)) {
      srv_job_free(j);
      return;
    }
  }
  call->job = j;
}

/* ---- Answers that need no worker ---------------------------------------------------- */

static void answer_tokenize(srv_t *s, srv_call_t *call, const char *body, size_t length,
                            srv_reply_t *r) {
  json_t *root = parse_body(call, body, length, r);
  if (!root) return;
  bool special;
  if (!get_bool(call, root, "add_special_tokens", true, &special, r)) return;
  json_t *in;
  size_t n;
  if (!get_list(s, call, root, "inputs", &in, &n, r)) return;
  bool single = !json_is_array(in);
  for (size_t i = 0; i < n; i++)
    if (!json_is_string(single ? in : json_array_get(in, i))) {
      srv_reply_error(r, call->route, 422, "inputs",
                      "`inputs` must be a string or an array of strings");
      return;
    }
  out_t o;
  if (!out_open(&o)) {
    reply_json(r, 500, NULL);
    return;
  }
  fputc('[', o.f);
  for (size_t i = 0; i < n; i++) {
    json_t *v = single ? in : json_array_get(in, i);
    bertc_encoding_t e;
    bertc_status_t st = bertc_tokenizer_encode(s->tokenizer, json_string_value(v),
                                               json_string_length(v), NULL, 0, &e);
    if (st) {
      fclose(o.f);
      free(o.text);
      srv_reply_error(r, call->route, 422, "inputs", "`inputs[%zu]`: %s", i,
                      bertc_status_message(st));
      bertc_status_free(st);
      bertc_tokenizer_encoding_deinit(&e);
      return;
    }
    fputs(i ? ",[" : "[", o.f);
    bool first = true;
    for (int32_t k = 0; k < e.length; k++) {
      bool is_special = e.word_ids[k] < 0;
      if (is_special && !special) continue;
      fprintf(o.f, "%s{\"id\":%d,\"text\":", first ? "" : ",", e.input_ids[k]);
      put_cstring(o.f, e.tokens[k]);
      fprintf(o.f, ",\"special\":%s,\"start\":%d,\"stop\":%d}", is_special ? "true" : "false",
              e.offsets[2 * k], e.offsets[2 * k + 1]);
      first = false;
    }
    fputc(']', o.f);
    bertc_tokenizer_encoding_deinit(&e);
  }
  fputc(']', o.f);
  reply_json(r, 200, out_close(&o));
}

static void answer_models(srv_t *s, srv_reply_t *r) {
  out_t o;
  if (!out_open(&o)) {
    reply_json(r, 500, NULL);
    return;
  }
  fputs("{\"object\":\"list\",\"data\":[{\"id\":", o.f);
  put_cstring(o.f, s->model_name);
  fprintf(o.f, ",\"object\":\"model\",\"created\":%lld,\"owned_by\":\"bertc\"}]}",
          (long long)time(NULL) - (long long)(srv_now() - s->started));
  reply_json(r, 200, out_close(&o));
}

static void answer_info(srv_t *s, srv_reply_t *r) {
  out_t o;
  if (!out_open(&o)) {
    reply_json(r, 500, NULL);
    return;
  }
  FILE *f = o.f;
  fputs("{\"model_id\":", f);
  put_cstring(f, s->model_name);
  fputs(",\"model_path\":", f);
  put_cstring(f, bertc_model_path(s->model));
  fputs(",\"task\":", f);
  put_cstring(f, bertc_task_name(s->task));
  fprintf(f, ",\"precision\":\"float32\",\"max_input_length\":%d,\"embedding_size\":%d",
          s->max_tokens, s->dim);
  fprintf(f, ",\"normalizes\":%s,\"vocab_size\":%lld,\"hidden_size\":%lld,\"num_layers\":%lld",
          s->normalizes ? "true" : "false", (long long)s->vocab_size, (long long)s->hidden_size,
          (long long)s->num_layers);
  fputs(",\"labels\":[", f);
  const bertc_pipeline_t *p = s->encoder;
  for (int32_t i = 0; i < s->num_labels; i++) {
    if (i) fputc(',', f);
    put_cstring(f, bertc_pipeline_label(p, i));
  }
  fputs("],\"buckets\":[", f);
  uint32_t nb = 0;
  const bertc_abi_bucket_t *b = bertc_model_buckets(s->model, &nb);
  for (uint32_t i = 0; i < nb; i++)
    fprintf(f, "%s{\"batch\":%d,\"seq\":%d}", i ? "," : "", (int)b[i].batch, (int)b[i].seq);
  fprintf(f,
          "],\"workers\":%d,\"threads\":%d,\"max_batch_tokens\":%lld,\"max_queue\":%d,"
          "\"max_client_batch_size\":%d,\"max_body_bytes\":%zu,\"timeout_seconds\":%d,"
          "\"max_connections\":%d,\"auth\":%s,\"version\":\"0.1.0\"}",
          s->o.workers, s->o.threads, (long long)s->o.max_batch_tokens, s->o.max_queue,
          s->o.max_inputs, s->o.max_body, s->o.timeout_s, s->o.max_connections,
          s->api_key ? "true" : "false");
  reply_json(r, 200, out_close(&o));
}

void srv_api_begin(srv_t *s, srv_call_t *call, const char *body, size_t length, srv_reply_t *r) {
  switch (call->route) {
  case SRV_ROUTE_EMBEDDINGS: begin_openai(s, call, body, length, r); break;
  case SRV_ROUTE_EMBED: begin_embed(s, call, body, length, r); break;
  case SRV_ROUTE_RERANK: begin_rerank(s, call, body, length, r); break;
  case SRV_ROUTE_PREDICT: begin_predict(s, call, body, length, r); break;
  case SRV_ROUTE_RUN: begin_run(s, call, body, length, r); break;
  case SRV_ROUTE_TOKENIZE: answer_tokenize(s, call, body, length, r); break;
  case SRV_ROUTE_MODELS: answer_models(s, r); break;
  case SRV_ROUTE_INFO: answer_info(s, r); break;
  case SRV_ROUTE_HEALTH: reply_json(r, 200, strdup("{\"status\":\"ok\"}")); break;
  case SRV_ROUTE_OPENAPI: reply_json(r, 200, strdup(srv_openapi_json)); break;
  case SRV_ROUTE_METRICS:
    pthread_mutex_lock(&s->mu);
    int in_flight = s->in_flight;
    pthread_mutex_unlock(&s->mu);
    r->body = srv_metrics_text(s->metrics, srv_batcher_depth(s->batcher), in_flight);
    r->status = r->body ? 200 : 500;
    r->content_type = "text/plain; version=0.0.4; charset=utf-8";
    if (!r->body) reply_json(r, 500, NULL);
    break;
  case SRV_ROUTE_OTHER:
  case SRV_ROUTE_COUNT: srv_reply_error(r, call->route, 404, NULL, "no such route"); break;
  }
  srv_job_t *j = call->job;
  if (j && j->kind == SRV_JOB_EMBED) {
    j->embeddings = calloc((size_t)j->count * (size_t)s->dim, sizeof(float));
    if (!j->embeddings) {
      srv_job_free(j);
      call->job = NULL;
      srv_reply_error(r, call->route, 500, NULL, "out of memory");
    }
  }
}

/* ---- Answers of jobs ---------------------------------------------------------------- */

static void put_base64(FILE *f, const unsigned char *p, size_t n) {
  static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  fputc('"', f);
  for (size_t i = 0; i < n; i += 3) {
    unsigned v = (unsigned)p[i] << 16;
    if (i + 1 < n) v |= (unsigned)p[i + 1] << 8;
    if (i + 2 < n) v |= p[i + 2];
    fputc(tab[v >> 18 & 63], f);
    fputc(tab[v >> 12 & 63], f);
    fputc(i + 1 < n ? tab[v >> 6 & 63] : '=', f);
    fputc(i + 2 < n ? tab[v & 63] : '=', f);
  }
  fputc('"', f);
}

static void put_vector(FILE *f, const float *v, int32_t n) {
  fputc('[', f);
  for (int32_t k = 0; k < n; k++) {
    if (k) fputc(',', f);
    put_float(f, v[k]);
  }
  fputc(']', f);
}

static void finish_openai(srv_t *s, srv_call_t *call, srv_reply_t *r) {
  const srv_job_t *j = call->job;
  out_t o;
  if (!out_open(&o)) {
    reply_json(r, 500, NULL);
    return;
  }
  fputs("{\"object\":\"list\",\"data\":[", o.f);
  for (int32_t i = 0; i < j->count; i++) {
    const float *v = j->embeddings + (size_t)i * (size_t)s->dim;
    fprintf(o.f, "%s{\"object\":\"embedding\",\"index\":%d,\"embedding\":", i ? "," : "", i);
    if (call->base64) /* little-endian float32, as OpenAI sends them */
      put_base64(o.f, (const unsigned char *)v, (size_t)s->dim * sizeof(float));
    else
      put_vector(o.f, v, s->dim);
    fputc('}', o.f);
  }
  fputs("],\"model\":", o.f);
  put_cstring(o.f, s->model_name);
  fprintf(o.f, ",\"usage\":{\"prompt_tokens\":%lld,\"total_tokens\":%lld}}",
          (long long)call->prompt_tokens, (long long)call->prompt_tokens);
  reply_json(r, 200, out_close(&o));
}

static void finish_embed(srv_t *s, srv_call_t *call, srv_reply_t *r) {
  srv_job_t *j = call->job;
  out_t o;
  if (!out_open(&o)) {
    reply_json(r, 500, NULL);
    return;
  }
  fputc('[', o.f);
  for (int32_t i = 0; i < j->count; i++) {
    float *v = j->embeddings + (size_t)i * (size_t)s->dim;
    if (call->normalize && !s->normalizes) { /* L2, as sentence-transformers' Normalize */
      double sum = 0;
      for (int32_t k = 0; k < s->dim; k++)
        sum += (double)v[k] * v[k];
      double norm = sqrt(sum) > 1e-12 ? sqrt(sum) : 1e-12;
      for (int32_t k = 0; k < s->dim; k++)
        v[k] = (float)(v[k] / norm);
    }
    if (i) fputc(',', o.f);
    put_vector(o.f, v, s->dim);
  }
  fputc(']', o.f);
  reply_json(r, 200, out_close(&o));
}

typedef struct ranked {
  int32_t index;
  float score;
} ranked_t;

static int by_score(const void *a, const void *b) {
  const ranked_t *x = a, *y = b;
  if (x->score != y->score) return x->score > y->score ? -1 : 1;
  return x->index < y->index ? -1 : 1;
}

static void finish_rerank(srv_call_t *call, srv_reply_t *r) {
  const srv_job_t *j = call->job;
  ranked_t *rk = calloc((size_t)j->count, sizeof *rk);
  out_t o;
  if (!rk || !out_open(&o)) {
    free(rk);
    reply_json(r, 500, NULL);
    return;
  }
  for (int32_t i = 0; i < j->count; i++)
    rk[i] = (ranked_t){i, j->answers[i].labels.count ? j->answers[i].labels.items[0].score : 0};
  qsort(rk, (size_t)j->count, sizeof *rk, by_score);
  fputc('[', o.f);
  for (int32_t i = 0; i < j->count; i++) {
    fprintf(o.f, "%s{\"index\":%d,\"score\":", i ? "," : "", rk[i].index);
    put_float(o.f, rk[i].score);
    if (call->return_text) {
      fputs(",\"text\":", o.f);
      const bertc_pipeline_input_t *in = &j->inputs[rk[i].index];
      put_string(o.f, in->text_pair, in->pair_length);
    }
    fputc('}', o.f);
  }
  fputc(']', o.f);
  free(rk);
  reply_json(r, 200, out_close(&o));
}

static void finish_predict(srv_call_t *call, srv_reply_t *r) {
  const srv_job_t *j = call->job;
  out_t o;
  if (!out_open(&o)) {
    reply_json(r, 500, NULL);
    return;
  }
  if (!call->single) fputc('[', o.f);
  for (int32_t i = 0; i < j->count; i++) {
    const bertc_labels_t *l = &j->answers[i].labels;
    fputs(i ? ",[" : "[", o.f);
    for (int32_t k = 0; k < l->count; k++) {
      fputs(k ? ",{\"label\":" : "{\"label\":", o.f);
      put_cstring(o.f, l->items[k].name);
      fputs(",\"score\":", o.f);
      put_float(o.f, l->items[k].score);
      fputc('}', o.f);
    }
    fputc(']', o.f);
  }
  if (!call->single) fputc(']', o.f);
  reply_json(r, 200, out_close(&o));
}

static void finish_run(srv_t *s, srv_call_t *call, srv_reply_t *r) {
  const srv_job_t *j = call->job;
  out_t o;
  if (!out_open(&o)) {
    reply_json(r, 500, NULL);
    return;
  }
  const bertc_pipeline_t *p = srv_batcher_pipeline(s->batcher, j->variant);
  fputc('[', o.f);
  for (int32_t i = 0; i < j->count; i++) {
    char *json = NULL;
    bertc_status_t st = bertc_answer_json(p, &j->answers[i], &json);
    if (st) {
      fclose(o.f);
      free(o.text);
      reply_status(r, call->route, st);
      bertc_status_free(st);
      return;
    }
    if (i) fputc(',', o.f);
    fputs(json, o.f);
    free(json);
  }
  fputc(']', o.f);
  reply_json(r, 200, out_close(&o));
}

void srv_api_finish(srv_t *s, srv_call_t *call, srv_reply_t *r) {
  if (call->job->error) {
    reply_status(r, call->route, call->job->error);
    return;
  }
  switch (call->route) {
  case SRV_ROUTE_EMBEDDINGS: finish_openai(s, call, r); break;
  case SRV_ROUTE_EMBED: finish_embed(s, call, r); break;
  case SRV_ROUTE_RERANK: finish_rerank(call, r); break;
  case SRV_ROUTE_PREDICT: finish_predict(call, r); break;
  default: finish_run(s, call, r); break;
  }
}
