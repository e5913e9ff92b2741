/* `bertc inspect model.so`: the descriptor (ABI version, target and code
 * variants with the one this host runs, weights,
 * arena, buckets with the memory plan's figures, tensors) and the embedded metadata,
 * read through the runtime loader without running anything. */
#include "tools/so_info.h"

#include "bertc/bertc.h"

static json_t *tensor_json(const bertc_abi_tensor_t *t) {
  json_t *o = json_object(), *dims = json_array();
  for (int i = 0; i < t->rank; i++) {
    int64_t d = t->dims[i];
    if (d == BERTC_ABI_DIM_BATCH) json_array_append_new(dims, json_string("batch"));
    else if (d == BERTC_ABI_DIM_SEQ) json_array_append_new(dims, json_string("seq"));
    else json_array_append_new(dims, json_integer(d));
  }
  json_object_set_new(o, "name", json_string(t->name));
  json_object_set_new(o, "dtype", json_string(t->dtype == BERTC_ABI_I32 ? "i32" : "f32"));
  json_object_set_new(o, "dims", dims);
  return o;
}

bertc_status_t so_info_json(const char *path, json_t **out) {
  *out = NULL;
  bertc_model_load_options_t lo;
  bertc_model_load_options_init(&lo);
  lo.inspect_only = true;
  bertc_model_t *m;
  BERTC_RETURN_IF_ERROR(bertc_model_load(path, &lo, &m));
  const bertc_model_descriptor_t *d = bertc_model_descriptor(m);
  json_t *o = json_object();
  json_object_set_new(o, "path", json_string(path));
  json_object_set_new(o, "model_name", json_string(d->model_name));
  json_object_set_new(o, "abi_version", json_integer(d->abi_version));
  json_object_set_new(o, "bertc_version", json_string(d->bertc_version ? d->bertc_version : ""));
  json_object_set_new(o, "target_cpu", json_string(d->target_cpu));
  json_object_set_new(o, "target_features", json_string(d->target_features));
  /* The code variants, best first, and which one this host runs (null: none). */
  uint32_t chosen = 0;
  const bertc_abi_variant_t *runs = bertc_model_variant(m, &chosen);
  json_t *variants = json_array();
  for (uint32_t i = 0; i < d->num_variants; i++) {
    json_t *v = json_object();
    json_object_set_new(v, "target_cpu", json_string(d->variants[i].target_cpu));
    json_object_set_new(v, "target_features", json_string(d->variants[i].target_features));
    json_object_set_new(v, "arena_bytes", json_integer((json_int_t)d->variants[i].arena_size));
    json_object_set_new(v, "runs_here", json_boolean(runs && i == chosen));
    json_array_append_new(variants, v);
  }
  json_object_set_new(o, "variants", variants);
  json_object_set_new(o, "host_variant", runs ? json_string(runs->target_cpu) : json_null());
  json_object_set_new(o, "weights", json_string(d->weights ? "embedded" : "external"));
  if (!d->weights) json_object_set_new(o, "weights_file", json_string(d->weights_file));
  json_object_set_new(o, "weights_bytes", json_integer((json_int_t)d->weights_size));
  char hash[32];
  snprintf(hash, sizeof hash, "%016llx", (unsigned long long)d->weights_hash);
  json_object_set_new(o, "weights_hash", json_string(hash));
  json_object_set_new(o, "arena_bytes", json_integer((json_int_t)d->arena_size));
  json_object_set_new(o, "arena_align", json_integer((json_int_t)d->arena_align));
  json_t *buckets = json_array(), *plans = json_array();
  for (uint32_t i = 0; i < d->num_buckets; i++) {
    const bertc_abi_bucket_t *k = &d->buckets[i];
    json_t *b = json_object();
    json_object_set_new(b, "batch", json_integer(k->batch));
    json_object_set_new(b, "seq", json_integer(k->seq));
    json_object_set_new(b, "arena_bytes", json_integer((json_int_t)k->arena_bytes));
    json_t *plan = json_deep_copy(b);
    json_object_set_new(plan, "peak_live_bytes", json_integer((json_int_t)k->peak_live_bytes));
    json_object_set_new(plan, "unplanned_bytes", json_integer((json_int_t)k->unplanned_bytes));
    double use = k->arena_bytes ? (double)k->peak_live_bytes / (double)k->arena_bytes : 1.0;
    json_object_set_new(plan, "efficiency", json_real((double)(int)(use * 1000) / 1000));
    json_object_set_new(plan, "kernel_calls", json_integer((json_int_t)k->kernel_calls));
    json_array_append_new(buckets, b);
    json_array_append_new(plans, plan);
  }
  json_object_set_new(o, "buckets", buckets);
  json_object_set_new(o, "memory_plan", plans);
  json_t *tokens = json_array();
  for (uint32_t i = 0; i < d->num_token_buckets; i++) {
    const bertc_abi_bucket_t *k = &d->token_buckets[i];
    json_t *b = json_object();
    json_object_set_new(b, "tokens", json_integer(k->seq));
    json_object_set_new(b, "sequences", json_integer(k->batch));
    json_object_set_new(b, "arena_bytes", json_integer((json_int_t)k->arena_bytes));
    json_object_set_new(b, "kernel_calls", json_integer((json_int_t)k->kernel_calls));
    json_array_append_new(tokens, b);
  }
  json_object_set_new(o, "token_buckets", tokens);
  json_t *ins = json_array(), *outs = json_array();
  for (uint32_t i = 0; i < d->num_inputs; i++) json_array_append_new(ins, tensor_json(&d->inputs[i]));
  for (uint32_t i = 0; i < d->num_outputs; i++) json_array_append_new(outs, tensor_json(&d->outputs[i]));
  json_object_set_new(o, "inputs", ins);
  json_object_set_new(o, "outputs", outs);
  json_t *meta = json_loads(bertc_model_metadata_json(m), 0, NULL);
  /* the linear layers' number format, and the layers an int8 model kept in fp32 */
  json_t *precision = meta ? json_object_get(meta, "precision") : NULL;
  json_object_set_new(o, "precision", precision ? json_incref(precision) : json_string("fp32"));
  json_t *kept = meta ? json_object_get(meta, "kept_fp32") : NULL;
  if (kept) json_object_set_new(o, "kept_fp32", json_incref(kept));
  if (meta) json_object_set_new(o, "metadata", meta);
  bertc_model_release(m);
  *out = o;
  return BERTC_OK;
}
