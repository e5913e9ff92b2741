/* Packing the sequences of a run into token buckets (bertc/abi.h).
 *
 * Sequences are taken longest first (a stable counting sort by length, ties
 * in input order) and each goes whole into the first bin with room for its
 * tokens and one more sequence (first-fit decreasing). Every bin then runs
 * in the smallest token bucket that holds it. The plan depends only on the
 * lengths, so it is deterministic. All memory is allocated by
 * rt_packer_init; rt_pack allocates nothing. */
#ifndef BERTC_RUNTIME_PACK_H
#define BERTC_RUNTIME_PACK_H

#include <stdint.h>

#include "bertc/abi.h"
#include "bertc/status.h"

typedef struct rt_packer {
  int32_t max_count;  /* the most sequences one plan takes */
  int32_t max_length; /* the longest sequence */
  int32_t *hist;      /* [max_length + 2]: the counting sort */
  int32_t *order;     /* [max_count]: sequence indices, longest first */
  int32_t *bin_of;    /* [max_count]: each sequence's bin */
  int32_t *members;   /* [max_count]: sequences grouped by bin, longest first */
  int32_t *bin_start; /* [max_count + 1]: bin b is members[bin_start[b] .. bin_start[b+1]) */
  int32_t *bin_load;  /* [max_count]: tokens in bin b */
} rt_packer_t;

bertc_status_t rt_packer_init(rt_packer_t *p, int32_t max_count,
                              int32_t max_length) BERTC_MUST_USE;
void rt_packer_deinit(rt_packer_t *p);

/* Packs `count` sequences (1..max_count, each 1..max_length tokens) into
 * bins of at most `tokens` tokens and `seqs` sequences; returns the number
 * of bins, or 0 when a sequence is longer than `tokens`. */
int32_t rt_pack(rt_packer_t *p, const int32_t *lengths, int32_t count, int32_t tokens,
                int32_t seqs);

/* The smallest of n token buckets (sorted by seq) with at least `tokens`
 * tokens and `seqs` sequences; NULL when none has. */
const bertc_abi_bucket_t *rt_pack_bucket(const bertc_abi_bucket_t *buckets, uint32_t n,
                                         int64_t tokens, int32_t seqs);

#endif
