/* The graph builder: shared pieces, and fe_build, which assembles them for
 * an architecture's table (arch_*.c).
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
#include <assert.h>
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
  BERTC_RETURN_IF_ERROR(
      fe_bind(b, scope, fe_name(name, sizeof name, "%sweight", prefix), 2, wd, &w));
  BERTC_RETURN_IF_ERROR(fe_bind(b, scope, fe_name(name, sizeof name, "%sbias", prefix), 1,
                                &out_features, &bias));
  return node(b, IR_OP_LINEAR, 3, (int32_t[]){x, w, bias}, IR_ACT_NONE, 0, out);
}

bertc_status_t fe_layer_norm(fe_builder_t *b, fe_scope_t scope, const char *prefix, int32_t x,
                             int64_t width, float eps, int32_t *out) {
  char name[256];
  int32_t g, beta;
  BERTC_RETURN_IF_ERROR(
      fe_bind(b, scope, fe_name(name, sizeof name, "%sweight", prefix), 1, &width, &g));
  BERTC_RETURN_IF_ERROR(
      fe_bind(b, scope, fe_name(name, sizeof name, "%sbias", prefix), 1, &width, &beta));
  return node(b, IR_OP_LAYER_NORM, 3, (int32_t[]){x, g, beta}, 0, eps, out);
}

bertc_status_t fe_unary(fe_builder_t *b, ir_act_t act, int32_t x, int32_t *out) {
  if (act == IR_ACT_NONE) {
    *out = x;
    return BERTC_OK;
  }
  return node(b, ir_act_info(act)->op, 1, &x, 0, 0, out);
}

bertc_status_t fe_add(fe_builder_t *b, int32_t x, int32_t y, int32_t *out) {
  return node(b, IR_OP_ADD, 2, (int32_t[]){x, y}, 0, 0, out);
}

/* Every architecture's embeddings are "embeddings.*"; MLM decoders tie to these. */
#define WORD_EMBEDDINGS "embeddings.word_embeddings.weight"

bertc_status_t fe_embeddings(fe_builder_t *b, int32_t *out) {
  const fe_config_t *c = b->cfg;
  int64_t width = c->embedding_size;
  int32_t word, pos, x;
  int64_t wd[2] = {c->vocab_size, width};
  BERTC_RETURN_IF_ERROR(fe_bind(b, FE_SCOPE_BASE, WORD_EMBEDDINGS, 2, wd, &word));
  int64_t pd[2] = {c->max_position_embeddings, width};
  BERTC_RETURN_IF_ERROR(
      fe_bind(b, FE_SCOPE_BASE, "embeddings.position_embeddings.weight", 2, pd, &pos));
  BERTC_RETURN_IF_ERROR(node(b, IR_OP_GATHER, 2, (int32_t[]){word, b->ids}, 0, 0, &x));
  if (b->type_ids != IR_NONE) {
    int32_t types, te;
    int64_t td[2] = {c->type_vocab_size, width};
    BERTC_RETURN_IF_ERROR(
        fe_bind(b, FE_SCOPE_BASE, "embeddings.token_type_embeddings.weight", 2, td, &types));
    BERTC_RETURN_IF_ERROR(node(b, IR_OP_GATHER, 2, (int32_t[]){types, b->type_ids}, 0, 0, &te));
    BERTC_RETURN_IF_ERROR(fe_add(b, x, te, &x));
  }
  int32_t pid, pe;
  BERTC_RETURN_IF_ERROR(node(b, IR_OP_POSITION_IDS, 1, &b->ids, c->position_padding_idx, 0, &pid));
  BERTC_RETURN_IF_ERROR(node(b, IR_OP_GATHER, 2, (int32_t[]){pos, pid}, 0, 0, &pe));
  BERTC_RETURN_IF_ERROR(fe_add(b, x, pe, &x));
  return fe_layer_norm(b, FE_SCOPE_BASE, "embeddings.LayerNorm.", x, width, c->layer_norm_eps, out);
}

bertc_status_t fe_encoder_layer(fe_builder_t *b, const char *prefix, const fe_layer_names_t *nm,
                                int32_t x, int32_t *out) {
  const fe_config_t *c = b->cfg;
  int64_t h = c->hidden_size, inter = c->intermediate_size, heads = c->num_heads;
  float scale = (float)(1.0 / sqrt((double)(h / heads)));
  float eps = c->layer_norm_eps;
  char name[256];
#define PART(part) fe_name(name, sizeof name, "%s%s", prefix, nm->part)
  int32_t q, k, v, s, p, ctx, a, x1, f, f2;
  BERTC_RETURN_IF_ERROR(fe_linear(b, FE_SCOPE_BASE, PART(q), x, h, h, &q));
  BERTC_RETURN_IF_ERROR(fe_linear(b, FE_SCOPE_BASE, PART(k), x, h, h, &k));
  BERTC_RETURN_IF_ERROR(fe_linear(b, FE_SCOPE_BASE, PART(v), x, h, h, &v));
  BERTC_RETURN_IF_ERROR(node(b, IR_OP_ATTN_SCORES, 2, (int32_t[]){q, k}, heads, scale, &s));
  BERTC_RETURN_IF_ERROR(node(b, IR_OP_ATTN_MASK, 2, (int32_t[]){s, b->mask}, 0, 0, &s));
  BERTC_RETURN_IF_ERROR(node(b, IR_OP_SOFTMAX, 1, &s, 0, 0, &p));
  BERTC_RETURN_IF_ERROR(node(b, IR_OP_ATTN_CONTEXT, 2, (int32_t[]){p, v}, heads, 0, &ctx));
  BERTC_RETURN_IF_ERROR(fe_linear(b, FE_SCOPE_BASE, PART(attn_out), ctx, h, h, &a));
  BERTC_RETURN_IF_ERROR(fe_add(b, a, x, &a));
  BERTC_RETURN_IF_ERROR(fe_layer_norm(b, FE_SCOPE_BASE, PART(attn_ln), a, h, eps, &x1));
  BERTC_RETURN_IF_ERROR(fe_linear(b, FE_SCOPE_BASE, PART(ffn_in), x1, inter, h, &f));
  BERTC_RETURN_IF_ERROR(fe_unary(b, c->hidden_act, f, &f));
  BERTC_RETURN_IF_ERROR(fe_linear(b, FE_SCOPE_BASE, PART(ffn_out), f, h, inter, &f2));
  BERTC_RETURN_IF_ERROR(fe_add(b, f2, x1, &f2));
  return fe_layer_norm(b, FE_SCOPE_BASE, PART(out_ln), f2, h, eps, out);
}
#undef PART

bertc_status_t fe_pooler(fe_builder_t *b, const char *dense_prefix, int32_t hidden, int32_t *out) {
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
    BERTC_RETURN_IF_ERROR(
        node(b, IR_OP_POOL_MAX, 2, (int32_t[]){hidden, b->mask}, 0, 0, &parts[n++]));
  if (modes & FE_POOL_MEAN)
    BERTC_RETURN_IF_ERROR(
        node(b, IR_OP_POOL_MEAN, 2, (int32_t[]){hidden, b->mask}, 0, 0, &parts[n++]));
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

bertc_status_t fe_mlm_head(fe_builder_t *b, const fe_mlm_names_t *nm, int32_t hidden,
                           int32_t *out) {
  const fe_config_t *c = b->cfg;
  int64_t vocab = c->vocab_size, h = c->hidden_size, e = c->embedding_size;
  int32_t tied, x, w, bias;
  BERTC_RETURN_IF_ERROR(
      fe_bind(b, FE_SCOPE_BASE, WORD_EMBEDDINGS, 2, (int64_t[]){vocab, e}, &tied));
  BERTC_RETURN_IF_ERROR(fe_linear(b, FE_SCOPE_HEAD, nm->dense, hidden, e, h, &x));
  BERTC_RETURN_IF_ERROR(fe_unary(b, nm->exact_gelu ? IR_ACT_GELU : c->hidden_act, x, &x));
  BERTC_RETURN_IF_ERROR(
      fe_layer_norm(b, FE_SCOPE_HEAD, nm->layer_norm, x, e, c->layer_norm_eps, &x));
  int64_t wd[2] = {vocab, e};
  BERTC_RETURN_IF_ERROR(fe_bind_optional(b, FE_SCOPE_HEAD, nm->decoder, 2, wd, &w));
  if (w == IR_NONE) w = tied; /* tied to the word embeddings, not stored */
  BERTC_RETURN_IF_ERROR(fe_bind_optional(b, FE_SCOPE_HEAD, nm->bias, 1, &vocab, &bias));
  if (bias == IR_NONE && nm->decoder_bias)
    BERTC_RETURN_IF_ERROR(fe_bind(b, FE_SCOPE_HEAD, nm->decoder_bias, 1, &vocab, &bias));
  if (bias == IR_NONE)
    return bertc_status_make(BERTC_STATUS_NOT_FOUND, "%s: tensor '%s' is missing",
                             b->weights_source, nm->bias);
  return node(b, IR_OP_LINEAR, 3, (int32_t[]){x, w, bias}, IR_ACT_NONE, 0, out);
}

bertc_status_t fe_token_head(fe_builder_t *b, int32_t hidden, bertc_task_t task) {
  int64_t h = b->cfg->hidden_size;
  int32_t out, start, end;
  if (task == BERTC_TASK_TOKEN_CLASSIFICATION) {
    BERTC_RETURN_IF_ERROR(
        fe_linear(b, FE_SCOPE_HEAD, "classifier.", hidden, b->cfg->num_labels, h, &out));
    return ir_add_output(b->g, "logits", out);
  }
  BERTC_RETURN_IF_ERROR(fe_linear(b, FE_SCOPE_HEAD, "qa_outputs.", hidden, 2, h, &out));
  BERTC_RETURN_IF_ERROR(
      ir_add_node(b->g, IR_OP_SLICE_LAST, 1, &out, (int64_t[]){0, 1, 1}, NULL, &start));
  BERTC_RETURN_IF_ERROR(
      ir_add_node(b->g, IR_OP_SLICE_LAST, 1, &out, (int64_t[]){1, 1, 1}, NULL, &end));
  BERTC_RETURN_IF_ERROR(ir_add_output(b->g, "start_logits", start));
  return ir_add_output(b->g, "end_logits", end);
}

/* ---- architectures ---------------------------------------------------------- */

static const fe_arch_builder_t *const arch_builders[] = {
    [FE_ARCH_BERT] = &fe_arch_bert,
    [FE_ARCH_ROBERTA] = &fe_arch_roberta,
    [FE_ARCH_XLM_ROBERTA] = &fe_arch_roberta,
    [FE_ARCH_DISTILBERT] = &fe_arch_distilbert,
    [FE_ARCH_ALBERT] = &fe_arch_albert,
    [FE_ARCH_ELECTRA] = &fe_arch_electra,
};

const fe_arch_builder_t *fe_arch_builder(fe_arch_t arch) {
  assert((size_t)arch < BASE_ARRAY_LEN(arch_builders) && arch_builders[arch]);
  return arch_builders[arch];
}

void fe_builder_init(fe_builder_t *b, ir_graph_t *g, const fe_config_t *cfg, st_checkpoint_t *ckpt,
                     const char *config_source) {
  memset(b, 0, sizeof *b);
  b->g = g;
  b->cfg = cfg;
  b->arch = fe_arch_builder(cfg->arch);
  b->ckpt = ckpt;
  b->weights_source = st_checkpoint_source(ckpt);
  b->config_source = config_source;
  b->ids = b->type_ids = b->mask = IR_NONE;
  char probe[128];
  snprintf(probe, sizeof probe, "%s%s", b->arch->base_prefix, WORD_EMBEDDINGS);
  b->base_prefix = st_checkpoint_find(ckpt, probe) ? b->arch->base_prefix : "";
}

void fe_builder_deinit(fe_builder_t *b) {
  for (size_t i = 0; i < b->num_bound; i++) free(b->bound_names[i]);
  free(b->bound_names);
  free(b->bound_values);
  b->bound_names = NULL;
  b->bound_values = NULL;
  b->num_bound = b->cap_bound = 0;
}

/* Whether the checkpoint has "<prefix>weight". */
static bool has_weight(const fe_builder_t *b, fe_scope_t scope, const char *prefix) {
  char name[256];
  return prefix && fe_has(b, scope, fe_name(name, sizeof name, "%sweight", prefix));
}

unsigned fe_detect_heads(const fe_builder_t *b) {
  /* A head counts when any architecture's tensor for it is present. */
  unsigned heads = 0;
  for (size_t i = 0; i < BASE_ARRAY_LEN(arch_builders); i++) {
    const fe_arch_builder_t *a = arch_builders[i];
    if (has_weight(b, FE_SCOPE_BASE, a->pooler)) heads |= FE_HEAD_POOLER;
    if (has_weight(b, FE_SCOPE_HEAD, a->mlm.dense)) heads |= FE_HEAD_MLM;
    if (has_weight(b, FE_SCOPE_HEAD, a->nsp)) heads |= FE_HEAD_NSP;
    char dense[128];
    if (a->discriminator &&
        has_weight(b, FE_SCOPE_HEAD, fe_name(dense, sizeof dense, "%sdense.", a->discriminator)))
      heads |= FE_HEAD_DISCRIMINATOR;
    if (has_weight(b, FE_SCOPE_HEAD, a->cls_dense)) heads |= FE_HEAD_SEQ_CLS;
  }
  if (has_weight(b, FE_SCOPE_HEAD, "qa_outputs.")) heads |= FE_HEAD_QA;
  if (has_weight(b, FE_SCOPE_HEAD, "classifier.") && !(heads & FE_HEAD_SEQ_CLS)) {
    /* A bare "classifier" is a sequence classifier on the pooler or a token
     * classifier: the architecture name decides, else the architecture's
     * sequence classifier (on the pooler or not). */
    if (strstr(b->cfg->architecture, "TokenClassification") || b->arch->cls_dense)
      heads |= FE_HEAD_TOKEN_CLS;
    else
      heads |= FE_HEAD_SEQ_CLS;
  }
  return heads;
}

/* The encoder: embeddings, the projection to the hidden width, the layers. */
static bertc_status_t encoder(fe_builder_t *b, int32_t *out) {
  const fe_config_t *c = b->cfg;
  const fe_arch_builder_t *a = b->arch;
  int64_t h = c->hidden_size, e = c->embedding_size;
  int32_t x;
  BERTC_RETURN_IF_ERROR(fe_embeddings(b, &x));
  if (a->projection && (!a->projection_if_stored || has_weight(b, FE_SCOPE_BASE, a->projection)))
    BERTC_RETURN_IF_ERROR(fe_linear(b, FE_SCOPE_BASE, a->projection, x, h, e, &x));
  else if (e != h)
    return bertc_status_make(BERTC_STATUS_NOT_FOUND,
                             "%s: tensor '%sweight' is missing (embedding_size %lld != "
                             "hidden_size %lld)",
                             b->weights_source, a->projection ? a->projection : "", (long long)e,
                             (long long)h);
  for (int i = 0; i < c->num_layers; i++) {
    int group = a->inner_layers
                    ? (int)((double)i / ((double)c->num_layers / (double)c->num_hidden_groups))
                    : i;
    for (int j = 0; j < c->inner_group_num; j++) {
      char prefix[128];
      if (a->inner_layers)
        snprintf(prefix, sizeof prefix, "%s%d.%s%d.", a->layers, group, a->inner_layers, j);
      else
        snprintf(prefix, sizeof prefix, "%s%d.", a->layers, group);
      BERTC_RETURN_IF_ERROR(fe_encoder_layer(b, prefix, a->layer, x, &x));
    }
  }
  *out = x;
  return BERTC_OK;
}

static bertc_status_t sequence_classifier(fe_builder_t *b, int32_t x, int32_t *out) {
  const fe_arch_builder_t *a = b->arch;
  int64_t h = b->cfg->hidden_size, labels = b->cfg->num_labels;
  int32_t cls;
  if (a->cls_dense) {
    BERTC_RETURN_IF_ERROR(ir_add_node(b->g, IR_OP_SELECT_TOKEN, 1, &x, NULL, NULL, &cls));
    BERTC_RETURN_IF_ERROR(fe_linear(b, FE_SCOPE_HEAD, a->cls_dense, cls, h, h, &cls));
    BERTC_RETURN_IF_ERROR(fe_unary(b, a->cls_act, cls, &cls));
  } else {
    BERTC_RETURN_IF_ERROR(fe_pooler(b, a->pooler, x, &cls));
  }
  return fe_linear(b, FE_SCOPE_HEAD, a->cls_out, cls, labels, h, out);
}

static bertc_status_t next_sentence(fe_builder_t *b, int32_t x, int32_t *out) {
  int32_t pooled;
  BERTC_RETURN_IF_ERROR(fe_pooler(b, b->arch->pooler, x, &pooled));
  return fe_linear(b, FE_SCOPE_HEAD, b->arch->nsp, pooled, 2, b->cfg->hidden_size, out);
}

static bertc_status_t discriminator(fe_builder_t *b, int32_t x, int32_t *out) {
  const char *p = b->arch->discriminator;
  int64_t h = b->cfg->hidden_size;
  char name[128];
  int32_t d;
  BERTC_RETURN_IF_ERROR(
      fe_linear(b, FE_SCOPE_HEAD, fe_name(name, sizeof name, "%sdense.", p), x, h, h, &d));
  BERTC_RETURN_IF_ERROR(fe_unary(b, b->cfg->hidden_act, d, &d));
  BERTC_RETURN_IF_ERROR(fe_linear(
      b, FE_SCOPE_HEAD, fe_name(name, sizeof name, "%sdense_prediction.", p), d, 1, h, &d));
  return ir_add_node(b->g, IR_OP_SLICE_LAST, 1, &d, (int64_t[]){0, 1, 1}, NULL, out);
}

/* Whether the architecture has the head of `task`. */
static bool has_head(const fe_arch_builder_t *a, bertc_task_t task) {
  switch (task) {
  case BERTC_TASK_ENCODER:
  case BERTC_TASK_EMBEDDING:
  case BERTC_TASK_SEQUENCE_CLASSIFICATION:
  case BERTC_TASK_TOKEN_CLASSIFICATION:
  case BERTC_TASK_QUESTION_ANSWERING: return true;
  case BERTC_TASK_FILL_MASK: return a->mlm.dense;
  case BERTC_TASK_NSP: return a->nsp;
  case BERTC_TASK_PRETRAINING: return a->mlm.dense && a->nsp;
  case BERTC_TASK_DISCRIMINATOR: return a->discriminator;
  default: return false;
  }
}

bertc_status_t fe_build(fe_builder_t *b, const fe_build_request_t *r) {
  const fe_arch_builder_t *a = b->arch;
  int32_t x, out;
  BERTC_RETURN_IF_ERROR(encoder(b, &x));
  if (!has_head(a, r->task))
    return bertc_status_make(BERTC_STATUS_UNSUPPORTED, "%s models have no %s head",
                             fe_arch_name(b->cfg->arch), bertc_task_name(r->task));
  switch (r->task) {
  case BERTC_TASK_ENCODER:
    BERTC_RETURN_IF_ERROR(ir_add_output(b->g, "last_hidden_state", x));
    if (!has_weight(b, FE_SCOPE_BASE, a->pooler)) return BERTC_OK;
    BERTC_RETURN_IF_ERROR(fe_pooler(b, a->pooler, x, &out));
    return ir_add_output(b->g, "pooler_output", out);
  case BERTC_TASK_EMBEDDING:
    BERTC_RETURN_IF_ERROR(fe_sentence_embedding(b, x, r->pooling, r->normalize, &out));
    return ir_add_output(b->g, "sentence_embedding", out);
  case BERTC_TASK_FILL_MASK:
    BERTC_RETURN_IF_ERROR(fe_mlm_head(b, &a->mlm, x, &out));
    return ir_add_output(b->g, "logits", out);
  case BERTC_TASK_PRETRAINING:
    BERTC_RETURN_IF_ERROR(fe_mlm_head(b, &a->mlm, x, &out));
    BERTC_RETURN_IF_ERROR(ir_add_output(b->g, "prediction_logits", out));
    BERTC_RETURN_IF_ERROR(next_sentence(b, x, &out));
    return ir_add_output(b->g, "seq_relationship_logits", out);
  case BERTC_TASK_NSP:
    BERTC_RETURN_IF_ERROR(next_sentence(b, x, &out));
    return ir_add_output(b->g, "logits", out);
  case BERTC_TASK_SEQUENCE_CLASSIFICATION:
    BERTC_RETURN_IF_ERROR(sequence_classifier(b, x, &out));
    return ir_add_output(b->g, "logits", out);
  case BERTC_TASK_DISCRIMINATOR:
    BERTC_RETURN_IF_ERROR(discriminator(b, x, &out));
    return ir_add_output(b->g, "logits", out);
  default: return fe_token_head(b, x, r->task);
  }
}
