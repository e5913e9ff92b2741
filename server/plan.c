/* How a batch of sequences becomes runs of the context.
 *
 * A run of m sequences whose longest has L tokens costs what the cheapest
 * bucket holding it computes (batch x seq, the bucket bertc_context_run
 * picks) plus a fixed charge per run (per-layer synchronization, small
 * GEMMs), so that of two splits with equal padding the one with fewer runs
 * wins. With the sequences sorted by length, a run takes the next
 * min(batch, left) of them for one of the buckets' batch sizes, and
 * dynamic programming from the end finds the split that computes the
 * fewest tokens: 16 short sequences and buckets of batch 1, 8 and 32 run
 * as 8 + 8 rather than as 32 rows of which half are padding, and a batch
 * of mixed lengths runs its short sequences in a short bucket. */
#include <stdint.h>

#include "server/internal.h"

#define RUN_OVERHEAD_TOKENS 64

static int64_t run_cost(const bertc_abi_bucket_t *buckets, uint32_t nb, int32_t m,
                        int32_t longest) {
  int64_t best = INT64_MAX;
  for (uint32_t k = 0; k < nb; k++) {
    const bertc_abi_bucket_t *b = &buckets[k];
    if (b->batch >= m && b->seq >= longest && (int64_t)b->batch * b->seq < best)
      best = (int64_t)b->batch * b->seq;
  }
  /* No bucket holds it (inputs are checked against the largest): the
   * context would split it; charge it above any bucket. */
  return best == INT64_MAX ? (int64_t)m * longest * 4 : best;
}

size_t srv_plan_runs(const bertc_abi_bucket_t *buckets, uint32_t nb, int32_t largest,
                     const int32_t *lengths, size_t n, int64_t *cost, int32_t *take,
                     int32_t *sizes) {
  cost[n] = 0;
  for (size_t i = n; i-- > 0;) {
    cost[i] = INT64_MAX;
    take[i] = 1;
    size_t left = n - i;
    for (uint32_t k = 0; k < nb; k++) {
      int32_t b = buckets[k].batch > largest ? largest : buckets[k].batch;
      int32_t m = (size_t)b < left ? b : (int32_t)left;
      int64_t c = run_cost(buckets, nb, m, lengths[i + (size_t)m - 1]) + RUN_OVERHEAD_TOKENS +
                  cost[i + (size_t)m];
      if (c < cost[i] || (c == cost[i] && m > take[i])) {
        cost[i] = c;
        take[i] = m;
      }
    }
  }
  size_t runs = 0;
  for (size_t i = 0; i < n; i += (size_t)take[i])
    sizes[runs++] = take[i];
  return runs;
}
