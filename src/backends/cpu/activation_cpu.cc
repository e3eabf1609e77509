// cpu::activation, and the bias + activation row epilogues that cpu::linear also uses.
#include "backends/cpu/cpu_ops.h"
#include "backends/cpu/row_dispatch.h"
#include "core/error.h"
#include "core/parallel.h"
#include "kernels/cpu/kernels.h"

namespace ember::cpu {
namespace detail {

RowEpilogue row_epilogue(Activation act, bool has_bias) {
  const bool avx2 = use_avx2();
  switch (act) {
    case Activation::kNone:
      if (!has_bias) return nullptr;
      return avx2 ? kernels::bias_f32_avx2 : kernels::bias_f32_scalar;
    case Activation::kGeluErf:
      return avx2 ? kernels::bias_gelu_erf_f32_avx2 : kernels::bias_gelu_erf_f32_scalar;
    case Activation::kGeluTanh:
      return avx2 ? kernels::bias_gelu_tanh_f32_avx2 : kernels::bias_gelu_tanh_f32_scalar;
    case Activation::kRelu:
      return avx2 ? kernels::bias_relu_f32_avx2 : kernels::bias_relu_f32_scalar;
    case Activation::kTanh:
      return avx2 ? kernels::bias_tanh_f32_avx2 : kernels::bias_tanh_f32_scalar;
    case Activation::kSilu:
      return avx2 ? kernels::bias_silu_f32_avx2 : kernels::bias_silu_f32_scalar;
  }
  fail(ErrorKind::kInternal, "unknown activation ", static_cast<int>(act));
}

}  // namespace detail

void activation(float* x, int64_t m, int64_t n, Activation act) {
  EMBER_CHECK(m >= 0 && n >= 0, ErrorKind::kInternal, "activation: negative shape m=", m, " n=", n);
  if (m == 0 || n == 0) return;
  EMBER_CHECK(x != nullptr, ErrorKind::kInternal, "activation: null data");
  const detail::RowEpilogue fn = detail::row_epilogue(act, false);
  if (!fn) return;
  // Rows are contiguous: treat the matrix as chunks of one long row.
  const int64_t total = m * n;
  constexpr int64_t kChunk = 16384;
  parallel_for((total + kChunk - 1) / kChunk, 1, [&](int64_t b, int64_t e) {
    const int64_t lo = b * kChunk;
    const int64_t hi = e * kChunk < total ? e * kChunk : total;
    fn(x + lo, nullptr, hi - lo);
  });
}

}  // namespace ember::cpu
