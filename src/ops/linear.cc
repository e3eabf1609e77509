// ops::linear: GEMM (x w^T) then a bias + activation epilogue over the rows just computed.
#include "core/error.h"
#include "core/parallel.h"
#include "kernels/cpu/kernels.h"
#include "ops/ops.h"
#include "ops/row_dispatch.h"

namespace ember::ops {
namespace {

using GemmNt = void (*)(int64_t m, int64_t n, int64_t k, const float* x, int64_t ldx,
                        const float* w, int64_t ldw, float* y, int64_t ldy);

// oneDNN 2.6's sgemm switches kernels at M = 16 and runs 2-5x slower for 16 <= M < 32 than
// the same product as calls of 8 rows (docs/gemm.md: column onednn_rows8).
void sgemm_nt_dnnl_rows8(int64_t m, int64_t n, int64_t k, const float* x, int64_t ldx,
                         const float* w, int64_t ldw, float* y, int64_t ldy) {
  for (int64_t m0 = 0; m0 < m; m0 += 8) {
    const int64_t rows = m - m0 < 8 ? m - m0 : 8;
    kernels::sgemm_nt_f32_dnnl(rows, n, k, x + m0 * ldx, ldx, w, ldw, y + m0 * ldy, ldy);
  }
}

// The GEMM behind linear, chosen per shape (and later per ISA): oneDNN won the encoder shapes
// against OpenBLAS (docs/gemm.md). A kernel of our own slots in here.
GemmNt select_gemm(int64_t m, int64_t /*n*/, int64_t /*k*/) {
  if (m >= 16 && m < 32) return sgemm_nt_dnnl_rows8;
  return kernels::sgemm_nt_f32_dnnl;
}

}  // namespace

void linear(const float* x, int64_t m, int64_t k, int64_t ldx, const float* w, const float* bias,
            int64_t n, float* y, int64_t ldy, Activation act) {
  EMBER_CHECK(m >= 0 && k > 0 && n > 0, ErrorKind::kInternal, "linear: bad shape m=", m, " k=", k,
              " n=", n);
  EMBER_CHECK(ldx >= k && ldy >= n, ErrorKind::kInternal, "linear: row stride too small (ldx=", ldx,
              " < k=", k, " or ldy=", ldy, " < n=", n, ")");
  EMBER_CHECK(w != nullptr, ErrorKind::kInternal, "linear: null weight");
  if (m == 0) return;
  EMBER_CHECK(x != nullptr && y != nullptr, ErrorKind::kInternal, "linear: null x or y");
  // Looked up first so that a bad activation fails before any work.
  const detail::RowEpilogue epilogue = detail::row_epilogue(act, bias != nullptr);
  select_gemm(m, n, k)(m, n, k, x, ldx, w, k, y, ldy);
  if (!epilogue) return;
  parallel_for(m, detail::row_grain(n), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) epilogue(y + i * ldy, bias, n);
  });
}

}  // namespace ember::ops
