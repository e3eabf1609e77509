// ops::add_layer_norm: residual add + LayerNorm, one row per kernel call, rows in parallel.
#include <cmath>

#include "core/error.h"
#include "core/parallel.h"
#include "core/profile.h"
#include "kernels/cpu/kernels.h"
#include "ops/ops.h"
#include "ops/row_dispatch.h"

namespace ember::ops {

void add_layer_norm(float* x, const float* residual, int64_t m, int64_t n, const float* gamma,
                    const float* beta, float eps) {
  EMBER_CHECK(m >= 0 && n > 0, ErrorKind::kInternal, "add_layer_norm: bad shape m=", m, " n=", n);
  EMBER_CHECK(gamma != nullptr && beta != nullptr, ErrorKind::kInternal,
              "add_layer_norm: null gamma or beta");
  EMBER_CHECK(std::isfinite(eps) && eps >= 0.0f, ErrorKind::kInvalidInput,
              "add_layer_norm: eps must be finite and >= 0, got ", eps);
  if (m == 0) return;
  EMBER_CHECK(x != nullptr, ErrorKind::kInternal, "add_layer_norm: null x");
  profile::Scope scope(residual ? "add_layer_norm" : "layer_norm");
  const auto kernel =
      detail::use_avx2() ? kernels::layer_norm_f32_avx2 : kernels::layer_norm_f32_scalar;
  parallel_for(m, detail::row_grain(n), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i)
      kernel(x + i * n, residual ? residual + i * n : nullptr, n, gamma, beta, eps);
  });
}

}  // namespace ember::ops
