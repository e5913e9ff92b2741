/* Shared pieces of the architecture builders.
 *
 * Tensor binding: encoder tensors are looked up as "<prefix><name>" and then
 * "<name>" (bare-model checkpoints such as all-MiniLM-L6-v2 have no prefix);
 * LayerNorm weights also as the TF-era ".gamma"/".beta". Each checkpoint
 * tensor becomes one f32 constant the first time it is bound (F16/BF16 are
 * converted) and is reused after that, so ALBERT's shared layers and tied
 * decoders share one value. Shapes are checked against what the config says.
 *
 * The pieces follow HF's module code (modeling_bert.py and friends) op for
 * op, unfused: fusion is the passes' job, and an unfused graph is the one the
 * interpreter checks against PyTorch. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/build.h"
#include "base/base.h"

const char *fe_name(char *buf, size_t size, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, size, fmt, ap);
  va_end(ap);
  return buf;
}

/* Formats into buf; false when it does not fit. */
static bool fmt_fits(char *buf, size_t size, const char *a, const char *b) {
  int n = snprintf(buf, size, "%s%s", a, b);
  return n >= 0 && (size_t)n < size;
}

static const st_tensor_t *lookup(const fe_builder_t *b, fe_scope_t scope, const char *name,
                                 char *found, size_t found_size) {
  enum { N = 512 };
  char cands[4][N];
  int n = 0;
  bool prefixed = scope == FE_SCOPE_BASE && b->base_prefix[0];
  if (prefixed && fmt_fits(cands[n], N, b->base_prefix, name)) n++;
  if (fmt_fits(cands[n], N, "", name)) n++;
  /* LayerNorm.weight -> LayerNorm.gamma, LayerNorm.bias -> LayerNorm.beta */
  size_t len = strlen(name);
  const char *suffix = NULL;
  if (len > 16 && !strcmp(name + len - 16, "LayerNorm.weight")) suffix = "gamma";
  if (len > 14 && !strcmp(name + len - 14, "LayerNorm.bias")) suffix = "beta";
  if (suffix && len < N) {
    char alt[N];
    size_t stem = len - strlen(strrchr(name, '.') + 1);
    memcpy(alt, name, stem);
    alt[stem] = '\0';
    if (stem + strlen(suffix) < N) {
      strcat(alt, suffix);
      if (prefixed && fmt_fits(cands[n], N, b->base_prefix, alt)) n++;
      if (fmt_fits(cands[n], N, "", alt)) n++;
    }
  }
  for (int i = 0; i < n; i++) {
    const st_tensor_t *t = st_checkpoint_find(b->ckpt, cands[i]);
    if (t) {
      if (!fmt_fits(found, found_size, "", cands[i])) return NULL;
      return t;
    }
  }
  return NULL;
}

bool fe_has(const fe_builder_t *b, fe_scope_t scope, const char *name) {
  char found[512];
  return lookup(b, scope, name, found, sizeof found) != NULL;
}

static void format_shape(char *buf, size_t size, int rank, const uint64_t *u, const int64_t *s) {
  size_t used = (size_t)snprintf(buf, size, "[");
  for (int i = 0; i < rank && used < size; i++)
    used += (size_t)snprintf(buf + used, size - used, "%s%llu", i ? "," : "",
                             u ? (unsigned long long)u[i] : (unsigned long long)s[i]);
  if (used < size) snprintf(buf + used, size - used, "]");
}

static bertc_status_t bind(fe_builder_t *b, fe_scope_t scope, const char *name, int rank,
                           const int64_t *dims, bool optional, int32_t *out) {
  *out = IR_NONE;
  char found[512];
  const st_tensor_t *t = lookup(b, scope, name, found, sizeof found);
  if (!t) {
    if (optional) return BERTC_OK;
    return bertc_status_make(BERTC_STATUS_NOT_FOUND,
                             "%s: tensor '%s%s' is missing (expected by %s)", b->weights_source,
                             scope == FE_SCOPE_BASE ? b->base_prefix : "", name,
                             b->config_source);
  }
  for (size_t i = 0; i < b->num_bound; i++)
    if (!strcmp(b->bound_names[i], found)) {
      *out = b->bound_values[i];
      return BERTC_OK;
    }
  bool ok = t->rank == rank;
  for (int i = 0; ok && dims && i < rank; i++) ok = t->shape[i] == (uint64_t)dims[i];
  if (!ok) {
    char have[128], want[128];
    format_shape(have, sizeof have, t->rank, t->shape, NULL);
    if (dims)
      format_shape(want, sizeof want, rank, NULL, dims);
    else
      snprintf(want, sizeof want, "rank %d", rank);
    return bertc_status_make(BERTC_STATUS_DATA,
                             "%s: tensor '%s' has shape %s, expected %s (from %s)", t->file,
                             found, have, want, b->config_source);
  }
  if (t->dtype != ST_F32 && t->dtype != ST_F16 && t->dtype != ST_BF16)
    return bertc_status_make(BERTC_STATUS_UNSUPPORTED,
                             "%s: tensor '%s' has dtype %s; weights must be F32, F16 or BF16",
                             t->file, found, st_dtype_name(t->dtype));
  size_t bytes;
  if (!base_mul_size((size_t)t->numel, sizeof(float), &bytes))
    return bertc_status_make(BERTC_STATUS_DATA, "%s: tensor '%s' is too large", t->file, found);
  float *data;
  BERTC_RETURN_IF_ERROR(base_alloc(bytes, (void **)&data));
  bertc_status_t s = st_tensor_to_f32(t, data);
  if (s) {
    free(data);
    return s;
  }
  int64_t d[IR_MAX_RANK];
  for (int i = 0; i < rank; i++) d[i] = (int64_t)t->shape[i];
  BERTC_RETURN_IF_ERROR(ir_add_const(b->g, name, IR_F32, rank, d, data, bytes, out));
  if (b->num_bound == b->cap_bound) {
    size_t cap = b->cap_bound ? b->cap_bound * 2 : 64;
    char **names = realloc(b->bound_names, cap * sizeof(char *));
    if (names) b->bound_names = names;
    int32_t *values = realloc(b->bound_values, cap * sizeof(int32_t));
    if (values) b->bound_values = values;
    if (!names || !values) return bertc_status_make(BERTC_STATUS_OUT_OF_MEMORY, "out of memory");
    b->cap_bound = cap;
  }
  BERTC_RETURN_IF_ERROR(base_strdup(found, &b->bound_names[b->num_bound]));
  b->bound_values[b->num_bound++] = *out;
  return BERTC_OK;
}

bertc_status_t fe_bind(fe_builder_t *b, fe_scope_t scope, const char *name, int rank,
                       const int64_t *dims, int32_t *out) {
  return bind(b, scope, name, rank, dims, false, out);
}

bertc_status_t fe_bind_optional(fe_builder_t *b, fe_scope_t scope, const char *name, int rank,
                                const int64_t *dims, int32_t *out) {
  return bind(b, scope, name, rank, dims, true, out);
}

static bertc_status_t node(fe_builder_t *b, ir_op_t op, int n, const int32_t *operands,
                           int64_t i0, float f0, int32_t *out) {
  int64_t ia[IR_MAX_IATTRS] = {i0};
  float fa[IR_MAX_FATTRS] = {f0};
  return ir_add_node(b->g, op, n, operands, ia, fa, out);
}

bertc_status_t fe_linear(fe_builder_t *b, fe_scope_t scope, const char *prefix, int32_t x,
                         int64_t out_features, int64_t in_features, int32_t *out) {
  char name[256];
  int32_t w, bias;
  int64_t wd[2] = {out_features, in_features};
  BERTC_RETURN_IF_ERROR(fe_bind(b, scope, fe_name(name, sizeof name, "%sweight", prefix), 2, wd, &w));
  BERTC_RETURN_IF_ERROR(fe_bind(b, scope, fe_name(name, sizeof name, "%sbias", prefix), 1,
                                &out_features, &bias));
  return node(b, IR_OP_LINEAR, 3, (int32_t[]){x, w, bias}, IR_ACT_NONE, 0, out);
}

bertc_status_t fe_layer_norm(fe_builder_t *b, fe_scope_t scope, const char *prefix, int32_t x,
                             int64_t width, float eps, int32_t *out) {
  char name[256];
  int32_t g, beta;
  BERTC_RETURN_IF_ERROR(fe_bind(b, scope, fe_name(name, sizeof name, "%sweight", prefix), 1, &width, &g));
  BERTC_RETURN_IF_ERROR(fe_bind(b, scope, fe_name(name, sizeof name, "%sbias", prefix), 1, &width, &beta));
  return node(b, IR_OP_LAYER_NORM, 3, (int32_t[]){x, g, beta}, 0, eps, out);
}

bertc_status_t fe_unary(fe_builder_t *b, ir_act_t act, int32_t x, int32_t *out) {
  static const ir_op_t ops[] = {
      [IR_ACT_GELU] = IR_OP_GELU,       [IR_ACT_GELU_TANH] = IR_OP_GELU_TANH,
      [IR_ACT_GELU_FAST] = IR_OP_GELU_FAST, [IR_ACT_QUICK_GELU] = IR_OP_QUICK_GELU,
      [IR_ACT_RELU] = IR_OP_RELU,       [IR_ACT_SILU] = IR_OP_SILU,
      [IR_ACT_TANH] = IR_OP_TANH,
  };
  if (act == IR_ACT_NONE) {
    *out = x;
    return BERTC_OK;
  }
  return node(b, ops[act], 1, &x, 0, 0, out);
}

bertc_status_t fe_add(fe_builder_t *b, int32_t x, int32_t y, int32_t *out) {
  return node(b, IR_OP_ADD, 2, (int32_t[]){x, y}, 0, 0, out);
}

bertc_status_t fe_embeddings(fe_builder_t *b, const char *prefix, const char *ln_name,
                             int64_t width, bool token_types, float eps, int32_t *out) {
  const fe_config_t *c = b->cfg;
  char name[256];
  int32_t word, pos, x, t;
  int64_t wd[2] = {c->vocab_size, width};
  BERTC_RETURN_IF_ERROR(fe_bind(b, FE_SCOPE_BASE,
                                fe_name(name, sizeof name, "%sword_embeddings.weight", prefix), 2,
                                wd, &word));
  int64_t pd[2] = {c->max_position_embeddings, width};
  BERTC_RETURN_IF_ERROR(fe_bind(b, FE_SCOPE_BASE,
                                fe_name(name, sizeof name, "%sposition_embeddings.weight", prefix),
                                2, pd, &pos));
  BERTC_RETURN_IF_ERROR(node(b, IR_OP_GATHER, 2, (int32_t[]){word, b->ids}, 0, 0, &x));
  if (token_types) {
    int32_t types, te;
    int64_t td[2] = {c->type_vocab_size, width};
    BERTC_RETURN_IF_ERROR(fe_bind(
        b, FE_SCOPE_BASE, fe_name(name, sizeof name, "%stoken_type_embeddings.weight", prefix), 2,
        td, &types));
    BERTC_RETURN_IF_ERROR(node(b, IR_OP_GATHER, 2, (int32_t[]){types, b->type_ids}, 0, 0, &te));
    BERTC_RETURN_IF_ERROR(fe_add(b, x, te, &x));
  }
  int32_t pid, pe;
  BERTC_RETURN_IF_ERROR(node(b, IR_OP_POSITION_IDS, 1, &b->ids, c->position_padding_idx, 0, &pid));
  BERTC_RETURN_IF_ERROR(node(b, IR_OP_GATHER, 2, (int32_t[]){pos, pid}, 0, 0, &pe));
  BERTC_RETURN_IF_ERROR(fe_add(b, x, pe, &x));
  (void)t;
  return fe_layer_norm(b, FE_SCOPE_BASE, fe_name(name, sizeof name, "%s%s", prefix, ln_name), x,
                       width, eps, out);
}

bertc_status_t fe_encoder_layer(fe_builder_t *b, const fe_layer_names_t *nm, int32_t x,
                                int32_t *out) {
  const fe_config_t *c = b->cfg;
  int64_t h = c->hidden_size, inter = c->intermediate_size, heads = c->num_heads;
  float scale = (float)(1.0 / sqrt((double)(h / heads)));
  int32_t q, k, v, s, p, ctx, a, x1, f, f2;
  BERTC_RETURN_IF_ERROR(fe_linear(b, FE_SCOPE_BASE, nm->q, x, h, h, &q));
  BERTC_RETURN_IF_ERROR(fe_linear(b, FE_SCOPE_BASE, nm->k, x, h, h, &k));
  BERTC_RETURN_IF_ERROR(fe_linear(b, FE_SCOPE_BASE, nm->v, x, h, h, &v));
  BERTC_RETURN_IF_ERROR(node(b, IR_OP_ATTN_SCORES, 2, (int32_t[]){q, k}, heads, scale, &s));
  BERTC_RETURN_IF_ERROR(node(b, IR_OP_ATTN_MASK, 2, (int32_t[]){s, b->mask}, 0, 0, &s));
  BERTC_RETURN_IF_ERROR(node(b, IR_OP_SOFTMAX, 1, &s, 0, 0, &p));
  BERTC_RETURN_IF_ERROR(node(b, IR_OP_ATTN_CONTEXT, 2, (int32_t[]){p, v}, heads, 0, &ctx));
  BERTC_RETURN_IF_ERROR(fe_linear(b, FE_SCOPE_BASE, nm->attn_out, ctx, h, h, &a));
  BERTC_RETURN_IF_ERROR(fe_add(b, a, x, &a));
  BERTC_RETURN_IF_ERROR(fe_layer_norm(b, FE_SCOPE_BASE, nm->attn_ln, a, h, c->layer_norm_eps, &x1));
  BERTC_RETURN_IF_ERROR(fe_linear(b, FE_SCOPE_BASE, nm->ffn_in, x1, inter, h, &f));
  BERTC_RETURN_IF_ERROR(fe_unary(b, c->hidden_act, f, &f));
  BERTC_RETURN_IF_ERROR(fe_linear(b, FE_SCOPE_BASE, nm->ffn_out, f, h, inter, &f2));
  BERTC_RETURN_IF_ERROR(fe_add(b, f2, x1, &f2));
  return fe_layer_norm(b, FE_SCOPE_BASE, nm->out_ln, f2, h, c->layer_norm_eps, out);
}

bertc_status_t fe_pooler(fe_builder_t *b, const char *dense_prefix, int32_t hidden,
                         int32_t *out) {
  int32_t cls, d;
  int64_t h = b->cfg->hidden_size;
  BERTC_RETURN_IF_ERROR(node(b, IR_OP_SELECT_TOKEN, 1, &hidden, 0, 0, &cls));
  BERTC_RETURN_IF_ERROR(fe_linear(b, FE_SCOPE_BASE, dense_prefix, cls, h, h, &d));
  return fe_unary(b, IR_ACT_TANH, d, out);
}

bertc_status_t fe_sentence_embedding(fe_builder_t *b, int32_t hidden, unsigned modes,
                                     bool normalize, int32_t *out) {
  int32_t parts[4];
  int n = 0;
  if (modes & FE_POOL_CLS)
    BERTC_RETURN_IF_ERROR(node(b, IR_OP_SELECT_TOKEN, 1, &hidden, 0, 0, &parts[n++]));
  if (modes & FE_POOL_MAX)
    BERTC_RETURN_IF_ERROR(node(b, IR_OP_POOL_MAX, 2, (int32_t[]){hidden, b->mask}, 0, 0, &parts[n++]));
  if (modes & FE_POOL_MEAN)
    BERTC_RETURN_IF_ERROR(node(b, IR_OP_POOL_MEAN, 2, (int32_t[]){hidden, b->mask}, 0, 0, &parts[n++]));
  if (modes & FE_POOL_MEAN_SQRT)
    BERTC_RETURN_IF_ERROR(
        node(b, IR_OP_POOL_MEAN_SQRT, 2, (int32_t[]){hidden, b->mask}, 0, 0, &parts[n++]));
  if (n == 0)
    return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT, "no pooling mode for the embedding");
  int32_t e = parts[0];
  if (n > 1) BERTC_RETURN_IF_ERROR(node(b, IR_OP_CONCAT, n, parts, 0, 0, &e));
  if (normalize) BERTC_RETURN_IF_ERROR(node(b, IR_OP_L2_NORMALIZE, 1, &e, 0, 0, &e));
  *out = e;
  return BERTC_OK;
}

bertc_status_t fe_mlm_head(fe_builder_t *b, const char *dense, const char *ln, float eps,
                           ir_act_t act, const char *decoder_w, const char *bias_a,
                           const char *bias_b, int32_t tied, int32_t hidden, int64_t width,
                           int64_t inner, int32_t *out) {
  int64_t vocab = b->cfg->vocab_size;
  int32_t x, w, bias;
  BERTC_RETURN_IF_ERROR(fe_linear(b, FE_SCOPE_HEAD, dense, hidden, inner, width, &x));
  BERTC_RETURN_IF_ERROR(fe_unary(b, act, x, &x));
  BERTC_RETURN_IF_ERROR(fe_layer_norm(b, FE_SCOPE_HEAD, ln, x, inner, eps, &x));
  int64_t wd[2] = {vocab, inner};
  BERTC_RETURN_IF_ERROR(fe_bind_optional(b, FE_SCOPE_HEAD, decoder_w, 2, wd, &w));
  if (w == IR_NONE) w = tied; /* tied to the word embeddings, not stored */
  BERTC_RETURN_IF_ERROR(fe_bind_optional(b, FE_SCOPE_HEAD, bias_a, 1, &vocab, &bias));
  if (bias == IR_NONE && bias_b)
    BERTC_RETURN_IF_ERROR(fe_bind(b, FE_SCOPE_HEAD, bias_b, 1, &vocab, &bias));
  if (bias == IR_NONE)
    return bertc_status_make(BERTC_STATUS_NOT_FOUND, "%s: tensor '%s' is missing",
                             b->weights_source, bias_a);
  return node(b, IR_OP_LINEAR, 3, (int32_t[]){x, w, bias}, IR_ACT_NONE, 0, out);
}

bertc_status_t fe_add_output(fe_builder_t *b, const char *name, int32_t v) {
  return ir_add_output(b->g, name, v);
}

bertc_status_t fe_token_head(fe_builder_t *b, int32_t hidden, bertc_task_t task) {
  int64_t h = b->cfg->hidden_size;
  int32_t out, start, end;
  if (task == BERTC_TASK_TOKEN_CLASSIFICATION) {
    BERTC_RETURN_IF_ERROR(
        fe_linear(b, FE_SCOPE_HEAD, "classifier.", hidden, b->cfg->num_labels, h, &out));
    return fe_add_output(b, "logits", out);
  }
  BERTC_RETURN_IF_ERROR(fe_linear(b, FE_SCOPE_HEAD, "qa_outputs.", hidden, 2, h, &out));
  BERTC_RETURN_IF_ERROR(
      ir_add_node(b->g, IR_OP_SLICE_LAST, 1, &out, (int64_t[]){0, 1, 1}, NULL, &start));
  BERTC_RETURN_IF_ERROR(
      ir_add_node(b->g, IR_OP_SLICE_LAST, 1, &out, (int64_t[]){1, 1, 1}, NULL, &end));
  BERTC_RETURN_IF_ERROR(fe_add_output(b, "start_logits", start));
  return fe_add_output(b, "end_logits", end);
}
