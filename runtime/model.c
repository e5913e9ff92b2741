/* Loading a model .so: the runtime's side of the ABI in bertc/abi.h.
 *
 * The steps, each of which fails with a message that starts with the .so path:
 *   1. dlopen(RTLD_NOW | RTLD_LOCAL) and look up the one exported symbol,
 *      bertc_model_query; call it with the runtime's ABI version.
 *   2. Check the descriptor's magic, ABI version (this runtime's only: a
 *      model of another version is refused, naming both) and flags, then its
 *      tables: buckets (positive sizes, an entry each, sorted), inputs
 *      (input_ids and optional token_type_ids / attention_mask, all I32
 *      [batch, seq]) and outputs (batch first, at most one seq dim) — so
 *      that the run path can trust them without further checks.
 *   3. Choose the code variant: the first (they are best first) for whose
 *      every CPU feature the host has (runtime/cpu_features.c); its target,
 *      arena size and buckets replace the descriptor's in the model's copy,
 *      which is what contexts read.
 *   4. Parse the metadata JSON (jansson) and read vocab_size and
 *      type_vocab_size, which bound the ids a run accepts; load the CBLAS
 *      library when the flags say the code calls env->sgemm.
 *   5. Resolve the weights: embedded in the .so, or a side file (next to the
 *      .so unless the caller names one) mapped read-only, its size and
 *      base_hash64 compared with the descriptor.
 * The model is immutable afterwards and reference counted, so threads can
 * share it and contexts can outlive the caller's reference. */
#define _GNU_SOURCE
#include "runtime/model.h"

#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/cpu_features.h"
#include "runtime/env.h"

void bertc_model_load_options_init(bertc_model_load_options_t *opts) {
  memset(opts, 0, sizeof(*opts));
  opts->verify_weights = true;
}

static bool is_pow2(uint64_t v) { return v && !(v & (v - 1)); }

static const char *dim_name(int64_t d, char *buf, size_t cap) {
  if (d == BERTC_ABI_DIM_BATCH) return "batch";
  if (d == BERTC_ABI_DIM_SEQ) return "seq";
  snprintf(buf, cap, "%" PRId64, d);
  return buf;
}

static bertc_status_t check_buckets(bertc_model_t *m) {
  const bertc_model_descriptor_t *d = m->desc;
  if (d->num_buckets == 0 || !d->buckets)
    return bertc_status_make(BERTC_STATUS_DATA, "descriptor has no buckets");
  if (!is_pow2(d->arena_align))
    return bertc_status_make(BERTC_STATUS_DATA,
                             "descriptor arena_align %" PRIu64 " is not a power of two",
                             d->arena_align);
  for (uint32_t i = 0; i < d->num_buckets; i++) {
    const bertc_abi_bucket_t *b = &d->buckets[i];
    if (b->batch < 1 || b->seq < 1 || !b->entry)
      return bertc_status_make(BERTC_STATUS_DATA,
                               "bucket %u (batch %d, seq %d) needs positive sizes and an "
                               "entry function",
                               i, b->batch, b->seq);
    if (b->arena_bytes > d->arena_size)
      return bertc_status_make(BERTC_STATUS_DATA,
                               "bucket %u (batch %d, seq %d) uses %" PRIu64
                               " arena bytes, more than arena_size %" PRIu64,
                               i, b->batch, b->seq, b->arena_bytes, d->arena_size);
    if (i > 0) {
      const bertc_abi_bucket_t *a = &d->buckets[i - 1];
      if (a->batch > b->batch || (a->batch == b->batch && a->seq >= b->seq))
        return bertc_status_make(BERTC_STATUS_DATA,
                                 "buckets are not sorted by (batch, seq) without repeats: "
                                 "(%d, %d) before (%d, %d)",
                                 a->batch, a->seq, b->batch, b->seq);
    }
    if (b->batch > m->max_batch) m->max_batch = b->batch;
    if (b->seq > m->max_seq) m->max_seq = b->seq;
  }
  return BERTC_OK;
}

/* Token buckets: positive sizes with T = 2N, an entry, within the arena,
 * sorted by tokens; and outputs whose per-token rows are contiguous
 * ([batch, seq, ...]), which is how a packed run reads them. */
static bertc_status_t check_token_buckets(bertc_model_t *m) {
  const bertc_model_descriptor_t *d = m->desc;
  if (d->num_token_buckets && !d->token_buckets)
    return bertc_status_make(BERTC_STATUS_DATA, "descriptor has %u token buckets and no table",
                             d->num_token_buckets);
  for (uint32_t i = 0; i < d->num_token_buckets; i++) {
    const bertc_abi_bucket_t *b = &d->token_buckets[i];
    if (b->batch < 1 || b->seq < 1 || (int64_t)b->seq != 2 * (int64_t)b->batch || !b->entry)
      return bertc_status_make(BERTC_STATUS_DATA,
                               "token bucket %u (%d sequences, %d tokens) needs positive "
                               "sizes, twice as many tokens as sequences and an entry",
                               i, b->batch, b->seq);
    if (b->arena_bytes > d->arena_size)
      return bertc_status_make(BERTC_STATUS_DATA,
                               "token bucket %u (%d tokens) uses %" PRIu64
                               " arena bytes, more than arena_size %" PRIu64,
                               i, b->seq, b->arena_bytes, d->arena_size);
    if (i > 0 && d->token_buckets[i - 1].seq >= b->seq)
      return bertc_status_make(BERTC_STATUS_DATA,
                               "token buckets are not sorted by tokens without repeats: %d "
                               "before %d",
                               d->token_buckets[i - 1].seq, b->seq);
  }
  for (uint32_t i = 0; d->num_token_buckets && i < d->num_outputs; i++) {
    const bertc_abi_tensor_t *t = &d->outputs[i];
    bool per_token = false;
    for (int k = 0; k < t->rank; k++) per_token |= t->dims[k] == BERTC_ABI_DIM_SEQ;
    if (per_token && (t->rank < 2 || t->dims[1] != BERTC_ABI_DIM_SEQ))
      return bertc_status_make(BERTC_STATUS_DATA,
                               "output '%s' is per token but not [batch, seq, ...], which "
                               "token buckets need",
                               t->name);
  }
  return BERTC_OK;
}

static bertc_status_t check_inputs(bertc_model_t *m) {
  const bertc_model_descriptor_t *d = m->desc;
  static const char *const names[] = {"input_ids", "token_type_ids", "attention_mask"};
  if (d->num_inputs == 0 || d->num_inputs > RT_MAX_INPUTS || !d->inputs)
    return bertc_status_make(BERTC_STATUS_DATA,
                             "descriptor has %u inputs, expected 1 to %d (input_ids, "
                             "token_type_ids, attention_mask)",
                             d->num_inputs, RT_MAX_INPUTS);
  bool seen[RT_MAX_INPUTS] = {false, false, false};
  for (uint32_t i = 0; i < d->num_inputs; i++) {
    const bertc_abi_tensor_t *t = &d->inputs[i];
    int role = -1;
    for (int r = 0; r < RT_MAX_INPUTS; r++)
      if (t->name && strcmp(t->name, names[r]) == 0) role = r;
    if (role < 0)
      return bertc_status_make(BERTC_STATUS_UNSUPPORTED,
                               "input %u is '%s'; this runtime feeds only input_ids, "
                               "token_type_ids and attention_mask",
                               i, t->name ? t->name : "(null)");
    if (seen[role])
      return bertc_status_make(BERTC_STATUS_DATA, "input '%s' appears twice", t->name);
    seen[role] = true;
    if (t->dtype != BERTC_ABI_I32 || t->rank != 2 || t->dims[0] != BERTC_ABI_DIM_BATCH ||
        t->dims[1] != BERTC_ABI_DIM_SEQ)
      return bertc_status_make(BERTC_STATUS_DATA,
                               "input '%s' must be I32 [batch, seq] (dtype %d, rank %d)",
                               t->name, t->dtype, t->rank);
    m->input_role[i] = (uint8_t)role;
  }
  if (!seen[RT_INPUT_IDS])
    return bertc_status_make(BERTC_STATUS_DATA, "descriptor has no input 'input_ids'");
  return BERTC_OK;
}

static bertc_status_t check_outputs(const bertc_model_t *m) {
  const bertc_model_descriptor_t *d = m->desc;
  if (d->num_outputs == 0 || !d->outputs)
    return bertc_status_make(BERTC_STATUS_DATA, "descriptor has no outputs");
  for (uint32_t i = 0; i < d->num_outputs; i++) {
    const bertc_abi_tensor_t *t = &d->outputs[i];
    if (!t->name)
      return bertc_status_make(BERTC_STATUS_DATA, "output %u has no name", i);
    for (uint32_t j = 0; j < i; j++)
      if (strcmp(d->outputs[j].name, t->name) == 0)
        return bertc_status_make(BERTC_STATUS_DATA, "output '%s' appears twice", t->name);
    if (t->dtype != BERTC_ABI_F32 && t->dtype != BERTC_ABI_I32)
      return bertc_status_make(BERTC_STATUS_DATA, "output '%s' has unknown dtype %d",
                               t->name, t->dtype);
    if (t->rank < 1 || t->rank > 4 || t->dims[0] != BERTC_ABI_DIM_BATCH)
      return bertc_status_make(BERTC_STATUS_DATA,
                               "output '%s' must have rank 1 to 4 with batch first (rank %d)",
                               t->name, t->rank);
    int seq_dims = 0;
    for (int k = 1; k < t->rank; k++) {
      char buf[32];
      if (t->dims[k] == BERTC_ABI_DIM_SEQ) {
        seq_dims++;
      } else if (t->dims[k] < 1) {
        return bertc_status_make(BERTC_STATUS_DATA, "output '%s' dim %d is %s", t->name, k,
                                 dim_name(t->dims[k], buf, sizeof buf));
      }
    }
    if (seq_dims > 1)
      return bertc_status_make(BERTC_STATUS_DATA, "output '%s' has %d seq dims, at most 1",
                               t->name, seq_dims);
  }
  return BERTC_OK;
}

/* An integer >= 0 at the top level of the metadata or inside its "config"
 * object; -1 when absent. */
static bertc_status_t metadata_int(const json_t *meta, const char *key, int64_t max,
                                   int64_t *out) {
  *out = -1;
  const json_t *v = json_object_get(meta, key);
  if (!v) v = json_object_get(json_object_get(meta, "config"), key);
  if (!v) return BERTC_OK;
  if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > max)
    return bertc_status_make(BERTC_STATUS_DATA,
                             "metadata \"%s\" is not an integer in [0, %" PRId64 "]", key, max);
  *out = json_integer_value(v);
  return BERTC_OK;
}

static bertc_status_t read_metadata(bertc_model_t *m) {
  const char *text = m->desc->metadata_json ? m->desc->metadata_json : "{}";
  json_error_t err;
  m->metadata = json_loads(text, JSON_REJECT_DUPLICATES, &err);
  if (!m->metadata)
    return bertc_status_make(BERTC_STATUS_DATA, "metadata JSON: line %d column %d: %s",
                             err.line, err.column, err.text);
  if (!json_is_object(m->metadata))
    return bertc_status_make(BERTC_STATUS_DATA, "metadata JSON is not an object");
  BERTC_RETURN_IF_ERROR(metadata_int(m->metadata, "vocab_size", INT32_MAX, &m->vocab_size));
  if (m->vocab_size < 1)
    return bertc_status_make(BERTC_STATUS_DATA,
                             "metadata has no positive integer \"vocab_size\"");
  BERTC_RETURN_IF_ERROR(
      metadata_int(m->metadata, "type_vocab_size", INT32_MAX, &m->type_vocab_size));
  bool takes_types = false;
  for (uint32_t i = 0; i < m->desc->num_inputs; i++)
    takes_types |= m->input_role[i] == RT_INPUT_TYPES;
  if (!takes_types) {
    m->type_vocab_size = 0;
  } else if (m->type_vocab_size < 1) {
    return bertc_status_make(BERTC_STATUS_DATA,
                             "the model takes token_type_ids but its metadata has no "
                             "positive integer \"type_vocab_size\"");
  }
  return BERTC_OK;
}

/* A plain file name: the descriptor must not point outside the .so's folder. */
static bool is_plain_file_name(const char *s) {
  return *s && !strchr(s, '/') && strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

static bertc_status_t side_file_path(const bertc_model_t *m, char **out) {
  *out = NULL;
  const char *name = m->desc->weights_file;
  if (!is_plain_file_name(name))
    return bertc_status_make(BERTC_STATUS_DATA,
                             "descriptor weights_file '%s' is not a plain file name", name);
  const char *slash = strrchr(m->path, '/');
  if (!slash) return base_strdup(name, out);
  size_t n = (size_t)(slash - m->path) + 1;
  char *dir = NULL;
  BERTC_RETURN_IF_ERROR(base_alloc(n + 1, (void **)&dir));
  memcpy(dir, m->path, n);
  dir[n] = '\0';
  bertc_status_t s = base_path_join(dir, name, out);
  free(dir);
  return s;
}

static bertc_status_t map_side_file(bertc_model_t *m, const char *wpath, bool verify) {
  const bertc_model_descriptor_t *d = m->desc;
  BERTC_RETURN_IF_ERROR(base_map_file(wpath, &m->weights_map));
  if ((uint64_t)m->weights_map.size != d->weights_size)
    return bertc_status_make(BERTC_STATUS_INCOMPATIBLE,
                             "%s: is %zu bytes, the model expects %" PRIu64
                             " (the file is truncated or from another build)",
                             wpath, m->weights_map.size, d->weights_size);
  if (d->weights_align && (uint64_t)sysconf(_SC_PAGESIZE) % d->weights_align != 0)
    return bertc_status_make(BERTC_STATUS_UNSUPPORTED,
                             "weights_align %" PRIu64 " is larger than a page", d->weights_align);
  if (verify) {
    uint64_t h = base_hash64(m->weights_map.data, m->weights_map.size);
    if (h != d->weights_hash)
      return bertc_status_make(BERTC_STATUS_INCOMPATIBLE,
                               "%s: weights hash %016" PRIx64
                               " does not match the model's %016" PRIx64
                               " (the file is corrupt or from another build)",
                               wpath, h, d->weights_hash);
  }
  m->weights = m->weights_map.data;
  base_populate(m->weights, m->weights_map.size, false);
  return BERTC_OK;
}

static bertc_status_t resolve_weights(bertc_model_t *m, const bertc_model_load_options_t *o) {
  const bertc_model_descriptor_t *d = m->desc;
  if (d->weights_size && !is_pow2(d->weights_align))
    return bertc_status_make(BERTC_STATUS_DATA,
                             "descriptor weights_align %" PRIu64 " is not a power of two",
                             d->weights_align);
  if (d->weights) {
    if (o->weights_path)
      return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT,
                               "a weights path (%s) was given but the model embeds its weights",
                               o->weights_path);
    if (d->weights_size && (uintptr_t)d->weights % d->weights_align)
      return bertc_status_make(BERTC_STATUS_DATA,
                               "embedded weights are not %" PRIu64 "-byte aligned",
                               d->weights_align);
    m->weights = d->weights;
    base_populate(m->weights, d->weights_size, false);
    return BERTC_OK;
  }
  if (!d->weights_file) {
    if (d->weights_size)
      return bertc_status_make(BERTC_STATUS_DATA,
                               "descriptor has %" PRIu64 " bytes of weights but neither "
                               "embeds them nor names a weights_file",
                               d->weights_size);
    return BERTC_OK; /* a model without weights */
  }
  char *wpath = NULL;
  if (o->weights_path)
    BERTC_RETURN_IF_ERROR(base_strdup(o->weights_path, &wpath));
  else
    BERTC_RETURN_IF_ERROR(side_file_path(m, &wpath));
  bertc_status_t s = map_side_file(m, wpath, o->verify_weights);
  free(wpath);
  return s;
}

/* dlopen maps a shared object's segments without checking that the file
 * holds them, so a truncated .so faults (SIGBUS) inside the loader. Before
 * dlopen, the program headers of an ELF file of this machine and every
 * segment dlopen maps must lie inside the file; everything else is left to
 * dlopen's own checks. */
static bertc_status_t check_elf_extent(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return bertc_status_make(BERTC_STATUS_IO, "cannot open: %s", strerror(errno));
  ElfW(Ehdr) eh;
  bertc_status_t s = BERTC_OK;
  uint64_t size = 0, end = 0;
  if (fseek(f, 0, SEEK_END) != 0 || ftell(f) < 0) {
    s = bertc_status_make(BERTC_STATUS_IO, "cannot read: %s", strerror(errno));
  } else {
    size = (uint64_t)ftell(f);
    rewind(f);
  }
  if (!s && (fread(&eh, sizeof eh, 1, f) != 1 || memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
             eh.e_ident[EI_CLASS] != (sizeof(void *) == 8 ? ELFCLASS64 : ELFCLASS32))) {
    fclose(f); /* not an ELF file of this machine: dlopen says what is wrong */
    return BERTC_OK;
  }
  if (!s && (eh.e_phentsize != sizeof(ElfW(Phdr)) ||
             !base_mul_u64(eh.e_phnum, sizeof(ElfW(Phdr)), &end) ||
             !base_add_u64(end, eh.e_phoff, &end) || end > size))
    s = bertc_status_make(BERTC_STATUS_DATA,
                          "truncated or damaged shared object: its program headers lie outside "
                          "the file (%" PRIu64 " bytes)",
                          size);
  for (unsigned i = 0; !s && i < eh.e_phnum; i++) {
    ElfW(Phdr) ph;
    if (fseek(f, (long)(eh.e_phoff + i * sizeof ph), SEEK_SET) != 0 ||
        fread(&ph, sizeof ph, 1, f) != 1) {
      s = bertc_status_make(BERTC_STATUS_IO, "cannot read program header %u", i);
      break;
    }
    if (ph.p_type != PT_LOAD && ph.p_type != PT_DYNAMIC) continue;
    if (!base_add_u64(ph.p_offset, ph.p_filesz, &end) || end > size)
      s = bertc_status_make(BERTC_STATUS_DATA,
                            "truncated or damaged shared object: segment %u needs bytes up to "
                            "%" PRIu64 ", the file has %" PRIu64,
                            i, end, size);
  }
  fclose(f);
  return s;
}

static bertc_status_t load_descriptor(bertc_model_t *m) {
  const char *path = m->path;
  /* Without a slash dlopen would search the library path, not the folder. */
  char *dl_path = NULL;
  if (strchr(path, '/'))
    BERTC_RETURN_IF_ERROR(base_strdup(path, &dl_path));
  else
    BERTC_RETURN_IF_ERROR(base_path_join(".", path, &dl_path));
  if (!base_file_exists(dl_path)) {
    free(dl_path);
    return bertc_status_make(BERTC_STATUS_NOT_FOUND, "no such file");
  }
  bertc_status_t s = check_elf_extent(dl_path);
  if (s) {
    free(dl_path);
    return s;
  }
  dlerror();
  m->dl = dlopen(dl_path, RTLD_NOW | RTLD_LOCAL);
  free(dl_path);
  if (!m->dl) {
    const char *e = dlerror();
    return bertc_status_make(BERTC_STATUS_IO, "cannot load: %s", e ? e : "dlopen failed");
  }
  bertc_model_query_fn query;
  void *sym = dlsym(m->dl, BERTC_ABI_QUERY_SYMBOL);
  memcpy(&query, &sym, sizeof query); /* object to function pointer, POSIX-style */
  if (!query)
    return bertc_status_make(BERTC_STATUS_INCOMPATIBLE,
                             "not a bertc model: no symbol " BERTC_ABI_QUERY_SYMBOL);
  const bertc_model_descriptor_t *d = query(BERTC_ABI_VERSION);
  if (!d)
    return bertc_status_make(BERTC_STATUS_INCOMPATIBLE,
                             "the model implements no bertc ABI version <= %u (this "
                             "runtime's); compile it with a matching bertc",
                             BERTC_ABI_VERSION);
  if (d->magic != BERTC_ABI_MAGIC)
    return bertc_status_make(BERTC_STATUS_INCOMPATIBLE,
                             "not a bertc model: descriptor magic is 0x%08x, expected 0x%08x",
                             d->magic, BERTC_ABI_MAGIC);
  if (d->abi_version != BERTC_ABI_VERSION)
    return bertc_status_make(BERTC_STATUS_INCOMPATIBLE,
                             "model uses bertc ABI version %u, this runtime supports version "
                             "%u; compile it with a matching bertc",
                             d->abi_version, BERTC_ABI_VERSION);
  if (d->flags & ~BERTC_ABI_KNOWN_FLAGS)
    return bertc_status_make(BERTC_STATUS_INCOMPATIBLE,
                             "descriptor flags 0x%x have bits this runtime does not know (it "
                             "knows 0x%x); compile it with a matching bertc",
                             d->flags, BERTC_ABI_KNOWN_FLAGS);
  m->desc = d;
  return BERTC_OK;
}

#define RT_MAX_VARIANTS 64

/* The variant table: every variant has a target and one bucket per
 * descriptor bucket and token bucket, of the same sizes. */
static bertc_status_t check_variants(const bertc_model_descriptor_t *d) {
  if (d->num_variants == 0 || d->num_variants > RT_MAX_VARIANTS || !d->variants)
    return bertc_status_make(BERTC_STATUS_DATA,
                             "descriptor has %u code variants, expected 1 to %d",
                             d->num_variants, RT_MAX_VARIANTS);
  for (uint32_t v = 0; v < d->num_variants; v++) {
    const bertc_abi_variant_t *x = &d->variants[v];
    if (!x->target_cpu || !x->target_features || !x->buckets)
      return bertc_status_make(BERTC_STATUS_DATA,
                               "code variant %u has no target cpu, features or buckets", v);
    for (uint32_t i = 0; i < d->num_buckets; i++)
      if (x->buckets[i].batch != d->buckets[i].batch || x->buckets[i].seq != d->buckets[i].seq)
        return bertc_status_make(BERTC_STATUS_DATA,
                                 "code variant %u ('%s') bucket %u is (batch %d, seq %d), the "
                                 "descriptor's is (batch %d, seq %d)",
                                 v, x->target_cpu, i, x->buckets[i].batch, x->buckets[i].seq,
                                 d->buckets[i].batch, d->buckets[i].seq);
    if (d->num_token_buckets && !x->token_buckets)
      return bertc_status_make(BERTC_STATUS_DATA, "code variant %u ('%s') has no token buckets",
                               v, x->target_cpu);
    for (uint32_t i = 0; i < d->num_token_buckets; i++)
      if (x->token_buckets[i].batch != d->token_buckets[i].batch ||
          x->token_buckets[i].seq != d->token_buckets[i].seq)
        return bertc_status_make(BERTC_STATUS_DATA,
                                 "code variant %u ('%s') token bucket %u is (%d sequences, %d "
                                 "tokens), the descriptor's is (%d, %d)",
                                 v, x->target_cpu, i, x->token_buckets[i].batch,
                                 x->token_buckets[i].seq, d->token_buckets[i].batch,
                                 d->token_buckets[i].seq);
  }
  return BERTC_OK;
}

/* "'x86-64-v4', 'x86-64-v3'": the variants' CPUs, for messages. */
static void variant_cpus(const bertc_model_descriptor_t *d, char *out, size_t cap) {
  out[0] = '\0';
  for (uint32_t v = 0; v < d->num_variants; v++) {
    size_t used = strlen(out);
    snprintf(out + used, cap - used, "%s'%s'", v ? ", " : "", d->variants[v].target_cpu);
  }
}

/* Chooses the first variant the host runs (m->variant, -1 when none) and
 * points m->desc at the descriptor as that variant. With `required`, no
 * variant is an error naming each one and what the host lacks for it. */
static bertc_status_t choose_variant(bertc_model_t *m, bool required, const char *wanted) {
  const bertc_model_descriptor_t *d = m->desc;
  BERTC_RETURN_IF_ERROR(check_variants(d));
  char why[1024] = "";
  m->variant = -1;
  bool named = false;
  for (uint32_t v = 0; wanted && v < d->num_variants; v++)
    named |= !strcmp(d->variants[v].target_cpu, wanted);
  char cpus[256];
  variant_cpus(d, cpus, sizeof cpus);
  if (wanted && !named)
    return bertc_status_make(BERTC_STATUS_NOT_FOUND,
                             "no code variant for cpu '%s' (the model has %s)", wanted, cpus);
  bertc_status_t first = BERTC_OK;
  for (uint32_t v = 0; v < d->num_variants && m->variant < 0; v++) {
    const bertc_abi_variant_t *x = &d->variants[v];
    if (wanted && strcmp(x->target_cpu, wanted)) continue;
    bertc_status_t s = rt_cpu_check_features(x->target_cpu, x->target_features);
    if (!s) {
      m->variant = (int32_t)v;
      break;
    }
    size_t used = strlen(why);
    snprintf(why + used, sizeof why - used, "%s%s", used ? "; " : "", bertc_status_message(s));
    if (!first)
      first = s;
    else
      bertc_status_free(s);
  }
  m->chosen = *d;
  m->desc = &m->chosen;
  if (m->variant >= 0) {
    bertc_status_free(first);
    const bertc_abi_variant_t *x = &d->variants[m->variant];
    m->chosen.target_cpu = x->target_cpu;
    m->chosen.target_features = x->target_features;
    m->chosen.arena_size = x->arena_size;
    m->chosen.buckets = x->buckets;
    m->chosen.token_buckets = x->token_buckets;
    return BERTC_OK;
  }
  if (!required) {
    bertc_status_free(first);
    return BERTC_OK;
  }
  if (d->num_variants == 1 || wanted) return first; /* its own message says it all */
  bertc_status_free(first);
  return bertc_status_make(BERTC_STATUS_INCOMPATIBLE,
                           "none of its %u code variants (%s) runs on this host: %s",
                           d->num_variants, cpus, why);
}

static bertc_status_t load(bertc_model_t *m, const bertc_model_load_options_t *o) {
  BERTC_RETURN_IF_ERROR(load_descriptor(m));
  BERTC_RETURN_IF_ERROR(check_buckets(m));
  BERTC_RETURN_IF_ERROR(choose_variant(m, !o->inspect_only, o->variant));
  BERTC_RETURN_IF_ERROR(check_buckets(m)); /* the chosen variant's */
  BERTC_RETURN_IF_ERROR(check_inputs(m));
  BERTC_RETURN_IF_ERROR(check_outputs(m));
  BERTC_RETURN_IF_ERROR(check_token_buckets(m)); /* the chosen variant's */
  BERTC_RETURN_IF_ERROR(read_metadata(m));
  if (!o->inspect_only && (m->desc->flags & BERTC_ABI_FLAG_NEEDS_SGEMM))
    BERTC_RETURN_IF_ERROR(rt_env_load_blas());
  if (!o->inspect_only) BERTC_RETURN_IF_ERROR(resolve_weights(m, o));
  return BERTC_OK;
}

static void destroy(bertc_model_t *m) {
  if (m->metadata) json_decref(m->metadata);
  base_unmap_file(&m->weights_map);
  if (m->dl) dlclose(m->dl);
  free(m->path);
  free(m);
}

bertc_status_t bertc_model_load(const char *so_path, const bertc_model_load_options_t *opts,
                                bertc_model_t **out_model) {
  if (!out_model)
    return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT, "bertc_model_load: out_model is NULL");
  *out_model = NULL;
  if (!so_path)
    return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT, "bertc_model_load: so_path is NULL");
  bertc_model_load_options_t defaults;
  bertc_model_load_options_init(&defaults);
  if (!opts) opts = &defaults;

  bertc_model_t *m = NULL;
  BERTC_RETURN_IF_ERROR(base_calloc(1, sizeof(*m), (void **)&m));
  atomic_init(&m->refs, 1);
  m->inspect_only = opts->inspect_only;
  bertc_status_t s = base_strdup(so_path, &m->path);
  if (!s) s = load(m, opts);
  if (s) {
    destroy(m);
    return bertc_status_annotate(s, "%s", so_path);
  }
  *out_model = m;
  return BERTC_OK;
}

void bertc_model_retain(bertc_model_t *model) {
  if (model) atomic_fetch_add_explicit(&model->refs, 1, memory_order_relaxed);
}

void bertc_model_release(bertc_model_t *model) {
  if (model && atomic_fetch_sub_explicit(&model->refs, 1, memory_order_acq_rel) == 1)
    destroy(model);
}

const char *bertc_model_path(const bertc_model_t *model) { return model->path; }
const bertc_model_descriptor_t *bertc_model_descriptor(const bertc_model_t *model) {
  return model->desc;
}
const bertc_abi_variant_t *bertc_model_variant(const bertc_model_t *model,
                                               uint32_t *out_index) {
  if (out_index) *out_index = model->variant >= 0 ? (uint32_t)model->variant : 0;
  return model->variant >= 0 ? &model->desc->variants[model->variant] : NULL;
}
const char *bertc_model_metadata_json(const bertc_model_t *model) {
  return model->desc->metadata_json ? model->desc->metadata_json : "{}";
}
int64_t bertc_model_vocab_size(const bertc_model_t *model) { return model->vocab_size; }
int64_t bertc_model_type_vocab_size(const bertc_model_t *model) {
  return model->type_vocab_size;
}

const bertc_abi_bucket_t *bertc_model_buckets(const bertc_model_t *model, uint32_t *out_count) {
  *out_count = model->desc->num_buckets;
  return model->desc->buckets;
}

const bertc_abi_bucket_t *bertc_model_token_buckets(const bertc_model_t *model,
                                                    uint32_t *out_count) {
  *out_count = model->desc->num_token_buckets;
  return model->desc->num_token_buckets ? model->desc->token_buckets : NULL;
}
const bertc_abi_tensor_t *bertc_model_inputs(const bertc_model_t *model, uint32_t *out_count) {
  *out_count = model->desc->num_inputs;
  return model->desc->inputs;
}
const bertc_abi_tensor_t *bertc_model_outputs(const bertc_model_t *model, uint32_t *out_count) {
  *out_count = model->desc->num_outputs;
  return model->desc->outputs;
}
int32_t bertc_model_max_batch(const bertc_model_t *model) { return model->max_batch; }
int32_t bertc_model_max_seq(const bertc_model_t *model) { return model->max_seq; }
