/* The fuzz targets' entry code, shared by the libFuzzer programs in fuzz/
 * (built with -DBERTC_FUZZ=ON, run by scripts/fuzz.sh) and by
 * tests/reliability/test_regressions.c, which replays every saved crash
 * input through the same functions in the normal test suite.
 *
 * Each function takes one input and returns 0. Errors the input provokes are
 * expected and ignored; what counts is that the library neither crashes nor
 * trips a sanitizer, and the few invariants checked here (an IR text that
 * parses prints and parses back to the same text) abort when broken. */
#ifndef BERTC_FUZZ_TARGETS_H
#define BERTC_FUZZ_TARGETS_H

#include <stddef.h>
#include <stdint.h>

typedef int (*fuzz_fn_t)(const uint8_t *data, size_t size);

typedef struct fuzz_target {
  const char *name; /* fuzz_<name> is the program, fuzz/corpus/<name> its seeds */
  fuzz_fn_t run;
} fuzz_target_t;

/* The input as a .safetensors file: st_file_open, then every tensor through
 * st_tensor_to_f32 and st_tensor_count_nonfinite; also st_checkpoint_open. */
int fuzz_safetensors(const uint8_t *data, size_t size);
/* The input as config.json: fe_config_load. */
int fuzz_config(const uint8_t *data, size_t size);
/* The input as a model.json next to a link "tiny" to tests/fixtures/tiny:
 * fe_spec_load, and fe_model_load when the spec loads. */
int fuzz_spec(const uint8_t *data, size_t size);
/* The input as text (split at the first '\n' into a text pair) through the
 * WordPiece and BPE fixture tokenizers, and as a packed tokenizer blob. */
int fuzz_tokenizer(const uint8_t *data, size_t size);
/* The input as a SentencePiece precompiled_charsmap (base64 in a Unigram
 * tokenizer.json): load it, then encode multilingual text and the input. */
int fuzz_charsmap(const uint8_t *data, size_t size);
/* The input as a SentencePiece model file (sentencepiece.bpe.model, or
 * spiece.model when its length is odd): load it and encode text. */
int fuzz_spm_model(const uint8_t *data, size_t size);
/* The input as IR text: ir_parse, ir_verify, and a print/parse round trip. */
int fuzz_ir_parse(const uint8_t *data, size_t size);

extern const fuzz_target_t fuzz_targets[];
extern const size_t fuzz_num_targets;

#endif
