/* Portable 16-lane vectors for the kernel library (internal header).
 *
 * Kernels are written with GCC/Clang vector extensions, never target
 * intrinsics, so one source serves every target: clang lowers v16f to one zmm
 * register on AVX-512, two ymm on AVX2, four xmm on SSE. Every helper is
 * always_inline: after codegen specializes a kernel on constant sizes, LLVM
 * must see through the helpers to unroll, keep tiles in registers and fold
 * broadcasts into FMAs. Unaligned memory is reached through memcpy, which
 * LLVM turns into plain vector loads and stores. */
#ifndef BERTC_KERNELS_SIMD_H
#define BERTC_KERNELS_SIMD_H

#include <stdint.h>
#include <string.h>

/* Builds without -mavx512f warn that 64-byte vector arguments and results
 * change the calling convention; every such function here is always_inline,
 * so no calling convention is involved. (GCC's parameter note is not a
 * warning and only -Wno-psabi on the command line silences it.) */
#if defined(__clang__)
#pragma clang diagnostic ignored "-Wpsabi"
#elif defined(__GNUC__)
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

#define BK_INLINE static inline __attribute__((always_inline))
#define BK_MIN(a, b) ((a) < (b) ? (a) : (b))
#define BK_MAX(a, b) ((a) > (b) ? (a) : (b))
#define BK_CEIL_DIV(a, b) (((a) + (b) - 1) / (b))

#define BK_VL 16 /* lanes of v16f */

typedef float v16f __attribute__((vector_size(64)));
typedef int32_t v16i __attribute__((vector_size(64)));
typedef double v8d __attribute__((vector_size(64)));
typedef float v8f __attribute__((vector_size(32)));
typedef float v4f __attribute__((vector_size(16)));
typedef int32_t v8i __attribute__((vector_size(32)));
typedef int32_t v4i __attribute__((vector_size(16)));
typedef double v4d __attribute__((vector_size(32)));
typedef double v2d __attribute__((vector_size(16)));

BK_INLINE v16f v_load(const float *p) {
  v16f v;
  memcpy(&v, p, sizeof v);
  return v;
}

BK_INLINE void v_store(float *p, v16f v) { memcpy(p, &v, sizeof v); }

BK_INLINE v16i vi_load(const int32_t *p) {
  v16i v;
  memcpy(&v, p, sizeof v);
  return v;
}

BK_INLINE v16f v_splat(float s) {
  return (v16f){s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s};
}

BK_INLINE v16i vi_splat(int32_t s) {
  return (v16i){s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s};
}

/* The first `count` (< 16) lanes from p, the rest `fill`. */
BK_INLINE v16f v_load_part(const float *p, int64_t count, float fill) {
  float buf[BK_VL];
  for (int i = 0; i < BK_VL; i++) buf[i] = i < count ? p[i] : fill;
  return v_load(buf);
}

BK_INLINE void v_store_part(float *p, v16f v, int64_t count) {
  float buf[BK_VL];
  v_store(buf, v);
  for (int i = 0; i < BK_VL; i++)
    if (i < count) p[i] = buf[i];
}

/* Lane-wise m ? a : b, with m from a vector comparison (all ones or zero). */
BK_INLINE v16f v_select(v16i m, v16f a, v16f b) {
  return (v16f)((m & (v16i)a) | (~m & (v16i)b));
}

BK_INLINE v16f v_max(v16f a, v16f b) { return v_select(a > b, a, b); }
BK_INLINE v16f v_min(v16f a, v16f b) { return v_select(a < b, a, b); }
BK_INLINE v16f v_abs(v16f a) { return (v16f)((v16i)a & vi_splat(0x7fffffff)); }

/* Horizontal reductions as a fixed pairwise tree (deterministic order). */
BK_INLINE float v_hsum(v16f v) {
  v8f a = __builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7) +
          __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15);
  v4f b = __builtin_shufflevector(a, a, 0, 1, 2, 3) + __builtin_shufflevector(a, a, 4, 5, 6, 7);
  return (b[0] + b[2]) + (b[1] + b[3]);
}

BK_INLINE float v_hmax(v16f v) {
  v8f lo = __builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7);
  v8f hi = __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15);
  v8f a = (v8f)(((lo > hi) & (v8i)lo) | (~(lo > hi) & (v8i)hi));
  v4f a0 = __builtin_shufflevector(a, a, 0, 1, 2, 3);
  v4f a1 = __builtin_shufflevector(a, a, 4, 5, 6, 7);
  v4f b = (v4f)(((a0 > a1) & (v4i)a0) | (~(a0 > a1) & (v4i)a1));
  float m01 = b[0] > b[1] ? b[0] : b[1], m23 = b[2] > b[3] ? b[2] : b[3];
  return m01 > m23 ? m01 : m23;
}

/* Transposes a 16x16 block held as 16 row vectors: r[i][j] becomes r[j][i].
 * Four stages; stage s swaps bit s of the row index with bit s of the column
 * index, pairing rows i and i + 2^s. */
#define BK_T16_STAGE(r, s, LO, HI)                                                                 \
  for (int i_ = 0; i_ < 16; i_++) {                                                                \
    if (i_ & (s)) continue;                                                                        \
    v16f a_ = r[i_], b_ = r[i_ + (s)];                                                             \
    r[i_] = __builtin_shufflevector(a_, b_, LO);                                                   \
    r[i_ + (s)] = __builtin_shufflevector(a_, b_, HI);                                             \
  }
#define BK_T16_S1_LO 0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30
#define BK_T16_S1_HI 1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31
#define BK_T16_S2_LO 0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29
#define BK_T16_S2_HI 2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31
#define BK_T16_S4_LO 0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27
#define BK_T16_S4_HI 4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31
#define BK_T16_S8_LO 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23
#define BK_T16_S8_HI 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31

BK_INLINE void v_transpose16(v16f r[16]) {
  BK_T16_STAGE(r, 1, BK_T16_S1_LO, BK_T16_S1_HI)
  BK_T16_STAGE(r, 2, BK_T16_S2_LO, BK_T16_S2_HI)
  BK_T16_STAGE(r, 4, BK_T16_S4_LO, BK_T16_S4_HI)
  BK_T16_STAGE(r, 8, BK_T16_S8_LO, BK_T16_S8_HI)
}

BK_INLINE double vd_hsum(v8d v) {
  v4d a = __builtin_shufflevector(v, v, 0, 1, 2, 3) + __builtin_shufflevector(v, v, 4, 5, 6, 7);
  v2d b = __builtin_shufflevector(a, a, 0, 1) + __builtin_shufflevector(a, a, 2, 3);
  return b[0] + b[1];
}

/* The low and high eight lanes of v widened to double. */
BK_INLINE v8d v_lo_f64(v16f v) {
  return __builtin_convertvector(__builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7), v8d);
}
BK_INLINE v8d v_hi_f64(v16f v) {
  return __builtin_convertvector(__builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15),
                                 v8d);
}

#endif
