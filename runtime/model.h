/* The loaded model shared by model.c and context.c. Internal header. */
#ifndef BERTC_RUNTIME_MODEL_H
#define BERTC_RUNTIME_MODEL_H

#include <jansson.h>
#include <stdatomic.h>

#include "bertc/bertc.h"
#include "base/base.h"

/* What each descriptor input is; the runtime fills them by role. */
typedef enum rt_input_role {
  RT_INPUT_IDS,
  RT_INPUT_TYPES,
  RT_INPUT_MASK,
} rt_input_role_t;

#define RT_MAX_INPUTS 3

struct bertc_model_s {
  atomic_int refs;
  char *path;
  void *dl;                              /* dlopen handle */
  const bertc_model_descriptor_t *desc;  /* &chosen once a variant is chosen */
  bertc_model_descriptor_t chosen;       /* the .so's, with the chosen variant's target,
                                            arena size and buckets */
  int32_t variant;                       /* index in desc->variants; -1: none fits */
  json_t *metadata;
  const uint8_t *weights;                /* embedded, or inside weights_map */
  base_mapped_file_t weights_map;
  bool inspect_only;
  int64_t vocab_size;
  int64_t type_vocab_size;               /* 0 without a token_type_ids input */
  int32_t max_batch, max_seq;
  uint8_t input_role[RT_MAX_INPUTS];     /* rt_input_role_t per descriptor input */
};

#endif
