/* Shared between the tokenizer/ sources only (not installed, not for other parts).
 *
 * The pipeline mirrors HuggingFace `tokenizers` (Rust) step for step:
 *
 *   text ─► added-token split (raw) ─► normalize ─► added-token split (normalized)
 *        ─► pre-tokenize ─► model (WordPiece | BPE) ─► truncate ─► post-process
 *
 * Every intermediate string is a tok_nstr_t: code points plus, for each code
 * point, the span of original code points it came from (Rust keeps the same
 * alignment per byte; one per code point is equivalent because all bytes of a
 * character share it). A token's offsets are the start of its first code
 * point's span and the end of its last one's, as in Rust's
 * NormalizedString::convert_offsets. */
#ifndef BERTC_RUNTIME_TOKENIZER_INTERNAL_H
#define BERTC_RUNTIME_TOKENIZER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "base/base.h"
#include "tokenizer/tokenizer.h"

/* The tokenizer's out-of-memory status ("tokenizer: out of memory"). */
bertc_status_t tok_oom(void) BERTC_MUST_USE;

/* ---- Unicode (text.c) ------------------------------------------ */

typedef struct {
  uint32_t lo, hi;
} tok_range_t;
typedef struct {
  uint32_t cp;
  uint32_t to[3]; /* zero-terminated unless full */
} tok_map_t;

/* The utf8proc Unicode version the exception tables were generated against. */
const char *tok_unicode_tables_version(void);
bool tok_is_whitespace(uint32_t c);  /* Rust char::is_whitespace (White_Space) */
bool tok_is_bert_punct(uint32_t c);  /* BertPreTokenizer: ASCII or Unicode punctuation */
bool tok_is_word_char(uint32_t c);   /* regex \w, for single_word added tokens */
/* Decodes UTF-8; on invalid input returns an error naming `what` and the byte offset. */
bertc_status_t tok_utf8_decode(const char *s, size_t n, const char *what, uint32_t *out,
                               size_t *out_len) BERTC_MUST_USE;
/* Encodes code points as UTF-8 into `out` (room for 4*n+1 bytes); returns the length. */
size_t tok_utf8_encode(const uint32_t *cps, size_t n, char *out);
/* Encodes one code point; returns its byte length. */
size_t tok_utf8_put(uint32_t c, char *out);

/* ---- Per-call scratch memory ---------------------------------------------- */

typedef struct tok_arena_chunk tok_arena_chunk_t;
typedef struct {
  tok_arena_chunk_t *head;
} tok_arena_t;
/* Zeroed memory that lives until tok_arena_free; NULL on overflow or OOM. */
void *tok_arena_alloc(tok_arena_t *a, size_t n, size_t size);
void tok_arena_free(tok_arena_t *a);

/* ---- Normalized strings ----------------------------------------------------- */

typedef struct {
  int32_t start, end; /* original code point offsets */
} tok_span_t;

typedef struct {
  uint32_t *cp;
  tok_span_t *al;
  size_t len;
} tok_nstr_t;

typedef enum {
  TOK_NORM_BERT,          /* BertNormalizer */
  TOK_NORM_LOWERCASE,     /* Lowercase */
  TOK_NORM_NFD,           /* NFD */
  TOK_NORM_STRIP_ACCENTS, /* StripAccents (drop Mn) */
  TOK_NORM_NFKD,          /* NFKD */
  TOK_NORM_NFKC,          /* NFKC */
  TOK_NORM_STRIP,         /* Strip (left, right) */
  TOK_NORM_REPLACE,       /* Replace (string or regex) */
  TOK_NORM_PRECOMPILED,   /* Precompiled (SentencePiece charsmap) */
} tok_norm_kind_t;

/* SentencePiece's compiled character map (precompiled.c): a Darts
 * double-array trie over UTF-8 bytes whose values index NUL-terminated
 * replacements. Validated when parsed: every trie walk stays in bounds and
 * every value starts a UTF-8 replacement inside the table. */
typedef struct {
  uint32_t *units;
  size_t n_units;
  char *normalized; /* n_normalized bytes plus a NUL */
  size_t n_normalized;
} tok_charsmap_t;

/* Parses the raw blob: u32le trie size in bytes, the trie units, the
 * replacement strings. `what` names the file and field in messages. */
bertc_status_t tok_charsmap_parse(const uint8_t *blob, size_t size, const char *what,
                                  tok_charsmap_t *out) BERTC_MUST_USE;
/* The same from base64 text (tokenizer.json's precompiled_charsmap). */
bertc_status_t tok_charsmap_parse_base64(const char *text, size_t len, const char *what,
                                         tok_charsmap_t *out) BERTC_MUST_USE;
void tok_charsmap_deinit(tok_charsmap_t *m);
/* The replacement for the UTF-8 bytes s[0, n) (the shortest key that
 * prefixes them), or NULL when none; *out_len is its length. */
const char *tok_charsmap_transform(const tok_charsmap_t *m, const char *s, size_t n,
                                   size_t *out_len);

/* Replace's pattern: a literal code point string or an Oniguruma regex. */
typedef struct {
  uint32_t *literal;
  size_t literal_len;
  void *regex; /* OnigRegex, NULL for a literal */
  uint32_t *content;
  size_t content_len;
} tok_replace_t;

typedef struct {
  tok_norm_kind_t kind;
  bool clean_text, handle_chinese_chars, strip_accents, lowercase; /* BERT only */
  bool strip_left, strip_right;                                    /* Strip */
  tok_replace_t *replace;     /* Replace (owned) */
  tok_charsmap_t *charsmap;   /* Precompiled (owned) */
} tok_norm_step_t;

/* Applies the normalizer steps in order, replacing s. */
bertc_status_t tok_normalize(const tok_norm_step_t *steps, size_t n_steps, tok_arena_t *a,
                             tok_nstr_t *s) BERTC_MUST_USE;
void tok_norm_steps_free(tok_norm_step_t *steps, size_t n);

/* One character of a transformation (NormalizedString::transform): change 0
 * replaces the next original character, 1 inserts one (aligned with the
 * previous original character), -n replaces one and removes n more. */
typedef struct {
  uint32_t c;
  int32_t change;
} tok_change_t;

/* Applies the transformation to the whole of s; `initial_offset` original
 * characters are removed first. */
bertc_status_t tok_apply_changes(tok_nstr_t *s, const tok_change_t *ch, size_t n,
                                 size_t initial_offset, tok_arena_t *a) BERTC_MUST_USE;

/* The normalizers of normalizers.c (Unigram tokenizers' set). */
bertc_status_t tok_norm_nfk(tok_nstr_t *s, bool compose, tok_arena_t *a) BERTC_MUST_USE;
bertc_status_t tok_norm_strip(tok_nstr_t *s, bool left, bool right, tok_arena_t *a) BERTC_MUST_USE;
bertc_status_t tok_norm_replace(const tok_replace_t *r, tok_nstr_t *s,
                                tok_arena_t *a) BERTC_MUST_USE;
bertc_status_t tok_norm_precompiled(const tok_charsmap_t *m, tok_nstr_t *s,
                                    tok_arena_t *a) BERTC_MUST_USE;
/* Compiles a Replace pattern; `regex` selects Oniguruma syntax. */
bertc_status_t tok_replace_init(tok_replace_t *r, const char *pattern, bool regex,
                                const char *content, const char *what) BERTC_MUST_USE;
void tok_replace_deinit(tok_replace_t *r);

/* Pre-tokenizers cut a normalized split into pieces given as [begin, end)
 * code point ranges; ByteLevel also rewrites the split first (prefix space)
 * and each piece afterwards (bytes to printable characters). */
typedef struct {
  size_t begin, end;
} tok_piece_t;

bertc_status_t tok_pre_bert(const tok_nstr_t *s, tok_arena_t *a, tok_piece_t **out,
                            size_t *out_n) BERTC_MUST_USE;
/* GPT-2 regex split of s (after the optional prefix space was added). */
bertc_status_t tok_pre_bytelevel_split(const tok_nstr_t *s, tok_arena_t *a, tok_piece_t **out,
                                       size_t *out_n) BERTC_MUST_USE;
/* A copy of s in the arena. */
bertc_status_t tok_nstr_copy(const tok_nstr_t *in, tok_arena_t *a, tok_nstr_t *out) BERTC_MUST_USE;
/* Prepends ' ' aligned with the first character (NormalizedString::prepend). */
bertc_status_t tok_nstr_prepend_space(tok_nstr_t *s, tok_arena_t *a) BERTC_MUST_USE;
/* The same for any character. */
bertc_status_t tok_nstr_prepend(tok_nstr_t *s, uint32_t c, tok_arena_t *a) BERTC_MUST_USE;
/* WhitespaceSplit: pieces between runs of whitespace. */
bertc_status_t tok_pre_whitespace_split(const tok_nstr_t *s, tok_arena_t *a, tok_piece_t **out,
                                        size_t *out_n) BERTC_MUST_USE;
/* Replaces each character of a piece by its UTF-8 bytes mapped through
 * GPT-2's bytes_to_unicode table; every byte keeps its character's span. */
bertc_status_t tok_bytelevel_map(const tok_nstr_t *s, size_t begin, size_t end, tok_arena_t *a,
                                 tok_nstr_t *out) BERTC_MUST_USE;
/* The GPT-2 byte-to-unicode character for a byte. */
uint32_t tok_byte_char(uint8_t b);
/* The inverse: the byte a character stands for, or -1 for other characters. */
int tok_char_byte(uint32_t c);

/* ---- Vocabularies and models (models.c) ------------------------- */

typedef struct {
  char *str;
  uint32_t len;
  int32_t id;
} tok_vocab_entry_t;

typedef struct {
  tok_vocab_entry_t *entries;
  size_t count, cap;
  int32_t *slots; /* entry index or -1 */
  size_t n_slots; /* power of two */
  int32_t *by_id; /* entry index or -1, for ids [0, n_ids) */
  size_t n_ids;
} tok_vocab_t;

bertc_status_t tok_vocab_put(tok_vocab_t *v, const char *s, size_t len,
                             int32_t id) BERTC_MUST_USE;
/* Builds the id index once all entries are in. */
bertc_status_t tok_vocab_finish(tok_vocab_t *v) BERTC_MUST_USE;
int32_t tok_vocab_get(const tok_vocab_t *v, const char *s, size_t len);
const char *tok_vocab_str(const tok_vocab_t *v, int32_t id);
void tok_vocab_deinit(tok_vocab_t *v);

typedef struct {
  uint64_t key; /* (left id << 32) | right id; UINT64_MAX = empty */
  uint32_t rank;
  int32_t new_id;
} tok_merge_t;

typedef enum { TOK_MODEL_WORDPIECE, TOK_MODEL_BPE, TOK_MODEL_UNIGRAM } tok_model_kind_t;

typedef struct {
  tok_model_kind_t kind;
  tok_vocab_t vocab;
  char *unk_token; /* NULL when the model has none (byte-level BPE) */
  int32_t unk_id;
  /* WordPiece */
  char *continuing_prefix; /* "##"; BPE's continuing_subword_prefix too (may be NULL) */
  size_t max_input_chars_per_word;
  /* BPE */
  char *end_of_word_suffix;
  tok_merge_t *merges;
  size_t n_merge_slots; /* power of two */
  bool fuse_unk, byte_fallback, ignore_merges; /* byte_fallback: BPE and Unigram */
  /* Unigram: each id's log-probability, the lowest one, the longest piece in
   * code points; unk_id is the model's own (-1: none). */
  double *scores;
  double min_score;
  size_t max_piece_chars;
} tok_model_t;


/* Adds merge (left, right) at `rank`; a later duplicate pair replaces an earlier one. */
bertc_status_t tok_bpe_add_merge(tok_model_t *m, const char *left, size_t left_len,
                                 const char *right, size_t right_len, uint32_t rank,
                                 size_t n_total) BERTC_MUST_USE;
void tok_model_deinit(tok_model_t *m);

/* A produced token: id, original code point offsets, and its string. */
typedef struct {
  int32_t id;
  int32_t start, end;
  const char *str; /* owned by the tokenizer or the call's arena */
  int32_t word;    /* the pre-tokenizer word of its sequence it comes from */
} tok_token_t;

typedef struct tok_tokens {
  tok_token_t *v;
  size_t len, cap;
} tok_tokens_t;

bertc_status_t tok_tokens_push(tok_tokens_t *t, tok_arena_t *a, tok_token_t tok) BERTC_MUST_USE;

/* Runs the model on one pre-token (code points s->cp[begin, end)). */
bertc_status_t tok_model_tokenize(const tok_model_t *m, const tok_nstr_t *s, size_t begin,
                                  size_t end, tok_arena_t *a, tok_tokens_t *out) BERTC_MUST_USE;

/* Unigram (unigram.c): Viterbi segmentation of one pre-token. */
bertc_status_t tok_unigram_tokenize(const tok_model_t *m, const tok_nstr_t *s, size_t begin,
                                    size_t end, tok_arena_t *a,
                                    tok_tokens_t *out) BERTC_MUST_USE;
/* Finishes a Unigram model whose vocabulary and scores are in: the lowest
 * score, the longest piece, the unknown id's range. */
bertc_status_t tok_unigram_finish(tok_model_t *m, const char *what) BERTC_MUST_USE;

/* ---- The tokenizer (tokenizer.c, load.c) ------------------------- */

typedef struct {
  char *content;
  uint32_t *pattern; /* what is matched: content, normalized when `normalized` */
  size_t pattern_len;
  int32_t id;
  bool special, single_word, lstrip, rstrip, normalized;
} tok_added_t;

typedef enum {
  TOK_PRE_NONE,
  TOK_PRE_BERT,
  TOK_PRE_BYTELEVEL,
  TOK_PRE_WHITESPACE_SPLIT, /* WhitespaceSplit alone */
  TOK_PRE_METASPACE,        /* Metaspace, after WhitespaceSplit when ms_ws_split */
} tok_pre_kind_t;

typedef enum { TOK_PREPEND_ALWAYS, TOK_PREPEND_FIRST, TOK_PREPEND_NEVER } tok_prepend_t;

/* The way back from tokens to text (decode.c): tokenizer.json's "decoder"
 * (WordPiece and ByteLevel steps, possibly in a Sequence), or the tokenizer
 * class's default for the older files, and the special tokens
 * transformers skips with skip_special_tokens. */
typedef enum {
  TOK_DEC_WORDPIECE,
  TOK_DEC_BYTELEVEL,
  TOK_DEC_METASPACE,
  TOK_DEC_REPLACE,       /* a string pattern in each token */
  TOK_DEC_BYTE_FALLBACK, /* runs of <0xNN> tokens back to text */
  TOK_DEC_FUSE,          /* all tokens into one */
  TOK_DEC_STRIP,         /* up to start / stop `content` characters off each token */
} tok_dec_kind_t;

typedef struct {
  tok_dec_kind_t kind;
  char prefix[16]; /* WordPiece; Replace's pattern */
  char content[16]; /* Replace */
  bool cleanup;    /* WordPiece */
  uint32_t strip_char; /* Strip */
  size_t strip_start, strip_stop;
  uint32_t replacement;  /* Metaspace */
  tok_prepend_t prepend; /* Metaspace */
} tok_dec_step_t;

#define TOK_MAX_DEC_STEPS 6

typedef struct {
  bool has_decoder;     /* false: tokens joined with spaces */
  char unsupported[48]; /* a decoder type bertc cannot apply, "" if none */
  tok_dec_step_t steps[TOK_MAX_DEC_STEPS];
  int num_steps;
  bool clean_up_spaces; /* tokenizer_config clean_up_tokenization_spaces */
  int32_t *special;     /* sorted ids of the special tokens */
  size_t num_special;
  int32_t unk_id, cls_id; /* -1 when the tokenizer has none */
} tok_decoder_t;

/* A template item: a special token (index into specials) or sequence A/B. */
typedef struct {
  int seq; /* -1 special, 0 = $A, 1 = $B */
  size_t special;
  int32_t type_id;
} tok_tpl_item_t;

typedef struct {
  char *name;
  int32_t *ids;
  char **tokens;
  size_t n;
} tok_tpl_special_t;

typedef struct {
  bool has_template;
  tok_tpl_item_t *single, *pair;
  size_t n_single, n_pair;
  tok_tpl_special_t *specials;
  size_t n_specials;
  /* ByteLevel/RoBERTa offset trimming */
  bool trim_offsets, trim_add_prefix_space;
} tok_post_t;

struct tok_tokenizer {
  tok_norm_step_t *norm;
  size_t n_norm;
  tok_pre_kind_t pre;
  bool bl_add_prefix_space, bl_use_regex;
  bool ms_ws_split, ms_split; /* Metaspace */
  uint32_t ms_replacement;
  tok_prepend_t ms_prepend;
  tok_model_t model;
  tok_added_t *added;
  size_t n_added;
  /* Indices into `added` of the patterns matched before / after normalization,
   * sorted by first code point. */
  size_t *pat_raw, *pat_norm;
  size_t n_pat_raw, n_pat_norm;
  tok_post_t post;
  bool trunc_left; /* truncation direction from tokenizer.json */
  int32_t pad_id, mask_id;
  tok_decoder_t decoder;
};

/* A set of named files (from a directory or a blob). */
typedef struct {
  const char *name;
  char *data; /* NUL-terminated copy */
  size_t size;
} tok_file_t;

typedef struct {
  tok_file_t files[10];
  size_t n;
  const char *origin; /* directory or "<blob>", for messages */
} tok_files_t;

/* A SentencePiece model file (spm_model.c): what transformers reads of it. */
typedef struct {
  char *piece;
  float score;
  int type; /* 1 normal, 2 unknown, 3 control, 4 user defined, 5 unused, 6 byte */
} tok_spm_piece_t;

typedef struct {
  tok_spm_piece_t *pieces;
  size_t n_pieces;
  int model_type; /* 1 unigram, 2 BPE, 3 word, 4 char */
  int32_t unk_id;
  bool byte_fallback;
  uint8_t *charsmap; /* precompiled_charsmap bytes (NULL when empty) */
  size_t charsmap_size;
  bool add_dummy_prefix, remove_extra_whitespaces, escape_whitespaces;
} tok_spm_model_t;

/* Reads a ModelProto; every field is bounds-checked, errors name `file`. */
bertc_status_t tok_spm_parse(const uint8_t *data, size_t size, const char *file,
                             tok_spm_model_t *out) BERTC_MUST_USE;
void tok_spm_deinit(tok_spm_model_t *m);

/* Builds a tokenizer from the files (load.c). */
bertc_status_t tok_build(const tok_files_t *files, tok_tokenizer_t **out) BERTC_MUST_USE;

/* The parsed configuration files (NULL when absent). */
typedef struct {
  json_t *tj;     /* tokenizer.json */
  json_t *config; /* tokenizer_config.json */
  json_t *stmap;  /* special_tokens_map.json */
} tok_docs_t;

/* A special token in tokenizer_config / special_tokens_map: "x" or {"content": "x", ...}. */
const char *tok_json_token_name(const json_t *v);
/* Looks a special token's name up in special_tokens_map, then tokenizer_config. */
const char *tok_special_name(const tok_docs_t *d, const char *key, const char *dflt);

/* Metaspace's options in tokenizer.json (pre-tokenizer or decoder). */
bertc_status_t tok_metaspace_options(const json_t *p, const char *what, uint32_t *replacement,
                                     tok_prepend_t *prepend, bool *split) BERTC_MUST_USE;

/* Reads the decoder and the special tokens of a tokenizer whose model and
 * added tokens are loaded (decode.c). legacy_bpe: built from vocab.json +
 * merges.txt. */
bertc_status_t tok_decoder_load(tok_tokenizer_t *t, const tok_docs_t *d,
                                bool legacy_bpe) BERTC_MUST_USE;
void tok_decoder_deinit(tok_decoder_t *d);
/* Normalizes an added token's content into its match pattern (tokenizer.c). */
bertc_status_t tok_added_finish(tok_tokenizer_t *t) BERTC_MUST_USE;

#endif
