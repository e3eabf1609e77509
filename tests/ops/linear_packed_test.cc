// Linear layers on weights packed at load (kernels/cpu/packed_gemm_dnnl.h): cpu::linear against
// a double-precision reference and cpu::linear_int8 against its unpacked scalar GEMM, for row
// counts on both sides of the packed path's bounds (1 row: unpacked; 256 rows per primitive
// call: chunked above), 1-3 column slices of uneven widths, bias + GELU and padded output rows.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "backends/cpu/cpu_ops.h"
#include "backends/cpu/linear_int8_cpu.h"
#include "core/cpu_features.h"
#include "core/error.h"
#include "kernels/cpu/packed_gemm_dnnl.h"
#include "ops_test_util.h"

namespace ember {
namespace {

using kernels::PackedGemmDnnl;
using ops::Activation;

// fp32: 2-48 rows run on the panel kernel on AVX-512 (tiles of <= 6 rows), 49 and more on
// oneDNN. int8: 1 row on the VNNI panel kernel (with AVX-512 VNNI), 2 and more on oneDNN.
const int64_t kRows[] = {1, 2, 5, 6, 7, 13, 24, 25, 32, 47, 48, 49, 64, 255, 256, 257, 530};

TEST(PackedGemmDnnl, SlicesCoverTheColumnsInWholeBlocks) {
  const std::vector<float> w = test::random_vec(200 * 8, 1);
  for (int64_t slices : {1, 2, 3, 7}) {
    const auto p = PackedGemmDnnl::pack_f32(w.data(), 200, 8, slices);
    int64_t next = 0;
    for (int64_t s = 0; s < p->slices(); ++s) {
      EXPECT_EQ(p->slice_begin(s), next);
      EXPECT_GT(p->slice_width(s), 0);
      if (s + 1 < p->slices()) {
        EXPECT_EQ(p->slice_width(s) % 64, 0) << "slice " << s;
      }
      next += p->slice_width(s);
    }
    EXPECT_EQ(next, 200);
    EXPECT_LE(p->slices(), slices);
    EXPECT_GE(p->packed_bytes(), 200 * 8 * 4);
  }
}

// The panel kernels are used exactly where their layout is: slices that oneDNN packed as
// 64-column panels, which it does for its AVX-512 brgemm (fp32; u8 x s8 in its VNNI layout) and
// not for its AVX2 GEMM. EMBER_ISA=avx2 caps oneDNN at AVX2; EMBER_ISA=scalar does not cap it
// (the packed path is off there), so no layout is asserted under scalar.
TEST(PackedGemmDnnl, PanelKernelWhereTheLayoutAllowsIt) {
  const std::vector<float> w = test::random_vec(384 * 384, 1);
  const auto p = PackedGemmDnnl::pack_f32(w.data(), 384, 384, 2);
  if (active_isa() >= Isa::kAvx512) {
    EXPECT_EQ(p->panel_max_rows(), PackedGemmDnnl::kPanelMaxRows);
  } else if (active_isa() == Isa::kAvx2) {
    EXPECT_EQ(p->panel_max_rows(), 0);
  }
  const auto odd = PackedGemmDnnl::pack_f32(w.data(), 70, 33, 1);  // k % 16 != 0
  EXPECT_EQ(odd->panel_max_rows(), 0);
  const std::vector<int8_t> w8(384 * 384, 3);
  const auto p8 = PackedGemmDnnl::pack_s8(w8.data(), 384, 384, 2);
  if (int8_vnni_supported()) {
    EXPECT_EQ(p8->panel_max_rows(), PackedGemmDnnl::kInt8PanelMaxRows);
  } else if (active_isa() == Isa::kAvx2) {
    EXPECT_EQ(p8->panel_max_rows(), 0);
  }
}

TEST(LinearPacked, MatchesTheReferenceForEveryRowCountAndSlicing) {
  struct Shape {
    int64_t n, k;
  };
  for (const Shape sh : {Shape{70, 33}, Shape{384, 384}, Shape{200, 5}, Shape{128, 80}}) {
    const std::vector<float> w = test::random_vec(sh.n * sh.k, 2);
    const std::vector<float> bias = test::random_vec(sh.n, 3);
    for (int64_t slices : {1, 2, 3}) {
      const auto packed = PackedGemmDnnl::pack_f32(w.data(), sh.n, sh.k, slices);
      for (int64_t m : kRows) {
        const int64_t ldy = sh.n + 3;
        const std::vector<float> x = test::random_vec(m * sh.k, 4);
        std::vector<float> y(m * ldy, 777.0f);
        cpu::linear(x.data(), m, sh.k, sh.k, w.data(), bias.data(), sh.n, y.data(), ldy,
                    Activation::kGeluErf, packed.get());
        test::MaxError err;
        for (int64_t i = 0; i < m; ++i) {
          for (int64_t j = 0; j < sh.n; ++j) {
            double acc = bias[j], mag = std::fabs(acc);
            for (int64_t p = 0; p < sh.k; ++p) {
              acc += static_cast<double>(x[i * sh.k + p]) * w[j * sh.k + p];
              mag += std::fabs(static_cast<double>(x[i * sh.k + p]) * w[j * sh.k + p]);
            }
            err.check(y[i * ldy + j], test::act_ref(Activation::kGeluErf, acc), 2e-6 * mag + 1e-6,
                      "n=" + std::to_string(sh.n) + " k=" + std::to_string(sh.k) +
                          " slices=" + std::to_string(slices) + " m=" + std::to_string(m) +
                          " at (" + std::to_string(i) + "," + std::to_string(j) + ")");
          }
          for (int64_t j = sh.n; j < ldy; ++j) ASSERT_EQ(y[i * ldy + j], 777.0f) << "past n";
        }
      }
    }
  }
}

TEST(LinearPacked, StridedInputFallsBackAndStaysCorrect) {
  // x rows wider than k (a view into a larger buffer) take the unpacked path.
  const int64_t m = 9, k = 40, n = 65, ldx = 48;
  const std::vector<float> w = test::random_vec(n * k, 5);
  const std::vector<float> x = test::random_vec(m * ldx, 6);
  const auto packed = PackedGemmDnnl::pack_f32(w.data(), n, k, 2);
  std::vector<float> a(m * n), b(m * n);
  cpu::linear(x.data(), m, k, ldx, w.data(), nullptr, n, a.data(), n, Activation::kNone,
              packed.get());
  cpu::linear(x.data(), m, k, ldx, w.data(), nullptr, n, b.data(), n);
  EXPECT_EQ(a, b);
}

TEST(LinearPacked, MismatchedPackedWeightsAreAnError) {
  const std::vector<float> w = test::random_vec(32 * 16, 7), x(4 * 16, 1.0f);
  std::vector<float> y(4 * 32);
  const auto other = PackedGemmDnnl::pack_f32(w.data(), 16, 32, 1);  // [16, 32], not [32, 16]
  try {
    cpu::linear(x.data(), 4, 16, 16, w.data(), nullptr, 32, y.data(), 32, Activation::kNone,
                other.get());
    ADD_FAILURE() << "mismatched packed weights accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInternal);
    EXPECT_NE(std::string(e.what()).find("packed"), std::string::npos) << e.what();
  }
}

TEST(LinearInt8Packed, EqualsTheUnpackedScalarGemm) {
  std::mt19937 rng(11);
  std::uniform_int_distribution<int> wd(-127, 127);
  struct Shape {
    int64_t n, k;
  };
  for (const Shape sh : {Shape{70, 33}, Shape{384, 384}, Shape{130, 100}}) {
    std::vector<int8_t> wq(static_cast<size_t>(sh.n * sh.k));
    std::vector<int32_t> col_sum(static_cast<size_t>(sh.n), 0);
    for (int64_t j = 0; j < sh.n; ++j)
      for (int64_t p = 0; p < sh.k; ++p) {
        wq[j * sh.k + p] = static_cast<int8_t>(wd(rng));
        col_sum[j] += wq[j * sh.k + p];
      }
    const std::vector<float> scale = test::random_vec(sh.n, 8, 0.001f, 0.01f);
    const std::vector<float> bias = test::random_vec(sh.n, 9);
    for (int64_t slices : {1, 2, 3}) {
      const auto packed = PackedGemmDnnl::pack_s8(wq.data(), sh.n, sh.k, slices);
      const ops::Int8Weights qw{wq.data(), scale.data(), col_sum.data(), 127};
      for (int64_t m : kRows) {
        const std::vector<float> x = test::random_vec(m * sh.k, 10, -3.0f, 2.0f);
        std::vector<float> a(m * sh.n), b(m * sh.n);
        cpu::linear_int8(x.data(), m, sh.k, sh.k, qw, bias.data(), sh.n, b.data(), sh.n,
                         Activation::kGeluErf, nullptr, cpu::Int8Gemm::kScalar);
        // kAuto (the engine's rule), and each kernel forced on the packed weights.
        for (cpu::Int8Gemm g :
             {cpu::Int8Gemm::kAuto, cpu::Int8Gemm::kPackedDnnl, cpu::Int8Gemm::kPackedVnni}) {
          cpu::linear_int8(x.data(), m, sh.k, sh.k, qw, bias.data(), sh.n, a.data(), sh.n,
                           Activation::kGeluErf, packed.get(), g);
          for (size_t i = 0; i < a.size(); ++i)
            ASSERT_NEAR(a[i], b[i], 1e-6 * std::fabs(b[i]) + 1e-6)
                << cpu::int8_gemm_name(g) << " n=" << sh.n << " k=" << sh.k << " slices=" << slices
                << " m=" << m << " at " << i;
        }
      }
    }
  }
}

}  // namespace
}  // namespace ember
