/* The JSON forms of answers, output tensors and features: what `bertc run`
 * and `bertc tokenize` print (docs/cli.md), one object per call, written
 * through a memory stream. Floats print with %.9g, which reads back as the
 * same float32; scores that are not finite print as null. Strings keep
 * their UTF-8 and escape quotes, backslashes and control characters. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "runtime/tasks.h"

/* ---- Writing ---------------------------------------------------------------------- */

typedef struct {
  FILE *f;
  char *buf;
  size_t size;
} json_out_t;

static bertc_status_t out_open(json_out_t *o) {
  memset(o, 0, sizeof *o);
  o->f = open_memstream(&o->buf, &o->size);
  return o->f ? BERTC_OK : base_oom();
}

/* Closes the stream and hands its text to *out (NULL on failure). */
static bertc_status_t out_close(json_out_t *o, char **out) {
  bool failed = ferror(o->f) != 0;
  failed |= fclose(o->f) != 0;
  if (failed) {
    free(o->buf);
    *out = NULL;
    return base_oom();
  }
  *out = o->buf;
  return BERTC_OK;
}

static void put_string(FILE *f, const char *s) {
  fputc('"', f);
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    switch (*p) {
    case '"': fputs("\\\"", f); break;
    case '\\': fputs("\\\\", f); break;
    case '\n': fputs("\\n", f); break;
    case '\r': fputs("\\r", f); break;
    case '\t': fputs("\\t", f); break;
    default:
      if (*p < 0x20 || *p == 0x7f)
        fprintf(f, "\\u%04x", *p);
      else
        fputc(*p, f);
    }
  }
  fputc('"', f);
}

static void put_number(FILE *f, double v) {
  if (isfinite(v))
    fprintf(f, "%.9g", v);
  else
    fputs("null", f);
}

static void put_floats(FILE *f, const float *v, int64_t count) {
  fputc('[', f);
  for (int64_t i = 0; i < count; i++)
    fprintf(f, i ? ",%.9g" : "%.9g", (double)v[i]);
  fputc(']', f);
}

static void put_ints(FILE *f, const int32_t *v, int64_t count) {
  fputc('[', f);
  for (int64_t i = 0; i < count; i++)
    fprintf(f, i ? ",%d" : "%d", v[i]);
  fputc(']', f);
}

/* ---- Output tensors --------------------------------------------------------------- */

static void put_nested(FILE *f, const float *data, const int64_t *dims, int rank) {
  if (rank == 1) {
    put_floats(f, data, dims[0]);
    return;
  }
  int64_t inner = 1;
  for (int i = 1; i < rank; i++)
    inner *= dims[i];
  fputc('[', f);
  for (int64_t i = 0; i < dims[0]; i++) {
    if (i) fputc(',', f);
    put_nested(f, data + i * inner, dims + 1, rank - 1);
  }
  fputc(']', f);
}

/* One output by name; sentence_embedding is "embedding". */
static void put_output(FILE *f, bool first, const char *name, const float *data,
                       const int64_t *dims, int rank) {
  fprintf(f, "%s\"%s\":", first ? "" : ",",
          strcmp(name, "sentence_embedding") ? name : "embedding");
  if (rank == 0)
    fprintf(f, "%.9g", (double)data[0]);
  else
    put_nested(f, data, dims, rank);
}

static void put_outputs(FILE *f, const bertc_outputs_t *o) {
  fputc('{', f);
  for (int32_t i = 0; i < o->count; i++)
    put_output(f, i == 0, o->items[i].name, o->items[i].data, o->items[i].dims, o->items[i].rank);
  fputc('}', f);
}

bertc_status_t bertc_engine_output_json(const bertc_engine_t *engine, const bertc_run_input_t *in,
                                        int32_t index, char **out_json) {
  *out_json = NULL;
  if (!engine || !in || index < 0 || index >= in->count)
    return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT,
                             "bertc_engine_output_json: no sequence %d in the run", index);
  int32_t longest = 0;
  for (int32_t i = 0; i < in->count; i++)
    if (in->lengths[i] > longest) longest = in->lengths[i];
  json_out_t o;
  BERTC_RETURN_IF_ERROR(out_open(&o));
  bertc_status_t s = BERTC_OK;
  fputc('{', o.f);
  uint32_t n = engine->num_outputs(engine->self);
  for (uint32_t k = 0; !s && k < n; k++) {
    bertc_tensor_view_t v;
    s = engine->output(engine->self, k, &v);
    if (s) break;
    int64_t per = 1, dims[3] = {0};
    for (int d = 1; d < v.rank; d++)
      per *= dims[d - 1] = v.dims[d];
    if (v.rank >= 2 && v.dims[1] == longest) dims[0] = in->lengths[index];
    put_output(o.f, k == 0, v.name, (const float *)v.data + (int64_t)index * per, dims, v.rank - 1);
  }
  fputc('}', o.f);
  char *json = NULL;
  bertc_status_t c = out_close(&o, &json);
  if (s || c) {
    free(json);
    bertc_status_free(c);
    return s ? s : base_oom();
  }
  *out_json = json;
  return BERTC_OK;
}

/* ---- Answers ---------------------------------------------------------------------- */

static void put_candidates(FILE *f, const bertc_mask_fill_t *m) {
  fputc('[', f);
  for (int32_t c = 0; c < m->count; c++) {
    const bertc_fill_candidate_t *k = &m->candidates[c];
    fprintf(f, "%s{\"token\":%d,\"token_str\":", c ? "," : "", k->token);
    put_string(f, k->token_str);
    fputs(",\"score\":", f);
    put_number(f, k->score);
    fputs(",\"sequence\":", f);
    put_string(f, k->sequence);
    fputc('}', f);
  }
  fputc(']', f);
}

/* {"mask": candidates of the one mask, or a list per mask, "is_next": p}. */
static void put_fill_mask(FILE *f, const bertc_answer_t *a) {
  const bertc_fill_mask_t *r = &a->fill_mask;
  fputc('{', f);
  if (r->num_masks) {
    fputs("\"mask\":", f);
    if (r->num_masks == 1) {
      put_candidates(f, &r->masks[0]);
    } else {
      fputc('[', f);
      for (int32_t m = 0; m < r->num_masks; m++) {
        if (m) fputc(',', f);
        put_candidates(f, &r->masks[m]);
      }
      fputc(']', f);
    }
  }
  if (a->has_is_next) {
    fputs(r->num_masks ? ",\"is_next\":" : "\"is_next\":", f);
    put_number(f, a->is_next);
  }
  fputc('}', f);
}

static void put_labels(FILE *f, const bertc_labels_t *l) {
  fputs("{\"label\":", f);
  put_string(f, l->items[0].name);
  fputs(",\"score\":", f);
  put_number(f, l->items[0].score);
  fputs(",\"scores\":[", f);
  for (int32_t i = 0; i < l->count; i++) {
    fputs(i ? ",{\"label\":" : "{\"label\":", f);
    put_string(f, l->items[i].name);
    fputs(",\"score\":", f);
    put_number(f, l->items[i].score);
    fputc('}', f);
  }
  fputs("]}", f);
}

static void put_entities(FILE *f, const bertc_entities_t *ents, bool per_token) {
  fputs("{\"entities\":[", f);
  for (int32_t i = 0; i < ents->count; i++) {
    const bertc_entity_t *e = &ents->items[i];
    fputs(i ? ",{" : "{", f);
    fputs(per_token ? "\"entity\":" : "\"entity_group\":", f);
    put_string(f, e->label);
    fputs(",\"score\":", f);
    put_number(f, e->score);
    if (per_token) fprintf(f, ",\"index\":%d", e->index);
    fputs(",\"word\":", f);
    put_string(f, e->word);
    fprintf(f, ",\"start\":%d,\"end\":%d}", e->start, e->end);
  }
  fputs("]}", f);
}

static void put_qa_answer(FILE *f, const bertc_qa_answer_t *a) {
  fputs("{\"answer\":", f);
  put_string(f, a->answer);
  fputs(",\"score\":", f);
  put_number(f, a->score);
  fprintf(f, ",\"start\":%d,\"end\":%d}", a->start, a->end);
}

/* One answer, or {"answers": [...]} when top_k asks for more than one. */
static void put_qa_answers(FILE *f, const bertc_qa_answers_t *ans, bool list) {
  if (list) {
    fputs("{\"answers\":[", f);
    for (int32_t i = 0; i < ans->count; i++) {
      if (i) fputc(',', f);
      put_qa_answer(f, &ans->items[i]);
    }
    fputs("]}", f);
  } else if (ans->count) {
    put_qa_answer(f, &ans->items[0]);
  } else {
    fputs("{\"answer\":\"\",\"score\":0,\"start\":0,\"end\":0}", f);
  }
}

static void put_replaced(FILE *f, const bertc_replaced_tokens_t *r) {
  fputs("{\"tokens\":[", f);
  for (int32_t k = 0; k < r->count; k++) {
    if (k) fputc(',', f);
    put_string(f, r->tokens[k]);
  }
  fputs("],\"replaced\":[", f);
  for (int32_t k = 0; k < r->count; k++) {
    if (k) fputc(',', f);
    put_number(f, r->probabilities[k]);
  }
  fputs("]}", f);
}

bertc_status_t bertc_answer_json(const bertc_pipeline_t *p, const bertc_answer_t *a,
                                 char **out_json) {
  *out_json = NULL;
  if (!p || !a)
    return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT, "bertc_answer_json: NULL argument");
  if (!a->raw && a->task == BERTC_TASK_SEQUENCE_CLASSIFICATION && a->labels.count < 1)
    return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT, "bertc_answer_json: no labels");
  json_out_t o;
  BERTC_RETURN_IF_ERROR(out_open(&o));
  FILE *f = o.f;
  const bertc_pipeline_options_t *opts = rt_pipeline_options(p);
  if (a->raw) {
    put_outputs(f, &a->outputs);
  } else {
    switch (a->task) {
    case BERTC_TASK_EMBEDDING:
      fputs("{\"embedding\":", f);
      put_floats(f, a->embedding.values, a->embedding.size);
      fputc('}', f);
      break;
    case BERTC_TASK_NSP:
      fputs("{\"is_next\":", f);
      put_number(f, a->is_next);
      fputc('}', f);
      break;
    case BERTC_TASK_FILL_MASK:
    case BERTC_TASK_PRETRAINING: put_fill_mask(f, a); break;
    case BERTC_TASK_SEQUENCE_CLASSIFICATION: put_labels(f, &a->labels); break;
    case BERTC_TASK_TOKEN_CLASSIFICATION:
      put_entities(f, &a->entities, opts->aggregation == BERTC_AGGREGATION_NONE);
      break;
    case BERTC_TASK_QUESTION_ANSWERING: put_qa_answers(f, &a->answers, opts->top_k > 1); break;
    case BERTC_TASK_DISCRIMINATOR: put_replaced(f, &a->replaced); break;
    case BERTC_TASK_AUTO:
    case BERTC_TASK_ENCODER: put_outputs(f, &a->outputs); break;
    }
  }
  return out_close(&o, out_json);
}

/* ---- Features --------------------------------------------------------------------- */

static void put_sequence(FILE *f, const bertc_encoding_t *e) {
  fputs("{\"ids\":", f);
  put_ints(f, e->input_ids, e->length);
  fputs(",\"tokens\":[", f);
  for (int32_t i = 0; i < e->length; i++) {
    if (i) fputc(',', f);
    put_string(f, e->tokens[i]);
  }
  fputs("],\"type_ids\":", f);
  put_ints(f, e->token_type_ids, e->length);
  fputs(",\"offsets\":[", f);
  for (int32_t i = 0; i < e->length; i++)
    fprintf(f, "%s[%d,%d]", i ? "," : "", e->offsets[2 * i], e->offsets[2 * i + 1]);
  fputs("]}", f);
}

bertc_status_t bertc_features_json(const bertc_features_t *features, char **out_json) {
  *out_json = NULL;
  if (!features || (!features->windows && features->count != 1))
    return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT,
                             "bertc_features_json: expected windows or one sequence");
  json_out_t o;
  BERTC_RETURN_IF_ERROR(out_open(&o));
  if (features->windows) {
    fputs("{\"windows\":[", o.f);
    for (int32_t w = 0; w < features->count; w++) {
      if (w) fputc(',', o.f);
      put_sequence(o.f, &features->sequences[w]);
    }
    fputs("]}", o.f);
  } else {
    put_sequence(o.f, &features->sequences[0]);
  }
  return out_close(&o, out_json);
}
