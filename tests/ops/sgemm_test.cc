// Our GEMM kernels on their own (every M/N tile edge and K tail) against a double-precision
// reference; ops::linear's tests cover them again through the op on every ISA.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "core/cpu_features.h"
#include "kernels/cpu/kernels.h"
#include "ops_test_util.h"

namespace ember {
namespace {

void check_nt(int64_t m, int64_t n, int64_t k, int64_t ldx_pad, int64_t ldw_pad, int64_t ldy_pad) {
  const int64_t ldx = k + ldx_pad, ldw = k + ldw_pad, ldy = n + ldy_pad;
  const std::vector<float> x = test::random_vec(m * ldx, 11);
  const std::vector<float> w = test::random_vec(n * ldw, 12);
  const float kSentinel = -777.0f;
  std::vector<float> y(m * ldy, kSentinel);
  kernels::sgemm_nt_f32_avx512_dot4x4(m, n, k, x.data(), ldx, w.data(), ldw, y.data(), ldy);
  test::MaxError err;
  const std::string where =
      "m=" + std::to_string(m) + " n=" + std::to_string(n) + " k=" + std::to_string(k);
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double acc = 0.0, mag = 0.0;
      for (int64_t p = 0; p < k; ++p) {
        const double prod = static_cast<double>(x[i * ldx + p]) * w[j * ldw + p];
        acc += prod;
        mag += std::fabs(prod);
      }
      err.check(y[i * ldy + j], acc, 2e-6 * mag + 1e-7,
                where + " at (" + std::to_string(i) + "," + std::to_string(j) + ")");
    }
    for (int64_t j = n; j < ldy; ++j)
      ASSERT_EQ(y[i * ldy + j], kSentinel) << where << ": wrote past n in row " << i;
  }
}

TEST(SgemmAvx512Dot4x4, EveryTileEdgeAndKTail) {
  if (detected_isa() < Isa::kAvx512) GTEST_SKIP() << "CPU has no AVX-512";
  for (int64_t m : {1, 2, 3, 4, 5, 7, 8, 9})
    for (int64_t n : {1, 2, 3, 4, 5, 6, 7, 8, 9})
      for (int64_t k : {1, 15, 16, 17, 40}) check_nt(m, n, k, 0, 0, 0);
}

TEST(SgemmAvx512Dot4x4, EncoderShapesWithStrides) {
  if (detected_isa() < Isa::kAvx512) GTEST_SKIP() << "CPU has no AVX-512";
  check_nt(16, 64, 384, 0, 0, 1088);  // a 64-column block of the fused QKV output
  check_nt(13, 67, 1536, 3, 5, 2);
  check_nt(32, 20, 768, 0, 0, 0);
}

}  // namespace
}  // namespace ember
