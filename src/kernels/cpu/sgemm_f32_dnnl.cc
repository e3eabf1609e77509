// oneDNN's sgemm: row-major, B transposed (weights stay in PyTorch's [N, K] layout; the other
// layout halves oneDNN's speed at small M, see docs/gemm.md).
#include <dnnl.h>

#include "core/error.h"
#include "kernels/cpu/dnnl_calling_thread.h"
#include "kernels/cpu/kernels.h"

namespace ember::kernels {

void sgemm_nt_f32_dnnl(int64_t m, int64_t n, int64_t k, const float* x, int64_t ldx, const float* w,
                       int64_t ldw, float* y, int64_t ldy) {
  dnnl_on_calling_thread();
  const dnnl_status_t st = dnnl_sgemm('N', 'T', m, n, k, 1.0f, x, ldx, w, ldw, 0.0f, y, ldy);
  EMBER_CHECK(st == dnnl_success, ErrorKind::kInternal, "dnnl_sgemm failed (status ",
              static_cast<int>(st), ") for m=", m, " n=", n, " k=", k);
}

}  // namespace ember::kernels
