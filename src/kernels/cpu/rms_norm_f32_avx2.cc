// RMSNorm of one row on AVX2: the residual added and the squares summed in one pass (in double,
// as the scalar twin does, so that both agree to float rounding), then scale (and shift).
#include "kernels/cpu/kernels.h"
#include "kernels/cpu/vec_math_avx2.h"

namespace ember::kernels {

void rms_norm_f32_avx2(float* x, const float* residual, int64_t n, const float* gamma,
                       const float* beta, float eps) {
  const __m256i tail = avx2::tail_mask(n % 8);
  const int64_t body = n - n % 8;
  __m256d acc0 = _mm256_setzero_pd(), acc1 = _mm256_setzero_pd();
  auto add_sq = [&](__m256 v) {
    const __m256d lo = _mm256_cvtps_pd(_mm256_castps256_ps128(v));
    const __m256d hi = _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1));
    acc0 = _mm256_fmadd_pd(lo, lo, acc0);
    acc1 = _mm256_fmadd_pd(hi, hi, acc1);
  };
  for (int64_t i = 0; i < body; i += 8) {
    __m256 v = _mm256_loadu_ps(x + i);
    if (residual) {
      v = _mm256_add_ps(v, _mm256_loadu_ps(residual + i));
      _mm256_storeu_ps(x + i, v);
    }
    add_sq(v);
  }
  if (body < n) {
    __m256 v = _mm256_maskload_ps(x + body, tail);
    if (residual) {
      v = _mm256_add_ps(v, _mm256_maskload_ps(residual + body, tail));
      _mm256_maskstore_ps(x + body, tail, v);
    }
    add_sq(v);
  }
  alignas(32) double lanes[4];
  _mm256_store_pd(lanes, _mm256_add_pd(acc0, acc1));
  const double ms = (lanes[0] + lanes[1] + lanes[2] + lanes[3]) / static_cast<double>(n);
  // No std:: inline functions in *_avx2.cc (see layer_norm_f32_avx2.cc).
  const __m128d root = _mm_sqrt_sd(_mm_setzero_pd(), _mm_set_sd(ms + eps));
  const __m256 rstd = _mm256_set1_ps(static_cast<float>(1.0 / _mm_cvtsd_f64(root)));
  for (int64_t i = 0; i < body; i += 8) {
    const __m256 b = beta ? _mm256_loadu_ps(beta + i) : _mm256_setzero_ps();
    const __m256 y = _mm256_mul_ps(_mm256_loadu_ps(x + i), rstd);
    _mm256_storeu_ps(x + i, _mm256_fmadd_ps(y, _mm256_loadu_ps(gamma + i), b));
  }
  if (body < n) {
    const __m256 b = beta ? _mm256_maskload_ps(beta + body, tail) : _mm256_setzero_ps();
    const __m256 y = _mm256_mul_ps(_mm256_maskload_ps(x + body, tail), rstd);
    _mm256_maskstore_ps(x + body, tail,
                        _mm256_fmadd_ps(y, _mm256_maskload_ps(gamma + body, tail), b));
  }
}

}  // namespace ember::kernels
