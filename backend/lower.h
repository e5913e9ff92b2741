/* Lowering: an optimized graph -> the program codegen turns into a .so.
 *
 * lower_program lays out the weights blob (every constant a node reads,
 * 64-byte aligned, each distinct buffer once), plans memory for every bucket
 * (passes/memory_plan.h), and turns each node into kernel calls with constant
 * sizes and region offsets (backend/program.h). */
#ifndef BERTC_BACKEND_LOWER_H
#define BERTC_BACKEND_LOWER_H

#include <stdbool.h>

#include "backend/program.h"
#include "ir/ir.h"

typedef struct lower_options {
  int threads;   /* threads the task splits are planned for */
  bool use_blas; /* linear layers through env->sgemm (weights must be row-major) */
  bool use_amx;  /* linear layers of >= 64-row blocks on AMX (bk_gemm_amx); the
                    target must have AMX-BF16 (the driver checks) */
} lower_options_t;

void lower_options_init(lower_options_t *o);

/* Owns everything cg_program_t points to. */
typedef struct lower_result {
  cg_program_t program;
  uint8_t *weights;
  bertc_abi_tensor_t inputs[3];
  bertc_abi_tensor_t *outputs;
  char *metadata_json;
  /* per bucket: peak live bytes (memory plan efficiency) */
  uint64_t *peak_live_bytes;
} lower_result_t;

/* buckets: (batches[i], seqs[j]) for every pair. metadata_json is the
 * frontend's; lowering adds "memory_plan". model_name must be
 * identifier-safe. */
bertc_status_t lower_program(const ir_graph_t *g, const char *model_name,
                             const char *metadata_json, const int64_t *batches, size_t nbatches,
                             const int64_t *seqs, size_t nseqs, const lower_options_t *o,
                             lower_result_t *out) BERTC_MUST_USE;
void lower_result_deinit(lower_result_t *r);

#endif
