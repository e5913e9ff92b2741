/* Fill-mask, as transformers' FillMaskPipeline (fill_mask.py): at each mask
 * token, softmax over the vocabulary, the top_k tokens by descending
 * probability (lower id first on ties, as torch.topk returns them), each
 * decoded alone (token_str) and in the sentence (sequence: the input's ids
 * with the candidate in the mask's place, pad tokens dropped, special tokens
 * skipped only when there is a single mask). */
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "runtime/tasks.h"

void bertc_fill_mask_deinit(bertc_fill_mask_t *r) {
  if (!r) return;
  for (int32_t i = 0; i < r->num_masks && r->masks; i++) {
    for (int32_t j = 0; j < r->masks[i].count; j++) {
      free(r->masks[i].candidates[j].token_str);
      free(r->masks[i].candidates[j].sequence);
    }
    free(r->masks[i].candidates);
  }
  free(r->masks);
  memset(r, 0, sizeof *r);
}

/* The top_k entries of probs[0, vocab) by descending value, lower index
 * first on ties; returns how many (min(top_k, vocab)). */
static int32_t top_candidates(const float *probs, int64_t vocab, int32_t top_k,
                              bertc_fill_candidate_t *out) {
  int32_t have = 0;
  for (int32_t v = 0; v < vocab; v++) {
    if (have == top_k && probs[v] <= out[have - 1].score) continue;
    int32_t j = have < top_k ? have++ : top_k - 1;
    while (j > 0 && out[j - 1].score < probs[v]) {
      out[j] = out[j - 1];
      j--;
    }
    out[j] = (bertc_fill_candidate_t){.token = v, .score = probs[v]};
  }
  return have;
}

bertc_status_t rt_task_fill_mask(const tok_tokenizer_t *t, const tok_encoding_t *enc,
                                 const float *logits, int64_t vocab, int32_t top_k,
                                 bertc_fill_mask_t *out) {
  memset(out, 0, sizeof *out);
  int32_t mask = tok_mask_id(t);
  if (mask < 0)
    return bertc_status_make(BERTC_STATUS_UNSUPPORTED, "the tokenizer defines no mask token");
  int32_t n_masks = 0;
  for (size_t i = 0; i < enc->len; i++)
    n_masks += enc->ids[i] == mask;
  if (n_masks == 0) {
    const char *name = tok_id_to_token(t, mask);
    return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT, "no mask token (%s) in the input",
                             name ? name : "?");
  }
  if (top_k < 1) top_k = 1;
  if (top_k > vocab) top_k = (int32_t)vocab;
  int32_t pad = tok_pad_id(t);
  bool single = n_masks == 1;
  out->masks = calloc((size_t)n_masks, sizeof *out->masks);
  float *probs = malloc((size_t)vocab * sizeof *probs);
  int32_t *seq = malloc((enc->len + 1) * sizeof *seq);
  bertc_status_t s = out->masks && probs && seq ? BERTC_OK : base_oom();
  if (!s) out->num_masks = n_masks;
  int32_t m = 0;
  for (size_t pos = 0; !s && pos < enc->len; pos++) {
    if (enc->ids[pos] != mask) continue;
    bertc_mask_fill_t *fm = &out->masks[m++];
    fm->position = (int32_t)pos;
    fm->candidates = calloc((size_t)top_k, sizeof *fm->candidates);
    if (!fm->candidates) {
      s = base_oom();
      break;
    }
    rt_softmax(logits + (int64_t)pos * vocab, vocab, probs);
    fm->count = top_candidates(probs, vocab, top_k, fm->candidates);
    for (int32_t c = 0; !s && c < fm->count; c++) {
      bertc_fill_candidate_t *cand = &fm->candidates[c];
      s = tok_decode(t, &cand->token, 1, false, &cand->token_str);
      size_t k = 0;
      for (size_t i = 0; !s && i < enc->len; i++) {
        int32_t id = i == pos ? cand->token : enc->ids[i];
        if (id != pad) seq[k++] = id;
      }
      if (!s) s = tok_decode(t, seq, k, single, &cand->sequence);
    }
  }
  free(probs);
  free(seq);
  if (s) bertc_fill_mask_deinit(out);
  return s;
}
