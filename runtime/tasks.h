/* Task post-processing: from a run's output tensors and the encoding of the
 * input to answers, with the rules of the HuggingFace pipelines so that the
 * numbers, labels and spans agree with them:
 *
 *   embedding              the graph pools and normalizes; nothing to do
 *   fill-mask              FillMaskPipeline: softmax per mask, top-k, decoded
 *                          token and filled-in sequence
 *   next-sentence          softmax over the two logits, index 0 = "B follows A"
 *   sequence-classification TextClassificationPipeline: softmax / sigmoid /
 *                          none chosen from problem_type and num_labels,
 *                          labels sorted by score
 *   token-classification   TokenClassificationPipeline: per-token labels,
 *                          aggregation none / simple / first / average / max,
 *                          entity grouping, character spans and words
 *   question-answering     QuestionAnsweringPipeline (transformers 4.x):
 *                          question + context windows with a doc stride,
 *                          masked softmax, span search, word alignment
 *
 * Everything here is plain C over float arrays and tok_encoding_t, so a
 * program that runs a model through the public API (bertc/bertc.h) and
 * tokenizes with tokenizer/tokenizer.h can post-process the same way the CLI
 * does. Character offsets are Unicode code points of the caller's text, as
 * the tokenizer reports them. Internal header (not installed); the CLI and
 * the examples use it. */
#ifndef BERTC_RUNTIME_TASKS_H
#define BERTC_RUNTIME_TASKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bertc/status.h"
#include "bertc/tasks.h"
#include "tokenizer/tokenizer.h"

#ifdef __cplusplus
extern "C" {
#endif

struct json_t; /* jansson's json_t */

/* ------------------------------------------------------------ task facts -- */

/* What post-processing needs to know about a model, from the metadata JSON a
 * .so carries (bertc_model_metadata) or the frontend writes. */
typedef struct rt_task_model {
  bertc_task_t task;
  int32_t num_labels;
  char **labels;          /* id2label, num_labels entries */
  char problem_type[48];  /* "", "regression", "single_label_classification", ... */
  int64_t max_seq_length; /* the longest input the model takes (tokens) */
} rt_task_model_t;

bertc_status_t rt_task_model_from_metadata(const struct json_t *metadata,
                                           rt_task_model_t *out) BERTC_MUST_USE;
void rt_task_model_deinit(rt_task_model_t *m);

/* --------------------------------------------------------------- decoder -- */

/* The tokenizer's way back from tokens to text, read from the same files as
 * the tokenizer (tokenizer.json's "decoder", its special added tokens, and
 * tokenizer_config.json): HF `tokenizers` decoders WordPiece and ByteLevel,
 * then transformers' clean_up_tokenization_spaces. It also knows the special
 * token ids the pipelines use (unk, cls, mask, pad) and how tokens group into
 * words. It borrows the tokenizer, which must outlive it. */
typedef struct rt_decoder rt_decoder_t;

/* From a packed tokenizer blob (tok_pack_dir, or a .so descriptor's
 * tokenizer_blob). A decoder type bertc does not know is not an error here;
 * decoding with it is. */
bertc_status_t rt_decoder_create(const tok_tokenizer_t *tokenizer, const uint8_t *blob, size_t size,
                                 rt_decoder_t **out) BERTC_MUST_USE;
/* From a model directory's tokenizer files. */
bertc_status_t rt_decoder_create_dir(const tok_tokenizer_t *tokenizer, const char *dir,
                                     rt_decoder_t **out) BERTC_MUST_USE;
void rt_decoder_release(rt_decoder_t *d);

const tok_tokenizer_t *rt_decoder_tokenizer(const rt_decoder_t *d);
/* tokenizer.decode(ids, skip_special_tokens): heap string. */
bertc_status_t rt_decoder_decode(const rt_decoder_t *d, const int32_t *ids, size_t n,
                                 bool skip_special_tokens, char **out) BERTC_MUST_USE;
/* tokenizer.convert_tokens_to_string(tokens): heap string. */
bertc_status_t rt_decoder_join(const rt_decoder_t *d, const char *const *tokens, size_t n,
                               char **out) BERTC_MUST_USE;
/* Encoding.word_ids(): for each token the index of the pre-tokenizer word it
 * came from within its sequence, -1 for special tokens. text / text_pair are
 * what was encoded. out has enc->len entries. */
bertc_status_t rt_decoder_word_ids(const rt_decoder_t *d, const char *text, size_t text_len,
                                   const char *text_pair, size_t pair_len, const tok_encoding_t *enc,
                                   int32_t *out) BERTC_MUST_USE;

/* -------------------------------------------------------- classification -- */

typedef enum rt_class_fn_e {
  RT_CLASS_FN_DEFAULT = 0, /* regression: none; multi-label or 1 label: sigmoid; else softmax */
  RT_CLASS_FN_SOFTMAX,
  RT_CLASS_FN_SIGMOID,
  RT_CLASS_FN_NONE,
} rt_class_fn_t;

/* Parses "softmax" / "sigmoid" / "none" / "default". */
bool rt_class_fn_from_name(const char *name, rt_class_fn_t *out);

typedef struct rt_label_score {
  int32_t label; /* index into rt_task_model_t.labels */
  float score;
} rt_label_score_t;

/* Scores every label of one sequence's logits [num_labels] with `fn` and
 * sorts them by descending score (ties keep label order, as Python's sort).
 * out has m->num_labels entries. */
void rt_task_classify(const rt_task_model_t *m, const float *logits, rt_class_fn_t fn,
                      rt_label_score_t *out);

/* Probability that the second text follows the first: softmax of the two
 * next-sentence logits, entry 0. */
float rt_task_next_sentence(const float *logits);

/* ------------------------------------------------------------- fill-mask -- */

typedef struct rt_fill_candidate {
  int32_t token;
  float score;
  char *token_str; /* decode([token]) */
  char *sequence;  /* the input with the mask filled, decoded without padding;
                      special tokens skipped when there is one mask only */
} rt_fill_candidate_t;

typedef struct rt_fill_mask {
  int32_t position; /* token index of the mask */
  int32_t count;
  rt_fill_candidate_t *candidates; /* by descending score */
} rt_fill_mask_t;

typedef struct rt_fill_mask_result {
  int32_t num_masks;
  rt_fill_mask_t *masks;
} rt_fill_mask_result_t;

/* logits: [enc->len, vocab] for one sequence. Fails when the encoding holds
 * no mask token. top_k is capped at vocab. */
bertc_status_t rt_task_fill_mask(const rt_decoder_t *d, const tok_encoding_t *enc,
                                 const float *logits, int64_t vocab, int32_t top_k,
                                 rt_fill_mask_result_t *out) BERTC_MUST_USE;
void rt_fill_mask_result_deinit(rt_fill_mask_result_t *r);

/* -------------------------------------------------- token classification -- */

typedef enum rt_aggregation_e {
  RT_AGG_NONE = 0, /* one entry per token */
  RT_AGG_SIMPLE,   /* group adjacent tokens with the same tag */
  RT_AGG_FIRST,    /* words take their first token's label, then group */
  RT_AGG_AVERAGE,  /* words take the label of their averaged scores */
  RT_AGG_MAX,      /* words take the label of their most confident token */
} rt_aggregation_t;

bool rt_aggregation_from_name(const char *name, rt_aggregation_t *out);
const char *rt_aggregation_name(rt_aggregation_t agg);

typedef struct rt_entity {
  char *label; /* "entity" with RT_AGG_NONE, "entity_group" otherwise */
  float score;
  char *word;
  int32_t start, end; /* code points into the text */
  int32_t index;      /* token index (RT_AGG_NONE), -1 otherwise */
} rt_entity_t;

typedef struct rt_entities {
  int32_t count;
  rt_entity_t *items;
} rt_entities_t;

/* logits: [enc->len, m->num_labels] for the single-text encoding of `text`.
 * Labels in `ignore` (NULL: just "O") are dropped, as in the pipeline. */
bertc_status_t rt_task_token_classify(const rt_task_model_t *m, const rt_decoder_t *d,
                                      const char *text, size_t text_len, const tok_encoding_t *enc,
                                      const float *logits, rt_aggregation_t agg,
                                      const char *const *ignore, size_t num_ignore,
                                      rt_entities_t *out) BERTC_MUST_USE;
void rt_entities_deinit(rt_entities_t *e);

/* -------------------------------------------------- question answering -- */

typedef struct rt_qa_options {
  int32_t top_k;          /* answers returned (default 1) */
  int32_t max_answer_len; /* tokens (default 15) */
  int32_t max_seq_len;    /* window length; 0 = min(384, model max) (default 0) */
  /* Overlap of windows; -1 (the default) = min(max_seq_len / 2, 128), halved
   * further when a long question leaves fewer context tokens per window. */
  int32_t doc_stride;
  bool handle_impossible_answer; /* default false */
  bool align_to_words;           /* widen spans to whole words (default true) */
} rt_qa_options_t;

void rt_qa_options_init(rt_qa_options_t *o);

/* One model input: a window of the question + context encoding. */
typedef struct rt_qa_window {
  int32_t len;
  int32_t *ids, *type_ids;
  int32_t *source; /* index of each token in rt_qa_features_t.full */
} rt_qa_window_t;

typedef struct rt_qa_features {
  tok_encoding_t full; /* question + context, untruncated */
  int32_t *word_ids;  /* per token of full */
  int32_t num_windows;
  rt_qa_window_t *windows;
  int32_t max_seq_len, doc_stride; /* as resolved */
} rt_qa_features_t;

/* Encodes question + context and cuts the context into windows of at most
 * max_seq_len tokens overlapping by doc_stride, like the fast tokenizer with
 * truncation="only_second" and return_overflowing_tokens. model_max is the
 * longest sequence the model runs (used when o->max_seq_len is 0). */
bertc_status_t rt_task_qa_features(const rt_decoder_t *d, const char *question, size_t question_len,
                                   const char *context, size_t context_len, int64_t model_max,
                                   const rt_qa_options_t *o, rt_qa_features_t *out) BERTC_MUST_USE;
void rt_qa_features_deinit(rt_qa_features_t *f);

typedef struct rt_qa_answer {
  char *answer;
  double score;
  int32_t start, end; /* code points into the context */
} rt_qa_answer_t;

typedef struct rt_qa_answers {
  int32_t count;
  rt_qa_answer_t *items; /* by descending score, at most top_k */
} rt_qa_answers_t;

/* start_logits[w] / end_logits[w]: the outputs of window w (windows[w].len
 * values each). */
bertc_status_t rt_task_qa_answers(const rt_decoder_t *d, const rt_qa_features_t *f,
                                  const char *context, size_t context_len,
                                  const float *const *start_logits, const float *const *end_logits,
                                  const rt_qa_options_t *o, rt_qa_answers_t *out) BERTC_MUST_USE;
void rt_qa_answers_deinit(rt_qa_answers_t *a);

#ifdef __cplusplus
}
#endif
#endif
