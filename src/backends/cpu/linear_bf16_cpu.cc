// cpu::linear_bf16: x rounded to bf16 once per call (all rows, dense), then one task per
// (row chunk, column slice) on the packed bf16 weights, each row block copied into y through
// the bias + activation epilogue while in cache, as the fp32 packed path does.
#include "backends/cpu/linear_bf16_cpu.h"

#include <algorithm>

#include "backends/cpu/packed_tasks.h"
#include "backends/cpu/row_dispatch.h"
#include "core/aligned_buffer.h"
#include "core/cpu_features.h"
#include "core/error.h"
#include "core/parallel.h"
#include "core/profile.h"
#include "kernels/cpu/kernels.h"
#include "kernels/cpu/packed_gemm_dnnl.h"

namespace ember::cpu {

void linear_bf16(const float* x, int64_t m, int64_t k, int64_t ldx,
                 const kernels::PackedGemmDnnl& packed, const float* bias, int64_t n, float* y,
                 int64_t ldy, Activation act) {
  EMBER_CHECK(m >= 0 && k > 0 && n > 0 && ldx >= k && ldy >= n, ErrorKind::kInternal,
              "linear_bf16: bad shape m=", m, " k=", k, " n=", n, " ldx=", ldx, " ldy=", ldy);
  EMBER_CHECK(
      packed.type() == kernels::PackedGemmDnnl::Type::kBF16 && packed.n() == n && packed.k() == k,
      ErrorKind::kInternal, "linear_bf16: packed weights do not match ", n, "x", k);
  if (m == 0) return;
  EMBER_CHECK(x != nullptr && y != nullptr, ErrorKind::kInternal, "linear_bf16: null x or y");
  EMBER_CHECK(bf16_gemm_supported(), ErrorKind::kInternal,
              "linear_bf16 on a CPU without avx512_bf16 (or with EMBER_ISA below avx512)");
  const detail::RowEpilogue epilogue = detail::row_epilogue(act, bias != nullptr);
  const bool prof = profile::enabled();
  profile::Scope scope(
      prof ? detail::linear_profile_label("linear_bf16", m, k, n, act) : std::string(), prof);
  // The caller's buffer: the pool's threads read it while the caller waits in parallel_for.
  thread_local AlignedBuffer<uint16_t> xb;
  xb.resize(static_cast<size_t>(m * k));
  uint16_t* xbf = xb.data();
  {
    // Nested in the Linear's label: what rounding the activations costs of it.
    const profile::Scope round_scope("linear_bf16: x to bf16");
    parallel_for(m, detail::row_grain(k), [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) kernels::f32_to_bf16_avx512bf16(x + i * ldx, k, xbf + i * k);
    });
  }
  detail::packed_gemm_rows<float>(packed, m, static_cast<const uint16_t*>(xbf),
                                  [&](int64_t i, const float* row, int64_t c0, int64_t nc) {
                                    float* yi = y + i * ldy + c0;
                                    std::copy_n(row, nc, yi);
                                    if (epilogue) epilogue(yi, bias ? bias + c0 : nullptr, nc);
                                  });
}

}  // namespace ember::cpu
