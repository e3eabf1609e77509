// Exact u8 x s8 GEMM, the fallback without AVX2 and the twin of gemm_u8s8s32_avx2_4x2.
#include "kernels/cpu/kernels_int8.h"

namespace ember::kernels {

void gemm_u8s8s32_scalar(int64_t m, int64_t n, int64_t k, const uint8_t* a, int64_t lda,
                         const int8_t* w, int64_t ldw, int32_t* c, int64_t ldc) {
  for (int64_t i = 0; i < m; ++i) {
    const uint8_t* ai = a + i * lda;
    for (int64_t j = 0; j < n; ++j) {
      const int8_t* wj = w + j * ldw;
      int32_t sum = 0;
      for (int64_t p = 0; p < k; ++p) sum += static_cast<int32_t>(ai[p]) * wj[p];
      c[i * ldc + j] = sum;
    }
  }
}

}  // namespace ember::kernels
