/* A reader for SentencePiece model files (sentencepiece_model.proto's
 * ModelProto in protobuf wire format), limited to what transformers reads
 * from them: the pieces (string, score, type), the trainer spec's model
 * type, unk_id and byte_fallback, and the normalizer spec's precompiled
 * charsmap and flags. Other fields are skipped by their wire type.
 *
 * Every read is bounds-checked: varints longer than 10 bytes, lengths past
 * the end of their message, group wire types, pieces that are not UTF-8 and
 * files without pieces are refused with the field's name and byte offset. */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/internal.h"

typedef struct {
  const uint8_t *p;
  size_t size, pos;
  size_t base; /* offset of p in the file, for messages */
  const char *file;
} pb_t;

static bertc_status_t pb_bad(const pb_t *b, const char *what) {
  return bertc_status_make(BERTC_STATUS_DATA, "%s: invalid SentencePiece model: %s at byte %zu",
                           b->file, what, b->base + b->pos);
}

static bertc_status_t pb_varint(pb_t *b, uint64_t *out) {
  uint64_t v = 0;
  for (int i = 0; i < 10; i++) {
    if (b->pos >= b->size) return pb_bad(b, "truncated varint");
    uint8_t c = b->p[b->pos++];
    v |= (uint64_t)(c & 0x7F) << (7 * i);
    if (!(c & 0x80)) {
      *out = v;
      return BERTC_OK;
    }
  }
  return pb_bad(b, "varint longer than 10 bytes");
}

/* The next field: number and wire type; *sub receives a length-delimited body. */
static bertc_status_t pb_field(pb_t *b, uint32_t *field, int *wire, uint64_t *value, pb_t *sub) {
  uint64_t key;
  BERTC_RETURN_IF_ERROR(pb_varint(b, &key));
  *field = (uint32_t)(key >> 3);
  *wire = (int)(key & 7);
  if (*field == 0 || key >> 32) return pb_bad(b, "invalid field number");
  switch (*wire) {
  case 0:
    return pb_varint(b, value);
  case 1:
    if (b->size - b->pos < 8) return pb_bad(b, "truncated 64-bit field");
    *value = 0;
    for (int i = 0; i < 8; i++) *value |= (uint64_t)b->p[b->pos + (size_t)i] << (8 * i);
    b->pos += 8;
    return BERTC_OK;
  case 5:
    if (b->size - b->pos < 4) return pb_bad(b, "truncated 32-bit field");
    *value = 0;
    for (int i = 0; i < 4; i++) *value |= (uint64_t)b->p[b->pos + (size_t)i] << (8 * i);
    b->pos += 4;
    return BERTC_OK;
  case 2: {
    uint64_t len;
    BERTC_RETURN_IF_ERROR(pb_varint(b, &len));
    if (len > b->size - b->pos) return pb_bad(b, "length past the end of its message");
    *sub = (pb_t){b->p + b->pos, (size_t)len, 0, b->base + b->pos, b->file};
    b->pos += (size_t)len;
    return BERTC_OK;
  }
  default:
    return pb_bad(b, "unsupported wire type");
  }
}

static bertc_status_t want_wire(const pb_t *b, int wire, int want, const char *name) {
  if (wire == want) return BERTC_OK;
  return bertc_status_make(BERTC_STATUS_DATA,
                           "%s: invalid SentencePiece model: field %s has wire type %d, not %d "
                           "(near byte %zu)",
                           b->file, name, wire, want, b->base + b->pos);
}

static bertc_status_t parse_piece(pb_t *b, tok_spm_piece_t *out) {
  out->type = 1;
  out->score = 0.0f;
  while (b->pos < b->size) {
    uint32_t f;
    int w;
    uint64_t v = 0;
    pb_t sub = {0};
    BERTC_RETURN_IF_ERROR(pb_field(b, &f, &w, &v, &sub));
    if (f == 1) {
      BERTC_RETURN_IF_ERROR(want_wire(b, w, 2, "pieces.piece"));
      uint32_t *tmp = malloc((sub.size ? sub.size : 1) * sizeof *tmp);
      if (!tmp) return tok_oom();
      size_t n;
      bertc_status_t s = tok_utf8_decode((const char *)sub.p, sub.size, b->file, tmp, &n);
      free(tmp);
      if (s) {
        bertc_status_free(s);
        return pb_bad(&sub, "a piece that is not UTF-8");
      }
      free(out->piece);
      out->piece = malloc(sub.size + 1);
      if (!out->piece) return tok_oom();
      if (sub.size) memcpy(out->piece, sub.p, sub.size);
      out->piece[sub.size] = '\0';
      if (memchr(out->piece, 0, sub.size)) return pb_bad(&sub, "a piece with a NUL byte");
    } else if (f == 2) {
      BERTC_RETURN_IF_ERROR(want_wire(b, w, 5, "pieces.score"));
      uint32_t bits = (uint32_t)v;
      float sc;
      memcpy(&sc, &bits, sizeof sc);
      out->score = sc;
    } else if (f == 3) {
      BERTC_RETURN_IF_ERROR(want_wire(b, w, 0, "pieces.type"));
      out->type = (int)(v & 0xFF);
    }
  }
  if (!out->piece) return pb_bad(b, "a piece without its string");
  return BERTC_OK;
}

static bertc_status_t parse_trainer(pb_t *b, tok_spm_model_t *m) {
  while (b->pos < b->size) {
    uint32_t f;
    int w;
    uint64_t v = 0;
    pb_t sub = {0};
    BERTC_RETURN_IF_ERROR(pb_field(b, &f, &w, &v, &sub));
    if (f == 3 && w == 0) m->model_type = (int)(v & 0xFF);
    if (f == 35 && w == 0) m->byte_fallback = v != 0;
    if (f == 40 && w == 0) m->unk_id = (int32_t)(uint32_t)v;
  }
  return BERTC_OK;
}

static bertc_status_t parse_normalizer(pb_t *b, tok_spm_model_t *m) {
  while (b->pos < b->size) {
    uint32_t f;
    int w;
    uint64_t v = 0;
    pb_t sub = {0};
    BERTC_RETURN_IF_ERROR(pb_field(b, &f, &w, &v, &sub));
    if (f == 2) {
      BERTC_RETURN_IF_ERROR(want_wire(b, w, 2, "normalizer_spec.precompiled_charsmap"));
      free(m->charsmap);
      m->charsmap = NULL;
      m->charsmap_size = sub.size;
      if (sub.size) {
        m->charsmap = malloc(sub.size);
        if (!m->charsmap) return tok_oom();
        memcpy(m->charsmap, sub.p, sub.size);
      }
    }
    if (f == 3 && w == 0) m->add_dummy_prefix = v != 0;
    if (f == 4 && w == 0) m->remove_extra_whitespaces = v != 0;
    if (f == 5 && w == 0) m->escape_whitespaces = v != 0;
  }
  return BERTC_OK;
}

void tok_spm_deinit(tok_spm_model_t *m) {
  if (!m) return;
  for (size_t i = 0; i < m->n_pieces; i++) free(m->pieces[i].piece);
  free(m->pieces);
  free(m->charsmap);
  memset(m, 0, sizeof *m);
}

bertc_status_t tok_spm_parse(const uint8_t *data, size_t size, const char *file,
                             tok_spm_model_t *m) {
  memset(m, 0, sizeof *m);
  m->model_type = 1;
  m->unk_id = 0;
  m->add_dummy_prefix = m->remove_extra_whitespaces = m->escape_whitespaces = true;
  pb_t b = {data, size, 0, 0, file};
  size_t cap = 0;
  bertc_status_t s = BERTC_OK;
  while (!s && b.pos < b.size) {
    uint32_t f;
    int w;
    uint64_t v = 0;
    pb_t sub = {0};
    s = pb_field(&b, &f, &w, &v, &sub);
    if (s) break;
    if (f == 1) {
      s = want_wire(&b, w, 2, "pieces");
      if (s) break;
      if (m->n_pieces == cap) {
        cap = cap ? cap * 2 : 1024;
        if (cap > ((size_t)1 << 27)) {
          s = pb_bad(&b, "more than 2^27 pieces");
          break;
        }
        tok_spm_piece_t *p = realloc(m->pieces, cap * sizeof *p);
        if (!p) {
          s = tok_oom();
          break;
        }
        m->pieces = p;
      }
      tok_spm_piece_t *pc = &m->pieces[m->n_pieces++];
      memset(pc, 0, sizeof *pc);
      s = parse_piece(&sub, pc);
    } else if (f == 2) {
      s = want_wire(&b, w, 2, "trainer_spec");
      if (!s) s = parse_trainer(&sub, m);
    } else if (f == 3) {
      s = want_wire(&b, w, 2, "normalizer_spec");
      if (!s) s = parse_normalizer(&sub, m);
    }
  }
  if (!s && m->n_pieces == 0)
    s = bertc_status_make(BERTC_STATUS_DATA, "%s: invalid SentencePiece model: no pieces", file);
  if (s) tok_spm_deinit(m);
  return s;
}
