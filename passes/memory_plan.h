/* The memory plan: every intermediate tensor of one (batch, seq) bucket gets
 * a byte offset in one arena, so entry functions allocate nothing.
 *
 * Each temporary lives from the node that defines it to its last use. Two
 * tensors may share bytes only if their lifetimes do not overlap. Tensors are
 * placed largest first, each at the best-fitting gap (the smallest free range
 * that holds it) among the tensors already placed whose lifetimes overlap its
 * own, or past the end; sizes are rounded up to 64 bytes and offsets are
 * multiples of 64. A node whose op may work in place (ir/ops.def) and whose
 * first operand dies at that node writes its result over it (the two share
 * one buffer and one lifetime).
 * Graph outputs are not in the arena: the runtime hands the entry its output
 * buffers. */
#ifndef BERTC_PASSES_MEMORY_PLAN_H
#define BERTC_PASSES_MEMORY_PLAN_H

#include <stdbool.h>
#include <stdint.h>

#include "bertc/status.h"
#include "ir/ir.h"

#define MP_ALIGN 64u
#define MP_NOT_IN_ARENA UINT64_MAX

/* One buffer to place: live over the closed node range [first, last]. */
typedef struct mp_interval {
  uint64_t bytes;
  int64_t first, last;
  uint64_t offset; /* set by mp_assign */
} mp_interval_t;

/* Places the intervals (see above); returns the arena size. */
bertc_status_t mp_assign(mp_interval_t *items, size_t count, uint64_t *out_arena_bytes) BERTC_MUST_USE;

/* Checks that no two intervals live at the same time overlap in bytes and
 * every offset is aligned; the error names the pair. */
bertc_status_t mp_check(const mp_interval_t *items, size_t count) BERTC_MUST_USE;

typedef struct mp_plan {
  int64_t batch, seq;
  uint64_t arena_bytes;
  uint64_t peak_live_bytes;  /* max over nodes of the bytes live at once */
  uint64_t total_temp_bytes; /* what an allocation per tensor would take */
  uint64_t *offsets;         /* per value: arena offset or MP_NOT_IN_ARENA */
  int32_t *in_place_of;      /* per value: operand it overwrites, or IR_NONE */
  size_t num_values;
} mp_plan_t;

bertc_status_t mp_plan_memory(const ir_graph_t *g, int64_t batch, int64_t seq,
                              mp_plan_t *out) BERTC_MUST_USE;
void mp_plan_deinit(mp_plan_t *p);
/* peak_live_bytes / arena_bytes: 1.0 is a perfect plan. */
double mp_plan_efficiency(const mp_plan_t *p);

#endif
