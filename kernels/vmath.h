/* Vectorized transcendental functions and activations (internal header).
 *
 * exp: Cody-Waite reduction x = n ln2 + r, |r| <= ln2/2, e^r = 1 + r + r^2 P(r)
 * with a degree-4 P, then 2^n through the exponent bits. Below -87.34 the
 * result is exactly 0 (so masked attention scores, which are -inf or
 * finfo.min, get probability 0); above 88 it saturates at e^88 (finite).
 * Relative error <= 2 ulp.
 *
 * GELU (erf): 0.5 x (1 + erf(u)), u = x / sqrt(2). For |u| < 1, erf(u) =
 * u P(u^2) (degree 6). For |u| >= 1, erfc(|u|) = exp(-u^2) Q(t) with
 * t = (|u| - 2) / (|u| + 2) (degree 6, the transformation Abramowitz & Stegun
 * use for erfc), and 1 + erf(u) is 2 - erfc or erfc directly, so negative
 * inputs lose no precision to cancellation. Relative error of 1 + erf about
 * 2e-7, i.e. GELU within 1e-7 |x|.
 *
 * tanh: x + x^3 P(x^2) for |x| < 0.625, 1 - 2 / (e^{2|x|} + 1) beyond.
 * tanh-GELU, quick GELU and SiLU are x * sigmoid(.) written as
 * x / (1 + e^{-.}), which is accurate for both signs.
 *
 * The polynomial coefficients are weighted least-squares fits (Lawson
 * iteration towards minimax) against mpmath, evaluated in float. */
#ifndef BERTC_KERNELS_VMATH_H
#define BERTC_KERNELS_VMATH_H

#include "kernels/kernels.h"
#include "kernels/simd.h"

BK_INLINE v16f v_exp(v16f x) {
  const float lo = -87.33654f; /* ln(2^-126): smallest normal result */
  v16i underflow = x < lo;
  x = v_max(v_min(x, v_splat(88.0f)), v_splat(lo));
  const float magic = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer */
  v16f t = x * 1.44269504088896341f + magic;
  v16f n = t - magic;
  v16f r = x - n * 0.693359375f; /* ln2 = 0.693359375 - 2.12194440e-4 */
  r = r - n * -2.12194440e-4f;
  v16f p = r * 1.3950479915365577e-3f + 8.3688888698816300e-3f;
  p = p * r + 4.1666205972433090e-2f;
  p = p * r + 1.6666518151760100e-1f;
  p = p * r + 0.5f;
  v16f er = (r * r) * p + r + 1.0f;
  v16i biased = ((v16i)t - vi_splat(0x4B400000)) + 127;
  v16f scale = (v16f)(biased << 23);
  return v_select(underflow, v_splat(0.0f), er * scale);
}

/* 0.5 x (1 + erf(x / sqrt(2))) */
BK_INLINE v16f v_gelu_erf(v16f x) {
  v16f u = x * 0.70710678118654752f;
  v16f a = v_abs(u);
  v16f z = u * u;
  /* |u| < 1 */
  v16f ps = z * 7.8891091106925160e-05f + -8.0208381405100230e-04f;
  ps = ps * z + 5.1895352080464360e-03f;
  ps = ps * z + -2.6854444295167923e-02f;
  ps = ps * z + 1.1283600330352783e-01f;
  ps = ps * z + -3.7612625956535340e-01f;
  ps = ps * z + 1.1283791065216064e+00f;
  v16f small = u * ps + 1.0f;
  /* |u| >= 1: erfc(a) = exp(-a^2) Q(t - 1/21), clamped at a = 5 where it is < 1e-12 */
  v16f ac = v_min(a, v_splat(5.0f));
  v16f t = (ac - 2.0f) / (ac + 2.0f) - 0.047619047619047616f;
  v16f q = t * -1.2421853607520460e-03f + 6.4814840443432330e-03f;
  q = q * t + 5.3864694200456140e-03f;
  q = q * t + -7.8095167875289920e-02f;
  q = q * t + 2.3043265938758850e-01f;
  q = q * t + -4.0470653772354126e-01f;
  q = q * t + 2.3559297621250153e-01f;
  v16f erfc = v_exp(-z) * q;
  v16f big = v_select(u > 0.0f, 2.0f - erfc, erfc);
  return (x * 0.5f) * v_select(a < 1.0f, small, big);
}

/* x * sigmoid(c x) = x / (1 + e^{-c x}) */
BK_INLINE v16f v_x_sigmoid(v16f x, v16f cx) { return x / (v_exp(-cx) + 1.0f); }

/* 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) = x * sigmoid(2 inner) */
BK_INLINE v16f v_gelu_tanh(v16f x) {
  v16f inner = x * ((x * x) * 0.044715f + 1.0f) * 0.7978845608028654f;
  return v_x_sigmoid(x, inner * 2.0f);
}

BK_INLINE v16f v_tanh(v16f x) {
  v16f a = v_abs(x);
  v16f z = x * x;
  v16f p = z * -6.1131753027439120e-03f + 2.1010069176554680e-02f;
  p = p * z + -5.3854066878557205e-02f;
  p = p * z + 1.3332794606685638e-01f;
  p = p * z + -3.3333328366279600e-01f;
  v16f small = (x * z) * p + x;
  v16f big = 1.0f - 2.0f / (v_exp(a * 2.0f) + 1.0f);
  v16f sign = (v16f)((v16i)x & vi_splat((int32_t)0x80000000u));
  big = (v16f)((v16i)big | (v16i)sign);
  return v_select(a < 0.625f, small, big);
}

/* The activation `act` (BK_ACT_*) applied lane-wise. Once specialized on a
 * constant act the switch disappears. */
BK_INLINE v16f v_act(v16f x, int64_t act) {
  switch (act) {
  case BK_ACT_GELU: return v_gelu_erf(x);
  case BK_ACT_GELU_TANH:
  case BK_ACT_GELU_FAST: return v_gelu_tanh(x);
  case BK_ACT_QUICK_GELU: return v_x_sigmoid(x, x * 1.702f);
  case BK_ACT_RELU: return v_max(x, v_splat(0.0f));
  case BK_ACT_SILU: return v_x_sigmoid(x, x);
  case BK_ACT_TANH: return v_tanh(x);
  default: return x;
  }
}

#endif
