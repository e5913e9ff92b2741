/* bertc runtime: load a model .so written by `bertc compile` and run it.
 *
 *     bertc_model_t *model = NULL;
 *     bertc_status_t s = bertc_model_load("model.so", NULL, &model);
 *     bertc_context_t *ctx = NULL;
 *     if (!s) s = bertc_context_create(model, NULL, &ctx);
 *     bertc_run_input_t in;
 *     bertc_run_input_init(&in);
 *     in.count = 2; in.lengths = lens; in.input_ids = ids;   // ids[i]: lens[i] tokens
 *     if (!s) s = bertc_context_run(ctx, &in);
 *     bertc_tensor_view_t out;
 *     if (!s) s = bertc_context_output_by_name(ctx, "last_hidden_state", &out);
 *     ...                                    // out.dims = {2, max(lens), hidden}
 *     bertc_context_release(ctx);
 *     bertc_model_release(model);
 *     if (s) { fprintf(stderr, "%s\n", bertc_status_message(s)); bertc_status_free(s); }
 *
 * A model is immutable after loading: share it between threads freely. A
 * context (arena, padded input and output buffers, thread count) belongs to one
 * caller at a time; give each thread its own. Everything a run needs is
 * allocated when the context is created, so bertc_context_run never touches
 * the heap (except to build an error status).
 *
 * Conventions (IREE runtime style): functions are bertc_<noun>_<verb>, options
 * structs are filled with defaults by bertc_<x>_options_init and may be passed
 * as NULL for the defaults, `out_` parameters are set on every path (NULL or
 * zeros on failure), and every fallible call returns a bertc_status_t (NULL is
 * OK; a non-NULL status is owned by the caller). */
#ifndef BERTC_BERTC_H
#define BERTC_BERTC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bertc/abi.h"
#include "bertc/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum bertc_dtype_e {
  BERTC_DTYPE_F32 = BERTC_ABI_F32,
  BERTC_DTYPE_I32 = BERTC_ABI_I32,
} bertc_dtype_t;

/* ---------------------------------------------------------------- model -- */

typedef struct bertc_model_s bertc_model_t;

typedef struct bertc_model_load_options {
  /* Where the weights are when the model keeps them in a side file. NULL (the
   * default): the descriptor's weights_file, in the directory of the .so. */
  const char *weights_path;
  /* Hash a side file's weights and compare with the descriptor (default true).
   * Embedded weights are part of the .so and are not hashed. */
  bool verify_weights;
  /* Load only to read the descriptor and metadata (`bertc inspect`): skip the
   * CPU feature and weights checks. Such a model cannot create contexts.
   * Default false. */
  bool inspect_only;
  /* Which code variant to run, by its target cpu (descriptor->variants[i].
   * target_cpu, e.g. "x86-64-v3"): for measuring one variant of a .so
   * compiled for several. NULL (the default): the best the host runs. A
   * name the .so has no variant for is NOT_FOUND, one whose features the
   * host lacks INCOMPATIBLE. */
  const char *variant;
} bertc_model_load_options_t;

void bertc_model_load_options_init(bertc_model_load_options_t *opts);

/* Loads a model .so: dlopen, query the descriptor, check magic, ABI version,
 * choose the code variant to run (the first whose CPU features the host has;
 * INCOMPATIBLE, naming each variant and what the host lacks, when none), the
 * descriptor's tables and metadata, and map and check the weights. A model
 * compiled with `--gemm blas` also needs a CBLAS library, loaded here once per
 * process: BERTC_BLAS_LIBRARY (a path or soname) when set, else OpenBLAS
 * (libopenblas.so.0) or another CBLAS found as libcblas.so.3 / libblas.so.3
 * (NOT_FOUND when there is none). Every error message starts with the path.
 * The returned model has one reference. */
bertc_status_t bertc_model_load(const char *so_path, const bertc_model_load_options_t *opts,
                                bertc_model_t **out_model) BERTC_MUST_USE;
void bertc_model_retain(bertc_model_t *model);
/* Drops a reference; the last one unloads the .so. NULL is a no-op. Contexts
 * hold a reference to their model. */
void bertc_model_release(bertc_model_t *model);

const char *bertc_model_path(const bertc_model_t *model);
/* The .so's descriptor (bertc/abi.h) as this host runs it: target_cpu,
 * target_features, arena_size and buckets are the chosen code variant's (see
 * bertc_model_variant). Valid while the model lives. */
const bertc_model_descriptor_t *bertc_model_descriptor(const bertc_model_t *model);
/* The code variant this host runs: the first of the descriptor's variants
 * (best first) whose CPU features the host has; *out_index (when not NULL)
 * is its index in descriptor->variants. NULL only for a model loaded with
 * inspect_only on a host none of them fits. */
const bertc_abi_variant_t *bertc_model_variant(const bertc_model_t *model,
                                               uint32_t *out_index);
/* The metadata JSON text as embedded in the .so ("{}" when it has none). */
const char *bertc_model_metadata_json(const bertc_model_t *model);
/* The metadata's "vocab_size" and "type_vocab_size" (top level, or inside a
 * "config" object); type_vocab_size is 0 when the model takes no token types. */
int64_t bertc_model_vocab_size(const bertc_model_t *model);
int64_t bertc_model_type_vocab_size(const bertc_model_t *model);

/* The compiled (batch, seq) buckets, sorted by (batch, seq). */
const bertc_abi_bucket_t *bertc_model_buckets(const bertc_model_t *model,
                                              uint32_t *out_count);
/* The compiled token buckets (bertc/abi.h), sorted by tokens (seq); NULL
 * and 0 when the model has none. A run of several sequences executes on
 * them packed, without padding, when that computes fewer tokens. */
const bertc_abi_bucket_t *bertc_model_token_buckets(const bertc_model_t *model,
                                                    uint32_t *out_count);
/* Input and output tensors in descriptor order; dims hold BERTC_ABI_DIM_BATCH
 * and BERTC_ABI_DIM_SEQ where the bucket's sizes go. */
const bertc_abi_tensor_t *bertc_model_inputs(const bertc_model_t *model, uint32_t *out_count);
const bertc_abi_tensor_t *bertc_model_outputs(const bertc_model_t *model, uint32_t *out_count);
/* The largest batch and sequence length over all buckets (the largest batch
 * need not come with the largest seq). */
int32_t bertc_model_max_batch(const bertc_model_t *model);
int32_t bertc_model_max_seq(const bertc_model_t *model);

/* -------------------------------------------------------------- context -- */

typedef struct bertc_context_s bertc_context_t;

#define BERTC_CONTEXT_DEFAULT_MAX_BATCH 64

/* Who runs the model's parallel loops (bertc_context_options_t.threading). */
typedef enum bertc_threading_e {
  /* The context's own workers (the default): independent of every other
   * context and of any thread runtime the program uses. */
  BERTC_THREADING_POOL = 0,
  /* The process's OpenMP runtime, for programs that already run an OpenMP
   * team: the model's loops become parallel regions of num_threads threads
   * on that runtime's threads instead of a second set of threads competing
   * for the cores. The runtime is found when the context is created: the
   * library BERTC_OPENMP_LIBRARY names (a path or soname) when set, else an
   * OpenMP library the process has loaded already (libomp.so.5, libgomp.so.1,
   * libiomp5.so), else libomp.so.5 or libgomp.so.1 loaded then and kept for
   * the process; bertc_context_create fails with NOT_FOUND when there is
   * none. A context may run inside the program's own parallel region (each
   * thread with its own context, as always): with nested parallelism off
   * (OpenMP's default) its loops then run on the calling thread alone; with
   * it on, on a nested team. */
  BERTC_THREADING_OPENMP = 1,
  /* The program's own parallel_for (bertc_context_options_t.parallel_for). */
  BERTC_THREADING_CALLER = 2,
} bertc_threading_t;

/* A program's parallel loop, for BERTC_THREADING_CALLER: run
 * task(task_ctx, i) once for every i in [0, count) (count >= 1) and return
 * when all are done. The tasks may run in any order, on any threads,
 * any number of them at once: each writes its own part of the outputs and
 * computes the same bits wherever it runs. Every task's writes must be
 * visible to the calling thread when parallel_for returns (joining the
 * threads, or a barrier or atomic counter with acquire/release order, does
 * that). It is called only from the thread inside bertc_context_run, one
 * loop at a time, many times per run (a loop takes microseconds); it must
 * not call back into the context. `user` is the options' parallel_for_user. */
typedef void (*bertc_parallel_for_fn)(void *user, int64_t count, bertc_abi_task_fn task,
                                      void *task_ctx);

/* When a run of several sequences executes packed on the model's token
 * buckets (bertc_context_options_t.packing). */
typedef enum bertc_packing_e {
  BERTC_PACKING_AUTO = 0,   /* when that computes fewer tokens than padding (default) */
  BERTC_PACKING_NEVER = 1,  /* always padded (batch, seq) buckets */
  BERTC_PACKING_ALWAYS = 2, /* packed whenever the model has token buckets, one
                               sequence too */
} bertc_packing_t;

typedef struct bertc_context_options {
  /* Threads the model's parallel loops use: the calling thread and
   * num_threads - 1 workers the context starts and owns. 0 (the default):
   * OMP_NUM_THREADS if set, else every CPU this process may run on. Between
   * runs the workers spin for BERTC_SPIN_US microseconds (default 200) and
   * then sleep. With BERTC_THREADING_OPENMP it is the team size of each
   * parallel region; with BERTC_THREADING_CALLER the context starts no
   * threads and it is only what bertc_context_num_threads reports. */
  int32_t num_threads;
  /* The most sequences one bertc_context_run accepts. Runs with more
   * sequences than the largest batch bucket are split into several calls;
   * this bounds the output buffers allocated up front (their pages are only
   * touched as runs use them). 0 (the default): the larger of
   * BERTC_CONTEXT_DEFAULT_MAX_BATCH and the largest batch bucket. */
  int32_t max_batch;
  /* Who runs the parallel loops; default BERTC_THREADING_POOL. */
  bertc_threading_t threading;
  /* With BERTC_THREADING_CALLER (and only then): the loop function and the
   * pointer passed to it as `user`. Default NULL. */
  bertc_parallel_for_fn parallel_for;
  void *parallel_for_user;
  /* Packed runs on token buckets; default BERTC_PACKING_AUTO. */
  bertc_packing_t packing;
} bertc_context_options_t;

void bertc_context_options_init(bertc_context_options_t *opts);

/* Allocates the arena and every input and output buffer a run can need.
 * Fails for models loaded with inspect_only. */
bertc_status_t bertc_context_create(bertc_model_t *model, const bertc_context_options_t *opts,
                                    bertc_context_t **out_context) BERTC_MUST_USE;
/* NULL is a no-op. */
void bertc_context_release(bertc_context_t *context);

bertc_model_t *bertc_context_model(const bertc_context_t *context);
int32_t bertc_context_num_threads(const bertc_context_t *context);
int32_t bertc_context_max_batch(const bertc_context_t *context);
bertc_threading_t bertc_context_threading(const bertc_context_t *context);

/* One run: `count` token sequences of possibly different lengths. Each array
 * of pointers has `count` entries; entry i points at lengths[i] values. */
typedef struct bertc_run_input {
  int32_t count;
  const int32_t *lengths;               /* each in [1, bertc_model_max_seq] */
  const int32_t *const *input_ids;      /* each in [0, vocab_size) */
  /* NULL: all zeros. Each in [0, type_vocab_size); ignored when the model
   * takes no token types. */
  const int32_t *const *token_type_ids;
  /* NULL: 1 on every real token. Each 0 or 1. Padding is always 0. */
  const int32_t *const *attention_mask;
  int32_t pad_id; /* the id written into padding; default 0 */
} bertc_run_input_t;

void bertc_run_input_init(bertc_run_input_t *in);

/* Validates the input (messages name the sequence and position), then for
 * each chunk of sequences picks the cheapest bucket that holds it (smallest
 * batch*seq with seq >= its longest sequence and batch >= its size), pads
 * (pad_id, token type 0, mask 0), runs the bucket's entry and copies the
 * outputs into the context's output buffers without the padding: an output
 * the model declares as [batch, seq, ...] reads [count, L, ...] with L the
 * longest length in this run, [batch, ...] reads [count, ...]. Positions at
 * or past a sequence's length are zero. A run of several sequences on a
 * model with token buckets runs packed instead (longest first into the
 * token buckets, no padding between sequences) when that computes fewer
 * tokens; the outputs are the same to float rounding. Allocates nothing. */
bertc_status_t bertc_context_run(bertc_context_t *context,
                                 const bertc_run_input_t *in) BERTC_MUST_USE;

/* An output of the last successful run. `data` is valid until the next run
 * or the context's release. */
typedef struct bertc_tensor_view {
  const char *name;
  bertc_dtype_t dtype;
  int32_t rank;
  int64_t dims[4];
  const void *data; /* dense row-major */
  uint64_t size_bytes;
} bertc_tensor_view_t;

/* out_view is zeroed on failure (no run yet, index or name unknown). */
bertc_status_t bertc_context_output(const bertc_context_t *context, uint32_t index,
                                    bertc_tensor_view_t *out_view) BERTC_MUST_USE;
bertc_status_t bertc_context_output_by_name(const bertc_context_t *context, const char *name,
                                            bertc_tensor_view_t *out_view) BERTC_MUST_USE;

/* What the last successful run did: entry calls made, and tokens computed
 * (batch * seq summed over calls, the token bucket's size for a packed call)
 * versus real tokens. */
typedef struct bertc_run_info {
  uint32_t num_calls;
  int32_t last_batch; /* bucket of the last call (a token bucket: its sequences, tokens) */
  int32_t last_seq;
  uint64_t padded_tokens;
  uint64_t real_tokens;
  uint32_t packed_calls; /* calls of token buckets (runs packed without padding) */
} bertc_run_info_t;

void bertc_context_run_info(const bertc_context_t *context, bertc_run_info_t *out_info);

/* ------------------------------------------------------------ tokenizer -- */

/* Text in: the tokenizer a model .so carries (the model directory's
 * tokenizer files, packed by `bertc compile`), with the behaviour of
 * HuggingFace `tokenizers` (WordPiece and byte-level BPE). Inputs are
 * truncated the way `bertc run` truncates them: to the model's
 * max_seq_length, or the largest compiled bucket when that is smaller
 * (longest_first for pairs, HuggingFace's default). Immutable once created;
 * threads may share it.
 *
 *     bertc_tokenizer_t *tok = NULL;
 *     s = bertc_tokenizer_create_from_model(model, &tok);
 *     bertc_encoding_t enc;
 *     if (!s) s = bertc_tokenizer_encode(tok, text, strlen(text), NULL, 0, &enc);
 *     ... in.lengths = &enc.length; in.input_ids = (const int32_t *const *)&enc.input_ids; ...
 *     bertc_tokenizer_encoding_deinit(&enc);
 *     bertc_tokenizer_release(tok);
 */
typedef struct bertc_tokenizer_s bertc_tokenizer_t;

/* Fails with BERTC_STATUS_NOT_FOUND when the model was compiled from a
 * directory without tokenizer files (it then takes token ids only). Works
 * on models loaded with inspect_only. The tokenizer does not keep a
 * reference to the model. */
bertc_status_t bertc_tokenizer_create_from_model(const bertc_model_t *model,
                                                 bertc_tokenizer_t **out_tokenizer) BERTC_MUST_USE;
/* The tokenizer of a model directory's files (tokenizer.json, or vocab.txt /
 * vocab.json + merges.txt with tokenizer_config.json and
 * special_tokens_map.json), truncating to max_length tokens (0: no limit). */
bertc_status_t bertc_tokenizer_create_from_dir(const char *dir, int32_t max_length,
                                               bertc_tokenizer_t **out_tokenizer) BERTC_MUST_USE;
/* NULL is a no-op. */
void bertc_tokenizer_release(bertc_tokenizer_t *tokenizer);
/* The token count inputs are truncated to (0: no limit). */
int32_t bertc_tokenizer_max_length(const bertc_tokenizer_t *tokenizer);

/* One encoded input, special tokens included; arrays of `length` entries. */
typedef struct bertc_encoding {
  int32_t length;
  int32_t *input_ids;
  int32_t *token_type_ids;
  int32_t *offsets;  /* 2 * length: [start, end) in code points of the text (or of
                        text_pair for its tokens); special tokens [0, 0] */
  char **tokens;     /* the token strings */
  int32_t *word_ids; /* the word of its text each token comes from (words counted
                        within each text as the pre-tokenizer splits it); -1 for
                        special tokens */
  bool truncated;    /* tokens were cut to fit bertc_tokenizer_max_length */
} bertc_encoding_t;

/* Encodes UTF-8 `text` (and `text_pair` when not NULL), explicit lengths.
 * out_encoding is zeroed on failure; release it with
 * bertc_tokenizer_encoding_deinit either way. */
bertc_status_t bertc_tokenizer_encode(const bertc_tokenizer_t *tokenizer, const char *text,
                                      size_t text_length, const char *text_pair,
                                      size_t pair_length,
                                      bertc_encoding_t *out_encoding) BERTC_MUST_USE;
void bertc_tokenizer_encoding_deinit(bertc_encoding_t *encoding);

#ifdef __cplusplus
}
#endif
#endif
