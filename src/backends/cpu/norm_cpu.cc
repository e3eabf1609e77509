// cpu::add_layer_norm and cpu::add_rms_norm: residual add + norm, one row (or one group of a
// row) per kernel call, rows in parallel.
#include <cmath>

#include "backends/cpu/cpu_ops.h"
#include "backends/cpu/row_dispatch.h"
#include "core/error.h"
#include "core/parallel.h"
#include "core/profile.h"
#include "kernels/cpu/kernels.h"

namespace ember::cpu {
namespace {

void check_norm(const char* op, int64_t m, int64_t n, const float* gamma, float eps) {
  EMBER_CHECK(m >= 0 && n > 0, ErrorKind::kInternal, op, ": bad shape m=", m, " n=", n);
  EMBER_CHECK(gamma != nullptr, ErrorKind::kInternal, op, ": null gamma");
  EMBER_CHECK(std::isfinite(eps) && eps >= 0.0f, ErrorKind::kInvalidInput, op,
              ": eps must be finite and >= 0, got ", eps);
}

}  // namespace

void add_layer_norm(float* x, const float* residual, int64_t m, int64_t n, const float* gamma,
                    const float* beta, float eps, int64_t ld) {
  check_norm("add_layer_norm", m, n, gamma, eps);
  if (ld == 0) ld = n;
  EMBER_CHECK(ld >= n, ErrorKind::kInternal, "add_layer_norm: row stride ", ld, " < ", n);
  if (m == 0) return;
  EMBER_CHECK(x != nullptr, ErrorKind::kInternal, "add_layer_norm: null x");
  profile::Scope scope(residual ? "add_layer_norm" : "layer_norm");
  const auto kernel =
      detail::use_avx2() ? kernels::layer_norm_f32_avx2 : kernels::layer_norm_f32_scalar;
  parallel_for(m, detail::row_grain(n), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i)
      kernel(x + i * ld, residual ? residual + i * ld : nullptr, n, gamma, beta, eps);
  });
}

void add_rms_norm(float* x, const float* residual, int64_t m, int64_t n, int64_t group,
                  const float* gamma, const float* beta, float eps, int64_t ld) {
  check_norm("add_rms_norm", m, n, gamma, eps);
  if (ld == 0) ld = n;
  EMBER_CHECK(ld >= n, ErrorKind::kInternal, "add_rms_norm: row stride ", ld, " < ", n);
  EMBER_CHECK(group > 0 && n % group == 0, ErrorKind::kInternal, "add_rms_norm: group ", group,
              " does not divide ", n);
  if (m == 0) return;
  EMBER_CHECK(x != nullptr, ErrorKind::kInternal, "add_rms_norm: null x");
  profile::Scope scope(residual ? "add_rms_norm" : "rms_norm");
  const auto kernel =
      detail::use_avx2() ? kernels::rms_norm_f32_avx2 : kernels::rms_norm_f32_scalar;
  const int64_t groups = n / group;
  parallel_for(m * groups, detail::row_grain(group), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const int64_t off = r / groups * ld + r % groups * group;
      kernel(x + off, residual ? residual + off : nullptr, group, gamma, beta, eps);
    }
  });
}

}  // namespace ember::cpu
