/* The compile driver: model path -> .so, every phase in order
 * (frontend, graph passes, the weights' layout for the gemm mode, lowering,
 * tokenizer packing, codegen). Used by the compiler API and by tests. */
#ifndef BERTC_BACKEND_DRIVER_H
#define BERTC_BACKEND_DRIVER_H

#include "backend/layout.h"
#include "backend/lower.h"
#include "backend/program.h"
#include "frontend/frontend.h"
#include "passes/passes.h"

typedef struct driver_options {
  bertc_task_t task;              /* BERTC_TASK_AUTO: from the model */
  const int64_t *seq_lens;     /* NULL: model.json's, else defaults */
  size_t num_seq_lens;
  const int64_t *batch_sizes;  /* NULL: model.json's, else {1} */
  size_t num_batch_sizes;
  /* Token buckets (abi.h): NULL: model.json's, else driver_default_token_buckets
   * when the graph can run packed; non-NULL with num_token_buckets 0: none. */
  const int64_t *token_buckets;
  size_t num_token_buckets;
  int weights_external;        /* -1: model.json's choice */
  int gemm;                    /* -1: model.json's choice, else an fe_gemm_t; amx and
                                  blas set lower.gemm */
  int precision;               /* -1: model.json's, 0: fp32, 1: int8 (pass.int8 follows) */
  const char *passes;          /* NULL: default pipeline */
  const char *disabled_passes;
  pass_options_t pass;
  lower_options_t lower;
  cg_options_t codegen;        /* progress callback also gets import/passes/lower */
  bool print_plan;             /* memory plan per bucket on stderr */
  bool quiet;                  /* no notes on stderr */
} driver_options_t;

void driver_options_init(driver_options_t *o);

/* Default seq buckets for a model whose longest input is `max`. */
size_t driver_default_seq_lens(int64_t max, int64_t *out);

/* Default token buckets for a model whose longest sequence bucket is
 * `max_seq`: one that holds it (the smallest a run's last pack needs) and
 * one four times as large (long and short sequences packed together). */
size_t driver_default_token_buckets(int64_t max_seq, int64_t *out);

bertc_status_t driver_compile(const char *model_path, const driver_options_t *o,
                              const char *out_path) BERTC_MUST_USE;

#endif
