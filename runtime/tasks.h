/* Task post-processing inside the runtime: from one sequence's output
 * tensors and the encoding of its input to the answers of bertc/tasks.h,
 * with the rules of the HuggingFace pipelines so that the numbers, labels
 * and spans agree with them:
 *
 *   fill-mask               FillMaskPipeline: softmax per mask, top-k,
 *                           decoded token and filled-in sequence
 *                           (task_fill_mask.c)
 *   sequence-classification TextClassificationPipeline: softmax / sigmoid /
 *                           none chosen from problem_type and num_labels,
 *                           labels sorted by score; next-sentence: softmax
 *                           over the two logits, index 0 (task_classify.c)
 *   token-classification    TokenClassificationPipeline: per-token labels,
 *                           aggregation none / simple / first / average /
 *                           max, entity grouping, character spans and words
 *                           (task_tokens.c)
 *   question-answering      QuestionAnsweringPipeline (transformers 4.x):
 *                           question + context windows with a doc stride,
 *                           masked softmax, span search, word alignment
 *                           (task_qa.c)
 *
 * The model facts they need come from the metadata (task_meta.c); turning
 * tokens back into text and finding words is the tokenizer's
 * (tokenizer/tokenizer.h). pipeline.c strings them together over an
 * engine. Internal header (not installed). */
#ifndef BERTC_RUNTIME_TASKS_H
#define BERTC_RUNTIME_TASKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "bertc/bertc.h"
#include "bertc/status.h"
#include "bertc/tasks.h"
#include "tokenizer/tokenizer.h"

/* ------------------------------------------------------------ task facts -- */

/* What post-processing needs to know about a model, from the metadata JSON a
 * .so carries (bertc_model_metadata_json) or the compiler writes. */
typedef struct rt_task_model {
  bertc_task_t task;
  int32_t num_labels;
  char **labels;          /* id2label, num_labels entries */
  char problem_type[48];  /* "", "regression", "single_label_classification", ... */
  int64_t max_seq_length; /* the longest input the model takes (tokens); 0 unknown */
  int32_t pad_id;         /* pad_token_id; 0 when absent */
} rt_task_model_t;

bertc_status_t rt_task_model_from_metadata(const json_t *metadata,
                                           rt_task_model_t *out) BERTC_MUST_USE;
void rt_task_model_deinit(rt_task_model_t *m);
/* The metadata's "pad_token_id" when it is an int32 >= 0, else 0. */
int32_t rt_metadata_pad_id(const json_t *metadata);

/* The tokenizer behind a public one (model_tokenizer.c). */
const tok_tokenizer_t *rt_tokenizer_tok(const bertc_tokenizer_t *tokenizer);
/* Copies the tokens `index[0, n)` of `e` (all of them when index is NULL)
 * into a public encoding; out is zeroed on failure. */
bertc_status_t rt_encoding_copy(const tok_encoding_t *e, const int32_t *index, size_t n,
                                bertc_encoding_t *out) BERTC_MUST_USE;

/* The options a pipeline was created with (pipeline.c). */
const bertc_pipeline_options_t *rt_pipeline_options(const bertc_pipeline_t *pipeline);

/* -------------------------------------------------------- classification -- */

/* numpy's softmax as the pipelines write it: exp(x - max) / sum, in double. */
void rt_softmax(const float *x, int64_t n, float *out);

/* Scores every label of one sequence's logits [num_labels] with `fn` and
 * sorts them by descending score (ties keep label order, as Python's sort).
 * out has m->num_labels entries; names point at m->labels. */
void rt_task_classify(const rt_task_model_t *m, const float *logits, bertc_score_function_t fn,
                      bertc_label_score_t *out);

/* Probability that the second text follows the first: softmax of the two
 * next-sentence logits, entry 0. */
float rt_task_next_sentence(const float *logits);

/* ------------------------------------------------------------- fill-mask -- */

/* logits: [enc->len, vocab] for one sequence. Fails when the encoding holds
 * no mask token. top_k is capped at vocab. */
bertc_status_t rt_task_fill_mask(const tok_tokenizer_t *t, const tok_encoding_t *enc,
                                 const float *logits, int64_t vocab, int32_t top_k,
                                 bertc_fill_mask_t *out) BERTC_MUST_USE;

/* -------------------------------------------------- token classification -- */

/* logits: [enc->len, m->num_labels] for the single-text encoding of `text`.
 * Labels in `ignore` (NULL: just "O") are dropped, as in the pipeline. */
bertc_status_t rt_task_token_classify(const rt_task_model_t *m, const tok_tokenizer_t *t,
                                      const char *text, size_t text_len,
                                      const tok_encoding_t *enc, const float *logits,
                                      bertc_aggregation_t agg, const char *const *ignore,
                                      size_t num_ignore, bertc_entities_t *out) BERTC_MUST_USE;

/* -------------------------------------------------- question answering -- */

/* One model input: a window of the question + context encoding. */
typedef struct rt_qa_window {
  int32_t len;
  int32_t *ids, *type_ids;
  int32_t *source; /* index of each token in rt_qa_features_t.full */
} rt_qa_window_t;

typedef struct rt_qa_features {
  tok_encoding_t full; /* question + context, untruncated */
  int32_t num_windows;
  rt_qa_window_t *windows;
  int32_t max_seq_len, doc_stride; /* as resolved */
} rt_qa_features_t;

/* Encodes question + context and cuts the context into windows of at most
 * o->max_window_length tokens overlapping by o->doc_stride, like the fast
 * tokenizer with truncation="only_second" and return_overflowing_tokens.
 * model_max is the longest sequence the model runs (the window length when
 * o->max_window_length is 0 is min(384, model_max)). */
bertc_status_t rt_task_qa_features(const tok_tokenizer_t *t, const char *question,
                                   size_t question_len, const char *context, size_t context_len,
                                   int64_t model_max, const bertc_pipeline_options_t *o,
                                   rt_qa_features_t *out) BERTC_MUST_USE;
void rt_qa_features_deinit(rt_qa_features_t *f);

/* start_logits[w] / end_logits[w]: the outputs of window w (windows[w].len
 * values each). At most o->top_k answers (0: 1). */
bertc_status_t rt_task_qa_answers(const tok_tokenizer_t *t, const rt_qa_features_t *f,
                                  const char *context, size_t context_len,
                                  const float *const *start_logits,
                                  const float *const *end_logits,
                                  const bertc_pipeline_options_t *o,
                                  bertc_qa_answers_t *out) BERTC_MUST_USE;

#endif
