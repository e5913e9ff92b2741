/* Contexts and runs: everything between the caller's token ids and the
 * model's entry functions.
 *
 * A context owns the arena and, for each model input and output, one buffer
 * sized for the largest bucket (what an entry reads and writes) plus, for each
 * output, the caller-visible buffer sized for max_batch sequences of the
 * longest seq. All of it is allocated in bertc_context_create, so a run only
 * validates, copies and calls.
 *
 * A run validates every sequence first (lengths, ids, token types, mask
 * values) so nothing runs on bad input. It then walks the sequences in order,
 * in chunks: a chunk is as many consecutive sequences as any bucket holds, run
 * in the cheapest bucket (least batch * seq) that fits the chunk's size and
 * longest sequence. Inputs are padded (pad_id, token type 0, mask 0; unused
 * batch rows are all padding), the entry runs, and each output is copied into
 * place with the bucket's padding removed: seq dims shrink to the run's longest
 * length L, and positions at or past a sequence's own length are zeroed so the
 * result does not depend on which buckets ran.
 *
 * When the model has token buckets and a run has several sequences, the run
 * is planned both ways, and when packing computes fewer tokens it runs
 * packed instead (runtime/pack.h): each bin's sequences are laid back to
 * back with the segment table after them, the token bucket's entry runs,
 * and each sequence's rows are copied to its place in the same output
 * buffers, so the caller sees the same outputs either way. */
#include <stdlib.h>
#include <string.h>

#include "runtime/env.h"
#include "runtime/model.h"
#include "runtime/pack.h"

_Static_assert((int)BERTC_DTYPE_F32 == (int)BERTC_ABI_F32 &&
                   (int)BERTC_DTYPE_I32 == (int)BERTC_ABI_I32,
               "public dtypes mirror the ABI's");

#define RT_BUFFER_ALIGN 64

typedef struct rt_output {
  void *bucket_buf;        /* what the entry writes: the largest bucket's shape */
  uint8_t *buf;            /* what the caller reads: [max_batch, max_seq, ...] */
  int seq_pos;             /* index of the seq dim, or -1 */
  uint64_t outer, inner;   /* element counts between batch and seq, after seq */
  bertc_tensor_view_t view;
} rt_output_t;

struct bertc_context_s {
  bertc_model_t *model;
  bertc_env_t env;
  rt_threads_t threads; /* env.parallel_for's threads */
  int32_t max_batch;
  bertc_packing_t packing;
  uint8_t *arena;
  int32_t *inputs[RT_MAX_INPUTS];
  const void *input_ptrs[RT_MAX_INPUTS + 1]; /* + a token bucket's segment table */
  int32_t *segments;  /* the segment table: [the most sequences of a token bucket + 1] */
  rt_packer_t packer; /* when the model has token buckets */
  void **output_ptrs; /* [num_outputs] bucket_buf of each output, for the entry */
  rt_output_t *outputs;
  bool has_run;
  bertc_run_info_t info;
};

void bertc_context_options_init(bertc_context_options_t *opts) {
  memset(opts, 0, sizeof(*opts));
}

void bertc_run_input_init(bertc_run_input_t *in) { memset(in, 0, sizeof(*in)); }

/* Elements of tensor `t` for the given batch and seq sizes; false on overflow. */
static bool tensor_elems(const bertc_abi_tensor_t *t, uint64_t batch, uint64_t seq,
                         uint64_t *out) {
  uint64_t n = 1;
  for (int k = 0; k < t->rank; k++) {
    uint64_t d = t->dims[k] == BERTC_ABI_DIM_BATCH ? batch
                 : t->dims[k] == BERTC_ABI_DIM_SEQ ? seq
                                                   : (uint64_t)t->dims[k];
    if (!base_mul_u64(n, d, &n)) return false;
  }
  *out = n;
  return true;
}

/* The most elements `t` takes in any bucket. */
static bool bucket_elems(const bertc_model_t *m, const bertc_abi_tensor_t *t, uint64_t *out) {
  *out = 0;
  for (uint32_t i = 0; i < m->desc->num_buckets; i++) {
    uint64_t n;
    if (!tensor_elems(t, (uint64_t)m->desc->buckets[i].batch, (uint64_t)m->desc->buckets[i].seq,
                      &n))
      return false;
    if (n > *out) *out = n;
  }
  /* a token bucket of T tokens and N sequences: [batch, seq, ...] is [T, ...]
   * (T = 2N), [batch, ...] is [N, ...] */
  for (uint32_t i = 0; i < m->desc->num_token_buckets; i++) {
    uint64_t n;
    if (!tensor_elems(t, (uint64_t)m->desc->token_buckets[i].batch, 2, &n)) return false;
    if (n > *out) *out = n;
  }
  return true;
}

static bertc_status_t aligned_buffer(uint64_t size, uint64_t align, const char *what,
                                     void **out) {
  *out = NULL;
  if (align < RT_BUFFER_ALIGN) align = RT_BUFFER_ALIGN;
  uint64_t rounded;
  if (!base_add_u64(size ? size : 1, align - 1, &rounded) || rounded > SIZE_MAX)
    return bertc_status_make(BERTC_STATUS_OUT_OF_MEMORY, "%s: %llu bytes is too large", what,
                             (unsigned long long)size);
  rounded = rounded / align * align;
  *out = aligned_alloc((size_t)align, (size_t)rounded);
  if (!*out)
    return bertc_status_make(BERTC_STATUS_OUT_OF_MEMORY,
                             "out of memory allocating %llu bytes for %s",
                             (unsigned long long)rounded, what);
  return BERTC_OK;
}

static bertc_status_t buffer_for(const bertc_abi_tensor_t *t, bool bucket, uint64_t batch,
                                 uint64_t seq, const bertc_model_t *m, void **out) {
  *out = NULL;
  uint64_t n, bytes;
  bool ok = bucket ? bucket_elems(m, t, &n) : tensor_elems(t, batch, seq, &n);
  if (!ok || !base_mul_u64(n, 4, &bytes))
    return bertc_status_make(BERTC_STATUS_DATA, "%s: tensor '%s' is too large", m->path,
                             t->name);
  return aligned_buffer(bytes, RT_BUFFER_ALIGN, t->name, out);
}

static bertc_status_t allocate(bertc_context_t *c) {
  const bertc_model_t *m = c->model;
  const bertc_model_descriptor_t *d = m->desc;
  BERTC_RETURN_IF_ERROR(aligned_buffer(d->arena_size, d->arena_align, "the arena",
                                       (void **)&c->arena));
  for (uint32_t i = 0; i < d->num_inputs; i++) {
    BERTC_RETURN_IF_ERROR(buffer_for(&d->inputs[i], true, 0, 0, m, (void **)&c->inputs[i]));
    c->input_ptrs[i] = c->inputs[i];
  }
  if (d->num_token_buckets) {
    const bertc_abi_bucket_t *largest = &d->token_buckets[d->num_token_buckets - 1];
    BERTC_RETURN_IF_ERROR(base_calloc((size_t)largest->batch + 1, sizeof(int32_t),
                                      (void **)&c->segments));
    BERTC_RETURN_IF_ERROR(rt_packer_init(&c->packer, c->max_batch, m->max_seq));
  }
  BERTC_RETURN_IF_ERROR(base_calloc(d->num_outputs, sizeof(*c->outputs), (void **)&c->outputs));
  BERTC_RETURN_IF_ERROR(
      base_calloc(d->num_outputs, sizeof(*c->output_ptrs), (void **)&c->output_ptrs));
  for (uint32_t i = 0; i < d->num_outputs; i++) {
    const bertc_abi_tensor_t *t = &d->outputs[i];
    rt_output_t *o = &c->outputs[i];
    BERTC_RETURN_IF_ERROR(buffer_for(t, true, 0, 0, m, &o->bucket_buf));
    BERTC_RETURN_IF_ERROR(buffer_for(t, false, (uint64_t)c->max_batch, (uint64_t)m->max_seq, m,
                                     (void **)&o->buf));
    c->output_ptrs[i] = o->bucket_buf;
    o->seq_pos = -1;
    o->outer = o->inner = 1;
    for (int k = 1; k < t->rank; k++) {
      if (t->dims[k] == BERTC_ABI_DIM_SEQ)
        o->seq_pos = k;
      else if (o->seq_pos < 0)
        o->outer *= (uint64_t)t->dims[k]; /* fits: the buffers above did */
      else
        o->inner *= (uint64_t)t->dims[k];
    }
    o->view.name = t->name;
    o->view.dtype = (bertc_dtype_t)t->dtype;
    o->view.rank = t->rank;
  }
  return BERTC_OK;
}

void bertc_context_release(bertc_context_t *c) {
  if (!c) return;
  rt_env_deinit(&c->threads);
  if (c->outputs) {
    for (uint32_t i = 0; i < c->model->desc->num_outputs; i++) {
      free(c->outputs[i].bucket_buf);
      free(c->outputs[i].buf);
    }
  }
  free(c->outputs);
  free(c->output_ptrs);
  for (int i = 0; i < RT_MAX_INPUTS; i++) free(c->inputs[i]);
  free(c->segments);
  rt_packer_deinit(&c->packer);
  free(c->arena);
  bertc_model_release(c->model);
  free(c);
}

bertc_status_t bertc_context_create(bertc_model_t *model, const bertc_context_options_t *opts,
                                    bertc_context_t **out_context) {
  if (!out_context)
    return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT,
                             "bertc_context_create: out_context is NULL");
  *out_context = NULL;
  if (!model)
    return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT, "bertc_context_create: model is NULL");
  if (model->inspect_only)
    return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT,
                             "%s: the model was loaded with inspect_only and cannot run",
                             model->path);
  bertc_context_options_t defaults;
  bertc_context_options_init(&defaults);
  if (!opts) opts = &defaults;
  if ((unsigned)opts->packing > BERTC_PACKING_ALWAYS)
    return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT,
                             "context options: packing %d is not a bertc_packing_t",
                             (int)opts->packing);
  if (opts->num_threads < 0 || opts->max_batch < 0)
    return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT,
                             "context options: num_threads %d and max_batch %d must be >= 0",
                             opts->num_threads, opts->max_batch);

  bertc_context_t *c = NULL;
  BERTC_RETURN_IF_ERROR(base_calloc(1, sizeof(*c), (void **)&c));
  bertc_model_retain(model);
  c->model = model;
  c->max_batch = opts->max_batch;
  c->packing = opts->packing;
  if (!c->max_batch)
    c->max_batch = model->max_batch > BERTC_CONTEXT_DEFAULT_MAX_BATCH
                       ? model->max_batch
                       : BERTC_CONTEXT_DEFAULT_MAX_BATCH;
  bertc_status_t s = allocate(c);
  if (!s) s = rt_env_init(&c->env, opts, &c->threads);
  if (s) {
    bertc_context_release(c);
    return s;
  }
  *out_context = c;
  return BERTC_OK;
}

bertc_model_t *bertc_context_model(const bertc_context_t *c) { return c->model; }
int32_t bertc_context_num_threads(const bertc_context_t *c) { return (int32_t)c->env.num_threads; }
int32_t bertc_context_max_batch(const bertc_context_t *c) { return c->max_batch; }
bertc_threading_t bertc_context_threading(const bertc_context_t *c) {
  return c->threads.threading;
}

/* Everything about the input that can be wrong, before anything runs. */
static bertc_status_t validate(const bertc_context_t *c, const bertc_run_input_t *in,
                               int32_t *out_longest) {
  const bertc_model_t *m = c->model;
  *out_longest = 0;
  if (in->count < 1 || in->count > c->max_batch)
    return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT,
                             "a run takes 1 to %d sequences (the context's max_batch), got %d",
                             c->max_batch, in->count);
  if (!in->lengths || !in->input_ids)
    return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT,
                             "run input: lengths and input_ids are required");
  if (in->pad_id < 0 || in->pad_id >= m->vocab_size)
    return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT,
                             "pad id %d is outside the vocabulary [0, %lld)", in->pad_id,
                             (long long)m->vocab_size);
  bool check_types = in->token_type_ids && m->type_vocab_size > 0;
  for (int32_t i = 0; i < in->count; i++) {
    int32_t len = in->lengths[i];
    if (len < 1)
      return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT,
                               "sequence %d has length %d; every sequence needs a token", i, len);
    if (len > m->max_seq)
      return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT,
                               "sequence %d has %d tokens, more than the longest bucket of "
                               "model '%s' (seq %d); truncate it",
                               i, len, m->desc->model_name ? m->desc->model_name : "?",
                               m->max_seq);
    const int32_t *ids = in->input_ids[i];
    const int32_t *types = in->token_type_ids ? in->token_type_ids[i] : NULL;
    const int32_t *mask = in->attention_mask ? in->attention_mask[i] : NULL;
    if (!ids || (in->token_type_ids && !types) || (in->attention_mask && !mask))
      return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT,
                               "sequence %d: a NULL input_ids, token_type_ids or "
                               "attention_mask row",
                               i);
    for (int32_t j = 0; j < len; j++) {
      if (ids[j] < 0 || ids[j] >= m->vocab_size)
        return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT,
                                 "sequence %d, position %d: input id %d is outside the "
                                 "vocabulary [0, %lld)",
                                 i, j, ids[j], (long long)m->vocab_size);
      if (check_types && (types[j] < 0 || types[j] >= m->type_vocab_size))
        return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT,
                                 "sequence %d, position %d: token type id %d is outside "
                                 "[0, %lld)",
                                 i, j, types[j], (long long)m->type_vocab_size);
      if (mask && mask[j] != 0 && mask[j] != 1)
        return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT,
                                 "sequence %d, position %d: attention mask %d is not 0 or 1", i,
                                 j, mask[j]);
    }
    if (len > *out_longest) *out_longest = len;
  }
  return BERTC_OK;
}

/* The next chunk from `start`: as many sequences as any bucket holds, in the
 * cheapest bucket that holds them all. */
static const bertc_abi_bucket_t *choose_bucket(const bertc_model_t *m, const int32_t *lengths,
                                               int32_t start, int32_t count, int32_t *out_k) {
  const bertc_model_descriptor_t *d = m->desc;
  int32_t k = 0;
  for (uint32_t i = 0; i < d->num_buckets; i++) {
    int32_t fit = 0;
    while (fit < d->buckets[i].batch && start + fit < count &&
           lengths[start + fit] <= d->buckets[i].seq)
      fit++;
    if (fit > k) k = fit;
  }
  int32_t longest = 0;
  for (int32_t j = start; j < start + k; j++)
    if (lengths[j] > longest) longest = lengths[j];
  const bertc_abi_bucket_t *best = NULL;
  int64_t best_cost = 0;
  for (uint32_t i = 0; i < d->num_buckets; i++) {
    const bertc_abi_bucket_t *b = &d->buckets[i];
    int64_t cost = (int64_t)b->batch * b->seq;
    if (b->batch >= k && b->seq >= longest && (!best || cost < best_cost)) {
      best = b;
      best_cost = cost;
    }
  }
  *out_k = k;
  return best;
}

static void fill_row(int32_t *row, int32_t value, int32_t n) {
  for (int32_t j = 0; j < n; j++) row[j] = value;
}

static void fill_inputs(bertc_context_t *c, const bertc_run_input_t *in,
                        const bertc_abi_bucket_t *b, int32_t start, int32_t k) {
  const bertc_model_t *m = c->model;
  for (uint32_t i = 0; i < m->desc->num_inputs; i++) {
    int role = m->input_role[i];
    for (int32_t r = 0; r < b->batch; r++) {
      int32_t *row = c->inputs[i] + (size_t)r * (size_t)b->seq;
      int32_t len = r < k ? in->lengths[start + r] : 0;
      const int32_t *src = NULL;
      int32_t real = 0, pad = 0;
      if (role == RT_INPUT_IDS) {
        src = r < k ? in->input_ids[start + r] : NULL;
        pad = in->pad_id;
      } else if (role == RT_INPUT_TYPES) {
        src = r < k && in->token_type_ids ? in->token_type_ids[start + r] : NULL;
      } else {
        src = r < k && in->attention_mask ? in->attention_mask[start + r] : NULL;
        real = 1;
      }
      if (src)
        memcpy(row, src, (size_t)len * sizeof(int32_t));
      else
        fill_row(row, real, len);
      fill_row(row + len, pad, b->seq - len);
    }
  }
}

/* Bucket-shaped outputs to the caller's [count, L, ...] buffers. */
static void copy_outputs(bertc_context_t *c, const bertc_run_input_t *in,
                         const bertc_abi_bucket_t *b, int32_t start, int32_t k, int32_t longest) {
  for (uint32_t i = 0; i < c->model->desc->num_outputs; i++) {
    rt_output_t *o = &c->outputs[i];
    const uint8_t *src = o->bucket_buf;
    const size_t el = 4;
    if (o->seq_pos < 0) {
      size_t row = (size_t)o->outer * el;
      memcpy(o->buf + (size_t)start * row, src, (size_t)k * row);
      continue;
    }
    size_t inner = (size_t)o->inner * el;
    for (int32_t r = 0; r < k; r++) {
      size_t len = (size_t)in->lengths[start + r];
      for (uint64_t q = 0; q < o->outer; q++) {
        const uint8_t *s = src + ((size_t)r * o->outer + q) * (size_t)b->seq * inner;
        uint8_t *dst = o->buf + ((size_t)(start + r) * o->outer + q) * (size_t)longest * inner;
        memcpy(dst, s, len * inner);
        memset(dst + len * inner, 0, ((size_t)longest - len) * inner);
      }
    }
  }
}

static void set_views(bertc_context_t *c, int32_t count, int32_t longest) {
  for (uint32_t i = 0; i < c->model->desc->num_outputs; i++) {
    const bertc_abi_tensor_t *t = &c->model->desc->outputs[i];
    bertc_tensor_view_t *v = &c->outputs[i].view;
    uint64_t n = 1;
    for (int k = 0; k < t->rank; k++) {
      v->dims[k] = t->dims[k] == BERTC_ABI_DIM_BATCH ? count
                   : t->dims[k] == BERTC_ABI_DIM_SEQ ? longest
                                                     : t->dims[k];
      n *= (uint64_t)v->dims[k];
    }
    for (int k = t->rank; k < 4; k++) v->dims[k] = 0;
    v->data = c->outputs[i].buf;
    v->size_bytes = n * 4;
  }
}

/* The tokens the padded path computes for this run (choose_bucket's chunks). */
static uint64_t padded_cost(const bertc_model_t *m, const bertc_run_input_t *in) {
  uint64_t cost = 0;
  for (int32_t start = 0, k = 0; start < in->count; start += k) {
    const bertc_abi_bucket_t *b = choose_bucket(m, in->lengths, start, in->count, &k);
    cost += (uint64_t)b->batch * (uint64_t)b->seq;
  }
  return cost;
}

/* Plans the run packed (c->packer); the tokens it computes, or UINT64_MAX
 * when it cannot run packed. */
static uint64_t packed_cost(bertc_context_t *c, const bertc_run_input_t *in, int32_t *out_bins) {
  const bertc_model_descriptor_t *d = c->model->desc;
  const bertc_abi_bucket_t *largest = &d->token_buckets[d->num_token_buckets - 1];
  int32_t bins = rt_pack(&c->packer, in->lengths, in->count, largest->seq, largest->batch);
  *out_bins = bins;
  if (!bins) return UINT64_MAX;
  uint64_t cost = 0;
  for (int32_t b = 0; b < bins; b++) {
    int32_t n = c->packer.bin_start[b + 1] - c->packer.bin_start[b];
    cost += (uint64_t)rt_pack_bucket(d->token_buckets, d->num_token_buckets,
                                     c->packer.bin_load[b], n)->seq;
  }
  return cost;
}

/* Bin b's sequences back to back in the entry's inputs, padding after them,
 * and the segment table. */
static void fill_packed(bertc_context_t *c, const bertc_run_input_t *in,
                        const bertc_abi_bucket_t *b, const int32_t *members, int32_t n) {
  const bertc_model_t *m = c->model;
  int32_t at = 0;
  for (int32_t j = 0; j < n; j++) {
    int32_t i = members[j], len = in->lengths[i];
    c->segments[j] = at;
    for (uint32_t k = 0; k < m->desc->num_inputs; k++) {
      int role = m->input_role[k];
      int32_t *row = c->inputs[k] + at;
      const int32_t *src = NULL;
      if (role == RT_INPUT_IDS)
        src = in->input_ids[i];
      else if (role == RT_INPUT_TYPES)
        src = in->token_type_ids ? in->token_type_ids[i] : NULL;
      else
        src = in->attention_mask ? in->attention_mask[i] : NULL;
      if (src)
        memcpy(row, src, (size_t)len * sizeof(int32_t));
      else
        fill_row(row, role == RT_INPUT_MASK ? 1 : 0, len);
    }
    at += len;
  }
  for (int32_t j = n; j <= b->batch; j++) c->segments[j] = at;
  for (uint32_t k = 0; k < m->desc->num_inputs; k++)
    fill_row(c->inputs[k] + at, m->input_role[k] == RT_INPUT_IDS ? in->pad_id : 0, b->seq - at);
  c->input_ptrs[m->desc->num_inputs] = c->segments;
}

/* Each sequence's rows of a token bucket's outputs to its place in the
 * caller's [count, L, ...] buffers. */
static void copy_packed(bertc_context_t *c, const bertc_run_input_t *in, const int32_t *members,
                        int32_t n, int32_t longest) {
  for (uint32_t k = 0; k < c->model->desc->num_outputs; k++) {
    rt_output_t *o = &c->outputs[k];
    const uint8_t *src = o->bucket_buf;
    const size_t el = 4;
    for (int32_t j = 0; j < n; j++) {
      int32_t i = members[j];
      if (o->seq_pos < 0) { /* one row per sequence */
        size_t row = (size_t)o->outer * el;
        memcpy(o->buf + (size_t)i * row, src + (size_t)j * row, row);
        continue;
      }
      /* per token: [T, inner...] rows from the sequence's first token */
      size_t inner = (size_t)o->inner * el, len = (size_t)in->lengths[i];
      uint8_t *dst = o->buf + (size_t)i * (size_t)longest * inner;
      memcpy(dst, src + (size_t)c->segments[j] * inner, len * inner);
      memset(dst + len * inner, 0, ((size_t)longest - len) * inner);
    }
  }
}

static bertc_status_t run_packed(bertc_context_t *c, const bertc_run_input_t *in, int32_t bins,
                                 int32_t longest) {
  const bertc_model_t *m = c->model;
  const bertc_model_descriptor_t *d = m->desc;
  for (int32_t bin = 0; bin < bins; bin++) {
    const int32_t *members = c->packer.members + c->packer.bin_start[bin];
    int32_t n = c->packer.bin_start[bin + 1] - c->packer.bin_start[bin];
    int32_t load = c->packer.bin_load[bin];
    const bertc_abi_bucket_t *b = rt_pack_bucket(d->token_buckets, d->num_token_buckets, load, n);
    fill_packed(c, in, b, members, n);
    int32_t rc = b->entry(&c->env, m->weights, c->arena, c->input_ptrs, c->output_ptrs);
    if (rc != 0)
      return bertc_status_make(BERTC_STATUS_INTERNAL,
                               "%s: the entry of token bucket %d returned status %d", m->path,
                               b->seq, rc);
    copy_packed(c, in, members, n, longest);
    c->info.num_calls++;
    c->info.packed_calls++;
    c->info.last_batch = b->batch;
    c->info.last_seq = b->seq;
    c->info.padded_tokens += (uint64_t)b->seq;
    c->info.real_tokens += (uint64_t)load;
  }
  return BERTC_OK;
}

bertc_status_t bertc_context_run(bertc_context_t *c, const bertc_run_input_t *in) {
  if (!c || !in)
    return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT,
                             "bertc_context_run: context and input are required");
  int32_t longest;
  BERTC_RETURN_IF_ERROR_CTX(validate(c, in, &longest), "%s", c->model->path);
  const bertc_model_t *m = c->model;
  c->has_run = false;
  memset(&c->info, 0, sizeof(c->info));
  int32_t bins = 0;
  uint64_t packed = UINT64_MAX;
  if (m->desc->num_token_buckets && c->packing != BERTC_PACKING_NEVER &&
      (in->count > 1 || c->packing == BERTC_PACKING_ALWAYS))
    packed = packed_cost(c, in, &bins);
  if (packed != UINT64_MAX &&
      (c->packing == BERTC_PACKING_ALWAYS || packed < padded_cost(m, in))) {
    BERTC_RETURN_IF_ERROR(run_packed(c, in, bins, longest));
    set_views(c, in->count, longest);
    c->has_run = true;
    return BERTC_OK;
  }
  for (int32_t start = 0; start < in->count;) {
    int32_t k;
    const bertc_abi_bucket_t *b = choose_bucket(m, in->lengths, start, in->count, &k);
    fill_inputs(c, in, b, start, k);
    int32_t rc = b->entry(&c->env, m->weights, c->arena, c->input_ptrs, c->output_ptrs);
    if (rc != 0)
      return bertc_status_make(BERTC_STATUS_INTERNAL,
                               "%s: the entry of bucket (batch %d, seq %d) returned status %d",
                               m->path, b->batch, b->seq, rc);
    copy_outputs(c, in, b, start, k, longest);
    c->info.num_calls++;
    c->info.last_batch = b->batch;
    c->info.last_seq = b->seq;
    c->info.padded_tokens += (uint64_t)b->batch * (uint64_t)b->seq;
    for (int32_t r = 0; r < k; r++) c->info.real_tokens += (uint64_t)in->lengths[start + r];
    start += k;
  }
  set_views(c, in->count, longest);
  c->has_run = true;
  return BERTC_OK;
}

bertc_status_t bertc_context_output(const bertc_context_t *c, uint32_t index,
                                    bertc_tensor_view_t *out_view) {
  if (!out_view)
    return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT,
                             "bertc_context_output: out_view is NULL");
  memset(out_view, 0, sizeof(*out_view));
  if (!c)
    return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT, "bertc_context_output: no context");
  uint32_t n = c->model->desc->num_outputs;
  if (index >= n)
    return bertc_status_make(BERTC_STATUS_NOT_FOUND, "%s: output %u of %u does not exist",
                             c->model->path, index, n);
  if (!c->has_run)
    return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT,
                             "%s: output '%s' is not available: no successful run yet",
                             c->model->path, c->model->desc->outputs[index].name);
  *out_view = c->outputs[index].view;
  return BERTC_OK;
}

bertc_status_t bertc_context_output_by_name(const bertc_context_t *c, const char *name,
                                            bertc_tensor_view_t *out_view) {
  if (out_view) memset(out_view, 0, sizeof(*out_view));
  if (!c || !name)
    return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT,
                             "bertc_context_output_by_name: context and name are required");
  const bertc_model_descriptor_t *d = c->model->desc;
  for (uint32_t i = 0; i < d->num_outputs; i++)
    if (strcmp(d->outputs[i].name, name) == 0) return bertc_context_output(c, i, out_view);
  return bertc_status_make(BERTC_STATUS_NOT_FOUND, "%s: model '%s' has no output '%s'",
                           c->model->path, d->model_name ? d->model_name : "?", name);
}

void bertc_context_run_info(const bertc_context_t *c, bertc_run_info_t *out_info) {
  if (c && c->has_run)
    *out_info = c->info;
  else
    memset(out_info, 0, sizeof(*out_info));
}
