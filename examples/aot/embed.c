/* embed: run a model that `bertc compile` built ahead of time, through the
 * public runtime API (<bertc/bertc.h>) and nothing else.
 *
 *     embed [--model FILE.so] [IDS ...]
 *
 * Each IDS is one sequence of comma-separated token ids, e.g. 2,13,208,3; all
 * of them run as one batch. Without IDS two built-in sequences run (ids that
 * are valid in any vocabulary of 1000 tokens or more; real ids come from the
 * model's tokenizer). Without --model the program loads the .so that its build
 * compiled: CMakeLists.txt links the `encoder_model` target of
 * bertc_add_model(encoder ...), which defines ENCODER_MODEL_PATH.
 *
 * The steps are the API's whole life cycle: load the model (one per process,
 * shareable between threads), create a context (one per thread: it holds every
 * buffer a run needs), run, read the outputs, release. For each output the
 * program prints its name, dtype and shape, then the first values of every
 * sequence. Errors are printed with the runtime's message and exit status 1. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bertc/bertc.h>

#ifndef ENCODER_MODEL_PATH
#define ENCODER_MODEL_PATH NULL
#endif

enum { MAX_SEQUENCES = 256, VALUES_SHOWN = 8 };

/* Parses "2,13,208,3" into a new array; NULL (with a message) when it is not a
 * list of non-negative integers. */
static int32_t *parse_ids(const char *text, int32_t *out_len) {
  *out_len = 0;
  size_t cap = 1;
  for (const char *p = text; *p; p++) cap += *p == ',';
  int32_t *ids = malloc(cap * sizeof(*ids));
  if (!ids) {
    fprintf(stderr, "embed: out of memory\n");
    return NULL;
  }
  const char *p = text;
  for (size_t n = 0; n < cap; n++) {
    char *end;
    errno = 0;
    long v = strtol(p, &end, 10);
    if (end == p || errno || v < 0 || v > INT32_MAX || (*end != ',' && *end != '\0')) {
      fprintf(stderr, "embed: '%s': expected comma-separated token ids like 2,13,208,3\n", text);
      free(ids);
      return NULL;
    }
    ids[n] = (int32_t)v;
    p = end + 1;
  }
  *out_len = (int32_t)cap;
  return ids;
}

static const char *dtype_name(bertc_dtype_t dtype) {
  return dtype == BERTC_DTYPE_F32 ? "f32" : dtype == BERTC_DTYPE_I32 ? "i32" : "?";
}

/* "name f32 [2, 32]", then per sequence its first values. An output's first
 * dim is the sequence; the rest (e.g. [L, hidden] for a per-token output) is
 * that sequence's block, printed from its start. */
static void print_output(const bertc_tensor_view_t *v) {
  printf("output %s %s [", v->name, dtype_name(v->dtype));
  int64_t per_sequence = 1;
  for (int32_t d = 0; d < v->rank; d++) {
    printf("%s%lld", d ? ", " : "", (long long)v->dims[d]);
    if (d > 0) per_sequence *= v->dims[d];
  }
  printf("]\n");
  int64_t shown = per_sequence < VALUES_SHOWN ? per_sequence : VALUES_SHOWN;
  for (int64_t s = 0; s < v->dims[0]; s++) {
    printf("  [%lld]", (long long)s);
    for (int64_t i = 0; i < shown; i++) {
      int64_t at = s * per_sequence + i;
      if (v->dtype == BERTC_DTYPE_F32)
        printf(" %.7g", (double)((const float *)v->data)[at]);
      else
        printf(" %d", ((const int32_t *)v->data)[at]);
    }
    printf("%s\n", shown < per_sequence ? " ..." : "");
  }
}

/* Load, create a context, run the batch, print the outputs. */
static bertc_status_t embed(const char *so_path, int32_t count, const int32_t *const *ids,
                            const int32_t *lengths) {
  bertc_model_t *model = NULL;
  bertc_context_t *ctx = NULL;

  /* Loading checks the .so's ABI version, that this CPU has the features the
   * code was compiled for, and the weights. */
  bertc_status_t s = bertc_model_load(so_path, NULL, &model);
  if (s) return s;
  uint32_t num_buckets = 0;
  const bertc_abi_bucket_t *buckets = bertc_model_buckets(model, &num_buckets);
  printf("model %s (%s), buckets", bertc_model_path(model),
         bertc_model_descriptor(model)->model_name);
  for (uint32_t b = 0; b < num_buckets; b++) printf(" %dx%d", buckets[b].batch, buckets[b].seq);
  printf("\n");

  /* A batch larger than the largest bucket is split into several calls; the
   * context's buffers are sized for max_batch sequences. */
  bertc_context_options_t opts;
  bertc_context_options_init(&opts);
  opts.max_batch = count;
  s = bertc_context_create(model, &opts, &ctx);

  /* No token types and no mask given: zeros, and 1 on every real token. */
  bertc_run_input_t in;
  bertc_run_input_init(&in);
  in.count = count;
  in.lengths = lengths;
  in.input_ids = ids;
  if (!s) s = bertc_context_run(ctx, &in);

  uint32_t num_outputs = 0;
  bertc_model_outputs(model, &num_outputs);
  for (uint32_t o = 0; !s && o < num_outputs; o++) {
    bertc_tensor_view_t view;
    s = bertc_context_output(ctx, o, &view);
    if (!s) print_output(&view);
  }
  bertc_context_release(ctx);
  bertc_model_release(model);
  return s;
}

int main(int argc, char **argv) {
  const char *so_path = ENCODER_MODEL_PATH;
  int first_ids = 1;
  if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
    printf("usage: %s [--model FILE.so] [ID,ID,... ...]\n", argv[0]);
    return 0;
  }
  if (argc > 1 && !strcmp(argv[1], "--model")) {
    so_path = argc > 2 ? argv[2] : NULL;
    first_ids = 3;
  }
  if (!so_path) {
    fprintf(stderr, "embed: no model: pass --model FILE.so\n");
    return 1;
  }

  static const int32_t first[] = {2, 13, 208, 779, 24, 3}, second[] = {2, 338, 433, 3};
  const int32_t *ids[MAX_SEQUENCES] = {first, second};
  int32_t lengths[MAX_SEQUENCES] = {6, 4};
  int32_t *owned[MAX_SEQUENCES] = {NULL};
  int32_t count = argc > first_ids ? 0 : 2;
  int rc = 0;
  for (int a = first_ids; a < argc && rc == 0; a++) {
    if (count == MAX_SEQUENCES) {
      fprintf(stderr, "embed: at most %d sequences\n", MAX_SEQUENCES);
      rc = 1;
    } else if ((owned[count] = parse_ids(argv[a], &lengths[count])) == NULL) {
      rc = 1;
    } else {
      ids[count] = owned[count];
      count++;
    }
  }

  if (rc == 0) {
    bertc_status_t s = embed(so_path, count, ids, lengths);
    if (s) {
      fprintf(stderr, "embed: %s\n", bertc_status_message(s));
      bertc_status_free(s);
      rc = 1;
    }
  }
  for (int32_t i = 0; i < count; i++) free(owned[i]);
  return rc;
}
