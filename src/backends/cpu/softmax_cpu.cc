// cpu::softmax: in-place, row by row, rows in parallel.
#include "backends/cpu/cpu_ops.h"
#include "backends/cpu/row_dispatch.h"
#include "core/error.h"
#include "core/parallel.h"
#include "kernels/cpu/kernels.h"

namespace ember::cpu {

void softmax(float* x, int64_t m, int64_t n) {
  EMBER_CHECK(m >= 0 && n > 0, ErrorKind::kInternal, "softmax: bad shape m=", m, " n=", n);
  if (m == 0) return;
  EMBER_CHECK(x != nullptr, ErrorKind::kInternal, "softmax: null x");
  const auto kernel = detail::use_avx2() ? kernels::softmax_f32_avx2 : kernels::softmax_f32_scalar;
  parallel_for(m, detail::row_grain(n), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) kernel(x + i * n, n);
  });
}

}  // namespace ember::cpu
