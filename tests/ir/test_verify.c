/* The IR verifier: valid graphs pass; each kind of corruption a pass could
 * leave behind (written straight into the arrays) is caught with a message
 * naming the node or value and the problem. */
#define _POSIX_C_SOURCE 200809L /* strdup */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/testutil.h"

#include "ir/ir.h"

/* A small encoder: embeddings, one attention block, a packed (panel) linear,
 * mean pooling. Indices of interesting values and nodes are kept in fx_t. */
typedef struct fx {
  int32_t ids, mask, word, pos, gamma, beta, w, b, wp, bp;
  int32_t emb, q, scores, masked, probs, ctx, y, packed, pooled; /* values */
  int32_t n_emb, n_q, n_scores, n_masked, n_probs, n_ctx, n_y, n_packed, n_pooled; /* nodes */
} fx_t;

static int32_t add_const(ir_graph_t *g, const char *name, int rank, const int64_t *dims,
                         uint64_t bytes) {
  float *data = calloc(1, (size_t)bytes);
  assert_non_null(data);
  int32_t v;
  TU_ASSERT_OK(ir_add_const(g, name, IR_F32, rank, dims, data, bytes, &v));
  return v;
}

static int32_t node(ir_graph_t *g, ir_op_t op, int n, const int32_t *operands,
                    const int64_t *iattr, const float *fattr, int32_t *out_node) {
  int32_t r;
  *out_node = (int32_t)g->num_nodes;
  TU_ASSERT_OK(ir_add_node(g, op, n, operands, iattr, fattr, &r));
  return r;
}

#define OPS(...) (int)(sizeof((int32_t[]){__VA_ARGS__}) / sizeof(int32_t)), (int32_t[]){__VA_ARGS__}

static ir_graph_t *build(fx_t *f) {
  ir_graph_t *g;
  TU_ASSERT_OK(ir_graph_create("enc", &g));
  TU_ASSERT_OK(ir_add_input(g, "input_ids", &f->ids));
  TU_ASSERT_OK(ir_add_input(g, "attention_mask", &f->mask));
  f->word = add_const(g, "word", 2, (int64_t[]){10, 8}, 10 * 8 * 4);
  f->pos = add_const(g, "pos", 2, (int64_t[]){16, 8}, 16 * 8 * 4);
  f->gamma = add_const(g, "gamma", 1, (int64_t[]){8}, 8 * 4);
  f->beta = add_const(g, "beta", 1, (int64_t[]){8}, 8 * 4);
  f->w = add_const(g, "w", 2, (int64_t[]){8, 8}, 8 * 8 * 4);
  f->b = add_const(g, "b", 1, (int64_t[]){8}, 8 * 4);
  /* [5,8] in panels of 4: 2 panels x 8 x 4 floats. */
  f->wp = add_const(g, "wp", 2, (int64_t[]){5, 8}, 2 * 8 * 4 * 4);
  g->values[f->wp].layout = IR_LAYOUT_PANEL;
  g->values[f->wp].layout_param = 4;
  f->bp = add_const(g, "bp", 1, (int64_t[]){5}, 5 * 4);
  f->emb = node(g, IR_OP_EMBED_LN, OPS(f->word, f->ids, f->pos, f->gamma, f->beta),
                (int64_t[]){-1}, (float[]){1e-12f}, &f->n_emb);
  f->q = node(g, IR_OP_LINEAR, OPS(f->emb, f->w, f->b), (int64_t[]){IR_ACT_NONE}, NULL, &f->n_q);
  f->scores = node(g, IR_OP_ATTN_SCORES, OPS(f->q, f->q), (int64_t[]){2}, (float[]){0.5f},
                   &f->n_scores);
  f->masked = node(g, IR_OP_ATTN_MASK, OPS(f->scores, f->mask), NULL, NULL, &f->n_masked);
  f->probs = node(g, IR_OP_SOFTMAX, OPS(f->masked), NULL, NULL, &f->n_probs);
  f->ctx = node(g, IR_OP_ATTN_CONTEXT, OPS(f->probs, f->q), (int64_t[]){2}, NULL, &f->n_ctx);
  f->y = node(g, IR_OP_ADD_LN, OPS(f->ctx, f->emb, f->gamma, f->beta), NULL, (float[]){1e-12f},
              &f->n_y);
  f->packed = node(g, IR_OP_LINEAR, OPS(f->y, f->wp, f->bp), (int64_t[]){IR_ACT_GELU}, NULL,
                   &f->n_packed);
  f->pooled = node(g, IR_OP_POOL_MEAN, OPS(f->y, f->mask), NULL, NULL, &f->n_pooled);
  TU_ASSERT_OK(ir_add_output(g, "last_hidden_state", f->y));
  TU_ASSERT_OK(ir_add_output(g, "packed", f->packed));
  TU_ASSERT_OK(ir_add_output(g, "sentence_embedding", f->pooled));
  return g;
}

static void test_valid_graphs_pass(void **state) {
  fx_t f;
  ir_graph_t *g = build(&f);
  TU_ASSERT_OK(ir_verify(g));
  ir_graph_t *c;
  TU_ASSERT_OK(ir_graph_clone(g, &c));
  TU_ASSERT_OK(ir_verify(c));
  ir_graph_destroy(c);
  ir_graph_destroy(g);

  TU_ASSERT_OK(ir_graph_create("empty", &g));
  TU_ASSERT_OK(ir_verify(g));
  ir_graph_destroy(g);

  /* Data larger than the logical size (padding) is fine. */
  g = build(&f);
  g->values[f.b].data_bytes = 8 * 4; /* exact */
  TU_ASSERT_OK(ir_verify(g));
  ir_graph_destroy(g);
}

/* Each corruption edits a valid graph and writes the message it expects. */
typedef void (*corrupt_fn)(ir_graph_t *g, const fx_t *f, char *want, size_t size);

static void operand_out_of_range(ir_graph_t *g, const fx_t *f, char *want, size_t size) {
  g->nodes[f->n_masked].operands[0] = 999;
  snprintf(want, size, "node %d (attn_mask): operand 0 is %%999, out of range (%zu values)",
           f->n_masked, g->num_values);
}

static void negative_operand(ir_graph_t *g, const fx_t *f, char *want, size_t size) {
  g->nodes[f->n_probs].operands[0] = -1;
  snprintf(want, size, "node %d (softmax): operand 0 is %%-1, out of range", f->n_probs);
}

static void use_before_definition(ir_graph_t *g, const fx_t *f, char *want, size_t size) {
  g->nodes[f->n_q].operands[0] = f->y; /* same type as emb, produced later */
  snprintf(want, size,
           "node %d (linear): operand 0 is %%%d, which node %d (add_ln) produces later "
           "(nodes out of execution order, or a cycle)",
           f->n_q, f->y, f->n_y);
}

static void nodes_out_of_order(ir_graph_t *g, const fx_t *f, char *want, size_t size) {
  /* Swap softmax and attn_mask and keep the producer links right. */
  ir_node_t t = g->nodes[f->n_masked];
  g->nodes[f->n_masked] = g->nodes[f->n_probs];
  g->nodes[f->n_probs] = t;
  g->values[f->probs].producer = f->n_masked;
  g->values[f->masked].producer = f->n_probs;
  snprintf(want, size, "node %d (softmax): operand 0 is %%%d, which node %d (attn_mask) produces later",
           f->n_masked, f->masked, f->n_probs);
}

static void self_cycle(ir_graph_t *g, const fx_t *f, char *want, size_t size) {
  g->nodes[f->n_probs].operands[0] = f->probs;
  snprintf(want, size, "node %d (softmax): operand 0 is its own result %%%d (a cycle)",
           f->n_probs, f->probs);
}

static void too_many_operands(ir_graph_t *g, const fx_t *f, char *want, size_t size) {
  g->nodes[f->n_probs].num_operands = 2;
  g->nodes[f->n_probs].operands[1] = f->masked;
  snprintf(want, size, "node %d (softmax) has 2 operands, the op takes 1", f->n_probs);
}

static void too_few_operands(ir_graph_t *g, const fx_t *f, char *want, size_t size) {
  g->nodes[f->n_emb].num_operands = 4;
  snprintf(want, size, "node %d (embed_ln) has 4 operands, the op takes 5 to 7", f->n_emb);
}

static void wrong_result_type(ir_graph_t *g, const fx_t *f, char *want, size_t size) {
  g->values[f->q].dims[2] = 9;
  snprintf(want, size,
           "node %d (linear): result %%%d has type f32[B,S,9], but its operands give f32[B,S,8]",
           f->n_q, f->q);
}

static void wrong_result_dtype(ir_graph_t *g, const fx_t *f, char *want, size_t size) {
  g->values[f->pooled].dtype = IR_I32;
  snprintf(want, size,
           "node %d (pool_mean): result %%%d has type i32[B,8], but its operands give f32[B,8]",
           f->n_pooled, f->pooled);
}

static void shape_rule_fails(ir_graph_t *g, const fx_t *f, char *want, size_t size) {
  g->nodes[f->n_q].operands[1] = f->b; /* a vector where a [N,K] weight goes */
  snprintf(want, size, "node %d (linear): linear: operand 1 has type f32[8], expected f32 of rank 2",
           f->n_q);
}

static void bad_attribute(ir_graph_t *g, const fx_t *f, char *want, size_t size) {
  g->nodes[f->n_scores].iattr[0] = 3; /* 3 heads do not divide 8 */
  snprintf(want, size, "node %d (attn_scores): attn_scores: 3 heads do not divide width 8",
           f->n_scores);
}

static void unused_attribute_slot(ir_graph_t *g, const fx_t *f, char *want, size_t size) {
  g->nodes[f->n_probs].fattr[1] = 2.0f;
  snprintf(want, size, "node %d (softmax): unused attribute slot fattr[1] is 2, not 0",
           f->n_probs);
}

static void broken_producer_link(ir_graph_t *g, const fx_t *f, char *want, size_t size) {
  g->values[f->scores].producer = f->n_y;
  snprintf(want, size,
           "node %d (attn_scores): result %%%d names node %d as its producer, not this node",
           f->n_scores, f->scores, f->n_y);
}

static void produced_twice(ir_graph_t *g, const fx_t *f, char *want, size_t size) {
  g->nodes[f->n_pooled].result = f->packed;
  snprintf(want, size, "node %d (pool_mean): result %%%d is already produced by node %d",
           f->n_pooled, f->packed, f->n_packed);
}

static void result_is_constant(ir_graph_t *g, const fx_t *f, char *want, size_t size) {
  g->nodes[f->n_probs].result = f->w;
  snprintf(want, size, "node %d (softmax): result %%%d is a constant, not a temporary",
           f->n_probs, f->w);
}

static void result_out_of_range(ir_graph_t *g, const fx_t *f, char *want, size_t size) {
  g->nodes[f->n_pooled].result = 4096;
  snprintf(want, size, "node %d (pool_mean): result %%4096 is out of range", f->n_pooled);
}

static void unknown_op(ir_graph_t *g, const fx_t *f, char *want, size_t size) {
  g->nodes[f->n_probs].op = (ir_op_t)250;
  snprintf(want, size, "node %d has unknown op 250", f->n_probs);
}

static void dangling_temporary(ir_graph_t *g, const fx_t *f, char *want, size_t size) {
  g->num_nodes--; /* drop pool_mean but leave its value behind */
  snprintf(want, size,
           "value %%%d is a temporary that no node produces (dangling; its producer field says "
           "%d)",
           f->pooled, f->n_pooled);
}

static void const_without_data(ir_graph_t *g, const fx_t *f, char *want, size_t size) {
  g->values[f->gamma].data = NULL;
  snprintf(want, size, "constant %%%d 'gamma' has no data", f->gamma);
}

static void const_data_too_small(ir_graph_t *g, const fx_t *f, char *want, size_t size) {
  g->values[f->b].data_bytes = 7 * 4;
  snprintf(want, size, "constant %%%d 'b' of type f32[8] has 28 bytes of data, needs 32", f->b);
}

static void panel_data_too_small(ir_graph_t *g, const fx_t *f, char *want, size_t size) {
  g->values[f->wp].data_bytes = 5 * 8 * 4; /* the unpadded size */
  snprintf(want, size,
           "constant %%%d 'wp' of type f32[5,8] panel(4) has 160 bytes of data, needs 256",
           f->wp);
}

static void const_symbolic_dims(ir_graph_t *g, const fx_t *f, char *want, size_t size) {
  g->values[f->b].dims[0] = IR_DIM_SEQ;
  snprintf(want, size, "constant %%%d 'b' has symbolic dims: f32[S]", f->b);
}

static void bad_dim(ir_graph_t *g, const fx_t *f, char *want, size_t size) {
  g->values[f->ctx].dims[2] = 0;
  snprintf(want, size, "value %%%d: dim 2 is 0; dims are positive sizes, B or S", f->ctx);
}

static void bad_rank(ir_graph_t *g, const fx_t *f, char *want, size_t size) {
  g->values[f->ctx].rank = 5;
  snprintf(want, size, "value %%%d has rank 5 (at most 4)", f->ctx);
}

static void panel_on_temporary(ir_graph_t *g, const fx_t *f, char *want, size_t size) {
  g->values[f->q].layout = IR_LAYOUT_PANEL;
  g->values[f->q].layout_param = 4;
  snprintf(want, size,
           "value %%%d has type f32[B,S,8] panel(4): the panel layout is only for f32 or i8 "
           "[N,K] constants",
           f->q);
}

static void panel_width_zero(ir_graph_t *g, const fx_t *f, char *want, size_t size) {
  g->values[f->wp].layout_param = 0;
  snprintf(want, size, "value %%%d 'wp' has panel width 0 (expected > 0)", f->wp);
}

static void input_wrong_dtype(ir_graph_t *g, const fx_t *f, char *want, size_t size) {
  g->values[f->ids].dtype = IR_F32;
  snprintf(want, size, "input %%%d 'input_ids' has type f32[B,S], expected i32[B,S]", f->ids);
}

static void input_wrong_shape(ir_graph_t *g, const fx_t *f, char *want, size_t size) {
  g->values[f->mask].dims[1] = 128;
  snprintf(want, size, "input %%%d 'attention_mask' has type i32[B,128], expected i32[B,S]",
           f->mask);
}

static void role_points_elsewhere(ir_graph_t *g, const fx_t *f, char *want, size_t size) {
  g->attention_mask = f->ids;
  snprintf(want, size, "input %%%d 'attention_mask' is not the graph's attention_mask (which is %%%d)",
           f->mask, f->ids);
}

static void role_not_an_input(ir_graph_t *g, const fx_t *f, char *want, size_t size) {
  g->token_type_ids = f->w;
  snprintf(want, size,
           "the graph's token_type_ids is %%%d, which is not an input named 'token_type_ids'",
           f->w);
}

static void output_out_of_range(ir_graph_t *g, const fx_t *f, char *want, size_t size) {
  g->outputs[1].value = 777;
  snprintf(want, size, "output 1 'packed' is %%777, out of range (%zu values)", g->num_values);
}

static void duplicate_output_names(ir_graph_t *g, const fx_t *f, char *want, size_t size) {
  free(g->outputs[2].name);
  g->outputs[2].name = strdup("last_hidden_state");
  snprintf(want, size, "outputs 0 and 2 are both named 'last_hidden_state'");
}

static void unnamed_output(ir_graph_t *g, const fx_t *f, char *want, size_t size) {
  g->outputs[1].name[0] = '\0';
  snprintf(want, size, "output 1 has no name");
}

static const struct {
  const char *name;
  corrupt_fn corrupt;
} corruptions[] = {
#define C(fn) {#fn, fn}
    C(operand_out_of_range), C(negative_operand),     C(use_before_definition),
    C(nodes_out_of_order),   C(self_cycle),           C(too_many_operands),
    C(too_few_operands),     C(wrong_result_type),    C(wrong_result_dtype),
    C(shape_rule_fails),     C(bad_attribute),        C(unused_attribute_slot),
    C(broken_producer_link), C(produced_twice),       C(result_is_constant),
    C(result_out_of_range),  C(unknown_op),           C(dangling_temporary),
    C(const_without_data),   C(const_data_too_small), C(panel_data_too_small),
    C(const_symbolic_dims),  C(bad_dim),              C(bad_rank),
    C(panel_on_temporary),   C(panel_width_zero),     C(input_wrong_dtype),
    C(input_wrong_shape),    C(role_points_elsewhere), C(role_not_an_input),
    C(output_out_of_range),  C(duplicate_output_names), C(unnamed_output),
#undef C
};

static void test_corruptions_are_caught(void **state) {
  int failures = 0;
  for (size_t i = 0; i < sizeof corruptions / sizeof corruptions[0]; i++) {
    fx_t f;
    ir_graph_t *g = build(&f);
    TU_ASSERT_OK(ir_verify(g));
    /* Keep what the corruption may overwrite so the graph still frees cleanly. */
    const void *data[64];
    assert_true(g->num_values <= 64);
    for (size_t v = 0; v < g->num_values; v++) data[v] = g->values[v].data;
    char want[512];
    corruptions[i].corrupt(g, &f, want, sizeof want);
    bertc_status_t s = ir_verify(g);
    if (!s) {
      print_error("%s: ir_verify passed, expected: %s\n", corruptions[i].name, want);
      failures++;
    } else if (!strstr(bertc_status_message(s), want) ||
               !strstr(bertc_status_message(s), "ir_verify: graph 'enc': ") ||
               bertc_status_code(s) != BERTC_STATUS_INTERNAL) {
      print_error("%s:\n  got:      %s (%s)\n  expected: %s\n", corruptions[i].name,
                  bertc_status_message(s), bertc_status_code_name(bertc_status_code(s)), want);
      failures++;
    }
    bertc_status_free(s);
    for (size_t v = 0; v < g->num_values; v++) g->values[v].data = data[v];
    ir_graph_destroy(g);
  }
  assert_int_equal(failures, 0);
}

/* The printer is total: a corrupted graph still prints (for debugging dumps). */
static void test_broken_graphs_still_print(void **state) {
  for (size_t i = 0; i < sizeof corruptions / sizeof corruptions[0]; i++) {
    fx_t f;
    ir_graph_t *g = build(&f);
    const void *data[64];
    for (size_t v = 0; v < g->num_values; v++) data[v] = g->values[v].data;
    char want[512];
    corruptions[i].corrupt(g, &f, want, sizeof want);
    char *text;
    TU_ASSERT_OK(ir_print_to_string(g, IR_PRINT_ELIDE_DATA, &text));
    assert_non_null(strstr(text, "graph \"enc\" {\n"));
    free(text);
    TU_ASSERT_OK(ir_print_to_string(g, 0, &text));
    /* Most corruptions cannot be written in the text form, so the text fails
     * to parse; a few (a stray attribute slot, a role index) print as the
     * repaired graph. Either way the parser never yields an invalid graph. */
    ir_graph_t *back = NULL;
    bertc_status_t s = ir_parse(text, strlen(text), "broken.ir", &back);
    if (s) {
      assert_null(back);
      bertc_status_free(s);
    } else {
      TU_ASSERT_OK(ir_verify(back));
      ir_graph_destroy(back);
    }
    free(text);
    for (size_t v = 0; v < g->num_values; v++) g->values[v].data = data[v];
    ir_graph_destroy(g);
  }
}

/* Passes build graphs through the parser in tests: a parsed graph verifies. */
static void test_parsed_graph_verifies(void **state) {
  fx_t f;
  ir_graph_t *g = build(&f);
  char *text;
  TU_ASSERT_OK(ir_print_to_string(g, 0, &text));
  ir_graph_t *back;
  TU_ASSERT_OK(ir_parse(text, strlen(text), "enc.ir", &back));
  TU_ASSERT_OK(ir_verify(back));
  free(text);
  ir_graph_destroy(back);
  ir_graph_destroy(g);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_valid_graphs_pass),
      cmocka_unit_test(test_corruptions_are_caught),
      cmocka_unit_test(test_broken_graphs_still_print),
      cmocka_unit_test(test_parsed_graph_verifies),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
