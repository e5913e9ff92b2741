/* Entry code of the fuzz targets (see targets.h).
 *
 * The readers under test take paths, so each input is first written to a
 * scratch file: $TMPDIR (else /dev/shm, else /tmp)/bertc-fuzz-XXXXXX/<target>/,
 * made once per process and removed at exit. The spec target's directory
 * also holds a link "tiny" to tests/fixtures/tiny, so seeds can name real
 * checkpoints ("checkpoint": "tiny/bert") without machine-specific paths.
 *
 * Besides "no crash, no sanitizer report", a few invariants are checked and
 * abort() when broken: tensors found by name are the tensors listed, a loaded
 * config has positive sizes with heads dividing hidden, encodings respect
 * max_length and the vocabulary, and IR text that parses prints to text
 * that parses and prints the same. */
#define _GNU_SOURCE
#include "fuzz/targets.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "frontend/frontend.h"
#include "frontend/safetensors.h"
#include "ir/ir.h"
#include "tokenizer/tokenizer.h"

#ifndef BERTC_FUZZ_SOURCE_DIR
#error "BERTC_FUZZ_SOURCE_DIR (the source tree, for the fixtures) must be defined"
#endif

/* ---- scratch files ------------------------------------------------------------ */

static char scratch_root[512];

static void remove_scratch(void) {
  if (!scratch_root[0]) return;
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", scratch_root);
  if (system(cmd) != 0) fprintf(stderr, "fuzz: could not remove %s\n", scratch_root);
}

static void fail_setup(const char *what, const char *path) {
  fprintf(stderr, "fuzz: cannot %s %s\n", what, path);
  abort();
}

/* <root>/<target>/<name>, the directories made on first use. */
static void scratch_path(const char *target, const char *name, char *out, size_t cap) {
  if (!scratch_root[0]) {
    const char *base = getenv("TMPDIR");
    if (!base || !*base) base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(scratch_root, sizeof scratch_root, "%s/bertc-fuzz-XXXXXX", base);
    if (!mkdtemp(scratch_root)) fail_setup("create a directory like", scratch_root);
    atexit(remove_scratch);
  }
  snprintf(out, cap, "%s/%s", scratch_root, target);
  if (mkdir(out, 0700) != 0 && access(out, W_OK) != 0) fail_setup("create", out);
  snprintf(out, cap, "%s/%s/%s", scratch_root, target, name);
}

static void write_input(const char *path, const uint8_t *data, size_t size) {
  FILE *f = fopen(path, "wb");
  if (!f) fail_setup("write", path);
  if (size && fwrite(data, 1, size, f) != size) fail_setup("write", path);
  if (fclose(f) != 0) fail_setup("write", path);
}

static void check(bool ok, const char *what) {
  if (!ok) {
    fprintf(stderr, "fuzz: invariant broken: %s\n", what);
    abort();
  }
}

/* ---- safetensors ---------------------------------------------------------------- */

int fuzz_safetensors(const uint8_t *data, size_t size) {
  char path[600];
  scratch_path("safetensors", "input.safetensors", path, sizeof path);
  write_input(path, data, size);
  st_file_t *f = NULL;
  bertc_status_t s = st_file_open(path, &f);
  for (size_t i = 0; !s && i < st_file_count(f); i++) {
    const st_tensor_t *t = st_file_tensor(f, i);
    check(st_file_find(f, t->name) == t, "st_file_find returns the listed tensor");
    check(t->nbytes <= size, "a tensor lies inside the file");
    (void)st_tensor_count_nonfinite(t);
    bool floats = t->dtype == ST_F32 || t->dtype == ST_F16 || t->dtype == ST_BF16;
    float one;
    float *out = floats ? malloc((t->numel ? t->numel : 1) * sizeof(float)) : &one;
    if (!out) abort();
    bertc_status_t c = st_tensor_to_f32(t, out);
    check((c == NULL) == floats, "st_tensor_to_f32 converts exactly F32, F16 and BF16");
    bertc_status_free(c);
    if (floats) free(out);
  }
  st_file_close(f);
  bertc_status_free(s);

  st_checkpoint_t *c = NULL;
  s = st_checkpoint_open(path, &c);
  for (size_t i = 0; !s && i < st_checkpoint_count(c); i++) {
    const st_tensor_t *t = st_checkpoint_tensor(c, i);
    check(st_checkpoint_find(c, t->name) == t, "st_checkpoint_find returns the listed tensor");
  }
  st_checkpoint_close(c);
  bertc_status_free(s);
  return 0;
}

/* ---- config.json and model.json ---------------------------------------------------- */

int fuzz_config(const uint8_t *data, size_t size) {
  char path[600];
  scratch_path("config", "config.json", path, sizeof path);
  write_input(path, data, size);
  fe_config_t c;
  bertc_status_t s = fe_config_load(path, &c);
  if (!s) {
    check(c.vocab_size > 0 && c.hidden_size > 0 && c.num_layers > 0 && c.num_heads > 0 &&
              c.intermediate_size > 0 && c.max_position_embeddings > 0,
          "a loaded config has positive sizes");
    check(c.hidden_size % c.num_heads == 0, "heads divide hidden");
    check(c.pad_token_id >= 0 && c.pad_token_id < c.vocab_size, "pad id in the vocabulary");
    check(c.num_labels > 0 && c.id2label != NULL, "labels are set");
    for (int64_t i = 0; i < c.num_labels; i++)
      check(c.id2label[i] != NULL, "every label named");
    fe_config_deinit(&c);
  }
  bertc_status_free(s);
  return 0;
}

int fuzz_spec(const uint8_t *data, size_t size) {
  char path[600], link[600];
  scratch_path("spec", "tiny", link, sizeof link);
  if (access(link, F_OK) != 0 && symlink(BERTC_FUZZ_SOURCE_DIR "/tests/fixtures/tiny", link) != 0)
    fail_setup("link", link);
  scratch_path("spec", "model.json", path, sizeof path);
  write_input(path, data, size);
  fe_spec_t spec;
  bertc_status_t s = fe_spec_load(path, &spec);
  if (!s) {
    check(spec.checkpoint_dir && spec.config_path && spec.weights_path && spec.tokenizer_dir &&
              spec.name,
          "a loaded spec has its paths and name");
    fe_spec_deinit(&spec);
    fe_load_options_t o;
    fe_load_options_init(&o);
    fe_model_t *m = NULL;
    bertc_status_free(fe_model_load(path, &o, &m));
    fe_model_destroy(m);
  }
  bertc_status_free(s);
  return 0;
}

/* ---- tokenizers --------------------------------------------------------------------- */

static tok_tokenizer_t *fixture_tokenizer(int which) {
  static tok_tokenizer_t *loaded[2];
  static const char *const dirs[2] = {BERTC_FUZZ_SOURCE_DIR "/tests/fixtures/tokenizer/wordpiece",
                                      BERTC_FUZZ_SOURCE_DIR "/tests/fixtures/tokenizer/bpe"};
  if (!loaded[which]) {
    bertc_status_t s = tok_load_dir(dirs[which], &loaded[which]);
    if (s) {
      fprintf(stderr, "fuzz: %s\n", bertc_status_message(s));
      fail_setup("load the tokenizer in", dirs[which]);
    }
  }
  return loaded[which];
}

static void encode_checked(const tok_tokenizer_t *t, const char *text, size_t text_len,
                           const char *pair, size_t pair_len, size_t max_length,
                           tok_trunc_strategy_t strategy) {
  tok_encoding_t e;
  bertc_status_t s =
      tok_encode(t, text, text_len, pair, pair_len, max_length, strategy, &e);
  if (!s) {
    /* As in Rust tokenizers, a max_length that the special tokens alone do
     * not fit in does not truncate; any other is respected. */
    size_t specials = 0;
    for (size_t i = 0; i < e.len; i++)
      specials += e.sequence_ids[i] == -1;
    check(max_length < specials || e.len <= max_length, "an encoding respects max_length");
    for (size_t i = 0; i < e.len; i++)
      check(e.ids[i] >= 0 && (size_t)e.ids[i] < tok_vocab_size(t),
            "token ids are inside the vocabulary");
  }
  tok_encoding_deinit(&e);
  bertc_status_free(s);
}

int fuzz_tokenizer(const uint8_t *data, size_t size) {
  const char *text = (const char *)data;
  const char *nl = size ? memchr(text, '\n', size) : NULL;
  size_t text_len = nl ? (size_t)(nl - text) : size;
  const char *pair = nl ? nl + 1 : NULL;
  size_t pair_len = nl ? size - text_len - 1 : 0;
  size_t max_length = 1 + size % 24;
  tok_trunc_strategy_t strategy = (tok_trunc_strategy_t)(size % 3);
  for (int which = 0; which < 2; which++) {
    const tok_tokenizer_t *t = fixture_tokenizer(which);
    encode_checked(t, text, size, NULL, 0, 0, TOK_TRUNC_LONGEST_FIRST);
    encode_checked(t, text, text_len, pair, pair_len, 0, TOK_TRUNC_LONGEST_FIRST);
    encode_checked(t, text, text_len, pair, pair_len, max_length, strategy);
  }
  tok_tokenizer_t *blob = NULL;
  bertc_status_t s = tok_load_blob(data, size, &blob);
  static const char hello[] = "Hello, world! caf\xc3\xa9";
  if (!s) encode_checked(blob, hello, strlen(hello), "x", 1, 8, TOK_TRUNC_LONGEST_FIRST);
  tok_release(blob);
  bertc_status_free(s);
  return 0;
}

/* ---- SentencePiece pieces: the charsmap and the model file ----------------------------- */

/* A packed tokenizer blob of one or two files (see tok_pack_dir). */
static uint8_t *pack(const char *name1, const uint8_t *d1, size_t n1, const char *name2,
                     const uint8_t *d2, size_t n2, size_t *out_size) {
  size_t l1 = strlen(name1) + 1, l2 = name2 ? strlen(name2) + 1 : 0;
  size_t total = l1 + 8 + n1 + (name2 ? l2 + 8 + n2 : 0) + 1;
  uint8_t *b = malloc(total);
  if (!b) fail_setup("allocate", "a tokenizer blob");
  size_t k = 0;
  const char *names[2] = {name1, name2};
  const uint8_t *datas[2] = {d1, d2};
  size_t sizes[2] = {n1, n2};
  for (int f = 0; f < (name2 ? 2 : 1); f++) {
    size_t nl = strlen(names[f]) + 1;
    memcpy(b + k, names[f], nl);
    k += nl;
    for (int i = 0; i < 8; i++) b[k++] = (uint8_t)((uint64_t)sizes[f] >> (8 * i));
    if (sizes[f]) memcpy(b + k, datas[f], sizes[f]);
    k += sizes[f];
  }
  b[k++] = 0;
  *out_size = k;
  return b;
}

/* Multilingual text through a tokenizer that loaded from fuzzed bytes. */
static void encode_samples(const tok_tokenizer_t *t) {
  static const char *const texts[] = {
      "Hello, World! caf\xc3\xa9 na\xc3\xafve e\xcc\x81 \xef\xac\x81 \xef\xbc\xa1\xef\xbc\x91",
      ("\xe4\xb8\xad\xe6\x96\x87 \xed\x95\x9c\xea\xb5\xad\xec\x96\xb4 \xd8\xa7\xd9\x84\xd8\xb9 "
       "\xe0\xa4\xb9\xe0\xa4\xbf\xe0\xa4\xa8\xe0\xa5\x8d "
       "\xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd \r\n\t  x"),
      ""};
  for (size_t i = 0; i < sizeof texts / sizeof *texts; i++)
    encode_checked(t, texts[i], strlen(texts[i]), "pair \xce\xb1\xce\xb2", 9, 12,
                   TOK_TRUNC_LONGEST_FIRST);
}

static char *base64(const uint8_t *d, size_t n) {
  static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  char *out = malloc(4 * (n / 3 + 1) + 1);
  if (!out) fail_setup("allocate", "base64 text");
  size_t k = 0;
  for (size_t i = 0; i < n; i += 3) {
    uint32_t w = (uint32_t)d[i] << 16 | (i + 1 < n ? (uint32_t)d[i + 1] << 8 : 0) |
                 (i + 2 < n ? d[i + 2] : 0);
    out[k++] = a[w >> 18];
    out[k++] = a[(w >> 12) & 63];
    out[k++] = i + 1 < n ? a[(w >> 6) & 63] : '=';
    out[k++] = i + 2 < n ? a[w & 63] : '=';
  }
  out[k] = '\0';
  return out;
}

int fuzz_charsmap(const uint8_t *data, size_t size) {
  static const char head[] =
      "{\"model\": {\"type\": \"Unigram\", \"unk_id\": 0, \"byte_fallback\": true, \"vocab\": "
      "[[\"<unk>\", 0], [\"\\u2581\", -1], [\"a\", -2], [\"e\", -2], [\"<0x41>\", -5], "
      "[\"\\u2581a\", -1.5]]}, \"pre_tokenizer\": {\"type\": \"Metaspace\", "
      "\"replacement\": \"\\u2581\", \"prepend_scheme\": \"always\", \"split\": true}, "
      "\"normalizer\": {\"type\": \"Precompiled\", \"precompiled_charsmap\": \"";
  static const char tail[] = "\"}}";
  char *b64 = base64(data, size);
  size_t n = strlen(head) + strlen(b64) + strlen(tail);
  char *json = malloc(n + 1);
  if (!json) fail_setup("allocate", "tokenizer.json");
  snprintf(json, n + 1, "%s%s%s", head, b64, tail);
  size_t blob_size;
  uint8_t *blob = pack("tokenizer.json", (const uint8_t *)json, n, NULL, NULL, 0, &blob_size);
  tok_tokenizer_t *t = NULL;
  bertc_status_t s = tok_load_blob(blob, blob_size, &t);
  if (!s) {
    encode_samples(t);
    encode_checked(t, (const char *)data, size, NULL, 0, 16, TOK_TRUNC_LONGEST_FIRST);
  }
  tok_release(t);
  bertc_status_free(s);
  free(blob);
  free(json);
  free(b64);
  return 0;
}

int fuzz_spm_model(const uint8_t *data, size_t size) {
  /* the length's parity picks the layout: XLM-R's file or ALBERT's */
  const char *name = size % 2 ? "spiece.model" : "sentencepiece.bpe.model";
  size_t blob_size;
  uint8_t *blob = pack(name, data, size, NULL, NULL, 0, &blob_size);
  tok_tokenizer_t *t = NULL;
  bertc_status_t s = tok_load_blob(blob, blob_size, &t);
  if (!s) encode_samples(t);
  tok_release(t);
  bertc_status_free(s);
  free(blob);
  return 0;
}

/* ---- IR text ------------------------------------------------------------------------ */

int fuzz_ir_parse(const uint8_t *data, size_t size) {
  ir_graph_t *g = NULL;
  bertc_status_t s = ir_parse((const char *)data, size, "fuzz.ir", &g);
  if (!s) {
    bertc_status_free(ir_verify(g));
    char *a = NULL, *b = NULL;
    ir_graph_t *again = NULL;
    check(!ir_print_to_string(g, 0, &a), "a parsed graph prints");
    bertc_status_t p = ir_parse(a, strlen(a), "printed.ir", &again);
    if (p) fprintf(stderr, "fuzz: %s\n", bertc_status_message(p));
    check(!p, "a printed graph parses");
    check(!ir_print_to_string(again, 0, &b), "a reparsed graph prints");
    check(!strcmp(a, b), "print(parse(print(g))) == print(g)");
    free(a);
    free(b);
    ir_graph_destroy(again);
  }
  ir_graph_destroy(g);
  bertc_status_free(s);
  return 0;
}

const fuzz_target_t fuzz_targets[] = {
    {"safetensors", fuzz_safetensors}, {"config", fuzz_config},     {"spec", fuzz_spec},
    {"tokenizer", fuzz_tokenizer},     {"ir_parse", fuzz_ir_parse},     {"charsmap", fuzz_charsmap},
    {"spm_model", fuzz_spm_model},
};
const size_t fuzz_num_targets = sizeof fuzz_targets / sizeof fuzz_targets[0];
