/* fold-constants: evaluate at compile time what depends only on constants.
 *
 * A node whose operands are all constants and whose result has static dims
 * (no B or S) is run once through the reference interpreter
 * (ir_eval_const_node) and its result becomes a new constant that every
 * reader reads instead. Nodes are visited in execution order, so a chain of
 * such nodes folds in one walk (each folded result makes its reader
 * foldable), and a second run finds nothing: the pass is idempotent. It is
 * legal because the interpreter is the definition of every op. Not folded:
 * results that are graph outputs (lowering writes outputs into the caller's
 * buffers, so they must stay computed), and nodes the interpreter rejects
 * (say, an out-of-range id): the error then still happens where it would
 * have. The constants the folded nodes read are dropped when nothing else
 * reads them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "passes/rewrite.h"

static bool foldable(const rw_t *rw, int32_t i) {
  const ir_graph_t *g = rw->g;
  const ir_node_t *n = &g->nodes[i];
  const ir_value_t *r = &g->values[n->result];
  for (int d = 0; d < r->rank; d++)
    if (r->dims[d] < 0) return false;
  for (int k = 0; k < n->num_operands; k++)
    if (!rw_is_const(rw, n->operands[k])) return false;
  return !ir_value_is_output(g, n->result);
}

/* "op(a, b)" from the operands' names, or the result's own name. */
static void folded_name(const rw_t *rw, int32_t i, char *buf, size_t size) {
  const ir_graph_t *g = rw->g;
  const ir_node_t *n = &g->nodes[i];
  if (g->values[n->result].name) {
    snprintf(buf, size, "%s", g->values[n->result].name);
    return;
  }
  size_t used = (size_t)snprintf(buf, size, "%s(", ir_op_info(n->op)->name);
  for (int k = 0; k < n->num_operands && used < size; k++) {
    char part[256];
    rw_derived_name(rw, part, sizeof part, k ? ", " : "", n->operands[k], "");
    used += (size_t)snprintf(buf + used, size - used, "%s", part);
  }
  if (used < size) snprintf(buf + used, size - used, ")");
}

bertc_status_t pass_fold_constants(ir_graph_t *g, const pass_options_t *o) {
  (void)o;
  rw_t rw;
  BERTC_RETURN_IF_ERROR(rw_begin(&rw, g));
  bertc_status_t s = BERTC_OK;
  for (int32_t i = 0; (size_t)i < rw.num_nodes && !s; i++) {
    if (rw.dead[i] || !foldable(&rw, i)) continue;
    void *data = NULL;
    uint64_t bytes = 0;
    bertc_status_t e = ir_eval_const_node(g, i, &data, &bytes);
    if (e) {
      if (bertc_status_code(e) == BERTC_STATUS_OUT_OF_MEMORY) {
        s = e;
        break;
      }
      bertc_status_free(e);
      continue;
    }
    char name[512];
    folded_name(&rw, i, name, sizeof name);
    ir_value_t r = g->values[g->nodes[i].result];
    int32_t c;
    s = rw_add_const(&rw, name, r.dtype, r.rank, r.dims, IR_LAYOUT_ROW_MAJOR, 0, data, bytes, &c);
    if (!s) rw_forward(&rw, i, c);
  }
  return rw_end(&rw, s);
}
