/* bertc_compile and its options (bertc/compiler.h) over the backend's
 * driver: the public options map onto the driver's, the frontend's and the
 * passes', after the checks that keep the driver's fixed-size tables safe. */
#include <string.h>

#include "backend/driver.h"
#include "base/base.h"
#include "bertc/compiler.h"

_Static_assert(BERTC_COMPILE_MAX_BUCKETS == FE_MAX_BUCKETS, "bucket table sizes");
_Static_assert(BERTC_COMPILE_MAX_JOBS == CG_MAX_JOBS, "code generation threads");
_Static_assert((int)BERTC_EMIT_SO == (int)CG_EMIT_SO && (int)BERTC_EMIT_OBJ == (int)CG_EMIT_OBJ &&
                   (int)BERTC_EMIT_LLVM == (int)CG_EMIT_LLVM &&
                   (int)BERTC_EMIT_ASM == (int)CG_EMIT_ASM &&
                   (int)BERTC_EMIT_HEADER == (int)CG_EMIT_HEADER,
               "emit kinds");

void bertc_compile_options_init(bertc_compile_options_t *o) {
  memset(o, 0, sizeof *o);
  o->task = BERTC_TASK_AUTO;
  o->weights = BERTC_WEIGHTS_MODEL;
  o->emit = BERTC_EMIT_SO;
  o->gemm = BERTC_GEMM_MODEL;
}

bertc_status_t bertc_parse_int_list(const char *text, const char *what, int64_t max,
                                    int64_t *values, size_t capacity, size_t *out_count) {
  return fe_parse_int_list(text, what, max, values, capacity, out_count);
}

bool bertc_compile_pass(size_t index, const char **out_name, const char **out_summary) {
  bool ok = index < pass_count();
  *out_name = ok ? pass_name(index) : NULL;
  *out_summary = ok ? pass_summary(index) : NULL;
  return ok;
}

static bertc_status_t check_buckets(const char *what, const int64_t *values, size_t n,
                                    int64_t max) {
  if (!values) return BERTC_OK;
  if (n < 1 || n > BERTC_COMPILE_MAX_BUCKETS)
    return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT, "%s: %zu values, want 1..%d", what,
                             n, BERTC_COMPILE_MAX_BUCKETS);
  for (size_t i = 0; i < n; i++)
    if (values[i] < 1 || values[i] > max)
      return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT,
                               "%s: %lld is out of range (1..%lld)", what, (long long)values[i],
                               (long long)max);
  return BERTC_OK;
}

/* The option checks the driver leaves to its callers. */
static bertc_status_t check_options(const bertc_compile_options_t *o) {
  if (!o->output_path || !*o->output_path)
    return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT, "no output path");
  BERTC_RETURN_IF_ERROR(
      check_buckets("seq_lens", o->seq_lens, o->num_seq_lens, BERTC_COMPILE_MAX_SEQ));
  BERTC_RETURN_IF_ERROR(
      check_buckets("batch_sizes", o->batch_sizes, o->num_batch_sizes, BERTC_COMPILE_MAX_BATCH));
  if (o->token_buckets && o->num_token_buckets)
    BERTC_RETURN_IF_ERROR(check_buckets("token_buckets", o->token_buckets, o->num_token_buckets,
                                        BERTC_COMPILE_MAX_SEQ));
  if (o->threads < 0 || o->threads > 1024)
    return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT, "threads: %d is outside 0..1024",
                             o->threads);
  if (o->jobs < 0 || o->jobs > BERTC_COMPILE_MAX_JOBS)
    return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT, "jobs: %d is outside 0..%d", o->jobs,
                             BERTC_COMPILE_MAX_JOBS);
  if ((unsigned)o->emit > BERTC_EMIT_HEADER || (unsigned)o->weights > BERTC_WEIGHTS_EXTERNAL ||
      (unsigned)o->gemm > BERTC_GEMM_BLAS || (unsigned)o->task > BERTC_TASK_DISCRIMINATOR)
    return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT,
                             "compile options: emit, weights, gemm or task out of range");
  return BERTC_OK;
}

bertc_status_t bertc_compile(const char *model, const bertc_compile_options_t *o) {
  BERTC_RETURN_IF_ERROR(check_options(o));
  driver_options_t d;
  driver_options_init(&d);
  d.task = o->task;
  d.seq_lens = o->seq_lens;
  d.num_seq_lens = o->num_seq_lens;
  d.batch_sizes = o->batch_sizes;
  d.num_batch_sizes = o->num_batch_sizes;
  d.token_buckets = o->token_buckets;
  d.num_token_buckets = o->token_buckets ? o->num_token_buckets : 0;
  d.weights_external = o->weights == BERTC_WEIGHTS_MODEL ? -1 : o->weights == BERTC_WEIGHTS_EXTERNAL;
  static const int gemms[] = {-1, FE_GEMM_BERTC, FE_GEMM_AMX, FE_GEMM_BLAS};
  d.gemm = gemms[o->gemm];
  d.passes = o->passes;
  d.disabled_passes = o->disabled_passes;
  d.pass.print_after = o->print_after;
  d.pass.verify_each = o->verify_each;
  d.pass.stats = o->stats;
  d.print_plan = o->stats;
  d.quiet = o->quiet;
  if (o->threads) d.lower.threads = d.pass.threads = o->threads;
  d.codegen.target_cpu = o->target_cpu;
  d.codegen.target_features = o->target_features;
  d.codegen.linker = o->linker;
  d.codegen.emit = (cg_emit_t)o->emit;
  d.codegen.jobs = o->jobs;
  d.codegen.progress = o->progress;
  d.codegen.progress_user = o->progress_user;
  double t0 = base_now_seconds();
  BERTC_RETURN_IF_ERROR(driver_compile(model, &d, o->output_path));
  if (o->progress) o->progress(o->progress_user, "total", base_now_seconds() - t0);
  return BERTC_OK;
}
