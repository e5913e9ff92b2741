/* Broken inputs through the bertc CLI.
 *
 * Each case copies a tiny fixture (tests/fixtures/tiny/<name>) into a scratch
 * directory, breaks one thing (a config.json key, a truncated tokenizer file,
 * a hand-made safetensors header, a corrupted .weights file, a bad --ids
 * value ...) and runs the CLI on it under `timeout`. Every case must end the
 * same way: the expected exit code (1 for a bad file or value, 2 for a usage
 * error), exactly one line on stderr that names the offending file's base
 * name and a keyword of the problem, and, for compiles, an output directory
 * left empty (no .so, no .weights, no temporary file). A crash, a hang, a
 * second stderr line or a vague message fails the case.
 *
 * Failures are collected per class and reported together, so one run shows
 * every broken case; each class prints how many cases and CLI runs it made
 * (docs/reliability.md has the table). */
#define _GNU_SOURCE
#include <dirent.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/testutil.h"

#include "frontend/safetensors.h"
#include "base/base.h"

/* ---- the class being run ------------------------------------------------------ */

typedef struct tally {
  const char *name;
  int cases;    /* broken inputs tried */
  int runs;     /* CLI invocations */
  int failures; /* runs that did not end as expected */
  int gaps;     /* of those, known gaps reported to the owners of the code */
} tally_t;

static tally_t *cur;
/* When set, the case is a known gap reported to the owner of the code named
 * here: a deviation is printed as a note, not a failure. Once the owner fixes
 * it, the case passes normally (and says the mark can go). */
static const char *cur_gap;

static void class_begin(tally_t *t, const char *name) {
  memset(t, 0, sizeof *t);
  t->name = name;
  cur = t;
}

static void class_end(tally_t *t) {
  print_message("[ bad inputs ] %-14s %3d cases, %3d CLI runs, %d failed, %d known gaps\n", t->name,
                t->cases, t->runs, t->failures, t->gaps);
  if (t->failures)
    fail_msg("%d of %d runs in class %s failed (see above)", t->failures, t->runs, t->name);
}

/* ---- files and directories ---------------------------------------------------- */

static const char *exe(void) {
  const char *e = getenv("BERTC_EXE");
  if (!e || !*e) fail_msg("BERTC_EXE is not set (run through ctest)");
  return e;
}

static char *fmt(const char *f, ...) BERTC_PRINTF(1, 2);
static char *fmt(const char *f, ...) {
  va_list ap;
  va_start(ap, f);
  char *s = NULL;
  if (vasprintf(&s, f, ap) < 0) s = NULL;
  va_end(ap);
  assert_non_null(s);
  return s;
}

static void sh(const char *cmd) {
  if (system(cmd) != 0) fail_msg("setup command failed: %s", cmd);
}

/* A case's scratch space: <root>/model (a copy of the fixture, or empty) and
 * <root>/out (empty; compiles write there). */
typedef struct work {
  char *root, *model, *out;
} work_t;

static void work_make(work_t *w, const char *name, const char *fixture) {
  char *rel = fmt("bad_inputs/%s/", name);
  w->root = tu_scratch_path(rel);
  free(rel);
  w->model = fmt("%smodel", w->root);
  w->out = fmt("%sout", w->root);
  char *cmd = fmt("rm -rf '%s' '%s' && mkdir -p '%s'", w->model, w->out, w->out);
  sh(cmd);
  free(cmd);
  if (fixture) {
    char *src = tu_source_path("tests/fixtures/tiny");
    cmd = fmt("cp -r '%s/%s' '%s' && chmod -R u+w '%s'", src, fixture, w->model, w->model);
    sh(cmd);
    free(cmd);
    free(src);
  } else {
    cmd = fmt("mkdir -p '%s'", w->model);
    sh(cmd);
    free(cmd);
  }
}

static void work_free(work_t *w) {
  free(w->root);
  free(w->model);
  free(w->out);
}

static char *model_file(const work_t *w, const char *name) { return fmt("%s/%s", w->model, name); }

static void write_text(const char *path, const char *text) {
  tu_write_file(path, text, strlen(text));
}

/* Keeps the first `keep` bytes of a file. */
static void truncate_to(const char *path, size_t keep) {
  if (truncate(path, (off_t)keep) != 0) fail_msg("cannot truncate %s", path);
}

static size_t file_size(const char *path) {
  struct stat st;
  if (stat(path, &st) != 0) fail_msg("no file %s", path);
  return (size_t)st.st_size;
}

/* Sets (value != NULL, a JSON text) or deletes one key of a JSON object file. */
static void json_set(const char *path, const char *key, const char *value) {
  json_error_t err;
  json_t *root = json_load_file(path, 0, &err);
  if (!root) fail_msg("%s: %s", path, err.text);
  if (value) {
    json_t *v = json_loads(value, JSON_DECODE_ANY, &err);
    if (!v) fail_msg("bad test value %s: %s", value, err.text);
    json_object_set_new(root, key, v);
  } else {
    json_object_del(root, key);
  }
  if (json_dump_file(root, path, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0)
    fail_msg("cannot write %s", path);
  json_decref(root);
}

static int count_entries(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return -1;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)))
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
  closedir(d);
  return n;
}

/* ---- running and checking ------------------------------------------------------- */

/* Case-insensitive search for any of the '|'-separated words of `keywords`. */
static bool has_keyword(const char *text, const char *keywords) {
  char *copy = strdup(keywords), *save = NULL;
  bool found = false;
  for (char *k = strtok_r(copy, "|", &save); k && !found; k = strtok_r(NULL, "|", &save))
    found = strcasestr(text, k) != NULL;
  free(copy);
  return found;
}

static int count_lines(const char *s) {
  int n = 0;
  for (; *s; s++)
    n += *s == '\n';
  return n;
}

/* Runs `cmd` (a shell command line, the CLI first) and checks how it ended.
 * `file`: a base name stderr must contain (NULL: none). `empty_dir`: a
 * directory that must still be empty afterwards (NULL: none). */
static void expect(const char *what, const char *cmd, int code, const char *file,
                   const char *keywords, const char *empty_dir) {
  char *full = fmt("timeout -s KILL 120 %s", cmd);
  char *out = NULL, *err = NULL;
  int rc = tu_run(full, &out, &err);
  cur->runs++;
  const char *problem = NULL;
  if (rc == 137 || rc == 124)
    problem = "hung (killed by timeout)";
  else if (rc > 128)
    problem = "crashed";
  else if (rc != code)
    problem = "wrong exit code";
  else if (count_lines(err) != 1 || err[strlen(err) - 1] != '\n')
    problem = "stderr is not exactly one line";
  else if (file && !strstr(err, file))
    problem = "stderr does not name the file";
  else if (!has_keyword(err, keywords))
    problem = "stderr lacks the keyword";
  else if (empty_dir && count_entries(empty_dir) != 0)
    problem = "the output directory is not empty (output or temporary file left)";
  if (problem && cur_gap) {
    cur->gaps++;
    print_message("KNOWN GAP [%s] %s (%s): %s\n  stderr: %s\n", cur->name, what, cur_gap, problem,
                  err);
  } else if (!problem && cur_gap) {
    print_message("NOTE [%s] %s passes now: drop its known-gap mark (%s)\n", cur->name, what,
                  cur_gap);
  } else if (problem) {
    cur->failures++;
    print_error("FAIL [%s] %s: %s\n  command: %s\n  exit %d (want %d), file '%s', keywords '%s'\n"
                "  stderr: %s\n",
                cur->name, what, problem, cmd, rc, code, file ? file : "", keywords, err);
  }
  free(full);
  free(out);
  free(err);
}

/* A model directory case: `bertc compile` must fail (exit 1, nothing in out/)
 * and so must `bertc inspect`, both naming `file`. */
static void expect_model_fails(const char *what, const work_t *w, const char *file,
                               const char *keywords) {
  cur->cases++;
  char *cmd = fmt("'%s' compile '%s' -o '%s/m.so' -q --seq-lens 8,16", exe(), w->model, w->out);
  expect(what, cmd, 1, file, keywords, w->out);
  free(cmd);
  cmd = fmt("'%s' inspect '%s'", exe(), w->model);
  expect(what, cmd, 1, file, keywords, NULL);
  free(cmd);
}

/* ---- config.json ----------------------------------------------------------------- */

typedef struct json_case {
  const char *name;
  const char *key;   /* NULL: `value` is the whole file */
  const char *value; /* JSON text; NULL with a key: delete the key */
  const char *keywords;
} json_case_t;

static void test_config(void **state) {
  (void)state;
  tally_t t;
  class_begin(&t, "config.json");
  static const json_case_t cases[] = {
      {"malformed", NULL, "{\"model_type\": \"bert\", \"hidden_size\": 32,,}", "invalid JSON"},
      {"truncated", NULL, "{\"model_type\": \"bert\", \"hidden_si", "invalid JSON"},
      {"empty", NULL, "", "invalid JSON"},
      {"not_object", NULL, "[1, 2, 3]", "expected a JSON object"},
      {"binary", NULL, "\x01\x02\xff\xfe", "invalid JSON"},
      {"hidden_string", "hidden_size", "\"32\"", "hidden_size must be an integer"},
      {"heads_real", "num_attention_heads", "4.0", "num_attention_heads must be an integer"},
      {"layers_bool", "num_hidden_layers", "true", "num_hidden_layers must be an integer"},
      {"model_type_number", "model_type", "7", "model_type must be a string"},
      {"act_array", "hidden_act", "[\"gelu\"]", "hidden_act must be a string"},
      {"eps_string", "layer_norm_eps", "\"1e-12\"", "layer_norm_eps must be a number"},
      {"eps_zero", "layer_norm_eps", "0", "layer_norm_eps"},
      {"architectures_string", "architectures", "\"BertModel\"", "architectures must be an array"},
      {"id2label_array", "id2label", "[\"a\", \"b\"]", "id2label must be an object"},
      {"id2label_bad_key", "id2label", "{\"0\": \"a\", \"x\": \"b\"}", "id2label key"},
      {"missing_model_type", "model_type", NULL, "model_type is missing"},
      {"model_type_null", "model_type", "null", "model_type is missing"},
      {"hidden_zero", "hidden_size", "0", "out of range"},
      {"hidden_negative", "hidden_size", "-32", "out of range"},
      {"layers_zero", "num_hidden_layers", "0", "out of range"},
      {"layers_negative", "num_hidden_layers", "-1", "out of range"},
      {"heads_zero", "num_attention_heads", "0", "out of range"},
      {"vocab_zero", "vocab_size", "0", "out of range"},
      {"vocab_negative", "vocab_size", "-5", "out of range"},
      {"intermediate_zero", "intermediate_size", "0", "out of range"},
      {"positions_negative", "max_position_embeddings", "-512", "out of range"},
      {"type_vocab_zero", "type_vocab_size", "0", "out of range"},
      {"hidden_huge", "hidden_size", "9223372036854775807", "out of range"},
      {"heads_not_dividing", "num_attention_heads", "5", "not a multiple"},
      {"heads_more_than_hidden", "num_attention_heads", "64", "not a multiple"},
      {"pad_outside_vocab", "pad_token_id", "1500", "out of range"},
      {"more_layers_than_weights", "num_hidden_layers", "3", "missing"},
      {"bigger_hidden_than_weights", "hidden_size", "64", "shape"},
      {"smaller_vocab_than_weights", "vocab_size", "1000", "shape"},
      {"unsupported_gpt2", "model_type", "\"gpt2\"", "not supported"},
      {"unsupported_deberta", "model_type", "\"deberta-v2\"", "not supported"},
      {"relative_key", "position_embedding_type", "\"relative_key\"", "not supported"},
      {"relative_key_query", "position_embedding_type", "\"relative_key_query\"", "not supported"},
      {"position_rotary", "position_embedding_type", "\"rotary\"", "not supported"},
      {"position_null", "position_embedding_type", "null", "not supported"},
      {"decoder", "is_decoder", "true", "not supported"},
      {"cross_attention", "add_cross_attention", "true", "not supported"},
      {"pruned_heads", "pruned_heads", "{\"0\": [1]}", "not supported"},
      {"quantized", "quantization_config", "{\"bits\": 8}", "not supported"},
      {"act_unknown", "hidden_act", "\"swiglu\"", "not supported"},
      {"problem_type_unknown", "problem_type", "\"ranking\"", "problem_type"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const json_case_t *c = &cases[i];
    char *name = fmt("config_%s", c->name);
    work_t w;
    work_make(&w, name, "bert");
    char *path = model_file(&w, "config.json");
    if (c->key)
      json_set(path, c->key, c->value);
    else
      write_text(path, c->value);
    expect_model_fails(name, &w, "config.json", c->keywords);
    free(path);
    free(name);
    work_free(&w);
  }
  {
    work_t w; /* no config.json at all */
    work_make(&w, "config_absent", "bert");
    char *path = model_file(&w, "config.json");
    unlink(path);
    expect_model_fails("config_absent", &w, "config.json", "no config.json");
    free(path);
    work_free(&w);
  }
  class_end(&t);
}

/* ---- model.json ------------------------------------------------------------------- */

static void test_model_json(void **state) {
  (void)state;
  tally_t t;
  class_begin(&t, "model.json");
  static const json_case_t cases[] = {
      {"malformed", NULL, "{\"checkpoint\": \".\",}", "invalid JSON"},
      {"truncated", NULL, "{\"checkpoint\": \".\", \"seq_l", "invalid JSON"},
      {"empty", NULL, "", "invalid JSON"},
      {"not_object", NULL, "\"model\"", "expected a JSON object"},
      {"typo_key", NULL, "{\"checkpoint\": \".\", \"seq_len\": [16]}", "unknown key 'seq_len'"},
      {"unknown_key", NULL, "{\"checkpoint\": \".\", \"optimize\": true}", "unknown key"},
      {"config_key", NULL, "{\"checkpoint\": \".\", \"model_type\": \"bert\"}", "unknown key"},
      {"unknown_target_key", NULL, "{\"checkpoint\": \".\", \"target\": {\"arch\": \"x86\"}}",
       "unknown key"},
      {"no_checkpoint", NULL, "{\"name\": \"m\"}", "needs \"checkpoint\""},
      {"checkpoint_absent", NULL, "{\"checkpoint\": \"nowhere\"}", "does not exist"},
      {"checkpoint_number", NULL, "{\"checkpoint\": 5}", "must be a non-empty string"},
      {"config_absent", NULL, "{\"config\": \"none.json\", \"weights\": \"model.safetensors\"}",
       "does not exist"},
      {"config_without_weights", NULL, "{\"config\": \"config.json\"}", "needs \"weights\""},
      {"seq_lens_string", NULL, "{\"checkpoint\": \".\", \"seq_lens\": \"16\"}",
       "must be an array"},
      {"seq_lens_zero", NULL, "{\"checkpoint\": \".\", \"seq_lens\": [0]}", "out of range"},
      {"seq_lens_twice", NULL, "{\"checkpoint\": \".\", \"seq_lens\": [16, 16]}", "twice"},
      {"seq_lens_real", NULL, "{\"checkpoint\": \".\", \"seq_lens\": [16.5]}",
       "must be an integer"},
      {"seq_lens_empty", NULL, "{\"checkpoint\": \".\", \"seq_lens\": []}", "empty"},
      {"batch_negative", NULL, "{\"checkpoint\": \".\", \"batch_sizes\": [-4]}", "out of range"},
      {"seq_past_max", NULL, "{\"checkpoint\": \".\", \"max_seq_length\": 8, \"seq_lens\": [16]}",
       "longer than max_seq_length"},
      {"max_seq_zero", NULL, "{\"checkpoint\": \".\", \"max_seq_length\": 0}", "out of range"},
      {"task_unknown", NULL, "{\"checkpoint\": \".\", \"task\": \"translate\"}",
       "task 'translate'"},
      {"pooling_unknown", NULL, "{\"checkpoint\": \".\", \"pooling\": \"sum\"}", "pooling 'sum'"},
      {"pooling_with_mlm", NULL,
       "{\"checkpoint\": \".\", \"task\": \"fill-mask\", \"pooling\": \"mean\"}",
       "only to the embedding task"},
      {"normalize_string", NULL, "{\"checkpoint\": \".\", \"normalize\": \"yes\"}",
       "true or false"},
      {"name_not_identifier", NULL, "{\"checkpoint\": \".\", \"name\": \"1 model\"}",
       "not an identifier"},
      {"precision_fp16", NULL, "{\"checkpoint\": \".\", \"precision\": \"fp16\"}", "not supported"},
      {"weights_mode_unknown", NULL, "{\"checkpoint\": \".\", \"weights_mode\": \"cloud\"}",
       "weights_mode"},
      {"target_features_unsigned", NULL,
       "{\"checkpoint\": \".\", \"target\": {\"features\": \"avx2\"}}", "target.features"},
      {"target_cpu_shell", NULL, "{\"checkpoint\": \".\", \"target\": {\"cpu\": \"x; rm\"}}",
       "not a CPU name"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const json_case_t *c = &cases[i];
    char *name = fmt("spec_%s", c->name);
    work_t w;
    work_make(&w, name, "bert");
    char *path = model_file(&w, "model.json");
    write_text(path, c->value);
    expect_model_fails(name, &w, "model.json", c->keywords);
    free(path);
    free(name);
    work_free(&w);
  }
  class_end(&t);
}

/* ---- tokenizer files ------------------------------------------------------------- */

typedef enum tok_op { TOK_WRITE, TOK_TRUNCATE, TOK_SET, TOK_REMOVE } tok_op_t;

typedef struct tok_case {
  const char *name;
  const char *fixture;
  const char *remove; /* deleted first (NULL: none), e.g. tokenizer.json to reach vocab.txt */
  const char *file;   /* the file broken */
  tok_op_t op;
  const char *key;   /* TOK_SET */
  const char *value; /* TOK_WRITE: content; TOK_SET: JSON; TOK_TRUNCATE: bytes kept ("" = half) */
  const char *keywords;
  const char *names; /* the file stderr must name (NULL: `file`) */
  const char *gap;   /* a known gap: where (NULL: none) */
} tok_case_t;

static void test_tokenizer(void **state) {
  (void)state;
  tally_t t;
  class_begin(&t, "tokenizer");
  static const tok_case_t cases[] = {
      {"json_malformed", "bert", NULL, "tokenizer.json", TOK_WRITE, NULL, "{\"model\": {,}",
       "invalid JSON", NULL, NULL},
      {"json_truncated", "bert", NULL, "tokenizer.json", TOK_TRUNCATE, NULL, "", "invalid JSON",
       NULL, NULL},
      {"json_empty", "bert", NULL, "tokenizer.json", TOK_WRITE, NULL, "", "invalid JSON", NULL,
       NULL},
      {"json_not_object", "bert", NULL, "tokenizer.json", TOK_WRITE, NULL, "[]", "tokenizer.json",
       NULL, NULL},
      {"json_model_string", "bert", NULL, "tokenizer.json", TOK_SET, "model", "\"WordPiece\"",
       "model", NULL, NULL},
      {"json_model_wordlevel", "bert", NULL, "tokenizer.json", TOK_SET, "model",
       "{\"type\": \"WordLevel\", \"vocab\": {}}", "not supported|unsupported", NULL, NULL},
      {"json_unigram_empty", "bert", NULL, "tokenizer.json", TOK_SET, "model",
       "{\"type\": \"Unigram\", \"vocab\": []}", "vocab is empty", NULL, NULL},
      {"json_no_model", "bert", NULL, "tokenizer.json", TOK_SET, "model", NULL, "model", NULL,
       NULL},
      {"json_added_tokens_number", "bert", NULL, "tokenizer.json", TOK_SET, "added_tokens", "5",
       "added_tokens", NULL, "tokenizer/load.c accepts a non-array added_tokens"},
      {"json_normalizer_unknown", "bert", NULL, "tokenizer.json", TOK_SET, "normalizer",
       "{\"type\": \"Prepend\", \"prepend\": \"x\"}", "not supported|unsupported", NULL, NULL},
      {"json_precompiled_bad", "bert", NULL, "tokenizer.json", TOK_SET, "normalizer",
       "{\"type\": \"Precompiled\", \"precompiled_charsmap\": \"AAAAAA==\"}",
       "precompiled_charsmap", NULL, NULL},
      {"json_pre_tokenizer_unknown", "bert", NULL, "tokenizer.json", TOK_SET, "pre_tokenizer",
       "{\"type\": \"Digits\"}", "not supported|unsupported", NULL, NULL},
      {"json_bpe_truncated", "roberta", NULL, "tokenizer.json", TOK_TRUNCATE, NULL, "",
       "invalid JSON", NULL, NULL},
      {"vocab_txt_empty", "bert", "tokenizer.json", "vocab.txt", TOK_WRITE, NULL, "",
       "empty vocabulary", NULL, NULL},
      {"vocab_txt_truncated", "bert", "tokenizer.json", "vocab.txt", TOK_TRUNCATE, NULL, "3",
       "not in the vocabulary", NULL, NULL},
      {"vocab_txt_no_cls", "bert", "tokenizer.json", "vocab.txt", TOK_WRITE, NULL,
       "[PAD]\n[UNK]\n[SEP]\nhello\n", "not in the vocabulary", NULL, NULL},
      {"vocab_txt_binary", "bert", "tokenizer.json", "vocab.txt", TOK_WRITE, NULL,
       "[CLS]\n[SEP]\n\xff\xfe\n", "UTF-8", NULL, "tokenizer/load.c accepts invalid UTF-8"},
      {"tokenizer_config_malformed", "bert", "tokenizer.json", "tokenizer_config.json", TOK_WRITE,
       NULL, "{\"do_lower_case\": tru", "invalid JSON", NULL, NULL},
      {"special_tokens_map_malformed", "bert", NULL, "special_tokens_map.json", TOK_WRITE, NULL,
       "{\"cls_token\": ", "invalid JSON", NULL, NULL},
      {"merges_bad_line", "roberta", "tokenizer.json", "merges.txt", TOK_WRITE, NULL,
       "#version: 0.2\n\xc4\xa0 t\na b c\n", "expected 'left right'", NULL, NULL},
      {"merges_truncated", "roberta", "tokenizer.json", "merges.txt", TOK_TRUNCATE, NULL, "45",
       "not in the vocabulary", NULL, "tokenizer/load.c: merge errors omit merges.txt"},
      {"merges_unknown_token", "roberta", "tokenizer.json", "merges.txt", TOK_WRITE, NULL,
       "#version: 0.2\nzzzq qqqz\n", "not in the vocabulary", NULL,
       "tokenizer/load.c: merge errors omit merges.txt"},
      {"merges_missing", "roberta", "tokenizer.json", "merges.txt", TOK_REMOVE, NULL, NULL,
       "without merges.txt", NULL, NULL},
      {"vocab_json_malformed", "roberta", "tokenizer.json", "vocab.json", TOK_WRITE, NULL,
       "{\"<s>\": 0, ", "invalid JSON", NULL, NULL},
      {"vocab_json_truncated", "roberta", "tokenizer.json", "vocab.json", TOK_TRUNCATE, NULL, "",
       "invalid JSON", NULL, NULL},
      {"vocab_json_string_id", "roberta", "tokenizer.json", "vocab.json", TOK_WRITE, NULL,
       "{\"<s>\": \"0\", \"</s>\": 2}", "not an integer", NULL, NULL},
      {"vocab_json_array", "roberta", "tokenizer.json", "vocab.json", TOK_WRITE, NULL, "[\"<s>\"]",
       "not an object", NULL, NULL},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const tok_case_t *c = &cases[i];
    char *name = fmt("tok_%s", c->name);
    work_t w;
    work_make(&w, name, c->fixture);
    if (c->remove) {
      char *p = model_file(&w, c->remove);
      unlink(p);
      free(p);
    }
    char *path = model_file(&w, c->file);
    switch (c->op) {
    case TOK_WRITE: write_text(path, c->value); break;
    case TOK_TRUNCATE:
      truncate_to(path, *c->value ? (size_t)atoi(c->value) : file_size(path) / 2);
      break;
    case TOK_SET: json_set(path, c->key, c->value); break;
    case TOK_REMOVE: unlink(path); break;
    }
    cur_gap = c->gap;
    expect_model_fails(name, &w, c->names ? c->names : c->file, c->keywords);
    cur_gap = NULL;
    free(path);
    free(name);
    work_free(&w);
  }
  class_end(&t);
}

/* ---- safetensors -------------------------------------------------------------------- */

/* Writes a safetensors file: the 8-byte length (`hlen`, or the header's own
 * length when hlen is UINT64_MAX), the header text, then `data` zero bytes. */
static void write_st(const char *path, uint64_t hlen, const char *header, size_t data) {
  size_t n = strlen(header);
  if (hlen == UINT64_MAX) hlen = n;
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  for (int i = 0; i < 8; i++)
    fputc((int)((hlen >> (8 * i)) & 0xff), f);
  fwrite(header, 1, n, f);
  for (size_t i = 0; i < data; i++)
    fputc(0, f);
  fclose(f);
}

typedef struct st_case {
  const char *name;
  uint64_t hlen; /* UINT64_MAX: the header's length */
  const char *header;
  size_t data;
  const char *keywords;
} st_case_t;

/* How rewrite_st changes the tensors of a real checkpoint. */
typedef struct st_edit {
  const char *drop;      /* tensor left out */
  const char *transpose; /* 2-D tensor whose shape is written reversed */
  const char *as_i32;    /* F32 tensor relabelled I32 (same bytes) */
  const char *nan;       /* tensor whose first value becomes NaN */
} st_edit_t;

/* Re-writes `path` (a valid safetensors file) with one edit, keeping the rest. */
static void rewrite_st(const char *path, const st_edit_t *e) {
  st_file_t *f = NULL;
  TU_ASSERT_OK(st_file_open(path, &f));
  json_t *header = json_object();
  uint64_t offset = 0;
  size_t n = st_file_count(f);
  for (size_t i = 0; i < n; i++) {
    const st_tensor_t *t = st_file_tensor(f, i);
    if (e->drop && !strcmp(t->name, e->drop)) continue;
    json_t *shape = json_array();
    bool tr = e->transpose && !strcmp(t->name, e->transpose);
    for (int d = 0; d < t->rank; d++)
      json_array_append_new(shape, json_integer((json_int_t)t->shape[tr ? t->rank - 1 - d : d]));
    const char *dtype = e->as_i32 && !strcmp(t->name, e->as_i32) ? "I32" : st_dtype_name(t->dtype);
    json_t *entry = json_pack("{s:s, s:o, s:[I,I]}", "dtype", dtype, "shape", shape, "data_offsets",
                              (json_int_t)offset, (json_int_t)(offset + t->nbytes));
    json_object_set_new(header, t->name, entry);
    offset += t->nbytes;
  }
  char *text = json_dumps(header, JSON_COMPACT | JSON_PRESERVE_ORDER);
  size_t hlen = strlen(text);
  uint8_t *buf = malloc(8 + hlen + offset);
  assert_non_null(buf);
  for (int i = 0; i < 8; i++)
    buf[i] = (uint8_t)(hlen >> (8 * i));
  memcpy(buf + 8, text, hlen);
  uint8_t *p = buf + 8 + hlen;
  for (size_t i = 0; i < n; i++) {
    const st_tensor_t *t = st_file_tensor(f, i);
    if (e->drop && !strcmp(t->name, e->drop)) continue;
    memcpy(p, t->data, t->nbytes);
    if (e->nan && !strcmp(t->name, e->nan)) {
      float v = NAN;
      memcpy(p, &v, sizeof v);
    }
    p += t->nbytes;
  }
  size_t total = 8 + hlen + offset;
  st_file_close(f);
  tu_write_file(path, buf, total);
  free(buf);
  free(text);
  json_decref(header);
}

#define F32(shape, b, e) "{\"dtype\":\"F32\",\"shape\":" shape ",\"data_offsets\":[" #b "," #e "]}"

static void test_safetensors(void **state) {
  (void)state;
  tally_t t;
  class_begin(&t, "safetensors");
  static const st_case_t cases[] = {
      {"empty_file", 0, "", 0, "header too small|less than the 8-byte"},
      {"huge_header_length", UINT64_C(0xffffffffffff), "{}", 0, "exceeds the limit"},
      {"header_length_2_63", UINT64_C(1) << 63, "{}", 0, "exceeds the limit"},
      {"header_past_end", 4096, "{}", 16, "past the end"},
      {"header_not_json", UINT64_MAX, "{\"a\": ", 0, "not valid JSON"},
      {"header_not_utf8", UINT64_MAX, "{\"\xff\xfe\": 1}", 0, "UTF-8"},
      {"header_array", UINT64_MAX, "[1,2]", 0, "not a JSON object"},
      {"entry_not_object", UINT64_MAX, "{\"a\": 5}", 0, "not a JSON object"},
      {"overlap", UINT64_MAX, "{\"a\":" F32("[2]", 0, 8) ",\"b\":" F32("[2]", 4, 12) "}", 12,
       "overlap"},
      {"gap", UINT64_MAX, "{\"a\":" F32("[2]", 0, 8) ",\"b\":" F32("[2]", 12, 20) "}", 20, "gap"},
      {"not_from_zero", UINT64_MAX, "{\"a\":" F32("[2]", 4, 12) "}", 12, "gap"},
      {"beyond_file", UINT64_MAX, "{\"a\":" F32("[2]", 0, 8) ",\"b\":" F32("[248]", 8, 1000) "}",
       16, "truncated"},
      {"trailing_bytes", UINT64_MAX, "{\"a\":" F32("[2]", 0, 8) "}", 64, "trailing"},
      {"size_vs_shape", UINT64_MAX, "{\"a\":" F32("[3]", 0, 8) "}", 8, "needs 12"},
      {"end_before_begin", UINT64_MAX, "{\"a\":" F32("[2]", 8, 0) "}", 8, "end before"},
      {"offsets_three", UINT64_MAX,
       "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4,8]}}", 8, "data_offsets"},
      {"offsets_negative", UINT64_MAX,
       "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[-8,0]}}", 8, "data_offsets"},
      {"offsets_huge", UINT64_MAX,
       "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,9223372036854775807]}}", 8,
       "needs 8|truncated"},
      {"unknown_dtype", UINT64_MAX,
       "{\"a\":{\"dtype\":\"F128\",\"shape\":[2],\"data_offsets\":[0,32]}}", 32, "unknown dtype"},
      {"dtype_number", UINT64_MAX, "{\"a\":{\"dtype\":9,\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
       "dtype"},
      {"missing_dtype", UINT64_MAX, "{\"a\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
       "missing \"dtype\""},
      {"missing_shape", UINT64_MAX, "{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", 8,
       "missing \"shape\""},
      {"negative_dim", UINT64_MAX,
       "{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8, "shape dimension"},
      {"shape_overflow", UINT64_MAX,
       "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,8]}}", 8,
       "2^64"},
      {"bits_overflow", UINT64_MAX,
       "{\"a\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904,2],\"data_offsets\":[0,8]}}", 8,
       "2^64"},
      {"rank_9", UINT64_MAX,
       "{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4,
       "rank"},
      {"metadata_non_string", UINT64_MAX,
       "{\"__metadata__\":{\"format\":1},\"a\":" F32("[2]", 0, 8) "}", 8, "not a string"},
      {"metadata_array", UINT64_MAX, "{\"__metadata__\":[\"pt\"],\"a\":" F32("[2]", 0, 8) "}", 8,
       "__metadata__"},
      {"duplicate_names", UINT64_MAX, "{\"a\":" F32("[2]", 0, 8) ",\"a\":" F32("[2]", 8, 16) "}",
       16, "duplicate"},
      {"no_tensors", UINT64_MAX, "{}", 0, "missing"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const st_case_t *c = &cases[i];
    char *name = fmt("st_%s", c->name);
    work_t w;
    work_make(&w, name, "bert");
    char *path = model_file(&w, "model.safetensors");
    if (!strcmp(c->name, "empty_file"))
      write_text(path, "");
    else
      write_st(path, c->hlen, c->header, c->data);
    expect_model_fails(name, &w, "model.safetensors", c->keywords);
    free(path);
    free(name);
    work_free(&w);
  }

  /* Edits of the real checkpoint. */
  static const struct {
    const char *name;
    st_edit_t edit;
    const char *keywords;
  } edits[] = {
      {"missing_tensor", {.drop = "encoder.layer.1.output.dense.weight"}, "missing"},
      {"missing_embeddings", {.drop = "embeddings.word_embeddings.weight"}, "missing"},
      {"misshaped_tensor", {.transpose = "encoder.layer.0.intermediate.dense.weight"}, "shape"},
      {"misshaped_embeddings", {.transpose = "embeddings.word_embeddings.weight"}, "shape"},
      {"integer_weights", {.as_i32 = "encoder.layer.0.attention.self.query.weight"}, "dtype"},
  };
  for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
    char *name = fmt("st_%s", edits[i].name);
    work_t w;
    work_make(&w, name, "bert");
    char *path = model_file(&w, "model.safetensors");
    rewrite_st(path, &edits[i].edit);
    expect_model_fails(name, &w, "model.safetensors", edits[i].keywords);
    free(path);
    free(name);
    work_free(&w);
  }
  {
    work_t w; /* cut in the middle of the data */
    work_make(&w, "st_truncated", "bert");
    char *path = model_file(&w, "model.safetensors");
    truncate_to(path, file_size(path) / 2);
    expect_model_fails("st_truncated", &w, "model.safetensors", "truncated");
    free(path);
    work_free(&w);
  }
  {
    work_t w; /* cut inside the header */
    work_make(&w, "st_truncated_header", "bert");
    char *path = model_file(&w, "model.safetensors");
    truncate_to(path, 100);
    expect_model_fails("st_truncated_header", &w, "model.safetensors", "past the end");
    free(path);
    work_free(&w);
  }
  {
    work_t w; /* no weights at all */
    work_make(&w, "st_absent", "bert");
    char *path = model_file(&w, "model.safetensors");
    unlink(path);
    expect_model_fails("st_absent", &w, "model.safetensors", "no model.safetensors");
    free(path);
    work_free(&w);
  }
  /* Sharded checkpoints: the index. */
  static const struct {
    const char *name;
    const char *index;
    const char *keywords;
  } shards[] = {
      {"index_malformed", "{\"weight_map\": {", "not valid JSON"},
      {"index_no_map", "{\"metadata\": {}}", "weight_map"},
      {"index_empty_map", "{\"weight_map\": {}}", "empty"},
      {"index_missing_shard",
       "{\"weight_map\": {\"embeddings.word_embeddings.weight\": "
       "\"model-00009-of-00009.safetensors\"}}",
       "no such file|does not exist|cannot open"},
      {"index_shard_path", "{\"weight_map\": {\"a\": \"../model.safetensors\"}}",
       "plain file name"},
      {"index_wrong_shard",
       "{\"weight_map\": {\"no.such.tensor\": \"model-00001-of-00002.safetensors\"}}",
       "does not contain"},
  };
  for (size_t i = 0; i < sizeof shards / sizeof shards[0]; i++) {
    char *name = fmt("st_%s", shards[i].name);
    work_t w;
    work_make(&w, name, "bert_sharded");
    char *path = model_file(&w, "model.safetensors.index.json");
    write_text(path, shards[i].index);
    expect_model_fails(name, &w, "model.safetensors.index.json", shards[i].keywords);
    free(path);
    free(name);
    work_free(&w);
  }

  {
    /* NaN weights compile, with one warning that names the file and tensor. */
    cur->cases++;
    work_t w;
    work_make(&w, "st_nan", "bert");
    char *path = model_file(&w, "model.safetensors");
    rewrite_st(path, &(st_edit_t){.nan = "encoder.layer.0.output.dense.bias"});
    char *cmd = fmt("'%s' compile '%s' -o '%s/m.so' -q --seq-lens 8", exe(), w.model, w.out);
    expect("st_nan", cmd, 0, "model.safetensors", "NaN", NULL);
    char *so = fmt("%s/m.so", w.out);
    if (!base_file_exists(so)) {
      cur->failures++;
      print_error("FAIL [safetensors] st_nan: no .so written\n");
    }
    free(so);
    free(cmd);
    free(path);
    work_free(&w);
  }
  class_end(&t);
}

/* ---- compiled models and run inputs -------------------------------------------------- */

/* Compiles tiny bert once per test binary run into bad_inputs/so_<mode>/out. */
static char *compiled(const char *mode) {
  char *name = fmt("so_%s", mode);
  work_t w;
  work_make(&w, name, "bert");
  char *so = fmt("%s/bert.so", w.out);
  char *cmd =
      fmt("'%s' compile '%s' -o '%s' -q --seq-lens 8,16 --weights %s", exe(), w.model, so, mode);
  char *err = NULL;
  int rc = tu_run(cmd, NULL, &err);
  if (rc != 0) fail_msg("compiling the tiny model failed: %s", err);
  free(err);
  free(cmd);
  free(name);
  work_free(&w);
  return so;
}

static void test_shared_objects(void **state) {
  (void)state;
  tally_t t;
  class_begin(&t, ".so files");
  char *dir = tu_scratch_path("bad_inputs/so_files/");
  char *cmd;

  /* Not an ELF file at all, and an empty one. */
  static const struct {
    const char *name;
    const char *content;
  } junk[] = {{"text.so", "this is not a shared object\n"},
              {"empty.so", ""},
              {"elf_magic_only.so", "\x7f"
                                    "ELF"},
              {"elf_header_junk.so", "\x7f"
                                     "ELF\x02\x01\x01junkjunkjunk"}};
  for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++) {
    char *so = fmt("%s%s", dir, junk[i].name);
    write_text(so, junk[i].content);
    cur->cases++;
    cmd = fmt("'%s' run '%s' --ids 1,2,3", exe(), so);
    expect(junk[i].name, cmd, 1, junk[i].name, "ELF|shared object|cannot load", NULL);
    free(cmd);
    cmd = fmt("'%s' inspect '%s'", exe(), so);
    expect(junk[i].name, cmd, 1, junk[i].name, "ELF|shared object|cannot load", NULL);
    free(cmd);
    cmd = fmt("'%s' bench '%s' --iters 1", exe(), so);
    expect(junk[i].name, cmd, 1, junk[i].name, "ELF|shared object|cannot load|file too short",
           NULL);
    free(cmd);
    free(so);
  }

  /* A real ELF shared object that is not a bertc model. */
  {
    char *src = fmt("%splain.c", dir), *so = fmt("%splain.so", dir);
    write_text(src, "int plain_function(int x) { return x + 1; }\n");
    cmd = fmt("cc -shared -fPIC -o '%s' '%s'", so, src);
    sh(cmd);
    free(cmd);
    cur->cases++;
    cmd = fmt("'%s' run '%s' --ids 1,2,3", exe(), so);
    expect("plain.so", cmd, 1, "plain.so", "bertc_model_query", NULL);
    free(cmd);
    cmd = fmt("'%s' inspect '%s'", exe(), so);
    expect("plain.so", cmd, 1, "plain.so", "bertc_model_query", NULL);
    free(cmd);
    cmd = fmt("'%s' bench '%s' --iters 1", exe(), so);
    expect("plain.so", cmd, 1, "plain.so", "bertc_model_query", NULL);
    free(cmd);
    free(src);
    free(so);
  }

  /* A compiled model cut short. */
  {
    char *good = compiled("embed");
    char *so = fmt("%struncated.so", dir);
    cmd = fmt("head -c 3000 '%s' > '%s'", good, so);
    sh(cmd);
    free(cmd);
    cur->cases++;
    cmd = fmt("'%s' run '%s' --ids 1,2,3", exe(), so);
    expect("truncated.so", cmd, 1, "truncated.so", "truncated", NULL);
    free(cmd);
    cmd = fmt("'%s' inspect '%s'", exe(), so);
    expect("truncated.so", cmd, 1, "truncated.so", "truncated", NULL);
    free(cmd);
    cmd = fmt("'%s' bench '%s' --iters 1", exe(), so);
    expect("truncated.so", cmd, 1, "truncated.so", "truncated", NULL);
    free(cmd);
    free(so);
    free(good);
  }

  /* --weights external: the side file corrupted, truncated, replaced, missing. */
  char *ext = compiled("external");
  char *weights = fmt("%s.weights", ext);
  char *backup = fmt("%s.orig", weights);
  cmd = fmt("cp '%s' '%s'", weights, backup);
  sh(cmd);
  free(cmd);
  static const struct {
    const char *name;
    const char *shell; /* applied to the .weights file, "%s" is its path */
    const char *keywords;
  } wcases[] = {
      {"weights_corrupted",
       "printf '\\377\\377\\377\\377' | dd of='%s' bs=1 seek=1000 conv=notrunc status=none",
       "hash"},
      {"weights_truncated", "truncate -s 4096 '%s'", "bytes|truncated"},
      {"weights_extended", "printf 'xxxx' >> '%s'", "bytes"},
      {"weights_empty", ": > '%s'", "bytes|empty"},
      {"weights_missing", "rm -f '%s'", "no such file|cannot open|not found"},
      {"weights_directory", "rm -f '%s' && mkdir '%s'", "directory|cannot|not a regular"},
  };
  for (size_t i = 0; i < sizeof wcases / sizeof wcases[0]; i++) {
    char *restore = fmt("rm -rf '%s' && cp '%s' '%s'", weights, backup, weights);
    sh(restore);
    char *edit = fmt(wcases[i].shell, weights, weights);
    sh(edit);
    cur->cases++;
    cmd = fmt("'%s' run '%s' --ids 1,2,3", exe(), ext);
    expect(wcases[i].name, cmd, 1, "bert.so.weights", wcases[i].keywords, NULL);
    free(cmd);
    cmd = fmt("'%s' bench '%s' --iters 1 --warmup 0", exe(), ext);
    expect(wcases[i].name, cmd, 1, "bert.so.weights", wcases[i].keywords, NULL);
    free(cmd);
    free(edit);
    sh(restore);
    free(restore);
  }
  free(backup);
  free(weights);
  free(ext);
  free(dir);
  class_end(&t);
}

/* 65 ids: past the compiled buckets (8, 16) and the model's 64 positions. */
#define IDS8 "1,2,3,4,5,6,7,8,"
#define LONG_IDS IDS8 IDS8 IDS8 IDS8 IDS8 IDS8 IDS8 IDS8 "9"

static void test_run_inputs(void **state) {
  (void)state;
  tally_t t;
  class_begin(&t, "run inputs");
  char *so = compiled("embed");
  work_t w;
  work_make(&w, "run_dir", "bert");
  static const struct {
    const char *name;
    const char *args;
    int code;
    const char *keywords;
  } cases[] = {
      {"id_at_vocab", "--ids 1,1500,3", 1, "range|vocab"},
      {"id_huge", "--ids 1,99999999,3", 1, "range|vocab"},
      {"id_past_int32", "--ids 1,4294967296", 1, "too large|range"},
      {"id_negative", "--ids -1,2,3", 1, "non-negative|negative|integer"},
      {"id_negative_later", "--ids 1,-2", 1, "non-negative|negative|integer"},
      {"id_text", "--ids abc", 1, "integer"},
      {"id_real", "--ids 1.5,2", 1, "integer|unexpected"},
      {"id_empty_item", "--ids 1,,2", 1, "integer"},
      {"id_trailing_comma", "--ids 1,2,", 1, "integer"},
      {"ids_empty", "--ids ''", 1, "empty|integer"},
      {"ids_too_long", "--ids " LONG_IDS, 1, "longer|length|maximum|tokens"},
      {"type_id_range", "--ids 1,2 --type-ids 0,7", 1, "range|type"},
      {"type_id_count", "--ids 1,2 --type-ids 0", 1, "type-ids"},
      {"type_ids_first", "--type-ids 0 --ids 1", 2, "type-ids"},
      {"threads_zero", "--ids 1,2 --threads 0", 2, "threads"},
      {"threads_negative", "--ids 1,2 --threads -1", 2, "threads"},
      {"threads_text", "--ids 1,2 --threads abc", 2, "threads"},
      {"threads_huge", "--ids 1,2 --threads 99999999999999999999", 2, "threads"},
      {"threads_empty", "--ids 1,2 --threads ''", 2, "threads"},
      {"no_ids", "", 2, "--ids|input"},
      {"unknown_option", "--ids 1,2 --frobnicate", 2, "frobnicate"},
      {"option_without_value", "--ids", 2, "ids"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    cur->cases++;
    char *cmd = fmt("'%s' run '%s' %s", exe(), so, cases[i].args);
    expect(cases[i].name, cmd, cases[i].code, NULL, cases[i].keywords, NULL);
    free(cmd);
    /* The same input through the interpreter (a model directory). */
    cmd = fmt("'%s' run '%s' %s", exe(), w.model, cases[i].args);
    char *what = fmt("%s (interpreter)", cases[i].name);
    expect(what, cmd, cases[i].code, NULL, cases[i].keywords, NULL);
    free(what);
    free(cmd);
  }
  /* Text input: invalid UTF-8 is refused with a message that says so. */
  {
    static const struct {
      const char *name;
      const char *bytes; /* printf format */
    } texts[] = {{"text_bad_byte", "hello \\377 world"},
                 {"text_truncated_sequence", "caf\\303"},
                 {"text_overlong", "\\300\\257"},
                 {"text_surrogate", "\\355\\240\\200"}};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
      cur->cases++;
      char *cmd = fmt("'%s' run '%s' --text \"$(printf '%s')\"", exe(), so, texts[i].bytes);
      expect(texts[i].name, cmd, 1, NULL, "UTF-8", NULL);
      free(cmd);
    }
  }
  work_free(&w);
  free(so);
  class_end(&t);
}

/* `args` with {M}, {O} and {S} replaced by m, o and so. */
static char *subst(const char *args, const char *m, const char *o, const char *so) {
  char *r = strdup("");
  for (const char *p = args; *p;) {
    const char *v = !strncmp(p, "{M}", 3)   ? m
                    : !strncmp(p, "{O}", 3) ? o
                    : !strncmp(p, "{S}", 3) ? so
                                            : NULL;
    char *next = v ? fmt("%s%s", r, v) : fmt("%s%c", r, *p);
    p += v ? 3 : 1;
    free(r);
    r = next;
  }
  return r;
}

/* Usage errors of the other commands: exit 2, one line. */
static void test_options(void **state) {
  (void)state;
  tally_t t;
  class_begin(&t, "options");
  work_t w;
  work_make(&w, "options", "bert");
  char *so = compiled("embed");
  static const struct {
    const char *name;
    const char *args; /* {M}: the model dir, {O}: the out dir, {S}: a compiled .so */
    const char *keywords;
  } cases[] = {
      {"compile_no_output", "compile '{M}'", "-o"},
      {"compile_no_model", "compile -o '{O}/m.so'", "MODEL"},
      {"compile_two_models", "compile '{M}' '{M}' -o '{O}/m.so'", "MODEL"},
      {"compile_seq_zero", "compile '{M}' -o '{O}/m.so' --seq-lens 0", "seq-lens"},
      {"compile_seq_text", "compile '{M}' -o '{O}/m.so' --seq-lens 16,abc", "seq-lens"},
      {"compile_seq_empty", "compile '{M}' -o '{O}/m.so' --seq-lens ''", "seq-lens"},
      {"compile_seq_twice", "compile '{M}' -o '{O}/m.so' --seq-lens 16,16", "seq-lens"},
      {"compile_batch_negative", "compile '{M}' -o '{O}/m.so' --batch-sizes -1", "batch-sizes"},
      {"compile_task", "compile '{M}' -o '{O}/m.so' --task translate", "task"},
      {"compile_weights", "compile '{M}' -o '{O}/m.so' --weights cloud", "weights"},
      {"compile_emit", "compile '{M}' -o '{O}/m.so' --emit exe", "emit"},
      {"compile_threads", "compile '{M}' -o '{O}/m.so' --threads 0", "threads"},
      {"compile_jobs", "compile '{M}' -o '{O}/m.so' --jobs 0", "jobs"},
      {"compile_jobs_text", "compile '{M}' -o '{O}/m.so' --jobs many", "jobs"},
      {"compile_gemm", "compile '{M}' -o '{O}/m.so' --gemm mkl", "gemm"},
      {"compile_unknown", "compile '{M}' -o '{O}/m.so' --fast", "fast"},
      {"compile_missing_value", "compile '{M}' -o", "-o"},
      {"inspect_unknown", "inspect '{M}' --yaml", "yaml"},
      {"inspect_no_model", "inspect", "MODEL"},
      {"bench_seq_zero", "bench '{S}' --seq 0", "seq"},
      {"bench_batch_text", "bench '{S}' --batch x", "batch"},
      {"bench_iters_negative", "bench '{S}' --iters -3", "iters"},
      {"bench_unknown", "bench '{S}' --fast", "fast"},
      {"unknown_command", "frobnicate", "frobnicate"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    cur->cases++;
    char *args = subst(cases[i].args, w.model, w.out, so);
    char *cmd = fmt("'%s' %s", exe(), args);
    expect(cases[i].name, cmd, 2, NULL, cases[i].keywords, w.out);
    free(cmd);
    free(args);
  }
  /* Values that parse but do not fit the model: user errors (exit 1). */
  static const struct {
    const char *name;
    const char *args;
    const char *keywords;
  } fits[] = {
      {"compile_seq_past_model", "compile '{M}' -o '{O}/m.so' -q --seq-lens 16,100", "100"},
      {"compile_task_without_head", "compile '{M}' -o '{O}/m.so' -q --task fill-mask", "head"},
      {"compile_bad_cpu", "compile '{M}' -o '{O}/m.so' -q --seq-lens 8 --target-cpu pentium9000",
       "pentium9000"},
      {"compile_output_dir_missing", "compile '{M}' -o '{O}/none/m.so' -q --seq-lens 8", "none"},
      {"compile_amx_without_amx",
       "compile '{M}' -o '{O}/m.so' -q --seq-lens 8 --gemm amx --target-cpu haswell", "AMX"},
      {"model_missing", "compile '{M}/nothing' -o '{O}/m.so' -q", "nothing"},
      {"bench_seq_past_buckets", "bench '{S}' --seq 17", "seq"},
  };
  for (size_t i = 0; i < sizeof fits / sizeof fits[0]; i++) {
    cur->cases++;
    char *args = subst(fits[i].args, w.model, w.out, so);
    char *cmd = fmt("'%s' %s", exe(), args);
    expect(fits[i].name, cmd, 1, NULL, fits[i].keywords, w.out);
    free(cmd);
    free(args);
  }
  /* A 32-bit CPU name makes LLVM abort unless bertc adds +64bit: it must compile, quietly. */
  {
    cur->cases++;
    cur->runs++;
    char *cmd = fmt("timeout -s KILL 120 '%s' compile '%s' -o '%s/m.so' -q --seq-lens 8 "
                    "--target-cpu i686",
                    exe(), w.model, w.out);
    char *err = NULL;
    int rc = tu_run(cmd, NULL, &err);
    if (rc != 0 || *err) {
      cur->failures++;
      print_error("FAIL [options] compile_cpu_32bit: exit %d, stderr: %s\n", rc, err);
    }
    free(err);
    free(cmd);
  }
  free(so);
  work_free(&w);
  class_end(&t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_config),         cmocka_unit_test(test_model_json),
      cmocka_unit_test(test_tokenizer),      cmocka_unit_test(test_safetensors),
      cmocka_unit_test(test_shared_objects), cmocka_unit_test(test_run_inputs),
      cmocka_unit_test(test_options),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
