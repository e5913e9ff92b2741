/* fuse-embeddings: the embedding block becomes one embed_ln.
 *
 * The frontend builds BERT's embeddings as HF writes them:
 *
 *   w = gather(word, ids)          t = gather(types, type_ids)   (optional)
 *   p = gather(pos, position_ids(ids){padding_idx})
 *   x = layer_norm((w + t) + p)    or   layer_norm(w + p) without token types
 *
 * and embed_ln(word, ids, pos, gamma, beta[, types, type_ids]){padding_idx,
 * eps} computes exactly that, in the same order of float additions (word,
 * then type, then position; the operands of each add may come either way
 * round since float addition commutes, but the association must be this
 * one). The match is exact: the position ids must be derived from the same
 * ids the word gather reads (embed_ln derives them itself, with the same
 * padding_idx: -1 for BERT, RoBERTa's pad id otherwise), and every
 * intermediate (gathers and adds) must be read only by the next step, so
 * nothing is computed twice. The position_ids node goes too unless
 * something else reads it. DistilBERT (no token types) gives the 5-operand
 * form. */
#include "passes/rewrite.h"

typedef struct embed_match {
  int32_t word_gather, type_gather, pos_gather, pos_ids, inner_add, outer_add;
} embed_match_t;

/* If v is a single-use gather(table, ids), its node; else IR_NONE. */
static int32_t gather_of(const rw_t *rw, int32_t v) {
  int32_t n = rw_def(rw, v, IR_OP_GATHER);
  return n != IR_NONE && rw_single_use(rw, v) ? n : IR_NONE;
}

/* v = gather(pos, position_ids(ids)): the gather node, or IR_NONE. */
static int32_t position_gather(const rw_t *rw, int32_t v, int32_t *pos_ids) {
  int32_t n = gather_of(rw, v);
  if (n == IR_NONE) return IR_NONE;
  *pos_ids = rw_def(rw, rw->g->nodes[n].operands[1], IR_OP_POSITION_IDS);
  return *pos_ids == IR_NONE ? IR_NONE : n;
}

/* Matches layer_norm node ln's input against the block above. */
static bool match(const rw_t *rw, int32_t ln, embed_match_t *m) {
  const ir_graph_t *g = rw->g;
  int32_t x = g->nodes[ln].operands[0];
  m->outer_add = rw_def(rw, x, IR_OP_ADD);
  if (m->outer_add == IR_NONE || !rw_single_use(rw, x)) return false;
  const ir_node_t *outer = &g->nodes[m->outer_add];
  for (int side = 0; side < 2; side++) {
    m->pos_gather = position_gather(rw, outer->operands[side], &m->pos_ids);
    if (m->pos_gather == IR_NONE) continue;
    int32_t rest = outer->operands[1 - side];
    int32_t ids = g->nodes[m->pos_ids].operands[0];
    /* Without token types: (w + p). */
    m->word_gather = gather_of(rw, rest);
    m->type_gather = m->inner_add = IR_NONE;
    if (m->word_gather != IR_NONE) {
      if (g->nodes[m->word_gather].operands[1] == ids) return true;
      continue;
    }
    /* With token types: ((w + t) + p). */
    m->inner_add = rw_def(rw, rest, IR_OP_ADD);
    if (m->inner_add == IR_NONE || !rw_single_use(rw, rest)) continue;
    const ir_node_t *inner = &g->nodes[m->inner_add];
    for (int w = 0; w < 2; w++) {
      m->word_gather = gather_of(rw, inner->operands[w]);
      m->type_gather = gather_of(rw, inner->operands[1 - w]);
      if (m->word_gather != IR_NONE && m->type_gather != IR_NONE &&
          g->nodes[m->word_gather].operands[1] == ids)
        return true;
    }
  }
  return false;
}

bertc_status_t pass_fuse_embeddings(ir_graph_t *g, const pass_options_t *o) {
  (void)o;
  rw_t rw;
  BERTC_RETURN_IF_ERROR(rw_begin(&rw, g));
  for (int32_t i = 0; (size_t)i < rw.num_nodes; i++) {
    embed_match_t m;
    if (rw.dead[i] || g->nodes[i].op != IR_OP_LAYER_NORM || !match(&rw, i, &m)) continue;
    const ir_node_t *ln = &g->nodes[i], *word = &g->nodes[m.word_gather];
    int32_t ops[7] = {word->operands[0], word->operands[1],
                      g->nodes[m.pos_gather].operands[0], ln->operands[1], ln->operands[2]};
    int count = 5;
    if (m.type_gather != IR_NONE) {
      ops[5] = g->nodes[m.type_gather].operands[0];
      ops[6] = g->nodes[m.type_gather].operands[1];
      count = 7;
    }
    int64_t padding_idx = g->nodes[m.pos_ids].iattr[0];
    float eps = ln->fattr[0];
    if (!rw_replace(&rw, i, IR_OP_EMBED_LN, count, ops, &padding_idx, &eps)) continue;
    rw_absorb(&rw, m.outer_add);
    if (m.inner_add != IR_NONE) rw_absorb(&rw, m.inner_add);
    rw_absorb(&rw, m.pos_gather);
    rw_absorb(&rw, m.pos_ids);
    if (m.type_gather != IR_NONE) rw_absorb(&rw, m.type_gather);
    rw_absorb(&rw, m.word_gather);
  }
  return rw_end(&rw, BERTC_OK);
}
