/* The reference interpreter: naive, obviously-correct C for every op.
 *
 * It is the oracle of every test and the engine of constant folding, so it
 * favours clarity over speed: plain loops, double accumulators for dot
 * products and reductions, and the formulas exactly as PyTorch / HF write
 * them. ir_interpret binds B and S, allocates every value it computes, walks
 * the nodes in order, and frees temporaries after the run. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ir/ir.h"
#include "base/base.h"

/* A bound view of a value during interpretation. */
typedef struct view {
  ir_dtype_t dtype;
  int rank;
  int64_t dims[IR_MAX_RANK];
  void *data;
  const ir_value_t *value; /* for layouts */
} view_t;

typedef bertc_status_t (*ref_fn)(const ir_node_t *n, const view_t *in, view_t *out);

#define IR_OP(e, name, mn, mx, ia, fa, shape, kernel, in_place, doc)                    \
  static bertc_status_t ref_##kernel(const ir_node_t *n, const view_t *in, view_t *out);
#include "ir/ops.def"
#undef IR_OP

static const ref_fn op_refs[IR_OP_COUNT] = {
#define IR_OP(e, name, mn, mx, ia, fa, shape, kernel, in_place, doc) ref_##kernel,
#include "ir/ops.def"
#undef IR_OP
};

static int64_t numel(const view_t *v) {
  int64_t n = 1;
  for (int i = 0; i < v->rank; i++) n *= v->dims[i];
  return n;
}
static int64_t last(const view_t *v) { return v->dims[v->rank - 1]; }
static const float *F(const view_t *v) { return v->data; }
static const int32_t *I(const view_t *v) { return v->data; }
static float *FO(view_t *v) { return v->data; }

/* The activations of ir/acts.def as PyTorch computes them, act_<name>. */
static double act_none(double x) { return x; }
static double act_gelu(double x) { return x * 0.5 * (1.0 + erf(x / sqrt(2.0))); }
static double act_gelu_tanh(double x) {
  const double sqrt_2_over_pi = 0.79788456080286535588;
  return 0.5 * x * (1.0 + tanh(sqrt_2_over_pi * (x + 0.044715 * x * x * x)));
}
static double act_gelu_fast(double x) {
  return 0.5 * x * (1.0 + tanh(x * 0.7978845608 * (1.0 + 0.044715 * x * x)));
}
static double act_quick_gelu(double x) { return x / (1.0 + exp(-1.702 * x)); }
static double act_relu(double x) { return x > 0 ? x : 0; }
static double act_silu(double x) { return x / (1.0 + exp(-x)); }
static double act_tanh(double x) { return tanh(x); }

static double (*const act_fns[IR_ACT_COUNT])(double) = {
    [IR_ACT_NONE] = act_none,
#define IR_ACT(e, name, config_names, doc) [IR_ACT_##e] = act_##name,
#include "ir/acts.def"
#undef IR_ACT
};

/* act: a valid ir_act_t (the shape rules check linear's attribute). */
static double act_apply(int64_t act, double x) { return act_fns[act](x); }

static bertc_status_t check_id(int64_t id, int64_t rows, const char *what) {
  if (id < 0 || id >= rows)
    return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT, "%s %lld is out of range [0, %lld)",
                             what, (long long)id, (long long)rows);
  return BERTC_OK;
}

static void layer_norm_row(const float *x, const float *g, const float *b, float *out,
                           int64_t n, double eps) {
  double mean = 0, var = 0;
  for (int64_t i = 0; i < n; i++) mean += x[i];
  mean /= (double)n;
  for (int64_t i = 0; i < n; i++) var += (x[i] - mean) * (x[i] - mean);
  var /= (double)n;
  double inv = 1.0 / sqrt(var + eps);
  for (int64_t i = 0; i < n; i++) out[i] = (float)((x[i] - mean) * inv * g[i] + b[i]);
}

/* Position id of token s of a sequence, as HF computes it. */
static void position_ids_row(const int32_t *ids, int32_t *out, int64_t seq, int64_t pad) {
  int64_t count = 0;
  for (int64_t s = 0; s < seq; s++) {
    if (pad < 0) {
      out[s] = (int32_t)s;
    } else if (ids[s] != pad) {
      count++;
      out[s] = (int32_t)(count + pad);
    } else {
      out[s] = (int32_t)pad;
    }
  }
}

static bertc_status_t ref_gather(const ir_node_t *n, const view_t *in, view_t *out) {
  int64_t rows = in[0].dims[0], e = in[0].dims[1], count = numel(&in[1]);
  for (int64_t t = 0; t < count; t++) {
    int64_t id = I(&in[1])[t];
    BERTC_RETURN_IF_ERROR(check_id(id, rows, "token id"));
    memcpy(FO(out) + t * e, F(&in[0]) + id * e, (size_t)e * sizeof(float));
  }
  return BERTC_OK;
}

static bertc_status_t ref_position_ids(const ir_node_t *n, const view_t *in, view_t *out) {
  int64_t b = in[0].dims[0], s = in[0].dims[1];
  for (int64_t i = 0; i < b; i++)
    position_ids_row(I(&in[0]) + i * s, (int32_t *)out->data + i * s, s, n->iattr[0]);
  return BERTC_OK;
}

/* embed_ln on in[] = (word, ids, pos, gamma, beta[, type_table, type_ids]); with
 * word_q, the word rows are word_q[v] * word_scale[v] instead (embed_ln_i8). */
static bertc_status_t embed_ln_rows(const ir_node_t *n, const view_t *in, int num_operands,
                                    const int8_t *word_q, const float *word_scale,
                                    view_t *out);

static bertc_status_t ref_embed_ln(const ir_node_t *n, const view_t *in, view_t *out) {
  return embed_ln_rows(n, in, n->num_operands, NULL, NULL, out);
}

static bertc_status_t ref_embed_ln_i8(const ir_node_t *n, const view_t *in, view_t *out) {
  view_t rest[7];
  rest[0] = in[0]; /* for its dims: [V,E] */
  for (int i = 2; i < n->num_operands; i++) rest[i - 1] = in[i];
  return embed_ln_rows(n, rest, n->num_operands - 1, in[0].data, F(&in[1]), out);
}

static bertc_status_t embed_ln_rows(const ir_node_t *n, const view_t *in, int num_operands,
                                    const int8_t *word_q, const float *word_scale,
                                    view_t *out) {
  int64_t batch = in[1].dims[0], seq = in[1].dims[1], e = in[0].dims[1];
  int32_t *pos = malloc((size_t)seq * sizeof(int32_t));
  float *row = malloc((size_t)e * sizeof(float));
  if (!pos || !row) {
    free(pos);
    free(row);
    return bertc_status_make(BERTC_STATUS_OUT_OF_MEMORY, "out of memory");
  }
  bertc_status_t s = BERTC_OK;
  for (int64_t b = 0; b < batch && !s; b++) {
    const int32_t *ids = I(&in[1]) + b * seq;
    position_ids_row(ids, pos, seq, n->iattr[0]);
    for (int64_t t = 0; t < seq && !s; t++) {
      s = check_id(ids[t], in[0].dims[0], "token id");
      if (!s) s = check_id(pos[t], in[2].dims[0], "position id");
      int64_t type = num_operands == 7 ? I(&in[6])[b * seq + t] : 0;
      if (!s && num_operands == 7) s = check_id(type, in[5].dims[0], "token type id");
      if (s) break;
      for (int64_t i = 0; i < e; i++) {
        float v = word_q ? (float)word_q[ids[t] * e + i] * word_scale[ids[t]]
                         : F(&in[0])[ids[t] * e + i];
        if (num_operands == 7) v += F(&in[5])[type * e + i];
        v += F(&in[2])[pos[t] * e + i];
        row[i] = v;
      }
      layer_norm_row(row, F(&in[3]), F(&in[4]), FO(out) + (b * seq + t) * e, e, n->fattr[0]);
    }
  }
  free(pos);
  free(row);
  return s;
}

static bertc_status_t ref_add(const ir_node_t *n, const view_t *in, view_t *out) {
  int64_t total = numel(&in[0]), period = numel(&in[1]);
  for (int64_t i = 0; i < total; i++) FO(out)[i] = F(&in[0])[i] + F(&in[1])[i % period];
  return BERTC_OK;
}

static bertc_status_t ref_scale(const ir_node_t *n, const view_t *in, view_t *out) {
  for (int64_t i = 0; i < numel(&in[0]); i++) FO(out)[i] = F(&in[0])[i] * n->fattr[0];
  return BERTC_OK;
}

static bertc_status_t ref_unary(const ir_node_t *n, const view_t *in, view_t *out) {
  ir_act_t act = ir_op_act(n->op);
  for (int64_t i = 0; i < numel(&in[0]); i++) FO(out)[i] = (float)act_apply(act, F(&in[0])[i]);
  return BERTC_OK;
}

static bertc_status_t ref_layer_norm(const ir_node_t *n, const view_t *in, view_t *out) {
  int64_t h = last(&in[0]), rows = numel(&in[0]) / h;
  for (int64_t r = 0; r < rows; r++)
    layer_norm_row(F(&in[0]) + r * h, F(&in[1]), F(&in[2]), FO(out) + r * h, h, n->fattr[0]);
  return BERTC_OK;
}

/* out[r, j] = sum_k x[r,k] w[j,k] + b[j] (w row-major or panels). */
static void linear_rows(const view_t *x, const view_t *w, const view_t *b, float *out) {
  int64_t k = last(x), rows = numel(x) / k, nout = w->dims[0];
  for (int64_t r = 0; r < rows; r++)
    for (int64_t j = 0; j < nout; j++) {
      double acc = F(b)[j];
      for (int64_t i = 0; i < k; i++) acc += (double)F(x)[r * k + i] * ir_weight_at(w->value, j, i);
      out[r * nout + j] = (float)acc;
    }
}

static bertc_status_t ref_linear(const ir_node_t *n, const view_t *in, view_t *out) {
  linear_rows(&in[0], &in[1], &in[2], FO(out));
  for (int64_t i = 0; i < numel(out); i++) FO(out)[i] = (float)act_apply(n->iattr[0], FO(out)[i]);
  return BERTC_OK;
}

static bertc_status_t ref_linear_add_ln(const ir_node_t *n, const view_t *in, view_t *out) {
  linear_rows(&in[0], &in[1], &in[2], FO(out));
  int64_t h = last(out), rows = numel(out) / h;
  for (int64_t i = 0; i < numel(out); i++) FO(out)[i] += F(&in[3])[i];
  for (int64_t r = 0; r < rows; r++)
    layer_norm_row(FO(out) + r * h, F(&in[4]), F(&in[5]), FO(out) + r * h, h, n->fattr[0]);
  return BERTC_OK;
}

static bertc_status_t ref_add_ln(const ir_node_t *n, const view_t *in, view_t *out) {
  int64_t h = last(out), rows = numel(out) / h;
  for (int64_t i = 0; i < numel(out); i++) FO(out)[i] = F(&in[0])[i] + F(&in[1])[i];
  for (int64_t r = 0; r < rows; r++)
    layer_norm_row(FO(out) + r * h, F(&in[2]), F(&in[3]), FO(out) + r * h, h, n->fattr[0]);
  return BERTC_OK;
}

/* --- int8 linear layers: the integer semantics every int8 kernel reproduces ---
 *
 * A row x[0..K) quantizes asymmetrically to 8 bits over [lo, hi] = [min(x, 0),
 * max(x, 0)] (exact): inv = 255 / (hi - lo) in f32 (0 when hi == lo), the zero
 * point z = round(-lo * inv), the codes u = clamp(round(x * inv) + z, 0, 255),
 * where round is to the nearest integer, ties to even, of the f32 product, and
 * NaN gives 0. quantize stores the centered codes q = u - z (in [-255, 255]),
 * so that x ~ scale * q with scale = (hi - lo) / 255 in f32. The integer
 * products are exact in int32 (|sum| <= 255 * 127 * K < 2^31 for K < 66,000),
 * and dequantization is f32: (float)acc * (scale * ws[j]) + b[j], then the
 * activation. */
static float round_code(float v) {
  float r = nearbyintf(v);
  return r == r ? r : 0.0f;
}

static float quant_row(const float *x, int64_t k, int32_t *q) {
  float lo = 0.0f, hi = 0.0f;
  for (int64_t i = 0; i < k; i++) {
    lo = fminf(lo, x[i]);
    hi = fmaxf(hi, x[i]);
  }
  float range = hi - lo;
  float inv = range > 0.0f ? 255.0f / range : 0.0f;
  float zp = -lo * inv;
  int32_t z = (int32_t)round_code(zp);
  for (int64_t i = 0; i < k; i++) {
    float v = x[i] * inv;
    int32_t u = (int32_t)round_code(v) + z;
    u = u < 0 ? 0 : u > 255 ? 255 : u;
    q[i] = u - z;
  }
  return range / 255.0f;
}

static int32_t dot_i8(const int32_t *q, const ir_value_t *w, int64_t j, int64_t k) {
  int32_t acc = 0;
  for (int64_t i = 0; i < k; i++) acc += (int32_t)q[i] * (int32_t)ir_weight_at(w, j, i);
  return acc;
}

static float dequant(int32_t acc, float scale, float ws, float b) {
  float s = scale * ws;
  float y = (float)acc * s;
  return y + b;
}

static bertc_status_t ref_quantize(const ir_node_t *n, const view_t *in, view_t *out) {
  int64_t k = last(&in[0]), rows = numel(&in[0]) / k;
  for (int64_t r = 0; r < rows; r++) quant_row(F(&in[0]) + r * k, k, (int32_t *)out->data + r * k);
  return BERTC_OK;
}

static bertc_status_t ref_matmul_i8(const ir_node_t *n, const view_t *in, view_t *out) {
  int64_t k = last(&in[0]), rows = numel(&in[0]) / k, nout = in[1].dims[0];
  const int32_t *q = in[0].data;
  for (int64_t r = 0; r < rows; r++)
    for (int64_t j = 0; j < nout; j++)
      ((int32_t *)out->data)[r * nout + j] = dot_i8(q + r * k, in[1].value, j, k);
  return BERTC_OK;
}

/* The row scale quantize used for each row of x, into scales[rows]. */
static bertc_status_t row_scales(const view_t *x, float **out) {
  int64_t k = last(x), rows = numel(x) / k;
  float *scales = malloc((size_t)(rows ? rows : 1) * sizeof(float));
  int32_t *tmp = malloc((size_t)(k ? k : 1) * sizeof(int32_t));
  if (!scales || !tmp) {
    free(scales);
    free(tmp);
    return bertc_status_make(BERTC_STATUS_OUT_OF_MEMORY, "out of memory");
  }
  for (int64_t r = 0; r < rows; r++) scales[r] = quant_row(F(x) + r * k, k, tmp);
  free(tmp);
  *out = scales;
  return BERTC_OK;
}

static bertc_status_t ref_dequantize(const ir_node_t *n, const view_t *in, view_t *out) {
  int64_t nout = last(&in[0]), rows = numel(&in[0]) / nout;
  float *scales = NULL;
  BERTC_RETURN_IF_ERROR(row_scales(&in[1], &scales));
  const int32_t *acc = in[0].data;
  for (int64_t r = 0; r < rows; r++)
    for (int64_t j = 0; j < nout; j++) {
      float y = dequant(acc[r * nout + j], scales[r], F(&in[2])[j], F(&in[3])[j]);
      FO(out)[r * nout + j] = (float)act_apply(n->iattr[0], y);
    }
  free(scales);
  return BERTC_OK;
}

static bertc_status_t ref_qlinear(const ir_node_t *n, const view_t *in, view_t *out) {
  int64_t k = last(&in[0]), rows = numel(&in[0]) / k, nout = in[1].dims[0];
  int32_t *q = malloc((size_t)(k ? k : 1) * sizeof(int32_t));
  if (!q) return bertc_status_make(BERTC_STATUS_OUT_OF_MEMORY, "out of memory");
  for (int64_t r = 0; r < rows; r++) {
    float scale = quant_row(F(&in[0]) + r * k, k, q);
    for (int64_t j = 0; j < nout; j++) {
      float y = dequant(dot_i8(q, in[1].value, j, k), scale, F(&in[2])[j], F(&in[3])[j]);
      y = (float)act_apply(n->iattr[0], y);
      if (n->num_operands == 7) y += F(&in[4])[r * nout + j];
      FO(out)[r * nout + j] = y;
    }
    if (n->num_operands == 7)
      layer_norm_row(FO(out) + r * nout, F(&in[5]), F(&in[6]), FO(out) + r * nout, nout,
                     n->fattr[0]);
  }
  free(q);
  return BERTC_OK;
}

/* Attention pieces, on [B,S,H] with heads of width d = H / A. */
static void scores_into(const float *q, const float *k, int64_t ld, float *scores, int64_t batch,
                        int64_t seq, int64_t heads, int64_t d, double scale) {
  for (int64_t b = 0; b < batch; b++)
    for (int64_t h = 0; h < heads; h++)
      for (int64_t i = 0; i < seq; i++)
        for (int64_t j = 0; j < seq; j++) {
          double acc = 0;
          for (int64_t t = 0; t < d; t++)
            acc += (double)q[(b * seq + i) * ld + h * d + t] * k[(b * seq + j) * ld + h * d + t];
          scores[((b * heads + h) * seq + i) * seq + j] = (float)(acc * scale);
        }
}

static void mask_into(float *scores, const int32_t *mask, int64_t batch, int64_t seq,
                      int64_t heads) {
  for (int64_t b = 0; b < batch; b++)
    for (int64_t h = 0; h < heads; h++)
      for (int64_t i = 0; i < seq; i++)
        for (int64_t j = 0; j < seq; j++)
          if (mask[b * seq + j] == 0) scores[((b * heads + h) * seq + i) * seq + j] += -FLT_MAX;
}

static void softmax_rows(const float *x, float *out, int64_t rows, int64_t n) {
  for (int64_t r = 0; r < rows; r++) {
    double mx = -INFINITY, sum = 0;
    for (int64_t i = 0; i < n; i++) mx = fmax(mx, x[r * n + i]);
    for (int64_t i = 0; i < n; i++) sum += exp(x[r * n + i] - mx);
    for (int64_t i = 0; i < n; i++) out[r * n + i] = (float)(exp(x[r * n + i] - mx) / sum);
  }
}

static void context_into(const float *p, const float *v, int64_t ld, float *out, int64_t batch,
                         int64_t seq, int64_t heads, int64_t d) {
  int64_t hw = heads * d;
  for (int64_t b = 0; b < batch; b++)
    for (int64_t h = 0; h < heads; h++)
      for (int64_t i = 0; i < seq; i++)
        for (int64_t t = 0; t < d; t++) {
          double acc = 0;
          for (int64_t j = 0; j < seq; j++)
            acc += (double)p[((b * heads + h) * seq + i) * seq + j] * v[(b * seq + j) * ld + h * d + t];
          out[(b * seq + i) * hw + h * d + t] = (float)acc;
        }
}

static bertc_status_t ref_attn_scores(const ir_node_t *n, const view_t *in, view_t *out) {
  int64_t h = in[0].dims[2], a = n->iattr[0];
  scores_into(F(&in[0]), F(&in[1]), h, FO(out), in[0].dims[0], in[0].dims[1], a, h / a,
              n->fattr[0]);
  return BERTC_OK;
}

static bertc_status_t ref_attn_mask(const ir_node_t *n, const view_t *in, view_t *out) {
  memcpy(out->data, in[0].data, (size_t)numel(out) * sizeof(float));
  mask_into(FO(out), I(&in[1]), in[0].dims[0], in[0].dims[2], in[0].dims[1]);
  return BERTC_OK;
}

static bertc_status_t ref_softmax(const ir_node_t *n, const view_t *in, view_t *out) {
  softmax_rows(F(&in[0]), FO(out), numel(&in[0]) / last(&in[0]), last(&in[0]));
  return BERTC_OK;
}

static bertc_status_t ref_attn_context(const ir_node_t *n, const view_t *in, view_t *out) {
  int64_t h = in[1].dims[2], a = n->iattr[0];
  context_into(F(&in[0]), F(&in[1]), h, FO(out), in[1].dims[0], in[1].dims[1], a, h / a);
  return BERTC_OK;
}

static bertc_status_t ref_attention(const ir_node_t *n, const view_t *in, view_t *out) {
  int64_t batch = out->dims[0], seq = out->dims[1], h = out->dims[2], a = n->iattr[0];
  const float *q, *k, *v;
  int64_t ld;
  const int32_t *mask = NULL;
  if (n->num_operands == 2) {
    ld = 3 * h;
    q = F(&in[0]);
    k = q + h;
    v = q + 2 * h;
    mask = I(&in[1]);
  } else {
    ld = h;
    q = F(&in[0]);
    k = F(&in[1]);
    v = F(&in[2]);
    if (n->num_operands == 4) mask = I(&in[3]);
  }
  size_t count = (size_t)(batch * a * seq * seq);
  float *scores = malloc(count * sizeof(float));
  if (!scores) return bertc_status_make(BERTC_STATUS_OUT_OF_MEMORY, "out of memory");
  scores_into(q, k, ld, scores, batch, seq, a, h / a, n->fattr[0]);
  if (mask) mask_into(scores, mask, batch, seq, a);
  softmax_rows(scores, scores, batch * a * seq, seq);
  context_into(scores, v, ld, FO(out), batch, seq, a, h / a);
  free(scores);
  return BERTC_OK;
}

static bertc_status_t ref_select_token(const ir_node_t *n, const view_t *in, view_t *out) {
  int64_t batch = in[0].dims[0], seq = in[0].dims[1], h = in[0].dims[2], idx = n->iattr[0];
  BERTC_RETURN_IF_ERROR(check_id(idx, seq, "select_token index"));
  for (int64_t b = 0; b < batch; b++)
    memcpy(FO(out) + b * h, F(&in[0]) + (b * seq + idx) * h, (size_t)h * sizeof(float));
  return BERTC_OK;
}

static bertc_status_t ref_pool(const ir_node_t *n, const view_t *in, view_t *out) {
  int64_t batch = in[0].dims[0], seq = in[0].dims[1], h = in[0].dims[2];
  for (int64_t b = 0; b < batch; b++) {
    double count = 0;
    for (int64_t s = 0; s < seq; s++) count += I(&in[1])[b * seq + s] != 0;
    for (int64_t i = 0; i < h; i++) {
      double sum = 0, mx = -INFINITY;
      for (int64_t s = 0; s < seq; s++) {
        double m = I(&in[1])[b * seq + s] != 0;
        double x = F(&in[0])[(b * seq + s) * h + i];
        sum += x * m;
        mx = fmax(mx, m ? x : -1e9);
      }
      double r = n->op == IR_OP_POOL_MAX    ? mx
                 : n->op == IR_OP_POOL_MEAN ? sum / fmax(count, 1e-9)
                                            : sum / sqrt(count);
      FO(out)[b * h + i] = (float)r;
    }
  }
  return BERTC_OK;
}

static bertc_status_t ref_concat(const ir_node_t *n, const view_t *in, view_t *out) {
  int64_t width = last(out), rows = numel(out) / width, col = 0;
  for (int i = 0; i < n->num_operands; i++) {
    int64_t w = last(&in[i]);
    for (int64_t r = 0; r < rows; r++)
      memcpy(FO(out) + r * width + col, F(&in[i]) + r * w, (size_t)w * sizeof(float));
    col += w;
  }
  return BERTC_OK;
}

static bertc_status_t ref_l2_normalize(const ir_node_t *n, const view_t *in, view_t *out) {
  int64_t h = last(&in[0]), rows = numel(&in[0]) / h;
  for (int64_t r = 0; r < rows; r++) {
    double ss = 0;
    for (int64_t i = 0; i < h; i++) ss += (double)F(&in[0])[r * h + i] * F(&in[0])[r * h + i];
    double norm = fmax(sqrt(ss), 1e-12);
    for (int64_t i = 0; i < h; i++) FO(out)[r * h + i] = (float)(F(&in[0])[r * h + i] / norm);
  }
  return BERTC_OK;
}

static bertc_status_t ref_slice_last(const ir_node_t *n, const view_t *in, view_t *out) {
  int64_t w = last(&in[0]), rows = numel(&in[0]) / w, size = n->iattr[1];
  for (int64_t r = 0; r < rows; r++)
    memcpy(FO(out) + r * size, F(&in[0]) + r * w + n->iattr[0], (size_t)size * sizeof(float));
  return BERTC_OK;
}

/* --- driver --- */

static bertc_status_t bind(const ir_value_t *v, int64_t batch, int64_t seq, view_t *out) {
  out->dtype = v->dtype;
  out->rank = v->rank;
  out->value = v;
  for (int i = 0; i < v->rank; i++) out->dims[i] = ir_dim_bind(v->dims[i], batch, seq);
  out->data = NULL;
  return BERTC_OK;
}

static bertc_status_t run_node(const ir_graph_t *g, const ir_node_t *n, view_t *views) {
  view_t in[IR_MAX_OPERANDS];
  for (int i = 0; i < n->num_operands; i++) {
    in[i] = views[n->operands[i]];
    if (!in[i].data)
      return bertc_status_make(BERTC_STATUS_INTERNAL, "%s: operand %%%d has no data",
                               ir_op_info(n->op)->name, n->operands[i]);
  }
  view_t *out = &views[n->result];
  size_t bytes;
  if (!base_mul_size((size_t)numel(out), 4, &bytes))
    return bertc_status_make(BERTC_STATUS_OUT_OF_MEMORY, "tensor too large");
  out->data = calloc(bytes ? bytes : 1, 1);
  if (!out->data) return bertc_status_make(BERTC_STATUS_OUT_OF_MEMORY, "out of memory");
  return bertc_status_annotate(op_refs[n->op](n, in, out), "%s (node %zu)",
                               ir_op_info(n->op)->name, (size_t)(n - g->nodes));
}

void ir_tensor_deinit(ir_tensor_t *t) {
  if (!t) return;
  free(t->data);
  t->data = NULL;
}

int64_t ir_tensor_numel(const ir_tensor_t *t) {
  int64_t n = 1;
  for (int i = 0; i < t->rank; i++) n *= t->dims[i];
  return n;
}

bertc_status_t ir_interpret(const ir_graph_t *g, int64_t batch, int64_t seq,
                            const int32_t *input_ids, const int32_t *token_type_ids,
                            const int32_t *attention_mask, ir_tensor_t *outputs) {
  if (batch <= 0 || seq <= 0)
    return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT, "batch and seq must be positive");
  for (size_t i = 0; i < g->num_outputs; i++) outputs[i].data = NULL;
  view_t *views = calloc(g->num_values ? g->num_values : 1, sizeof(view_t));
  int32_t *zeros = calloc((size_t)(batch * seq), sizeof(int32_t));
  int32_t *ones = malloc((size_t)(batch * seq) * sizeof(int32_t));
  bertc_status_t s = BERTC_OK;
  if (!views || !zeros || !ones) s = bertc_status_make(BERTC_STATUS_OUT_OF_MEMORY, "out of memory");
  for (int64_t i = 0; !s && i < batch * seq; i++) ones[i] = 1;
  for (size_t i = 0; !s && i < g->num_values; i++) {
    const ir_value_t *v = &g->values[i];
    s = bind(v, batch, seq, &views[i]);
    if (v->kind == IR_VALUE_CONST) views[i].data = (void *)v->data;
    if (v->kind == IR_VALUE_INPUT) {
      if ((int32_t)i == g->input_ids) views[i].data = (void *)input_ids;
      else if ((int32_t)i == g->token_type_ids)
        views[i].data = (void *)(token_type_ids ? token_type_ids : zeros);
      else views[i].data = (void *)(attention_mask ? attention_mask : ones);
    }
  }
  for (size_t i = 0; !s && i < g->num_nodes; i++) s = run_node(g, &g->nodes[i], views);
  for (size_t i = 0; !s && i < g->num_outputs; i++) {
    const view_t *v = &views[g->outputs[i].value];
    ir_tensor_t *t = &outputs[i];
    t->dtype = v->dtype;
    t->rank = v->rank;
    memcpy(t->dims, v->dims, sizeof(t->dims));
    size_t bytes = (size_t)numel(v) * 4;
    t->data = malloc(bytes ? bytes : 1);
    if (!t->data) {
      s = bertc_status_make(BERTC_STATUS_OUT_OF_MEMORY, "out of memory");
      break;
    }
    memcpy(t->data, v->data, bytes);
  }
  if (s)
    for (size_t i = 0; i < g->num_outputs; i++) ir_tensor_deinit(&outputs[i]);
  if (views)
    for (size_t i = 0; i < g->num_values; i++)
      if (g->values[i].kind == IR_VALUE_TEMP) free(views[i].data);
  free(views);
  free(zeros);
  free(ones);
  return s;
}

bertc_status_t ir_eval_const_node(const ir_graph_t *g, int32_t node, void **out_data,
                                  uint64_t *out_bytes) {
  const ir_node_t *n = &g->nodes[node];
  const ir_value_t *r = &g->values[n->result];
  for (int i = 0; i < r->rank; i++)
    if (r->dims[i] < 0)
      return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT,
                               "node %d has a symbolic result shape", node);
  view_t in[IR_MAX_OPERANDS], out;
  for (int i = 0; i < n->num_operands; i++) {
    const ir_value_t *v = &g->values[n->operands[i]];
    if (v->kind != IR_VALUE_CONST)
      return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT, "node %d has a non-constant operand",
                               node);
    bind(v, 1, 1, &in[i]);
    in[i].data = (void *)v->data;
  }
  bind(r, 1, 1, &out);
  size_t bytes = (size_t)numel(&out) * 4;
  out.data = calloc(bytes ? bytes : 1, 1);
  if (!out.data) return bertc_status_make(BERTC_STATUS_OUT_OF_MEMORY, "out of memory");
  bertc_status_t s = op_refs[n->op](n, in, &out);
  if (s) {
    free(out.data);
    return s;
  }
  *out_data = out.data;
  *out_bytes = bytes;
  return BERTC_OK;
}
