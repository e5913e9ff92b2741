/* The lowered program: what the backend turns into a model .so.
 *
 * Lowering (backend/lower.c) turns an optimized, memory-planned graph into,
 * per (batch, seq) bucket, a straight list of kernel calls. Each call names a
 * task function of the kernel library (kernels/kernels.h):
 *
 *     void bk_NAME(const bertc_env_t *env, int64_t task, <args...>);
 *
 * and how many tasks to run (0 .. ntasks-1, in parallel through
 * env->parallel_for when ntasks > 1). Arguments are 64-bit integers, floats,
 * or pointers into one of four regions at a constant byte offset. Codegen
 * (backend/codegen.c) specializes each kernel on its integer and float
 * arguments (one specialized copy per distinct scalar signature) and passes
 * the pointers at run time, so the six identical layers of a model share one
 * specialized kernel per op. */
#ifndef BERTC_BACKEND_PROGRAM_H
#define BERTC_BACKEND_PROGRAM_H

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

#include "bertc/abi.h"
#include "bertc/status.h"

typedef enum cg_region_e {
  CG_REGION_WEIGHTS = 0, /* the weights blob; offset in bytes */
  CG_REGION_ARENA = 1,   /* the caller's arena; offset in bytes */
  CG_REGION_INPUT = 2,   /* input buffer `index`; offset in bytes */
  CG_REGION_OUTPUT = 3,  /* output buffer `index`; offset in bytes */
  CG_REGION_NULL = 4,    /* a NULL pointer (optional kernel operand) */
} cg_region_t;

typedef enum cg_arg_kind_e { CG_ARG_I64 = 0, CG_ARG_F32 = 1, CG_ARG_PTR = 2 } cg_arg_kind_t;

typedef struct cg_arg {
  cg_arg_kind_t kind;
  cg_region_t region; /* CG_ARG_PTR */
  int32_t index;      /* input/output index for those regions */
  int64_t i;          /* CG_ARG_I64 value, or CG_ARG_PTR byte offset */
  float f;            /* CG_ARG_F32 value */
} cg_arg_t;

#define CG_MAX_ARGS 24

typedef struct cg_call {
  const char *kernel; /* task function name, e.g. "bk_gemm" (static storage) */
  int64_t ntasks;     /* >= 1 */
  int32_t num_args;
  cg_arg_t args[CG_MAX_ARGS];
} cg_call_t;

typedef struct cg_bucket {
  int32_t batch, seq; /* a token bucket: the most sequences N, the tokens T */
  bool packed;        /* a token bucket (abi.h): its calls may read input num_inputs,
                         the segment table */
  uint64_t arena_bytes;
  size_t num_calls;
  cg_call_t *calls;
  uint64_t peak_live_bytes; /* the memory plan's figures (bertc_abi_bucket_t) */
  uint64_t unplanned_bytes;
} cg_bucket_t;

typedef struct cg_program {
  const char *model_name;    /* [A-Za-z0-9_]+; generated symbols carry it */
  const char *metadata_json; /* embedded verbatim */
  uint32_t flags;            /* BERTC_ABI_FLAG_*: what the code needs from the host */
  const uint8_t *weights;    /* weights_size bytes, 64-byte aligned offsets inside */
  uint64_t weights_size;
  const uint8_t *tokenizer_blob; /* may be NULL */
  uint64_t tokenizer_blob_size;
  size_t num_buckets;
  cg_bucket_t *buckets; /* the (batch, seq) buckets sorted by (batch, seq), then the
                           token buckets sorted by seq */
  size_t num_inputs, num_outputs;
  const bertc_abi_tensor_t *inputs;
  const bertc_abi_tensor_t *outputs;
} cg_program_t;

typedef enum cg_emit_e {
  CG_EMIT_SO = 0,     /* the shared object (default) */
  CG_EMIT_OBJ = 1,    /* the relocatable object, for static linking */
  CG_EMIT_LLVM = 2,   /* textual LLVM IR after optimization */
  CG_EMIT_ASM = 3,    /* assembly */
  CG_EMIT_HEADER = 4, /* a C header describing the model's ABI */
} cg_emit_t;

#define CG_MAX_JOBS 64 /* the most threads generating a .so's modules at once */

typedef struct cg_options {
  /* "native" (default), an LLVM cpu name, or a list of them and named sets
   * ("x86-64-v3,x86-64-v4", "portable"): a .so with one code variant per
   * target (cg_resolve_targets). */
  const char *target_cpu;
  const char *target_features; /* NULL: the cpu's features (host's for native) */
  const char *linker;          /* NULL: $CC, else cc */
  int weights_external;        /* write OUT.weights beside OUT instead of embedding */
  cg_emit_t emit;
  int opt_level;               /* 0..3, default 3 */
  int jobs; /* threads generating a .so's modules; 0: as many as a run uses */
  /* Called once per phase with its name and seconds taken (may be NULL). */
  void (*progress)(void *user, const char *phase, double seconds);
  void *progress_user;
} cg_options_t;

void cg_options_init(cg_options_t *o);

/* Generates code for every bucket and writes `out_path` (atomically: on any
 * error no file is left). With weights_external, also writes
 * `<out_path>.weights` and records its base name and hash in the descriptor. */
bertc_status_t cg_compile(const cg_program_t *p, const cg_options_t *o,
                          const char *out_path) BERTC_MUST_USE;

/* Resolves "native" and NULL features to concrete strings (heap, caller frees). */
bertc_status_t cg_resolve_target(const char *cpu, const char *features, char **out_cpu,
                                 char **out_features) BERTC_MUST_USE;

/* A resolved target of a list (cg_resolve_targets). */
#define CG_MAX_VARIANTS 8 /* the most code variants one .so holds */
typedef struct cg_target {
  char *cpu;      /* LLVM cpu name */
  char *features; /* what the code may use and the runtime checks */
  size_t order;   /* its place in the list as given */
} cg_target_t;

/* Resolves a target list: comma-separated CPU names (each as
 * cg_resolve_target), where the named set "portable" stands for x86-64-v3 and
 * x86-64-v4. NULL or "" is "native". `features` applies to a single target
 * only. In a list of more than one every target must have a known feature
 * list (the runtime chooses by it), and none may repeat. The result is
 * sorted best first: more features first, else in the order given.
 * Free it with cg_targets_free. */
bertc_status_t cg_resolve_targets(const char *cpu_list, const char *features,
                                  cg_target_t **out, size_t *out_count) BERTC_MUST_USE;
void cg_targets_free(cg_target_t *targets, size_t count);

/* Whether a resolved target (cg_resolve_target) has AVX-512F: from its
 * feature list (the last mention wins), else from the CPU name. Chooses which
 * build of the kernel bitcode codegen links. */
bool cg_target_has_avx512(const char *cpu, const char *features);
/* Whether a resolved target has what bk_gemm_amx needs (AMX-TILE, AMX-BF16,
 * AVX512-BF16/BW/VL), by the same rules. */
bool cg_target_has_amx(const char *cpu, const char *features);
/* The int8 dot-product instructions a resolved target has, by the same rules:
 * 3 AVX512-VNNI (with AVX512-BW), 2 AVX-VNNI, 1 AVX2, 0 none of them. Chooses
 * the int8 GEMM (kernels/qgemm.c) lowering calls. */
int cg_target_int8_level(const char *cpu, const char *features);

#endif
