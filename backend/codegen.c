/* Codegen: a lowered program (program.h) in, a model .so (or object,
 * assembly, IR, header) out, through the LLVM 19 C API.
 *
 * 1. The kernel library, embedded as bitcode, is parsed into a fresh module.
 *    Its functions lose the build machine's target attributes and any
 *    optnone/noinline, get the chosen target's, and become internal and
 *    alwaysinline: each use below gets its own specialized copy.
 * 2. Every call of the program gets a *task wrapper*
 *        void wrapper(void *ctx, int64_t task)
 *    that loads env and the pointer arguments from ctx (an array of pointers:
 *    ctx[0] = env, then the non-NULL pointer arguments in order) and calls
 *    the kernel with its integer and float arguments, and its NULL pointer
 *    arguments, as constants. Calls with the same kernel and the same
 *    constants share one wrapper, so the identical layers of a model share
 *    one specialized kernel per op and compile time grows with the number of
 *    distinct shapes, not with depth.
 * 3. Each (batch, seq) bucket gets an entry function (abi.h
 *    bertc_abi_entry_fn) that is a straight list of calls: compute the
 *    pointer arguments (region base + constant offset), store them into one
 *    stack array, then call the wrapper directly (one task) or through
 *    env->parallel_for (a small run_tasks helper, which runs the tasks in a
 *    loop when the host gives no parallel_for).
 * 4. The descriptor and bertc_model_query (descriptor.c); every other symbol
 *    is internal, unused kernels are deleted, the module is verified,
 *    optimized with default<O3> for the target machine, and emitted. For a
 *    .so the work is split over several modules built on --jobs threads (the
 *    entries' and the wrappers' shares, see cg_unit_t), whose objects the
 *    system compiler driver links (link.c).
 * Every output goes through a temporary file and a rename, so a failed
 * compile leaves nothing. The same inputs give byte-identical outputs: no
 * clocks, paths or addresses reach the module. */
#define _GNU_SOURCE
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <llvm-c/Analysis.h>
#include <llvm-c/BitReader.h>
#include <llvm-c/Core.h>
#include <llvm-c/Error.h>
#include <llvm-c/TargetMachine.h>
#include <llvm-c/Transforms/PassBuilder.h>

#include "backend/cg_internal.h"
#include "base/base.h"

#define CG_MAX_NAME 128 /* longest model name: symbol names stay readable */

void cg_options_init(cg_options_t *o) {
  memset(o, 0, sizeof *o);
  o->target_cpu = "native";
  o->emit = CG_EMIT_SO;
  o->opt_level = 3;
}

/* --- validation ----------------------------------------------------------- */

static const char *region_name(cg_region_t r) {
  static const char *const names[] = {"weights", "arena", "input", "output", "null"};
  return (unsigned)r < BASE_ARRAY_LEN(names) ? names[r] : "?";
}

/* The program comes from bertc's own lowering, so an inconsistency is a bug
 * (INTERNAL), reported with the bucket and call it is in. */
static bertc_status_t check_call(const cg_program_t *p, const cg_bucket_t *b, size_t ci) {
  const cg_call_t *c = &b->calls[ci];
  if (!c->kernel)
    return bertc_status_make(BERTC_STATUS_INTERNAL, "bucket b%d_s%d call %zu: no kernel",
                             b->batch, b->seq, ci);
  if (c->ntasks < 1 || c->num_args < 0 || c->num_args > CG_MAX_ARGS)
    return bertc_status_make(
        BERTC_STATUS_INTERNAL, "bucket b%d_s%d call %zu (%s): ntasks %lld, %d arguments",
        b->batch, b->seq, ci, c->kernel, (long long)c->ntasks, c->num_args);
  for (int a = 0; a < c->num_args; a++) {
    const cg_arg_t *arg = &c->args[a];
    if (arg->kind == CG_ARG_I64 || arg->kind == CG_ARG_F32) continue;
    bool bad = arg->kind != CG_ARG_PTR;
    uint64_t limit = UINT64_MAX;
    switch (arg->region) {
      case CG_REGION_WEIGHTS: limit = p->weights_size; break;
      case CG_REGION_ARENA: limit = b->arena_bytes; break;
      case CG_REGION_INPUT:
        bad |= arg->index < 0 || (size_t)arg->index >= p->num_inputs + (b->packed ? 1 : 0);
        break;
      case CG_REGION_OUTPUT:
        bad |= arg->index < 0 || (size_t)arg->index >= p->num_outputs;
        break;
      case CG_REGION_NULL: break;
      default: bad = true;
    }
    bad |= arg->i < 0 || (uint64_t)arg->i > limit;
    if (bad)
      return bertc_status_make(BERTC_STATUS_INTERNAL,
                               "bucket b%d_s%d call %zu (%s): argument %d is a bad pointer "
                               "(kind %d, region %s, index %d, offset %lld)",
                               b->batch, b->seq, ci, c->kernel, a, (int)arg->kind,
                               region_name(arg->region), arg->index, (long long)arg->i);
  }
  return BERTC_OK;
}

static bertc_status_t check_program(const cg_program_t *p) {
  const char *m = p->model_name;
  size_t len = m ? strlen(m) : 0;
  bool ok = len > 0 && len <= CG_MAX_NAME;
  for (size_t i = 0; ok && i < len; i++)
    ok = (m[i] >= 'a' && m[i] <= 'z') || (m[i] >= 'A' && m[i] <= 'Z') ||
         (m[i] >= '0' && m[i] <= '9') || m[i] == '_';
  if (!ok)
    return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT,
                             "model name '%s' must be 1..%d characters of [A-Za-z0-9_]",
                             m ? m : "(null)", CG_MAX_NAME);
  if (p->weights_size && !p->weights)
    return bertc_status_make(BERTC_STATUS_INTERNAL, "%s: %llu bytes of weights but no data", m,
                             (unsigned long long)p->weights_size);
  if (p->num_buckets == 0 || p->num_buckets > INT32_MAX)
    return bertc_status_make(BERTC_STATUS_INTERNAL, "%s: no buckets", m);
  if (p->num_inputs > 64 || p->num_outputs > 64)
    return bertc_status_make(BERTC_STATUS_INTERNAL, "%s: more than 64 inputs or outputs", m);
  for (size_t i = 0; i < p->num_inputs + p->num_outputs; i++) {
    const bertc_abi_tensor_t *t =
        i < p->num_inputs ? &p->inputs[i] : &p->outputs[i - p->num_inputs];
    if (!t->name || t->rank < 0 || t->rank > 4)
      return bertc_status_make(BERTC_STATUS_INTERNAL, "%s: tensor %zu has no name or rank %d",
                               m, i, t->rank);
  }
  for (size_t i = 0; i < p->num_buckets; i++) {
    const cg_bucket_t *b = &p->buckets[i];
    if (b->batch < 1 || b->seq < 1 || (b->num_calls && !b->calls))
      return bertc_status_make(BERTC_STATUS_INTERNAL, "%s: bucket %zu is (%d, %d)", m, i,
                               b->batch, b->seq);
    if (i > 0) {
      const cg_bucket_t *a = &p->buckets[i - 1];
      bool sorted = b->packed ? !a->packed || a->seq < b->seq
                              : !a->packed && (a->batch < b->batch ||
                                               (a->batch == b->batch && a->seq < b->seq));
      if (!sorted)
        return bertc_status_make(BERTC_STATUS_INTERNAL,
                                 "%s: buckets not sorted by (batch, seq), then token buckets "
                                 "by seq: (%d, %d) before (%d, %d)",
                                 m, a->batch, a->seq, b->batch, b->seq);
    }
    if (b->packed && (size_t)b->seq != 2 * (size_t)b->batch)
      return bertc_status_make(BERTC_STATUS_INTERNAL, "%s: token bucket of %d tokens takes %d",
                               m, b->seq, b->batch);
    for (size_t c = 0; c < b->num_calls; c++) BERTC_RETURN_IF_ERROR(check_call(p, b, c));
  }
  return BERTC_OK;
}

static bertc_status_t check_options(const cg_options_t *o) {
  if (o->opt_level < 0 || o->opt_level > 3)
    return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT, "optimization level %d is not 0..3",
                             o->opt_level);
  if ((unsigned)o->emit > CG_EMIT_HEADER)
    return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT, "unknown output kind %d",
                             (int)o->emit);
  return BERTC_OK;
}

/* --- module construction -------------------------------------------------- */

typedef struct cg_wrapper {
  const cg_call_t *call; /* the first call with this signature */
  LLVMValueRef fn;       /* NULL: defined in another module, not used in this one */
} cg_wrapper_t;

/* What a module does with the task wrappers its calls need: define them all
 * (the one module of --emit obj/asm/llvm), declare them (a .so's module of
 * entries), or define every num_shards-th of them, from shard on (a .so's
 * wrapper modules). Wrappers are numbered in order of first use over all
 * buckets, the same in every module. */
typedef enum cg_wrap_mode { CG_WRAP_ALL, CG_WRAP_DECLARE, CG_WRAP_SHARD } cg_wrap_mode_t;

typedef struct cg_gen {
  const cg_program_t *p;
  char tag[32]; /* "" for a single variant, else "_v<i>": in the variant's symbol names */
  cg_wrap_mode_t wrap_mode;
  size_t shard, num_shards; /* CG_WRAP_SHARD */
  LLVMContextRef ctx;
  LLVMModuleRef mod;
  LLVMBuilderRef b;
  LLVMTypeRef void_ty, i32, i64, f32, ptr, env_ty, wrapper_ty, run_tasks_ty, entry_ty;
  LLVMValueRef run_tasks;
  cg_wrapper_t *wrappers;
  size_t num_wrappers, cap_wrappers;
  char *diag; /* the first error LLVM reported through the context */
} cg_gen_t;

static void diag_handler(LLVMDiagnosticInfoRef di, void *user) {
  cg_gen_t *g = user;
  if (LLVMGetDiagInfoSeverity(di) != LLVMDSError || g->diag) return;
  char *msg = LLVMGetDiagInfoDescription(di);
  g->diag = strdup(msg ? msg : "unknown LLVM error");
  LLVMDisposeMessage(msg);
}

static unsigned attr_kind(const char *name) {
  return LLVMGetEnumAttributeKindForName(name, strlen(name));
}

static void add_fn_attr(cg_gen_t *g, LLVMValueRef fn, const char *name) {
  LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex,
                          LLVMCreateEnumAttribute(g->ctx, attr_kind(name), 0));
}

static void set_string_attr(cg_gen_t *g, LLVMValueRef fn, const char *key, const char *value) {
  LLVMRemoveStringAttributeAtIndex(fn, LLVMAttributeFunctionIndex, key, (unsigned)strlen(key));
  if (value && *value)
    LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex,
                            LLVMCreateStringAttribute(g->ctx, key, (unsigned)strlen(key), value,
                                                      (unsigned)strlen(value)));
}

/* Parses the embedded kernels into g->mod and prepares them for inlining. */
static bertc_status_t load_kernels(cg_gen_t *g, bool avx512) {
  LLVMMemoryBufferRef buf =
      avx512 ? LLVMCreateMemoryBufferWithMemoryRange((const char *)cg_kernels_bc,
                                                     cg_kernels_bc_size, "kernels.bc", 0)
             : LLVMCreateMemoryBufferWithMemoryRange((const char *)cg_kernels_avx2_bc,
                                                     cg_kernels_avx2_bc_size, "kernels.bc", 0);
  LLVMBool failed = LLVMParseBitcodeInContext2(g->ctx, buf, &g->mod);
  LLVMDisposeMemoryBuffer(buf);
  if (failed)
    return bertc_status_make(BERTC_STATUS_INTERNAL, "the embedded kernel bitcode: %s",
                             g->diag ? g->diag : "cannot be parsed");
  LLVMSetModuleIdentifier(g->mod, g->p->model_name, strlen(g->p->model_name));
  LLVMSetSourceFileName(g->mod, g->p->model_name, strlen(g->p->model_name));
  for (LLVMValueRef fn = LLVMGetFirstFunction(g->mod); fn; fn = LLVMGetNextFunction(fn)) {
    if (LLVMIsDeclaration(fn)) continue;
    LLVMRemoveEnumAttributeAtIndex(fn, LLVMAttributeFunctionIndex, attr_kind("optnone"));
    LLVMRemoveEnumAttributeAtIndex(fn, LLVMAttributeFunctionIndex, attr_kind("noinline"));
    if (LLVMGetLinkage(fn) == LLVMExternalLinkage) {
      LLVMSetLinkage(fn, LLVMInternalLinkage);
      add_fn_attr(g, fn, "alwaysinline");
    }
  }
  return BERTC_OK;
}

static const char *llvm_kind_name(LLVMTypeRef t) {
  switch (LLVMGetTypeKind(t)) {
    case LLVMIntegerTypeKind: return LLVMGetIntTypeWidth(t) == 64 ? "i64" : "an integer";
    case LLVMFloatTypeKind: return "f32";
    case LLVMPointerTypeKind: return "ptr";
    default: return "another type";
  }
}

/* The kernel `c` calls, checked against its LLVM signature
 * void (ptr env, i64 task, args...). */
static bertc_status_t find_kernel(cg_gen_t *g, const cg_call_t *c, LLVMValueRef *out_fn,
                                  LLVMTypeRef *out_ty) {
  LLVMValueRef fn = LLVMGetNamedFunction(g->mod, c->kernel);
  if (!fn || LLVMIsDeclaration(fn))
    return bertc_status_make(BERTC_STATUS_INTERNAL, "kernel '%s' is not in the kernel library",
                             c->kernel);
  LLVMTypeRef ty = LLVMGlobalGetValueType(fn);
  unsigned n = LLVMCountParamTypes(ty);
  if (n != (unsigned)c->num_args + 2 ||
      LLVMGetTypeKind(LLVMGetReturnType(ty)) != LLVMVoidTypeKind)
    return bertc_status_make(BERTC_STATUS_INTERNAL,
                             "kernel '%s' takes %u arguments after (env, task), the call "
                             "passes %d",
                             c->kernel, n >= 2 ? n - 2 : 0, c->num_args);
  LLVMTypeRef params[CG_MAX_ARGS + 2];
  LLVMGetParamTypes(ty, params);
  if (params[0] != g->ptr || params[1] != g->i64)
    return bertc_status_make(BERTC_STATUS_INTERNAL,
                             "kernel '%s' does not start with (env, int64_t task)", c->kernel);
  for (int a = 0; a < c->num_args; a++) {
    LLVMTypeRef want = c->args[a].kind == CG_ARG_I64   ? g->i64
                       : c->args[a].kind == CG_ARG_F32 ? g->f32
                                                       : g->ptr;
    if (params[a + 2] != want)
      return bertc_status_make(BERTC_STATUS_INTERNAL,
                               "kernel '%s': argument %d is %s, the call passes %s", c->kernel,
                               a, llvm_kind_name(params[a + 2]), llvm_kind_name(want));
  }
  *out_fn = fn;
  *out_ty = ty;
  return BERTC_OK;
}

static bool is_runtime_ptr(const cg_arg_t *a) {
  return a->kind == CG_ARG_PTR && a->region != CG_REGION_NULL;
}

/* Two calls can share a wrapper when they name the same kernel and agree on
 * every constant: integers, floats (bit for bit) and which pointers are NULL.
 * A linear search: a model has a few hundred calls at most. */
static bool same_signature(const cg_call_t *a, const cg_call_t *b) {
  if (a->num_args != b->num_args || strcmp(a->kernel, b->kernel) != 0) return false;
  for (int i = 0; i < a->num_args; i++) {
    const cg_arg_t *x = &a->args[i], *y = &b->args[i];
    if (x->kind != y->kind) return false;
    if (x->kind == CG_ARG_I64 && x->i != y->i) return false;
    if (x->kind == CG_ARG_F32 && memcmp(&x->f, &y->f, sizeof x->f) != 0) return false;
    if (x->kind == CG_ARG_PTR && is_runtime_ptr(x) != is_runtime_ptr(y)) return false;
  }
  return true;
}

static LLVMValueRef load_ptr(cg_gen_t *g, LLVMValueRef base, unsigned index, const char *name) {
  LLVMValueRef idx = LLVMConstInt(g->i64, index, 0);
  LLVMValueRef addr = index ? LLVMBuildInBoundsGEP2(g->b, g->ptr, base, &idx, 1, "") : base;
  LLVMValueRef v = LLVMBuildLoad2(g->b, g->ptr, addr, name);
  LLVMSetAlignment(v, 8);
  return v;
}

/* The task wrapper of call c (see cg_wrap_mode_t), made on first use. A
 * wrapper another module of the same .so defines or calls is a hidden
 * external symbol; otherwise it is internal. */
static bertc_status_t get_wrapper(cg_gen_t *g, const cg_call_t *c, LLVMValueRef *out) {
  for (size_t i = 0; i < g->num_wrappers; i++)
    if (same_signature(g->wrappers[i].call, c)) {
      *out = g->wrappers[i].fn;
      return BERTC_OK;
    }
  if (g->num_wrappers == g->cap_wrappers) {
    size_t cap = g->cap_wrappers ? 2 * g->cap_wrappers : 64;
    cg_wrapper_t *w = realloc(g->wrappers, cap * sizeof *w);
    if (!w) return bertc_status_make(BERTC_STATUS_OUT_OF_MEMORY, "out of memory");
    g->wrappers = w;
    g->cap_wrappers = cap;
  }
  size_t index = g->num_wrappers, same_kernel = 0;
  for (size_t i = 0; i < g->num_wrappers; i++)
    same_kernel += !strcmp(g->wrappers[i].call->kernel, c->kernel);
  bool define = g->wrap_mode == CG_WRAP_ALL ||
                (g->wrap_mode == CG_WRAP_SHARD && index % g->num_shards == g->shard);
  LLVMValueRef kernel = NULL, fn = NULL;
  LLVMTypeRef kernel_ty = NULL;
  if (define) BERTC_RETURN_IF_ERROR(find_kernel(g, c, &kernel, &kernel_ty));
  if (define || g->wrap_mode == CG_WRAP_DECLARE) {
    char name[CG_MAX_NAME + 96];
    snprintf(name, sizeof name, "%s%s_%s_%zu", g->p->model_name, g->tag, c->kernel,
             same_kernel);
    fn = LLVMAddFunction(g->mod, name, g->wrapper_ty);
    if (g->wrap_mode == CG_WRAP_ALL) {
      LLVMSetLinkage(fn, LLVMInternalLinkage);
    } else {
      LLVMSetLinkage(fn, LLVMExternalLinkage);
      LLVMSetVisibility(fn, LLVMHiddenVisibility);
    }
  }
  g->wrappers[g->num_wrappers++] = (cg_wrapper_t){c, fn};
  *out = fn;
  if (!define) return BERTC_OK;
  add_fn_attr(g, fn, "nounwind");
  add_fn_attr(g, fn, "noinline"); /* shared by every call with this signature */
  LLVMPositionBuilderAtEnd(g->b, LLVMAppendBasicBlockInContext(g->ctx, fn, "entry"));
  LLVMValueRef ctx = LLVMGetParam(fn, 0);
  LLVMValueRef args[CG_MAX_ARGS + 2];
  args[0] = load_ptr(g, ctx, 0, "env");
  args[1] = LLVMGetParam(fn, 1);
  unsigned slot = 1;
  for (int a = 0; a < c->num_args; a++) {
    const cg_arg_t *arg = &c->args[a];
    if (arg->kind == CG_ARG_I64)
      args[a + 2] = LLVMConstInt(g->i64, (unsigned long long)arg->i, 1);
    else if (arg->kind == CG_ARG_F32)
      args[a + 2] = LLVMConstReal(g->f32, (double)arg->f);
    else if (is_runtime_ptr(arg))
      args[a + 2] = load_ptr(g, ctx, slot++, "");
    else
      args[a + 2] = LLVMConstNull(g->ptr);
  }
  LLVMBuildCall2(g->b, kernel_ty, kernel, args, (unsigned)c->num_args + 2, "");
  LLVMBuildRetVoid(g->b);
  return BERTC_OK;
}

/* A wrapper module's share of the wrappers (CG_WRAP_SHARD): every call of
 * every bucket in order, so the numbering matches the entries' module. */
static bertc_status_t build_wrapper_shard(cg_gen_t *g) {
  for (size_t b = 0; b < g->p->num_buckets; b++) {
    const cg_bucket_t *bk = &g->p->buckets[b];
    for (size_t c = 0; c < bk->num_calls; c++) {
      LLVMValueRef fn;
      BERTC_RETURN_IF_ERROR_CTX(get_wrapper(g, &bk->calls[c], &fn), "bucket b%d_s%d call %zu",
                                bk->batch, bk->seq, c);
    }
  }
  return BERTC_OK;
}

/* void run_tasks(env, n, fn, ctx): env->parallel_for(env, n, fn, ctx), or a
 * serial loop when the host has none. optsize keeps function specialization
 * from cloning it (and the wrapper inlined into it) once per wrapper. */
static void build_run_tasks(cg_gen_t *g) {
  char name[CG_MAX_NAME + 16];
  snprintf(name, sizeof name, "%s_run_tasks", g->p->model_name);
  LLVMValueRef fn = LLVMAddFunction(g->mod, name, g->run_tasks_ty);
  LLVMSetLinkage(fn, LLVMInternalLinkage);
  add_fn_attr(g, fn, "nounwind");
  add_fn_attr(g, fn, "noinline");
  add_fn_attr(g, fn, "optsize");
  LLVMValueRef env = LLVMGetParam(fn, 0), n = LLVMGetParam(fn, 1);
  LLVMValueRef task_fn = LLVMGetParam(fn, 2), ctx = LLVMGetParam(fn, 3);
  LLVMBasicBlockRef entry = LLVMAppendBasicBlockInContext(g->ctx, fn, "entry");
  LLVMBasicBlockRef parallel = LLVMAppendBasicBlockInContext(g->ctx, fn, "parallel");
  LLVMBasicBlockRef loop = LLVMAppendBasicBlockInContext(g->ctx, fn, "serial");
  LLVMBasicBlockRef done = LLVMAppendBasicBlockInContext(g->ctx, fn, "done");
  LLVMPositionBuilderAtEnd(g->b, entry);
  LLVMValueRef pf_addr = LLVMBuildStructGEP2(g->b, g->env_ty, env, 3, "parallel_for.addr");
  LLVMValueRef pf = LLVMBuildLoad2(g->b, g->ptr, pf_addr, "parallel_for");
  LLVMSetAlignment(pf, 8);
  LLVMBuildCondBr(g->b, LLVMBuildIsNull(g->b, pf, "serial"), loop, parallel);

  LLVMPositionBuilderAtEnd(g->b, parallel);
  LLVMTypeRef pf_ty =
      LLVMFunctionType(g->void_ty, (LLVMTypeRef[]){g->ptr, g->i64, g->ptr, g->ptr}, 4, 0);
  LLVMBuildCall2(g->b, pf_ty, pf, (LLVMValueRef[]){env, n, task_fn, ctx}, 4, "");
  LLVMBuildRetVoid(g->b);

  LLVMPositionBuilderAtEnd(g->b, loop);
  LLVMValueRef i = LLVMBuildPhi(g->b, g->i64, "i");
  LLVMBuildCall2(g->b, g->wrapper_ty, task_fn, (LLVMValueRef[]){ctx, i}, 2, "");
  LLVMValueRef next = LLVMBuildNSWAdd(g->b, i, LLVMConstInt(g->i64, 1, 0), "next");
  LLVMBuildCondBr(g->b, LLVMBuildICmp(g->b, LLVMIntSGE, next, n, "end"), done, loop);
  LLVMValueRef zero = LLVMConstInt(g->i64, 0, 0);
  LLVMAddIncoming(i, (LLVMValueRef[]){zero, next}, (LLVMBasicBlockRef[]){entry, loop}, 2);

  LLVMPositionBuilderAtEnd(g->b, done);
  LLVMBuildRetVoid(g->b);
  g->run_tasks = fn;
}

/* int32_t <model>_b<B>_s<S>(env, weights, arena, inputs, outputs), or
 * <model>_t<T> for a token bucket */
static bertc_status_t build_entry(cg_gen_t *g, const cg_bucket_t *bk, LLVMValueRef *out) {
  char name[CG_MAX_NAME + 48];
  if (bk->packed)
    snprintf(name, sizeof name, "%s%s_t%d", g->p->model_name, g->tag, bk->seq);
  else
    snprintf(name, sizeof name, "%s%s_b%d_s%d", g->p->model_name, g->tag, bk->batch, bk->seq);
  LLVMValueRef fn = LLVMAddFunction(g->mod, name, g->entry_ty);
  LLVMSetLinkage(fn, LLVMInternalLinkage);
  add_fn_attr(g, fn, "nounwind");
  LLVMValueRef env = LLVMGetParam(fn, 0), weights = LLVMGetParam(fn, 1);
  LLVMValueRef arena = LLVMGetParam(fn, 2), inputs = LLVMGetParam(fn, 3);
  LLVMValueRef outputs = LLVMGetParam(fn, 4);
  static const char *const param_names[] = {"env", "weights", "arena", "inputs", "outputs"};
  for (unsigned i = 0; i < 5; i++)
    LLVMSetValueName2(LLVMGetParam(fn, i), param_names[i], strlen(param_names[i]));
  LLVMPositionBuilderAtEnd(g->b, LLVMAppendBasicBlockInContext(g->ctx, fn, "entry"));

  unsigned max_slots = 1;
  for (size_t c = 0; c < bk->num_calls; c++) {
    unsigned n = 1;
    for (int a = 0; a < bk->calls[c].num_args; a++) n += is_runtime_ptr(&bk->calls[c].args[a]);
    if (n > max_slots) max_slots = n;
  }
  LLVMValueRef slots = LLVMBuildAlloca(g->b, LLVMArrayType2(g->ptr, max_slots), "ctx");
  LLVMSetAlignment(LLVMBuildStore(g->b, env, slots), 8);

  LLVMValueRef input_ptrs[64] = {0}, output_ptrs[64] = {0};
  for (size_t c = 0; c < bk->num_calls; c++) {
    const cg_call_t *call = &bk->calls[c];
    LLVMValueRef wrapper = NULL;
    BERTC_RETURN_IF_ERROR_CTX(get_wrapper(g, call, &wrapper), "bucket b%d_s%d call %zu",
                              bk->batch, bk->seq, c);
    LLVMPositionBuilderAtEnd(g->b, LLVMGetLastBasicBlock(fn));
    unsigned slot = 1;
    for (int a = 0; a < call->num_args; a++) {
      const cg_arg_t *arg = &call->args[a];
      if (!is_runtime_ptr(arg)) continue;
      LLVMValueRef base;
      switch (arg->region) {
        case CG_REGION_WEIGHTS: base = weights; break;
        case CG_REGION_ARENA: base = arena; break;
        case CG_REGION_INPUT:
          if (!input_ptrs[arg->index])
            input_ptrs[arg->index] = load_ptr(g, inputs, (unsigned)arg->index, "input");
          base = input_ptrs[arg->index];
          break;
        default:
          if (!output_ptrs[arg->index])
            output_ptrs[arg->index] = load_ptr(g, outputs, (unsigned)arg->index, "output");
          base = output_ptrs[arg->index];
          break;
      }
      LLVMValueRef off = LLVMConstInt(g->i64, (unsigned long long)arg->i, 0);
      LLVMValueRef p =
          arg->i ? LLVMBuildInBoundsGEP2(g->b, LLVMInt8TypeInContext(g->ctx), base, &off, 1, "")
                 : base;
      LLVMValueRef idx = LLVMConstInt(g->i64, slot++, 0);
      LLVMValueRef dst = LLVMBuildInBoundsGEP2(g->b, g->ptr, slots, &idx, 1, "");
      LLVMSetAlignment(LLVMBuildStore(g->b, p, dst), 8);
    }
    if (call->ntasks == 1) {
      LLVMBuildCall2(g->b, g->wrapper_ty, wrapper,
                     (LLVMValueRef[]){slots, LLVMConstInt(g->i64, 0, 0)}, 2, "");
    } else {
      LLVMValueRef n = LLVMConstInt(g->i64, (unsigned long long)call->ntasks, 0);
      LLVMBuildCall2(g->b, g->run_tasks_ty, g->run_tasks,
                     (LLVMValueRef[]){env, n, wrapper, slots}, 4, "");
    }
  }
  LLVMBuildRet(g->b, LLVMConstInt(g->i32, 0, 0));
  *out = fn;
  return BERTC_OK;
}

/* Internal linkage for everything but bertc_model_query and the hidden
 * symbols other modules of the .so use (task wrappers), then deletes what
 * nothing uses (the kernels no call needs), so the optimizer never sees it. */
static void finish_module(cg_gen_t *g, const char *cpu, const char *features) {
  for (LLVMValueRef v = LLVMGetFirstGlobal(g->mod); v; v = LLVMGetNextGlobal(v))
    if (!LLVMIsDeclaration(v) && LLVMGetLinkage(v) == LLVMExternalLinkage)
      LLVMSetLinkage(v, LLVMInternalLinkage);
  for (LLVMValueRef fn = LLVMGetFirstFunction(g->mod); fn; fn = LLVMGetNextFunction(fn)) {
    if (LLVMIsDeclaration(fn) || LLVMGetVisibility(fn) == LLVMHiddenVisibility) continue;
    size_t len;
    const char *name = LLVMGetValueName2(fn, &len);
    if (LLVMGetLinkage(fn) == LLVMExternalLinkage && strcmp(name, BERTC_ABI_QUERY_SYMBOL) != 0)
      LLVMSetLinkage(fn, LLVMInternalLinkage);
  }
  for (bool changed = true; changed;) {
    changed = false;
    for (LLVMValueRef fn = LLVMGetFirstFunction(g->mod), next; fn; fn = next) {
      next = LLVMGetNextFunction(fn);
      LLVMLinkage l = LLVMGetLinkage(fn);
      bool local = l == LLVMInternalLinkage || l == LLVMPrivateLinkage || LLVMIsDeclaration(fn);
      if (local && !LLVMGetFirstUse(fn)) {
        LLVMDeleteFunction(fn);
        changed = true;
      }
    }
    for (LLVMValueRef v = LLVMGetFirstGlobal(g->mod), next; v; v = next) {
      next = LLVMGetNextGlobal(v);
      LLVMLinkage l = LLVMGetLinkage(v);
      if ((l == LLVMInternalLinkage || l == LLVMPrivateLinkage) && !LLVMGetFirstUse(v)) {
        LLVMDeleteGlobal(v);
        changed = true;
      }
    }
  }
  for (LLVMValueRef fn = LLVMGetFirstFunction(g->mod); fn; fn = LLVMGetNextFunction(fn)) {
    if (LLVMIsDeclaration(fn)) continue;
    set_string_attr(g, fn, "target-cpu", cpu);
    set_string_attr(g, fn, "target-features", features);
    set_string_attr(g, fn, "tune-cpu", NULL);
  }
}

/* --- the driver ----------------------------------------------------------- */

static void report(const cg_options_t *o, const char *phase, double *t0) {
  double t = base_now_seconds();
  if (o->progress) o->progress(o->progress_user, phase, t - *t0);
  *t0 = t;
}

static bertc_status_t llvm_error(LLVMErrorRef e, const char *what) {
  char *msg = LLVMGetErrorMessage(e);
  bertc_status_t s = bertc_status_make(BERTC_STATUS_INTERNAL, "%s: %s", what, msg);
  LLVMDisposeErrorMessage(msg);
  return s;
}

static bertc_status_t optimize(LLVMModuleRef mod, LLVMTargetMachineRef tm, int opt_level) {
  static const char *const pipelines[] = {"default<O0>", "default<O1>", "default<O2>",
                                          "default<O3>"};
  LLVMPassBuilderOptionsRef pbo = LLVMCreatePassBuilderOptions();
  LLVMPassBuilderOptionsSetLoopVectorization(pbo, opt_level >= 2);
  LLVMPassBuilderOptionsSetSLPVectorization(pbo, opt_level >= 2);
  LLVMPassBuilderOptionsSetLoopInterleaving(pbo, opt_level >= 2);
  LLVMPassBuilderOptionsSetLoopUnrolling(pbo, opt_level >= 2);
  LLVMErrorRef e = LLVMRunPasses(mod, pipelines[opt_level], tm, pbo);
  LLVMDisposePassBuilderOptions(pbo);
  return e ? llvm_error(e, "LLVM optimization") : BERTC_OK;
}

/* The module as text (IR, *out_ir) or bytes (object or assembly, *out_buf),
 * owned by LLVM: the caller releases them with the matching dispose function. */
static bertc_status_t emit(LLVMModuleRef mod, LLVMTargetMachineRef tm, cg_emit_t kind,
                           LLVMMemoryBufferRef *out_buf, char **out_ir) {
  *out_buf = NULL;
  *out_ir = NULL;
  if (kind == CG_EMIT_LLVM) {
    *out_ir = LLVMPrintModuleToString(mod);
    return BERTC_OK;
  }
  char *err = NULL;
  LLVMCodeGenFileType type = kind == CG_EMIT_ASM ? LLVMAssemblyFile : LLVMObjectFile;
  if (LLVMTargetMachineEmitToMemoryBuffer(tm, mod, type, &err, out_buf)) {
    bertc_status_t s =
        bertc_status_make(BERTC_STATUS_INTERNAL, "LLVM code emission: %s", err ? err : "");
    LLVMDisposeMessage(err);
    return s;
  }
  return BERTC_OK;
}

static const char *base_name(const char *path) {
  const char *slash = strrchr(path, '/');
  return slash ? slash + 1 : path;
}

/* One LLVM module to build, optimize and emit. A .so is generated as several
 * modules, each in its own LLVM context on one of --jobs threads, and linked
 * together: one with the entries, run_tasks and the descriptor (declaring the
 * task wrappers), and up to CG_WRAPPER_MODULES that divide the task wrappers
 * among them (each with its own copy of the kernel library). Every wrapper
 * is compiled once, as in a single module, where buckets share the wrappers
 * of equal shapes (batch 8 x seq 64 and batch 1 x seq 512 run the same
 * GEMMs). --emit obj/asm/llvm make one module of all. Which module holds what
 * does not depend on the number of threads, so the output does not either. */
#define CG_WRAPPER_MODULES 8
typedef struct cg_unit {
  const cg_program_t *p;
  const cg_options_t *o;
  const cg_artifact_info_t *info;
  size_t variant;       /* the target it is for: info->variants[variant] (DECLARE: the
                           last, most portable one; its entries call every variant's) */
  char *features;       /* what LLVM is given (cg_llvm_features), owned */
  cg_wrap_mode_t mode;  /* ALL: the one module; DECLARE: entries; SHARD: wrappers */
  size_t shard, num_shards;
  bool report; /* report each phase (the single-module build) */
  double t0;   /* for report */
  LLVMMemoryBufferRef buf;
  char *ir;
  bertc_status_t status;
} cg_unit_t;

static void unit_report(cg_unit_t *u, const char *phase) {
  if (u->report) report(u->o, phase, &u->t0);
}

static void set_tag(cg_gen_t *g, const cg_artifact_info_t *info, size_t variant) {
  if (info->num_variants > 1)
    snprintf(g->tag, sizeof g->tag, "_v%zu", variant);
  else
    g->tag[0] = '\0';
}

/* The module of one unit, ready for the optimizer. */
static bertc_status_t build_unit(cg_unit_t *u, cg_gen_t *g, LLVMTargetDataRef td,
                                 const char *triple) {
  const cg_program_t *p = u->p;
  const cg_target_t *target = &u->info->variants[u->variant];
  g->wrap_mode = u->mode;
  g->shard = u->shard;
  g->num_shards = u->num_shards;
  set_tag(g, u->info, u->variant);
  if (u->mode == CG_WRAP_DECLARE) {
    g->mod = LLVMModuleCreateWithNameInContext(p->model_name, g->ctx);
    LLVMSetSourceFileName(g->mod, p->model_name, strlen(p->model_name));
  } else {
    BERTC_RETURN_IF_ERROR(load_kernels(g, cg_target_has_avx512(target->cpu, target->features)));
  }
  LLVMSetTarget(g->mod, triple);
  LLVMSetModuleDataLayout(g->mod, td);
  if (u->mode == CG_WRAP_SHARD) {
    BERTC_RETURN_IF_ERROR(build_wrapper_shard(g));
  } else {
    build_run_tasks(g);
    /* Each variant's entries in turn; the wrappers are numbered per variant. */
    size_t nv = u->mode == CG_WRAP_DECLARE ? u->info->num_variants : 1;
    LLVMValueRef *entries = NULL;
    BERTC_RETURN_IF_ERROR(
        base_calloc(nv * p->num_buckets, sizeof *entries, (void **)&entries));
    bertc_status_t s = BERTC_OK;
    for (size_t v = 0; !s && v < nv; v++) {
      if (u->mode == CG_WRAP_DECLARE) set_tag(g, u->info, v);
      g->num_wrappers = 0;
      for (size_t i = 0; !s && i < p->num_buckets; i++)
        s = build_entry(g, &p->buckets[i], &entries[v * p->num_buckets + i]);
    }
    if (!s) s = cg_emit_descriptor(g->mod, p, u->info, entries, td);
    free(entries);
    BERTC_RETURN_IF_ERROR(s);
  }
  finish_module(g, target->cpu, u->features);
  unit_report(u, "codegen");
  char *err = NULL;
  bool bad = LLVMVerifyModule(g->mod, LLVMReturnStatusAction, &err);
  bertc_status_t s = bad ? bertc_status_make(BERTC_STATUS_INTERNAL,
                                             "the generated module is invalid: %s", err ? err : "")
                         : BERTC_OK;
  LLVMDisposeMessage(err);
  if (!s) unit_report(u, "verify");
  return s;
}

/* Builds, optimizes and emits one unit into u->buf or u->ir (u->status). */
static void generate_unit(cg_unit_t *u) {
  cg_gen_t g = {.p = u->p};
  char *triple = NULL;
  LLVMTargetMachineRef tm = NULL;
  LLVMTargetDataRef td = NULL;
  bertc_status_t s =
      cg_create_target_machine(u->info->variants[u->variant].cpu, u->features, u->o->opt_level,
                               &triple, &tm);
  if (s) {
    u->status = s;
    return;
  }
  g.ctx = LLVMContextCreate();
  LLVMContextSetDiagnosticHandler(g.ctx, diag_handler, &g);
  g.b = LLVMCreateBuilderInContext(g.ctx);
  g.void_ty = LLVMVoidTypeInContext(g.ctx);
  g.i32 = LLVMInt32TypeInContext(g.ctx);
  g.i64 = LLVMInt64TypeInContext(g.ctx);
  g.f32 = LLVMFloatTypeInContext(g.ctx);
  g.ptr = LLVMPointerTypeInContext(g.ctx, 0);
  /* bertc_env_t: abi_version, num_threads, host, parallel_for, sgemm */
  g.env_ty =
      LLVMStructTypeInContext(g.ctx, (LLVMTypeRef[]){g.i32, g.i32, g.ptr, g.ptr, g.ptr}, 5, 0);
  g.wrapper_ty = LLVMFunctionType(g.void_ty, (LLVMTypeRef[]){g.ptr, g.i64}, 2, 0);
  g.run_tasks_ty =
      LLVMFunctionType(g.void_ty, (LLVMTypeRef[]){g.ptr, g.i64, g.ptr, g.ptr}, 4, 0);
  g.entry_ty =
      LLVMFunctionType(g.i32, (LLVMTypeRef[]){g.ptr, g.ptr, g.ptr, g.ptr, g.ptr}, 5, 0);
  td = LLVMCreateTargetDataLayout(tm);

  s = build_unit(u, &g, td, triple);
  if (!s) s = optimize(g.mod, tm, u->o->opt_level);
  if (!s) {
    unit_report(u, "optimize");
    s = emit(g.mod, tm, u->mode == CG_WRAP_ALL ? u->o->emit : CG_EMIT_OBJ, &u->buf, &u->ir);
  }
  if (!s) unit_report(u, "emit");
  if (s && g.diag) s = bertc_status_annotate(s, "LLVM reported: %s", g.diag);
  free(g.wrappers);
  free(g.diag);
  if (g.mod) LLVMDisposeModule(g.mod);
  LLVMDisposeBuilder(g.b);
  LLVMContextDispose(g.ctx);
  LLVMDisposeTargetData(td);
  LLVMDisposeTargetMachine(tm);
  free(triple);
  u->status = s;
}

typedef struct cg_queue {
  cg_unit_t *units;
  size_t count;
  _Atomic size_t next;
  _Atomic bool failed; /* a unit failed: start no more */
} cg_queue_t;

static void *unit_worker(void *arg) {
  cg_queue_t *q = arg;
  for (;;) {
    size_t i = atomic_fetch_add(&q->next, 1);
    if (i >= q->count || atomic_load(&q->failed)) break;
    generate_unit(&q->units[i]);
    if (q->units[i].status) atomic_store(&q->failed, true);
  }
  return NULL;
}

/* Runs the units on up to `jobs` threads (this one included). */
static void generate_units(cg_unit_t *units, size_t count, int jobs) {
  cg_queue_t q = {.units = units, .count = count};
  atomic_init(&q.next, 0);
  atomic_init(&q.failed, false);
  size_t extra = (size_t)(jobs > 1 ? jobs - 1 : 0);
  if (extra > count - 1) extra = count - 1;
  pthread_t threads[CG_MAX_JOBS];
  size_t started = 0;
  for (; started < extra && started < CG_MAX_JOBS; started++)
    if (pthread_create(&threads[started], NULL, unit_worker, &q) != 0) break;
  unit_worker(&q); /* with no thread started, this one does all the work */
  for (size_t i = 0; i < started; i++) pthread_join(threads[i], NULL);
}

/* The threads a run would use (the CPUs this process may run on, or
 * OMP_NUM_THREADS). */
static int default_jobs(void) {
  int32_t n = base_default_threads();
  return n > CG_MAX_JOBS ? CG_MAX_JOBS : (int)n;
}

/* The number of distinct task wrappers of the program (see get_wrapper). */
static size_t count_wrappers(const cg_program_t *p) {
  size_t n = 0;
  for (size_t b = 0; b < p->num_buckets; b++)
    for (size_t c = 0; c < p->buckets[b].num_calls; c++) {
      const cg_call_t *call = &p->buckets[b].calls[c];
      bool seen = false;
      for (size_t b2 = 0; !seen && b2 <= b; b2++)
        for (size_t c2 = 0; !seen && c2 < (b2 == b ? c : p->buckets[b2].num_calls); c2++)
          seen = same_signature(&p->buckets[b2].calls[c2], call);
      n += !seen;
    }
  return n;
}

/* Generates p into units (one, or for a .so the entries' and the wrapper
 * modules); *out_units has *out_count entries, each with its buffer. */
static bertc_status_t generate(const cg_program_t *p, const cg_options_t *o,
                               const cg_artifact_info_t *info, double *t0,
                               cg_unit_t **out_units, size_t *out_count) {
  *out_units = NULL;
  *out_count = 0;
  cg_llvm_init();
  size_t nv = info->num_variants, shards = 0;
  if (o->emit == CG_EMIT_SO) {
    shards = count_wrappers(p);
    if (shards > CG_WRAPPER_MODULES) shards = CG_WRAPPER_MODULES;
  }
  bool split = o->emit == CG_EMIT_SO && (shards > 0 || nv > 1);
  /* the entries' module, then each variant's wrapper modules */
  size_t count = split ? 1 + nv * shards : 1;
  cg_unit_t *units;
  BERTC_RETURN_IF_ERROR(base_calloc(count, sizeof *units, (void **)&units));
  bertc_status_t s = BERTC_OK;
  for (size_t i = 0; i < count; i++) {
    size_t variant = !split ? 0 : i == 0 ? nv - 1 : (i - 1) / shards;
    units[i] = (cg_unit_t){.p = p,
                           .o = o,
                           .info = info,
                           .variant = variant,
                           .mode = !split ? CG_WRAP_ALL
                                   : i == 0 ? CG_WRAP_DECLARE
                                            : CG_WRAP_SHARD,
                           .shard = i ? (i - 1) % shards : 0,
                           .num_shards = shards,
                           .report = !split,
                           .t0 = *t0};
    if (!s) s = cg_llvm_features(info->variants[variant].features, &units[i].features);
  }
  if (s) {
    *out_units = units;
    *out_count = count;
    return s;
  }
  int jobs = o->jobs > 0 ? o->jobs : default_jobs();
  generate_units(units, count, jobs);
  for (size_t i = 0; i < count; i++)
    if (!s && units[i].status) {
      s = units[i].status; /* the first failure, in module order */
      units[i].status = BERTC_OK;
    }
  for (size_t i = 0; !s && i < count; i++)
    if (!units[i].buf && !units[i].ir)
      s = bertc_status_make(BERTC_STATUS_INTERNAL, "codegen: module %zu was not generated", i);
  if (split && !s) {
    int used = jobs < (int)count ? jobs : (int)count;
    char phase[64];
    snprintf(phase, sizeof phase, "llvm (%zu modules, %d thread%s)", count, used,
             used == 1 ? "" : "s");
    report(o, phase, t0);
  } else if (!s) {
    *t0 = units[0].t0;
  }
  *out_units = units;
  *out_count = count;
  return s;
}

static void free_units(cg_unit_t *units, size_t count) {
  for (size_t i = 0; units && i < count; i++) {
    bertc_status_free(units[i].status);
    if (units[i].buf) LLVMDisposeMemoryBuffer(units[i].buf);
    if (units[i].ir) LLVMDisposeMessage(units[i].ir);
    free(units[i].features);
  }
  free(units);
}

bertc_status_t cg_compile(const cg_program_t *p, const cg_options_t *o, const char *out_path) {
  cg_options_t defaults;
  if (!o) {
    cg_options_init(&defaults);
    o = &defaults;
  }
  if (!p || !out_path || !*out_path)
    return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT, "cg_compile: no program or path");
  BERTC_RETURN_IF_ERROR(check_options(o));
  BERTC_RETURN_IF_ERROR(check_program(p));
  double t0 = base_now_seconds();

  char *weights_path = NULL, *weights_file = NULL;
  cg_target_t *targets = NULL;
  size_t num_targets = 0;
  char *tmp_weights = NULL, *tmp_out = NULL, *header = NULL;
  char **tmp_objs = NULL;
  cg_unit_t *units = NULL;
  size_t nunits = 0;
  bertc_status_t s = cg_resolve_targets(o->target_cpu, o->target_features, &targets, &num_targets);
  if (!s && num_targets > 1 && o->emit != CG_EMIT_SO && o->emit != CG_EMIT_HEADER)
    s = bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT,
                          "target cpu '%s' names %zu targets; a .so holds one code variant "
                          "per target, --emit obj/asm/llvm take one target",
                          o->target_cpu, num_targets);
  if (s) goto done;
  cg_artifact_info_t info = {.target_cpu = targets[0].cpu,
                             .target_features = targets[0].features,
                             .variants = targets,
                             .num_variants = num_targets};
  for (size_t i = 0; i < p->num_buckets; i++)
    if (p->buckets[i].arena_bytes > info.arena_size)
      info.arena_size = p->buckets[i].arena_bytes;
  info.weights_external = o->weights_external != 0;
  if (o->weights_external && o->emit != CG_EMIT_HEADER) {
    size_t n = strlen(out_path) + sizeof ".weights";
    s = base_alloc(n, (void **)&weights_path);
    if (s) goto done;
    snprintf(weights_path, n, "%s.weights", out_path);
    s = base_strdup(base_name(weights_path), &weights_file);
    if (s) goto done;
    info.weights_file = weights_file;
  }
  info.weights_hash = base_hash64(p->weights, (size_t)p->weights_size);
  report(o, "target", &t0);

  const void *data = "";
  size_t size = 0;
  if (o->emit == CG_EMIT_HEADER) {
    s = cg_header_text(p, &info, &header, &size);
    data = header;
  } else {
    s = generate(p, o, &info, &t0, &units, &nunits);
    if (!s && o->emit != CG_EMIT_SO) {
      data = units[0].ir ? (const void *)units[0].ir : LLVMGetBufferStart(units[0].buf);
      size = units[0].ir ? strlen(units[0].ir) : LLVMGetBufferSize(units[0].buf);
    }
  }
  if (s) goto done;

  if (weights_path) {
    s = cg_write_temp(weights_path, "", p->weights, (size_t)p->weights_size, &tmp_weights);
    if (s) goto done;
  }
  if (o->emit == CG_EMIT_SO) {
    s = base_calloc(nunits, sizeof *tmp_objs, (void **)&tmp_objs);
    for (size_t i = 0; !s && i < nunits; i++)
      s = cg_write_temp(out_path, ".o", LLVMGetBufferStart(units[i].buf),
                        LLVMGetBufferSize(units[i].buf), &tmp_objs[i]);
    if (!s) s = cg_make_temp(out_path, "", &tmp_out);
    if (!s) s = cg_link_shared(o->linker, (const char *const *)tmp_objs, nunits, tmp_out);
    if (!s && chmod(tmp_out, 0755) != 0)
      s = bertc_status_make(BERTC_STATUS_IO, "cannot chmod %s", tmp_out);
    if (s) {
      s = bertc_status_annotate(s, "%s", out_path);
      goto done;
    }
    report(o, "link", &t0);
  } else {
    s = cg_write_temp(out_path, "", data, size, &tmp_out);
    if (s) goto done;
  }
  if (tmp_weights) {
    s = cg_commit(tmp_weights, weights_path);
    free(tmp_weights);
    tmp_weights = NULL;
    if (s) goto done;
  }
  s = cg_commit(tmp_out, out_path);
  free(tmp_out);
  tmp_out = NULL;
  if (s && weights_path) unlink(weights_path);
  if (!s) report(o, "write", &t0);

done:
  if (tmp_weights) unlink(tmp_weights);
  for (size_t i = 0; tmp_objs && i < nunits; i++) {
    if (tmp_objs[i]) unlink(tmp_objs[i]);
    free(tmp_objs[i]);
  }
  free(tmp_objs);
  if (tmp_out) unlink(tmp_out);
  free(tmp_weights);
  free(tmp_out);
  free(header);
  free_units(units, nunits);
  free(weights_path);
  free(weights_file);
  cg_targets_free(targets, num_targets);
  return s;
}
