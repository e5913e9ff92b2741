/* Packing sequences into token buckets (see pack.h). */
#include "runtime/pack.h"

#include <stdlib.h>
#include <string.h>

#include "base/base.h"

bertc_status_t rt_packer_init(rt_packer_t *p, int32_t max_count, int32_t max_length) {
  memset(p, 0, sizeof *p);
  if (max_count < 1 || max_length < 1)
    return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT, "packer: %d sequences of %d tokens",
                             max_count, max_length);
  p->max_count = max_count;
  p->max_length = max_length;
  size_t n = (size_t)max_count;
  bertc_status_t s = base_calloc((size_t)max_length + 2, sizeof(int32_t), (void **)&p->hist);
  if (!s) s = base_calloc(n, sizeof(int32_t), (void **)&p->order);
  if (!s) s = base_calloc(n, sizeof(int32_t), (void **)&p->bin_of);
  if (!s) s = base_calloc(n, sizeof(int32_t), (void **)&p->members);
  if (!s) s = base_calloc(n + 1, sizeof(int32_t), (void **)&p->bin_start);
  if (!s) s = base_calloc(n, sizeof(int32_t), (void **)&p->bin_load);
  if (s) rt_packer_deinit(p);
  return s;
}

void rt_packer_deinit(rt_packer_t *p) {
  free(p->hist);
  free(p->order);
  free(p->bin_of);
  free(p->members);
  free(p->bin_start);
  free(p->bin_load);
  memset(p, 0, sizeof *p);
}

int32_t rt_pack(rt_packer_t *p, const int32_t *lengths, int32_t count, int32_t tokens,
                int32_t seqs) {
  /* Longest first: counting sort on max_length - length, stable. */
  int32_t L = p->max_length;
  memset(p->hist, 0, ((size_t)L + 2) * sizeof(int32_t));
  for (int32_t i = 0; i < count; i++) {
    if (lengths[i] > tokens) return 0;
    p->hist[L - lengths[i] + 1]++;
  }
  for (int32_t k = 1; k <= L + 1; k++) p->hist[k] += p->hist[k - 1];
  for (int32_t i = 0; i < count; i++) p->order[p->hist[L - lengths[i]]++] = i;

  /* First fit: the bins' loads and sizes, in bin_load and bin_start. */
  int32_t bins = 0;
  for (int32_t j = 0; j < count; j++) {
    int32_t i = p->order[j], b = 0;
    while (b < bins && (p->bin_load[b] > tokens - lengths[i] || p->bin_start[b] >= seqs)) b++;
    if (b == bins) {
      p->bin_load[bins] = 0;
      p->bin_start[bins] = 0;
      bins++;
    }
    p->bin_load[b] += lengths[i];
    p->bin_start[b]++;
    p->bin_of[i] = b;
  }
  /* Sizes to starts, then the members of each bin in sorted order. */
  int32_t at = 0;
  for (int32_t b = 0; b < bins; b++) {
    int32_t n = p->bin_start[b];
    p->bin_start[b] = at;
    at += n;
  }
  p->bin_start[bins] = at;
  for (int32_t j = 0; j < count; j++) {
    int32_t i = p->order[j];
    p->members[p->bin_start[p->bin_of[i]]++] = i;
  }
  for (int32_t b = bins; b > 0; b--) p->bin_start[b] = p->bin_start[b - 1];
  p->bin_start[0] = 0;
  return bins;
}

const bertc_abi_bucket_t *rt_pack_bucket(const bertc_abi_bucket_t *buckets, uint32_t n,
                                         int64_t tokens, int32_t seqs) {
  for (uint32_t i = 0; i < n; i++)
    if (buckets[i].seq >= tokens && buckets[i].batch >= seqs) return &buckets[i];
  return NULL;
}
