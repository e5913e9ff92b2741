/* bertc_compile and its options (bertc/compiler.h) over the backend's
 * driver: the public options map onto the driver's, the frontend's and the
 * passes', after the checks that keep the driver's fixed-size tables safe. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/driver.h"
#include "compiler/agreement.h"
#include "passes/passes.h"
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
      (unsigned)o->gemm > BERTC_GEMM_BLAS || (unsigned)o->task > BERTC_TASK_DISCRIMINATOR ||
      (unsigned)o->precision > BERTC_PRECISION_INT8)
    return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT,
                             "compile options: emit, weights, gemm, task or precision out of range");
  return BERTC_OK;
}

/* Whether the .so at path was compiled with precision int8 (its metadata). */
static bool is_int8(const char *path) {
  bertc_model_load_options_t lo;
  bertc_model_load_options_init(&lo);
  lo.inspect_only = true;
  bertc_model_t *m = NULL;
  bertc_status_t s = bertc_model_load(path, &lo, &m);
  bool int8 = !s && strstr(bertc_model_metadata_json(m), "\"precision\":\"int8\"") != NULL;
  bertc_status_free(s);
  bertc_model_release(m);
  return int8;
}

/* The largest sequence bucket of the .so at path (0 when it does not load). */
static int64_t max_seq_of(const char *path) {
  bertc_model_load_options_t lo;
  bertc_model_load_options_init(&lo);
  lo.inspect_only = true;
  bertc_model_t *m = NULL;
  bertc_status_t s = bertc_model_load(path, &lo, &m);
  int64_t seq = s ? 0 : bertc_model_max_seq(m);
  bertc_status_free(s);
  bertc_model_release(m);
  return seq;
}

/* Token ids for the sensitivity ranking: the first 4 probe texts, at most 16
 * tokens each, encoded by the .so's tokenizer and padded (mask 0); without
 * tokenizer files, 4 pseudo-random sequences of 16 ids. */
static bertc_status_t sensitivity_inputs(const char *so, const char *const *texts, size_t n,
                                         int32_t **ids, int32_t **mask, int64_t *batch,
                                         int64_t *seq) {
  enum { B = 4, S = 16 };
  bertc_model_load_options_t lo;
  bertc_model_load_options_init(&lo);
  lo.inspect_only = true;
  bertc_model_t *m = NULL;
  BERTC_RETURN_IF_ERROR(bertc_model_load(so, &lo, &m));
  bertc_tokenizer_t *tok = NULL;
  bertc_status_t s = bertc_tokenizer_create_from_model(m, &tok);
  bool have_tok = !s;
  if (s && bertc_status_code(s) == BERTC_STATUS_NOT_FOUND) {
    bertc_status_free(s);
    s = BERTC_OK;
  }
  int64_t vocab = bertc_model_vocab_size(m);
  if (!s) s = base_calloc(B * S, sizeof(int32_t), (void **)ids);
  if (!s) s = base_calloc(B * S, sizeof(int32_t), (void **)mask);
  uint64_t x = 88172645463325252ull;
  int64_t b = 0;
  for (; !s && b < B && (!have_tok || (size_t)b < n); b++) {
    bertc_encoding_t enc;
    memset(&enc, 0, sizeof enc);
    int32_t len = S;
    if (have_tok) {
      s = bertc_tokenizer_encode(tok, texts[b], strlen(texts[b]), NULL, 0, &enc);
      len = enc.length < S ? enc.length : S;
    }
    for (int32_t t = 0; !s && t < len; t++) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      (*ids)[b * S + t] = have_tok ? enc.input_ids[t]
                                   : (int32_t)(vocab > 4 ? 2 + x % (uint64_t)(vocab - 2) : 0);
      (*mask)[b * S + t] = 1;
    }
    bertc_tokenizer_encoding_deinit(&enc);
  }
  *batch = b;
  *seq = S;
  bertc_tokenizer_release(tok);
  bertc_model_release(m);
  return s;
}

/* --keep-fp32 auto after a failed probe: ranks the int8 layers by their own
 * error on the probe (pass_int8_sensitivity) and recompiles keeping the 1, 2,
 * 4, ... most sensitive ones in fp32 until the agreement is met or all are
 * kept; *report and *ok describe the last build, *kept lists what it kept. */
static bertc_status_t keep_auto(const char *model, const bertc_compile_options_t *o,
                                const driver_options_t *d, const char *fp32,
                                const char *const *texts, size_t num_texts, double min_cosine,
                                char **report, bool *ok, char **kept) {
  fe_load_options_t fo;
  fe_load_options_init(&fo);
  fo.task = d->task;
  fe_model_t *m = NULL;
  BERTC_RETURN_IF_ERROR(fe_model_load(model, &fo, &m));
  pass_options_t po;
  pass_options_init(&po);
  bertc_status_t s = pass_run_pipeline(m->graph, d->passes, d->disabled_passes, &po);
  const char **names = NULL;
  size_t count = 0;
  if (!s) s = pass_int8_candidates(m->graph, &names, &count);
  double *err = NULL;
  size_t *order = NULL;
  int32_t *ids = NULL, *mask = NULL;
  int64_t batch = 0, seq = 0;
  size_t num_builtin;
  const char *const *probe = texts ? texts : agreement_builtin_texts(&num_builtin);
  size_t num_probe = texts ? num_texts : num_builtin;
  if (!s) s = base_calloc(count + 1, sizeof(double), (void **)&err);
  if (!s) s = base_calloc(count + 1, sizeof(size_t), (void **)&order);
  if (!s) s = sensitivity_inputs(o->output_path, probe, num_probe, &ids, &mask, &batch, &seq);
  if (!s && batch > 0) s = pass_int8_sensitivity(m->graph, batch, seq, ids, mask, err);
  for (size_t i = 0; i < count; i++) order[i] = i;
  for (size_t i = 1; !s && i < count; i++) /* by error, largest first; stable */
    for (size_t j = i; j > 0 && err[order[j]] > err[order[j - 1]]; j--) {
      size_t t = order[j];
      order[j] = order[j - 1];
      order[j - 1] = t;
    }
  size_t cap = 1;
  for (size_t i = 0; i < count; i++) cap += (names[i] ? strlen(names[i]) : 0) + 32;
  char *list = NULL, *described = NULL;
  if (!s) s = base_calloc(cap, 1, (void **)&list);
  if (!s) s = base_calloc(cap, 1, (void **)&described);
  for (size_t k = 1; !s && k <= count;) {
    list[0] = described[0] = '\0';
    for (size_t i = 0; i < k; i++) {
      const char *nm = names[order[i]];
      if (!nm || strstr(list, nm)) continue; /* shared weights (ALBERT) once */
      size_t at = strlen(list), dat = strlen(described);
      snprintf(list + at, cap - at, "%s%s", at ? "," : "", nm);
      snprintf(described + dat, cap - dat, "%s%s (int8 error %.4f)", dat ? ", " : "", nm,
               err[order[i]]);
    }
    driver_options_t k8 = *d;
    k8.pass.keep_fp32 = list;
    k8.quiet = true;
    k8.codegen.progress = NULL;
    s = driver_compile(model, &k8, o->output_path);
    free(*report);
    *report = NULL;
    if (!s) s = agreement_measure(o->output_path, fp32, texts, num_texts, min_cosine, report, ok);
    if (s || *ok || k == count) break;
    k = 2 * k < count ? 2 * k : count;
  }
  if (!s) {
    *kept = described;
    described = NULL;
  }
  free(list);
  free(described);
  free(ids);
  free(mask);
  free(err);
  free(order);
  free(names);
  fe_model_destroy(m);
  return s;
}

/* The agreement probe of an int8 .so (bertc_compile_options_t.probe_texts):
 * an fp32 build of the model for batch 1 and sequence buckets 32 and the .so's
 * largest, optimized at -O1 (it runs once, on a few dozen inputs: LLVM's time
 * matters more than the code's), beside the output, removed after. */
static bertc_status_t probe_int8(const char *model, const bertc_compile_options_t *o,
                                 const driver_options_t *d, const char *const *texts,
                                 size_t num_texts) {
  if (!is_int8(o->output_path)) return BERTC_OK;
  double t0 = base_now_seconds();
  int64_t top = max_seq_of(o->output_path), seqs[3], batch = 1;
  size_t n = 0;
  if (top > 32) seqs[n++] = 32;
  seqs[n++] = top;
  driver_options_t f = *d;
  f.precision = 0;
  f.pass.keep_fp32 = NULL;
  f.seq_lens = seqs;
  f.num_seq_lens = n;
  f.batch_sizes = &batch;
  f.num_batch_sizes = 1;
  f.weights_external = 0;
  f.codegen.emit = CG_EMIT_SO;
  f.codegen.opt_level = 1; /* a reference, run once: LLVM's time matters more than its speed */
  f.codegen.progress = NULL;
  f.pass.print_after = NULL;
  f.pass.stats = false;
  f.print_plan = false;
  f.quiet = true;
  size_t len = strlen(o->output_path) + sizeof ".fp32-probe.so";
  char *fp32 = NULL;
  BERTC_RETURN_IF_ERROR(base_alloc(len, (void **)&fp32));
  snprintf(fp32, len, "%s.fp32-probe.so", o->output_path);
  double min_cosine = o->min_cosine > 0 ? o->min_cosine : 0.99;
  char *report = NULL;
  bool ok = false;
  char *kept = NULL;
  bertc_status_t s = driver_compile(model, &f, fp32);
  if (!s) s = agreement_measure(o->output_path, fp32, texts, num_texts, min_cosine, &report, &ok);
  if (!s && !ok && o->keep_fp32 && !strcmp(o->keep_fp32, "auto")) {
    if (!o->quiet) fprintf(stderr, "bertc: %s\nbertc: below %g: ranking the layers by their int8 error\n",
                           report, min_cosine);
    s = keep_auto(model, o, d, fp32, texts, num_texts, min_cosine, &report, &ok, &kept);
  }
  unlink(fp32);
  free(fp32);
  if (!s && o->progress) o->progress(o->progress_user, "accuracy probe", base_now_seconds() - t0);
  if (!s && ok && !o->quiet)
    fprintf(stderr, "bertc: %s%s%s\n", report, kept ? "\n  kept in fp32: " : "", kept ? kept : "");
  if (!s && !ok) {
    s = bertc_status_make(BERTC_STATUS_DATA,
                          "%s: refused: an output's mean cosine to fp32 is below %g (keep layers "
                          "in fp32 with --keep-fp32, or compile fp32):\n%s",
                          o->output_path, min_cosine, report);
  }
  if (s) { /* no output is left behind */
    unlink(o->output_path);
    size_t wl = strlen(o->output_path) + sizeof ".weights";
    char *w = malloc(wl);
    if (w) {
      snprintf(w, wl, "%s.weights", o->output_path);
      unlink(w);
      free(w);
    }
  }
  free(report);
  free(kept);
  return s;
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
  d.precision = o->precision == BERTC_PRECISION_MODEL ? -1 : o->precision == BERTC_PRECISION_INT8;
  /* "auto": nothing kept at first; the probe decides (keep_auto) */
  d.pass.keep_fp32 = o->keep_fp32 && strcmp(o->keep_fp32, "auto") ? o->keep_fp32 : NULL;
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
  /* the probe texts are read first: a bad file fails before the compile's time is spent */
  char **texts = NULL;
  size_t num_texts = 0;
  bool probe = o->emit == BERTC_EMIT_SO && o->min_cosine >= 0;
  if (probe && o->probe_texts)
    BERTC_RETURN_IF_ERROR(agreement_read_texts(o->probe_texts, &texts, &num_texts));
  bertc_status_t s = driver_compile(model, &d, o->output_path);
  if (!s && probe) s = probe_int8(model, o, &d, (const char *const *)texts, num_texts);
  agreement_free_texts(texts, num_texts);
  if (!s && o->progress) o->progress(o->progress_user, "total", base_now_seconds() - t0);
  return s;
}
