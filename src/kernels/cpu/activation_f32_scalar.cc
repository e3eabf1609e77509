// Scalar twins of activation_f32_avx2.cc and gelu_f32_avx2.cc, on libm (the reference
// values the vector approximations are held to).
#include <cmath>

#include "kernels/cpu/kernels.h"

namespace ember::kernels {
namespace {

template <typename Fn>
void bias_apply(float* y, const float* bias, int64_t n, Fn fn) {
  if (bias) {
    for (int64_t i = 0; i < n; ++i) y[i] = fn(y[i] + bias[i]);
  } else {
    for (int64_t i = 0; i < n; ++i) y[i] = fn(y[i]);
  }
}

}  // namespace

void bias_f32_scalar(float* y, const float* bias, int64_t n) {
  bias_apply(y, bias, n, [](float v) { return v; });
}

void bias_relu_f32_scalar(float* y, const float* bias, int64_t n) {
  bias_apply(y, bias, n, [](float v) { return v > 0.0f ? v : 0.0f; });
}

void bias_tanh_f32_scalar(float* y, const float* bias, int64_t n) {
  bias_apply(y, bias, n, [](float v) { return std::tanh(v); });
}

void bias_gelu_erf_f32_scalar(float* y, const float* bias, int64_t n) {
  bias_apply(y, bias, n,
             [](float v) { return 0.5f * v * (1.0f + std::erf(v * 0.70710678118654752f)); });
}

void bias_gelu_tanh_f32_scalar(float* y, const float* bias, int64_t n) {
  bias_apply(y, bias, n, [](float v) {
    const float u = 0.79788456080286536f * (v + 0.044715f * v * v * v);
    return 0.5f * v * (1.0f + std::tanh(u));
  });
}

void bias_silu_f32_scalar(float* y, const float* bias, int64_t n) {
  bias_apply(y, bias, n, [](float v) { return v / (1.0f + std::exp(-v)); });
}

void exp_f32_scalar(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = std::exp(x[i]);
}

void erf_f32_scalar(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = std::erf(x[i]);
}

}  // namespace ember::kernels
