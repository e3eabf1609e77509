// Vectorised exp, erf and tanh on 8 floats, for *_avx2.cc files only (this header needs the
// AVX2/FMA flags). Polynomial coefficients were fitted for Ember with mpmath.chebyfit; the
// accuracy each reaches is asserted in tests/ops/vec_math_test.cc.
#pragma once

#include <immintrin.h>

#include <cstddef>
#include <cstdint>

namespace ember::kernels::avx2 {

// Horner evaluation, coefficients highest degree first.
template <size_t N>
inline __m256 poly(__m256 x, const float (&c)[N]) {
  __m256 acc = _mm256_set1_ps(c[0]);
  for (size_t i = 1; i < N; ++i) acc = _mm256_fmadd_ps(acc, x, _mm256_set1_ps(c[i]));
  return acc;
}

// e^x, ~2 ulp. x < -87.3 (including -inf) gives 0; x is clamped at 88 above.
inline __m256 exp(__m256 x) {
  const __m256 lo = _mm256_set1_ps(-87.33654f);
  const __m256 underflow = _mm256_cmp_ps(x, lo, _CMP_LT_OQ);
  x = _mm256_min_ps(_mm256_max_ps(x, lo), _mm256_set1_ps(88.0f));
  // x = n ln2 + r, |r| <= ln2/2, with ln2 split in two so that r is exact.
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693145752f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(1.42860682e-6f), r);
  // Taylor series of e^r to degree 7: truncation error < 6e-9 on |r| <= ln2/2.
  static constexpr float kTaylor[] = {1.f / 5040, 1.f / 720, 1.f / 120, 1.f / 24,
                                      1.f / 6,    0.5f,      1.f,       1.f};
  const __m256 p = poly(r, kTaylor);
  const __m256i bits =
      _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_andnot_ps(underflow, _mm256_mul_ps(p, _mm256_castsi256_ps(bits)));
}

// erf(x), absolute error ~1e-7. |x| < 1: x * P(x^2); 1 <= |x| < 3.92:
// 1 - e^{-x^2} Q(1/x); beyond, erf rounds to +-1 in float.
inline __m256 erf(__m256 x) {
  static constexpr float kSmall[] = {7.875875063e-5f, -0.0008016864287f, 0.005189087423f,
                                     -0.02685421201f, 0.1128359472f,     -0.3761262667f,
                                     1.128379166f};
  static constexpr float kLarge[] = {-0.005206738429f, 0.007134828406f, 0.06989988640f,
                                     -0.2972330428f,   0.5372298417f,   -0.4898150079f,
                                     0.04695525475f,   0.5583014556f,   0.0003170904561f};
  const __m256 sign_mask = _mm256_set1_ps(-0.0f);
  const __m256 sign = _mm256_and_ps(x, sign_mask);
  const __m256 one = _mm256_set1_ps(1.0f);
  const __m256 a = _mm256_min_ps(_mm256_andnot_ps(sign_mask, x), _mm256_set1_ps(3.92f));
  const __m256 a2 = _mm256_mul_ps(a, a);
  const __m256 small = _mm256_mul_ps(a, poly(a2, kSmall));
  const __m256 tail = _mm256_mul_ps(exp(_mm256_sub_ps(_mm256_setzero_ps(), a2)),
                                    poly(_mm256_div_ps(one, _mm256_max_ps(a, one)), kLarge));
  const __m256 large = _mm256_sub_ps(one, tail);
  __m256 y = _mm256_blendv_ps(large, small, _mm256_cmp_ps(a, one, _CMP_LT_OQ));
  y = _mm256_blendv_ps(y, one, _mm256_cmp_ps(a, _mm256_set1_ps(3.92f), _CMP_GE_OQ));
  return _mm256_or_ps(y, sign);
}

// tanh(x), relative error ~2e-7. |x| < 0.625: x * P(x^2) (no cancellation near 0);
// otherwise (1 - t) / (1 + t) with t = e^{-2|x|}.
inline __m256 tanh(__m256 x) {
  static constexpr float kSmall[] = {-0.005657135184f, 0.02058819145f, -0.05372010766f,
                                     0.1333111406f,    -0.3333325986f, 0.9999999960f};
  const __m256 sign_mask = _mm256_set1_ps(-0.0f);
  const __m256 sign = _mm256_and_ps(x, sign_mask);
  const __m256 a = _mm256_min_ps(_mm256_andnot_ps(sign_mask, x), _mm256_set1_ps(9.0f));
  const __m256 one = _mm256_set1_ps(1.0f);
  const __m256 small = _mm256_mul_ps(a, poly(_mm256_mul_ps(a, a), kSmall));
  const __m256 t = exp(_mm256_mul_ps(a, _mm256_set1_ps(-2.0f)));
  const __m256 large = _mm256_div_ps(_mm256_sub_ps(one, t), _mm256_add_ps(one, t));
  const __m256 y =
      _mm256_blendv_ps(large, small, _mm256_cmp_ps(a, _mm256_set1_ps(0.625f), _CMP_LT_OQ));
  return _mm256_or_ps(y, sign);
}

// Sum of the 8 lanes.
inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

inline float hmax(__m256 v) {
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// Lanes [0, n) set, n in [0, 8]: for masked loads and stores of row tails.
inline __m256i tail_mask(int64_t n) {
  const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)), idx);
}

}  // namespace ember::kernels::avx2
