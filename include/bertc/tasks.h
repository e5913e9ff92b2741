/* bertc tasks: what a model is compiled for, and the answers its outputs
 * turn into.
 *
 * The task vocabulary is shared by the compiler (model.json "task", `bertc
 * compile --task`) and the runtime (the .so metadata's "task"). */
#ifndef BERTC_TASKS_H
#define BERTC_TASKS_H

#include <stdbool.h>
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

/* The engine of a context (it refers to the context, which must outlive it). */
void bertc_context_engine(bertc_context_t *context, bertc_engine_t *out_engine);

#ifdef __cplusplus
}
#endif
#endif
