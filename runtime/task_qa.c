/* Question answering, as transformers 4.x's QuestionAnsweringPipeline
 * (question_answering.py) does it:
 *
 *   features  the question + context encoding is cut into windows of at
 *             most max_seq_len tokens (question + a part of the context +
 *             specials), consecutive parts overlapping by doc_stride, as
 *             `tokenizers` truncates with return_overflowing_tokens.
 *   answers   per window the logits outside the context (but the CLS token)
 *             are set to -10000, softmaxed, CLS's probability zeroed, spans
 *             s <= e < s + max_answer_len scored start[s] * end[e]; the best
 *             2 * top_k + 10 spans per window are widened to whole words (the
 *             encoder's word ids), answers with the same lowercased text add
 *             their scores, and the top_k highest survive. */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "base/base.h"
#include "runtime/tasks.h"

void rt_qa_features_deinit(rt_qa_features_t *f) {
  if (!f) return;
  tok_encoding_deinit(&f->full);
  for (int32_t i = 0; i < f->num_windows && f->windows; i++) {
    free(f->windows[i].ids);
    free(f->windows[i].type_ids);
    free(f->windows[i].source);
  }
  free(f->windows);
  memset(f, 0, sizeof *f);
}

static bertc_status_t qa_window(rt_qa_features_t *f, int32_t c0, int32_t c1, int32_t from,
                                int32_t to) {
  const tok_encoding_t *e = &f->full;
  int32_t len = c0 + (to - from) + ((int32_t)e->len - c1);
  rt_qa_window_t *w = &f->windows[f->num_windows];
  w->ids = malloc((size_t)len * sizeof *w->ids);
  w->type_ids = malloc((size_t)len * sizeof *w->type_ids);
  w->source = malloc((size_t)len * sizeof *w->source);
  f->num_windows++;
  if (!w->ids || !w->type_ids || !w->source) return base_oom();
  int32_t k = 0;
  for (int32_t i = 0; i < (int32_t)e->len; i++) {
    if (i >= c0 && i < c1 && (i < c0 + from || i >= c0 + to)) continue;
    w->ids[k] = e->ids[i];
    w->type_ids[k] = e->type_ids[i];
    w->source[k++] = i;
  }
  w->len = k;
  return BERTC_OK;
}

bertc_status_t rt_task_qa_features(const tok_tokenizer_t *t, const char *question,
                                   size_t question_len, const char *context, size_t context_len,
                                   int64_t model_max, const bertc_pipeline_options_t *o,
                                   rt_qa_features_t *out) {
  memset(out, 0, sizeof *out);
  int64_t max_len = o->max_window_length > 0 ? o->max_window_length
                    : model_max < 384        ? model_max
                                             : 384;
  if (max_len < 1)
    return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT, "question answering: no window length");
  int64_t stride = o->doc_stride >= 0 ? o->doc_stride : max_len / 2 < 128 ? max_len / 2 : 128;
  if (stride > max_len)
    return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT,
                             "doc stride %lld is larger than the window length %lld",
                             (long long)stride, (long long)max_len);
  out->max_seq_len = (int32_t)max_len;
  out->doc_stride = (int32_t)stride;
  bertc_status_t s = tok_encode(t, question, question_len, context, context_len, 0,
                                TOK_TRUNC_ONLY_SECOND, &out->full);
  const tok_encoding_t *e = &out->full;
  int32_t c0 = -1, c1 = -1;
  for (size_t i = 0; !s && i < e->len; i++)
    if (e->sequence_ids[i] == 1) {
      if (c0 < 0) c0 = (int32_t)i;
      c1 = (int32_t)i + 1;
    }
  if (!s && c0 < 0) s = bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT, "the context is empty");
  if (s) {
    rt_qa_features_deinit(out);
    return s;
  }
  int32_t n_ctx = c1 - c0, total = (int32_t)e->len;
  int32_t window = n_ctx;
  if (total > max_len) {
    /* tokenizers: to_remove = total - max_len must leave the context non-empty,
     * and the stride must be smaller than what is left. */
    window = n_ctx - (total - (int32_t)max_len);
    if (window < 1)
      s = bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT,
                            "the question takes %d of the %lld tokens a window holds; no room "
                            "for the context",
                            total - n_ctx, (long long)max_len);
    else if (stride >= window && o->doc_stride >= 0)
      s = bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT,
                            "the question leaves %d context tokens per window, not more than "
                            "the doc stride %lld; use a shorter question or a smaller stride",
                            window, (long long)stride);
    else if (stride >= window) /* where the pipeline would fail: a default stride adapts */
      out->doc_stride = (int32_t)(stride = window / 2);
  }
  int32_t step = window - (int32_t)stride, count = 1;
  if (!s && window < n_ctx)
    for (int32_t st = 0; st + window < n_ctx; st += step)
      count++;
  if (!s) {
    out->windows = calloc((size_t)count, sizeof *out->windows);
    if (!out->windows) s = base_oom();
  }
  for (int32_t st = 0; !s && out->num_windows < count; st += step) {
    int32_t stop = st + window < n_ctx ? st + window : n_ctx;
    s = qa_window(out, c0, c1, st, stop);
  }
  if (s) rt_qa_features_deinit(out);
  return s;
}

void bertc_qa_answers_deinit(bertc_qa_answers_t *a) {
  if (!a) return;
  for (int32_t i = 0; i < a->count; i++)
    free(a->items[i].answer);
  free(a->items);
  memset(a, 0, sizeof *a);
}

typedef struct {
  float score;
  int32_t s, e;
} qa_span_t;

static int span_cmp(const void *pa, const void *pb) {
  const qa_span_t *a = pa, *b = pb;
  if (a->score != b->score) return a->score > b->score ? -1 : 1;
  if (a->s != b->s) return a->s < b->s ? -1 : 1;
  return (a->e > b->e) - (a->e < b->e);
}

/* Python's str.lower() for comparing answers (simple case mapping). */
static bool same_lower(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b), i = 0, j = 0;
  while (i < la && j < lb) {
    utf8proc_int32_t x, y;
    utf8proc_ssize_t p =
        utf8proc_iterate((const utf8proc_uint8_t *)a + i, (utf8proc_ssize_t)(la - i), &x);
    utf8proc_ssize_t q =
        utf8proc_iterate((const utf8proc_uint8_t *)b + j, (utf8proc_ssize_t)(lb - j), &y);
    if (p <= 0 || q <= 0) return !strcmp(a + i, b + j);
    if (utf8proc_tolower(x) != utf8proc_tolower(y)) return false;
    i += (size_t)p;
    j += (size_t)q;
  }
  return i == la && j == lb;
}

/* Encoding.word_to_chars within a window: the span of every context token of
 * the window that belongs to `word`. */
static void word_chars(const rt_qa_features_t *f, const rt_qa_window_t *w, int32_t word,
                       int32_t *start, int32_t *end) {
  int32_t a = -1, b = -1;
  for (int32_t i = 0; i < w->len; i++) {
    int32_t src = w->source[i];
    if (f->full.sequence_ids[src] == 1 && f->full.word_ids[src] == word) {
      if (a < 0) a = src;
      b = src;
    }
  }
  *start = f->full.offsets[2 * a];
  *end = f->full.offsets[2 * b + 1];
}

static bertc_status_t qa_add(bertc_qa_answers_t *a, int32_t *cap, char *text, double score,
                             int32_t start, int32_t end) {
  for (int32_t i = 0; i < a->count; i++)
    if (same_lower(a->items[i].answer, text)) {
      a->items[i].score += score;
      free(text);
      return BERTC_OK;
    }
  if (a->count == *cap) {
    int32_t c = *cap ? 2 * *cap : 16;
    bertc_qa_answer_t *p = realloc(a->items, (size_t)c * sizeof *p);
    if (!p) {
      free(text);
      return base_oom();
    }
    a->items = p;
    *cap = c;
  }
  a->items[a->count++] = (bertc_qa_answer_t){text, score, start, end};
  return BERTC_OK;
}

bertc_status_t rt_task_qa_answers(const tok_tokenizer_t *tok, const rt_qa_features_t *f,
                                  const char *context, size_t context_len,
                                  const float *const *start_logits, const float *const *end_logits,
                                  const bertc_pipeline_options_t *o, bertc_qa_answers_t *out) {
  memset(out, 0, sizeof *out);
  int32_t top_k = o->top_k > 0 ? o->top_k : 1;
  int32_t max_ans = o->max_answer_length > 0 ? o->max_answer_length : 1;
  int32_t pre_topk = o->align_to_words ? 2 * top_k + 10 : top_k;
  int32_t cls_id = tok_cls_id(tok);
  if (!context) context = "";
  tok_chars_t t;
  BERTC_RETURN_IF_ERROR(tok_chars_init(context, context_len, &t));
  int32_t longest = 1;
  for (int32_t w = 0; w < f->num_windows; w++)
    if (f->windows[w].len > longest) longest = f->windows[w].len;
  float *ps = malloc((size_t)longest * sizeof *ps), *pe = malloc((size_t)longest * sizeof *pe);
  float *ms = malloc((size_t)longest * sizeof *ms), *me = malloc((size_t)longest * sizeof *me);
  bool *desired = malloc((size_t)longest * sizeof *desired);
  qa_span_t *spans = malloc((size_t)longest * (size_t)max_ans * sizeof *spans);
  bertc_status_t s = ps && pe && ms && me && desired && spans ? BERTC_OK : base_oom();
  double min_null = 1000000;
  int32_t cap = 0;
  for (int32_t wi = 0; !s && wi < f->num_windows; wi++) {
    const rt_qa_window_t *w = &f->windows[wi];
    int32_t n = w->len;
    /* p_mask: everything but the context and CLS tokens */
    for (int32_t i = 0; i < n; i++) {
      desired[i] = f->full.sequence_ids[w->source[i]] == 1 || w->ids[i] == cls_id;
      ms[i] = desired[i] ? start_logits[wi][i] : -10000.0f;
      me[i] = desired[i] ? end_logits[wi][i] : -10000.0f;
    }
    rt_softmax(ms, n, ps);
    rt_softmax(me, n, pe);
    double null = (double)(ps[0] * pe[0]);
    if (null < min_null) min_null = null;
    ps[0] = pe[0] = 0.0f;
    int32_t ns = 0;
    for (int32_t a = 0; a < n; a++) {
      if (!desired[a]) continue;
      for (int32_t b = a; b < n && b < a + max_ans; b++) {
        float sc = ps[a] * pe[b];
        if (desired[b] && sc > 0.0f) spans[ns++] = (qa_span_t){sc, a, b};
      }
    }
    qsort(spans, (size_t)ns, sizeof *spans, span_cmp);
    for (int32_t k = 0; !s && k < ns && k < pre_topk; k++) {
      int32_t a = spans[k].s, b = spans[k].e, sa = w->source[a], sb = w->source[b];
      int32_t start = f->full.offsets[2 * sa], end = f->full.offsets[2 * sb + 1];
      const int32_t *words = f->full.word_ids;
      if (o->align_to_words && words[sa] >= 0 && words[sb] >= 0) {
        int32_t dummy;
        word_chars(f, w, words[sa], &start, &dummy);
        word_chars(f, w, words[sb], &dummy, &end);
      }
      char *text = NULL;
      s = tok_chars_slice(&t, context, start, end, &text);
      if (!s) s = qa_add(out, &cap, text, (double)spans[k].score, start, end);
    }
  }
  if (!s && o->handle_impossible_answer) {
    char *empty = NULL;
    s = base_strdup("", &empty);
    if (!s) {
      /* appended after the merge, as the pipeline does */
      if (out->count == cap) {
        bertc_qa_answer_t *p = realloc(out->items, (size_t)(cap + 1) * sizeof *p);
        if (!p) {
          free(empty);
          s = base_oom();
        } else {
          out->items = p;
        }
      }
      if (!s) out->items[out->count++] = (bertc_qa_answer_t){empty, min_null, 0, 0};
    }
  }
  if (!s) { /* stable sort by descending score, keep top_k */
    for (int32_t i = 1; i < out->count; i++) {
      bertc_qa_answer_t x = out->items[i];
      int32_t j = i;
      while (j > 0 && out->items[j - 1].score < x.score) {
        out->items[j] = out->items[j - 1];
        j--;
      }
      out->items[j] = x;
    }
    while (out->count > top_k)
      free(out->items[--out->count].answer);
  }
  free(ps);
  free(pe);
  free(ms);
  free(me);
  free(desired);
  free(spans);
  tok_chars_deinit(&t);
  if (s) bertc_qa_answers_deinit(out);
  return s;
}
