/* bertc tasks: what a model is compiled for, and the answers its outputs
 * turn into.
 *
 * The task vocabulary is shared by the compiler (model.json "task", `bertc
 * compile --task`) and the runtime (the .so metadata's "task").
 *
 * A pipeline turns text into answers the way the HuggingFace pipelines do
 * (transformers' FillMaskPipeline, TextClassificationPipeline,
 * TokenClassificationPipeline, QuestionAnsweringPipeline; sentence-
 * transformers' encode for embeddings): it tokenizes, runs the token
 * sequences through an engine in batches, and post-processes the outputs
 * into typed answers or the JSON `bertc run` prints (docs/cli.md).
 *
 *     bertc_pipeline_t *p = NULL;
 *     s = bertc_pipeline_create_from_context(ctx, NULL, &p);
 *     bertc_fill_mask_t fm;
 *     if (!s) s = bertc_pipeline_fill_mask(p, text, strlen(text), &fm);
 *     if (!s) printf("%s\n", fm.masks[0].candidates[0].sequence);
 *     bertc_fill_mask_deinit(&fm);
 *     bertc_pipeline_release(p);
 *
 * Character offsets in answers (start, end) count Unicode code points of the
 * text they refer to. A pipeline belongs to one caller at a time (its engine
 * does). Strings in answers are heap copies owned by the answer, except
 * label names, which belong to the pipeline. */
#ifndef BERTC_TASKS_H
#define BERTC_TASKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bertc/bertc.h"
#include "bertc/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum bertc_task_e {
  BERTC_TASK_AUTO = 0,                /* compile only: from the checkpoint (sentence-
                                         transformers metadata, then architectures[0]) */
  BERTC_TASK_ENCODER = 1,             /* last_hidden_state (+ pooler_output) */
  BERTC_TASK_EMBEDDING = 2,           /* sentence_embedding, pooled (+ normalized) */
  BERTC_TASK_FILL_MASK = 3,           /* logits [batch, seq, vocab] */
  BERTC_TASK_NSP = 4,                 /* logits [batch, 2] */
  BERTC_TASK_PRETRAINING = 5,         /* prediction_logits + seq_relationship_logits */
  BERTC_TASK_SEQUENCE_CLASSIFICATION = 6, /* logits [batch, labels] */
  BERTC_TASK_TOKEN_CLASSIFICATION = 7,    /* logits [batch, seq, labels] */
  BERTC_TASK_QUESTION_ANSWERING = 8,      /* start_logits, end_logits [batch, seq] */
  BERTC_TASK_DISCRIMINATOR = 9,           /* ELECTRA replaced-token logits [batch, seq] */
} bertc_task_t;

/* "fill-mask", "question-answering", ...; "?" for values outside the enum. */
const char *bertc_task_name(bertc_task_t task);
/* The inverse of bertc_task_name ("auto" included); false for unknown names. */
bool bertc_task_from_name(const char *name, bertc_task_t *out);

/* ---------------------------------------------------------------- engine -- */

/* What runs token sequences for task post-processing: a context of a
 * compiled model (bertc_context_engine) or the compiler's reference
 * interpreter (bertc_reference_engine in bertc/compiler.h). Calls have the
 * meaning of bertc_context_run / bertc_context_output; output views stay
 * valid until the next run. `self` belongs to whoever filled the struct. */
typedef struct bertc_engine {
  void *self;
  bertc_status_t (*run)(void *self, const bertc_run_input_t *in);
  uint32_t (*num_outputs)(void *self);
  bertc_status_t (*output)(void *self, uint32_t index, bertc_tensor_view_t *out_view);
  int32_t max_batch; /* sequences one run accepts */
  int32_t max_seq;   /* tokens one sequence may have */
  int32_t pad_id;    /* the id padding is filled with */
} bertc_engine_t;

/* The engine of a context (it refers to the context, which must outlive it):
 * runs of at most bertc_context_max_batch sequences of at most
 * bertc_model_max_seq tokens, padded with the metadata's pad_token_id (0 when
 * it has none). */
void bertc_context_engine(bertc_context_t *context, bertc_engine_t *out_engine);

/* The output tensors of sequence `index` of the engine's last run, whose
 * input was `in`, as one JSON object (what `bertc run --raw` prints): each
 * output by name (sentence_embedding as "embedding"), float32 values with 9
 * significant digits, nested arrays by dimension; outputs whose second
 * dimension is the run's longest length are cut to the sequence's length.
 * out_json is a heap string without a newline (NULL on failure). */
bertc_status_t bertc_engine_output_json(const bertc_engine_t *engine, const bertc_run_input_t *in,
                                        int32_t index, char **out_json) BERTC_MUST_USE;

/* -------------------------------------------------------------- answers -- */

/* fill-mask: the top_k tokens for each mask token, by descending softmax
 * probability (lower id first on ties). */
typedef struct bertc_fill_candidate {
  int32_t token;
  float score;
  char *token_str; /* the token decoded alone */
  char *sequence;  /* the input with the token in the mask's place, decoded without
                      padding; special tokens skipped when there is one mask only */
} bertc_fill_candidate_t;

typedef struct bertc_mask_fill {
  int32_t position; /* token index of the mask */
  int32_t count;
  bertc_fill_candidate_t *candidates;
} bertc_mask_fill_t;

typedef struct bertc_fill_mask {
  int32_t num_masks; /* in input order */
  bertc_mask_fill_t *masks;
} bertc_fill_mask_t;

void bertc_fill_mask_deinit(bertc_fill_mask_t *fill_mask);

/* sequence-classification: labels by descending score (ties in label order). */
typedef struct bertc_label_score {
  int32_t label;    /* index into the model's labels */
  const char *name; /* the label's name (owned by the pipeline) */
  float score;
} bertc_label_score_t;

typedef struct bertc_labels {
  int32_t count;
  bertc_label_score_t *items;
} bertc_labels_t;

void bertc_labels_deinit(bertc_labels_t *labels);

/* token-classification: the entities found, in text order. */
typedef struct bertc_entity {
  char *label;        /* the token's label with aggregation none, else the group's
                         (B-/I- prefix removed) */
  float score;
  char *word;         /* the entity's tokens decoded */
  int32_t start, end; /* code points of the text */
  int32_t index;      /* token index with aggregation none, else -1 */
} bertc_entity_t;

typedef struct bertc_entities {
  int32_t count;
  bertc_entity_t *items;
} bertc_entities_t;

void bertc_entities_deinit(bertc_entities_t *entities);

/* question-answering: the best spans of the context, by descending score. */
typedef struct bertc_qa_answer {
  char *answer;
  double score;
  int32_t start, end; /* code points of the context */
} bertc_qa_answer_t;

typedef struct bertc_qa_answers {
  int32_t count; /* at most top_k; 0 when the context has no possible span */
  bertc_qa_answer_t *items;
} bertc_qa_answers_t;

void bertc_qa_answers_deinit(bertc_qa_answers_t *answers);

/* embedding: the sentence embedding (pooled, normalized when the model does). */
typedef struct bertc_embedding {
  int32_t size;
  float *values;
} bertc_embedding_t;

void bertc_embedding_deinit(bertc_embedding_t *embedding);

/* discriminator: per token, the probability that it was replaced. */
typedef struct bertc_replaced_tokens {
  int32_t count;
  char **tokens;         /* the input's tokens, special ones included */
  double *probabilities; /* sigmoid of the logits */
} bertc_replaced_tokens_t;

void bertc_replaced_tokens_deinit(bertc_replaced_tokens_t *replaced);

/* encoder (or the raw option): one sequence's output tensors. */
typedef struct bertc_output {
  char *name;
  int32_t rank;    /* the model output's rank less the batch dimension */
  int64_t dims[3]; /* a per-token dimension is the sequence's length */
  float *data;     /* dense row-major; one value for rank 0 */
} bertc_output_t;

typedef struct bertc_outputs {
  int32_t count;
  bertc_output_t *items;
} bertc_outputs_t;

void bertc_outputs_deinit(bertc_outputs_t *outputs);

/* One input's answer: the members of the pipeline's task are filled, the
 * others are zero. */
typedef struct bertc_answer {
  bertc_task_t task;
  bool raw;                     /* outputs holds the answer (raw option, encoder task) */
  bool truncated;               /* the input was cut to the tokenizer's max length */
  bertc_fill_mask_t fill_mask;  /* fill-mask; pretraining when the input has a mask */
  bool has_is_next;             /* next-sentence, pretraining */
  float is_next;                /* probability that text_pair follows text */
  bertc_labels_t labels;        /* sequence-classification */
  bertc_entities_t entities;    /* token-classification */
  bertc_qa_answers_t answers;   /* question-answering */
  bertc_embedding_t embedding;  /* embedding */
  bertc_replaced_tokens_t replaced; /* discriminator */
  bertc_outputs_t outputs;      /* encoder, raw */
} bertc_answer_t;

void bertc_answer_deinit(bertc_answer_t *answer);

/* ------------------------------------------------------------- pipeline -- */

/* How token classification merges tokens (TokenClassificationPipeline's
 * aggregation_strategy). */
typedef enum bertc_aggregation_e {
  BERTC_AGGREGATION_NONE = 0,    /* one entity per token */
  BERTC_AGGREGATION_SIMPLE = 1,  /* adjacent tokens with the same tag form a group */
  BERTC_AGGREGATION_FIRST = 2,   /* words take their first token's label, then group */
  BERTC_AGGREGATION_AVERAGE = 3, /* words take the label of their averaged scores */
  BERTC_AGGREGATION_MAX = 4,     /* words take the label of their most confident token */
} bertc_aggregation_t;

/* "none", "simple", "first", "average", "max"; "?" outside the enum. */
const char *bertc_aggregation_name(bertc_aggregation_t aggregation);
bool bertc_aggregation_from_name(const char *name, bertc_aggregation_t *out);

/* What sequence classification applies to the logits (function_to_apply). */
typedef enum bertc_score_function_e {
  BERTC_SCORE_FUNCTION_DEFAULT = 0, /* none for regression, sigmoid for multi-label or
                                       one label, else softmax */
  BERTC_SCORE_FUNCTION_SOFTMAX = 1,
  BERTC_SCORE_FUNCTION_SIGMOID = 2,
  BERTC_SCORE_FUNCTION_NONE = 3,
} bertc_score_function_t;

/* "default", "softmax", "sigmoid", "none". */
bool bertc_score_function_from_name(const char *name, bertc_score_function_t *out);

typedef struct bertc_pipeline_options {
  /* The task answers are for; BERTC_TASK_AUTO (default): the metadata's. The
   * engine's model must have the outputs it reads. */
  bertc_task_t task;
  /* Answer with the output tensors instead of post-processing (as the
   * encoder task does). Default false. */
  bool raw;
  /* Fill-mask candidates (0: 5), labels listed (0: all), answers (0: 1). */
  int32_t top_k;
  bertc_aggregation_t aggregation;  /* default BERTC_AGGREGATION_SIMPLE */
  bertc_score_function_t function;  /* default BERTC_SCORE_FUNCTION_DEFAULT */
  /* Labels token classification leaves out; NULL (default): "O". */
  const char *const *ignore_labels;
  size_t num_ignore_labels;
  /* Question answering: window length in tokens (0, the default: min(384,
   * the tokenizer's max length)); overlap of windows (-1, the default:
   * min(window / 2, 128), halved further when a long question leaves fewer
   * context tokens per window); the longest answer in tokens (default 15);
   * whether the empty answer competes (default false); whether spans widen
   * to whole words (default true). */
  int32_t max_window_length;
  int32_t doc_stride;
  int32_t max_answer_length;
  bool handle_impossible_answer;
  bool align_to_words;
  /* The most tokens one engine run takes (0, the default: no limit; a
   * longer sequence still runs, alone). On a model with token buckets a
   * run's sequences are packed together, so this bounds a pack. */
  int64_t max_batch_tokens;
} bertc_pipeline_options_t;

void bertc_pipeline_options_init(bertc_pipeline_options_t *options);

typedef struct bertc_pipeline_s bertc_pipeline_t;

/* A pipeline over `engine` (copied; what it refers to must outlive the
 * pipeline) for the model whose metadata JSON is `metadata_json` (task,
 * labels, problem_type, max_seq_length, as bertc_model_metadata_json gives
 * it), tokenizing with `tokenizer` (borrowed; it must outlive the
 * pipeline). engine NULL: the pipeline only encodes (bertc_pipeline_encode).
 * options may be NULL. */
bertc_status_t bertc_pipeline_create(const bertc_engine_t *engine, const char *metadata_json,
                                     const bertc_tokenizer_t *tokenizer,
                                     const bertc_pipeline_options_t *options,
                                     bertc_pipeline_t **out_pipeline) BERTC_MUST_USE;
/* A pipeline over a context's engine with its model's metadata and
 * tokenizer (bertc_tokenizer_create_from_model; fails when the model
 * carries none). The context must outlive the pipeline. */
bertc_status_t bertc_pipeline_create_from_context(bertc_context_t *context,
                                                  const bertc_pipeline_options_t *options,
                                                  bertc_pipeline_t **out_pipeline) BERTC_MUST_USE;
/* NULL is a no-op. */
void bertc_pipeline_release(bertc_pipeline_t *pipeline);

/* The task answers are for, and the one the metadata names. */
bertc_task_t bertc_pipeline_task(const bertc_pipeline_t *pipeline);
bertc_task_t bertc_pipeline_model_task(const bertc_pipeline_t *pipeline);
/* The model's labels (id2label; "LABEL_<i>" where the metadata has none). */
int32_t bertc_pipeline_num_labels(const bertc_pipeline_t *pipeline);
const char *bertc_pipeline_label(const bertc_pipeline_t *pipeline, int32_t index);
/* The metadata's max_seq_length (0 when absent): the longest input the
 * model takes, which the tokenizer's max length may undercut. */
int32_t bertc_pipeline_max_seq_length(const bertc_pipeline_t *pipeline);

/* One input: a text, or a pair (for question answering the question and the
 * context). UTF-8 with explicit lengths. */
typedef struct bertc_pipeline_input {
  const char *text;
  size_t text_length;
  const char *text_pair; /* NULL: a single text */
  size_t pair_length;
  /* How messages name the input ("input 3 (line 5)"); NULL: "input <i+1>"
   * with i its index in a run's inputs. */
  const char *name;
} bertc_pipeline_input_t;

/* Answers `count` inputs: each is encoded (an error if it does not suit the
 * task: no mask for fill-mask, no pair for next-sentence or question
 * answering, a pair for token classification), its token sequences (one, or
 * a question's windows) run through the engine in batches of its max_batch,
 * and post-processed. out_answers has `count` entries; on failure every one
 * is zeroed. Errors about an input start with its name. */
bertc_status_t bertc_pipeline_run(bertc_pipeline_t *pipeline, const bertc_pipeline_input_t *inputs,
                                  size_t count, bertc_answer_t *out_answers) BERTC_MUST_USE;

/* The JSON object `bertc run` prints for an answer (docs/cli.md), without a
 * newline. out_json is a heap string (NULL on failure). */
bertc_status_t bertc_answer_json(const bertc_pipeline_t *pipeline, const bertc_answer_t *answer,
                                 char **out_json) BERTC_MUST_USE;

/* Where bertc_pipeline_run_json delivers answers. */
typedef struct bertc_answer_sink {
  /* Each input's answer JSON (bertc_answer_json), in input order, as soon as
   * its last token sequence has run; an error stops the run and is
   * returned. */
  bertc_status_t (*answer)(void *user, size_t index, const char *json, size_t length);
  /* Called when an input was cut to the tokenizer's max length, when it is
   * encoded (before its answer or its error). May be NULL. */
  void (*truncated)(void *user, size_t index);
  void *user;
} bertc_answer_sink_t;

/* bertc_pipeline_run for any number of inputs, as JSON: inputs are encoded
 * in blocks and their answers delivered as they complete. When an input is
 * refused (see bertc_pipeline_run), the answers to the inputs before it are
 * delivered first, then its error is returned. */
bertc_status_t bertc_pipeline_run_json(bertc_pipeline_t *pipeline,
                                       const bertc_pipeline_input_t *inputs, size_t count,
                                       const bertc_answer_sink_t *sink) BERTC_MUST_USE;

/* Inputs checked and encoded ahead of running, so that encoding (on other
 * threads) overlaps running: bertc_pipeline_prepare only reads the pipeline
 * and its tokenizer, so several threads may prepare with one pipeline at
 * once, also while it runs. `inputs` (and their texts) must outlive the
 * result. A refused input does not fail the preparation: it stops there,
 * and bertc_pipeline_run_prepared_json returns its error after answering
 * the inputs before it. Inputs are numbered from first_index (answers'
 * indices, and "input <first_index + i + 1>" in messages when unnamed). */
typedef struct bertc_prepared_s bertc_prepared_t;
bertc_status_t bertc_pipeline_prepare(const bertc_pipeline_t *pipeline,
                                      const bertc_pipeline_input_t *inputs, size_t count,
                                      size_t first_index,
                                      bertc_prepared_t **out_prepared) BERTC_MUST_USE;
/* The tokens of the prepared inputs' token sequences. */
int64_t bertc_prepared_tokens(const bertc_prepared_t *prepared);
/* Runs prepared inputs as bertc_pipeline_run_json runs its inputs (answers
 * in order as they complete, then a refusal if there was one); the pipeline
 * must be the one that prepared them. Release them afterwards. */
bertc_status_t bertc_pipeline_run_prepared_json(bertc_pipeline_t *pipeline,
                                                bertc_prepared_t *prepared,
                                                const bertc_answer_sink_t *sink) BERTC_MUST_USE;
/* NULL is a no-op. */
void bertc_prepared_release(bertc_prepared_t *prepared);

/* One-input calls of bertc_pipeline_run, for the task they name (the
 * pipeline's task must be it; fill_mask also serves a pretraining model,
 * classify sequence classification, next_sentence next-sentence and
 * pretraining). Outputs are zeroed on failure. */
bertc_status_t bertc_pipeline_fill_mask(bertc_pipeline_t *pipeline, const char *text,
                                        size_t length,
                                        bertc_fill_mask_t *out_fill_mask) BERTC_MUST_USE;
bertc_status_t bertc_pipeline_classify(bertc_pipeline_t *pipeline, const char *text,
                                       size_t length, const char *text_pair, size_t pair_length,
                                       bertc_labels_t *out_labels) BERTC_MUST_USE;
bertc_status_t bertc_pipeline_next_sentence(bertc_pipeline_t *pipeline, const char *text,
                                            size_t length, const char *text_pair,
                                            size_t pair_length,
                                            float *out_probability) BERTC_MUST_USE;
bertc_status_t bertc_pipeline_token_classify(bertc_pipeline_t *pipeline, const char *text,
                                             size_t length,
                                             bertc_entities_t *out_entities) BERTC_MUST_USE;
bertc_status_t bertc_pipeline_question_answering(bertc_pipeline_t *pipeline,
                                                 const char *question, size_t question_length,
                                                 const char *context, size_t context_length,
                                                 bertc_qa_answers_t *out_answers) BERTC_MUST_USE;
bertc_status_t bertc_pipeline_embed(bertc_pipeline_t *pipeline, const char *text, size_t length,
                                    bertc_embedding_t *out_embedding) BERTC_MUST_USE;

/* The token sequences an input becomes: the question's windows for a
 * question-answering pipeline given a pair, else the tokenizer's encoding. */
typedef struct bertc_features {
  int32_t count;
  bertc_encoding_t *sequences;
  bool windows;   /* question-answering windows */
  bool truncated; /* the encoding was cut to the tokenizer's max length */
} bertc_features_t;

/* Encodes one input without checking it against the task and without
 * running anything. out_features is zeroed on failure. */
bertc_status_t bertc_pipeline_encode(const bertc_pipeline_t *pipeline,
                                     const bertc_pipeline_input_t *input,
                                     bertc_features_t *out_features) BERTC_MUST_USE;
void bertc_features_deinit(bertc_features_t *features);
/* What `bertc tokenize` prints for them: {"ids", "tokens", "type_ids",
 * "offsets"}, or {"windows": [...]} of such objects. out_json is a heap
 * string without a newline (NULL on failure). */
bertc_status_t bertc_features_json(const bertc_features_t *features,
                                   char **out_json) BERTC_MUST_USE;

#ifdef __cplusplus
}
#endif
#endif
