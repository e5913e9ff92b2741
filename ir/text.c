/* The text form of the graph IR: ir_print writes it, ir_parse reads it back.
 *
 * One statement per line; `#` starts a comment; blank lines are ignored:
 *
 *   graph "minilm" {
 *     %0 = input "input_ids" : i32[B,S]
 *     %2 = const "embeddings.word_embeddings.weight" : f32[30522,384] = hex"0000803f..."
 *     %5 = const "decoder.weight" : f32[30522,384] = alias %2
 *     %6 = const "w_packed" : f32[1536,384] panel(16) = hex"..."
 *     %9 = layer_norm(%7, %3, %4) {eps = 1e-12} : f32[B,S,384]
 *     %12 = linear(%9, %10, %11) {act = gelu} : f32[B,S,1536]
 *     output "last_hidden_state" = %40
 *   }
 *
 * %N is the value's index in g->values. A type is a dtype (f32, i32), the dims
 * in brackets (positive sizes, or B and S for the symbolic batch and sequence
 * dims; [] is a scalar) and, when the layout is not plain row-major, the layout
 * and its parameter (`panel(16)`). Strings escape `"`, `\` and control bytes
 * as \", \\ and \xNN. A constant's data is the hex of its data_bytes raw
 * little-endian bytes, or `alias %M` when it shares an earlier constant's data
 * (tied weights); with IR_PRINT_ELIDE_DATA it is `elided(hash=0x..., bytes=N)`
 * instead, which is for reading and does not parse. A node line is
 * `%R = op(operands) {attributes} : result type`, with a trailing
 * `named "x"` when the result value has a name. Every attribute the op table
 * names is printed, integers in decimal, `act` by its activation name, floats
 * in the shortest form that reads back to the same f32 (at most %.9g).
 *
 * Printing is deterministic: first every input and constant in index order,
 * then the nodes in execution order, then the outputs. A temporary that no
 * node produces (which ir_verify rejects) prints as `%N = dangling : type` so
 * that dumps of broken graphs still show every value; it does not parse.
 *
 * Parsing rebuilds the graph through the construction API (ir_add_input,
 * ir_add_const, ir_add_node, ...), so every node is shape-checked by the same
 * rules as any other graph, and the printed result type must equal the type
 * ir_infer computes. Values are created in the order their lines appear, which
 * need not be index order (a pass may add a constant after some nodes); a
 * first scan over the line starts counts the definitions (so %N can be checked
 * against the count and "used before its definition" told apart from "not
 * defined"), and at the end the values are permuted so each lands at the index
 * its line names, with operands, results, outputs and input roles renumbered to
 * match. Print, parse, print is therefore byte-identical, and the parsed graph's
 * values and nodes equal the original's. The parsed graph must pass ir_verify.
 * Errors read "<source>:<line>:<col>: expected ..."; a partly built graph is
 * destroyed on error. docs/ir.md has the grammar. */
#define _POSIX_C_SOURCE 200809L /* open_memstream */
#include "ir/ir.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"

#define WORD_BUF 64

/* ---- shared by the printer and the parser ------------------------------- */

/* The shortest "%.Ng" that reads back as the same f32 (N <= 9 always does). */
static void format_float(float x, char *buf, size_t size) {
  if (isnan(x)) {
    snprintf(buf, size, "%snan", signbit(x) ? "-" : "");
    return;
  }
  for (int prec = 1; prec <= 9; prec++) {
    snprintf(buf, size, "%.*g", prec, (double)x);
    float back = strtof(buf, NULL);
    if (memcmp(&back, &x, sizeof x) == 0) return;
  }
}

static bool is_act_attr(const char *name) { return !strcmp(name, "act"); }

/* ---- printer ------------------------------------------------------------ */

static void print_string(FILE *f, const char *s) {
  fputc('"', f);
  for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
    if (*p == '"' || *p == '\\') {
      fputc('\\', f);
      fputc(*p, f);
    } else if (*p < 0x20 || *p == 0x7f) {
      fprintf(f, "\\x%02x", *p);
    } else {
      fputc(*p, f);
    }
  }
  fputc('"', f);
}

static void print_type(FILE *f, const ir_value_t *v) {
  char t[IR_TYPE_BUF];
  ir_format_type(v, t, sizeof t);
  fputs(t, f);
}

static void print_hex(FILE *f, const void *data, uint64_t bytes) {
  static const char digits[] = "0123456789abcdef";
  const unsigned char *p = data;
  char chunk[8192];
  size_t used = 0;
  fputs("hex\"", f);
  for (uint64_t i = 0; i < bytes; i++) {
    chunk[used++] = digits[p[i] >> 4];
    chunk[used++] = digits[p[i] & 15];
    if (used == sizeof chunk) {
      fwrite(chunk, 1, used, f);
      used = 0;
    }
  }
  fwrite(chunk, 1, used, f);
  fputc('"', f);
}

/* The first earlier constant with the same data (pointer and size), or IR_NONE. */
static int32_t alias_source(const ir_graph_t *g, size_t v) {
  const ir_value_t *c = &g->values[v];
  for (size_t u = 0; u < v; u++) {
    const ir_value_t *o = &g->values[u];
    if (o->kind == IR_VALUE_CONST && o->data == c->data && o->data_bytes == c->data_bytes)
      return (int32_t)u;
  }
  return IR_NONE;
}

static void print_const(FILE *f, const ir_graph_t *g, size_t v, unsigned flags) {
  const ir_value_t *c = &g->values[v];
  fputs("const ", f);
  if (c->name) {
    print_string(f, c->name);
    fputc(' ', f);
  }
  fputs(": ", f);
  print_type(f, c);
  if (!c->data) return; /* ir_verify rejects this; the parser asks for data */
  int32_t src = alias_source(g, v);
  if (src != IR_NONE)
    fprintf(f, " = alias %%%" PRId32, src);
  else if (flags & IR_PRINT_ELIDE_DATA)
    fprintf(f, " = elided(hash=0x%016" PRIx64 ", bytes=%" PRIu64 ")",
            base_hash64(c->data, (size_t)c->data_bytes), c->data_bytes);
  else {
    fputs(" = ", f);
    print_hex(f, c->data, c->data_bytes);
  }
}

static void print_attrs(FILE *f, const ir_node_t *n) {
  int ni = ir_op_num_iattrs(n->op), nf = ir_op_num_fattrs(n->op);
  if (ni + nf == 0) return;
  fputs(" {", f);
  for (int i = 0; i < ni && i < IR_MAX_IATTRS; i++) {
    char name[WORD_BUF];
    if (!ir_op_iattr_name(n->op, i, name, sizeof name)) continue;
    fprintf(f, "%s%s = ", i ? ", " : "", name);
    int64_t x = n->iattr[i];
    if (is_act_attr(name) && x >= IR_ACT_NONE && x < IR_ACT_COUNT)
      fputs(ir_act_name((ir_act_t)x), f);
    else
      fprintf(f, "%" PRId64, x);
  }
  for (int i = 0; i < nf && i < IR_MAX_FATTRS; i++) {
    char name[WORD_BUF], num[32];
    if (!ir_op_fattr_name(n->op, i, name, sizeof name)) continue;
    format_float(n->fattr[i], num, sizeof num);
    fprintf(f, "%s%s = %s", (i + ni) ? ", " : "", name, num);
  }
  fputc('}', f);
}

static void print_node(FILE *f, const ir_graph_t *g, const ir_node_t *n) {
  const ir_op_info_t *info = ir_op_info(n->op);
  fprintf(f, "  %%%" PRId32 " = ", n->result);
  if (info)
    fputs(info->name, f);
  else
    fprintf(f, "op%d", (int)n->op);
  fputc('(', f);
  int count = n->num_operands < 0 ? 0 : n->num_operands;
  for (int i = 0; i < count && i < IR_MAX_OPERANDS; i++)
    fprintf(f, "%s%%%" PRId32, i ? ", " : "", n->operands[i]);
  fputc(')', f);
  if (info) print_attrs(f, n);
  fputs(" : ", f);
  if (n->result >= 0 && (size_t)n->result < g->num_values) {
    const ir_value_t *r = &g->values[n->result];
    print_type(f, r);
    if (r->name) {
      fputs(" named ", f);
      print_string(f, r->name);
    }
  } else {
    fputs("?", f);
  }
  fputc('\n', f);
}

bertc_status_t ir_print(const ir_graph_t *g, FILE *f, unsigned flags) {
  /* made[v]: some node produces v, so v prints on that node's line. */
  unsigned char *made = NULL;
  if (g->num_values) BERTC_RETURN_IF_ERROR(base_calloc(g->num_values, 1, (void **)&made));
  for (size_t i = 0; i < g->num_nodes; i++) {
    int32_t r = g->nodes[i].result;
    if (r >= 0 && (size_t)r < g->num_values) made[r] = 1;
  }
  fputs("graph ", f);
  print_string(f, g->name ? g->name : "model");
  fputs(" {\n", f);
  for (size_t v = 0; v < g->num_values; v++) {
    const ir_value_t *x = &g->values[v];
    if (x->kind == IR_VALUE_TEMP && made[v]) continue;
    fprintf(f, "  %%%zu = ", v);
    if (x->kind == IR_VALUE_INPUT) {
      fputs("input ", f);
      print_string(f, x->name);
      fputs(" : ", f);
      print_type(f, x);
    } else if (x->kind == IR_VALUE_CONST) {
      print_const(f, g, v, flags);
    } else {
      fputs("dangling : ", f);
      print_type(f, x);
    }
    fputc('\n', f);
  }
  free(made);
  for (size_t i = 0; i < g->num_nodes; i++) print_node(f, g, &g->nodes[i]);
  for (size_t i = 0; i < g->num_outputs; i++) {
    fputs("  output ", f);
    print_string(f, g->outputs[i].name);
    fprintf(f, " = %%%" PRId32 "\n", g->outputs[i].value);
  }
  fputs("}\n", f);
  if (ferror(f)) return bertc_status_make(BERTC_STATUS_IO, "writing the IR text failed");
  return BERTC_OK;
}

bertc_status_t ir_print_to_string(const ir_graph_t *g, unsigned flags, char **out) {
  *out = NULL;
  char *buf = NULL;
  size_t size = 0;
  FILE *f = open_memstream(&buf, &size);
  if (!f) return bertc_status_make(BERTC_STATUS_OUT_OF_MEMORY, "cannot open a memory stream");
  bertc_status_t s = ir_print(g, f, flags);
  if (fclose(f) != 0 && !s)
    s = bertc_status_make(BERTC_STATUS_OUT_OF_MEMORY, "out of memory printing the IR");
  if (s) {
    free(buf);
    return s;
  }
  *out = buf;
  return BERTC_OK;
}

/* ---- parser ------------------------------------------------------------- */

typedef struct parser {
  const char *s;
  size_t n, pos;
  const char *source;
  ir_graph_t *g;
  size_t num_defs;    /* definition lines ("%N = ...") found by the first scan */
  int32_t *actual;    /* %N -> index in g->values while building; IR_NONE until defined */
  size_t *first_def;  /* %N -> offset of its first definition line; SIZE_MAX if none */
} parser_t;

static void line_col(const parser_t *p, size_t at, size_t *line, size_t *col) {
  size_t l = 1, start = 0;
  for (size_t i = 0; i < at && i < p->n; i++)
    if (p->s[i] == '\n') {
      l++;
      start = i + 1;
    }
  *line = l;
  *col = at - start + 1;
}

static size_t line_of(const parser_t *p, size_t at) {
  size_t line, col;
  line_col(p, at, &line, &col);
  return line;
}

/* Prefixes "<source>:<line>:<col>" to an error. Errors from the graph API
 * (a shape rule, a duplicate input) are about the text here, so they become
 * DATA errors; running out of memory stays what it is. */
static bertc_status_t at_pos(const parser_t *p, size_t at, bertc_status_t s) {
  size_t line, col;
  line_col(p, at, &line, &col);
  bertc_status_code_t code = bertc_status_code(s);
  if (code == BERTC_STATUS_OUT_OF_MEMORY || code == BERTC_STATUS_DATA)
    return bertc_status_annotate(s, "%s:%zu:%zu", p->source, line, col);
  bertc_status_t d = bertc_status_make(BERTC_STATUS_DATA, "%s:%zu:%zu: %s", p->source, line, col,
                                       bertc_status_message(s));
  bertc_status_free(s);
  return d;
}

static bertc_status_t fail(const parser_t *p, size_t at, const char *fmt, ...)
    BERTC_PRINTF(3, 4);
static bertc_status_t fail(const parser_t *p, size_t at, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  bertc_status_t s = bertc_status_makev(BERTC_STATUS_DATA, fmt, ap);
  va_end(ap);
  return at_pos(p, at, s);
}

static bool is_ident_start(int c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
static bool is_ident_char(int c) { return is_ident_start(c) || (c >= '0' && c <= '9'); }
static bool is_scalar_char(int c) {
  return is_ident_char(c) || c == '.' || c == '+' || c == '-';
}
/* Hex digit value + 1 by byte; 0 for anything else (constant data is most of
 * a dump's bytes, so decoding it is a table lookup). */
static const unsigned char hex_digit[256] = {
    ['0'] = 1,  ['1'] = 2,  ['2'] = 3,  ['3'] = 4,  ['4'] = 5,  ['5'] = 6,
    ['6'] = 7,  ['7'] = 8,  ['8'] = 9,  ['9'] = 10, ['a'] = 11, ['b'] = 12,
    ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16, ['A'] = 11, ['B'] = 12,
    ['C'] = 13, ['D'] = 14, ['E'] = 15, ['F'] = 16,
};
static int hex_value(int c) { return c < 0 || c > 255 ? -1 : hex_digit[c] - 1; }

static int char_at(const parser_t *p, size_t i) {
  return i < p->n ? (unsigned char)p->s[i] : -1;
}

/* Skips spaces, tabs, CRs and a comment; stops at a newline. */
static void skip_blank(parser_t *p) {
  while (p->pos < p->n) {
    char c = p->s[p->pos];
    if (c == ' ' || c == '\t' || c == '\r') {
      p->pos++;
    } else if (c == '#') {
      while (p->pos < p->n && p->s[p->pos] != '\n') p->pos++;
    } else {
      break;
    }
  }
}

/* Skips blanks, comments and newlines. */
static void skip_space(parser_t *p) {
  for (;;) {
    skip_blank(p);
    if (char_at(p, p->pos) != '\n') return;
    p->pos++;
  }
}

static int peek(parser_t *p) {
  skip_blank(p);
  return char_at(p, p->pos);
}

static size_t ident_len(const parser_t *p, size_t at) {
  if (!is_ident_start(char_at(p, at))) return 0;
  size_t i = at + 1;
  while (is_ident_char(char_at(p, i))) i++;
  return i - at;
}

/* What is at `at`, for "expected X, found Y" messages: a word or number
 * whole, else one character. */
static const char *describe(const parser_t *p, size_t at, char *buf, size_t size) {
  int c = char_at(p, at);
  size_t len = 0;
  while (is_scalar_char(char_at(p, at + len))) len++;
  if (c < 0)
    snprintf(buf, size, "end of text");
  else if (c == '\n')
    snprintf(buf, size, "end of line");
  else if (len)
    snprintf(buf, size, "'%.*s'", (int)(len > 32 ? 32 : len), p->s + at);
  else if (c > 0x20 && c < 0x7f)
    snprintf(buf, size, "'%c'", c);
  else
    snprintf(buf, size, "byte 0x%02x", c);
  return buf;
}

static bertc_status_t expected(parser_t *p, const char *what) {
  char found[48];
  skip_blank(p);
  return fail(p, p->pos, "expected %s, found %s", what, describe(p, p->pos, found, sizeof found));
}

static bool accept(parser_t *p, char c) {
  if (peek(p) != c) return false;
  p->pos++;
  return true;
}

static bertc_status_t expect_char(parser_t *p, char c, const char *what) {
  return accept(p, c) ? BERTC_OK : expected(p, what);
}

static bool peek_word(parser_t *p, const char *w) {
  skip_blank(p);
  size_t len = ident_len(p, p->pos);
  return len == strlen(w) && !memcmp(p->s + p->pos, w, len);
}

static bool accept_word(parser_t *p, const char *w) {
  if (!peek_word(p, w)) return false;
  p->pos += strlen(w);
  return true;
}

/* Reads an identifier into buf; *at is where it starts. */
static bertc_status_t read_ident(parser_t *p, const char *what, char *buf, size_t size,
                                 size_t *at) {
  skip_blank(p);
  *at = p->pos;
  size_t len = ident_len(p, p->pos);
  if (!len) return expected(p, what);
  if (len >= size) return fail(p, p->pos, "'%.*s...' is too long for %s", 16, p->s + p->pos, what);
  memcpy(buf, p->s + p->pos, len);
  buf[len] = '\0';
  p->pos += len;
  return BERTC_OK;
}

/* Reads a number-like word ([A-Za-z0-9_.+-]+: "384", "-1", "1e-12", "inf"). */
static bertc_status_t read_scalar(parser_t *p, const char *what, char *buf, size_t size,
                                  size_t *at) {
  skip_blank(p);
  *at = p->pos;
  size_t i = p->pos;
  while (is_scalar_char(char_at(p, i))) i++;
  size_t len = i - p->pos;
  if (!len) return expected(p, what);
  if (len >= size) return fail(p, p->pos, "'%.*s...' is too long for %s", 16, p->s + p->pos, what);
  memcpy(buf, p->s + p->pos, len);
  buf[len] = '\0';
  p->pos = i;
  return BERTC_OK;
}

static bool parse_i64(const char *s, int64_t *out) {
  if (!*s) return false;
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (*end || errno == ERANGE) return false;
  *out = v;
  return true;
}

static bertc_status_t read_int(parser_t *p, const char *what, int64_t *out, size_t *at) {
  char buf[WORD_BUF];
  BERTC_RETURN_IF_ERROR(read_scalar(p, what, buf, sizeof buf, at));
  if (!parse_i64(buf, out))
    return fail(p, *at, "expected %s, found '%s' (not a 64-bit integer)", what, buf);
  return BERTC_OK;
}

/* A double-quoted string with \" \\ \n \t \xNN escapes, on one line, no NUL. */
static bertc_status_t read_string(parser_t *p, const char *what, char **out, size_t *at) {
  *out = NULL;
  if (peek(p) != '"') return expected(p, what);
  *at = p->pos;
  size_t i = p->pos + 1, len = 0;
  for (;;) {
    int c = char_at(p, i);
    if (c < 0 || c == '\n') return fail(p, *at, "unterminated string (a string ends on its line)");
    if (c == '"') break;
    if (c == 0) return fail(p, i, "a string cannot hold a NUL byte");
    if (c == '\\') {
      int e = char_at(p, i + 1);
      if (e == 'x') {
        int hi = hex_value(char_at(p, i + 2)), lo = hex_value(char_at(p, i + 3));
        if (hi < 0 || lo < 0) return fail(p, i, "expected two hex digits after \\x");
        if (hi == 0 && lo == 0) return fail(p, i, "a string cannot hold a NUL byte (\\x00)");
        i += 4;
      } else if (e == '"' || e == '\\' || e == 'n' || e == 't') {
        i += 2;
      } else {
        return fail(p, i, "unknown escape in string (use \\\", \\\\, \\n, \\t or \\xNN)");
      }
    } else {
      i++;
    }
    len++;
  }
  char *str;
  BERTC_RETURN_IF_ERROR(base_alloc(len + 1, (void **)&str));
  size_t k = 0;
  for (size_t j = p->pos + 1; j < i;) {
    char c = p->s[j];
    if (c != '\\') {
      str[k++] = c;
      j++;
      continue;
    }
    char e = p->s[j + 1];
    if (e == 'x') {
      str[k++] = (char)(hex_value(p->s[j + 2]) * 16 + hex_value(p->s[j + 3]));
      j += 4;
    } else {
      str[k++] = e == 'n' ? '\n' : e == 't' ? '\t' : e;
      j += 2;
    }
  }
  str[k] = '\0';
  p->pos = i + 1;
  *out = str;
  return BERTC_OK;
}

static bertc_status_t expect_eol(parser_t *p) {
  int c = peek(p);
  if (c < 0 || c == '\n') return BERTC_OK;
  return expected(p, "end of line (one statement per line)");
}

/* Reads "%N" (N unchecked; UINT64_MAX when it overflows). */
static bertc_status_t lex_ref(parser_t *p, uint64_t *out, size_t *at) {
  if (peek(p) != '%') return expected(p, "a value (%N)");
  *at = p->pos++;
  size_t start = p->pos;
  uint64_t v = 0;
  bool big = false;
  while (char_at(p, p->pos) >= '0' && char_at(p, p->pos) <= '9') {
    if (!base_mul_u64(v, 10, &v) || !base_add_u64(v, (uint64_t)(p->s[p->pos] - '0'), &v))
      big = true;
    p->pos++;
  }
  if (p->pos == start) return expected(p, "a value number after '%'");
  *out = big ? UINT64_MAX : v;
  return BERTC_OK;
}

/* Checks a %N read at `at` against the number of definitions. */
static bertc_status_t check_ref(const parser_t *p, uint64_t v, size_t at, size_t *out) {
  if (v < p->num_defs) {
    *out = (size_t)v;
    return BERTC_OK;
  }
  size_t digits = 0;
  while (digits < 24 && char_at(p, at + 1 + digits) >= '0' && char_at(p, at + 1 + digits) <= '9')
    digits++;
  if (!p->num_defs)
    return fail(p, at, "%%%.*s is out of range: the text defines no values", (int)digits,
                p->s + at + 1);
  return fail(p, at, "%%%.*s is out of range: the text defines %zu values, %%0 to %%%zu",
              (int)digits, p->s + at + 1, p->num_defs, p->num_defs - 1);
}

static bertc_status_t read_ref(parser_t *p, size_t *out, size_t *at) {
  uint64_t v = 0;
  BERTC_RETURN_IF_ERROR(lex_ref(p, &v, at));
  return check_ref(p, v, *at, out);
}

/* Reads a use of "%N": it must be defined on an earlier line. */
static bertc_status_t read_use(parser_t *p, int32_t *out) {
  size_t n = 0, at = 0;
  BERTC_RETURN_IF_ERROR(read_ref(p, &n, &at));
  if (p->actual[n] == IR_NONE) {
    if (p->first_def[n] != SIZE_MAX)
      return fail(p, at, "%%%zu is used before its definition on line %zu", n,
                  line_of(p, p->first_def[n]));
    return fail(p, at, "%%%zu is not defined", n);
  }
  *out = p->actual[n];
  return BERTC_OK;
}

/* dtype '[' dims ']' [layout '(' param ')'] into the type fields of *out. */
static bertc_status_t read_type(parser_t *p, ir_value_t *out, size_t *at) {
  char word[WORD_BUF];
  memset(out, 0, sizeof(*out));
  BERTC_RETURN_IF_ERROR(read_ident(p, "a type (f32, i32 or i8)", word, sizeof word, at));
  if (!strcmp(word, "f32"))
    out->dtype = IR_F32;
  else if (!strcmp(word, "i32"))
    out->dtype = IR_I32;
  else if (!strcmp(word, "i8"))
    out->dtype = IR_I8;
  else
    return fail(p, *at, "unknown dtype '%s' (expected f32, i32 or i8)", word);
  BERTC_RETURN_IF_ERROR(expect_char(p, '[', "'[' and the dims after the dtype"));
  if (!accept(p, ']')) {
    for (;;) {
      size_t dat;
      skip_blank(p);
      if (out->rank == IR_MAX_RANK)
        return fail(p, p->pos, "too many dims (at most %d)", IR_MAX_RANK);
      int64_t d;
      if (accept_word(p, "B")) {
        d = IR_DIM_BATCH;
      } else if (accept_word(p, "S")) {
        d = IR_DIM_SEQ;
      } else {
        BERTC_RETURN_IF_ERROR(read_int(p, "a dim (a positive size, B or S)", &d, &dat));
        if (d <= 0)
          return fail(p, dat, "a dim must be a positive size, B or S, not %" PRId64, d);
      }
      out->dims[out->rank++] = d;
      if (accept(p, ']')) break;
      BERTC_RETURN_IF_ERROR(expect_char(p, ',', "',' or ']' after a dim"));
    }
  }
  skip_blank(p);
  size_t lat = p->pos;
  bool panel = peek_word(p, "panel"), row = peek_word(p, "row_major");
  if (!panel && !row) return BERTC_OK;
  p->pos += panel ? strlen("panel") : strlen("row_major");
  BERTC_RETURN_IF_ERROR(expect_char(p, '(', "'(' and the layout parameter"));
  int64_t param;
  size_t pat;
  BERTC_RETURN_IF_ERROR(read_int(p, "the layout parameter", &param, &pat));
  if (param < INT32_MIN || param > INT32_MAX)
    return fail(p, pat, "layout parameter %" PRId64 " is out of range", param);
  BERTC_RETURN_IF_ERROR(expect_char(p, ')', "')' after the layout parameter"));
  out->layout = panel ? IR_LAYOUT_PANEL : IR_LAYOUT_ROW_MAJOR;
  out->layout_param = (int32_t)param;
  if (panel && param <= 0) return fail(p, pat, "the panel width must be positive");
  if (panel && ((out->dtype != IR_F32 && out->dtype != IR_I8) || out->rank != 2))
    return fail(p, lat, "the panel layout is for f32 or i8 [N,K] weights");
  return BERTC_OK;
}

static void set_type(ir_value_t *v, const ir_value_t *t) {
  v->dtype = t->dtype;
  v->rank = t->rank;
  memcpy(v->dims, t->dims, sizeof(v->dims));
  v->layout = t->layout;
  v->layout_param = t->layout_param;
}

static bertc_status_t check_const_type(parser_t *p, const ir_value_t *t, size_t at,
                                       uint64_t *out_bytes) {
  for (int i = 0; i < t->rank; i++)
    if (t->dims[i] < 0)
      return fail(p, at, "a constant's dims must be sizes, not B or S");
  if (!ir_const_bytes(t, out_bytes)) {
    char ty[IR_TYPE_BUF];
    ir_format_type(t, ty, sizeof ty);
    return fail(p, at, "constant type %s is too large", ty);
  }
  return BERTC_OK;
}

/* hex"..." after the `hex` word: decodes into a new buffer of at least `need` bytes. */
static bertc_status_t read_hex(parser_t *p, uint64_t need, const char *type, void **out,
                               uint64_t *out_bytes) {
  size_t open = p->pos, i = p->pos + 1;
  if (char_at(p, open) != '"') return expected(p, "'\"' right after hex");
  const unsigned char *text = (const unsigned char *)p->s;
  while (i < p->n && hex_digit[text[i]]) i++;
  if (char_at(p, i) != '"') {
    char found[48];
    if (char_at(p, i) < 0 || char_at(p, i) == '\n')
      return fail(p, open, "unterminated constant data (expected '\"' to close hex\"...\")");
    return fail(p, i, "expected a hex digit or '\"' in constant data, found %s",
                describe(p, i, found, sizeof found));
  }
  size_t digits = i - open - 1;
  if (digits % 2) return fail(p, open, "constant data has an odd number of hex digits (%zu)", digits);
  uint64_t bytes = digits / 2;
  if (bytes < need)
    return fail(p, open, "constant data has %" PRIu64 " bytes, %s needs %" PRIu64, bytes, type,
                need);
  unsigned char *data;
  BERTC_RETURN_IF_ERROR(base_alloc((size_t)bytes ? (size_t)bytes : 1, (void **)&data));
  const unsigned char *h = text + open + 1;
  for (size_t k = 0; k < bytes; k++)
    data[k] = (unsigned char)((hex_digit[h[2 * k]] - 1) << 4 | (hex_digit[h[2 * k + 1]] - 1));
  p->pos = i + 1;
  *out = data;
  *out_bytes = bytes;
  return BERTC_OK;
}

static bertc_status_t parse_input(parser_t *p, int32_t *out) {
  char *name;
  size_t nat, tat;
  BERTC_RETURN_IF_ERROR(read_string(p, "the input's name (\"input_ids\", ...)", &name, &nat));
  bertc_status_t s = expect_char(p, ':', "':' and the input's type");
  ir_value_t t;
  if (!s) s = read_type(p, &t, &tat);
  if (!s) {
    s = ir_add_input(p->g, name, out);
    if (s) s = at_pos(p, nat, s);
  }
  if (!s && !ir_same_type(&t, &p->g->values[*out])) {
    char ty[IR_TYPE_BUF];
    ir_format_type(&t, ty, sizeof ty);
    s = fail(p, tat, "input '%s' has type %s; graph inputs are i32[B,S]", name, ty);
  }
  free(name);
  return s;
}

static bertc_status_t parse_const_data(parser_t *p, const char *name, int32_t *out) {
  size_t tat, dat;
  ir_value_t t;
  uint64_t need = 0;
  char word[WORD_BUF], ty[IR_TYPE_BUF];
  BERTC_RETURN_IF_ERROR(expect_char(p, ':', "':' and the constant's type"));
  BERTC_RETURN_IF_ERROR(read_type(p, &t, &tat));
  BERTC_RETURN_IF_ERROR(check_const_type(p, &t, tat, &need));
  BERTC_RETURN_IF_ERROR(expect_char(p, '=', "'=' and the constant's data"));
  BERTC_RETURN_IF_ERROR(
      read_ident(p, "the constant's data (hex\"...\" or alias %N)", word, sizeof word, &dat));
  ir_format_type(&t, ty, sizeof ty);
  if (!strcmp(word, "hex")) {
    void *data = NULL;
    uint64_t bytes = 0;
    BERTC_RETURN_IF_ERROR(read_hex(p, need, ty, &data, &bytes));
    /* ir_add_const owns `data` from here on, even when it fails. */
    bertc_status_t s = ir_add_const(p->g, name, t.dtype, t.rank, t.dims, data, bytes, out);
    if (s) return at_pos(p, dat, s);
  } else if (!strcmp(word, "alias")) {
    int32_t of = IR_NONE;
    BERTC_RETURN_IF_ERROR(read_use(p, &of));
    const ir_value_t *src = &p->g->values[of];
    if (src->kind != IR_VALUE_CONST)
      return fail(p, dat, "alias of a value that is not a constant");
    if (src->data_bytes < need)
      return fail(p, dat, "aliased data has %" PRIu64 " bytes, %s needs %" PRIu64,
                  src->data_bytes, ty, need);
    bertc_status_t s = ir_add_const_alias(p->g, name, of, out);
    if (s) return at_pos(p, dat, s);
  } else if (!strcmp(word, "elided")) {
    return fail(p, dat,
                "constant data was elided when this text was printed (IR_PRINT_ELIDE_DATA); "
                "print the graph without it to parse it back");
  } else {
    return fail(p, dat, "expected the constant's data (hex\"...\" or alias %%N), found '%s'",
                word);
  }
  set_type(&p->g->values[*out], &t);
  return BERTC_OK;
}

static bertc_status_t parse_const(parser_t *p, int32_t *out) {
  char *name = NULL;
  size_t nat;
  if (peek(p) == '"') BERTC_RETURN_IF_ERROR(read_string(p, "the constant's name", &name, &nat));
  bertc_status_t s = parse_const_data(p, name, out);
  free(name);
  return s;
}

/* `{name = value, ...}` into iattr/fattr; attributes not given stay 0. */
static bertc_status_t parse_attrs(parser_t *p, ir_op_t op, int64_t *iattr, float *fattr) {
  const char *opname = ir_op_info(op)->name;
  int ni = ir_op_num_iattrs(op), nf = ir_op_num_fattrs(op);
  bool seen[IR_MAX_IATTRS + IR_MAX_FATTRS] = {false};
  if (accept(p, '}')) return BERTC_OK;
  for (;;) {
    char name[WORD_BUF], attr[WORD_BUF], value[WORD_BUF];
    size_t at, vat;
    BERTC_RETURN_IF_ERROR(read_ident(p, "an attribute name", name, sizeof name, &at));
    int slot = -1;
    bool is_float = false;
    for (int i = 0; i < ni && slot < 0; i++)
      if (ir_op_iattr_name(op, i, attr, sizeof attr) && !strcmp(attr, name)) slot = i;
    for (int i = 0; i < nf && slot < 0; i++)
      if (ir_op_fattr_name(op, i, attr, sizeof attr) && !strcmp(attr, name)) {
        slot = i;
        is_float = true;
      }
    if (slot < 0) {
      const ir_op_info_t *info = ir_op_info(op);
      if (ni + nf == 0) return fail(p, at, "%s has no attributes, found '%s'", opname, name);
      return fail(p, at, "%s has no attribute '%s' (it has: %s%s%s)", opname, name, info->iattrs,
                  ni && nf ? "," : "", info->fattrs);
    }
    int key = is_float ? IR_MAX_IATTRS + slot : slot;
    if (seen[key]) return fail(p, at, "attribute '%s' is given twice", name);
    seen[key] = true;
    BERTC_RETURN_IF_ERROR(expect_char(p, '=', "'=' after the attribute name"));
    BERTC_RETURN_IF_ERROR(read_scalar(p, "the attribute's value", value, sizeof value, &vat));
    if (is_float) {
      char *end;
      float x = strtof(value, &end);
      if (*end || end == value)
        return fail(p, vat, "expected a number for '%s', found '%s'", name, value);
      if (isinf(x) && !strstr(value, "inf") && !strstr(value, "INF") && !strstr(value, "Inf"))
        return fail(p, vat, "'%s' is out of range for f32", value);
      fattr[slot] = x;
    } else {
      int64_t x = 0;
      bool ok = parse_i64(value, &x);
      if (!ok && is_act_attr(name)) {
        x = ir_act_from_name(value);
        ok = x != IR_ACT_COUNT;
        if (!ok) {
          char names[256];
          ir_act_names(names, sizeof names);
          return fail(p, vat, "expected an activation for 'act' (%s), found '%s'", names, value);
        }
      }
      if (!ok) return fail(p, vat, "expected an integer for '%s', found '%s'", name, value);
      iattr[slot] = x;
    }
    if (accept(p, '}')) return BERTC_OK;
    BERTC_RETURN_IF_ERROR(expect_char(p, ',', "',' or '}' after an attribute"));
  }
}

static bertc_status_t parse_node(parser_t *p, const char *opname, size_t at, int32_t *out) {
  ir_op_t op = ir_op_from_name(opname);
  if (op == IR_OP_COUNT) return fail(p, at, "unknown op '%s'", opname);
  const ir_op_info_t *info = ir_op_info(op);
  BERTC_RETURN_IF_ERROR(expect_char(p, '(', "'(' and the operands after the op name"));
  int32_t operands[IR_MAX_OPERANDS];
  int count = 0;
  if (!accept(p, ')')) {
    for (;;) {
      skip_blank(p);
      if (count == IR_MAX_OPERANDS)
        return fail(p, p->pos, "too many operands (at most %d)", IR_MAX_OPERANDS);
      BERTC_RETURN_IF_ERROR(read_use(p, &operands[count]));
      count++;
      if (accept(p, ')')) break;
      BERTC_RETURN_IF_ERROR(expect_char(p, ',', "',' or ')' after an operand"));
    }
  }
  if (count < info->min_operands || count > info->max_operands) {
    if (info->min_operands == info->max_operands)
      return fail(p, at, "%s takes %d operand%s, got %d", info->name, info->min_operands,
                  info->min_operands == 1 ? "" : "s", count);
    return fail(p, at, "%s takes %d to %d operands, got %d", info->name, info->min_operands,
                info->max_operands, count);
  }
  int64_t iattr[IR_MAX_IATTRS] = {0};
  float fattr[IR_MAX_FATTRS] = {0};
  if (accept(p, '{')) BERTC_RETURN_IF_ERROR(parse_attrs(p, op, iattr, fattr));
  BERTC_RETURN_IF_ERROR(expect_char(p, ':', "':' and the result type"));
  ir_value_t t;
  size_t tat, nat;
  BERTC_RETURN_IF_ERROR(read_type(p, &t, &tat));
  char *name = NULL;
  if (accept_word(p, "named"))
    BERTC_RETURN_IF_ERROR(read_string(p, "the result's name after 'named'", &name, &nat));
  bertc_status_t s = ir_add_node(p->g, op, count, operands, iattr, fattr, out);
  if (s) {
    free(name);
    return at_pos(p, at, s);
  }
  ir_value_t *r = &p->g->values[*out];
  r->name = name;
  if (!ir_same_type(&t, r)) {
    char want[IR_TYPE_BUF], got[IR_TYPE_BUF];
    ir_format_type(&t, want, sizeof want);
    ir_format_type(r, got, sizeof got);
    return fail(p, tat, "result type %s does not match %s, which %s computes from its operands",
                want, got, info->name);
  }
  return BERTC_OK;
}

static bertc_status_t parse_def(parser_t *p) {
  size_t n = 0, at = 0, kat = 0;
  uint64_t num = 0;
  BERTC_RETURN_IF_ERROR(lex_ref(p, &num, &at));
  BERTC_RETURN_IF_ERROR(expect_char(p, '=', "'=' after the value being defined"));
  BERTC_RETURN_IF_ERROR(check_ref(p, num, at, &n));
  if (p->actual[n] != IR_NONE)
    return fail(p, at, "%%%zu is already defined on line %zu", n, line_of(p, p->first_def[n]));
  char word[WORD_BUF];
  BERTC_RETURN_IF_ERROR(read_ident(p, "input, const or an op name", word, sizeof word, &kat));
  int32_t v = IR_NONE;
  if (!strcmp(word, "input")) {
    BERTC_RETURN_IF_ERROR(parse_input(p, &v));
  } else if (!strcmp(word, "const")) {
    BERTC_RETURN_IF_ERROR(parse_const(p, &v));
  } else if (!strcmp(word, "dangling")) {
    return fail(p, kat,
                "%%%zu is dangling: no node produces it (the text was printed from a graph "
                "that fails ir_verify)",
                n);
  } else {
    BERTC_RETURN_IF_ERROR(parse_node(p, word, kat, &v));
  }
  p->actual[n] = v;
  return BERTC_OK;
}

static bertc_status_t parse_output(parser_t *p) {
  char *name;
  size_t nat;
  int32_t v;
  BERTC_RETURN_IF_ERROR(read_string(p, "the output's name", &name, &nat));
  bertc_status_t s = expect_char(p, '=', "'=' and the output's value");
  if (!s) s = read_use(p, &v);
  if (!s) {
    s = ir_add_output(p->g, name, v);
    if (s) s = at_pos(p, nat, s);
  }
  free(name);
  return s;
}

static bertc_status_t parse_graph(parser_t *p) {
  skip_space(p);
  if (!accept_word(p, "graph")) return expected(p, "'graph' at the start of the IR text");
  char *name = NULL;
  size_t nat;
  if (peek(p) == '"') BERTC_RETURN_IF_ERROR(read_string(p, "the graph's name", &name, &nat));
  bertc_status_t s = ir_graph_create(name, &p->g);
  free(name);
  BERTC_RETURN_IF_ERROR(s);
  BERTC_RETURN_IF_ERROR(expect_char(p, '{', "'{' after the graph's name"));
  BERTC_RETURN_IF_ERROR(expect_eol(p));
  for (;;) {
    skip_space(p);
    int c = char_at(p, p->pos);
    if (c < 0) return fail(p, p->pos, "expected '}' to close the graph, found end of text");
    if (c == '}') {
      p->pos++;
      skip_space(p);
      if (p->pos < p->n) return expected(p, "end of text after the graph's closing '}'");
      return BERTC_OK;
    }
    if (c == '%')
      BERTC_RETURN_IF_ERROR(parse_def(p));
    else if (accept_word(p, "output"))
      BERTC_RETURN_IF_ERROR(parse_output(p));
    else
      return expected(p, "a value definition (%N = ...), 'output' or '}'");
    BERTC_RETURN_IF_ERROR(expect_eol(p));
  }
}

/* If the line at `i` starts with "%N =", returns true with N (UINT64_MAX when
 * it overflows). */
static bool def_line_at(const char *s, size_t n, size_t i, uint64_t *num) {
  while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r')) i++;
  if (i >= n || s[i] != '%') return false;
  size_t start = ++i;
  uint64_t v = 0;
  bool big = false;
  while (i < n && s[i] >= '0' && s[i] <= '9') {
    if (!base_mul_u64(v, 10, &v) || !base_add_u64(v, (uint64_t)(s[i] - '0'), &v)) big = true;
    i++;
  }
  if (i == start) return false;
  while (i < n && (s[i] == ' ' || s[i] == '\t')) i++;
  if (i >= n || s[i] != '=') return false;
  *num = big ? UINT64_MAX : v;
  return true;
}

/* Counts the definition lines and notes where each %N is first defined. */
static bertc_status_t prescan(parser_t *p) {
  size_t count = 0;
  uint64_t num = 0;
  for (size_t i = 0; i < p->n;) {
    if (def_line_at(p->s, p->n, i, &num)) count++;
    const char *nl = memchr(p->s + i, '\n', p->n - i);
    i = nl ? (size_t)(nl - p->s) + 1 : p->n;
  }
  p->num_defs = count;
  BERTC_RETURN_IF_ERROR(base_calloc(count ? count : 1, sizeof(int32_t), (void **)&p->actual));
  BERTC_RETURN_IF_ERROR(base_calloc(count ? count : 1, sizeof(size_t), (void **)&p->first_def));
  for (size_t k = 0; k < count; k++) {
    p->actual[k] = IR_NONE;
    p->first_def[k] = SIZE_MAX;
  }
  for (size_t i = 0; i < p->n;) {
    if (def_line_at(p->s, p->n, i, &num) && num < count && p->first_def[num] == SIZE_MAX)
      p->first_def[num] = i;
    const char *nl = memchr(p->s + i, '\n', p->n - i);
    i = nl ? (size_t)(nl - p->s) + 1 : p->n;
  }
  return BERTC_OK;
}

/* Moves every value to the index its line named and renumbers all uses. */
static bertc_status_t renumber(parser_t *p) {
  ir_graph_t *g = p->g;
  for (size_t k = 0; k < p->num_defs; k++)
    if (p->actual[k] == IR_NONE)
      return fail(p, p->n, "%%%zu is never defined (values are numbered %%0 to %%%zu)", k,
                  p->num_defs - 1);
  if (g->num_values != p->num_defs)
    return bertc_status_make(BERTC_STATUS_INTERNAL, "%s: built %zu values from %zu definitions",
                             p->source, g->num_values, p->num_defs);
  if (!g->num_values) return BERTC_OK;
  ir_value_t *moved;
  int32_t *text_index;
  BERTC_RETURN_IF_ERROR(base_calloc(g->num_values, sizeof(*moved), (void **)&moved));
  bertc_status_t s = base_calloc(g->num_values, sizeof(*text_index), (void **)&text_index);
  if (s) {
    free(moved);
    return s;
  }
  for (size_t k = 0; k < g->num_values; k++) {
    moved[k] = g->values[p->actual[k]];
    text_index[p->actual[k]] = (int32_t)k;
  }
  memcpy(g->values, moved, g->num_values * sizeof(*moved));
  for (size_t i = 0; i < g->num_nodes; i++) {
    ir_node_t *n = &g->nodes[i];
    for (int j = 0; j < n->num_operands; j++) n->operands[j] = text_index[n->operands[j]];
    n->result = text_index[n->result];
  }
  for (size_t i = 0; i < g->num_outputs; i++)
    g->outputs[i].value = text_index[g->outputs[i].value];
  int32_t *roles[] = {&g->input_ids, &g->token_type_ids, &g->attention_mask};
  for (size_t i = 0; i < BASE_ARRAY_LEN(roles); i++)
    if (*roles[i] != IR_NONE) *roles[i] = text_index[*roles[i]];
  free(moved);
  free(text_index);
  return BERTC_OK;
}

bertc_status_t ir_parse(const char *text, size_t len, const char *source, ir_graph_t **out) {
  *out = NULL;
  parser_t p;
  memset(&p, 0, sizeof p);
  p.s = text;
  p.n = text ? len : 0;
  p.source = source ? source : "<ir>";
  bertc_status_t s = prescan(&p);
  if (!s) s = parse_graph(&p);
  if (!s) s = renumber(&p);
  if (!s) {
    s = ir_verify(p.g);
    if (s) s = bertc_status_annotate(s, "%s", p.source);
  }
  free(p.actual);
  free(p.first_def);
  if (s) {
    ir_graph_destroy(p.g);
    return s;
  }
  *out = p.g;
  return BERTC_OK;
}
