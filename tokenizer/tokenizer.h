/* Tokenizers for BERT-family models, with output identical to HuggingFace
 * `tokenizers` (the Rust library behind AutoTokenizer's fast tokenizers):
 *
 *   - WordPiece (BERT, DistilBERT, ELECTRA, MiniLM): BertNormalizer,
 *     BertPreTokenizer, WordPiece with a "##" continuation prefix.
 *   - Byte-level BPE (RoBERTa, GPT-2 style): ByteLevel pre-tokenizer with the
 *     GPT-2 split regex, merges by rank, RoBERTa post-processing.
 *
 * Configuration comes from tokenizer.json when the model directory has one,
 * otherwise from vocab.txt (WordPiece) or vocab.json + merges.txt (BPE) plus
 * tokenizer_config.json and special_tokens_map.json.
 *
 * Offsets are Unicode code point offsets into the caller's text (what the
 * Python `tokenizers` binding reports); special tokens get (0, 0).
 * A tokenizer is immutable after loading, so one may be shared by threads. */
#ifndef BERTC_RUNTIME_TOKENIZER_H
#define BERTC_RUNTIME_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "bertc/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tok_tokenizer tok_tokenizer_t;

typedef enum {
  TOK_TRUNC_LONGEST_FIRST, /* default: cut the longer input first (Rust rules) */
  TOK_TRUNC_ONLY_FIRST,
  TOK_TRUNC_ONLY_SECOND,
} tok_trunc_strategy_t;

/* One encoded input. Every array has `len` entries (offsets has 2*len).
 * tokens[i] are NUL-terminated strings owned by the encoding. */
typedef struct tok_encoding {
  size_t len;
  int32_t *ids;
  int32_t *type_ids;
  int32_t *attention_mask;
  int32_t *offsets;      /* 2*len: begin,end in code points */
  char **tokens;
  int32_t *sequence_ids; /* -1 special, 0 first, 1 second */
  int truncated;         /* nonzero when truncation removed tokens */
} tok_encoding_t;

/* Reads a model directory's tokenizer files. */
bertc_status_t tok_load_dir(const char *dir, tok_tokenizer_t **out) BERTC_MUST_USE;

/* Packs the files tok_load_dir would read into one blob: records
 * "name\0" u64le(size) bytes..., ending with an empty name. The compiled .so
 * carries the blob; free it with free(). */
bertc_status_t tok_pack_dir(const char *dir, uint8_t **out_blob,
                                     size_t *out_size) BERTC_MUST_USE;
/* Loads from such a blob (the blob is not referenced after the call). */
bertc_status_t tok_load_blob(const uint8_t *blob, size_t size,
                                      tok_tokenizer_t **out) BERTC_MUST_USE;
void tok_release(tok_tokenizer_t *t);

/* Encodes `text` (and `text_pair` when not NULL) with special tokens.
 * max_length 0 = no truncation; otherwise the result has at most max_length
 * tokens including the special tokens, cut with `strategy` exactly like Rust
 * `tokenizers` (including its errors when the strategy cannot reach
 * max_length). Texts are UTF-8 with explicit lengths (NUL bytes allowed);
 * invalid UTF-8 is an error naming the byte offset. `out` is always
 * initialized (empty on error) and must be released with tok_encoding_deinit. */
bertc_status_t tok_encode(const tok_tokenizer_t *t, const char *text, size_t text_len,
                                   const char *text_pair, size_t pair_len, size_t max_length,
                                   tok_trunc_strategy_t strategy,
                                   tok_encoding_t *out) BERTC_MUST_USE;
void tok_encoding_deinit(tok_encoding_t *e);

/* Id of a token string (added tokens first, then the model vocabulary); -1 if absent. */
int32_t tok_token_id(const tok_tokenizer_t *t, const char *token);
/* Token string of an id, or NULL; valid while the tokenizer lives. */
const char *tok_id_to_token(const tok_tokenizer_t *t, int32_t id);
/* Padding and mask token ids; -1 when the tokenizer defines none. */
int32_t tok_pad_id(const tok_tokenizer_t *t);
int32_t tok_mask_id(const tok_tokenizer_t *t);
/* One past the largest token id (model vocabulary and added tokens). */
size_t tok_vocab_size(const tok_tokenizer_t *t);

#ifdef __cplusplus
}
#endif
#endif
