/* The .so ABI: the one versioned contract between bertc's backend (which
 * writes model .so files) and the runtime (which loads them).
 *
 * A model .so exports exactly one symbol:
 *
 *     const bertc_model_descriptor_t *bertc_model_query(uint32_t max_abi_version);
 *
 * It returns a pointer to a constant descriptor whose abi_version is the
 * highest version the .so implements that is <= max_abi_version, or NULL when
 * it implements none of them. Everything the runtime needs is in the
 * descriptor: metadata, target, memory sizes, buckets, tensors, weights.
 *
 * The .so links only libc and libm. Threads and the BLAS fallback are imported
 * at run time through the bertc_env_t the runtime passes to each entry call;
 * the descriptor's flags say which of them the model needs. A runtime loads
 * only models of its own ABI version.
 *
 * Users who link a model statically (bertc compile --emit obj) can read this
 * header as the ABI's documentation; `bertc compile --emit header` writes a
 * copy specialised with the model's symbol names and sizes. */
#ifndef BERTC_ABI_H
#define BERTC_ABI_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define BERTC_ABI_VERSION 3u
#define BERTC_ABI_MAGIC 0x43545242u /* "BRTC" little-endian */
#define BERTC_ABI_QUERY_SYMBOL "bertc_model_query"

/* bertc_model_descriptor_t.flags: what the model needs from its host. A
 * runtime refuses a model with a flag it does not know. */
#define BERTC_ABI_FLAG_NEEDS_SGEMM 0x1u /* calls env->sgemm (compiled with --gemm blas) */
#define BERTC_ABI_KNOWN_FLAGS BERTC_ABI_FLAG_NEEDS_SGEMM

/* Dimension markers inside bertc_abi_tensor_t.dims: the bucket's batch size
 * and sequence length. Other dims are literal sizes. */
#define BERTC_ABI_DIM_BATCH (-1)
#define BERTC_ABI_DIM_SEQ (-2)

typedef enum bertc_abi_dtype_e {
  BERTC_ABI_F32 = 0,
  BERTC_ABI_I32 = 1,
} bertc_abi_dtype_t;

/* A parallel task: run task `index` of a loop over [0, count). */
typedef void (*bertc_abi_task_fn)(void *ctx, int64_t index);

/* What the host (the runtime) provides to generated code. The .so must work
 * when parallel_for runs tasks serially in order. */
typedef struct bertc_env {
  uint32_t abi_version;
  uint32_t num_threads; /* the most tasks parallel_for will run at once */
  void *host;           /* opaque, passed back to the callbacks */
  /* Runs fn(ctx, i) for every i in [0, count), possibly in parallel, and
   * returns when all are done. */
  void (*parallel_for)(const struct bertc_env *env, int64_t count,
                       bertc_abi_task_fn fn, void *ctx);
  /* Row-major C[m,n] = alpha * A[m,k] * op(B) + beta * C with op(B) = B[k,n]
   * (trans_b = 0) or B[n,k]^T (trans_b = 1); lda/ldb/ldc are row strides.
   * Single-threaded: callers parallelise around it. */
  void (*sgemm)(const struct bertc_env *env, int trans_b, int64_t m, int64_t n,
                int64_t k, float alpha, const float *a, int64_t lda, const float *b,
                int64_t ldb, float beta, float *c, int64_t ldc);
} bertc_env_t;

/* One compiled (batch, seq) shape. Inputs and outputs are dense row-major
 * buffers of exactly the bucket's shapes, in descriptor order. The arena is
 * arena_size bytes aligned to arena_align and belongs to the caller for the
 * duration of the call. Returns 0 on success. Never allocates. */
typedef int32_t (*bertc_abi_entry_fn)(const bertc_env_t *env, const uint8_t *weights,
                                      uint8_t *arena, const void *const *inputs,
                                      void *const *outputs);

typedef struct bertc_abi_bucket {
  int32_t batch;
  int32_t seq;
  bertc_abi_entry_fn entry;
  uint64_t arena_bytes; /* what this bucket uses of the arena */
  /* What the compiler planned, for tools (the runtime does not read them):
   * the most bytes of temporaries live at once, what one buffer per
   * temporary would take, and the kernel calls the entry makes. */
  uint64_t peak_live_bytes;
  uint64_t unplanned_bytes;
  uint64_t kernel_calls;
} bertc_abi_bucket_t;

typedef struct bertc_abi_tensor {
  const char *name; /* "input_ids", "last_hidden_state", "logits", ... */
  int32_t dtype;    /* bertc_abi_dtype_t */
  int32_t rank;
  int64_t dims[4];  /* BERTC_ABI_DIM_BATCH / _SEQ for the bucket's sizes */
} bertc_abi_tensor_t;

/* One code variant: the model compiled for one target CPU. A .so holds one
 * or more, which share everything else (weights, tensors, metadata, bucket
 * sizes). Its buckets are num_buckets entries in the descriptor's (batch,
 * seq) order, each with this variant's entry function. */
typedef struct bertc_abi_variant {
  const char *target_cpu;      /* LLVM cpu name */
  const char *target_features; /* what the runtime checks, "+avx2,+fma,..." */
  uint64_t arena_size;         /* max over this variant's buckets */
  const bertc_abi_bucket_t *buckets;
  const bertc_abi_bucket_t *token_buckets; /* num_token_buckets of them, or NULL */
} bertc_abi_variant_t;

typedef struct bertc_model_descriptor {
  uint32_t magic;           /* BERTC_ABI_MAGIC */
  uint32_t abi_version;     /* BERTC_ABI_VERSION this descriptor follows */
  const char *model_name;   /* identifier-safe name the symbols carry */
  const char *metadata_json;/* config, task, labels, pooling, tokenizer facts */
  const char *target_cpu;   /* LLVM cpu name the code was generated for */
  const char *target_features; /* LLVM feature string, e.g. "+avx2,+avx512f,..." */
  const char *bertc_version;

  /* Weights: embedded (weights != NULL) or in a side file named
   * weights_file, found next to the .so, mmapped and hash-checked. */
  const uint8_t *weights;
  const char *weights_file;
  uint64_t weights_size;
  uint64_t weights_align;
  uint64_t weights_hash;    /* base_hash64 of the weights bytes */

  uint64_t arena_size;      /* max over buckets */
  uint64_t arena_align;

  uint32_t num_buckets;
  uint32_t num_inputs;
  uint32_t num_outputs;
  uint32_t flags;           /* BERTC_ABI_FLAG_* */
  const bertc_abi_bucket_t *buckets; /* sorted by (batch, seq) */
  const bertc_abi_tensor_t *inputs;  /* input_ids, token_type_ids, attention_mask (I32) */
  const bertc_abi_tensor_t *outputs;

  /* The tokenizer's files, carried so the .so is self-contained: a sequence
   * of records "name\0" u64le(size) bytes..., ending with an empty name. */
  const uint8_t *tokenizer_blob;
  uint64_t tokenizer_blob_size;

  /* The code variants, best first (>= 1). A runtime runs the first whose
   * target features the host has, and refuses the model when none fits.
   * target_cpu, target_features, arena_size, buckets and token_buckets are
   * those of variants[0]. */
  uint32_t num_variants;
  const bertc_abi_variant_t *variants;
  /* Token buckets: entries that run several sequences packed back to back,
   * with no padding between them, sorted by seq. For a token bucket, seq is
   * its total tokens T and batch the most sequences N it takes (T = 2N). Its
   * inputs are [T] each (the sequences' tokens in order, then padding), and
   * one more pointer follows them in `inputs`: the segment table, int32[N +
   * 1], non-decreasing from 0, sequence i being tokens [table[i], table[i +
   * 1]) and tokens from table[N] on padding. An output declared [batch, seq,
   * ...] is [T, ...]; one declared [batch, ...] is [N, ...], row i for
   * sequence i. Each sequence's outputs are what a (batch, seq) bucket
   * computes for it alone; rows of padding and of unused (empty) sequences
   * are unspecified. */
  uint32_t num_token_buckets;
  const bertc_abi_bucket_t *token_buckets;
} bertc_model_descriptor_t;

typedef const bertc_model_descriptor_t *(*bertc_model_query_fn)(uint32_t max_abi_version);

#ifdef __cplusplus
}
#endif
#endif
