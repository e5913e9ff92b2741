/* The compile driver (see driver.h). */
#define _POSIX_C_SOURCE 200809L
#include "base/base.h"
#include "backend/driver.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tokenizer/tokenizer.h"

void driver_options_init(driver_options_t *o) {
  memset(o, 0, sizeof(*o));
  o->task = BERTC_TASK_AUTO;
  o->weights_external = -1;
  o->gemm = -1;
  o->precision = -1;
  pass_options_init(&o->pass);
  lower_options_init(&o->lower);
  cg_options_init(&o->codegen);
}

size_t driver_default_seq_lens(int64_t max, int64_t *out) {
  size_t n = 0;
  for (int64_t s = 16; s <= 512 && s < max; s *= 2) out[n++] = s;
  out[n++] = max < 512 ? max : 512;
  return n;
}

size_t driver_default_token_buckets(int64_t max_seq, int64_t *out) {
  int64_t t = (max_seq + LOWER_TOKEN_MULTIPLE - 1) / LOWER_TOKEN_MULTIPLE * LOWER_TOKEN_MULTIPLE;
  out[0] = t;
  out[1] = 4 * t;
  return 2;
}

/* Bucket sizes: the caller's, else model.json's (copied into out); 0 when
 * neither gives any. */
static size_t choose_sizes(const int64_t *given, size_t num_given, const int64_t *spec,
                           size_t num_spec, int64_t *out) {
  const int64_t *from = given ? given : spec;
  size_t n = given ? num_given : num_spec;
  if (n) memcpy(out, from, n * sizeof(int64_t));
  return n;
}

/* The token buckets: the caller's, model.json's or the defaults (none when
 * the graph cannot run packed); each a multiple of LOWER_TOKEN_MULTIPLE
 * that holds the longest sequence bucket. */
static bertc_status_t choose_token_buckets(const driver_options_t *o, const fe_model_t *m,
                                           const char *model_path, int64_t max_seq,
                                           int64_t *out, size_t *out_n) {
  *out_n = 0;
  if (o->token_buckets || m->spec.token_buckets_set) {
    *out_n = choose_sizes(o->token_buckets, o->num_token_buckets, m->spec.token_buckets,
                          m->spec.num_token_buckets, out);
    if (*out_n) BERTC_RETURN_IF_ERROR_CTX(lower_check_packable(m->graph), "%s", model_path);
  } else {
    bertc_status_t why = lower_check_packable(m->graph);
    if (!why) *out_n = driver_default_token_buckets(max_seq, out);
    if (why && !o->quiet)
      fprintf(stderr, "bertc: note: %s: no token buckets: %s\n", model_path,
              bertc_status_message(why));
    bertc_status_free(why);
  }
  for (size_t i = 0; i < *out_n; i++) {
    if (out[i] % LOWER_TOKEN_MULTIPLE)
      return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT,
                               "%s: token bucket %lld is not a multiple of %d", model_path,
                               (long long)out[i], LOWER_TOKEN_MULTIPLE);
    if (out[i] < max_seq)
      return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT,
                               "%s: token bucket %lld cannot hold a sequence of the longest "
                               "sequence bucket (%lld)",
                               model_path, (long long)out[i], (long long)max_seq);
  }
  return BERTC_OK;
}

static void report(const driver_options_t *o, const char *phase, double t0) {
  if (o->codegen.progress) o->codegen.progress(o->codegen.progress_user, phase, base_now_seconds() - t0);
}

bertc_status_t driver_compile(const char *model_path, const driver_options_t *opts,
                              const char *out_path) {
  driver_options_t o = *opts;
  double t = base_now_seconds();
  fe_load_options_t fo;
  fe_load_options_init(&fo);
  fo.warn_nonfinite = true; /* a warning, not a note: -q keeps it */
  fo.task = o.task;
  fe_model_t *m = NULL;
  BERTC_RETURN_IF_ERROR(fe_model_load(model_path, &fo, &m));
  report(&o, "import", t);

  int64_t seqs[FE_MAX_BUCKETS], batches[FE_MAX_BUCKETS];
  bertc_status_t s = BERTC_OK;
  size_t nseq = choose_sizes(o.seq_lens, o.num_seq_lens, m->spec.seq_lens,
                             m->spec.num_seq_lens, seqs);
  if (!nseq) nseq = driver_default_seq_lens(m->max_seq_length, seqs);
  size_t nbatch = choose_sizes(o.batch_sizes, o.num_batch_sizes, m->spec.batch_sizes,
                               m->spec.num_batch_sizes, batches);
  if (!nbatch) batches[nbatch++] = 1;
  for (size_t i = 0; !s && i < nseq; i++)
    if (seqs[i] < 1 || seqs[i] > m->max_seq_length)
      s = bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT,
                            "%s: sequence bucket %lld is outside 1..%lld (the model's maximum)",
                            model_path, (long long)seqs[i], (long long)m->max_seq_length);
  if (!o.codegen.target_cpu) o.codegen.target_cpu = m->spec.target_cpu;
  if (!o.codegen.target_features) o.codegen.target_features = m->spec.target_features;
  o.codegen.weights_external = o.weights_external >= 0 ? o.weights_external : m->spec.weights_external;
  int gemm = o.gemm >= 0 ? o.gemm : (int)m->spec.gemm;
  if (gemm == FE_GEMM_AMX) o.lower.gemm = LOWER_GEMM_AMX;
  if (gemm == FE_GEMM_BLAS) o.lower.gemm = LOWER_GEMM_BLAS;
  if (!s && o.lower.gemm == LOWER_GEMM_AMX) {
    /* Every variant runs the same lowered program, so each needs AMX. */
    cg_target_t *targets = NULL;
    size_t count = 0;
    s = cg_resolve_targets(o.codegen.target_cpu, o.codegen.target_features, &targets, &count);
    for (size_t i = 0; !s && i < count; i++)
      if (!cg_target_has_amx(targets[i].cpu, targets[i].features))
        s = bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT,
                              "%s: gemm 'amx' needs AMX-BF16, and target cpu '%s' lacks it "
                              "(needs amx-tile, amx-bf16, avx512bf16, avx512bw, avx512vl)",
                              model_path, targets[i].cpu);
    cg_targets_free(targets, count);
  }

  /* int8: the pipeline's int8 passes, the int8 GEMM for the target, and the
   * precision (with the layers kept in fp32) in the metadata */
  bool int8 = o.precision >= 0 ? o.precision == 1 : !strcmp(m->spec.precision, "int8");
  o.pass.int8 = int8;
  if (!s) {
    free(m->spec.precision);
    m->spec.precision = NULL;
    s = base_strdup(int8 ? "int8" : "fp32", &m->spec.precision);
  }
  if (!s && int8 && o.pass.keep_fp32 && *o.pass.keep_fp32)
    s = base_strdup(o.pass.keep_fp32, &m->spec.keep_fp32);
  if (!s && int8) {
    /* Every variant of a list runs the same lowered program: the int8 GEMM of
     * the weakest target (its activation codes are the program's too). */
    cg_target_t *targets = NULL;
    size_t count = 0;
    s = cg_resolve_targets(o.codegen.target_cpu, o.codegen.target_features, &targets, &count);
    for (size_t i = 0; !s && i < count; i++) {
      int level = cg_target_int8_level(targets[i].cpu, targets[i].features);
      if (i == 0 || level < o.lower.int8_level) o.lower.int8_level = level;
    }
    cg_targets_free(targets, count);
  }

  t = base_now_seconds();
  if (!s) s = pass_run_pipeline(m->graph, o.passes, o.disabled_passes, &o.pass);
  if (!s) report(&o, "passes", t);

  char *meta = NULL;
  uint8_t *blob = NULL;
  size_t blob_size = 0;
  layout_t layout;
  lower_result_t lr;
  memset(&layout, 0, sizeof(layout));
  memset(&lr, 0, sizeof(lr));
  int64_t tokens[FE_MAX_BUCKETS], max_seq = 0;
  size_t ntokens = 0;
  for (size_t i = 0; i < nseq; i++)
    if (seqs[i] > max_seq) max_seq = seqs[i];
  if (!s) s = choose_token_buckets(&o, m, model_path, max_seq, tokens, &ntokens);
  lower_buckets_t buckets = {batches, nbatch, seqs, nseq, tokens, ntokens};
  t = base_now_seconds();
  if (!s) s = layout_weights(m->graph, &o.lower, &buckets, &layout);
  if (!s && o.pass.verify_each)
    s = bertc_status_annotate(ir_verify(m->graph), "the weight layout left an invalid graph");
  if (!s) s = fe_model_metadata_json(m, &meta);
  if (!s) {
    bertc_status_t ts = tok_pack_dir(m->spec.tokenizer_dir, &blob, &blob_size);
    if (ts && bertc_status_code(ts) == BERTC_STATUS_NOT_FOUND) {
      if (!o.quiet)
        fprintf(stderr, "bertc: note: %s; the .so takes token ids only\n",
                bertc_status_message(ts));
      bertc_status_free(ts);
    } else {
      s = ts;
    }
  }
  if (!s) s = lower_program(m->graph, &layout, m->spec.name, &buckets, &o.lower, &lr);
  if (!s) {
    lr.program.metadata_json = meta;
    lr.program.tokenizer_blob = blob;
    lr.program.tokenizer_blob_size = blob_size;
    report(&o, "lower", t);
    for (size_t b = 0; o.print_plan && b < lr.program.num_buckets; b++) {
      const cg_bucket_t *bk = &lr.program.buckets[b];
      fprintf(stderr,
              "memory plan: %s %4d %s %4d  arena %10llu bytes  peak live %10llu  "
              "efficiency %.3f  kernel calls %zu\n",
              bk->packed ? "seqs " : "batch", bk->batch, bk->packed ? "tokens" : "seq",
              bk->seq, (unsigned long long)bk->arena_bytes,
              (unsigned long long)bk->peak_live_bytes,
              bk->arena_bytes ? (double)bk->peak_live_bytes / (double)bk->arena_bytes : 1.0,
              bk->num_calls);
    }
  }
  if (!s) s = cg_compile(&lr.program, &o.codegen, out_path);
  lower_result_deinit(&lr);
  layout_deinit(&layout);
  free(blob);
  free(meta);
  fe_model_destroy(m);
  return s;
}
