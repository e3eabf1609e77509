// f32 -> bf16 rows, one value at a time (the twin of convert_bf16_avx512bf16.cc).
#include "core/dtype.h"
#include "kernels/cpu/kernels.h"

namespace ember::kernels {

void f32_to_bf16_scalar(const float* x, int64_t n, uint16_t* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = float_to_bf16(x[i]);
}

}  // namespace ember::kernels
