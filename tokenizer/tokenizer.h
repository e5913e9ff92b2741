/* Tokenizers for BERT-family models, with output identical to HuggingFace
 * `tokenizers` (the Rust library behind AutoTokenizer's fast tokenizers):
 *
 *   - WordPiece (BERT, DistilBERT, ELECTRA, MiniLM): BertNormalizer,
 *     BertPreTokenizer, WordPiece with a "##" continuation prefix.
 *   - Byte-level BPE (RoBERTa, GPT-2 style): ByteLevel pre-tokenizer with the
 *     GPT-2 split regex, merges by rank, RoBERTa post-processing.
 *   - SentencePiece Unigram (XLM-RoBERTa, ALBERT): Precompiled charsmap and
 *     the other normalizers, Metaspace, Viterbi over piece scores.
 *
 * Configuration comes from tokenizer.json when the model directory has one,
 * otherwise from vocab.txt (WordPiece), vocab.json + merges.txt (BPE) or
 * sentencepiece.bpe.model / spiece.model (Unigram) plus
 * tokenizer_config.json and special_tokens_map.json.
 *
 * Offsets are Unicode code point offsets into the caller's text (what the
 * Python `tokenizers` binding reports); special tokens get (0, 0).
 * A tokenizer is immutable after loading, so one may be shared by threads. */
#ifndef BERTC_RUNTIME_TOKENIZER_H
#define BERTC_RUNTIME_TOKENIZER_H

#include <stdbool.h>
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
  /* The pre-tokenizer word each token comes from, counted within its
   * sequence (Encoding.word_ids: added tokens are words of their own); -1
   * for special tokens. */
  int32_t *word_ids;
  int truncated; /* nonzero when truncation removed tokens */
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

/* ---- Decoding (decode.c) ---------------------------------------------------------
 * The way back from tokens to text, read from the same files as the rest:
 * tokenizer.json's "decoder" (WordPiece, ByteLevel, Metaspace, Replace,
 * ByteFallback, Fuse, Strip, possibly in a Sequence) applied as `tokenizers`
 * applies it, then transformers'
 * clean_up_tokenization_spaces when tokenizer_config.json asks for it;
 * without tokenizer.json the tokenizer class's decoder. A decoder type bertc
 * does not know loads, and decoding with it fails. */

/* tokenizer.decode(ids, skip_special_tokens): a heap string. */
bertc_status_t tok_decode(const tok_tokenizer_t *t, const int32_t *ids, size_t n,
                          bool skip_special_tokens, char **out) BERTC_MUST_USE;
/* tokenizer.convert_tokens_to_string(tokens): a heap string. */
bertc_status_t tok_tokens_to_string(const tok_tokenizer_t *t, const char *const *tokens,
                                    size_t n, char **out) BERTC_MUST_USE;
/* Whether decode skips the id with skip_special_tokens (the special tokens
 * the configuration names and the special added tokens). */
bool tok_is_special(const tok_tokenizer_t *t, int32_t id);
/* The unknown and classifier tokens' ids as transformers names them; -1 when absent. */
int32_t tok_unk_id(const tok_tokenizer_t *t);
int32_t tok_cls_id(const tok_tokenizer_t *t);
/* The model's continuing-subword prefix ("##" for WordPiece); "" when it has none. */
const char *tok_subword_prefix(const tok_tokenizer_t *t);

/* ---- Code point offsets (text.c) -------------------------------------------------- */

/* Where each code point of a UTF-8 text starts: byte[i] for code point i,
 * byte[n] the text's length, so that code point offsets slice the text. */
typedef struct tok_chars {
  size_t n;
  size_t *byte;
} tok_chars_t;

/* Fails on invalid UTF-8, naming the byte offset. */
bertc_status_t tok_chars_init(const char *text, size_t len, tok_chars_t *out) BERTC_MUST_USE;
void tok_chars_deinit(tok_chars_t *c);
/* text[start:end] in code points (clamped to the text, empty when end <
 * start) as a heap string. */
bertc_status_t tok_chars_slice(const tok_chars_t *c, const char *text, int32_t start,
                               int32_t end, char **out) BERTC_MUST_USE;

#ifdef __cplusplus
}
#endif
#endif
