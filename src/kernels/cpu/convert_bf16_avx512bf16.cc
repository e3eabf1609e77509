// f32 -> bf16 with vcvtne2ps2bf16: 32 values per instruction, rounded to nearest even.
#include <immintrin.h>

#include <algorithm>

#include "kernels/cpu/kernels.h"

namespace ember::kernels {

void f32_to_bf16_avx512bf16(const float* x, int64_t n, uint16_t* out) {
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m512bh v = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(x + i + 16), _mm512_loadu_ps(x + i));
    _mm512_storeu_si512(out + i, reinterpret_cast<const __m512i&>(v));
  }
  if (i < n) {
    const auto rest = static_cast<__mmask16>((1u << std::min<int64_t>(16, n - i)) - 1);
    const __m256bh lo = _mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(rest, x + i));
    _mm256_mask_storeu_epi16(out + i, rest, reinterpret_cast<const __m256i&>(lo));
    i += 16;
    if (i < n) {
      const auto rest2 = static_cast<__mmask16>((1u << (n - i)) - 1);
      const __m256bh hi = _mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(rest2, x + i));
      _mm256_mask_storeu_epi16(out + i, rest2, reinterpret_cast<const __m256i&>(hi));
    }
  }
}

}  // namespace ember::kernels
