/* The pass manager: the table of passes, the default pipeline, and the
 * driver that runs a pipeline with its instrumentation.
 *
 * A pipeline is a list of names resolved against the table up front, so a
 * typo fails before any pass has touched the graph. Each pass then runs in
 * turn; with verify_each the verifier runs on the input and after every
 * pass, and a failure names the pass that broke the graph. print_after
 * dumps the graph (constant data elided) after the named pass or after all
 * of them; stats collects, per pass run, the node count and the constant
 * bytes (ir_graph_const_bytes: distinct data that some node reads) before
 * and after, and the wall time, and prints them as one table at the end. */
#define _POSIX_C_SOURCE 199309L /* clock_gettime */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "passes/passes.h"
#include "passes/rewrite.h"
#include "base/base.h"

typedef bertc_status_t (*pass_fn)(ir_graph_t *g, const pass_options_t *o);

typedef struct pass_info {
  const char *name;
  pass_fn run;
  const char *summary;
} pass_info_t;

static const pass_info_t pass_table[] = {
    {"dce", pass_dce, "remove nodes whose results reach no output, and unread constants"},
    {"fold-constants", pass_fold_constants,
     "evaluate nodes whose operands are all constants (reference interpreter)"},
    {"canonicalize", pass_canonicalize,
     "fold the attention scale into the Q projection; drop identity ops"},
    {"fuse-embeddings", pass_fuse_embeddings,
     "gathers + position ids + adds + layer_norm -> embed_ln"},
    {"fuse-attention", pass_fuse_attention,
     "attn_scores, attn_mask, softmax, attn_context -> attention"},
    {"merge-qkv", pass_merge_qkv, "Q, K, V linears of one attention -> one [3H,K] linear"},
    {"fuse-linear-act", pass_fuse_linear_act, "linear + activation op -> linear{act}"},
    {"fuse-linear-add-ln", pass_fuse_linear_add_ln,
     "linear + residual add + layer_norm -> linear_add_ln (add + layer_norm -> add_ln)"},
    {"quantize-int8", pass_quantize_int8,
     "per-token linear layers -> quantize, matmul_i8, dequantize (int8 weights per channel)"},
    {"fuse-int8", pass_fuse_int8,
     "quantize + matmul_i8 + dequantize (+ add_ln) -> qlinear"},
};

static const char *const default_pipeline[] = {
    "dce",       "fold-constants",  "canonicalize",       "fuse-embeddings", "fuse-attention",
    "merge-qkv", "fuse-linear-act", "fuse-linear-add-ln", "dce",
};
/* Appended to the default pipeline for int8 (pass_options_t.int8). */
static const char *const int8_pipeline[] = {"quantize-int8", "fuse-int8", "dce"};

size_t pass_count(void) { return BASE_ARRAY_LEN(pass_table); }
const char *pass_name(size_t i) { return i < pass_count() ? pass_table[i].name : NULL; }
const char *pass_summary(size_t i) { return i < pass_count() ? pass_table[i].summary : NULL; }

void pass_options_init(pass_options_t *o) {
  memset(o, 0, sizeof(*o));
  o->threads = 1;
}

static const pass_info_t *find_pass(const char *name, size_t len) {
  for (size_t i = 0; i < pass_count(); i++)
    if (strlen(pass_table[i].name) == len && !strncmp(pass_table[i].name, name, len))
      return &pass_table[i];
  return NULL;
}

static bertc_status_t unknown_pass(const char *what, const char *name, size_t len) {
  char valid[512];
  size_t used = 0;
  valid[0] = '\0';
  for (size_t i = 0; i < pass_count() && used < sizeof valid; i++)
    used += (size_t)snprintf(valid + used, sizeof valid - used, "%s%s", i ? ", " : "",
                             pass_table[i].name);
  return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT,
                           "%s: unknown pass '%.*s' (the passes are: %s)", what, (int)len, name,
                           valid);
}

/* Splits a comma-separated list (spaces around names ignored) and calls
 * add(name, len) for each; empty names are errors. */
static bertc_status_t each_name(const char *list, const char *what,
                                bertc_status_t (*add)(void *, const char *, size_t),
                                void *user) {
  const char *p = list;
  for (;;) {
    size_t len = strcspn(p, ",");
    const char *a = p, *b = p + len;
    while (a < b && (*a == ' ' || *a == '\t')) a++;
    while (b > a && (b[-1] == ' ' || b[-1] == '\t')) b--;
    if (a == b)
      return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT, "%s: empty pass name in '%s'",
                               what, list);
    BERTC_RETURN_IF_ERROR(add(user, a, (size_t)(b - a)));
    if (!p[len]) return BERTC_OK;
    p += len + 1;
  }
}

enum { MAX_PIPELINE = 64 };

typedef struct plan {
  const pass_info_t *steps[MAX_PIPELINE];
  size_t num_steps;
  const pass_info_t *disabled[MAX_PIPELINE];
  size_t num_disabled;
} plan_t;

static bertc_status_t add_step(void *user, const char *name, size_t len) {
  plan_t *p = user;
  const pass_info_t *info = find_pass(name, len);
  if (!info) return unknown_pass("pass pipeline", name, len);
  if (p->num_steps == MAX_PIPELINE)
    return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT,
                             "pass pipeline: more than %d passes", MAX_PIPELINE);
  p->steps[p->num_steps++] = info;
  return BERTC_OK;
}

static bertc_status_t add_disabled(void *user, const char *name, size_t len) {
  plan_t *p = user;
  const pass_info_t *info = find_pass(name, len);
  if (!info) return unknown_pass("disabled passes", name, len);
  if (p->num_disabled == MAX_PIPELINE)
    return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT, "disabled passes: more than %d",
                             MAX_PIPELINE);
  p->disabled[p->num_disabled++] = info;
  return BERTC_OK;
}

static bertc_status_t make_plan(const char *passes, const char *disabled, bool int8,
                                plan_t *p) {
  memset(p, 0, sizeof(*p));
  if (!passes) {
    for (size_t i = 0; i < BASE_ARRAY_LEN(default_pipeline); i++)
      p->steps[p->num_steps++] = find_pass(default_pipeline[i], strlen(default_pipeline[i]));
    for (size_t i = 0; int8 && i < BASE_ARRAY_LEN(int8_pipeline); i++)
      p->steps[p->num_steps++] = find_pass(int8_pipeline[i], strlen(int8_pipeline[i]));
  } else if (strcmp(passes, "none")) {
    BERTC_RETURN_IF_ERROR(each_name(passes, "pass pipeline", add_step, p));
  }
  if (disabled) BERTC_RETURN_IF_ERROR(each_name(disabled, "disabled passes", add_disabled, p));
  size_t kept = 0;
  for (size_t i = 0; i < p->num_steps; i++) {
    bool off = false;
    for (size_t j = 0; j < p->num_disabled; j++) off |= p->steps[i] == p->disabled[j];
    if (!off) p->steps[kept++] = p->steps[i];
  }
  p->num_steps = kept;
  return BERTC_OK;
}

typedef struct pass_stat {
  const char *name;
  size_t nodes_before, nodes_after;
  uint64_t bytes_before, bytes_after;
  double ms;
} pass_stat_t;

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static int width_of(uint64_t v) {
  char buf[32];
  return snprintf(buf, sizeof buf, "%llu", (unsigned long long)v);
}

static void print_stats(FILE *f, const pass_stat_t *rows, size_t n) {
  static const char *const head[] = {"pass", "nodes before", "nodes after", "const bytes before",
                                     "const bytes after", "time ms"};
  pass_stat_t total = {"total", 0, 0, 0, 0, 0};
  if (n) {
    total.nodes_before = rows[0].nodes_before;
    total.bytes_before = rows[0].bytes_before;
    total.nodes_after = rows[n - 1].nodes_after;
    total.bytes_after = rows[n - 1].bytes_after;
  }
  int w[6];
  for (int c = 0; c < 6; c++) w[c] = (int)strlen(head[c]);
  for (size_t i = 0; i <= n; i++) {
    const pass_stat_t *r = i < n ? &rows[i] : &total;
    int cells[5] = {(int)strlen(r->name), width_of(r->nodes_before), width_of(r->nodes_after),
                    width_of(r->bytes_before), width_of(r->bytes_after)};
    for (int c = 0; c < 5; c++)
      if (cells[c] > w[c]) w[c] = cells[c];
    total.ms += i < n ? r->ms : 0;
  }
  char ms[32];
  snprintf(ms, sizeof ms, "%.2f", total.ms);
  if ((int)strlen(ms) > w[5]) w[5] = (int)strlen(ms);
  fprintf(f, "%-*s  %*s  %*s  %*s  %*s  %*s\n", w[0], head[0], w[1], head[1], w[2], head[2], w[3],
          head[3], w[4], head[4], w[5], head[5]);
  for (size_t i = 0; i <= n; i++) {
    const pass_stat_t *r = i < n ? &rows[i] : &total;
    fprintf(f, "%-*s  %*zu  %*zu  %*llu  %*llu  %*.2f\n", w[0], r->name, w[1], r->nodes_before,
            w[2], r->nodes_after, w[3], (unsigned long long)r->bytes_before, w[4],
            (unsigned long long)r->bytes_after, w[5], r->ms);
  }
}

static bertc_status_t verify(const ir_graph_t *g, const char *after) {
  bertc_status_t s = ir_verify(g);
  if (!s) return BERTC_OK;
  if (!after) return bertc_status_annotate(s, "the graph given to the pass pipeline is invalid");
  return bertc_status_annotate(s, "pass '%s' left an invalid graph", after);
}

bertc_status_t pass_run_pipeline(ir_graph_t *g, const char *passes, const char *disabled,
                                 const pass_options_t *opts) {
  pass_options_t defaults;
  pass_options_init(&defaults);
  const pass_options_t *o = opts ? opts : &defaults;
  plan_t plan;
  BERTC_RETURN_IF_ERROR(make_plan(passes, disabled, o->int8, &plan));
  bool print_all = o->print_after && !strcmp(o->print_after, "all");
  if (o->print_after && !print_all && !find_pass(o->print_after, strlen(o->print_after)))
    return unknown_pass("print after", o->print_after, strlen(o->print_after));
  FILE *print_file = o->print_file ? o->print_file : stderr;
  pass_stat_t rows[MAX_PIPELINE];
  if (o->verify_each) BERTC_RETURN_IF_ERROR(verify(g, NULL));
  for (size_t i = 0; i < plan.num_steps; i++) {
    const pass_info_t *p = plan.steps[i];
    pass_stat_t *r = &rows[i];
    r->name = p->name;
    if (o->stats) {
      r->nodes_before = g->num_nodes;
      r->bytes_before = ir_graph_const_bytes(g);
    }
    double t0 = now_ms();
    BERTC_RETURN_IF_ERROR_CTX(p->run(g, o), "pass '%s'", p->name);
    r->ms = now_ms() - t0;
    if (o->stats) {
      r->nodes_after = g->num_nodes;
      r->bytes_after = ir_graph_const_bytes(g);
    }
    if (o->verify_each) BERTC_RETURN_IF_ERROR(verify(g, p->name));
    if (print_all || (o->print_after && !strcmp(o->print_after, p->name))) {
      fprintf(print_file, "# IR after pass '%s' (%zu of %zu)\n", p->name, i + 1, plan.num_steps);
      BERTC_RETURN_IF_ERROR(ir_print(g, print_file, IR_PRINT_ELIDE_DATA));
    }
  }
  if (o->stats) print_stats(o->stats_file ? o->stats_file : stderr, rows, plan.num_steps);
  return BERTC_OK;
}
