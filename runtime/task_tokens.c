/* Token classification, as transformers' TokenClassificationPipeline
 * (token_classification.py) does it, step by step so that ties, merges and
 * filters come out the same:
 *
 *   gather_pre_entities  softmax per token; special tokens dropped; a token
 *                        is a subword when its text is shorter than its
 *                        string (WordPiece, "##") or, for tokenizers without
 *                        a subword prefix, when no space surrounds its start;
 *                        unknown tokens take their text.
 *   aggregate_words      first / average / max: the subwords of each word
 *                        merge, the word takes the label of its first token,
 *                        of its averaged scores or of its most confident
 *                        token.
 *   group_entities       every strategy but none: runs of the same tag where
 *                        only the first may be B- form one entity, scored by
 *                        the mean, its word the tokens decoded together.
 *
 * Labels in the ignore list ("O") are dropped at the end. */
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "runtime/tasks.h"

/* Code points of a NUL-terminated UTF-8 string. */
static size_t utf8_count(const char *s) {
  size_t n = 0;
  for (; *s; s++)
    n += ((unsigned char)*s & 0xC0) != 0x80;
  return n;
}

static const char *const agg_names[] = {"none", "simple", "first", "average", "max"};

bool bertc_aggregation_from_name(const char *name, bertc_aggregation_t *out) {
  for (size_t i = 0; i < BASE_ARRAY_LEN(agg_names); i++)
    if (!strcmp(agg_names[i], name)) {
      *out = (bertc_aggregation_t)i;
      return true;
    }
  return false;
}

const char *bertc_aggregation_name(bertc_aggregation_t agg) {
  return (unsigned)agg < BASE_ARRAY_LEN(agg_names) ? agg_names[agg] : "?";
}

void bertc_entities_deinit(bertc_entities_t *e) {
  if (!e) return;
  for (int32_t i = 0; i < e->count; i++) {
    free(e->items[i].label);
    free(e->items[i].word);
  }
  free(e->items);
  memset(e, 0, sizeof *e);
}

/* A token or a word before grouping: label index, score, word, span. */
typedef struct {
  int32_t label;
  float score;
  char *word;
  int32_t start, end, index;
  bool is_subword;
  const float *scores; /* pre-entities: the token's label probabilities */
} ner_item_t;

static int32_t argmax(const float *v, int32_t n) {
  int32_t best = 0;
  for (int32_t i = 1; i < n; i++)
    if (v[i] > v[best]) best = i;
  return best;
}

static void ner_items_free(ner_item_t *v, size_t n) {
  for (size_t i = 0; v && i < n; i++)
    free(v[i].word);
  free(v);
}

/* get_tag: "B-X" -> (B, X), "I-X" -> (I, X), anything else -> (I, label). */
static const char *ner_tag(const char *label, char *bi) {
  if ((label[0] == 'B' || label[0] == 'I') && label[1] == '-') {
    *bi = label[0];
    return label + 2;
  }
  *bi = 'I';
  return label;
}

typedef struct {
  const rt_task_model_t *m;
  const tok_tokenizer_t *tok;
  bertc_entities_t *out;
  int32_t cap;
} ner_ctx_t;

static bertc_status_t ner_emit(ner_ctx_t *c, char *label, float score, char *word, int32_t start,
                               int32_t end, int32_t index) {
  if (c->out->count == c->cap) {
    int32_t cap = c->cap ? 2 * c->cap : 8;
    bertc_entity_t *p = realloc(c->out->items, (size_t)cap * sizeof *p);
    if (!p) {
      free(label);
      free(word);
      return base_oom();
    }
    c->out->items = p;
    c->cap = cap;
  }
  c->out->items[c->out->count++] = (bertc_entity_t){label, score, word, start, end, index};
  return BERTC_OK;
}

/* group_sub_entities: one entity for items [a, b). */
static bertc_status_t ner_group(ner_ctx_t *c, const ner_item_t *v, size_t a, size_t b) {
  const char *first = c->m->labels[v[a].label];
  const char *dash = strchr(first, '-');
  char *label = NULL, *word = NULL;
  BERTC_RETURN_IF_ERROR(base_strdup(dash ? dash + 1 : first, &label));
  double sum = 0;
  const char **words = malloc((b - a) * sizeof *words);
  if (!words) {
    free(label);
    return base_oom();
  }
  for (size_t i = a; i < b; i++) {
    sum += v[i].score;
    words[i - a] = v[i].word;
  }
  bertc_status_t s = tok_tokens_to_string(c->tok, words, b - a, &word);
  free(words);
  if (s) {
    free(label);
    return s;
  }
  return ner_emit(c, label, (float)(sum / (double)(b - a)), word, v[a].start, v[b - 1].end, -1);
}

/* group_entities: runs of items with the same tag where no item but the first is B-. */
static bertc_status_t ner_group_all(ner_ctx_t *c, const ner_item_t *v, size_t n) {
  size_t a = 0;
  for (size_t i = 1; i <= n; i++) {
    if (i < n) {
      char bi, last_bi;
      const char *tag = ner_tag(c->m->labels[v[i].label], &bi);
      const char *last = ner_tag(c->m->labels[v[i - 1].label], &last_bi);
      if (!strcmp(tag, last) && bi != 'B') continue;
    }
    if (n) BERTC_RETURN_IF_ERROR(ner_group(c, v, a, i));
    a = i;
  }
  return BERTC_OK;
}

/* aggregate_word: one word from pre-entities [a, b). */
static bertc_status_t ner_word(const ner_ctx_t *c, const ner_item_t *v, size_t a, size_t b,
                               bertc_aggregation_t agg, ner_item_t *w) {
  int32_t nl = c->m->num_labels;
  memset(w, 0, sizeof *w);
  const char **words = malloc((b - a) * sizeof *words);
  if (!words) return base_oom();
  for (size_t i = a; i < b; i++)
    words[i - a] = v[i].word;
  bertc_status_t s = tok_tokens_to_string(c->tok, words, b - a, &w->word);
  free(words);
  BERTC_RETURN_IF_ERROR(s);
  if (agg == BERTC_AGGREGATION_FIRST) {
    w->label = argmax(v[a].scores, nl);
    w->score = v[a].scores[w->label];
  } else if (agg == BERTC_AGGREGATION_MAX) {
    size_t best = a;
    float best_max = v[a].scores[argmax(v[a].scores, nl)];
    for (size_t i = a + 1; i < b; i++) {
      float mx = v[i].scores[argmax(v[i].scores, nl)];
      if (mx > best_max) {
        best_max = mx;
        best = i;
      }
    }
    w->label = argmax(v[best].scores, nl);
    w->score = v[best].scores[w->label];
  } else { /* average */
    float *avg = malloc((size_t)nl * sizeof *avg);
    if (!avg) {
      free(w->word);
      w->word = NULL;
      return base_oom();
    }
    for (int32_t l = 0; l < nl; l++) {
      double sum = 0;
      for (size_t i = a; i < b; i++)
        sum += v[i].scores[l];
      avg[l] = (float)(sum / (double)(b - a));
    }
    w->label = argmax(avg, nl);
    w->score = avg[w->label];
    free(avg);
  }
  w->start = v[a].start;
  w->end = v[b - 1].end;
  w->index = -1;
  return BERTC_OK;
}

bertc_status_t rt_task_token_classify(const rt_task_model_t *m, const tok_tokenizer_t *tok,
                                      const char *text, size_t text_len, const tok_encoding_t *enc,
                                      const float *logits, bertc_aggregation_t agg,
                                      const char *const *ignore, size_t num_ignore,
                                      bertc_entities_t *out) {
  memset(out, 0, sizeof *out);
  int32_t nl = m->num_labels;
  if (nl < 1) return bertc_status_make(BERTC_STATUS_DATA, "the model has no labels");
  static const char *const default_ignore[] = {"O"};
  if (!ignore) {
    ignore = default_ignore;
    num_ignore = 1;
  }
  if (!text) text = "";
  tok_chars_t t;
  BERTC_RETURN_IF_ERROR(tok_chars_init(text, text_len, &t));
  int32_t unk_id = tok_unk_id(tok);
  bool has_prefix = *tok_subword_prefix(tok) != '\0';
  size_t n = enc->len;
  float *probs = malloc((n ? n : 1) * (size_t)nl * sizeof *probs);
  ner_item_t *pre = calloc(n ? n : 1, sizeof *pre);
  ner_item_t *words = calloc(n ? n : 1, sizeof *words);
  size_t n_pre = 0, n_words = 0;
  bertc_status_t s = probs && pre && words ? BERTC_OK : base_oom();
  /* gather_pre_entities */
  for (size_t i = 0; !s && i < n; i++) {
    if (enc->sequence_ids[i] < 0) continue;
    ner_item_t *p = &pre[n_pre];
    float *sc = probs + i * (size_t)nl;
    rt_softmax(logits + i * (size_t)nl, nl, sc);
    p->scores = sc;
    p->start = enc->offsets[2 * i];
    p->end = enc->offsets[2 * i + 1];
    p->index = (int32_t)i;
    if (enc->ids[i] == unk_id) {
      s = tok_chars_slice(&t, text, p->start, p->end, &p->word);
      p->is_subword = false;
    } else {
      s = base_strdup(enc->tokens[i], &p->word);
      if (has_prefix) {
        p->is_subword = utf8_count(enc->tokens[i]) != (size_t)(p->end - p->start);
      } else { /* " " not in text[start - 1 : start + 1] */
        size_t a = p->start < 0 ? 0 : (size_t)p->start > t.n ? t.n : (size_t)p->start;
        bool space = (a >= 1 && text[t.byte[a - 1]] == ' ') || (a < t.n && text[t.byte[a]] == ' ');
        p->is_subword = p->start > 0 && !space;
      }
    }
    if (s) break;
    n_pre++;
    p->label = argmax(sc, nl);
    p->score = sc[p->label];
  }
  ner_ctx_t c = {m, tok, out, 0};
  if (!s && agg == BERTC_AGGREGATION_NONE) {
    for (size_t i = 0; !s && i < n_pre; i++) {
      char *label = NULL;
      s = base_strdup(m->labels[pre[i].label], &label);
      if (!s) {
        s = ner_emit(&c, label, pre[i].score, pre[i].word, pre[i].start, pre[i].end, pre[i].index);
        pre[i].word = NULL;
      }
    }
  } else if (!s && agg == BERTC_AGGREGATION_SIMPLE) {
    s = ner_group_all(&c, pre, n_pre);
  } else if (!s) {
    size_t a = 0;
    for (size_t i = 1; !s && i <= n_pre; i++) {
      if (i < n_pre && pre[i].is_subword) continue;
      s = ner_word(&c, pre, a, i, agg, &words[n_words]);
      if (!s) n_words++;
      a = i;
    }
    if (!s) s = ner_group_all(&c, words, n_words);
  }
  /* drop ignored labels */
  int32_t k = 0;
  for (int32_t i = 0; !s && i < out->count; i++) {
    bool drop = false;
    for (size_t j = 0; j < num_ignore && !drop; j++)
      drop = !strcmp(out->items[i].label, ignore[j]);
    if (drop) {
      free(out->items[i].label);
      free(out->items[i].word);
    } else {
      out->items[k++] = out->items[i];
    }
  }
  if (!s) out->count = k;
  ner_items_free(pre, n_pre);
  ner_items_free(words, n_words);
  free(probs);
  tok_chars_deinit(&t);
  if (s) bertc_entities_deinit(out);
  return s;
}
