/* The agreement of an int8 model with its fp32 model, measured at compile time
 * (see agreement.h). */
#define _POSIX_C_SOURCE 200809L
#include "compiler/agreement.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"

/* The built-in probe: varied English, a few other languages, questions,
 * lists, numbers, code and fragments. */
static const char *const builtin_texts[] = {
    "The quick brown fox jumps over the lazy dog.",
    "How do I reset my password if I no longer have access to my email?",
    "Stocks fell sharply on Tuesday after the central bank raised interest rates.",
    "She played the violin at the concert hall every Sunday evening.",
    "Photosynthesis converts light energy into chemical energy stored in glucose.",
    "Can you recommend a good Italian restaurant near the train station?",
    "The patient was prescribed 20 mg of atorvastatin once daily.",
    "Error: connection refused (errno 111) while contacting 10.0.0.12:8080",
    "I absolutely loved this movie, the acting was superb!",
    "This was the worst customer service experience I have ever had.",
    "Mount Everest is the highest mountain above sea level.",
    "def add(a, b):\n    return a + b",
    "Paris is the capital and most populous city of France.",
    "The committee will meet again next Thursday to finalize the budget.",
    "Water boils at 100 degrees Celsius at sea level.",
    "Please turn off the lights before you leave the office.",
    "A neural network is trained by minimizing a loss function with gradient descent.",
    "The museum's new exhibition features paintings from the early Renaissance.",
    "Who wrote Pride and Prejudice?",
    "Jane Austen published Pride and Prejudice in 1813.",
    "Add two cups of flour, one egg and a pinch of salt, then stir well.",
    "The train to Berlin departs from platform 9 at 14:35.",
    "My laptop battery drains quickly even when the screen is off.",
    "The defendant pleaded not guilty to all charges.",
    "Quantum computers use qubits that can exist in superposition.",
    "The hotel room was clean, quiet and had a wonderful view of the sea.",
    "Der schnelle braune Fuchs springt über den faulen Hund.",
    "El gato duerme en el sofá toda la tarde.",
    "Le musée est fermé le lundi.",
    "東京は日本の首都です。",
    "Привет, как дела?",
    "The GDP of the country grew by 3.2% in the second quarter.",
    "Remember to water the plants twice a week during the summer.",
    "The software update fixes a bug that caused the app to crash on startup.",
    "What is the difference between a virus and a bacterium?",
    "Viruses need a host cell to replicate, while bacteria can live on their own.",
    "He scored the winning goal in the final minute of the match.",
    "Our flight was delayed by three hours because of a storm.",
    "The contract terminates automatically unless renewed in writing.",
    "Sunflowers turn their heads to follow the sun across the sky.",
    "I need a vegetarian recipe that takes less than thirty minutes.",
    "The bridge was closed for repairs after the earthquake.",
    "Machine translation quality has improved dramatically in recent years.",
    "Is it going to rain tomorrow in Seattle?",
    "The library extended its opening hours during the exam period.",
    "Invoice #4471 is overdue; please remit payment within 14 days.",
    "Elephants can recognize themselves in a mirror.",
    "The new policy takes effect on January 1st.",
    "Click the button in the top right corner to download the report.",
    "A balanced diet includes fruits, vegetables, grains and protein.",
    "The orchestra tuned their instruments before the performance began.",
    "Why is the sky blue?",
    "Sunlight is scattered by the molecules of the atmosphere, blue light most.",
    "ok",
    "thanks!!",
    "N/A",
    "Breaking: local team wins championship for the first time in 50 years",
    "The API returns a JSON object with the fields id, name and created_at.",
    "Astronomers discovered a new exoplanet orbiting a nearby red dwarf star.",
    "I can't believe how fast this year has gone by.",
    "The meeting notes are attached; let me know if anything is missing.",
    "Regular exercise reduces the risk of heart disease and improves mood.",
    "The recipe calls for 250 g of butter and 3 tablespoons of sugar.",
    "Wind turbines convert the kinetic energy of moving air into electricity.",
};

const char *const *agreement_builtin_texts(size_t *count) {
  *count = BASE_ARRAY_LEN(builtin_texts);
  return builtin_texts;
}

static double cosine(const float *a, const float *b, size_t n) {
  double ab = 0, aa = 0, bb = 0;
  for (size_t i = 0; i < n; i++) {
    ab += (double)a[i] * b[i];
    aa += (double)a[i] * a[i];
    bb += (double)b[i] * b[i];
  }
  if (aa == 0 && bb == 0) return 1.0;
  if (aa == 0 || bb == 0) return 0.0;
  return ab / sqrt(aa * bb);
}

bertc_status_t agreement_read_texts(const char *path, char ***out, size_t *count) {
  char *data = NULL;
  size_t size = 0;
  BERTC_RETURN_IF_ERROR(base_read_file(path, (size_t)1 << 30, &data, &size));
  size_t cap = 16, n = 0, lineno = 0;
  char **texts = NULL;
  bertc_status_t s = base_calloc(cap, sizeof(char *), (void **)&texts);
  for (char *p = data; !s && p < data + size;) {
    char *end = memchr(p, '\n', (size_t)(data + size - p));
    size_t len = end ? (size_t)(end - p) : (size_t)(data + size - p);
    lineno++;
    json_error_t err;
    json_t *j = len ? json_loadb(p, len, 0, &err) : NULL;
    const char *t = j ? json_string_value(json_object_get(j, "text")) : NULL;
    if (len && !t)
      s = bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT,
                            "%s:%zu: expected a JSON object with a \"text\" string", path, lineno);
    if (!s && t && n == cap) {
      char **more = realloc(texts, 2 * cap * sizeof(char *));
      if (!more) s = bertc_status_make(BERTC_STATUS_OUT_OF_MEMORY, "out of memory");
      else texts = more, cap *= 2;
    }
    if (!s && t) s = base_strdup(t, &texts[n++]);
    json_decref(j);
    p += len + 1;
  }
  free(data);
  if (!s && n == 0)
    s = bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT, "%s: no texts", path);
  if (s) {
    for (size_t i = 0; texts && i < n; i++) free(texts[i]);
    free(texts);
    return s;
  }
  *out = texts;
  *count = n;
  return BERTC_OK;
}

typedef struct engine {
  bertc_model_t *model;
  bertc_context_t *ctx;
} engine_t;

static bertc_status_t engine_open(const char *so, engine_t *e) {
  memset(e, 0, sizeof(*e));
  BERTC_RETURN_IF_ERROR(bertc_model_load(so, NULL, &e->model));
  bertc_context_options_t co;
  bertc_context_options_init(&co);
  bertc_status_t s = bertc_context_create(e->model, &co, &e->ctx);
  if (s) bertc_model_release(e->model);
  return s;
}

static void engine_close(engine_t *e) {
  bertc_context_release(e->ctx);
  bertc_model_release(e->model);
}

/* Per output: running mean / min of cosines and top-answer agreement. */
typedef struct stat {
  double sum, min;
  size_t count;
  size_t top_same, top_total;
} stat_t;

static bool is_logits(const char *name) { return strstr(name, "logits") != NULL; }

/* Compares output o of both engines after one run. */
static void compare(const bertc_tensor_view_t *a, const bertc_tensor_view_t *b, stat_t *st) {
  size_t n = (size_t)(a->size_bytes / 4);
  double c = cosine(a->data, b->data, n);
  st->sum += c;
  st->min = st->count ? fmin(st->min, c) : c;
  st->count++;
  if (!is_logits(a->name) || a->rank < 1) return;
  int64_t w = a->dims[a->rank - 1];
  const float *x = a->data, *y = b->data;
  for (size_t r = 0; w > 0 && r + (size_t)w <= n; r += (size_t)w) {
    int64_t ia = 0, ib = 0;
    for (int64_t j = 1; j < w; j++) {
      if (x[r + j] > x[r + ia]) ia = j;
      if (y[r + j] > y[r + ib]) ib = j;
    }
    st->top_same += ia == ib;
    st->top_total++;
  }
}

void agreement_free_texts(char **texts, size_t count) {
  for (size_t i = 0; texts && i < count; i++) free(texts[i]);
  free(texts);
}

bertc_status_t agreement_measure(const char *int8_so, const char *fp32_so,
                                 const char *const *user_texts, size_t num_user_texts,
                                 double min_cosine, char **out_report, bool *out_ok) {
  *out_report = NULL;
  *out_ok = false;
  double t0 = base_now_seconds();
  engine_t q, f;
  BERTC_RETURN_IF_ERROR(engine_open(int8_so, &q));
  bertc_status_t s = engine_open(fp32_so, &f);
  if (s) {
    engine_close(&q);
    return s;
  }
  const char *const *texts = user_texts ? user_texts : builtin_texts;
  size_t num_texts = user_texts ? num_user_texts : BASE_ARRAY_LEN(builtin_texts);
  bertc_tokenizer_t *tok = NULL;
  bool have_tok = false;
  if (!s) {
    bertc_status_t ts = bertc_tokenizer_create_from_model(q.model, &tok);
    have_tok = !ts;
    if (ts && bertc_status_code(ts) != BERTC_STATUS_NOT_FOUND) s = ts;
    else bertc_status_free(ts);
  }
  if (!s && !have_tok && user_texts)
    s = bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT,
                          "the probe texts: the model has no tokenizer files to encode them with");
  uint32_t num_outputs = 0;
  bertc_model_outputs(q.model, &num_outputs);
  stat_t stats[8];
  memset(stats, 0, sizeof stats);
  if (num_outputs > 8) num_outputs = 8;
  /* Without a tokenizer: 64 sequences of pseudo-random ids, lengths 4..67. */
  size_t runs = have_tok ? num_texts : 64;
  int32_t max_len = bertc_model_max_seq(q.model);
  int64_t vocab = bertc_model_vocab_size(q.model);
  uint64_t x = 88172645463325252ull;
  for (size_t i = 0; !s && i < runs; i++) {
    bertc_encoding_t enc;
    memset(&enc, 0, sizeof enc);
    int32_t ids_buf[68], len;
    const int32_t *ids;
    if (have_tok) {
      s = bertc_tokenizer_encode(tok, texts[i], strlen(texts[i]), NULL, 0, &enc);
      ids = enc.input_ids;
      len = enc.length;
    } else {
      len = (int32_t)(4 + i % 64);
      if (len > max_len) len = max_len;
      for (int32_t t = 0; t < len; t++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        ids_buf[t] = (int32_t)(vocab > 4 ? 2 + x % (uint64_t)(vocab - 2) : 0);
      }
      ids = ids_buf;
    }
    bertc_run_input_t in;
    bertc_run_input_init(&in);
    in.count = 1;
    in.lengths = &len;
    in.input_ids = &ids;
    in.token_type_ids = have_tok ? (const int32_t *const *)&enc.token_type_ids : NULL;
    if (!s) s = bertc_context_run(q.ctx, &in);
    if (!s) s = bertc_context_run(f.ctx, &in);
    for (uint32_t o = 0; !s && o < num_outputs; o++) {
      bertc_tensor_view_t a, b;
      s = bertc_context_output(q.ctx, o, &a);
      if (!s) s = bertc_context_output(f.ctx, o, &b);
      if (!s && a.size_bytes == b.size_bytes && a.dtype == BERTC_DTYPE_F32)
        compare(&a, &b, &stats[o]);
    }
    bertc_tokenizer_encoding_deinit(&enc);
  }
  /* The report: one line per output. */
  char *report = NULL;
  size_t rsize = 0;
  FILE *m = s ? NULL : open_memstream(&report, &rsize);
  if (!s && !m) s = bertc_status_make(BERTC_STATUS_OUT_OF_MEMORY, "out of memory");
  bool ok = true;
  if (!s) {
    fprintf(m, "int8 agreement with fp32 on %zu %s (%.2f s):", runs,
            !have_tok ? "random id sequences" : user_texts ? "texts" : "built-in texts",
            base_now_seconds() - t0);
    for (uint32_t o = 0; o < num_outputs; o++) {
      bertc_tensor_view_t a;
      if (bertc_context_output(q.ctx, o, &a) || !stats[o].count) continue;
      double mean = stats[o].sum / (double)stats[o].count;
      ok = ok && mean >= min_cosine;
      fprintf(m, "\n  %s: mean cosine %.5f, min %.5f", a.name, mean, stats[o].min);
      if (stats[o].top_total)
        fprintf(m, ", top answers unchanged %.2f %%",
                100.0 * (double)stats[o].top_same / (double)stats[o].top_total);
    }
    fclose(m);
  }
  bertc_tokenizer_release(tok);
  engine_close(&q);
  engine_close(&f);
  if (s) {
    free(report);
    return s;
  }
  *out_report = report;
  *out_ok = ok;
  return BERTC_OK;
}
