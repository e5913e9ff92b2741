/* Memory planning (see memory_plan.h for the algorithm).
 *
 * Lifetimes are node indices in execution order. A buffer defined by node i
 * and last read by node j is live on [i, j]; a buffer nobody reads is live on
 * [i, i]. In-place results extend their operand's buffer, so the pair is
 * planned as one interval. Placement is greedy by decreasing size with best
 * fit, the classic offline heuristic (TFLite's "greedy by size", Glow's
 * allocator): for n tensors it is O(n^2), trivial at BERT's few hundred. */
#include "passes/memory_plan.h"

#include <stdlib.h>
#include <string.h>

#include "base/base.h"

static bool live_together(const mp_interval_t *a, const mp_interval_t *b) {
  return a->first <= b->last && b->first <= a->last;
}

typedef struct placed {
  uint64_t begin, end;
} placed_t;

static int cmp_placed(const void *x, const void *y) {
  const placed_t *a = x, *b = y;
  return a->begin < b->begin ? -1 : a->begin > b->begin;
}

bertc_status_t mp_assign(mp_interval_t *items, size_t count, uint64_t *out_arena_bytes) {
  *out_arena_bytes = 0;
  if (count == 0) return BERTC_OK;
  size_t *order = malloc(count * sizeof(size_t));
  placed_t *busy = malloc(count * sizeof(placed_t));
  bool *done = calloc(count, sizeof(bool));
  if (!order || !busy || !done) {
    free(order);
    free(busy);
    free(done);
    return bertc_status_make(BERTC_STATUS_OUT_OF_MEMORY, "out of memory planning memory");
  }
  for (size_t i = 0; i < count; i++) order[i] = i;
  /* Largest first; ties by earlier start, then index (deterministic). */
  for (size_t i = 1; i < count; i++)
    for (size_t j = i; j > 0; j--) {
      const mp_interval_t *a = &items[order[j]], *b = &items[order[j - 1]];
      bool before = a->bytes > b->bytes ||
                    (a->bytes == b->bytes && (a->first < b->first ||
                                              (a->first == b->first && order[j] < order[j - 1])));
      if (!before) break;
      size_t t = order[j];
      order[j] = order[j - 1];
      order[j - 1] = t;
    }
  uint64_t arena = 0;
  for (size_t k = 0; k < count; k++) {
    mp_interval_t *it = &items[order[k]];
    uint64_t size = base_align_up(it->bytes ? it->bytes : 1, MP_ALIGN);
    size_t nb = 0;
    for (size_t j = 0; j < count; j++)
      if (done[j] && live_together(&items[j], it))
        busy[nb++] = (placed_t){items[j].offset,
                                items[j].offset + base_align_up(items[j].bytes ? items[j].bytes : 1, MP_ALIGN)};
    qsort(busy, nb, sizeof(placed_t), cmp_placed);
    /* Best fit among the gaps between busy ranges; past the end otherwise. */
    uint64_t best = 0, best_gap = 0, cursor = 0;
    bool found = false;
    for (size_t j = 0; j < nb; j++) {
      if (busy[j].begin > cursor && busy[j].begin - cursor >= size &&
          (!found || busy[j].begin - cursor < best_gap)) {
        found = true;
        best_gap = busy[j].begin - cursor;
        best = cursor;
      }
      if (busy[j].end > cursor) cursor = busy[j].end;
    }
    if (!found) best = cursor;
    it->offset = best;
    done[order[k]] = true;
    if (best + size > arena) arena = best + size;
  }
  free(order);
  free(busy);
  free(done);
  *out_arena_bytes = arena;
  return BERTC_OK;
}

bertc_status_t mp_check(const mp_interval_t *items, size_t count) {
  for (size_t i = 0; i < count; i++)
    if (items[i].offset % MP_ALIGN)
      return bertc_status_make(BERTC_STATUS_INTERNAL, "buffer %zu at offset %llu is not %u-aligned",
                               i, (unsigned long long)items[i].offset, MP_ALIGN);
  for (size_t i = 0; i < count; i++) {
    for (size_t j = i + 1; j < count; j++) {
      if (!live_together(&items[i], &items[j])) continue;
      uint64_t a0 = items[i].offset, a1 = a0 + items[i].bytes;
      uint64_t b0 = items[j].offset, b1 = b0 + items[j].bytes;
      if (a0 < b1 && b0 < a1 && items[i].bytes && items[j].bytes)
        return bertc_status_make(BERTC_STATUS_INTERNAL,
                                 "buffers %zu [%llu,%llu) and %zu [%llu,%llu) are live together and overlap",
                                 i, (unsigned long long)a0, (unsigned long long)a1, j,
                                 (unsigned long long)b0, (unsigned long long)b1);
    }
  }
  return BERTC_OK;
}

void mp_plan_deinit(mp_plan_t *p) {
  free(p->offsets);
  free(p->in_place_of);
  memset(p, 0, sizeof(*p));
}

double mp_plan_efficiency(const mp_plan_t *p) {
  return p->arena_bytes ? (double)p->peak_live_bytes / (double)p->arena_bytes : 1.0;
}

bertc_status_t mp_plan_memory(const ir_graph_t *g, int64_t batch, int64_t seq, mp_plan_t *out) {
  memset(out, 0, sizeof(*out));
  size_t nv = g->num_values;
  out->batch = batch;
  out->seq = seq;
  out->num_values = nv;
  out->offsets = malloc((nv ? nv : 1) * sizeof(uint64_t));
  out->in_place_of = malloc((nv ? nv : 1) * sizeof(int32_t));
  int64_t *last_use = malloc((nv ? nv : 1) * sizeof(int64_t));
  int32_t *owner = malloc((nv ? nv : 1) * sizeof(int32_t)); /* buffer = owner's interval */
  mp_interval_t *items = calloc(nv ? nv : 1, sizeof(mp_interval_t));
  int32_t *item_of = malloc((nv ? nv : 1) * sizeof(int32_t));
  bertc_status_t s = BERTC_OK;
  if (!out->offsets || !out->in_place_of || !last_use || !owner || !items || !item_of)
    s = bertc_status_make(BERTC_STATUS_OUT_OF_MEMORY, "out of memory planning memory");
  for (size_t v = 0; !s && v < nv; v++) {
    out->offsets[v] = MP_NOT_IN_ARENA;
    out->in_place_of[v] = IR_NONE;
    last_use[v] = -1;
    owner[v] = (int32_t)v;
    item_of[v] = IR_NONE;
  }
  for (size_t n = 0; !s && n < g->num_nodes; n++)
    for (int i = 0; i < g->nodes[n].num_operands; i++) last_use[g->nodes[n].operands[i]] = (int64_t)n;
  size_t ni = 0;
  for (size_t n = 0; !s && n < g->num_nodes; n++) {
    const ir_node_t *node = &g->nodes[n];
    int32_t r = node->result;
    if (ir_value_is_output(g, r)) continue;
    uint64_t bytes = (uint64_t)ir_value_numel(&g->values[r], batch, seq) *
                     (uint64_t)ir_dtype_size(g->values[r].dtype);
    if (!base_add_u64(out->total_temp_bytes, bytes, &out->total_temp_bytes)) {
      s = bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT, "arena size overflows");
      break;
    }
    int32_t a = node->num_operands ? node->operands[0] : IR_NONE;
    /* In place: an op the table marks in_place, first operand a temporary in
     * the arena that dies here, same size, not an operand twice. */
    bool in_place = ir_op_info(node->op)->in_place && a != IR_NONE &&
                    g->values[a].kind == IR_VALUE_TEMP && item_of[owner[a]] != IR_NONE &&
                    last_use[a] == (int64_t)n &&
                    (uint64_t)ir_value_numel(&g->values[a], batch, seq) *
                            (uint64_t)ir_dtype_size(g->values[a].dtype) ==
                        bytes;
    for (int i = 1; in_place && i < node->num_operands; i++) in_place = node->operands[i] != a;
    int64_t end = last_use[r] < 0 ? (int64_t)n : last_use[r];
    if (in_place) {
      owner[r] = owner[a];
      out->in_place_of[r] = a;
      mp_interval_t *it = &items[item_of[owner[a]]];
      if (end > it->last) it->last = end;
    } else {
      item_of[r] = (int32_t)ni;
      items[ni++] = (mp_interval_t){bytes, (int64_t)n, end, 0};
    }
  }
  if (!s) s = mp_assign(items, ni, &out->arena_bytes);
  if (!s) s = mp_check(items, ni);
  for (size_t v = 0; !s && v < nv; v++)
    if (g->values[v].kind == IR_VALUE_TEMP && item_of[owner[v]] != IR_NONE && !ir_value_is_output(g, (int32_t)v))
      out->offsets[v] = items[item_of[owner[v]]].offset;
  /* Peak live bytes over nodes, for the efficiency figure. */
  for (size_t n = 0; !s && n < g->num_nodes; n++) {
    uint64_t live = 0;
    for (size_t k = 0; k < ni; k++)
      if (items[k].first <= (int64_t)n && (int64_t)n <= items[k].last)
        live += base_align_up(items[k].bytes, MP_ALIGN);
    if (live > out->peak_live_bytes) out->peak_live_bytes = live;
  }
  free(last_use);
  free(owner);
  free(items);
  free(item_of);
  if (s) mp_plan_deinit(out);
  return s;
}
