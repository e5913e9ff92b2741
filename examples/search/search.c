/* search: semantic search over a small document set with a sentence
 * embedding model compiled by bertc.
 *
 *     search [-k N] MODEL.so DOCS.txt QUERY [QUERY ...]
 *
 * Every non-empty line of DOCS.txt is a document. The program embeds the
 * documents and each query with the model (the tokenizer comes from the .so),
 * ranks the documents by cosine similarity to the query and prints the best
 * N (default 3). Only the public runtime API is used: <bertc/bertc.h>.
 *
 * The model must output a sentence embedding: a sentence-transformers model
 * such as all-MiniLM-L6-v2, or any encoder compiled with --task embedding. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bertc/bertc.h>

#define BATCH 16

typedef struct {
  bertc_model_t *model;
  bertc_tokenizer_t *tokenizer;
  bertc_context_t *ctx;
  int64_t dim;
} embedder_t;

static bertc_status_t fail(const char *msg) {
  return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT, "%s", msg);
}

/* Embeds texts[0..n) into out[n * dim], BATCH texts per run. */
static bertc_status_t embed(embedder_t *e, char **texts, int n, float *out) {
  for (int first = 0; first < n; first += BATCH) {
    int count = n - first < BATCH ? n - first : BATCH;
    bertc_encoding_t enc[BATCH];
    const int32_t *ids[BATCH], *types[BATCH];
    int32_t lens[BATCH];
    bertc_status_t s = BERTC_OK;
    int done = 0;
    for (; !s && done < count; done++) {
      const char *t = texts[first + done];
      s = bertc_tokenizer_encode(e->tokenizer, t, strlen(t), NULL, 0, &enc[done]);
      ids[done] = enc[done].input_ids;
      types[done] = enc[done].token_type_ids;
      lens[done] = enc[done].length;
    }
    bertc_run_input_t in;
    bertc_run_input_init(&in);
    in.count = count;
    in.lengths = lens;
    in.input_ids = ids;
    in.token_type_ids = types;
    if (!s) s = bertc_context_run(e->ctx, &in);
    bertc_tensor_view_t v;
    if (!s) s = bertc_context_output_by_name(e->ctx, "sentence_embedding", &v);
    if (!s)
      memcpy(out + (size_t)first * (size_t)e->dim, v.data,
             (size_t)count * (size_t)e->dim * sizeof(float));
    for (int i = 0; i < done; i++)
      bertc_tokenizer_encoding_deinit(&enc[i]);
    if (s) return s;
  }
  return BERTC_OK;
}

static double cosine(const float *a, const float *b, int64_t n) {
  double ab = 0, aa = 0, bb = 0;
  for (int64_t i = 0; i < n; i++) {
    ab += (double)a[i] * b[i];
    aa += (double)a[i] * a[i];
    bb += (double)b[i] * b[i];
  }
  return aa > 0 && bb > 0 ? ab / sqrt(aa * bb) : 0;
}

/* Non-empty lines of a file, trailing newline (and \r) removed. */
static char **read_lines(const char *path, int *out_n) {
  FILE *f = fopen(path, "r");
  if (!f) return NULL;
  char **lines = NULL, buf[4096];
  int n = 0;
  while (fgets(buf, sizeof buf, f)) {
    size_t len = strcspn(buf, "\r\n");
    buf[len] = '\0';
    if (!len) continue;
    lines = realloc(lines, (size_t)(n + 1) * sizeof *lines);
    lines[n] = malloc(len + 1);
    memcpy(lines[n++], buf, len + 1);
  }
  fclose(f);
  *out_n = n;
  return lines;
}

int main(int argc, char **argv) {
  int k = 3, a = 1;
  if (argc > 2 && !strcmp(argv[1], "-k")) {
    k = atoi(argv[2]);
    a = 3;
  }
  if (argc - a < 3 || k < 1) {
    fprintf(stderr, "usage: search [-k N] MODEL.so DOCS.txt QUERY [QUERY ...]\n");
    return 2;
  }
  const char *model_path = argv[a], *docs_path = argv[a + 1];
  int num_docs = 0;
  char **docs = read_lines(docs_path, &num_docs);
  if (!docs || !num_docs) {
    fprintf(stderr, "search: %s: no documents (one per line)\n", docs_path);
    return 1;
  }
  embedder_t e = {0};
  bertc_context_options_t co;
  bertc_context_options_init(&co);
  co.max_batch = BATCH;
  bertc_status_t s = bertc_model_load(model_path, NULL, &e.model);
  if (!s) s = bertc_tokenizer_create_from_model(e.model, &e.tokenizer);
  if (!s) s = bertc_context_create(e.model, &co, &e.ctx);
  if (!s) { /* the embedding output is [batch, dim] */
    uint32_t n;
    const bertc_abi_tensor_t *outs = bertc_model_outputs(e.model, &n);
    for (uint32_t i = 0; i < n; i++)
      if (!strcmp(outs[i].name, "sentence_embedding")) e.dim = outs[i].dims[1];
    if (!e.dim)
      s = fail("the model has no sentence_embedding output (compile it with --task embedding)");
  }
  float *doc_emb = NULL, *q_emb = NULL;
  if (!s) {
    doc_emb = malloc((size_t)num_docs * (size_t)e.dim * sizeof *doc_emb);
    q_emb = malloc((size_t)e.dim * sizeof *q_emb);
    s = embed(&e, docs, num_docs, doc_emb);
  }
  int *order = malloc((size_t)num_docs * sizeof *order);
  double *score = malloc((size_t)num_docs * sizeof *score);
  for (int q = a + 2; !s && q < argc; q++) {
    s = embed(&e, &argv[q], 1, q_emb);
    if (s) break;
    for (int d = 0; d < num_docs; d++) {
      score[d] = cosine(q_emb, doc_emb + (size_t)d * (size_t)e.dim, e.dim);
      int j = d; /* insertion sort, best first */
      while (j > 0 && score[order[j - 1]] < score[d]) {
        order[j] = order[j - 1];
        j--;
      }
      order[j] = d;
    }
    printf("%s\n", argv[q]);
    for (int r = 0; r < k && r < num_docs; r++)
      printf("  %.4f  %s\n", score[order[r]], docs[order[r]]);
  }
  free(order);
  free(score);
  free(doc_emb);
  free(q_emb);
  for (int d = 0; d < num_docs; d++)
    free(docs[d]);
  free(docs);
  bertc_context_release(e.ctx);
  bertc_tokenizer_release(e.tokenizer);
  bertc_model_release(e.model);
  if (s) {
    fprintf(stderr, "search: %s\n", bertc_status_message(s));
    bertc_status_free(s);
    return 1;
  }
  return 0;
}
