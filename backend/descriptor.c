/* The model descriptor: the constant bertc_model_descriptor_t (abi.h) that
 * bertc_model_query returns, built as LLVM constants.
 *
 * The LLVM struct types mirror abi.h field by field; with the target's data
 * layout they have C's layout, which is checked against offsetof() below
 * (bertc generates code for the host's triple only). Strings and the
 * tokenizer blob are private constants; the embedded weights are one
 * 64-byte-aligned constant byte array in .rodata, made directly from the
 * program's buffer (LLVM copies it once; no per-byte work). The descriptor
 * and everything it points to are internal: bertc_model_query, the only
 * exported symbol, returns it when the host accepts BERTC_ABI_VERSION. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cg_internal.h"
#include "base/base.h"

typedef struct desc_builder {
  LLVMContextRef ctx;
  LLVMModuleRef mod;
  const char *model;
  LLVMTypeRef i32, i64, ptr;
} desc_builder_t;

static LLVMValueRef private_bytes(desc_builder_t *d, const char *suffix, const void *data,
                                  size_t size, int nul_terminate, unsigned align) {
  char name[256];
  snprintf(name, sizeof name, "%s_%s", d->model, suffix);
  LLVMValueRef init =
      LLVMConstStringInContext2(d->ctx, data ? (const char *)data : "", size, !nul_terminate);
  LLVMValueRef g = LLVMAddGlobal(d->mod, LLVMTypeOf(init), name);
  LLVMSetInitializer(g, init);
  LLVMSetGlobalConstant(g, 1);
  LLVMSetLinkage(g, LLVMPrivateLinkage);
  LLVMSetAlignment(g, align);
  return g;
}

static LLVMValueRef const_str(desc_builder_t *d, const char *suffix, const char *s) {
  LLVMValueRef g = private_bytes(d, suffix, s, strlen(s), 1, 1);
  LLVMSetUnnamedAddress(g, LLVMGlobalUnnamedAddr);
  return g;
}

static LLVMValueRef i32c(desc_builder_t *d, uint32_t v) { return LLVMConstInt(d->i32, v, 0); }
static LLVMValueRef i64c(desc_builder_t *d, uint64_t v) { return LLVMConstInt(d->i64, v, 0); }

static LLVMValueRef tensor_table(desc_builder_t *d, LLVMTypeRef tensor_ty, const char *what,
                                 const bertc_abi_tensor_t *t, size_t n) {
  if (n == 0) return LLVMConstNull(d->ptr);
  LLVMValueRef elems[64];
  for (size_t i = 0; i < n; i++) {
    char suffix[64];
    snprintf(suffix, sizeof suffix, "%s%zu_name", what, i);
    LLVMValueRef dims[4];
    for (int k = 0; k < 4; k++) dims[k] = LLVMConstInt(d->i64, (uint64_t)t[i].dims[k], 1);
    LLVMValueRef fields[] = {const_str(d, suffix, t[i].name), i32c(d, (uint32_t)t[i].dtype),
                             i32c(d, (uint32_t)t[i].rank), LLVMConstArray2(d->i64, dims, 4)};
    elems[i] = LLVMConstNamedStruct(tensor_ty, fields, 4);
  }
  LLVMValueRef init = LLVMConstArray2(tensor_ty, elems, n);
  char name[256];
  snprintf(name, sizeof name, "%s_%s", d->model, what);
  LLVMValueRef g = LLVMAddGlobal(d->mod, LLVMTypeOf(init), name);
  LLVMSetInitializer(g, init);
  LLVMSetGlobalConstant(g, 1);
  LLVMSetLinkage(g, LLVMPrivateLinkage);
  LLVMSetAlignment(g, 8);
  return g;
}

/* A constant array of n buckets named <model>_<what> (NULL when n is 0). */
static bertc_status_t bucket_table(desc_builder_t *d, LLVMTypeRef bucket_ty, const char *what,
                                   const cg_bucket_t *bk, const LLVMValueRef *entries, size_t n,
                                   LLVMValueRef *out) {
  *out = LLVMConstNull(d->ptr);
  if (n == 0) return BERTC_OK;
  LLVMValueRef *elems;
  BERTC_RETURN_IF_ERROR(base_calloc(n, sizeof *elems, (void **)&elems));
  for (size_t i = 0; i < n; i++) {
    const cg_bucket_t *b = &bk[i];
    LLVMValueRef fields[] = {i32c(d, (uint32_t)b->batch), i32c(d, (uint32_t)b->seq),
                             entries[i],
                             i64c(d, b->arena_bytes),
                             i64c(d, b->peak_live_bytes),
                             i64c(d, b->unplanned_bytes),
                             i64c(d, b->num_calls)};
    elems[i] = LLVMConstNamedStruct(bucket_ty, fields, BASE_ARRAY_LEN(fields));
  }
  LLVMValueRef init = LLVMConstArray2(bucket_ty, elems, n);
  free(elems);
  char name[256];
  snprintf(name, sizeof name, "%s_%s", d->model, what);
  LLVMValueRef g = LLVMAddGlobal(d->mod, LLVMTypeOf(init), name);
  LLVMSetInitializer(g, init);
  LLVMSetGlobalConstant(g, 1);
  LLVMSetLinkage(g, LLVMPrivateLinkage);
  LLVMSetAlignment(g, 8);
  *out = g;
  return BERTC_OK;
}

/* The offsets LLVM gives a struct type must be C's, or the runtime would read
 * garbage. Checked for the fields after each change of field size. */
static bertc_status_t check_layout(LLVMTargetDataRef td, LLVMTypeRef desc_ty,
                                   LLVMTypeRef bucket_ty, LLVMTypeRef tensor_ty,
                                   LLVMTypeRef variant_ty) {
  static const struct {
    int which;
    unsigned field;
    size_t offset;
  } checks[] = {
      {0, 2, offsetof(bertc_model_descriptor_t, model_name)},
      {0, 9, offsetof(bertc_model_descriptor_t, weights_size)},
      {0, 14, offsetof(bertc_model_descriptor_t, num_buckets)},
      {0, 17, offsetof(bertc_model_descriptor_t, flags)},
      {0, 18, offsetof(bertc_model_descriptor_t, buckets)},
      {0, 22, offsetof(bertc_model_descriptor_t, tokenizer_blob_size)},
      {0, 23, offsetof(bertc_model_descriptor_t, num_variants)},
      {0, 24, offsetof(bertc_model_descriptor_t, variants)},
      {0, 25, offsetof(bertc_model_descriptor_t, num_token_buckets)},
      {0, 26, offsetof(bertc_model_descriptor_t, token_buckets)},
      {3, 2, offsetof(bertc_abi_variant_t, arena_size)},
      {3, 3, offsetof(bertc_abi_variant_t, buckets)},
      {3, 4, offsetof(bertc_abi_variant_t, token_buckets)},
      {1, 2, offsetof(bertc_abi_bucket_t, entry)},
      {1, 3, offsetof(bertc_abi_bucket_t, arena_bytes)},
      {1, 6, offsetof(bertc_abi_bucket_t, kernel_calls)},
      {2, 3, offsetof(bertc_abi_tensor_t, dims)},
  };
  LLVMTypeRef types[] = {desc_ty, bucket_ty, tensor_ty, variant_ty};
  size_t sizes[] = {sizeof(bertc_model_descriptor_t), sizeof(bertc_abi_bucket_t),
                    sizeof(bertc_abi_tensor_t), sizeof(bertc_abi_variant_t)};
  for (size_t i = 0; i < BASE_ARRAY_LEN(checks); i++)
    if (LLVMOffsetOfElement(td, types[checks[i].which], checks[i].field) != checks[i].offset)
      return bertc_status_make(BERTC_STATUS_INTERNAL,
                               "descriptor layout: LLVM places field %u of struct %d at %llu, "
                               "C at %zu",
                               checks[i].field, checks[i].which,
                               LLVMOffsetOfElement(td, types[checks[i].which], checks[i].field),
                               checks[i].offset);
  for (int i = 0; i < 4; i++)
    if (LLVMABISizeOfType(td, types[i]) != sizes[i])
      return bertc_status_make(BERTC_STATUS_INTERNAL,
                               "descriptor layout: struct %d is %llu bytes in LLVM, %zu in C",
                               i, LLVMABISizeOfType(td, types[i]), sizes[i]);
  return BERTC_OK;
}

bertc_status_t cg_emit_descriptor(LLVMModuleRef mod, const cg_program_t *p,
                                  const cg_artifact_info_t *info, LLVMValueRef *entries,
                                  LLVMTargetDataRef td) {
  desc_builder_t d = {.ctx = LLVMGetModuleContext(mod), .mod = mod, .model = p->model_name};
  d.i32 = LLVMInt32TypeInContext(d.ctx);
  d.i64 = LLVMInt64TypeInContext(d.ctx);
  d.ptr = LLVMPointerTypeInContext(d.ctx, 0);
  LLVMTypeRef i32 = d.i32, i64 = d.i64, ptr = d.ptr;

  LLVMTypeRef tensor_ty = LLVMStructCreateNamed(d.ctx, "bertc_abi_tensor");
  LLVMStructSetBody(tensor_ty, (LLVMTypeRef[]){ptr, i32, i32, LLVMArrayType2(i64, 4)}, 4, 0);
  LLVMTypeRef bucket_ty = LLVMStructCreateNamed(d.ctx, "bertc_abi_bucket");
  /* batch, seq, entry, arena_bytes, peak_live_bytes, unplanned_bytes, kernel_calls */
  LLVMStructSetBody(bucket_ty, (LLVMTypeRef[]){i32, i32, ptr, i64, i64, i64, i64}, 7, 0);
  LLVMTypeRef desc_fields[] = {
      i32, i32,                /* magic, abi_version */
      ptr, ptr, ptr, ptr, ptr, /* model_name .. bertc_version */
      ptr, ptr, i64, i64, i64, /* weights, weights_file, size, align, hash */
      i64, i64,                /* arena_size, arena_align */
      i32, i32, i32, i32,      /* num_buckets, num_inputs, num_outputs, flags */
      ptr, ptr, ptr,           /* buckets, inputs, outputs */
      ptr, i64,                /* tokenizer_blob, tokenizer_blob_size */
      i32, ptr,                /* num_variants, variants */
      i32, ptr,                /* num_token_buckets, token_buckets */
  };
  LLVMTypeRef variant_ty = LLVMStructCreateNamed(d.ctx, "bertc_abi_variant");
  /* target_cpu, target_features, arena_size, buckets, token_buckets */
  LLVMStructSetBody(variant_ty, (LLVMTypeRef[]){ptr, ptr, i64, ptr, ptr}, 5, 0);
  LLVMTypeRef desc_ty = LLVMStructCreateNamed(d.ctx, "bertc_model_descriptor");
  LLVMStructSetBody(desc_ty, desc_fields, BASE_ARRAY_LEN(desc_fields), 0);
  BERTC_RETURN_IF_ERROR(check_layout(td, desc_ty, bucket_ty, tensor_ty, variant_ty));
  if (p->num_inputs > 64 || p->num_outputs > 64)
    return bertc_status_make(BERTC_STATUS_INTERNAL, "%s: more than 64 inputs or outputs",
                             p->model_name);

  LLVMValueRef weights = LLVMConstNull(ptr);
  LLVMValueRef weights_file = LLVMConstNull(ptr);
  if (info->weights_external) {
    weights_file = const_str(&d, "weights_file", info->weights_file);
  } else {
    weights = private_bytes(&d, "weights", p->weights, p->weights_size, 0, CG_WEIGHTS_ALIGN);
    LLVMSetLinkage(weights, LLVMInternalLinkage); /* a named local symbol, for tools */
  }
  LLVMValueRef tokenizer = LLVMConstNull(ptr);
  uint64_t tokenizer_size = p->tokenizer_blob ? p->tokenizer_blob_size : 0;
  if (tokenizer_size)
    tokenizer = private_bytes(&d, "tokenizer", p->tokenizer_blob, p->tokenizer_blob_size, 0, 8);

  /* Per variant a bucket table and a token bucket table (the same sizes, that
   * variant's entries), and the variant table pointing at them. Entries are
   * per variant in the program's bucket order: the (batch, seq) buckets, then
   * the token buckets. */
  size_t nv = info->num_variants;
  size_t num_padded = 0;
  while (num_padded < p->num_buckets && !p->buckets[num_padded].packed) num_padded++;
  size_t num_tokens = p->num_buckets - num_padded;
  LLVMValueRef *variant_elems, buckets = NULL, token_buckets = NULL;
  BERTC_RETURN_IF_ERROR(base_calloc(nv, sizeof *variant_elems, (void **)&variant_elems));
  bertc_status_t s = BERTC_OK;
  for (size_t v = 0; !s && v < nv; v++) {
    char what[64], suffix[64];
    LLVMValueRef vb, vt;
    const LLVMValueRef *ve = entries + v * p->num_buckets;
    snprintf(what, sizeof what, v ? "v%zu_buckets" : "buckets", v);
    s = bucket_table(&d, bucket_ty, what, p->buckets, ve, num_padded, &vb);
    snprintf(what, sizeof what, v ? "v%zu_token_buckets" : "token_buckets", v);
    if (!s)
      s = bucket_table(&d, bucket_ty, what, p->buckets + num_padded, ve + num_padded,
                       num_tokens, &vt);
    if (s) break;
    if (v == 0) {
      buckets = vb;
      token_buckets = vt;
    }
    snprintf(suffix, sizeof suffix, "v%zu_target_cpu", v);
    LLVMValueRef cpu = const_str(&d, suffix, info->variants[v].cpu);
    snprintf(suffix, sizeof suffix, "v%zu_target_features", v);
    LLVMValueRef features = const_str(&d, suffix, info->variants[v].features);
    LLVMValueRef vf[] = {cpu, features, i64c(&d, info->arena_size), vb, vt};
    variant_elems[v] = LLVMConstNamedStruct(variant_ty, vf, BASE_ARRAY_LEN(vf));
  }
  if (s) {
    free(variant_elems);
    return s;
  }
  char vname[256];
  LLVMValueRef variants_init = LLVMConstArray2(variant_ty, variant_elems, nv);
  free(variant_elems);
  snprintf(vname, sizeof vname, "%s_variants", p->model_name);
  LLVMValueRef variants = LLVMAddGlobal(mod, LLVMTypeOf(variants_init), vname);
  LLVMSetInitializer(variants, variants_init);
  LLVMSetGlobalConstant(variants, 1);
  LLVMSetLinkage(variants, LLVMPrivateLinkage);
  LLVMSetAlignment(variants, 8);

  LLVMValueRef desc_init_fields[] = {
      i32c(&d, BERTC_ABI_MAGIC),
      i32c(&d, BERTC_ABI_VERSION),
      const_str(&d, "model_name", p->model_name),
      const_str(&d, "metadata_json", p->metadata_json ? p->metadata_json : "{}"),
      const_str(&d, "target_cpu", info->target_cpu),
      const_str(&d, "target_features", info->target_features),
      const_str(&d, "bertc_version", BERTC_VERSION_STRING),
      weights,
      weights_file,
      i64c(&d, p->weights_size),
      i64c(&d, CG_WEIGHTS_ALIGN),
      i64c(&d, info->weights_hash),
      i64c(&d, info->arena_size),
      i64c(&d, CG_ARENA_ALIGN),
      i32c(&d, (uint32_t)num_padded),
      i32c(&d, (uint32_t)p->num_inputs),
      i32c(&d, (uint32_t)p->num_outputs),
      i32c(&d, p->flags),
      buckets,
      tensor_table(&d, tensor_ty, "inputs", p->inputs, p->num_inputs),
      tensor_table(&d, tensor_ty, "outputs", p->outputs, p->num_outputs),
      tokenizer,
      i64c(&d, tokenizer_size),
      i32c(&d, (uint32_t)nv),
      variants,
      i32c(&d, (uint32_t)num_tokens),
      token_buckets,
  };
  char name[256];
  snprintf(name, sizeof name, "%s_descriptor", p->model_name);
  LLVMValueRef desc = LLVMAddGlobal(mod, desc_ty, name);
  LLVMSetInitializer(
      desc, LLVMConstNamedStruct(desc_ty, desc_init_fields, BASE_ARRAY_LEN(desc_init_fields)));
  LLVMSetGlobalConstant(desc, 1);
  LLVMSetLinkage(desc, LLVMInternalLinkage);
  LLVMSetAlignment(desc, 8);

  /* const bertc_model_descriptor_t *bertc_model_query(uint32_t max_abi_version) */
  LLVMTypeRef query_ty = LLVMFunctionType(ptr, (LLVMTypeRef[]){i32}, 1, 0);
  LLVMValueRef query = LLVMAddFunction(mod, BERTC_ABI_QUERY_SYMBOL, query_ty);
  LLVMSetLinkage(query, LLVMExternalLinkage);
  LLVMSetVisibility(query, LLVMDefaultVisibility);
  LLVMBuilderRef b = LLVMCreateBuilderInContext(d.ctx);
  LLVMPositionBuilderAtEnd(b, LLVMAppendBasicBlockInContext(d.ctx, query, "entry"));
  LLVMValueRef ok =
      LLVMBuildICmp(b, LLVMIntUGE, LLVMGetParam(query, 0), i32c(&d, BERTC_ABI_VERSION), "ok");
  LLVMBuildRet(b, LLVMBuildSelect(b, ok, desc, LLVMConstNull(ptr), "desc"));
  LLVMDisposeBuilder(b);
  return BERTC_OK;
}
