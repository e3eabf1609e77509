// oneDNN's integer GEMM: row-major, B transposed so that weights stay [N, K]; no offsets
// (ops/linear_int8.cc applies the activation zero point through the weight column sums).
#include <dnnl.h>

#include "core/error.h"
#include "kernels/cpu/dnnl_calling_thread.h"
#include "kernels/cpu/kernels_int8.h"

namespace ember::kernels {

void gemm_u8s8s32_dnnl(int64_t m, int64_t n, int64_t k, const uint8_t* a, int64_t lda,
                       const int8_t* w, int64_t ldw, int32_t* c, int64_t ldc) {
  dnnl_on_calling_thread();
  const int32_t co = 0;
  const dnnl_status_t st =
      dnnl_gemm_u8s8s32('N', 'T', 'F', m, n, k, 1.0f, a, lda, 0, w, ldw, 0, 0.0f, c, ldc, &co);
  EMBER_CHECK(st == dnnl_success, ErrorKind::kInternal, "dnnl_gemm_u8s8s32 failed (status ",
              static_cast<int>(st), ") for m=", m, " n=", n, " k=", k);
}

}  // namespace ember::kernels
