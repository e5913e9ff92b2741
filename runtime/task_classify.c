/* Sequence classification and next-sentence prediction, as transformers'
 * TextClassificationPipeline (text_classification.py) scores them: the
 * function applied to the logits is softmax, sigmoid or the identity, chosen
 * from the config's problem_type and the label count unless the caller
 * names one, and the labels come sorted by descending score with Python's
 * stable sort. Next-sentence is the softmax of the two logits, index 0
 * ("is next"). The softmax here is the one every task uses. */
#include <math.h>
#include <string.h>

#include "base/base.h"
#include "runtime/tasks.h"

bool bertc_score_function_from_name(const char *name, bertc_score_function_t *out) {
  static const struct {
    const char *name;
    bertc_score_function_t fn;
  } map[] = {{"default", BERTC_SCORE_FUNCTION_DEFAULT},
             {"softmax", BERTC_SCORE_FUNCTION_SOFTMAX},
             {"sigmoid", BERTC_SCORE_FUNCTION_SIGMOID},
             {"none", BERTC_SCORE_FUNCTION_NONE}};
  for (size_t i = 0; name && i < BASE_ARRAY_LEN(map); i++)
    if (!strcmp(map[i].name, name)) {
      *out = map[i].fn;
      return true;
    }
  return false;
}

void rt_softmax(const float *x, int64_t n, float *out) {
  float mx = -INFINITY;
  for (int64_t i = 0; i < n; i++)
    mx = x[i] > mx ? x[i] : mx;
  double sum = 0;
  for (int64_t i = 0; i < n; i++)
    sum += exp((double)x[i] - (double)mx);
  for (int64_t i = 0; i < n; i++)
    out[i] = (float)(exp((double)x[i] - (double)mx) / sum);
}

static bertc_score_function_t default_fn(const rt_task_model_t *m) {
  if (!strcmp(m->problem_type, "regression")) return BERTC_SCORE_FUNCTION_NONE;
  if (!strcmp(m->problem_type, "multi_label_classification") || m->num_labels == 1)
    return BERTC_SCORE_FUNCTION_SIGMOID;
  if (!strcmp(m->problem_type, "single_label_classification") || m->num_labels > 1)
    return BERTC_SCORE_FUNCTION_SOFTMAX;
  return BERTC_SCORE_FUNCTION_NONE;
}

void rt_task_classify(const rt_task_model_t *m, const float *logits, bertc_score_function_t fn,
                      bertc_label_score_t *out) {
  int32_t n = m->num_labels;
  if (fn == BERTC_SCORE_FUNCTION_DEFAULT) fn = default_fn(m);
  float mx = -INFINITY;
  double sum = 0;
  for (int32_t i = 0; i < n; i++)
    mx = logits[i] > mx ? logits[i] : mx;
  for (int32_t i = 0; i < n; i++)
    sum += exp((double)logits[i] - (double)mx);
  for (int32_t i = 0; i < n; i++) {
    double v = logits[i];
    if (fn == BERTC_SCORE_FUNCTION_SIGMOID) v = 1.0 / (1.0 + exp(-v));
    if (fn == BERTC_SCORE_FUNCTION_SOFTMAX) v = exp(v - (double)mx) / sum;
    out[i] = (bertc_label_score_t){i, m->labels[i], (float)v};
  }
  /* Stable insertion sort by descending score (Python's sort). */
  for (int32_t i = 1; i < n; i++) {
    bertc_label_score_t x = out[i];
    int32_t j = i;
    while (j > 0 && out[j - 1].score < x.score) {
      out[j] = out[j - 1];
      j--;
    }
    out[j] = x;
  }
}

float rt_task_next_sentence(const float *logits) {
  float p[2];
  rt_softmax(logits, 2, p);
  return p[0];
}
