// Our GEMM kernels on their own (every M/N tile edge and K tail) against a double-precision
// reference; cpu::linear's tests cover them again through the op on every ISA.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "core/aligned_buffer.h"
#include "core/cpu_features.h"
#include "kernels/cpu/kernels.h"
#include "ops_test_util.h"

namespace ember {
namespace {

using SgemmNt = void (*)(int64_t, int64_t, int64_t, const float*, int64_t, const float*, int64_t,
                         float*, int64_t);

void check_nt(SgemmNt gemm, int64_t m, int64_t n, int64_t k, int64_t ldx_pad, int64_t ldw_pad,
              int64_t ldy_pad) {
  const int64_t ldx = k + ldx_pad, ldw = k + ldw_pad, ldy = n + ldy_pad;
  const std::vector<float> x = test::random_vec(m * ldx, 11);
  const std::vector<float> w = test::random_vec(n * ldw, 12);
  const float kSentinel = -777.0f;
  std::vector<float> y(m * ldy, kSentinel);
  gemm(m, n, k, x.data(), ldx, w.data(), ldw, y.data(), ldy);
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
      for (int64_t k : {1, 15, 16, 17, 40})
        check_nt(kernels::sgemm_nt_f32_avx512_dot4x4, m, n, k, 0, 0, 0);
}

TEST(SgemmAvx512Dot4x4, EncoderShapesWithStrides) {
  if (detected_isa() < Isa::kAvx512) GTEST_SKIP() << "CPU has no AVX-512";
  const SgemmNt gemm = kernels::sgemm_nt_f32_avx512_dot4x4;
  check_nt(gemm, 16, 64, 384, 0, 0, 1088);  // a 64-column block of the fused QKV output
  check_nt(gemm, 13, 67, 1536, 3, 5, 2);
  check_nt(gemm, 32, 20, 768, 0, 0, 0);
}

// The panel kernel takes w packed as 64-column panels ([K][64] each, 64-byte aligned); this
// packs the [N, K] rows check_nt hands over (N a multiple of 64) and runs it.
void panels_as_nt(int64_t m, int64_t n, int64_t k, const float* x, int64_t ldx, const float* w,
                  int64_t ldw, float* y, int64_t ldy) {
  AlignedBuffer<float> panels;
  panels.resize(static_cast<size_t>(n * k));
  for (int64_t j = 0; j < n; ++j)
    for (int64_t p = 0; p < k; ++p)
      panels.data()[(j / 64) * k * 64 + p * 64 + j % 64] = w[j * ldw + p];
  kernels::sgemm_f32_avx512_6x64_panels(m, n, k, x, ldx, panels.data(), y, ldy);
}

// Row tiles of 6 and their remainders, K blocks of 64 and their tails, several panels, strides.
TEST(SgemmAvx512Panels6x64, EveryRowTileKBlockAndPanel) {
  if (detected_isa() < Isa::kAvx512) GTEST_SKIP() << "CPU has no AVX-512";
  for (int64_t m : {1, 2, 5, 6, 7, 8, 11, 12, 13, 19, 24, 31, 37, 48})
    for (int64_t n : {64, 192})
      for (int64_t k : {1, 16, 63, 64, 65, 200}) check_nt(panels_as_nt, m, n, k, 0, 0, 0);
  check_nt(panels_as_nt, 12, 128, 768, 5, 3, 1088);
  check_nt(panels_as_nt, 8, 1536, 384, 0, 0, 0);
  check_nt(panels_as_nt, 41, 256, 3072, 0, 0, 0);  // many K blocks, 7 tiles, prefetch spread
}

TEST(SgemmAvx2Dot3x4, EveryTileEdgeAndKTail) {
  ASSERT_GE(detected_isa(), Isa::kAvx2) << "this build's test machines all have AVX2";
  for (int64_t m : {1, 2, 3, 4, 5, 6, 7, 10})
    for (int64_t n : {1, 2, 3, 4, 5, 6, 7, 8, 9})
      for (int64_t k : {1, 7, 8, 9, 15, 17, 40})
        check_nt(kernels::sgemm_nt_f32_avx2_dot3x4, m, n, k, 0, 0, 0);
}

TEST(SgemmAvx2Dot3x4, EncoderShapesKBlocksAndStrides) {
  ASSERT_GE(detected_isa(), Isa::kAvx2) << "this build's test machines all have AVX2";
  const SgemmNt gemm = kernels::sgemm_nt_f32_avx2_dot3x4;
  check_nt(gemm, 16, 64, 384, 0, 0, 1088);  // a 64-column block of the fused QKV output
  check_nt(gemm, 13, 67, 1536, 3, 5, 2);    // 3 K blocks, odd strides
  check_nt(gemm, 32, 20, 768, 0, 0, 0);
  check_nt(gemm, 100, 9, 1029, 1, 0, 0);  // rows past one 96-row block, K tail in block 3
  check_nt(gemm, 5, 4, 512, 0, 0, 0);     // exactly one K block
  check_nt(gemm, 5, 4, 513, 0, 0, 0);     // a second block of one element
}

// The outer-product AVX2 kernel: every tile edge (6 and 12 columns, 16- and 8-row x blocks),
// K tails of the 8x8 transposes, and K blocks of 1024 (later blocks must accumulate).
TEST(SgemmAvx2Tile6x16, EveryTileEdgeAndKTail) {
  ASSERT_GE(detected_isa(), Isa::kAvx2) << "this build's test machines all have AVX2";
  for (int64_t m : {1, 2, 7, 8, 9, 15, 16, 17, 24, 25})
    for (int64_t n : {1, 2, 5, 6, 7, 12, 13})
      for (int64_t k : {1, 7, 8, 9, 17, 40})
        check_nt(kernels::sgemm_nt_f32_avx2_6x16, m, n, k, 0, 0, 0);
}

TEST(SgemmAvx2Tile6x16, EncoderShapesKBlocksAndStrides) {
  ASSERT_GE(detected_isa(), Isa::kAvx2) << "this build's test machines all have AVX2";
  const SgemmNt gemm = kernels::sgemm_nt_f32_avx2_6x16;
  check_nt(gemm, 16, 64, 384, 0, 0, 1088);
  check_nt(gemm, 13, 67, 1536, 3, 5, 2);
  check_nt(gemm, 64, 20, 768, 0, 0, 0);
  check_nt(gemm, 100, 9, 1029, 1, 0, 0);
  check_nt(gemm, 5, 4, 1024, 0, 0, 0);    // exactly one K block
  check_nt(gemm, 17, 4, 1025, 0, 0, 0);   // a second block of one element
  check_nt(gemm, 20, 13, 2100, 0, 0, 0);  // three blocks
  check_nt(gemm, 300, 7, 300, 2, 1, 3);   // many 16-row blocks, a 12-row tail
  // w rows 4 KiB apart, with blocks of <= 8 rows (their x block repeated).
  check_nt(gemm, 5, 13, 1024, 0, 0, 0);
  check_nt(gemm, 24, 13, 1000, 0, 24, 0);
  check_nt(gemm, 24, 13, 1000, 0, 0, 0);  // an 8-row tail block
}

}  // namespace
}  // namespace ember
