// LayerNorm of one row (with the residual added in the first pass) on AVX2. The mean is summed
// in double (rows with |mean| >> std, e.g. 1000 +- 1, would lose ~1e-4 in float); the squared
// deviations are small and summed in float over 16 lanes.
#include "kernels/cpu/kernels.h"
#include "kernels/cpu/vec_math_avx2.h"

namespace ember::kernels {

void layer_norm_f32_avx2(float* x, const float* residual, int64_t n, const float* gamma,
                         const float* beta, float eps) {
  const __m256i tail = avx2::tail_mask(n % 8);
  const __m256 tail_ps = _mm256_castsi256_ps(tail);
  const int64_t body = n - n % 8;
  // s = x + residual, stored back; masked-off tail lanes read as 0.
  auto load_s = [&](int64_t i) {
    __m256 v = _mm256_loadu_ps(x + i);
    if (residual) {
      v = _mm256_add_ps(v, _mm256_loadu_ps(residual + i));
      _mm256_storeu_ps(x + i, v);
    }
    return v;
  };
  // Pass 1: the mean of s.
  __m256d dacc0 = _mm256_setzero_pd(), dacc1 = _mm256_setzero_pd();
  auto add_d = [&](__m256 v) {
    dacc0 = _mm256_add_pd(dacc0, _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
    dacc1 = _mm256_add_pd(dacc1, _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
  };
  int64_t i = 0;
  for (; i < body; i += 8) add_d(load_s(i));
  if (body < n) {
    __m256 v = _mm256_maskload_ps(x + body, tail);
    if (residual) {
      v = _mm256_add_ps(v, _mm256_maskload_ps(residual + body, tail));
      _mm256_maskstore_ps(x + body, tail, v);
    }
    add_d(v);
  }
  alignas(32) double lanes[4];
  _mm256_store_pd(lanes, _mm256_add_pd(dacc0, dacc1));
  // The mean as hi + lo floats: x - hi is exact near the mean, so deviations keep ~48 bits.
  const double mean = (lanes[0] + lanes[1] + lanes[2] + lanes[3]) / static_cast<double>(n);
  const float mean_hi = static_cast<float>(mean);
  const float mean_lo = static_cast<float>(mean - mean_hi);
  // Pass 2: the mean of squared deviations.
  const __m256 vhi = _mm256_set1_ps(mean_hi), vlo = _mm256_set1_ps(mean_lo);
  auto dev_of = [&](__m256 v) { return _mm256_sub_ps(_mm256_sub_ps(v, vhi), vlo); };
  auto dev = [&](int64_t j) { return dev_of(_mm256_loadu_ps(x + j)); };
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  for (i = 0; i + 16 <= body; i += 16) {
    const __m256 d0 = dev(i), d1 = dev(i + 8);
    acc0 = _mm256_fmadd_ps(d0, d0, acc0);
    acc1 = _mm256_fmadd_ps(d1, d1, acc1);
  }
  if (i < body) {
    const __m256 d = dev(i);
    acc0 = _mm256_fmadd_ps(d, d, acc0);
  }
  if (body < n) {
    const __m256 d = _mm256_and_ps(dev_of(_mm256_maskload_ps(x + body, tail)), tail_ps);
    acc1 = _mm256_fmadd_ps(d, d, acc1);
  }
  const float var = avx2::hsum(_mm256_add_ps(acc0, acc1)) / static_cast<float>(n);
  // No std:: inline functions in *_avx2.cc: in unoptimised builds they become weak symbols
  // compiled with AVX2 that the linker may also hand to the scalar twins.
  const __m256 rstd = _mm256_set1_ps(1.0f / _mm_cvtss_f32(_mm_sqrt_ss(_mm_set_ss(var + eps))));
  // Pass 3: normalise, scale, shift (no shift without beta).
  auto shift = [&](int64_t j) { return beta ? _mm256_loadu_ps(beta + j) : _mm256_setzero_ps(); };
  for (i = 0; i < body; i += 8) {
    const __m256 d = _mm256_mul_ps(dev(i), rstd);
    _mm256_storeu_ps(x + i, _mm256_fmadd_ps(d, _mm256_loadu_ps(gamma + i), shift(i)));
  }
  if (body < n) {
    const __m256 d = _mm256_mul_ps(dev_of(_mm256_maskload_ps(x + body, tail)), rstd);
    const __m256 b = beta ? _mm256_maskload_ps(beta + body, tail) : _mm256_setzero_ps();
    _mm256_maskstore_ps(x + body, tail,
                        _mm256_fmadd_ps(d, _mm256_maskload_ps(gamma + body, tail), b));
  }
}

}  // namespace ember::kernels
