/* The task vocabulary of include/bertc/tasks.h: one name table for the
 * compiler and the runtime. */
#include <string.h>

#include "base/base.h"
#include "bertc/tasks.h"

static const char *const task_names[] = {
    [BERTC_TASK_AUTO] = "auto",
    [BERTC_TASK_ENCODER] = "encoder",
    [BERTC_TASK_EMBEDDING] = "embedding",
    [BERTC_TASK_FILL_MASK] = "fill-mask",
    [BERTC_TASK_NSP] = "next-sentence",
    [BERTC_TASK_PRETRAINING] = "pretraining",
    [BERTC_TASK_SEQUENCE_CLASSIFICATION] = "sequence-classification",
    [BERTC_TASK_TOKEN_CLASSIFICATION] = "token-classification",
    [BERTC_TASK_QUESTION_ANSWERING] = "question-answering",
    [BERTC_TASK_DISCRIMINATOR] = "discriminator",
};

const char *bertc_task_name(bertc_task_t task) {
  return (unsigned)task < BASE_ARRAY_LEN(task_names) ? task_names[task] : "?";
}

bool bertc_task_from_name(const char *name, bertc_task_t *out) {
  for (size_t i = 0; i < BASE_ARRAY_LEN(task_names); i++)
    if (!strcmp(task_names[i], name)) {
      *out = (bertc_task_t)i;
      return true;
    }
  return false;
}
