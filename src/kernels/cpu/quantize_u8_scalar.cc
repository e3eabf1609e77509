// Dynamic per-row quantization to u8/u7 and the dequantization of int32 rows, without SIMD:
// the fallback and the twins of quantize_u8_avx2.cc (bit-identical by construction: same
// float operations, round-half-even in both).
#include <algorithm>
#include <cmath>

#include "kernels/cpu/kernels_int8.h"

namespace ember::kernels {

RowQuant quantize_row_u8_scalar(const float* x, int64_t k, int32_t qmax, uint8_t* q,
                                const float* col_scale) {
  auto at = [&](int64_t i) { return col_scale ? x[i] * col_scale[i] : x[i]; };
  float lo = 0.0f, hi = 0.0f;
  for (int64_t i = 0; i < k; ++i) {
    lo = std::min(lo, at(i));
    hi = std::max(hi, at(i));
  }
  RowQuant r{1.0f, 0};
  if (hi > lo) {
    r.scale = (hi - lo) / static_cast<float>(qmax);
    r.zero_point = std::clamp(static_cast<int32_t>(std::nearbyint(-lo / r.scale)), 0, qmax);
  }
  const float inv = 1.0f / r.scale;
  for (int64_t i = 0; i < k; ++i) {
    const int32_t v = static_cast<int32_t>(std::nearbyint(at(i) * inv)) + r.zero_point;
    q[i] = static_cast<uint8_t>(std::clamp(v, 0, qmax));
  }
  return r;
}

void dequantize_row_s32_scalar(const int32_t* c, int64_t n, RowQuant row, const float* w_scale,
                               const int32_t* col_sum, float* y) {
  for (int64_t j = 0; j < n; ++j) {
    const float s = row.scale * w_scale[j];
    y[j] = s * static_cast<float>(c[j] - row.zero_point * col_sum[j]);
  }
}

}  // namespace ember::kernels
