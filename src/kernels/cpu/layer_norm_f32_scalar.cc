// Scalar twin of layer_norm_f32_avx2.cc: the same two passes (mean, then the mean of squared
// deviations), which stay accurate when |mean| >> std, unlike E[x^2] - E[x]^2. Sums are in
// double (cheap here; the AVX2 kernel sums squares in 16 float lanes instead).
#include <cmath>

#include "kernels/cpu/kernels.h"

namespace ember::kernels {

void layer_norm_f32_scalar(float* x, const float* residual, int64_t n, const float* gamma,
                           const float* beta, float eps) {
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    if (residual) x[i] += residual[i];
    sum += x[i];
  }
  const double mean = sum / static_cast<double>(n);
  const float mean_hi = static_cast<float>(mean);
  const float mean_lo = static_cast<float>(mean - mean_hi);
  double sq = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const float d = (x[i] - mean_hi) - mean_lo;
    sq += static_cast<double>(d) * d;
  }
  const float rstd = static_cast<float>(1.0 / std::sqrt(sq / static_cast<double>(n) + eps));
  for (int64_t i = 0; i < n; ++i)
    x[i] = ((x[i] - mean_hi) - mean_lo) * rstd * gamma[i] + (beta ? beta[i] : 0.0f);
}

}  // namespace ember::kernels
