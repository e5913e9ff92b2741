/* bertc compiler: turn a HuggingFace model directory (or a model.json) into
 * a model .so, describe such a model, and run it through the reference
 * interpreter without compiling.
 *
 *     bertc_compile_options_t o;
 *     bertc_compile_options_init(&o);
 *     o.output_path = "model.so";
 *     o.seq_lens = (const int64_t[]){32, 128};
 *     o.num_seq_lens = 2;
 *     bertc_status_t s = bertc_compile("models/minilm", &o);
 *     if (s) { fprintf(stderr, "%s\n", bertc_status_message(s)); bertc_status_free(s); }
 *
 * The reference interpreter computes what the compiled code computes, one
 * operation at a time in plain C: slow, but with no compile step and no CPU
 * requirement. Its engine (bertc/tasks.h) stands in for a context's.
 *
 *     bertc_reference_t *ref = NULL;
 *     s = bertc_reference_open("models/minilm", NULL, &ref);
 *     bertc_engine_t engine;
 *     if (!s) bertc_reference_engine(ref, &engine);
 *     if (!s) s = engine.run(engine.self, &in);          // in: bertc_run_input_t
 *     bertc_tensor_view_t out;
 *     if (!s) s = engine.output(engine.self, 0, &out);
 *     bertc_reference_release(ref);
 *
 * Conventions are bertc.h's: options structs have an _init with the
 * defaults, `out_` parameters are set on every path, fallible calls return a
 * bertc_status_t owned by the caller. A reference (and its engine) belongs
 * to one caller at a time. */
#ifndef BERTC_COMPILER_H
#define BERTC_COMPILER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bertc/bertc.h"
#include "bertc/status.h"
#include "bertc/tasks.h"

#ifdef __cplusplus
extern "C" {
#endif

/* -------------------------------------------------------------- compile -- */

#define BERTC_COMPILE_MAX_BUCKETS 16      /* values in seq_lens, in batch_sizes */
#define BERTC_COMPILE_MAX_SEQ (1 << 20)   /* the largest sequence bucket accepted */
#define BERTC_COMPILE_MAX_BATCH 4096      /* the largest batch bucket */
#define BERTC_COMPILE_MAX_JOBS 64         /* the most code-generating threads */

/* What bertc_compile writes to output_path. */
typedef enum bertc_emit_e {
  BERTC_EMIT_SO = 0,     /* the shared object the runtime loads (default) */
  BERTC_EMIT_OBJ = 1,    /* its relocatable object, for static linking */
  BERTC_EMIT_LLVM = 2,   /* textual LLVM IR after optimization */
  BERTC_EMIT_ASM = 3,    /* assembly */
  BERTC_EMIT_HEADER = 4, /* a C header describing the model's ABI */
} bertc_emit_t;

/* Where the weights go. */
typedef enum bertc_weights_e {
  BERTC_WEIGHTS_MODEL = 0,    /* model.json's "weights" choice, else embedded (default) */
  BERTC_WEIGHTS_EMBED = 1,    /* inside the .so */
  BERTC_WEIGHTS_EXTERNAL = 2, /* beside it, in <output_path>.weights */
} bertc_weights_t;

/* The kernels of the linear layers. */
typedef enum bertc_gemm_e {
  BERTC_GEMM_MODEL = 0, /* model.json's "gemm", else BERTC_GEMM_BERTC (default) */
  BERTC_GEMM_BERTC = 1, /* generated GEMMs */
  BERTC_GEMM_AMX = 2,   /* the same on AMX tiles where a bucket has >= 128 rows per
                           thread (exact to fp32 rounding, as three bf16 parts); the
                           target must have AMX-BF16 */
  BERTC_GEMM_BLAS = 3,  /* the host's CBLAS, loaded by the runtime */
} bertc_gemm_t;

/* The number format of the linear layers. */
typedef enum bertc_precision_e {
  BERTC_PRECISION_MODEL = 0, /* model.json's "precision", else fp32 (default) */
  BERTC_PRECISION_FP32 = 1,
  BERTC_PRECISION_INT8 = 2,  /* linear layers applied to every token in int8: weights per
                                output channel, activations per row at run time, int32
                                accumulation, fp32 epilogue */
} bertc_precision_t;

/* Called once per phase as it ends, with its name and the seconds it took:
 * "import", "passes", "lower", "target", then for a .so "llvm (N modules,
 * T threads)" and "link", for the other outputs "codegen", "verify",
 * "optimize" and "emit"; then "write", and last "total". */
typedef void (*bertc_progress_fn_t)(void *user, const char *phase, double seconds);

typedef struct bertc_compile_options {
  /* The file to write (required). Written atomically: when compiling fails
   * no file is left. */
  const char *output_path;
  /* Sequence buckets, each in 1..the model's maximum input length. NULL:
   * model.json's, else 16, 32, ..., 512 capped at the model's maximum, which
   * is always included. At most BERTC_COMPILE_MAX_BUCKETS. */
  const int64_t *seq_lens;
  size_t num_seq_lens;
  /* Batch buckets, each in 1..BERTC_COMPILE_MAX_BATCH. NULL: model.json's,
   * else {1}. At most BERTC_COMPILE_MAX_BUCKETS. */
  const int64_t *batch_sizes;
  size_t num_batch_sizes;
  /* Token buckets: total-token sizes at which runs of many sequences execute
   * packed, without padding (bertc/abi.h), each a multiple of 16 and at
   * least the longest sequence bucket. NULL: model.json's "token_buckets",
   * else the longest sequence bucket rounded up to 16 and four times it
   * (none when the model cannot run packed); non-NULL with
   * num_token_buckets 0: none. At most BERTC_COMPILE_MAX_BUCKETS. */
  const int64_t *token_buckets;
  size_t num_token_buckets;
  /* What the model computes. BERTC_TASK_AUTO (default): model.json's, else
   * the checkpoint's (sentence-transformers files, then architectures[0]). */
  bertc_task_t task;
  /* LLVM cpu name or "native" (the host); NULL (default): model.json's
   * target.cpu, else "native". A comma-separated list (and "portable", for
   * x86-64-v3 and x86-64-v4) makes a .so with one code variant per CPU that
   * share the weights; the runtime runs the best one the host supports
   * (bertc_model_variant). */
  const char *target_cpu;
  /* LLVM feature string such as "+avx2,+fma"; NULL (default): model.json's,
   * else the cpu's. */
  const char *target_features;
  /* The linker driver; NULL (default): $CC, else cc. */
  const char *linker;
  bertc_weights_t weights;
  bertc_emit_t emit;
  bertc_gemm_t gemm;
  /* Threads the model's parallel work is planned for; 0 (default): the
   * threads a run on this machine uses by default. */
  int32_t threads;
  /* Threads generating code, 1..BERTC_COMPILE_MAX_JOBS; 0 (default): as
   * many as a run uses. The output is the same for any value. */
  int32_t jobs;
  /* The pass pipeline: NULL (default) for all passes, "none", or a
   * comma-separated list of pass names (bertc_compile_pass). */
  const char *passes;
  /* NULL or a comma-separated list of passes dropped from the pipeline. */
  const char *disabled_passes;
  /* NULL, a pass name or "all": the IR after it, on stderr. */
  const char *print_after;
  bool verify_each; /* run the IR verifier after every pass */
  bool stats;       /* per-pass statistics and the memory plan, on stderr */
  bool quiet;       /* no notes on stderr (warnings stay) */
  bertc_progress_fn_t progress; /* NULL: no progress reports */
  void *progress_user;
  bertc_precision_t precision;
  /* int8 only: NULL or a comma-separated list of weight names (as the
   * checkpoint names them) whose layers stay fp32; or "auto": when the agreement
   * probe (below) fails, the layers are ranked by their own int8 error on the
   * probe texts and the model is rebuilt keeping the 1, 2, 4, ... most sensitive
   * in fp32 until the agreement is met (reported with the layers kept). */
  const char *keep_fp32;
  /* int8 .so only: the agreement probe. After writing the .so, the compile runs
   * it and an fp32 build of the same model on probe inputs (probe_texts: a JSON
   * Lines file of {"text": ...}; NULL: a built-in set) and reports the mean and
   * minimum cosine of every output and, for logits, the share of unchanged top
   * answers (on stderr unless quiet, and through `progress` as the phase
   * "accuracy probe"). When an output's mean cosine is below min_cosine (0:
   * 0.99; negative: no probe) the .so is removed and the compile fails with the
   * report. probe_texts is read before anything is compiled (a malformed line
   * fails the compile at once, naming the file and the line). */
  const char *probe_texts;
  double min_cosine;
} bertc_compile_options_t;

void bertc_compile_options_init(bertc_compile_options_t *options);

/* Compiles `model` (a HuggingFace model directory, a directory holding a
 * model.json, or a model.json) to options->output_path: import, passes,
 * lowering, tokenizer packing and code generation, reporting each phase to
 * options->progress. Errors name the file or option at fault. */
bertc_status_t bertc_compile(const char *model,
                             const bertc_compile_options_t *options) BERTC_MUST_USE;

/* The passes of the default pipeline, in order: index 0, 1, ... until it
 * returns false. out_name and out_summary (one line) are static strings. */
bool bertc_compile_pass(size_t index, const char **out_name, const char **out_summary);

/* Parses a list such as "16,32,64" (spaces around items allowed) into at
 * most `capacity` distinct values, each in 1..max. Messages start with
 * `what` ("--seq-lens: 0 is out of range (1..1048576)"). out_count is 0 on
 * failure. */
bertc_status_t bertc_parse_int_list(const char *text, const char *what, int64_t max,
                                    int64_t *values, size_t capacity,
                                    size_t *out_count) BERTC_MUST_USE;

/* -------------------------------------------------------------- inspect -- */

/* What a model directory or model.json is, as one JSON object (keys in this
 * order): name, source, model_type, architecture, layers, hidden_size, heads,
 * intermediate_size, vocab_size, max_positions, max_seq_length,
 * embedding_size, hidden_act, parameters, weight_bytes, heads_present, task,
 * pooling, normalize, labels, outputs, op_counts, nodes. The weights are
 * read, nothing is compiled. out_json is a heap string (free it). */
bertc_status_t bertc_inspect_json(const char *model, char **out_json) BERTC_MUST_USE;

/* ------------------------------------------------------------ reference -- */

typedef struct bertc_reference_s bertc_reference_t;

typedef struct bertc_reference_options {
  /* The task the model is built for; BERTC_TASK_AUTO (default): the
   * model's, as bertc_compile would choose it. */
  bertc_task_t task;
} bertc_reference_options_t;

void bertc_reference_options_init(bertc_reference_options_t *options);

/* Loads `model` (as bertc_compile reads it: directory or model.json) and
 * builds its graph for the interpreter. options may be NULL. */
bertc_status_t bertc_reference_open(const char *model, const bertc_reference_options_t *options,
                                    bertc_reference_t **out_reference) BERTC_MUST_USE;
/* NULL is a no-op. */
void bertc_reference_release(bertc_reference_t *reference);

/* The metadata JSON a .so compiled from the model carries (task, labels,
 * problem_type, max_seq_length, config, pooling, tokenizer facts, ...), as
 * bertc_model_metadata_json gives it, without the memory plan. Valid while
 * the reference lives. */
const char *bertc_reference_metadata_json(const bertc_reference_t *reference);
/* The directory holding the model's tokenizer files, for
 * bertc_tokenizer_create_from_dir. Valid while the reference lives. */
const char *bertc_reference_tokenizer_dir(const bertc_reference_t *reference);
/* The longest input the model takes (its max_seq_length). */
int32_t bertc_reference_max_seq(const bertc_reference_t *reference);

/* The interpreter as an engine (bertc/tasks.h); it refers to the reference,
 * which must outlive it. Runs take the input of bertc_context_run: ids are
 * checked against the vocabulary and token types against the type
 * vocabulary ("input I: token id X at position P is out of range [0, V)"),
 * sequences are padded with in->pad_id to the longest, and each output reads
 * [count, longest, ...] or [count, ...] as a context's does, positions past
 * a sequence's length zero. Any count >= 1 is accepted; max_batch is 1, as
 * one sequence per run computes no padding. pad_id is the model's
 * pad_token_id. */
void bertc_reference_engine(bertc_reference_t *reference, bertc_engine_t *out_engine);

#ifdef __cplusplus
}
#endif
#endif
