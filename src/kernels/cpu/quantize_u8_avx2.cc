// AVX2 twins of quantize_u8_scalar.cc (same float operations, so the same bits).
#include <immintrin.h>

#include <algorithm>
#include <cmath>

#include "kernels/cpu/kernels_int8.h"

namespace ember::kernels {

namespace {

// The row as quantized: x, or x * col_scale (kScaled).
template <bool kScaled>
inline __m256 load8(const float* x, const float* col_scale, int64_t i) {
  if constexpr (kScaled)
    return _mm256_mul_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(col_scale + i));
  else
    return _mm256_loadu_ps(x + i);
}

template <bool kScaled>
RowQuant quantize_row(const float* x, int64_t k, int32_t qmax, uint8_t* q, const float* col_scale) {
  auto at = [&](int64_t i) {
    if constexpr (kScaled)
      return x[i] * col_scale[i];
    else
      return x[i];
  };
  __m256 vlo = _mm256_setzero_ps(), vhi = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= k; i += 8) {
    const __m256 v = load8<kScaled>(x, col_scale, i);
    vlo = _mm256_min_ps(vlo, v);
    vhi = _mm256_max_ps(vhi, v);
  }
  alignas(32) float l8[8], h8[8];
  _mm256_store_ps(l8, vlo);
  _mm256_store_ps(h8, vhi);
  float lo = 0.0f, hi = 0.0f;
  for (int t = 0; t < 8; ++t) {
    lo = std::min(lo, l8[t]);
    hi = std::max(hi, h8[t]);
  }
  for (; i < k; ++i) {
    lo = std::min(lo, at(i));
    hi = std::max(hi, at(i));
  }
  RowQuant r{1.0f, 0};
  if (hi > lo) {
    r.scale = (hi - lo) / static_cast<float>(qmax);
    r.zero_point = std::clamp(static_cast<int32_t>(std::nearbyint(-lo / r.scale)), 0, qmax);
  }
  const float inv = 1.0f / r.scale;
  const __m256 vinv = _mm256_set1_ps(inv);
  const __m256i zp = _mm256_set1_epi32(r.zero_point);
  const __m256i vmax = _mm256_set1_epi32(qmax);
  const __m256i zero = _mm256_setzero_si256();
  i = 0;
  for (; i + 32 <= k; i += 32) {
    __m256i v[4];
    for (int t = 0; t < 4; ++t) {
      // cvtps rounds half to even under the default MXCSR, as nearbyint does.
      const __m256i iv =
          _mm256_cvtps_epi32(_mm256_mul_ps(load8<kScaled>(x, col_scale, i + 8 * t), vinv));
      v[t] = _mm256_min_epi32(_mm256_max_epi32(_mm256_add_epi32(iv, zp), zero), vmax);
    }
    // Values are in [0, 255]: the saturating packs keep them; packs work per 128-bit lane,
    // so a final permute restores the order.
    const __m256i p01 = _mm256_packs_epi32(v[0], v[1]);
    const __m256i p23 = _mm256_packs_epi32(v[2], v[3]);
    const __m256i bytes = _mm256_packus_epi16(p01, p23);
    const __m256i ordered =
        _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + i), ordered);
  }
  for (; i < k; ++i) {
    const int32_t v = static_cast<int32_t>(std::nearbyint(at(i) * inv)) + r.zero_point;
    q[i] = static_cast<uint8_t>(std::clamp(v, 0, qmax));
  }
  return r;
}

}  // namespace

RowQuant quantize_row_u8_avx2(const float* x, int64_t k, int32_t qmax, uint8_t* q,
                              const float* col_scale) {
  return col_scale ? quantize_row<true>(x, k, qmax, q, col_scale)
                   : quantize_row<false>(x, k, qmax, q, nullptr);
}

void dequantize_row_s32_avx2(const int32_t* c, int64_t n, RowQuant row, const float* w_scale,
                             const int32_t* col_sum, float* y) {
  const __m256 rs = _mm256_set1_ps(row.scale);
  const __m256i zp = _mm256_set1_epi32(row.zero_point);
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    const __m256i acc = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(c + j));
    const __m256i cs = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(col_sum + j));
    const __m256i d = _mm256_sub_epi32(acc, _mm256_mullo_epi32(zp, cs));
    const __m256 s = _mm256_mul_ps(rs, _mm256_loadu_ps(w_scale + j));
    _mm256_storeu_ps(y + j, _mm256_mul_ps(s, _mm256_cvtepi32_ps(d)));
  }
  for (; j < n; ++j) {
    const float s = row.scale * w_scale[j];
    y[j] = s * static_cast<float>(c[j] - row.zero_point * col_sum[j]);
  }
}

}  // namespace ember::kernels
