// Bias + activation epilogues and elementwise math on AVX2; row tails use masked loads and
// stores so that every element goes through the same approximation.
#include "kernels/cpu/kernels.h"
#include "kernels/cpu/vec_math_avx2.h"

namespace ember::kernels {
namespace {

template <typename Fn>
inline void bias_apply(float* y, const float* bias, int64_t n, Fn fn) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 v = _mm256_loadu_ps(y + i);
    if (bias) v = _mm256_add_ps(v, _mm256_loadu_ps(bias + i));
    _mm256_storeu_ps(y + i, fn(v));
  }
  if (i < n) {
    const __m256i mask = avx2::tail_mask(n - i);
    __m256 v = _mm256_maskload_ps(y + i, mask);
    if (bias) v = _mm256_add_ps(v, _mm256_maskload_ps(bias + i, mask));
    _mm256_maskstore_ps(y + i, mask, fn(v));
  }
}

template <typename Fn>
inline void map(const float* x, float* y, int64_t n, Fn fn) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, fn(_mm256_loadu_ps(x + i)));
  if (i < n) {
    const __m256i mask = avx2::tail_mask(n - i);
    _mm256_maskstore_ps(y + i, mask, fn(_mm256_maskload_ps(x + i, mask)));
  }
}

}  // namespace

void bias_f32_avx2(float* y, const float* bias, int64_t n) {
  if (!bias) return;
  bias_apply(y, bias, n, [](__m256 v) { return v; });
}

void bias_relu_f32_avx2(float* y, const float* bias, int64_t n) {
  bias_apply(y, bias, n, [](__m256 v) { return _mm256_max_ps(v, _mm256_setzero_ps()); });
}

void bias_tanh_f32_avx2(float* y, const float* bias, int64_t n) {
  bias_apply(y, bias, n, [](__m256 v) { return avx2::tanh(v); });
}

void bias_gelu_erf_f32_avx2(float* y, const float* bias, int64_t n) {
  bias_apply(y, bias, n, [](__m256 v) {
    const __m256 e = avx2::erf(_mm256_mul_ps(v, _mm256_set1_ps(0.70710678118654752f)));
    return _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.5f), v),
                         _mm256_add_ps(_mm256_set1_ps(1.0f), e));
  });
}

// 0.5 v (1 + tanh(u)) == v / (1 + e^{-2u}): one exp, no cancellation for negative u.
void bias_gelu_tanh_f32_avx2(float* y, const float* bias, int64_t n) {
  bias_apply(y, bias, n, [](__m256 v) {
    const __m256 v3 = _mm256_mul_ps(_mm256_mul_ps(v, v), v);
    const __m256 u = _mm256_mul_ps(_mm256_set1_ps(0.79788456080286536f),
                                   _mm256_fmadd_ps(_mm256_set1_ps(0.044715f), v3, v));
    const __m256 e = avx2::exp(_mm256_mul_ps(u, _mm256_set1_ps(-2.0f)));
    return _mm256_div_ps(v, _mm256_add_ps(_mm256_set1_ps(1.0f), e));
  });
}

// SiLU (swish): v / (1 + e^{-v}); e^{-v} is clamped at e^88 for very negative v, which still
// gives 0 to float precision.
void bias_silu_f32_avx2(float* y, const float* bias, int64_t n) {
  bias_apply(y, bias, n, [](__m256 v) {
    const __m256 e = avx2::exp(_mm256_sub_ps(_mm256_setzero_ps(), v));
    return _mm256_div_ps(v, _mm256_add_ps(_mm256_set1_ps(1.0f), e));
  });
}

void exp_f32_avx2(const float* x, float* y, int64_t n) {
  map(x, y, n, [](__m256 v) { return avx2::exp(v); });
}

void erf_f32_avx2(const float* x, float* y, int64_t n) {
  map(x, y, n, [](__m256 v) { return avx2::erf(v); });
}

}  // namespace ember::kernels
