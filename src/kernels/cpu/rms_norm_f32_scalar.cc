// Scalar twin of rms_norm_f32_avx2.cc: the mean of squares summed in double.
#include <cmath>

#include "kernels/cpu/kernels.h"

namespace ember::kernels {

void rms_norm_f32_scalar(float* x, const float* residual, int64_t n, const float* gamma,
                         const float* beta, float eps) {
  double sq = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    if (residual) x[i] += residual[i];
    sq += static_cast<double>(x[i]) * x[i];
  }
  const float rstd = static_cast<float>(1.0 / std::sqrt(sq / static_cast<double>(n) + eps));
  for (int64_t i = 0; i < n; ++i) x[i] = x[i] * rstd * gamma[i] + (beta ? beta[i] : 0.0f);
}

}  // namespace ember::kernels
