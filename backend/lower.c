/* Lowering: graph -> kernel calls per bucket (see lower.h).
 *
 * Each op lowers through the rule its row of ir/ops.def names (lower_<kernel>
 * below), to one kernel of kernels/kernels.h (two for concat, for attn_mask
 * when it cannot work in place, and for a linear_add_ln whose LayerNorm runs
 * apart). Values become pointers: weights at their blob offset, inputs and
 * outputs by index, temporaries at their memory-plan offset. The split of
 * every loop into tasks is decided here, at compile time, from the bucket's
 * exact shape and the planned thread count. A token bucket (lower.h) is the
 * same lowering with the sequence-aware rules calling the packed kernels,
 * which read the segment table, an input after the model's own. */
#include "backend/lower.h"

#include <stdlib.h>
#include <string.h>

#include "backend/layout.h"
#include "base/base.h"
#include "kernels/kernels.h"
#include "passes/memory_plan.h"

/* The kernels take the IR's activation values as their codes. */
_Static_assert((int)IR_ACT_NONE == (int)BK_ACT_NONE && (int)IR_ACT_COUNT == (int)BK_ACT_COUNT,
               "kernels/kernels.h's BK_ACT_ codes differ from ir/acts.def");
#define IR_ACT(e, name, config_names, doc)                                                   \
  _Static_assert((int)IR_ACT_##e == (int)BK_ACT_##e, "BK_ACT_" #e " differs from IR_ACT_" #e);
#include "ir/acts.def"
#undef IR_ACT

void lower_options_init(lower_options_t *o) {
  memset(o, 0, sizeof(*o));
  /* the threads a context on this machine uses by default */
  o->threads = base_default_threads();
}

typedef struct emitter {
  const ir_graph_t *g;
  const mp_plan_t *plan;
  const uint64_t *weight_offset; /* per value */
  const layout_t *layout;        /* AMX parts */
  int32_t input_index[3];        /* value of input k */
  const lower_options_t *o;
  int threads;
  uint32_t flags;         /* BERTC_ABI_FLAG_* the calls need */
  uint64_t scratch_base;  /* arena offset of the bucket's kernel scratch */
  uint64_t scratch_bytes; /* the most scratch one call of the bucket needs */
  int64_t batch, seq;
  bool packed;           /* a token bucket: tokens, segments, the segment table */
  int64_t tokens, segments;
  cg_arg_t segs;
  cg_call_t *calls;
  size_t num_calls, cap_calls;
} emitter_t;

static cg_arg_t arg_i(int64_t v) { return (cg_arg_t){CG_ARG_I64, CG_REGION_NULL, 0, v, 0}; }
static cg_arg_t arg_f(float v) { return (cg_arg_t){CG_ARG_F32, CG_REGION_NULL, 0, 0, v}; }
static cg_arg_t arg_null(void) { return (cg_arg_t){CG_ARG_PTR, CG_REGION_NULL, 0, 0, 0}; }

/* Pointer to value v, plus `extra` bytes. */
static cg_arg_t arg_v(const emitter_t *e, int32_t v, int64_t extra) {
  const ir_value_t *val = &e->g->values[v];
  cg_arg_t a = {CG_ARG_PTR, CG_REGION_ARENA, 0, extra, 0};
  if (val->kind == IR_VALUE_CONST) {
    a.region = CG_REGION_WEIGHTS;
    a.i += (int64_t)e->weight_offset[v];
  } else if (val->kind == IR_VALUE_INPUT) {
    a.region = CG_REGION_INPUT;
    for (int k = 0; k < 3; k++)
      if (e->input_index[k] == v) a.index = k;
  } else {
    for (size_t k = 0; k < e->g->num_outputs; k++)
      if (e->g->outputs[k].value == v) {
        a.region = CG_REGION_OUTPUT;
        a.index = (int32_t)k;
        return a;
      }
    a.i += (int64_t)e->plan->offsets[v];
  }
  return a;
}

static bertc_status_t emit(emitter_t *e, const char *kernel, int64_t ntasks, int nargs,
                           const cg_arg_t *args) {
  if (nargs > CG_MAX_ARGS)
    return bertc_status_make(BERTC_STATUS_INTERNAL, "%s: too many kernel arguments", kernel);
  if (e->num_calls == e->cap_calls) {
    size_t cap = e->cap_calls ? e->cap_calls * 2 : 64;
    cg_call_t *c = realloc(e->calls, cap * sizeof(cg_call_t));
    if (!c) return bertc_status_make(BERTC_STATUS_OUT_OF_MEMORY, "out of memory lowering");
    e->calls = c;
    e->cap_calls = cap;
  }
  cg_call_t *c = &e->calls[e->num_calls++];
  memset(c, 0, sizeof(*c));
  c->kernel = kernel;
  c->ntasks = ntasks < 1 ? 1 : ntasks;
  c->num_args = nargs;
  memcpy(c->args, args, (size_t)nargs * sizeof(cg_arg_t));
  return BERTC_OK;
}

#define EMIT(e, kernel, ntasks, ...)                                                     \
  emit((e), (kernel), (ntasks), (int)(sizeof((cg_arg_t[]){__VA_ARGS__}) / sizeof(cg_arg_t)), \
       (cg_arg_t[]){__VA_ARGS__})

static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

/* Elementwise split: chunks of at least 16K elements, about 4 per thread. */
static int64_t chunk_for(const emitter_t *e, int64_t total) {
  int64_t chunk = ceil_div(total, 4 * (int64_t)e->threads);
  if (chunk < 16384) chunk = 16384;
  chunk = ceil_div(chunk, 16) * 16;
  return chunk > total ? (total > 0 ? total : 1) : chunk;
}

static int64_t rows_for(const emitter_t *e, int64_t rows, int64_t row_len) {
  int64_t per = ceil_div(rows, 4 * (int64_t)e->threads);
  int64_t min_rows = ceil_div(4096, row_len > 0 ? row_len : 1);
  if (per < min_rows) per = min_rows;
  return per > rows ? (rows > 0 ? rows : 1) : per;
}

static int64_t numel(const emitter_t *e, int32_t v) {
  return ir_value_numel(&e->g->values[v], e->batch, e->seq);
}
static int64_t last_dim(const emitter_t *e, int32_t v) {
  const ir_value_t *x = &e->g->values[v];
  return ir_dim_bind(x->dims[x->rank - 1], e->batch, e->seq);
}

static const char *const kernel_names[] = {
    [LOWER_KERNEL_GEMM] = "bk_gemm",
    [LOWER_KERNEL_GEMM_AMX] = "bk_gemm_amx",
    [LOWER_KERNEL_GEMM_BLAS] = "bk_gemm_blas",
    [LOWER_KERNEL_ROWMAJOR] = "bk_linear_rowmajor",
};

void lower_plan_gemm(const ir_graph_t *g, const ir_node_t *n, int64_t batch, int64_t seq,
                     const lower_options_t *o, lower_gemm_plan_t *out) {
  const ir_value_t *w = &g->values[n->operands[1]];
  int threads = o->threads > 0 ? o->threads : 1;
  bool fused_ln = n->op == IR_OP_LINEAR_ADD_LN, packed = w->layout == IR_LAYOUT_PANEL;
  memset(out, 0, sizeof(*out));
  out->k = w->dims[1];
  out->n = w->dims[0];
  out->m = ir_value_numel(&g->values[n->operands[0]], batch, seq) / out->k;
  if (!packed && o->gemm != LOWER_GEMM_BLAS) {
    out->kernel = LOWER_KERNEL_ROWMAJOR;
    return;
  }
  /* bk_gemm_blas's residual may not alias its output, so its LayerNorm
   * always stays in the epilogue. */
  out->ln_apart = fused_ln && packed && !bk_gemm_fuse_ln(out->m, out->n, out->k, threads);
  bk_gemm_plan(out->m, out->n, out->k, fused_ln && !out->ln_apart, threads, &out->m_block,
               &out->n_block);
  out->kernel = !packed ? LOWER_KERNEL_GEMM_BLAS
                : o->gemm == LOWER_GEMM_AMX &&
                        bk_gemm_use_amx(out->m, out->n, out->k, out->m_block, threads)
                    ? LOWER_KERNEL_GEMM_AMX
                    : LOWER_KERNEL_GEMM;
}

/* ---- the lowering rules (the `kernel` column of ir/ops.def) ---- */

typedef bertc_status_t (*lower_fn)(emitter_t *e, const ir_node_t *n);

/* linear / linear_add_ln: a GEMM (lower_plan_gemm chooses which). */
static bertc_status_t lower_linear(emitter_t *e, const ir_node_t *n) {
  int32_t x = n->operands[0], w = n->operands[1], b = n->operands[2], r = n->result;
  const ir_value_t *wv = &e->g->values[w];
  lower_gemm_plan_t p;
  lower_plan_gemm(e->g, n, e->batch, e->seq, e->o, &p);
  bool fused_ln = n->op == IR_OP_LINEAR_ADD_LN;
  int64_t act = n->op == IR_OP_LINEAR ? n->iattr[0] : IR_ACT_NONE;
  float eps = fused_ln ? n->fattr[0] : 0.0f;
  cg_arg_t res = fused_ln ? arg_v(e, n->operands[3], 0) : arg_null();
  cg_arg_t gamma = fused_ln ? arg_v(e, n->operands[4], 0) : arg_null();
  cg_arg_t beta = fused_ln ? arg_v(e, n->operands[5], 0) : arg_null();
  if (wv->layout == IR_LAYOUT_PANEL && wv->layout_param != BK_GEMM_NR)
    return bertc_status_make(BERTC_STATUS_INTERNAL,
                             "weights packed in panels of %d, kernels use %d", wv->layout_param,
                             BK_GEMM_NR);
  if (p.kernel == LOWER_KERNEL_ROWMAJOR) {
    int64_t rpt = rows_for(e, p.m, p.n * p.k / 64 + 1);
    BERTC_RETURN_IF_ERROR(EMIT(e, "bk_linear_rowmajor", ceil_div(p.m, rpt), arg_v(e, x, 0),
                               arg_v(e, w, 0), arg_v(e, b, 0), arg_v(e, r, 0), arg_i(p.m),
                               arg_i(p.n), arg_i(p.k), arg_i(rpt), arg_i(act)));
    if (!fused_ln) return BERTC_OK;
    int64_t lrpt = rows_for(e, p.m, p.n);
    return EMIT(e, "bk_add_ln", ceil_div(p.m, lrpt), arg_v(e, r, 0), res, gamma, beta,
                arg_v(e, r, 0), arg_i(lrpt), arg_i(p.m), arg_i(p.n), arg_f(eps));
  }
  int64_t ntasks = ceil_div(p.m, p.m_block) * ceil_div(p.n, p.n_block);
  bool amx = p.kernel == LOWER_KERNEL_GEMM_AMX;
  /* bk_gemm_amx reads the weights' AMX parts, appended to the blob after
   * lowering (lower_program patches the offset: index 1 marks it, i = value),
   * and takes one more argument, its scratch after the planned arena */
  cg_arg_t args[15] = {arg_v(e, x, 0), arg_v(e, w, 0), arg_v(e, b, 0), res,
                       p.ln_apart ? arg_null() : gamma, p.ln_apart ? arg_null() : beta,
                       arg_v(e, r, 0), arg_i(p.m), arg_i(p.n), arg_i(p.k), arg_i(p.m_block),
                       arg_i(p.n_block), arg_i(act), arg_f(eps),
                       {CG_ARG_PTR, CG_REGION_ARENA, 0, (int64_t)e->scratch_base, 0}};
  if (amx) {
    if (!e->layout || !e->layout->amx || (size_t)w >= e->layout->num_values ||
        !e->layout->amx[w])
      return bertc_status_make(BERTC_STATUS_INTERNAL,
                               "weight %%%d runs on AMX tiles but has no AMX parts", (int)w);
    args[1] = (cg_arg_t){CG_ARG_PTR, CG_REGION_WEIGHTS, 1, w, 0};
    uint64_t need = (uint64_t)ntasks * (uint64_t)bk_gemm_amx_scratch_bytes(p.m_block, p.k);
    if (need > e->scratch_bytes) e->scratch_bytes = need;
  }
  if (p.kernel == LOWER_KERNEL_GEMM_BLAS) e->flags |= BERTC_ABI_FLAG_NEEDS_SGEMM;
  BERTC_RETURN_IF_ERROR(emit(e, kernel_names[p.kernel], ntasks, amx ? 15 : 14, args));
  if (!p.ln_apart) return BERTC_OK;
  int64_t lrpt = rows_for(e, p.m, p.n);
  return EMIT(e, "bk_layer_norm", ceil_div(p.m, lrpt), arg_v(e, r, 0), gamma, beta,
              arg_v(e, r, 0), arg_i(lrpt), arg_i(p.m), arg_i(p.n), arg_f(eps));
}

static bertc_status_t lower_linear_add_ln(emitter_t *e, const ir_node_t *n) {
  return lower_linear(e, n);
}

/* The unfused int8 ops define qlinear's arithmetic; fuse-int8 (part of the
 * int8 pipeline) turns them into qlinear, which has kernels. */
static bertc_status_t lower_unfused_int8(const ir_node_t *n) {
  return bertc_status_make(BERTC_STATUS_UNSUPPORTED,
                           "%s has no kernel of its own: the fuse-int8 pass turns quantize, "
                           "matmul_i8 and dequantize into qlinear",
                           ir_op_info(n->op)->name);
}
static bertc_status_t lower_quantize(emitter_t *e, const ir_node_t *n) {
  (void)e;
  return lower_unfused_int8(n);
}
static bertc_status_t lower_matmul_i8(emitter_t *e, const ir_node_t *n) {
  (void)e;
  return lower_unfused_int8(n);
}
static bertc_status_t lower_dequantize(emitter_t *e, const ir_node_t *n) {
  (void)e;
  return lower_unfused_int8(n);
}

/* qlinear: the rows quantized once (bk_quantize_rows, into the scratch after
 * the arena), then the int8 GEMM for the target's level (kernels/qgemm.c) with
 * bk_gemm's tiling. */
static bertc_status_t lower_qlinear(emitter_t *e, const ir_node_t *n) {
  static const char *const variants[] = {"bk_qgemm_generic", "bk_qgemm_avx2",
                                         "bk_qgemm_avxvnni", "bk_qgemm_vnni512"};
  int32_t x = n->operands[0], w = n->operands[1], r = n->result;
  const ir_value_t *wv = &e->g->values[w];
  if (wv->layout != IR_LAYOUT_PANEL || wv->layout_param != BK_GEMM_NR)
    return bertc_status_make(BERTC_STATUS_INTERNAL,
                             "qlinear weight %%%d is not in the int8 panels of %d columns", (int)w,
                             BK_GEMM_NR);
  bool fused_ln = n->num_operands == 7;
  int64_t k = wv->dims[1], nn = wv->dims[0], m = numel(e, x) / k;
  bool ln_apart = fused_ln && !bk_gemm_fuse_ln(m, nn, k, e->threads);
  int64_t m_block, n_block;
  bk_gemm_plan(m, nn, k, fused_ln && !ln_apart, e->threads, &m_block, &n_block);
  int64_t ntasks = ceil_div(m, m_block) * ceil_div(nn, n_block);
  /* the quantized rows go to the scratch after the arena, then the GEMM reads them */
  uint64_t need = (uint64_t)bk_qrows_bytes(m, k);
  if (need > e->scratch_bytes) e->scratch_bytes = need;
  int level = e->o->int8_level < 0 ? 0 : e->o->int8_level > 3 ? 3 : e->o->int8_level;
  cg_arg_t xq = {CG_ARG_PTR, CG_REGION_ARENA, 0, (int64_t)e->scratch_base, 0};
  int64_t qrpt = rows_for(e, m, k);
  BERTC_RETURN_IF_ERROR(EMIT(e, "bk_quantize_rows", ceil_div(m, qrpt), arg_v(e, x, 0), xq,
                             arg_i(m), arg_i(k), arg_i(qrpt), arg_i(level >= 2 ? 1 : 2)));
  cg_arg_t res = fused_ln ? arg_v(e, n->operands[4], 0) : arg_null();
  cg_arg_t gamma = fused_ln ? arg_v(e, n->operands[5], 0) : arg_null();
  cg_arg_t beta = fused_ln ? arg_v(e, n->operands[6], 0) : arg_null();
  float eps = fused_ln ? n->fattr[0] : 0.0f;
  BERTC_RETURN_IF_ERROR(EMIT(
      e, variants[level], ntasks, xq, arg_v(e, w, 0), arg_v(e, n->operands[2], 0),
      arg_v(e, n->operands[3], 0), res, ln_apart ? arg_null() : gamma,
      ln_apart ? arg_null() : beta, arg_v(e, r, 0), arg_i(m), arg_i(nn), arg_i(k),
      arg_i(m_block), arg_i(n_block), arg_i(fused_ln ? IR_ACT_NONE : n->iattr[0]), arg_f(eps)));
  if (!ln_apart) return BERTC_OK;
  int64_t lrpt = rows_for(e, m, nn);
  return EMIT(e, "bk_layer_norm", ceil_div(m, lrpt), arg_v(e, r, 0), gamma, beta,
              arg_v(e, r, 0), arg_i(lrpt), arg_i(m), arg_i(nn), arg_f(eps));
}

static bertc_status_t lower_gather(emitter_t *e, const ir_node_t *n) {
  const int32_t *op = n->operands;
  const ir_value_t *t = &e->g->values[op[0]];
  return EMIT(e, "bk_gather", e->batch, arg_v(e, op[0], 0), arg_v(e, op[1], 0),
              arg_v(e, n->result, 0), arg_i(e->seq), arg_i(t->dims[1]), arg_i(t->dims[0]));
}

static bertc_status_t lower_position_ids(emitter_t *e, const ir_node_t *n) {
  if (e->packed)
    return EMIT(e, "bk_position_ids_packed", e->segments + 1, arg_v(e, n->operands[0], 0),
                e->segs, arg_v(e, n->result, 0), arg_i(e->tokens), arg_i(e->segments),
                arg_i(n->iattr[0]));
  return EMIT(e, "bk_position_ids", e->batch, arg_v(e, n->operands[0], 0),
              arg_v(e, n->result, 0), arg_i(e->seq), arg_i(n->iattr[0]));
}

static bertc_status_t lower_embed_ln(emitter_t *e, const ir_node_t *n) {
  const int32_t *op = n->operands;
  const ir_value_t *w = &e->g->values[op[0]], *p = &e->g->values[op[2]];
  bool types = n->num_operands == 7;
  if (e->packed)
    return EMIT(e, "bk_embed_ln_packed", e->segments + 1, arg_v(e, op[1], 0),
                types ? arg_v(e, op[6], 0) : arg_null(), e->segs, arg_v(e, op[0], 0),
                arg_v(e, op[2], 0), types ? arg_v(e, op[5], 0) : arg_null(), arg_v(e, op[3], 0),
                arg_v(e, op[4], 0), arg_v(e, n->result, 0), arg_i(e->tokens),
                arg_i(e->segments), arg_i(w->dims[1]), arg_i(w->dims[0]), arg_i(p->dims[0]),
                arg_i(types ? e->g->values[op[5]].dims[0] : 0), arg_i(n->iattr[0]),
                arg_f(n->fattr[0]));
  return EMIT(e, "bk_embed_ln", e->batch, arg_v(e, op[1], 0),
              types ? arg_v(e, op[6], 0) : arg_null(), arg_v(e, op[0], 0), arg_v(e, op[2], 0),
              types ? arg_v(e, op[5], 0) : arg_null(), arg_v(e, op[3], 0), arg_v(e, op[4], 0),
              arg_v(e, n->result, 0), arg_i(e->seq), arg_i(w->dims[1]), arg_i(w->dims[0]),
              arg_i(p->dims[0]), arg_i(types ? e->g->values[op[5]].dims[0] : 0),
              arg_i(n->iattr[0]), arg_f(n->fattr[0]));
}

static bertc_status_t lower_embed_ln_i8(emitter_t *e, const ir_node_t *n) {
  const int32_t *op = n->operands;
  const ir_value_t *w = &e->g->values[op[0]], *p = &e->g->values[op[3]];
  bool types = n->num_operands == 8;
  if (e->packed)
    return EMIT(e, "bk_embed_ln_i8_packed", e->segments + 1, arg_v(e, op[2], 0),
                types ? arg_v(e, op[7], 0) : arg_null(), e->segs, arg_v(e, op[0], 0),
                arg_v(e, op[1], 0), arg_v(e, op[3], 0), types ? arg_v(e, op[6], 0) : arg_null(),
                arg_v(e, op[4], 0), arg_v(e, op[5], 0), arg_v(e, n->result, 0),
                arg_i(e->tokens), arg_i(e->segments), arg_i(w->dims[1]), arg_i(w->dims[0]),
                arg_i(p->dims[0]), arg_i(types ? e->g->values[op[6]].dims[0] : 0),
                arg_i(n->iattr[0]), arg_f(n->fattr[0]));
  return EMIT(e, "bk_embed_ln_i8", e->batch, arg_v(e, op[2], 0),
              types ? arg_v(e, op[7], 0) : arg_null(), arg_v(e, op[0], 0), arg_v(e, op[1], 0),
              arg_v(e, op[3], 0), types ? arg_v(e, op[6], 0) : arg_null(), arg_v(e, op[4], 0),
              arg_v(e, op[5], 0), arg_v(e, n->result, 0), arg_i(e->seq), arg_i(w->dims[1]),
              arg_i(w->dims[0]), arg_i(p->dims[0]),
              arg_i(types ? e->g->values[op[6]].dims[0] : 0), arg_i(n->iattr[0]),
              arg_f(n->fattr[0]));
}

static bertc_status_t lower_add(emitter_t *e, const ir_node_t *n) {
  const int32_t *op = n->operands;
  int64_t total = numel(e, op[0]), chunk = chunk_for(e, total);
  return EMIT(e, "bk_add", ceil_div(total, chunk), arg_v(e, op[0], 0), arg_v(e, op[1], 0),
              arg_v(e, n->result, 0), arg_i(chunk), arg_i(total), arg_i(numel(e, op[1])));
}

static bertc_status_t lower_scale(emitter_t *e, const ir_node_t *n) {
  int64_t total = numel(e, n->operands[0]), chunk = chunk_for(e, total);
  return EMIT(e, "bk_scale", ceil_div(total, chunk), arg_v(e, n->operands[0], 0),
              arg_v(e, n->result, 0), arg_i(chunk), arg_i(total), arg_f(n->fattr[0]));
}

/* The activation ops (ir/acts.def): bk_unary with the op's activation. */
static bertc_status_t lower_unary(emitter_t *e, const ir_node_t *n) {
  int64_t total = numel(e, n->operands[0]), chunk = chunk_for(e, total);
  return EMIT(e, "bk_unary", ceil_div(total, chunk), arg_v(e, n->operands[0], 0),
              arg_v(e, n->result, 0), arg_i(chunk), arg_i(total), arg_i(ir_op_act(n->op)));
}

static bertc_status_t lower_layer_norm(emitter_t *e, const ir_node_t *n) {
  const int32_t *op = n->operands;
  int64_t h = last_dim(e, op[0]), rows = numel(e, op[0]) / h, rpt = rows_for(e, rows, h);
  return EMIT(e, "bk_layer_norm", ceil_div(rows, rpt), arg_v(e, op[0], 0), arg_v(e, op[1], 0),
              arg_v(e, op[2], 0), arg_v(e, n->result, 0), arg_i(rpt), arg_i(rows), arg_i(h),
              arg_f(n->fattr[0]));
}

static bertc_status_t lower_add_ln(emitter_t *e, const ir_node_t *n) {
  const int32_t *op = n->operands;
  int64_t h = last_dim(e, op[0]), rows = numel(e, op[0]) / h, rpt = rows_for(e, rows, h);
  return EMIT(e, "bk_add_ln", ceil_div(rows, rpt), arg_v(e, op[0], 0), arg_v(e, op[1], 0),
              arg_v(e, op[2], 0), arg_v(e, op[3], 0), arg_v(e, n->result, 0), arg_i(rpt),
              arg_i(rows), arg_i(h), arg_f(n->fattr[0]));
}

static bertc_status_t lower_attn_scores(emitter_t *e, const ir_node_t *n) {
  const int32_t *op = n->operands;
  int64_t h = last_dim(e, op[0]), a = n->iattr[0];
  return EMIT(e, "bk_attn_scores", e->batch * a, arg_v(e, op[0], 0), arg_v(e, op[1], 0),
              arg_v(e, n->result, 0), arg_i(e->seq), arg_i(a), arg_i(h / a), arg_i(h),
              arg_f(n->fattr[0]));
}

/* bk_attn_mask works in place: a copy first where the memory plan could not
 * put the result over the scores. */
static bertc_status_t lower_attn_mask(emitter_t *e, const ir_node_t *n) {
  const int32_t *op = n->operands;
  int32_t r = n->result;
  int64_t S = e->seq, a = e->g->values[op[0]].dims[1];
  if (e->plan->in_place_of[r] != op[0]) {
    int64_t rows = e->batch * a * S, rpt = rows_for(e, rows, S);
    BERTC_RETURN_IF_ERROR(EMIT(e, "bk_copy_cols", ceil_div(rows, rpt), arg_v(e, op[0], 0),
                               arg_v(e, r, 0), arg_i(rpt), arg_i(rows), arg_i(S), arg_i(S),
                               arg_i(S)));
  }
  return EMIT(e, "bk_attn_mask", e->batch, arg_v(e, r, 0), arg_v(e, op[1], 0), arg_i(S),
              arg_i(a));
}

static bertc_status_t lower_softmax(emitter_t *e, const ir_node_t *n) {
  const int32_t *op = n->operands;
  int64_t h = last_dim(e, op[0]), rows = numel(e, op[0]) / h, rpt = rows_for(e, rows, h);
  return EMIT(e, "bk_softmax", ceil_div(rows, rpt), arg_v(e, op[0], 0), arg_v(e, n->result, 0),
              arg_i(rpt), arg_i(rows), arg_i(h));
}

static bertc_status_t lower_attn_context(emitter_t *e, const ir_node_t *n) {
  const int32_t *op = n->operands;
  int64_t h = last_dim(e, op[1]), a = n->iattr[0];
  return EMIT(e, "bk_attn_context", e->batch * a, arg_v(e, op[0], 0), arg_v(e, op[1], 0),
              arg_v(e, n->result, 0), arg_i(e->seq), arg_i(a), arg_i(h / a), arg_i(h));
}

/* The fused attention of a token bucket: bk_attention_packed over all rows. */
static bertc_status_t lower_attention_packed(emitter_t *e, const ir_node_t *n) {
  const int32_t *op = n->operands;
  int32_t r = n->result;
  int64_t T = e->tokens, h = last_dim(e, r), a = n->iattr[0];
  int64_t rpt = bk_attention_rows_per_task(T, 1, a, h / a, e->threads);
  int64_t ntasks = a * ceil_div(T, rpt);
  bool qkv = n->num_operands == 2;
  cg_arg_t mask = qkv ? arg_v(e, op[1], 0) : n->num_operands == 4 ? arg_v(e, op[3], 0) : arg_null();
  return EMIT(e, "bk_attention_packed", ntasks, arg_v(e, op[0], 0),
              qkv ? arg_v(e, op[0], h * 4) : arg_v(e, op[1], 0),
              qkv ? arg_v(e, op[0], 2 * h * 4) : arg_v(e, op[2], 0), mask, e->segs,
              arg_v(e, r, 0), arg_i(T), arg_i(e->segments), arg_i(a), arg_i(h / a),
              arg_i(qkv ? 3 * h : h), arg_i(rpt), arg_f(n->fattr[0]));
}

static bertc_status_t lower_attention(emitter_t *e, const ir_node_t *n) {
  if (e->packed) return lower_attention_packed(e, n);
  const int32_t *op = n->operands;
  int32_t r = n->result;
  int64_t S = e->seq, h = last_dim(e, r), a = n->iattr[0];
  int64_t rpt = bk_attention_rows_per_task(S, e->batch, a, h / a, e->threads);
  int64_t ntasks = e->batch * a * ceil_div(S, rpt);
  if (n->num_operands == 2)
    return EMIT(e, "bk_attention", ntasks, arg_v(e, op[0], 0), arg_v(e, op[0], h * 4),
                arg_v(e, op[0], 2 * h * 4), arg_v(e, op[1], 0), arg_v(e, r, 0), arg_i(S),
                arg_i(a), arg_i(h / a), arg_i(3 * h), arg_i(rpt), arg_f(n->fattr[0]));
  return EMIT(e, "bk_attention", ntasks, arg_v(e, op[0], 0), arg_v(e, op[1], 0),
              arg_v(e, op[2], 0), n->num_operands == 4 ? arg_v(e, op[3], 0) : arg_null(),
              arg_v(e, r, 0), arg_i(S), arg_i(a), arg_i(h / a), arg_i(h), arg_i(rpt),
              arg_f(n->fattr[0]));
}

static bertc_status_t lower_select_token(emitter_t *e, const ir_node_t *n) {
  int64_t h = last_dim(e, n->operands[0]);
  if (e->packed)
    return EMIT(e, "bk_select_token_packed", e->segments, arg_v(e, n->operands[0], 0), e->segs,
                arg_v(e, n->result, 0), arg_i(e->tokens), arg_i(h), arg_i(n->iattr[0]));
  if (n->iattr[0] >= e->seq)
    return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT,
                             "select_token index %lld does not exist at seq %lld",
                             (long long)n->iattr[0], (long long)e->seq);
  return EMIT(e, "bk_select_token", e->batch, arg_v(e, n->operands[0], 0),
              arg_v(e, n->result, 0), arg_i(e->seq), arg_i(h), arg_i(n->iattr[0]));
}

static bertc_status_t lower_pool(emitter_t *e, const ir_node_t *n) {
  int64_t mode = n->op == IR_OP_POOL_MEAN ? 0 : n->op == IR_OP_POOL_MAX ? 1 : 2;
  if (e->packed)
    return EMIT(e, "bk_pool_packed", e->segments, arg_v(e, n->operands[0], 0),
                arg_v(e, n->operands[1], 0), e->segs, arg_v(e, n->result, 0), arg_i(e->tokens),
                arg_i(last_dim(e, n->operands[0])), arg_i(mode));
  return EMIT(e, "bk_pool", e->batch, arg_v(e, n->operands[0], 0), arg_v(e, n->operands[1], 0),
              arg_v(e, n->result, 0), arg_i(e->seq), arg_i(last_dim(e, n->operands[0])),
              arg_i(mode));
}

static bertc_status_t lower_concat(emitter_t *e, const ir_node_t *n) {
  int32_t r = n->result;
  int64_t width = last_dim(e, r), rows = numel(e, r) / width, col = 0;
  for (int i = 0; i < n->num_operands; i++) {
    int64_t w = last_dim(e, n->operands[i]), rpt = rows_for(e, rows, w);
    BERTC_RETURN_IF_ERROR(EMIT(e, "bk_copy_cols", ceil_div(rows, rpt),
                               arg_v(e, n->operands[i], 0), arg_v(e, r, col * 4), arg_i(rpt),
                               arg_i(rows), arg_i(w), arg_i(width), arg_i(w)));
    col += w;
  }
  return BERTC_OK;
}

static bertc_status_t lower_l2_normalize(emitter_t *e, const ir_node_t *n) {
  const int32_t *op = n->operands;
  int64_t h = last_dim(e, op[0]), rows = numel(e, op[0]) / h, rpt = rows_for(e, rows, h);
  return EMIT(e, "bk_l2_normalize", ceil_div(rows, rpt), arg_v(e, op[0], 0),
              arg_v(e, n->result, 0), arg_i(rpt), arg_i(rows), arg_i(h));
}

static bertc_status_t lower_slice_last(emitter_t *e, const ir_node_t *n) {
  int32_t x = n->operands[0];
  int64_t w = last_dim(e, x), rows = numel(e, x) / w, size = n->iattr[1];
  int64_t rpt = rows_for(e, rows, size);
  return EMIT(e, "bk_copy_cols", ceil_div(rows, rpt), arg_v(e, x, n->iattr[0] * 4),
              arg_v(e, n->result, 0), arg_i(rpt), arg_i(rows), arg_i(w), arg_i(size),
              arg_i(size));
}

bertc_status_t lower_check_packable(const ir_graph_t *g) {
  for (size_t i = 0; i < g->num_nodes; i++) {
    ir_op_t op = g->nodes[i].op;
    if (op == IR_OP_ATTN_SCORES || op == IR_OP_ATTN_MASK || op == IR_OP_ATTN_CONTEXT)
      return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT,
                               "token buckets need the fused attention (pass fuse-attention); "
                               "node %zu is %s",
                               i, ir_op_info(op)->name);
  }
  for (size_t v = 0; v < g->num_values; v++) {
    const ir_value_t *x = &g->values[v];
    int seqs = 0;
    for (int d = 0; d < x->rank; d++) seqs += x->dims[d] == IR_DIM_SEQ;
    if (seqs && (seqs > 1 || x->rank < 2 || x->dims[0] != IR_DIM_BATCH || x->dims[1] != IR_DIM_SEQ))
      return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT,
                               "token buckets need every per-token value shaped [B, S, ...]; "
                               "value %%%zu is not",
                               v);
  }
  return BERTC_OK;
}

static const lower_fn op_lowerings[IR_OP_COUNT] = {
#define IR_OP(e, name, mn, mx, ia, fa, shape, kernel, in_place, doc) lower_##kernel,
#include "ir/ops.def"
#undef IR_OP
};

void lower_result_deinit(lower_result_t *r) {
  for (size_t b = 0; b < r->program.num_buckets; b++) free(r->program.buckets[b].calls);
  free(r->program.buckets);
  free(r->weights);
  free(r->outputs);
  memset(r, 0, sizeof(*r));
}

/* Lays out every constant a node reads; each distinct buffer once. */
static bertc_status_t place_constants(const ir_graph_t *g, lower_result_t *out,
                                      uint64_t *offsets) {
  uint64_t size = 0;
  for (size_t v = 0; v < g->num_values; v++) {
    offsets[v] = UINT64_MAX;
    const ir_value_t *x = &g->values[v];
    if (x->kind != IR_VALUE_CONST || ir_value_use_count(g, (int32_t)v) == 0) continue;
    for (size_t u = 0; u < v && offsets[v] == UINT64_MAX; u++)
      if (offsets[u] != UINT64_MAX && g->values[u].data == x->data &&
          g->values[u].data_bytes >= x->data_bytes)
        offsets[v] = offsets[u];
    if (offsets[v] != UINT64_MAX) continue;
    offsets[v] = base_align_up(size, 64);
    if (!base_add_u64(offsets[v], x->data_bytes, &size))
      return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT, "weights too large");
  }
  size = base_align_up(size, 64);
  BERTC_RETURN_IF_ERROR(base_calloc(1, (size_t)size, (void **)&out->weights));
  for (size_t v = 0; v < g->num_values; v++)
    if (offsets[v] != UINT64_MAX && g->values[v].data)
      memcpy(out->weights + offsets[v], g->values[v].data, g->values[v].data_bytes);
  out->program.weights = out->weights;
  out->program.weights_size = size;
  return BERTC_OK;
}

/* Appends the AMX parts the weight layout made to the blob, and points the
 * bk_gemm_amx calls at them. */
static bertc_status_t append_amx_parts(const ir_graph_t *g, const layout_t *layout,
                                       lower_result_t *out) {
  uint64_t size = out->program.weights_size;
  uint64_t *at = calloc(g->num_values ? g->num_values : 1, sizeof(uint64_t));
  if (!at) return bertc_status_make(BERTC_STATUS_OUT_OF_MEMORY, "out of memory");
  bertc_status_t s = BERTC_OK;
  for (size_t v = 0; !s && v < g->num_values; v++) {
    if (!layout->amx[v]) continue;
    const ir_value_t *w = &g->values[v];
    at[v] = base_align_up(size, 64);
    if (!base_add_u64(at[v], (uint64_t)bk_packed_amx_bytes(w->dims[0], w->dims[1]), &size))
      s = bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT, "weights too large");
  }
  size = base_align_up(size, 64);
  uint8_t *blob = NULL;
  if (!s && size > out->program.weights_size) {
    blob = realloc(out->weights, (size_t)size);
    if (!blob) s = bertc_status_make(BERTC_STATUS_OUT_OF_MEMORY, "out of memory (AMX weights)");
  }
  if (!s && blob) {
    memset(blob + out->program.weights_size, 0, (size_t)(size - out->program.weights_size));
    out->weights = blob;
    out->program.weights = blob;
    out->program.weights_size = size;
    for (size_t v = 0; v < g->num_values; v++)
      if (layout->amx[v])
        memcpy(blob + at[v], layout->amx[v],
               (size_t)bk_packed_amx_bytes(g->values[v].dims[0], g->values[v].dims[1]));
  }
  for (size_t b = 0; !s && b < out->program.num_buckets; b++)
    for (size_t c = 0; c < out->program.buckets[b].num_calls; c++) {
      cg_call_t *call = &out->program.buckets[b].calls[c];
      for (int32_t a = 0; a < call->num_args; a++)
        if (call->args[a].kind == CG_ARG_PTR && call->args[a].region == CG_REGION_WEIGHTS &&
            call->args[a].index == 1) {
          call->args[a].i = (int64_t)at[call->args[a].i];
          call->args[a].index = 0;
        }
    }
  free(at);
  return s;
}

static void abi_tensor(const ir_value_t *v, const char *name, bertc_abi_tensor_t *t) {
  memset(t, 0, sizeof(*t));
  t->name = name;
  t->dtype = v->dtype == IR_I32 ? BERTC_ABI_I32 : BERTC_ABI_F32;
  t->rank = v->rank;
  for (int i = 0; i < v->rank; i++)
    t->dims[i] = v->dims[i] == IR_DIM_BATCH ? BERTC_ABI_DIM_BATCH
                 : v->dims[i] == IR_DIM_SEQ ? BERTC_ABI_DIM_SEQ
                                            : v->dims[i];
}

/* One bucket's kernel calls, after its memory plan; tokens > 0 makes the
 * token bucket of that many tokens (batch and seq then as lower_token_dims). */
static bertc_status_t lower_bucket(emitter_t *e, int64_t batch, int64_t seq, int64_t tokens,
                                   cg_bucket_t *bk) {
  const ir_graph_t *g = e->g;
  e->packed = tokens > 0;
  e->tokens = tokens;
  e->segments = batch;
  mp_plan_t plan;
  BERTC_RETURN_IF_ERROR(mp_plan_memory(g, batch, seq, &plan));
  e->plan = &plan;
  e->scratch_base = base_align_up(plan.arena_bytes, 64);
  e->scratch_bytes = 0;
  e->batch = batch;
  e->seq = seq;
  e->calls = NULL;
  e->num_calls = e->cap_calls = 0;
  bertc_status_t s = BERTC_OK;
  for (size_t n = 0; !s && n < g->num_nodes; n++)
    s = bertc_status_annotate(op_lowerings[g->nodes[n].op](e, &g->nodes[n]),
                              "lowering node %zu (%s) for %s %lld %s %lld", n,
                              ir_op_info(g->nodes[n].op)->name, e->packed ? "tokens" : "batch",
                              (long long)(e->packed ? tokens : batch),
                              e->packed ? "sequences" : "seq",
                              (long long)(e->packed ? batch : seq));
  bk->batch = (int32_t)batch;
  bk->seq = (int32_t)(e->packed ? tokens : seq);
  bk->packed = e->packed;
  bk->arena_bytes = plan.arena_bytes;
  bk->peak_live_bytes = plan.peak_live_bytes;
  bk->unplanned_bytes = plan.total_temp_bytes;
  bk->calls = e->calls;
  bk->num_calls = e->num_calls;
  if (!s && e->scratch_bytes && !base_add_u64(e->scratch_base, e->scratch_bytes, &bk->arena_bytes))
    s = bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT, "batch %lld seq %lld: arena too large",
                          (long long)batch, (long long)seq);
  mp_plan_deinit(&plan);
  e->plan = NULL;
  return s;
}

bertc_status_t lower_program(const ir_graph_t *g, const layout_t *layout, const char *model_name,
                             const lower_buckets_t *buckets, const lower_options_t *o,
                             lower_result_t *out) {
  memset(out, 0, sizeof(*out));
  lower_options_t defaults;
  if (!o) {
    lower_options_init(&defaults);
    o = &defaults;
  }
  cg_program_t *p = &out->program;
  p->model_name = model_name;
  uint64_t *woff = malloc((g->num_values ? g->num_values : 1) * sizeof(uint64_t));
  if (!woff) return bertc_status_make(BERTC_STATUS_OUT_OF_MEMORY, "out of memory");
  bertc_status_t s = place_constants(g, out, woff);
  emitter_t e;
  memset(&e, 0, sizeof(e));
  e.g = g;
  e.weight_offset = woff;
  e.layout = layout;
  e.o = o;
  e.threads = o->threads > 0 ? o->threads : 1;
  /* Inputs in canonical order: input_ids, token_type_ids (if used), mask. */
  int32_t roles[3] = {g->input_ids, g->token_type_ids, g->attention_mask};
  const char *role_names[3] = {"input_ids", "token_type_ids", "attention_mask"};
  for (int k = 0; k < 3; k++) e.input_index[k] = IR_NONE;
  for (int k = 0; !s && k < 3; k++) {
    if (roles[k] == IR_NONE) continue;
    e.input_index[p->num_inputs] = roles[k];
    abi_tensor(&g->values[roles[k]], role_names[k], &out->inputs[p->num_inputs]);
    p->num_inputs++;
  }
  if (!s && g->input_ids == IR_NONE)
    s = bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT, "graph has no input_ids");
  p->inputs = out->inputs;
  if (!s) s = base_calloc(g->num_outputs, sizeof(bertc_abi_tensor_t), (void **)&out->outputs);
  for (size_t k = 0; !s && k < g->num_outputs; k++)
    abi_tensor(&g->values[g->outputs[k].value], g->outputs[k].name, &out->outputs[k]);
  p->outputs = out->outputs;
  p->num_outputs = g->num_outputs;
  size_t nb = buckets->num_batches * buckets->num_seqs + buckets->num_tokens;
  if (!s && buckets->num_tokens) s = lower_check_packable(g);
  e.segs = (cg_arg_t){CG_ARG_PTR, CG_REGION_INPUT, (int32_t)p->num_inputs, 0, 0};
  if (!s) s = base_calloc(nb ? nb : 1, sizeof(cg_bucket_t), (void **)&p->buckets);
  for (size_t bi = 0; !s && bi < buckets->num_batches; bi++)
    for (size_t si = 0; !s && si < buckets->num_seqs; si++)
      s = lower_bucket(&e, buckets->batches[bi], buckets->seqs[si], 0,
                       &p->buckets[p->num_buckets++]);
  for (size_t ti = 0; !s && ti < buckets->num_tokens; ti++) {
    int64_t batch, seq, t = buckets->tokens[ti];
    if (t < LOWER_TOKEN_MULTIPLE || t % LOWER_TOKEN_MULTIPLE || t > INT32_MAX)
      s = bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT,
                            "token bucket %lld is not a positive multiple of %d", (long long)t,
                            LOWER_TOKEN_MULTIPLE);
    lower_token_dims(t, &batch, &seq);
    if (!s) s = lower_bucket(&e, batch, seq, t, &p->buckets[p->num_buckets++]);
  }
  if (!s && layout && layout->amx) s = append_amx_parts(g, layout, out);
  p->flags = e.flags;
  free(woff);
  if (s) lower_result_deinit(out);
  return s;
}
