/* dce: dead-code elimination.
 *
 * A node is live when its result is an output or an operand of a live node.
 * One backward walk over the nodes in execution order decides it (readers
 * come after the nodes they read). Dead nodes go with their results, and so
 * do constants that no live node reads: they would otherwise stay in the
 * graph's memory and in every dump. Inputs always stay: they are the
 * model's interface even when the graph ignores one (the runtime still
 * passes it). Removing work whose result nobody reads cannot change an
 * output, so the pass is legal; it is idempotent because after it every
 * node is live. */
#include <stdlib.h>

#include "passes/rewrite.h"
#include "base/base.h"

bertc_status_t pass_dce(ir_graph_t *g, const pass_options_t *o) {
  (void)o;
  rw_t rw;
  BERTC_RETURN_IF_ERROR(rw_begin(&rw, g));
  rw.drop_unread_constants = true;
  bool *needed;
  bertc_status_t s =
      base_calloc(g->num_values ? g->num_values : 1, sizeof(bool), (void **)&needed);
  if (s) return rw_end(&rw, s);
  for (size_t i = 0; i < g->num_outputs; i++) needed[g->outputs[i].value] = true;
  for (size_t i = g->num_nodes; i-- > 0;) {
    const ir_node_t *n = &g->nodes[i];
    if (!needed[n->result]) {
      rw.dead[i] = true;
      continue;
    }
    for (int k = 0; k < n->num_operands; k++) needed[n->operands[k]] = true;
  }
  free(needed);
  return rw_end(&rw, BERTC_OK);
}
