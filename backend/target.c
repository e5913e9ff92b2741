/* Target selection: which CPU and features the generated code may use.
 *
 * "native" (the default) asks LLVM for the host's CPU name and its exact
 * feature set (cpuid, including what the OS has disabled), sorted so the
 * string recorded in the artifact reads well and compares easily. A named
 * CPU ("znver4", "x86-64-v3") with no feature string gets that CPU's default
 * features. LLVM's C API cannot list those, so for the x86-64 psABI levels,
 * the usual targets of cross builds, bertc spells them out from the psABI
 * (and LLVM's X86.td) so the runtime can check them; for other named CPUs
 * the recorded string is empty and the runtime can only compare the name.
 * An explicit feature string is used verbatim. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <llvm-c/Target.h>
#include <llvm-c/TargetMachine.h>

#include "backend/cg_internal.h"
#include "base/base.h"

static pthread_once_t llvm_once = PTHREAD_ONCE_INIT;

static void llvm_init_once(void) {
  LLVMInitializeNativeTarget();
  LLVMInitializeNativeAsmPrinter();
  LLVMInitializeNativeAsmParser();
}

void cg_llvm_init(void) { pthread_once(&llvm_once, llvm_init_once); }

/* x86-64 micro-architecture levels (x86-64 psABI 1.0, section 3.1.1), each a
 * superset of the one before. */
static const struct {
  const char *cpu;
  const char *features;
} psabi_levels[] = {
    {"x86-64", "+64bit,+cmov,+cx8,+fxsr,+mmx,+sse,+sse2,+x87"},
    {"x86-64-v2",
     "+64bit,+cmov,+crc32,+cx16,+cx8,+fxsr,+mmx,+popcnt,+sahf,+sse,+sse2,+sse3,"
     "+sse4.1,+sse4.2,+ssse3,+x87"},
    {"x86-64-v3",
     "+64bit,+avx,+avx2,+bmi,+bmi2,+cmov,+crc32,+cx16,+cx8,+f16c,+fma,+fxsr,"
     "+lzcnt,+mmx,+movbe,+popcnt,+sahf,+sse,+sse2,+sse3,+sse4.1,+sse4.2,+ssse3,"
     "+x87,+xsave"},
    {"x86-64-v4",
     "+64bit,+avx,+avx2,+avx512bw,+avx512cd,+avx512dq,+avx512f,+avx512vl,+bmi,"
     "+bmi2,+cmov,+crc32,+cx16,+cx8,+evex512,+f16c,+fma,+fxsr,+lzcnt,+mmx,+movbe,"
     "+popcnt,+sahf,+sse,+sse2,+sse3,+sse4.1,+sse4.2,+ssse3,+x87,+xsave"},
};

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Sorts a comma-separated feature list as strings ("+" items first). The
 * order means nothing to LLVM (the host list names each feature once); a
 * sorted list is stable and easy to read. */
static bertc_status_t sorted_features(const char *features, char **out) {
  char *copy;
  BERTC_RETURN_IF_ERROR(base_strdup(features, &copy));
  size_t n = 1;
  for (const char *c = copy; *c; c++) n += *c == ',';
  char **items;
  bertc_status_t s = base_calloc(n, sizeof *items, (void **)&items);
  if (s) {
    free(copy);
    return s;
  }
  size_t count = 0;
  for (char *save = NULL, *tok = strtok_r(copy, ",", &save); tok;
       tok = strtok_r(NULL, ",", &save))
    items[count++] = tok;
  qsort(items, count, sizeof *items, cmp_str);
  s = base_alloc(strlen(features) + 1, (void **)out);
  if (!s) {
    char *w = *out;
    for (size_t i = 0; i < count; i++) {
      size_t len = strlen(items[i]);
      if (i) *w++ = ',';
      memcpy(w, items[i], len);
      w += len;
    }
    *w = '\0';
  }
  free(items);
  free(copy);
  return s;
}

/* Feature strings are comma-separated "+name" / "-name" items. LLVM only
 * warns (on stderr) about unknown names, so at least the syntax is checked. */
static bertc_status_t check_feature_syntax(const char *features) {
  const char *item = features;
  while (*item) {
    const char *end = strchr(item, ',');
    size_t len = end ? (size_t)(end - item) : strlen(item);
    if (len < 2 || (item[0] != '+' && item[0] != '-'))
      return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT,
                               "target features '%s': item '%.*s' is not +NAME or -NAME",
                               features, (int)len, item);
    if (!end) break;
    item = end + 1;
  }
  return BERTC_OK;
}

/* Whether LLVM knows a CPU name for the host target: BERTC_LLVM_CPUS is
 * ",name,name,...," from `llc -mcpu=help` at configure time (empty when llc
 * was not found: then every name passes and LLVM warns about unknown ones). */
static bool cpu_known(const char *cpu) {
  const char *list = BERTC_LLVM_CPUS;
  if (!*list) return true;
  size_t n = strlen(cpu);
  for (const char *p = strstr(list, cpu); p; p = strstr(p + 1, cpu))
    if (p[-1] == ',' && p[n] == ',') return true;
  return false;
}

bertc_status_t cg_resolve_target(const char *cpu, const char *features, char **out_cpu,
                                 char **out_features) {
  *out_cpu = NULL;
  *out_features = NULL;
  cg_llvm_init();
  if (features) BERTC_RETURN_IF_ERROR(check_feature_syntax(features));
  bertc_status_t s = BERTC_OK;
  if (!cpu || !*cpu || !strcmp(cpu, "native")) {
    char *host_cpu = LLVMGetHostCPUName();
    s = base_strdup(host_cpu, out_cpu);
    LLVMDisposeMessage(host_cpu);
    if (!s && features) s = base_strdup(features, out_features);
    if (!s && !features) {
      char *host_features = LLVMGetHostCPUFeatures();
      s = sorted_features(host_features, out_features);
      LLVMDisposeMessage(host_features);
    }
  } else {
    for (const char *c = cpu; *c; c++)
      if (!(*c == '-' || *c == '_' || *c == '.' || (*c >= '0' && *c <= '9') ||
            (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z')))
        return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT,
                                 "target cpu '%s' is not a CPU name", cpu);
    if (!cpu_known(cpu))
      return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT,
                               "target cpu '%s' is not a CPU LLVM knows (e.g. x86-64-v3, "
                               "znver4, sapphirerapids; 'llc-19 -mcpu=help' lists them)",
                               cpu);
    s = base_strdup(cpu, out_cpu);
    const char *defaults = "";
    for (size_t i = 0; i < BASE_ARRAY_LEN(psabi_levels); i++)
      if (!strcmp(cpu, psabi_levels[i].cpu)) defaults = psabi_levels[i].features;
    if (!s) s = base_strdup(features ? features : defaults, out_features);
  }
  if (s) {
    free(*out_cpu);
    free(*out_features);
    *out_cpu = *out_features = NULL;
  }
  return s;
}

/* Whether `feature` ("avx512f") is switched on (+) or off (-) in a feature
 * list: 1, 0, or -1 when the list does not say. */
static int feature_state(const char *features, const char *feature) {
  size_t n = strlen(feature);
  int state = -1;
  for (const char *p = features; p && *p;) {
    const char *end = strchr(p, ',');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    if (len == n + 1 && (p[0] == '+' || p[0] == '-') && !strncmp(p + 1, feature, n))
      state = p[0] == '+'; /* the last mention wins, as in LLVM */
    p = end ? end + 1 : NULL;
  }
  return state;
}

bool cg_target_has_avx512(const char *cpu, const char *features) {
  int state = feature_state(features, "avx512f");
  if (state >= 0) return state == 1;
  /* The x86 CPUs LLVM 19 knows with AVX-512F, for named targets whose
   * feature list does not say. */
  static const char *const avx512_cpus[] = {
      "x86-64-v4",  "knl",           "knm",           "skylake-avx512", "skx",
      "cascadelake", "cooperlake",   "cannonlake",    "icelake-client", "icelake-server",
      "rocketlake", "tigerlake",     "sapphirerapids", "emeraldrapids", "graniterapids",
      "graniterapids-d", "znver4",   "znver5",        "diamondrapids",
  };
  for (size_t i = 0; cpu && i < BASE_ARRAY_LEN(avx512_cpus); i++)
    if (!strcmp(cpu, avx512_cpus[i])) return true;
  return false;
}

bool cg_target_has_amx(const char *cpu, const char *features) {
  static const char *const needed[] = {"amx-tile", "amx-bf16", "avx512bf16", "avx512bw", "avx512vl"};
  int said = 0;
  for (size_t i = 0; i < BASE_ARRAY_LEN(needed); i++) {
    int state = feature_state(features, needed[i]);
    if (state == 0) return false;
    said += state == 1;
  }
  if (said == (int)BASE_ARRAY_LEN(needed)) return true;
  /* named targets whose feature list does not say: LLVM 19's CPUs with AMX-BF16 */
  static const char *const amx_cpus[] = {"sapphirerapids", "emeraldrapids", "graniterapids",
                                         "graniterapids-d", "diamondrapids"};
  for (size_t i = 0; cpu && i < BASE_ARRAY_LEN(amx_cpus); i++)
    if (!strcmp(cpu, amx_cpus[i])) return true;
  return false;
}

/* Whether the target has `feature`: its feature list, else its CPU name
 * among `cpus`. */
static bool has_feature(const char *cpu, const char *features, const char *feature,
                        const char *const *cpus, size_t num_cpus) {
  int state = feature_state(features, feature);
  if (state >= 0) return state == 1;
  for (size_t i = 0; cpu && i < num_cpus; i++)
    if (!strcmp(cpu, cpus[i])) return true;
  return false;
}

int cg_target_int8_level(const char *cpu, const char *features) {
  /* LLVM 19's x86 CPUs with AVX512-VNNI (and BW), with AVX-VNNI, with AVX2 */
  static const char *const vnni512[] = {
      "cascadelake", "cooperlake",     "icelake-client", "icelake-server", "rocketlake",
      "tigerlake",   "sapphirerapids", "emeraldrapids",  "graniterapids",  "graniterapids-d",
      "diamondrapids", "znver4",       "znver5"};
  static const char *const avxvnni[] = {
      "alderlake", "raptorlake", "meteorlake",  "arrowlake",       "arrowlake-s", "lunarlake",
      "gracemont", "sierraforest", "grandridge", "clearwaterforest", "pantherlake",
      "sapphirerapids", "emeraldrapids", "graniterapids", "graniterapids-d", "diamondrapids"};
  static const char *const avx2[] = {
      "haswell", "broadwell", "skylake", "skylake-avx512", "skx", "cannonlake", "knl", "knm",
      "x86-64-v3", "x86-64-v4", "znver1", "znver2", "znver3", "bdver4"};
  if (has_feature(cpu, features, "avx512vnni", vnni512, BASE_ARRAY_LEN(vnni512)) &&
      (has_feature(cpu, features, "avx512bw", vnni512, BASE_ARRAY_LEN(vnni512))))
    return 3;
  if (has_feature(cpu, features, "avxvnni", avxvnni, BASE_ARRAY_LEN(avxvnni))) return 2;
  if (has_feature(cpu, features, "avx2", avx2, BASE_ARRAY_LEN(avx2)) ||
      has_feature(cpu, features, "avx2", vnni512, BASE_ARRAY_LEN(vnni512)) ||
      has_feature(cpu, features, "avx2", avxvnni, BASE_ARRAY_LEN(avxvnni)))
    return 1;
  return 0;
}

bertc_status_t cg_llvm_features(const char *features, char **out) {
#if defined(__x86_64__)
  if (!strstr(features, "+64bit")) {
    size_t n = strlen(features) + sizeof "+64bit,";
    BERTC_RETURN_IF_ERROR(base_alloc(n, (void **)out));
    snprintf(*out, n, "+64bit%s%s", *features ? "," : "", features);
    return BERTC_OK;
  }
#endif
  return base_strdup(features, out);
}

bertc_status_t cg_create_target_machine(const char *cpu, const char *features, int opt_level,
                                        char **out_triple, LLVMTargetMachineRef *out_tm) {
  *out_triple = NULL;
  *out_tm = NULL;
  cg_llvm_init();
  char *default_triple = LLVMGetDefaultTargetTriple();
  char *triple = LLVMNormalizeTargetTriple(default_triple);
  LLVMDisposeMessage(default_triple);
  LLVMTargetRef target;
  char *err = NULL;
  if (LLVMGetTargetFromTriple(triple, &target, &err)) {
    bertc_status_t s = bertc_status_make(BERTC_STATUS_UNSUPPORTED, "LLVM target '%s': %s",
                                         triple, err ? err : "unknown");
    LLVMDisposeMessage(err);
    LLVMDisposeMessage(triple);
    return s;
  }
  static const LLVMCodeGenOptLevel levels[] = {LLVMCodeGenLevelNone, LLVMCodeGenLevelLess,
                                               LLVMCodeGenLevelDefault,
                                               LLVMCodeGenLevelAggressive};
  LLVMTargetMachineRef tm = LLVMCreateTargetMachine(
      target, triple, cpu, features, levels[opt_level], LLVMRelocPIC, LLVMCodeModelDefault);
  if (!tm) {
    bertc_status_t s =
        bertc_status_make(BERTC_STATUS_UNSUPPORTED,
                          "LLVM cannot create a target machine for %s cpu '%s'", triple, cpu);
    LLVMDisposeMessage(triple);
    return s;
  }
  bertc_status_t s = base_strdup(triple, out_triple);
  LLVMDisposeMessage(triple);
  if (s) {
    LLVMDisposeTargetMachine(tm);
    return s;
  }
  *out_tm = tm;
  return BERTC_OK;
}

/* --- target lists (multi-variant .so) ----------------------------------- */

/* The named sets a target list may use: CPUs every x86-64 server of the last
 * decade runs (AVX2 + FMA) and those with AVX-512. */
static const struct {
  const char *name;
  const char *cpus;
} target_sets[] = {
    {"portable", "x86-64-v3,x86-64-v4"},
};

static size_t count_plus(const char *features) {
  size_t n = 0;
  for (const char *p = features; p && *p; p++) n += *p == '+' && (p == features || p[-1] == ',');
  return n;
}

void cg_targets_free(cg_target_t *targets, size_t count) {
  for (size_t i = 0; targets && i < count; i++) {
    free(targets[i].cpu);
    free(targets[i].features);
  }
  free(targets);
}

/* Appends the resolved target `cpu` (one name of a list). */
static bertc_status_t add_target(const char *cpu, const char *features, size_t listed,
                                 cg_target_t *targets, size_t *count) {
  if (*count == CG_MAX_VARIANTS)
    return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT,
                             "target cpu list: more than %d targets", CG_MAX_VARIANTS);
  cg_target_t t = {0};
  BERTC_RETURN_IF_ERROR(cg_resolve_target(cpu, features, &t.cpu, &t.features));
  bertc_status_t s = BERTC_OK;
  if (listed > 1 && !*t.features)
    s = bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT,
                          "target cpu '%s' in a list: bertc cannot tell which CPU features its "
                          "code needs, so the runtime could not choose between variants (use "
                          "x86-64-v3, x86-64-v4, 'native' or 'portable')",
                          cpu);
  for (size_t i = 0; !s && i < *count; i++)
    if (!strcmp(targets[i].cpu, t.cpu) && !strcmp(targets[i].features, t.features))
      s = bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT,
                            "target cpu list: '%s' appears twice", cpu);
  if (s) {
    free(t.cpu);
    free(t.features);
    return s;
  }
  targets[(*count)++] = t;
  return BERTC_OK;
}

static int cmp_targets(const void *a, const void *b) {
  const cg_target_t *x = a, *y = b;
  size_t nx = count_plus(x->features), ny = count_plus(y->features);
  if (nx != ny) return nx > ny ? -1 : 1;
  return x->order < y->order ? -1 : x->order > y->order;
}

bertc_status_t cg_resolve_targets(const char *cpu_list, const char *features,
                                  cg_target_t **out, size_t *out_count) {
  *out = NULL;
  *out_count = 0;
  if (!cpu_list || !*cpu_list) cpu_list = "native";
  char *expanded = NULL;
  /* The list with named sets replaced by their CPUs. */
  size_t items = 1, longest = 0;
  for (const char *c = cpu_list; *c; c++) items += *c == ',';
  for (size_t i = 0; i < BASE_ARRAY_LEN(target_sets); i++)
    if (strlen(target_sets[i].cpus) > longest) longest = strlen(target_sets[i].cpus);
  size_t cap = strlen(cpu_list) + 1 + items * (longest + 1);
  BERTC_RETURN_IF_ERROR(base_alloc(cap, (void **)&expanded));
  expanded[0] = '\0';
  size_t listed = 0;
  for (const char *p = cpu_list;;) {
    const char *end = strchr(p, ',');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    if (!len) {
      free(expanded);
      return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT,
                               "target cpu list '%s' has an empty item", cpu_list);
    }
    const char *item = p;
    size_t item_len = len;
    for (size_t i = 0; i < BASE_ARRAY_LEN(target_sets); i++)
      if (strlen(target_sets[i].name) == len && !strncmp(p, target_sets[i].name, len)) {
        item = target_sets[i].cpus;
        item_len = strlen(item);
      }
    if (*expanded) strcat(expanded, ",");
    strncat(expanded, item, item_len);
    for (const char *c = item; c < item + item_len; c++) listed += *c == ',';
    listed++;
    if (!end) break;
    p = end + 1;
  }
  if (listed > 1 && features) {
    free(expanded);
    return bertc_status_make(BERTC_STATUS_INVALID_ARGUMENT,
                             "target features '%s' with the target cpu list '%s': features "
                             "apply to one target; give a single cpu",
                             features, cpu_list);
  }
  cg_target_t *targets = NULL;
  bertc_status_t s = base_calloc(CG_MAX_VARIANTS, sizeof *targets, (void **)&targets);
  size_t count = 0;
  for (char *save = NULL, *tok = s ? NULL : strtok_r(expanded, ",", &save); tok;
       tok = strtok_r(NULL, ",", &save)) {
    s = add_target(tok, features, listed, targets, &count);
    if (s) break;
    targets[count - 1].order = count - 1;
  }
  free(expanded);
  if (s) {
    cg_targets_free(targets, count);
    return s;
  }
  qsort(targets, count, sizeof *targets, cmp_targets);
  *out = targets;
  *out_count = count;
  return BERTC_OK;
}
