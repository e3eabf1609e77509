// Row softmax on AVX2: max, exp and sum, scale. Tails are masked; masked-off lanes of the
// max pass read as -inf so that they never win.
#include "kernels/cpu/kernels.h"
#include "kernels/cpu/vec_math_avx2.h"

namespace ember::kernels {

void softmax_f32_avx2(float* x, int64_t n) {
  const __m256i tail = avx2::tail_mask(n % 8);
  const int64_t body = n - n % 8;
  const __m256 neg_inf = _mm256_set1_ps(-__builtin_inff());
  __m256 vmax = neg_inf;
  int64_t i = 0;
  for (; i < body; i += 8) vmax = _mm256_max_ps(vmax, _mm256_loadu_ps(x + i));
  if (i < n) {
    const __m256 v =
        _mm256_blendv_ps(neg_inf, _mm256_maskload_ps(x + i, tail), _mm256_castsi256_ps(tail));
    vmax = _mm256_max_ps(vmax, v);
  }
  const __m256 max = _mm256_set1_ps(avx2::hmax(vmax));
  __m256 vsum = _mm256_setzero_ps();
  for (i = 0; i < body; i += 8) {
    const __m256 e = avx2::exp(_mm256_sub_ps(_mm256_loadu_ps(x + i), max));
    _mm256_storeu_ps(x + i, e);
    vsum = _mm256_add_ps(vsum, e);
  }
  if (i < n) {
    const __m256 e = _mm256_and_ps(avx2::exp(_mm256_sub_ps(_mm256_maskload_ps(x + i, tail), max)),
                                   _mm256_castsi256_ps(tail));
    _mm256_maskstore_ps(x + i, tail, e);
    vsum = _mm256_add_ps(vsum, e);
  }
  const __m256 inv = _mm256_set1_ps(1.0f / avx2::hsum(vsum));
  for (i = 0; i < body; i += 8) _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), inv));
  if (i < n) _mm256_maskstore_ps(x + i, tail, _mm256_mul_ps(_mm256_maskload_ps(x + i, tail), inv));
}

}  // namespace ember::kernels
