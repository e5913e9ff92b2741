/* Can this host run the code in a model .so? The backend records the LLVM
 * feature string it compiled for ("+avx2,+avx512f,-amx-tile,..."); here every
 * "+feature" bertc knows is looked up in one table that says which CPUID leaf,
 * register and bit announce it (Intel SDM vol. 2A, CPUID; AMD APM vol. 3,
 * appendix E) and which register state the OS must enable for it (XCR0: YMM for
 * AVX, opmask/ZMM for AVX-512, tile config/data for AMX). A feature is present
 * only when the CPU announces it and the OS saves its state. Linux also makes
 * each process ask for AMX tile data (arch_prctl ARCH_REQ_XCOMP_PERM), so that
 * request is part of the check. Unknown names (tuning flags like
 * "prefer-256-bit", features of other architectures) are skipped: they cannot
 * be checked and LLVM never needs them to execute code. */
#define _GNU_SOURCE
#include "runtime/cpu_features.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#define RT_X86 1
#include <cpuid.h>
#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif
#endif

enum { EAX, EBX, ECX, EDX };
enum rt_state { ST_NONE, ST_AVX, ST_AVX512, ST_AMX };

typedef struct rt_cpu_feature {
  const char *name; /* LLVM's spelling */
  uint32_t leaf, subleaf;
  uint8_t reg, bit;
  uint8_t state; /* enum rt_state */
} rt_cpu_feature_t;

static const rt_cpu_feature_t features_table[] = {
    {"x87", 1, 0, EDX, 0, ST_NONE},
    {"cx8", 1, 0, EDX, 8, ST_NONE},
    {"cmov", 1, 0, EDX, 15, ST_NONE},
    {"mmx", 1, 0, EDX, 23, ST_NONE},
    {"fxsr", 1, 0, EDX, 24, ST_NONE},
    {"sse", 1, 0, EDX, 25, ST_NONE},
    {"sse2", 1, 0, EDX, 26, ST_NONE},
    {"sse3", 1, 0, ECX, 0, ST_NONE},
    {"pclmul", 1, 0, ECX, 1, ST_NONE},
    {"ssse3", 1, 0, ECX, 9, ST_NONE},
    {"fma", 1, 0, ECX, 12, ST_AVX},
    {"cx16", 1, 0, ECX, 13, ST_NONE},
    {"sse4.1", 1, 0, ECX, 19, ST_NONE},
    {"sse4.2", 1, 0, ECX, 20, ST_NONE},
    {"crc32", 1, 0, ECX, 20, ST_NONE},
    {"movbe", 1, 0, ECX, 22, ST_NONE},
    {"popcnt", 1, 0, ECX, 23, ST_NONE},
    {"aes", 1, 0, ECX, 25, ST_NONE},
    {"xsave", 1, 0, ECX, 26, ST_NONE},
    {"avx", 1, 0, ECX, 28, ST_AVX},
    {"f16c", 1, 0, ECX, 29, ST_AVX},
    {"rdrnd", 1, 0, ECX, 30, ST_NONE},
    {"fsgsbase", 7, 0, EBX, 0, ST_NONE},
    {"bmi", 7, 0, EBX, 3, ST_NONE},
    {"avx2", 7, 0, EBX, 5, ST_AVX},
    {"bmi2", 7, 0, EBX, 8, ST_NONE},
    {"invpcid", 7, 0, EBX, 10, ST_NONE},
    {"rtm", 7, 0, EBX, 11, ST_NONE},
    {"avx512f", 7, 0, EBX, 16, ST_AVX512},
    {"evex512", 7, 0, EBX, 16, ST_AVX512}, /* every AVX-512 CPU so far */
    {"avx512dq", 7, 0, EBX, 17, ST_AVX512},
    {"rdseed", 7, 0, EBX, 18, ST_NONE},
    {"adx", 7, 0, EBX, 19, ST_NONE},
    {"avx512ifma", 7, 0, EBX, 21, ST_AVX512},
    {"clflushopt", 7, 0, EBX, 23, ST_NONE},
    {"clwb", 7, 0, EBX, 24, ST_NONE},
    {"avx512pf", 7, 0, EBX, 26, ST_AVX512},
    {"avx512er", 7, 0, EBX, 27, ST_AVX512},
    {"avx512cd", 7, 0, EBX, 28, ST_AVX512},
    {"sha", 7, 0, EBX, 29, ST_NONE},
    {"avx512bw", 7, 0, EBX, 30, ST_AVX512},
    {"avx512vl", 7, 0, EBX, 31, ST_AVX512},
    {"prefetchwt1", 7, 0, ECX, 0, ST_NONE},
    {"avx512vbmi", 7, 0, ECX, 1, ST_AVX512},
    {"pku", 7, 0, ECX, 3, ST_NONE},
    {"waitpkg", 7, 0, ECX, 5, ST_NONE},
    {"avx512vbmi2", 7, 0, ECX, 6, ST_AVX512},
    {"shstk", 7, 0, ECX, 7, ST_NONE},
    {"gfni", 7, 0, ECX, 8, ST_NONE},
    {"vaes", 7, 0, ECX, 9, ST_AVX},
    {"vpclmulqdq", 7, 0, ECX, 10, ST_AVX},
    {"avx512vnni", 7, 0, ECX, 11, ST_AVX512},
    {"avx512bitalg", 7, 0, ECX, 12, ST_AVX512},
    {"avx512vpopcntdq", 7, 0, ECX, 14, ST_AVX512},
    {"rdpid", 7, 0, ECX, 22, ST_NONE},
    {"kl", 7, 0, ECX, 23, ST_NONE},
    {"cldemote", 7, 0, ECX, 25, ST_NONE},
    {"movdiri", 7, 0, ECX, 27, ST_NONE},
    {"movdir64b", 7, 0, ECX, 28, ST_NONE},
    {"enqcmd", 7, 0, ECX, 29, ST_NONE},
    {"avx5124vnniw", 7, 0, EDX, 2, ST_AVX512},
    {"avx5124fmaps", 7, 0, EDX, 3, ST_AVX512},
    {"uintr", 7, 0, EDX, 5, ST_NONE},
    {"avx512vp2intersect", 7, 0, EDX, 8, ST_AVX512},
    {"serialize", 7, 0, EDX, 14, ST_NONE},
    {"tsxldtrk", 7, 0, EDX, 16, ST_NONE},
    {"pconfig", 7, 0, EDX, 18, ST_NONE},
    {"amx-bf16", 7, 0, EDX, 22, ST_AMX},
    {"avx512fp16", 7, 0, EDX, 23, ST_AVX512},
    {"amx-tile", 7, 0, EDX, 24, ST_AMX},
    {"amx-int8", 7, 0, EDX, 25, ST_AMX},
    {"sha512", 7, 1, EAX, 0, ST_AVX},
    {"sm3", 7, 1, EAX, 1, ST_AVX},
    {"sm4", 7, 1, EAX, 2, ST_AVX},
    {"raoint", 7, 1, EAX, 3, ST_NONE},
    {"avxvnni", 7, 1, EAX, 4, ST_AVX},
    {"avx512bf16", 7, 1, EAX, 5, ST_AVX512},
    {"cmpccxadd", 7, 1, EAX, 7, ST_NONE},
    {"amx-fp16", 7, 1, EAX, 21, ST_AMX},
    {"hreset", 7, 1, EAX, 22, ST_NONE},
    {"avxifma", 7, 1, EAX, 23, ST_AVX},
    {"avxvnniint8", 7, 1, EDX, 4, ST_AVX},
    {"avxneconvert", 7, 1, EDX, 5, ST_AVX},
    {"amx-complex", 7, 1, EDX, 8, ST_AMX},
    {"avxvnniint16", 7, 1, EDX, 10, ST_AVX},
    {"prefetchi", 7, 1, EDX, 14, ST_NONE},
    {"usermsr", 7, 1, EDX, 15, ST_NONE},
    {"xsaveopt", 0xD, 1, EAX, 0, ST_NONE},
    {"xsavec", 0xD, 1, EAX, 1, ST_NONE},
    {"xsaves", 0xD, 1, EAX, 3, ST_NONE},
    {"sahf", 0x80000001u, 0, ECX, 0, ST_NONE},
    {"lzcnt", 0x80000001u, 0, ECX, 5, ST_NONE},
    {"sse4a", 0x80000001u, 0, ECX, 6, ST_NONE},
    {"prfchw", 0x80000001u, 0, ECX, 8, ST_NONE},
    {"xop", 0x80000001u, 0, ECX, 11, ST_AVX},
    {"lwp", 0x80000001u, 0, ECX, 15, ST_NONE},
    {"fma4", 0x80000001u, 0, ECX, 16, ST_AVX},
    {"tbm", 0x80000001u, 0, ECX, 21, ST_NONE},
    {"mwaitx", 0x80000001u, 0, ECX, 29, ST_NONE},
    {"64bit", 0x80000001u, 0, EDX, 29, ST_NONE},
    {"clzero", 0x80000008u, 0, EBX, 0, ST_NONE},
    {"rdpru", 0x80000008u, 0, EBX, 4, ST_NONE},
    {"wbnoinvd", 0x80000008u, 0, EBX, 9, ST_NONE},
};

static const rt_cpu_feature_t *find_feature(const char *name, size_t len) {
  for (size_t i = 0; i < sizeof(features_table) / sizeof(features_table[0]); i++) {
    const char *n = features_table[i].name;
    if (strlen(n) == len && memcmp(n, name, len) == 0) return &features_table[i];
  }
  return NULL;
}

#ifdef RT_X86
/* What CPUID and XGETBV say, read once per check: in a virtual machine each
 * CPUID traps to the hypervisor (microseconds), and a model's feature string
 * names dozens of features that share a handful of leaves. */
#define RT_CPUID_SLOTS 8
typedef struct rt_cpuid_snapshot {
  int used;
  struct {
    uint32_t leaf, subleaf;
    bool valid;
    uint32_t r[4];
  } slot[RT_CPUID_SLOTS];
  bool have_xcr0;
  uint64_t xcr0;
} rt_cpuid_snapshot_t;

static bool cpuid_reg(rt_cpuid_snapshot_t *s, uint32_t leaf, uint32_t subleaf, int reg,
                      uint32_t *out) {
  for (int i = 0; i < s->used; i++) {
    if (s->slot[i].leaf == leaf && s->slot[i].subleaf == subleaf) {
      *out = s->slot[i].r[reg];
      return s->slot[i].valid;
    }
  }
  uint32_t r[4] = {0, 0, 0, 0};
  bool valid = __get_cpuid_max(leaf & 0x80000000u, NULL) >= leaf;
  if (valid) __cpuid_count(leaf, subleaf, r[0], r[1], r[2], r[3]);
  if (s->used < RT_CPUID_SLOTS) {
    s->slot[s->used].leaf = leaf;
    s->slot[s->used].subleaf = subleaf;
    s->slot[s->used].valid = valid;
    memcpy(s->slot[s->used].r, r, sizeof r);
    s->used++;
  }
  *out = r[reg];
  return valid;
}

static bool cpuid_bit(rt_cpuid_snapshot_t *s, uint32_t leaf, uint32_t subleaf, int reg, int bit) {
  uint32_t v;
  return cpuid_reg(s, leaf, subleaf, reg, &v) && ((v >> bit) & 1u);
}

/* XCR0: which register states the OS saves on context switches. */
static uint64_t xcr0(rt_cpuid_snapshot_t *s) {
  if (s->have_xcr0) return s->xcr0;
  uint64_t x = 0;
  if (cpuid_bit(s, 1, 0, ECX, 27)) { /* OSXSAVE: xgetbv usable */
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    x = ((uint64_t)hi << 32) | lo;
  }
  s->have_xcr0 = true;
  s->xcr0 = x;
  return x;
}

static bool amx_permitted(void) {
#if defined(__linux__) && defined(__x86_64__)
  /* Since Linux 5.16 a process must ask before touching tile data; the call
   * is idempotent and fails on kernels that do not support AMX. */
  const long arch_req_xcomp_perm = 0x1023, xfeature_xtiledata = 18;
  return syscall(SYS_arch_prctl, arch_req_xcomp_perm, xfeature_xtiledata) == 0;
#else
  return true;
#endif
}

static bool state_enabled(rt_cpuid_snapshot_t *s, int state) {
  uint64_t x = xcr0(s);
  switch (state) {
  case ST_NONE:
    return true;
  case ST_AVX:
    return (x & 0x6) == 0x6; /* SSE + YMM */
  case ST_AVX512:
    return (x & 0xE6) == 0xE6; /* + opmask, ZMM_Hi256, Hi16_ZMM */
  case ST_AMX:
    return (x & 0x60000) == 0x60000 && amx_permitted(); /* XTILECFG + XTILEDATA */
  }
  return false;
}

static int has_feature(rt_cpuid_snapshot_t *s, const char *name, size_t len) {
  const rt_cpu_feature_t *f = find_feature(name, len);
  if (!f) return -1;
  if (!cpuid_bit(s, f->leaf, f->subleaf, f->reg, f->bit)) return 0;
  return state_enabled(s, f->state) ? 1 : 0;
}
#else
typedef struct rt_cpuid_snapshot {
  int unused;
} rt_cpuid_snapshot_t;

static int has_feature(rt_cpuid_snapshot_t *s, const char *name, size_t len) {
  (void)s;
  (void)name;
  (void)len;
  return -1;
}
#endif

int rt_cpu_has_feature(const char *name) {
  rt_cpuid_snapshot_t snap = {0};
  return has_feature(&snap, name, strlen(name));
}

/* Appends to a fixed buffer, truncating with "..." when full (messages only). */
static void append(char *buf, size_t cap, const char *s, size_t len) {
  size_t used = strlen(buf);
  if (used + len + 1 > cap) {
    if (used + 4 <= cap && strcmp(buf + (used >= 3 ? used - 3 : 0), "...") != 0)
      memcpy(buf + used, "...", 4);
    return;
  }
  memcpy(buf + used, s, len);
  buf[used + len] = '\0';
}

bertc_status_t rt_cpu_check_features(const char *target_cpu, const char *features) {
  if (!features) return BERTC_OK;
  char with[512] = "", lacks[512] = "";
  rt_cpuid_snapshot_t snap = {0};
  const char *p = features;
  while (*p) {
    const char *end = strchr(p, ',');
    if (!end) end = p + strlen(p);
    const char *name = p;
    while (name < end && (*name == ' ' || *name == '\t')) name++;
    bool wanted = name < end && *name != '-';
    if (name < end && (*name == '+' || *name == '-')) name++;
    size_t len = (size_t)(end - name);
    while (len && (name[len - 1] == ' ' || name[len - 1] == '\t')) len--;
    if (wanted && len && has_feature(&snap, name, len) == 0) {
      if (*with) append(with, sizeof with, ",", 1);
      append(with, sizeof with, "+", 1);
      append(with, sizeof with, name, len);
      if (*lacks) append(lacks, sizeof lacks, ", ", 2);
      append(lacks, sizeof lacks, name, len);
    }
    p = *end ? end + 1 : end;
  }
  if (!*lacks) return BERTC_OK;
  return bertc_status_make(BERTC_STATUS_INCOMPATIBLE,
                           "compiled for cpu '%s' with %s, this host lacks %s",
                           target_cpu && *target_cpu ? target_cpu : "(unknown)", with, lacks);
}
