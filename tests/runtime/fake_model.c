/* A model .so written by hand: it implements the ABI in bertc/abi.h without
 * LLVM so the runtime can be tested on its own. Compile definitions make the
 * variants the tests need (tests/runtime/CMakeLists.txt):
 *   (none)             a good model with embedded weights
 *   FAKE_EXTERNAL      the same model with its weights in fake_external.weights
 *   FAKE_ABI_VERSION=n a descriptor claiming ABI version n (1: an older bertc's
 *                      model)
 *   FAKE_ABI_NONE      a query that supports no version the runtime asks for
 *   FAKE_FLAGS=f       descriptor flags f instead of BERTC_ABI_FLAG_NEEDS_SGEMM
 *   FAKE_BAD_MAGIC     a descriptor with the wrong magic
 *   FAKE_CPU, FAKE_FEATURES  the target it claims to be compiled for
 *   FAKE_MULTI         two code variants: first one for FAKE_CPU/FAKE_FEATURES
 *                      whose entries fail with status 9, then one for plain
 *                      x86-64 (the top-level fields are the first's)
 *   FAKE_NO_QUERY      a plain .so without bertc_model_query
 *
 * The model: vocab 100, 2 token types, hidden size 4, buckets (batch 1, seq 4)
 * and (batch 2, seq 8). Its outputs are easy to predict from the inputs:
 *   last_hidden_state[b,s,:] = {id, 100*type + s, ones in the row's mask,
 *                               id * W[0][1]}     where mask[b,s] = 1,
 *                            = {-1, -1, -1, -1}   where mask[b,s] = 0;
 *   token_flags[b,0,s] = id, token_flags[b,1,s] = mask       (I32 [b, 2, s]);
 *   pooler_output[b,:] = last_hidden_state[b,0,:] @ W   (W: the 4x4 weights).
 * Positions run through env->parallel_for, the pooler through env->sgemm (the
 * descriptor's flags say so), and the CLS rows pass through the arena. An
 * input id of 99 makes the entry fail with status 7, to test error
 * reporting. */
#include <stdint.h>
#include <string.h>

#include "bertc/abi.h"

#define FAKE_EXPORT __attribute__((visibility("default")))

#ifndef FAKE_NO_QUERY

#ifndef FAKE_ABI_VERSION
#define FAKE_ABI_VERSION BERTC_ABI_VERSION
#endif
#ifdef FAKE_BAD_MAGIC
#define FAKE_MAGIC 0x4C4C554Eu /* "NULL" */
#else
#define FAKE_MAGIC BERTC_ABI_MAGIC
#endif
#ifndef FAKE_FLAGS
#define FAKE_FLAGS BERTC_ABI_FLAG_NEEDS_SGEMM
#endif
#ifndef FAKE_CPU
#define FAKE_CPU "x86-64"
#endif
#ifndef FAKE_FEATURES /* what every x86-64 host has, plus entries to skip */
#define FAKE_FEATURES "+sse2,+cx8,-avx512f,+prefer-256-bit,-amx-tile,+64bit"
#endif

#define HIDDEN 4
#define POISON_ID 99

/* base_hash64 of fake_weights; test_runtime checks that the two agree. */
#define FAKE_WEIGHTS_HASH 0x36cd6919539f67fdull

static const float fake_weights[HIDDEN * HIDDEN] __attribute__((aligned(64))) = {
    0.5f, 2.0f,  -1.0f, 0.25f, //
    1.0f, -0.5f, 0.0f,  3.0f,  //
    0.0f, 1.5f,  2.0f,  -2.0f, //
    4.0f, 0.0f,  0.75f, 1.0f,
};

typedef struct fake_job {
  int32_t seq;
  const int32_t *ids, *types, *mask;
  float *hidden;
  int32_t *flags;
  const float *w;
} fake_job_t;

static void fake_position(void *ctx, int64_t index) {
  const fake_job_t *j = ctx;
  int64_t b = index / j->seq, s = index % j->seq;
  const int32_t *mask_row = j->mask + b * j->seq;
  int32_t ones = 0;
  for (int32_t t = 0; t < j->seq; t++) ones += mask_row[t];
  float *h = j->hidden + index * HIDDEN;
  int32_t id = j->ids[index];
  j->flags[(b * 2 + 0) * j->seq + s] = id;
  j->flags[(b * 2 + 1) * j->seq + s] = mask_row[s];
  if (!mask_row[s]) {
    for (int k = 0; k < HIDDEN; k++) h[k] = -1.0f;
    return;
  }
  h[0] = (float)id;
  h[1] = (float)(100 * j->types[index] + s);
  h[2] = (float)ones;
  h[3] = (float)id * j->w[1];
}

/* Inputs in descriptor order: input_ids, attention_mask, token_type_ids.
 * Outputs: last_hidden_state, pooler_output, token_flags. */
static int32_t fake_run(const bertc_env_t *env, const uint8_t *weights, uint8_t *arena,
                        const void *const *inputs, void *const *outputs, int32_t batch,
                        int32_t seq) {
  if (!env || env->abi_version != BERTC_ABI_VERSION || env->num_threads < 1 ||
      !env->parallel_for || !env->sgemm)
    return 1;
  if ((uintptr_t)arena % 64) return 2;
  if (!weights || (uintptr_t)weights % 64) return 3;
  fake_job_t j = {seq,     inputs[0],  inputs[2], inputs[1], outputs[0],
                  outputs[2], (const float *)(const void *)weights};
  for (int32_t i = 0; i < batch * seq; i++)
    if (j.ids[i] == POISON_ID) return 7;
  env->parallel_for(env, (int64_t)batch * seq, fake_position, &j);
  float *cls = (float *)(void *)arena;
  for (int32_t b = 0; b < batch; b++)
    memcpy(cls + b * HIDDEN, j.hidden + (int64_t)b * seq * HIDDEN, sizeof(float) * HIDDEN);
  env->sgemm(env, 0, batch, HIDDEN, HIDDEN, 1.0f, cls, HIDDEN, j.w, HIDDEN, 0.0f,
             (float *)outputs[1], HIDDEN);
  return 0;
}

static int32_t fake_entry_b1_s4(const bertc_env_t *env, const uint8_t *weights, uint8_t *arena,
                                const void *const *inputs, void *const *outputs) {
  return fake_run(env, weights, arena, inputs, outputs, 1, 4);
}

static int32_t fake_entry_b2_s8(const bertc_env_t *env, const uint8_t *weights, uint8_t *arena,
                                const void *const *inputs, void *const *outputs) {
  return fake_run(env, weights, arena, inputs, outputs, 2, 8);
}

static const bertc_abi_bucket_t fake_buckets[] = {
    {.batch = 1, .seq = 4, .entry = fake_entry_b1_s4, .arena_bytes = 1 * HIDDEN * sizeof(float)},
    {.batch = 2, .seq = 8, .entry = fake_entry_b2_s8, .arena_bytes = 2 * HIDDEN * sizeof(float)},
};

#ifdef FAKE_MULTI
static int32_t fake_entry_wrong(const bertc_env_t *env, const uint8_t *weights, uint8_t *arena,
                                const void *const *inputs, void *const *outputs) {
  (void)env, (void)weights, (void)arena, (void)inputs, (void)outputs;
  return 9; /* a variant the host cannot run must never be called */
}
static const bertc_abi_bucket_t fake_wrong_buckets[] = {
    {.batch = 1, .seq = 4, .entry = fake_entry_wrong, .arena_bytes = 1 * HIDDEN * sizeof(float)},
    {.batch = 2, .seq = 8, .entry = fake_entry_wrong, .arena_bytes = 2 * HIDDEN * sizeof(float)},
};
static const bertc_abi_variant_t fake_variants[] = {
    {FAKE_CPU, FAKE_FEATURES, 4096, fake_wrong_buckets, NULL},
    {"x86-64", "+sse2,+cx8,+64bit", 4096, fake_buckets, NULL},
};
#define FAKE_TOP_BUCKETS fake_wrong_buckets
#else
static const bertc_abi_variant_t fake_variants[] = {
    {FAKE_CPU, FAKE_FEATURES, 4096, fake_buckets, NULL},
};
#define FAKE_TOP_BUCKETS fake_buckets
#endif

static const bertc_abi_tensor_t fake_inputs[] = {
    {"input_ids", BERTC_ABI_I32, 2, {BERTC_ABI_DIM_BATCH, BERTC_ABI_DIM_SEQ, 0, 0}},
    {"attention_mask", BERTC_ABI_I32, 2, {BERTC_ABI_DIM_BATCH, BERTC_ABI_DIM_SEQ, 0, 0}},
    {"token_type_ids", BERTC_ABI_I32, 2, {BERTC_ABI_DIM_BATCH, BERTC_ABI_DIM_SEQ, 0, 0}},
};

static const bertc_abi_tensor_t fake_outputs[] = {
    {"last_hidden_state", BERTC_ABI_F32, 3, {BERTC_ABI_DIM_BATCH, BERTC_ABI_DIM_SEQ, HIDDEN, 0}},
    {"pooler_output", BERTC_ABI_F32, 2, {BERTC_ABI_DIM_BATCH, HIDDEN, 0, 0}},
    {"token_flags", BERTC_ABI_I32, 3, {BERTC_ABI_DIM_BATCH, 2, BERTC_ABI_DIM_SEQ, 0}},
};

static const bertc_model_descriptor_t fake_descriptor = {
    .magic = FAKE_MAGIC,
    .abi_version = FAKE_ABI_VERSION,
    .model_name = "fake",
    .metadata_json = "{\"model_type\": \"fake\", \"vocab_size\": 100, "
                     "\"type_vocab_size\": 2, \"hidden_size\": 4, "
                     "\"labels\": [\"neg\", \"pos\"]}",
    .target_cpu = FAKE_CPU,
    .target_features = FAKE_FEATURES,
    .bertc_version = "0.1.0-fake",
#ifdef FAKE_EXTERNAL
    .weights = NULL,
    .weights_file = "fake_external.weights",
#else
    .weights = (const uint8_t *)fake_weights,
    .weights_file = NULL,
#endif
    .weights_size = sizeof(fake_weights),
    .weights_align = 64,
    .weights_hash = FAKE_WEIGHTS_HASH,
    .arena_size = 4096,
    .arena_align = 64,
    .num_buckets = 2,
    .num_inputs = 3,
    .num_outputs = 3,
    .flags = FAKE_FLAGS,
    .buckets = FAKE_TOP_BUCKETS,
    .inputs = fake_inputs,
    .outputs = fake_outputs,
    .tokenizer_blob = NULL,
    .tokenizer_blob_size = 0,
    .num_variants = sizeof fake_variants / sizeof fake_variants[0],
    .variants = fake_variants,
};

FAKE_EXPORT const bertc_model_descriptor_t *bertc_model_query(uint32_t max_abi_version);
FAKE_EXPORT const bertc_model_descriptor_t *bertc_model_query(uint32_t max_abi_version) {
#ifdef FAKE_ABI_NONE
  /* A model that implements only versions newer than the one asked for. */
  return max_abi_version > BERTC_ABI_VERSION ? &fake_descriptor : NULL;
#else
  /* The FAKE_ABI_VERSION variant answers regardless, as a model built against
   * another header would. */
  return max_abi_version >= 1 ? &fake_descriptor : NULL;
#endif
}

#else /* FAKE_NO_QUERY */

FAKE_EXPORT int fake_not_a_model(void);
FAKE_EXPORT int fake_not_a_model(void) { return 42; }

#endif
