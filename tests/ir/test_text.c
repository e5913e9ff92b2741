/* The IR text form: print -> parse -> print is byte-identical and rebuilds
 * identical value and node arrays (every op, every attribute kind, panel
 * layouts, aliases, interleaved and reordered indices); a golden text pins the
 * format; malformed texts fail with "<source>:<line>:<col>: ..." messages. */
#define _POSIX_C_SOURCE 200809L /* strdup */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/testutil.h"

#include "ir/ir.h"

/* ---- building graphs ---------------------------------------------------- */

static uint32_t rng_state = 12345;
static uint32_t rng_next(void) {
  rng_state = rng_state * 1664525u + 1013904223u;
  return rng_state;
}

/* A row-major f32 constant of the given dims, filled with varied bit
 * patterns (including a NaN payload and -0) so the hex round trip is exact. */
static int32_t add_const(ir_graph_t *g, const char *name, int rank, const int64_t *dims) {
  int64_t n = 1;
  for (int i = 0; i < rank; i++) n *= dims[i];
  uint32_t *data = malloc((size_t)n * 4);
  assert_non_null(data);
  for (int64_t i = 0; i < n; i++) data[i] = rng_next();
  data[0] = 0x7fc01234u; /* NaN with a payload */
  if (n > 1) data[1] = 0x80000000u; /* -0.0f */
  int32_t v;
  TU_ASSERT_OK(ir_add_const(g, name, IR_F32, rank, dims, data, (uint64_t)n * 4, &v));
  return v;
}

#define DIMS(...) (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), (int64_t[]){__VA_ARGS__}
#define CONST(g, name, ...) add_const((g), (name), DIMS(__VA_ARGS__))

static int32_t add_node(ir_graph_t *g, ir_op_t op, int n, const int32_t *operands,
                        const int64_t *iattr, const float *fattr) {
  int32_t r;
  TU_ASSERT_OK(ir_add_node(g, op, n, operands, iattr, fattr, &r));
  return r;
}

#define IA(...) ((const int64_t[]){__VA_ARGS__})
#define FA(...) ((const float[]){__VA_ARGS__})
#define NODE(g, op, ia, fa, ...)                                                         \
  add_node((g), (op), (int)(sizeof((int32_t[]){__VA_ARGS__}) / sizeof(int32_t)),         \
           (int32_t[]){__VA_ARGS__}, (ia), (fa))

/* A panel-layout [n,k] weight with width p: ceil(n/p) panels of [k][p], padded. */
static int32_t add_panel_const(ir_graph_t *g, const char *name, int64_t n, int64_t k, int32_t p) {
  int64_t padded = (n + p - 1) / p * p;
  float *data = calloc((size_t)(padded * k), sizeof(float));
  assert_non_null(data);
  for (int64_t i = 0; i < n; i++)
    for (int64_t j = 0; j < k; j++) data[((i / p) * k + j) * p + i % p] = (float)(i * 10 + j);
  int32_t v;
  TU_ASSERT_OK(ir_add_const(g, name, IR_F32, 2, (int64_t[]){n, k}, data,
                            (uint64_t)(padded * k) * sizeof(float), &v));
  g->values[v].layout = IR_LAYOUT_PANEL;
  g->values[v].layout_param = p;
  return v;
}

/* Uses every op at least once (H = 8, 2 heads), with a panel weight, a tied
 * (aliased) weight, a constant created between nodes and a named temporary. */
/* An i8 [n,k] constant with values (i * 7 + j) % 255 - 127. */
static int32_t add_i8_const(ir_graph_t *g, const char *name, int64_t n, int64_t k) {
  int8_t *data = malloc((size_t)(n * k));
  assert_non_null(data);
  for (int64_t i = 0; i < n * k; i++) data[i] = (int8_t)((i * 7) % 255 - 127);
  int32_t v;
  TU_ASSERT_OK(ir_add_const(g, name, IR_I8, 2, (int64_t[]){n, k}, data, (uint64_t)(n * k), &v));
  return v;
}

static ir_graph_t *build_all_ops(void) {
  ir_graph_t *g;
  TU_ASSERT_OK(ir_graph_create("all \"ops\"", &g));
  int32_t ids, tt, mask;
  TU_ASSERT_OK(ir_add_input(g, "input_ids", &ids));
  TU_ASSERT_OK(ir_add_input(g, "token_type_ids", &tt));
  TU_ASSERT_OK(ir_add_input(g, "attention_mask", &mask));
  int32_t word = CONST(g, "embeddings.word_embeddings.weight", 10, 8);
  int32_t pos = CONST(g, "embeddings.position_embeddings.weight", 16, 8);
  int32_t type = CONST(g, "embeddings.token_type_embeddings.weight", 2, 8);
  int32_t gam = CONST(g, "LayerNorm.gamma", 8), bet = CONST(g, "LayerNorm.beta", 8);
  int32_t w = CONST(g, "dense.weight", 8, 8), b = CONST(g, "dense.bias", 8);

  int32_t pids = NODE(g, IR_OP_POSITION_IDS, IA(1), NULL, ids);
  int32_t e1 = NODE(g, IR_OP_GATHER, NULL, NULL, word, ids);
  int32_t e2 = NODE(g, IR_OP_GATHER, NULL, NULL, pos, pids);
  int32_t e3 = NODE(g, IR_OP_ADD, NULL, NULL, e1, e2);
  int32_t e4 = NODE(g, IR_OP_ADD, NULL, NULL, e3, NODE(g, IR_OP_GATHER, NULL, NULL, type, tt));
  int32_t x = NODE(g, IR_OP_LAYER_NORM, NULL, FA(1e-12f), e4, gam, bet);
  int32_t emb7 = NODE(g, IR_OP_EMBED_LN, IA(-1), FA(1e-5f), word, ids, pos, gam, bet, type, tt);
  int32_t emb5 = NODE(g, IR_OP_EMBED_LN, IA(1), FA(1e-12f), word, ids, pos, gam, bet);
  int32_t q = NODE(g, IR_OP_LINEAR, IA(IR_ACT_NONE), NULL, x, w, b);
  int32_t k = NODE(g, IR_OP_LINEAR, IA(IR_ACT_GELU), NULL, x, w, b);
  int32_t v = NODE(g, IR_OP_LINEAR, IA(IR_ACT_TANH), NULL, x, w, b);
  /* Constants made after nodes: their indices fall between temporaries'. */
  int32_t wqkv = CONST(g, "qkv.weight", 24, 8), bqkv = CONST(g, "qkv.bias", 24);
  int32_t qkv = NODE(g, IR_OP_LINEAR, IA(IR_ACT_RELU), NULL, x, wqkv, bqkv);
  int32_t sc = NODE(g, IR_OP_ATTN_SCORES, IA(2), FA(0.25f), q, k);
  int32_t m = NODE(g, IR_OP_ATTN_MASK, NULL, NULL, sc, mask);
  int32_t pr = NODE(g, IR_OP_SOFTMAX, NULL, NULL, m);
  int32_t ctx = NODE(g, IR_OP_ATTN_CONTEXT, IA(2), NULL, pr, v);
  g->values[ctx].name = strdup("context \"h\"\\\n\x01 caf\xc3\xa9");
  int32_t a2 = NODE(g, IR_OP_ATTENTION, IA(2), FA(0.5f), qkv, mask);
  int32_t a3 = NODE(g, IR_OP_ATTENTION, IA(2), FA(0.35355339f), q, k, v);
  int32_t a4 = NODE(g, IR_OP_ATTENTION, IA(4), FA(0.5f), q, k, v, mask);
  int32_t lal = NODE(g, IR_OP_LINEAR_ADD_LN, NULL, FA(1e-12f), ctx, w, b, x, gam, bet);
  int32_t aln = NODE(g, IR_OP_ADD_LN, NULL, FA(1e-6f), lal, a4, gam, bet);
  int32_t t = NODE(g, IR_OP_SCALE, NULL, FA(0.1f), aln);
  const ir_op_t unary[] = {IR_OP_GELU, IR_OP_GELU_TANH, IR_OP_GELU_FAST, IR_OP_QUICK_GELU,
                           IR_OP_RELU, IR_OP_SILU,      IR_OP_TANH};
  for (size_t i = 0; i < sizeof unary / sizeof unary[0]; i++) t = NODE(g, unary[i], NULL, NULL, t);
  int32_t cls = NODE(g, IR_OP_SELECT_TOKEN, IA(0), NULL, t);
  int32_t pm = NODE(g, IR_OP_POOL_MEAN, NULL, NULL, t, mask);
  int32_t px = NODE(g, IR_OP_POOL_MAX, NULL, NULL, t, mask);
  int32_t ps = NODE(g, IR_OP_POOL_MEAN_SQRT, NULL, NULL, t, mask);
  int32_t cat = NODE(g, IR_OP_CONCAT, NULL, NULL, pm, px, ps);
  int32_t cat2 = NODE(g, IR_OP_CONCAT, NULL, NULL, cls, pm);
  int32_t l2 = NODE(g, IR_OP_L2_NORMALIZE, NULL, NULL, cat);
  int32_t sl = NODE(g, IR_OP_SLICE_LAST, IA(2, 1, 1), NULL, l2);
  int32_t sl2 = NODE(g, IR_OP_SLICE_LAST, IA(0, 4, 0), NULL, cat2);
  int32_t wp = add_panel_const(g, "packed.weight", 5, 8, 4);
  int32_t bp = CONST(g, "packed.bias", 5);
  int32_t lp = NODE(g, IR_OP_LINEAR, IA(IR_ACT_QUICK_GELU), NULL, x, wp, bp);
  int32_t dec;
  TU_ASSERT_OK(ir_add_const_alias(g, "cls.predictions.decoder.weight", word, &dec));
  int32_t logits =
      NODE(g, IR_OP_LINEAR, IA(IR_ACT_SILU), NULL, x, dec, CONST(g, "decoder.bias", 10));
  /* int8 */
  int32_t wq = add_i8_const(g, "dense.weight.i8", 8, 8), ws = CONST(g, "dense.weight:scale", 8);
  int32_t qx = NODE(g, IR_OP_QUANTIZE, NULL, NULL, x);
  int32_t acc = NODE(g, IR_OP_MATMUL_I8, NULL, NULL, qx, wq);
  int32_t dq = NODE(g, IR_OP_DEQUANTIZE, IA(IR_ACT_GELU), NULL, acc, x, ws, b);
  int32_t ql = NODE(g, IR_OP_QLINEAR, IA(IR_ACT_RELU), NULL, dq, wq, ws, b);
  int32_t ql7 = NODE(g, IR_OP_QLINEAR, NULL, FA(1e-12f), ql, wq, ws, b, x, gam, bet);
  int32_t tq = add_i8_const(g, "word.i8", 10, 8), ts = CONST(g, "word:scale", 10);
  int32_t eq8 = NODE(g, IR_OP_EMBED_LN_I8, IA(-1), FA(1e-5f), tq, ts, ids, pos, gam, bet, type, tt);
  int32_t eq6 = NODE(g, IR_OP_EMBED_LN_I8, IA(1), FA(1e-12f), tq, ts, ids, pos, gam, bet);
  TU_ASSERT_OK(ir_add_output(g, "int8", ql7));
  TU_ASSERT_OK(ir_add_output(g, "eq8", eq8));
  TU_ASSERT_OK(ir_add_output(g, "eq6", eq6));
  TU_ASSERT_OK(ir_add_output(g, "last_hidden_state", t));
  TU_ASSERT_OK(ir_add_output(g, "sentence", sl));
  TU_ASSERT_OK(ir_add_output(g, "pooled", sl2));
  TU_ASSERT_OK(ir_add_output(g, "logits", logits));
  TU_ASSERT_OK(ir_add_output(g, "packed", lp));
  TU_ASSERT_OK(ir_add_output(g, "emb7", emb7));
  TU_ASSERT_OK(ir_add_output(g, "emb5", emb5));
  TU_ASSERT_OK(ir_add_output(g, "a2", a2));
  TU_ASSERT_OK(ir_add_output(g, "a3", a3));
  TU_ASSERT_OK(ir_add_output(g, "ids again", ids));
  TU_ASSERT_OK(ir_verify(g));
  return g;
}

/* ---- comparing graphs --------------------------------------------------- */

static void assert_same_name(const char *a, const char *b) {
  if (!a || !b)
    assert_true(a == b);
  else
    assert_string_equal(a, b);
}

static void assert_graphs_equal(const ir_graph_t *a, const ir_graph_t *b) {
  assert_same_name(a->name, b->name);
  assert_int_equal(a->num_values, b->num_values);
  for (size_t i = 0; i < a->num_values; i++) {
    const ir_value_t *x = &a->values[i], *y = &b->values[i];
    assert_same_name(x->name, y->name);
    assert_int_equal(x->kind, y->kind);
    assert_int_equal(x->dtype, y->dtype);
    assert_int_equal(x->rank, y->rank);
    for (int d = 0; d < x->rank; d++) assert_int_equal(x->dims[d], y->dims[d]);
    assert_int_equal(x->producer, y->producer);
    assert_int_equal(x->layout, y->layout);
    assert_int_equal(x->layout_param, y->layout_param);
    assert_int_equal(x->data_bytes, y->data_bytes);
    assert_true((x->data == NULL) == (y->data == NULL));
    if (x->data) assert_memory_equal(x->data, y->data, x->data_bytes);
    /* Aliasing is kept: shared data in one graph is shared in the other. */
    for (size_t j = 0; j < i; j++)
      if (x->data) assert_int_equal(x->data == a->values[j].data, y->data == b->values[j].data);
  }
  assert_int_equal(a->num_nodes, b->num_nodes);
  for (size_t i = 0; i < a->num_nodes; i++) {
    const ir_node_t *x = &a->nodes[i], *y = &b->nodes[i];
    assert_int_equal(x->op, y->op);
    assert_int_equal(x->num_operands, y->num_operands);
    for (int k = 0; k < x->num_operands; k++) assert_int_equal(x->operands[k], y->operands[k]);
    assert_int_equal(x->result, y->result);
    assert_memory_equal(x->iattr, y->iattr, sizeof x->iattr);
    assert_memory_equal(x->fattr, y->fattr, sizeof x->fattr); /* bit-exact floats */
  }
  assert_int_equal(a->num_outputs, b->num_outputs);
  for (size_t i = 0; i < a->num_outputs; i++) {
    assert_string_equal(a->outputs[i].name, b->outputs[i].name);
    assert_int_equal(a->outputs[i].value, b->outputs[i].value);
  }
  assert_int_equal(a->input_ids, b->input_ids);
  assert_int_equal(a->token_type_ids, b->token_type_ids);
  assert_int_equal(a->attention_mask, b->attention_mask);
}

/* The text form of g (heap). */
static char *print_text(const ir_graph_t *g, unsigned flags) {
  char *text;
  TU_ASSERT_OK(ir_print_to_string(g, flags, &text));
  return text;
}

/* A graph named `name` with its input_ids. */
static ir_graph_t *new_graph(const char *name, int32_t *ids) {
  ir_graph_t *g;
  TU_ASSERT_OK(ir_graph_create(name, &g));
  TU_ASSERT_OK(ir_add_input(g, "input_ids", ids));
  return g;
}

/* g and h print the same text. */
static void assert_same_text(const ir_graph_t *g, const ir_graph_t *h) {
  char *a = print_text(g, 0), *b = print_text(h, 0);
  assert_string_equal(a, b);
  free(a);
  free(b);
}

/* print -> parse -> print: same text, same arrays, and the parse verifies. */
static void assert_round_trip(const ir_graph_t *g) {
  ir_graph_t *back;
  char *text = print_text(g, 0);
  TU_ASSERT_OK(ir_parse(text, strlen(text), "round-trip.ir", &back));
  free(text);
  TU_ASSERT_OK(ir_verify(back));
  assert_same_text(g, back);
  assert_graphs_equal(g, back);
  ir_graph_destroy(back);
}

/* ---- tests -------------------------------------------------------------- */

/* Builds a small graph whose value indices interleave kinds (as graphs that
 * passes have edited do) and checks the exact text. */
static void test_golden_text(void **state) {
  int32_t ids, mask;
  ir_graph_t *g = new_graph("tiny", &ids);
  const float table[6] = {1, 2, 3, 4, 5, 6}, ln[2] = {1, 0.5f}, bias[3] = {0, -1, 2};
  float *t = malloc(sizeof table), *gm = malloc(sizeof ln), *bt = malloc(sizeof ln),
        *bs = malloc(sizeof bias);
  memcpy(t, table, sizeof table);
  memcpy(gm, ln, sizeof ln);
  memcpy(bt, ln, sizeof ln);
  memcpy(bs, bias, sizeof bias);
  int32_t tab, gamma, beta, b3, tied;
  TU_ASSERT_OK(ir_add_const(g, "word", IR_F32, 2, (int64_t[]){3, 2}, t, sizeof table, &tab));
  int32_t e = NODE(g, IR_OP_GATHER, NULL, NULL, tab, ids);
  TU_ASSERT_OK(ir_add_const(g, NULL, IR_F32, 1, (int64_t[]){2}, gm, sizeof ln, &gamma));
  TU_ASSERT_OK(ir_add_const(g, "ln.beta", IR_F32, 1, (int64_t[]){2}, bt, sizeof ln, &beta));
  TU_ASSERT_OK(ir_add_input(g, "attention_mask", &mask));
  int32_t x = NODE(g, IR_OP_LAYER_NORM, NULL, FA(1e-12f), e, gamma, beta);
  TU_ASSERT_OK(ir_add_const_alias(g, "tied", tab, &tied));
  TU_ASSERT_OK(ir_add_const(g, "bias", IR_F32, 1, (int64_t[]){3}, bs, sizeof bias, &b3));
  int32_t r = NODE(g, IR_OP_LINEAR, IA(IR_ACT_GELU_TANH), NULL, x, tied, b3);
  int32_t p = NODE(g, IR_OP_POOL_MEAN, NULL, NULL, x, mask);
  g->values[p].name = strdup("pooled");
  TU_ASSERT_OK(ir_add_output(g, "logits", r));
  TU_ASSERT_OK(ir_add_output(g, "pooled", p));
  TU_ASSERT_OK(ir_verify(g));
  /* gamma and beta hold equal bytes in separate buffers: only shared
   * pointers print as aliases. */
  const char *golden =
      "graph \"tiny\" {\n"
      "  %0 = input \"input_ids\" : i32[B,S]\n"
      "  %1 = const \"word\" : f32[3,2] = hex\"0000803f000000400000404000008040"
      "0000a0400000c040\"\n"
      "  %3 = const : f32[2] = hex\"0000803f0000003f\"\n"
      "  %4 = const \"ln.beta\" : f32[2] = hex\"0000803f0000003f\"\n"
      "  %5 = input \"attention_mask\" : i32[B,S]\n"
      "  %7 = const \"tied\" : f32[3,2] = alias %1\n"
      "  %8 = const \"bias\" : f32[3] = hex\"00000000000080bf00000040\"\n"
      "  %2 = gather(%1, %0) : f32[B,S,2]\n"
      "  %6 = layer_norm(%2, %3, %4) {eps = 1e-12} : f32[B,S,2]\n"
      "  %9 = linear(%6, %7, %8) {act = gelu_tanh} : f32[B,S,3]\n"
      "  %10 = pool_mean(%6, %5) : f32[B,2] named \"pooled\"\n"
      "  output \"logits\" = %9\n"
      "  output \"pooled\" = %10\n"
      "}\n";
  char *text = print_text(g, 0);
  assert_string_equal(text, golden);
  ir_graph_t *back;
  TU_ASSERT_OK(ir_parse(golden, strlen(golden), "golden.ir", &back));
  assert_graphs_equal(g, back);
  assert_ptr_equal(back->values[7].data, back->values[1].data);
  free(text);
  ir_graph_destroy(back);
  ir_graph_destroy(g);
}

static void test_round_trip_all_ops(void **state) {
  ir_graph_t *g = build_all_ops();
  size_t counts[IR_OP_COUNT];
  ir_count_ops(g, counts);
  for (int op = 0; op < IR_OP_COUNT; op++) {
    if (!counts[op]) fail_msg("op %s is not in the test graph", ir_op_info((ir_op_t)op)->name);
  }
  assert_round_trip(g);

  char *text = print_text(g, 0);
  assert_non_null(strstr(text, " : f32[5,8] panel(4) = hex\""));
  assert_non_null(strstr(text, "\"cls.predictions.decoder.weight\" : f32[10,8] = alias %3\n"));
  assert_non_null(strstr(text, "named \"context \\\"h\\\"\\\\\\x0a\\x01 caf\xc3\xa9\"\n"));
  assert_non_null(strstr(text, "graph \"all \\\"ops\\\"\" {\n"));
  assert_non_null(strstr(text, "{padding_idx = -1, eps = 1e-05}"));
  assert_non_null(strstr(text, "{begin = 2, size = 1, squeeze = 1}"));
  assert_non_null(strstr(text, "{heads = 2, scale = 0.35355338}"));
  ir_graph_t *back;
  TU_ASSERT_OK(ir_parse(text, strlen(text), "all.ir", &back));
  int32_t word = 3, dec = IR_NONE;
  for (size_t i = 0; i < back->num_values; i++)
    if (back->values[i].name && !strcmp(back->values[i].name, "cls.predictions.decoder.weight"))
      dec = (int32_t)i;
  assert_int_not_equal(dec, IR_NONE);
  assert_ptr_equal(back->values[dec].data, back->values[word].data);
  free(text);
  ir_graph_destroy(back);

  /* A clone prints the same text. */
  ir_graph_t *c;
  TU_ASSERT_OK(ir_graph_clone(g, &c));
  assert_same_text(g, c);
  ir_graph_destroy(c);
  ir_graph_destroy(g);
}

static void test_round_trip_attributes(void **state) {
  int32_t ids, mask;
  ir_graph_t *g = new_graph("attrs", &ids);
  TU_ASSERT_OK(ir_add_input(g, "attention_mask", &mask));
  int32_t word = CONST(g, "w", 10, 8), b = CONST(g, "b", 10), gam = CONST(g, "g", 8);
  int32_t x = NODE(g, IR_OP_GATHER, NULL, NULL, word, ids);
  /* Every activation by name. */
  for (int act = IR_ACT_NONE; act < IR_ACT_COUNT; act++)
    NODE(g, IR_OP_LINEAR, IA(act), NULL, x, word, b);
  /* Floats that need all 9 digits, extremes, subnormals, -0, inf, NaN. */
  const float floats[] = {1e-12f,  0.1f,     1.0f / 3.0f, -0.0f,    0.0f,     FLT_MAX,
                          -FLT_MAX, FLT_MIN, 1e-45f,      1.17e-40f, INFINITY, -INFINITY,
                          NAN,     123456792.0f, 16777217.0f, -2.5e-7f};
  for (size_t i = 0; i < sizeof floats / sizeof floats[0]; i++) {
    NODE(g, IR_OP_SCALE, NULL, FA(floats[i]), x);
    NODE(g, IR_OP_LAYER_NORM, NULL, FA(floats[i]), x, gam, gam);
  }
  /* Integers: negative, large, and an act that has no name (printed as a number
   * would fail shape inference, so only legal values appear). */
  NODE(g, IR_OP_POSITION_IDS, IA(-1), NULL, ids);
  NODE(g, IR_OP_POSITION_IDS, IA(INT64_MIN), NULL, ids);
  NODE(g, IR_OP_POSITION_IDS, IA(INT64_MAX), NULL, ids);
  NODE(g, IR_OP_SELECT_TOKEN, IA(1000000000000LL), NULL, x);
  NODE(g, IR_OP_EMBED_LN, IA(0), FA(0.0f), word, ids, word, gam, gam);
  NODE(g, IR_OP_ATTENTION, IA(8), FA(-0.0f), x, x, x, mask);
  NODE(g, IR_OP_SLICE_LAST, IA(7, 1, 1), NULL, x);
  NODE(g, IR_OP_SLICE_LAST, IA(0, 8, 0), NULL, x);
  TU_ASSERT_OK(ir_verify(g));
  assert_round_trip(g);

  char *text = print_text(g, 0);
  const char *want[] = {"{act = none}",      "{act = gelu}",       "{act = gelu_tanh}",
                        "{act = gelu_fast}", "{act = quick_gelu}", "{act = relu}",
                        "{act = silu}",      "{act = tanh}",       "{alpha = 1e-12}",
                        "{alpha = 0.1}",     "{alpha = 0.33333334}", "{alpha = -0}",
                        "{alpha = 0}",       "{alpha = 3.4028235e+38}", "{alpha = 1e-45}",
                        "{alpha = inf}",     "{alpha = -inf}",     "{alpha = nan}",
                        "{eps = 1e-12}",     "{padding_idx = -9223372036854775808}",
                        "{index = 1000000000000}", "{heads = 8, scale = -0}"};
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
    if (!strstr(text, want[i])) fail_msg("printed text lacks %s:\n%s", want[i], text);
  free(text);
  ir_graph_destroy(g);
}

/* Passes may create values in any order and reorder nodes: value indices are
 * then neither grouped by kind nor increasing along the node order. */
static void test_round_trip_reordered(void **state) {
  ir_graph_t *g;
  TU_ASSERT_OK(ir_graph_create("reordered", &g));
  int32_t w = CONST(g, "w", 4, 4);
  int32_t ids;
  TU_ASSERT_OK(ir_add_input(g, "input_ids", &ids));
  int32_t x = NODE(g, IR_OP_GATHER, NULL, NULL, w, ids);
  int32_t b = CONST(g, "b", 4);
  int32_t y1 = NODE(g, IR_OP_LINEAR, IA(0), NULL, x, w, b);
  int32_t y2 = NODE(g, IR_OP_RELU, NULL, NULL, x);
  int32_t mask;
  TU_ASSERT_OK(ir_add_input(g, "attention_mask", &mask));
  int32_t y3 = NODE(g, IR_OP_ADD, NULL, NULL, y1, y2);
  int32_t c = CONST(g, "c", 4);
  int32_t y4 = NODE(g, IR_OP_ADD, NULL, NULL, y3, c);
  TU_ASSERT_OK(ir_add_output(g, "y", y4));
  TU_ASSERT_OK(ir_add_output(g, "x", x));
  /* Swap nodes 1 and 2 (independent): the node order is now x, y2, y1, ... */
  ir_node_t tmp = g->nodes[1];
  g->nodes[1] = g->nodes[2];
  g->nodes[2] = tmp;
  g->values[g->nodes[1].result].producer = 1;
  g->values[g->nodes[2].result].producer = 2;
  TU_ASSERT_OK(ir_verify(g));
  assert_round_trip(g);

  char *text = print_text(g, 0);
  const char *order = strstr(text, "  %5 = relu(%2)");
  assert_non_null(order);
  assert_non_null(strstr(order, "  %4 = linear(%2, %0, %3)"));
  assert_non_null(strstr(text, "  %0 = const \"w\""));
  assert_non_null(strstr(text, "  %6 = input \"attention_mask\""));
  assert_non_null(strstr(text, "  %8 = const \"c\""));
  free(text);
  ir_graph_destroy(g);
}

static void test_round_trip_empty_and_minimal(void **state) {
  ir_graph_t *g;
  TU_ASSERT_OK(ir_graph_create("empty", &g));
  assert_round_trip(g);
  char *text = print_text(g, 0);
  assert_string_equal(text, "graph \"empty\" {\n}\n");
  free(text);
  int32_t ids;
  TU_ASSERT_OK(ir_add_input(g, "input_ids", &ids));
  TU_ASSERT_OK(ir_add_output(g, "ids", ids));
  assert_round_trip(g);
  ir_graph_destroy(g);
}

static void test_print_to_file_matches_string(void **state) {
  ir_graph_t *g = build_all_ops();
  char *text = print_text(g, 0);
  FILE *f = tmpfile();
  assert_non_null(f);
  TU_ASSERT_OK(ir_print(g, f, 0));
  long size = ftell(f);
  assert_int_equal(size, (long)strlen(text));
  rewind(f);
  char *back = malloc((size_t)size + 1);
  assert_int_equal(fread(back, 1, (size_t)size, f), (size_t)size);
  back[size] = 0;
  assert_string_equal(back, text);
  fclose(f);
  free(back);
  free(text);
  ir_graph_destroy(g);
}

static void test_elided_data(void **state) {
  ir_graph_t *g = build_all_ops();
  char *full = print_text(g, 0), *elided = print_text(g, IR_PRINT_ELIDE_DATA);
  assert_null(strstr(elided, "hex\""));
  assert_non_null(strstr(elided, "\"dense.bias\" : f32[8] = elided(hash=0x"));
  assert_non_null(strstr(elided, ", bytes=32)\n"));
  assert_non_null(strstr(elided, ": f32[5,8] panel(4) = elided(hash=0x"));
  assert_non_null(strstr(elided, ", bytes=256)\n"));
  assert_non_null(strstr(elided, " = alias %3\n")); /* aliases still show what they share */
  assert_true(strlen(elided) < strlen(full));
  /* Deterministic: printing twice gives the same text. */
  char *again = print_text(g, IR_PRINT_ELIDE_DATA);
  assert_string_equal(elided, again);
  ir_graph_t *back = NULL;
  TU_ASSERT_ERROR(ir_parse(elided, strlen(elided), "elided.ir", &back),
                  "constant data was elided when this text was printed");
  assert_null(back);
  free(full);
  free(elided);
  free(again);
  ir_graph_destroy(g);
}

/* A dangling temporary (what a sloppy pass leaves) still prints, and the
 * parser refuses it. */
static void test_print_dangling(void **state) {
  int32_t ids;
  ir_graph_t *g = new_graph("broken", &ids);
  NODE(g, IR_OP_POSITION_IDS, IA(-1), NULL, ids);
  g->num_nodes = 0;
  char *text = print_text(g, 0);
  assert_string_equal(text, "graph \"broken\" {\n"
                            "  %0 = input \"input_ids\" : i32[B,S]\n"
                            "  %1 = dangling : i32[B,S]\n"
                            "}\n");
  ir_graph_t *back = NULL;
  TU_ASSERT_ERROR(ir_parse(text, strlen(text), "broken.ir", &back),
                  "broken.ir:3:8: %1 is dangling: no node produces it");
  free(text);
  ir_graph_destroy(g);
}

/* Hand-written text: comments, blank lines, CRLF, attributes in any order or
 * left out (0), extra spaces, escapes. */
static void test_parse_hand_written(void **state) {
#define HAND_HEAD                                                                        \
  "# a hand-written graph\r\n"                                                            \
  "\r\n"                                                                                  \
  "graph \"hand\\x41\" {   # trailing comment\r\n"                                         \
  "  %1 = const \"w\\tx\" : f32[ 2 , 2 ] = hex\"0000803F000000400000404000008040\"\r\n"     \
  "\n"                                                                                    \
  "  %0 = input \"input_ids\" : i32[B,S]\n"
#define HAND_TAIL                                                                        \
  "  %4 = position_ids(%0) {} : i32[B,S]\n"                                               \
  "  %5 = const : f32[2,2] panel(2) = alias %1\n"                                         \
  "  output \"out\" = %3\n"                                                               \
  "}\n"                                                                                   \
  "# done\n"
  const char *text = HAND_HEAD "  %3 = attention(%2,%2,%2) {scale = 0.5, heads = 1} : f32[B,S,2]\n"
                               "  %2=gather( %1 ,%0 ):f32[B,S,2]\n" HAND_TAIL;
  /* %3 uses %2 before its line: rejected. Fix the order and parse again. */
  ir_graph_t *g = NULL;
  TU_ASSERT_ERROR(ir_parse(text, strlen(text), "hand.ir", &g),
                  "hand.ir:7:18: %2 is used before its definition on line 8");
  const char *fixed = HAND_HEAD "  %2=gather( %1 ,%0 ):f32[B,S,2]\n"
                                "  %3 = attention(%2,%2,%2) {scale = 0.5, heads = 1} : f32[B,S,2]\n"
                                HAND_TAIL;
#undef HAND_HEAD
#undef HAND_TAIL
  TU_ASSERT_OK(ir_parse(fixed, strlen(fixed), "hand.ir", &g));
  assert_string_equal(g->name, "handA");
  assert_int_equal(g->num_values, 6);
  assert_string_equal(g->values[1].name, "w\tx");
  assert_int_equal(g->values[0].kind, IR_VALUE_INPUT);
  assert_int_equal(g->input_ids, 0);
  assert_int_equal(g->nodes[0].result, 2);
  assert_int_equal(g->nodes[1].iattr[0], 1);
  assert_true(g->nodes[1].fattr[0] == 0.5f);
  assert_int_equal(g->nodes[2].iattr[0], 0);
  assert_int_equal(g->values[5].layout, IR_LAYOUT_PANEL);
  assert_int_equal(g->values[5].layout_param, 2);
  assert_ptr_equal(g->values[5].data, g->values[1].data);
  assert_true(((const float *)g->values[1].data)[3] == 4.0f);
  assert_null(g->values[5].name);
  assert_int_equal(g->outputs[0].value, 3);
  assert_round_trip(g);
  ir_graph_destroy(g);

  /* Whole text without a name or a trailing newline. */
  const char *bare = "graph {\n  %0 = input \"attention_mask\" : i32[B,S]\n}";
  TU_ASSERT_OK(ir_parse(bare, strlen(bare), NULL, &g));
  assert_string_equal(g->name, "model");
  assert_int_equal(g->attention_mask, 0);
  ir_graph_destroy(g);

  /* `len` bounds the text: nothing past it is read. */
  const char *prefix = "graph \"p\" {\n}\ngarbage";
  TU_ASSERT_OK(ir_parse(prefix, strlen(prefix) - strlen("garbage"), "p.ir", &g));
  ir_graph_destroy(g);
}

#define HEX6 "0000803f000000400000404000008040" "0000a0400000c040"
#define HEAD                                                                             \
  "graph \"t\" {\n"                                                                      \
  "  %0 = input \"input_ids\" : i32[B,S]\n"                                              \
  "  %1 = const \"w\" : f32[3,2] = hex\"" HEX6 "\"\n"

static void test_parse_errors(void **state) {
  static const struct {
    const char *text, *message;
  } cases[] = {
      {"", "t.ir:1:1: expected 'graph' at the start of the IR text, found end of text"},
      {"grph {\n}\n", "t.ir:1:1: expected 'graph' at the start of the IR text, found 'grph'"},
      {HEAD, "t.ir:4:1: expected '}' to close the graph, found end of text"},
      {HEAD "}\nextra\n",
       "t.ir:5:1: expected end of text after the graph's closing '}', found 'extra'"},
      {HEAD "  %2 = frobnicate(%1) : f32[3,2]\n}\n", "t.ir:4:8: unknown op 'frobnicate'"},
      {HEAD "  %2 = gather(%1) : f32[B,S,2]\n}\n", "t.ir:4:8: gather takes 2 operands, got 1"},
      {HEAD "  %2 = concat(%1, %1, %1, %1, %1) : f32[3,10]\n}\n",
       "t.ir:4:8: concat takes 2 to 4 operands, got 5"},
      {HEAD "  %2 = gather(%1, %7) : f32[B,S,2]\n}\n",
       "t.ir:4:19: %7 is out of range: the text defines 3 values, %0 to %2"},
      {HEAD "  %3 = relu(%2) : f32[3,2]\n  %3 = relu(%1) : f32[3,2]\n}\n",
       "t.ir:4:13: %2 is not defined"},
      {HEAD "  %1 = gather(%1, %0) : f32[B,S,2]\n}\n", "t.ir:4:3: %1 is already defined on line 3"},
      {HEAD "  %2 = relu(%3) : f32[B,S,2]\n  %3 = gather(%1, %0) : f32[B,S,2]\n}\n",
       "t.ir:4:13: %3 is used before its definition on line 5"},
      {HEAD "  %2 = gather(%1, %0) : f32[B,S,3]\n}\n",
       "t.ir:4:25: result type f32[B,S,3] does not match f32[B,S,2], which gather computes"},
      {HEAD "  %2 = gather(%1, %0) : f32[B,S,2] panel(2)\n}\n",
       "t.ir:4:36: the panel layout is for f32 or i8 [N,K] weights"},
      {HEAD "  %2 = linear(%1, %1, %1) {act = none} : f32[3,3]\n}\n",
       "t.ir:4:8: linear: operand 2 has type f32[3,2], expected f32[3]"},
      {HEAD "  %2 = const : f32[0,2] = hex\"\"\n}\n",
       "t.ir:4:20: a dim must be a positive size, B or S, not 0"},
      {HEAD "  %2 = const : f32[-3] = hex\"\"\n}\n",
       "t.ir:4:20: a dim must be a positive size, B or S, not -3"},
      {HEAD "  %2 = const : f32[99999999999999999999] = hex\"\"\n}\n",
       "t.ir:4:20: expected a dim (a positive size, B or S), found '99999999999999999999' (not a "
       "64-bit integer)"},
      {HEAD "  %2 = const : f32[4294967296,4294967296] = hex\"\"\n}\n",
       "t.ir:4:16: constant type f32[4294967296,4294967296] is too large"},
      {HEAD "  %2 = const : f32[B,2] = hex\"\"\n}\n",
       "t.ir:4:16: a constant's dims must be sizes, not B or S"},
      {HEAD "  %2 = const : f32[1,1,1,1,1] = hex\"\"\n}\n", "t.ir:4:28: too many dims (at most 4)"},
      {HEAD "  %2 = const : f16[2] = hex\"\"\n}\n",
       "t.ir:4:16: unknown dtype 'f16' (expected f32, i32 or i8)"},
      {HEAD "  %2 = const \"e\" : f32[1] = elided(hash=0x0123, bytes=4)\n}\n",
       "t.ir:4:29: constant data was elided when this text was printed"},
      {HEAD "  %2 = const : f32[2] = hex\"0000803f00zz0040\"\n}\n",
       "t.ir:4:39: expected a hex digit or '\"' in constant data, found 'zz0040'"},
      {HEAD "  %2 = const : f32[1] = hex\"0000803\"\n}\n",
       "t.ir:4:28: constant data has an odd number of hex digits (7)"},
      {HEAD "  %2 = const : f32[2] = hex\"0000803f\"\n}\n",
       "t.ir:4:28: constant data has 4 bytes, f32[2] needs 8"},
      {HEAD "  %2 = const : f32[2] = hex\"0000803f\n}\n",
       "t.ir:4:28: unterminated constant data"},
      {HEAD "  %2 = const : f32[2] = 1.0\n}\n",
       "t.ir:4:25: expected the constant's data (hex\"...\" or alias %N), found '1.0'"},
      {HEAD "  %2 = const : f32[2] = alias %0\n}\n",
       "t.ir:4:25: alias of a value that is not a constant"},
      {HEAD "  %2 = const : f32[8] = alias %1\n}\n",
       "t.ir:4:25: aliased data has 24 bytes, f32[8] needs 32"},
      {HEAD "  %2 = const \"abc : f32[1] = hex\"0000803f\"\n}\n",
       "t.ir:4:34: expected ':' and the constant's type, found '0000803f'"},
      {HEAD "  %2 = const \"abc : f32[1]\n}\n",
       "t.ir:4:14: unterminated string (a string ends on its line)"},
      {HEAD "  %2 = const \"a\\x00b\" : f32[1] = hex\"0000803f\"\n}\n",
       "t.ir:4:16: a string cannot hold a NUL byte (\\x00)"},
      {HEAD "  %2 = const \"a\\qb\" : f32[1] = hex\"0000803f\"\n}\n",
       "t.ir:4:16: unknown escape in string"},
      {HEAD "  %2 = input \"attention_mask\" : f32[B,S]\n}\n",
       "t.ir:4:33: input 'attention_mask' has type f32[B,S]; graph inputs are i32[B,S]"},
      {HEAD "  %2 = input \"pixels\" : i32[B,S]\n}\n",
       "t.ir:4:14: unknown graph input 'pixels'"},
      {HEAD "  %2 = input \"input_ids\" : i32[B,S]\n}\n",
       "t.ir:4:14: graph input 'input_ids' added twice"},
      {HEAD "  %2 = gather(%1, %0) {eps = 1} : f32[B,S,2]\n}\n",
       "t.ir:4:24: gather has no attributes, found 'eps'"},
      {HEAD "  %2 = gather(%1, %0) : f32[B,S,2]\n  %3 = layer_norm(%2, %1, %1) {epsilon = "
            "1e-5} : f32[B,S,2]\n}\n",
       "t.ir:5:32: layer_norm has no attribute 'epsilon' (it has: eps)"},
      {HEAD "  %2 = gather(%1, %0) : f32[B,S,2]\n  %3 = attention(%2, %2, %2) {heads = two} : "
            "f32[B,S,2]\n}\n",
       "t.ir:5:39: expected an integer for 'heads', found 'two'"},
      {HEAD "  %2 = gather(%1, %0) : f32[B,S,2]\n  %3 = scale(%2) {alpha = 1e99} : f32[B,S,2]\n}\n",
       "t.ir:5:27: '1e99' is out of range for f32"},
      {HEAD "  %2 = gather(%1, %0) : f32[B,S,2]\n  %3 = scale(%2) {alpha = 1, alpha = 2} : "
            "f32[B,S,2]\n}\n",
       "t.ir:5:30: attribute 'alpha' is given twice"},
      {HEAD "  %2 = gather(%1, %0) : f32[B,S,2]\n  %3 = linear(%2, %1, %1) {act = swish} : "
            "f32[B,S,3]\n}\n",
       "t.ir:5:34: expected an activation for 'act'"},
      {HEAD "  %2 = gather(%1 %0) : f32[B,S,2]\n}\n",
       "t.ir:4:18: expected ',' or ')' after an operand, found '%'"},
      {HEAD "  %2 = gather(%1, %0) f32[B,S,2]\n}\n",
       "t.ir:4:23: expected ':' and the result type, found 'f32'"},
      {HEAD "  %2 = dangling : f32[2]\n}\n", "t.ir:4:8: %2 is dangling"},
      {HEAD "  output \"y\" = %0\n  output \"y\" = %1\n}\n",
       "t.ir:5:10: output 'y' added twice"},
      {HEAD "  output \"y\" = %0 output \"z\" = %0\n}\n",
       "t.ir:4:19: expected end of line (one statement per line), found 'output'"},
      {HEAD "  out \"y\" = %0\n}\n",
       "t.ir:4:3: expected a value definition (%N = ...), 'output' or '}', found 'out'"},
      {HEAD "  %2 gather(%1, %0) : f32[B,S,2]\n}\n",
       "t.ir:4:6: expected '=' after the value being defined, found 'gather'"},
      {"graph \"t\" {\n  output \"y\" = %0\n}\n",
       "t.ir:2:16: %0 is out of range: the text defines no values"},
  };
  int failures = 0;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    ir_graph_t *g = (ir_graph_t *)&g; /* must be reset to NULL */
    bertc_status_t s = ir_parse(cases[i].text, strlen(cases[i].text), "t.ir", &g);
    if (!s) {
      print_error("case %zu parsed, expected: %s\n", i, cases[i].message);
      ir_graph_destroy(g);
      failures++;
      continue;
    }
    assert_null(g);
    if (bertc_status_code(s) != BERTC_STATUS_DATA || !strstr(bertc_status_message(s), cases[i].message)) {
      print_error("case %zu:\n  got:      %s (%s)\n  expected: %s\n", i, bertc_status_message(s),
                  bertc_status_code_name(bertc_status_code(s)), cases[i].message);
      failures++;
    }
    bertc_status_free(s);
  }
  assert_int_equal(failures, 0);
}

/* Every prefix of a valid text fails cleanly (no crash, no leak), and the
 * parser never reads past `len`. */
static void test_parse_truncated(void **state) {
  ir_graph_t *g = build_all_ops();
  char *text = print_text(g, 0);
  size_t len = strlen(text);
  size_t step = len / 1500 + 1;
  for (size_t n = 0; n + 2 < len; n += step) {
    char *copy = malloc(n ? n : 1);
    memcpy(copy, text, n);
    ir_graph_t *back = NULL;
    bertc_status_t s = ir_parse(copy, n, "cut.ir", &back);
    assert_non_null(s);
    assert_null(back);
    assert_non_null(strstr(bertc_status_message(s), "cut.ir"));
    bertc_status_free(s);
    free(copy);
  }
  free(text);
  ir_graph_destroy(g);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_golden_text),
      cmocka_unit_test(test_round_trip_all_ops),
      cmocka_unit_test(test_round_trip_attributes),
      cmocka_unit_test(test_round_trip_reordered),
      cmocka_unit_test(test_round_trip_empty_and_minimal),
      cmocka_unit_test(test_print_to_file_matches_string),
      cmocka_unit_test(test_elided_data),
      cmocka_unit_test(test_print_dangling),
      cmocka_unit_test(test_parse_hand_written),
      cmocka_unit_test(test_parse_errors),
      cmocka_unit_test(test_parse_truncated),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
