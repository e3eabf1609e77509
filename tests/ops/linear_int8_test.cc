// int8 kernels and cpu::linear_int8 against double-precision references of the same integer
// math: the integer GEMMs must match exactly (saturation-prone inputs and odd shapes too),
// quantization must be bit-identical across ISAs, and the op must equal the reference
// dequantization within float rounding.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "backends/cpu/linear_int8_cpu.h"
#include "core/aligned_buffer.h"
#include "core/cpu_features.h"
#include "core/error.h"
#include "kernels/cpu/kernels_int8.h"
#include "kernels/cpu/packed_gemm_dnnl.h"
#include "ops_test_util.h"

namespace ember {
namespace {

using ops::Activation;

using GemmFn = void (*)(int64_t, int64_t, int64_t, const uint8_t*, int64_t, const int8_t*, int64_t,
                        int32_t*, int64_t);

struct GemmKernel {
  const char* name;
  GemmFn fn;
  bool pair_saturating;  // vpmaddubsw semantics: each (even k, k+1) pair sum clamped to s16
  bool needs_avx2;
};

std::vector<GemmKernel> gemm_kernels() {
  std::vector<GemmKernel> out = {{"scalar", kernels::gemm_u8s8s32_scalar, false, false},
                                 {"dnnl", kernels::gemm_u8s8s32_dnnl, false, false}};
  if (detected_isa() >= Isa::kAvx2)
    out.push_back({"avx2_4x2", kernels::gemm_u8s8s32_avx2_4x2, true, true});
  return out;
}

// The integer math in double: exact for these magnitudes (|sum| < 2^53).
double reference_dot(const uint8_t* a, const int8_t* w, int64_t k, bool pair_saturating) {
  double sum = 0;
  for (int64_t p = 0; p < k; p += 2) {
    double s = static_cast<double>(a[p]) * w[p];
    if (p + 1 < k) s += static_cast<double>(a[p + 1]) * w[p + 1];
    if (pair_saturating) s = std::clamp(s, -32768.0, 32767.0);
    sum += s;
  }
  return sum;
}

struct Case {
  int64_t m, n, k;
};

void check_gemm(const GemmKernel& g, const Case& c, const std::vector<uint8_t>& a,
                const std::vector<int8_t>& w, bool expect_saturation_semantics) {
  // Row strides larger than the shape, to catch stride mistakes.
  const int64_t lda = c.k + 3, ldw = c.k + 5, ldc = c.n + 7;
  std::vector<uint8_t> ap(static_cast<size_t>(c.m * lda), 0);
  std::vector<int8_t> wp(static_cast<size_t>(c.n * ldw), 0);
  for (int64_t i = 0; i < c.m; ++i) std::copy_n(&a[i * c.k], c.k, &ap[i * lda]);
  for (int64_t j = 0; j < c.n; ++j) std::copy_n(&w[j * c.k], c.k, &wp[j * ldw]);
  std::vector<int32_t> out(static_cast<size_t>(c.m * ldc), -1);
  g.fn(c.m, c.n, c.k, ap.data(), lda, wp.data(), ldw, out.data(), ldc);
  const bool sat = g.pair_saturating && expect_saturation_semantics;
  for (int64_t i = 0; i < c.m; ++i)
    for (int64_t j = 0; j < c.n; ++j) {
      const double ref = reference_dot(&a[i * c.k], &w[j * c.k], c.k, sat);
      ASSERT_EQ(static_cast<double>(out[i * ldc + j]), ref)
          << g.name << " m=" << c.m << " n=" << c.n << " k=" << c.k << " at " << i << "," << j;
    }
}

const Case kShapes[] = {{1, 1, 1},     {1, 7, 33},    {3, 5, 17},    {4, 2, 32},  {5, 3, 64},
                        {1, 384, 384}, {7, 130, 100}, {16, 64, 768}, {33, 31, 95}};

TEST(GemmU8S8, RandomInputsInTheExactRangeMatchTheReference) {
  std::mt19937 rng(7);
  for (const auto& g : gemm_kernels())
    for (const Case& c : kShapes)
      for (int variant = 0; variant < 2; ++variant) {
        // variant 0: u7 activations x 8-bit weights; 1: u8 activations x 7-bit weights.
        const int amax = variant == 0 ? 127 : 255, wmax = variant == 0 ? 127 : 64;
        std::uniform_int_distribution<int> da(0, amax), dw(-wmax, wmax);
        std::vector<uint8_t> a(static_cast<size_t>(c.m * c.k));
        std::vector<int8_t> w(static_cast<size_t>(c.n * c.k));
        for (auto& v : a) v = static_cast<uint8_t>(da(rng));
        for (auto& v : w) v = static_cast<int8_t>(dw(rng));
        check_gemm(g, c, a, w, false);
      }
}

TEST(GemmU8S8, ExtremeInputsFollowEachKernelsContract) {
  // 255 x -128 / 127: every vpmaddubsw pair saturates. The exact kernels give the true sums
  // (oneDNN only where it is exact: where it runs VNNI, which EMBER_ISA=avx2 turns off, since it
  // caps oneDNN's ISA too), the AVX2 one the pair-saturated sums.
  for (const auto& g : gemm_kernels()) {
    if (std::string(g.name) == "dnnl" && !int8_vnni_supported()) continue;
    for (const Case& c : {Case{1, 3, 64}, Case{5, 9, 37}, Case{4, 2, 1}, Case{2, 16, 3072}})
      for (int wv : {-128, 127}) {
        std::vector<uint8_t> a(static_cast<size_t>(c.m * c.k), 255);
        std::vector<int8_t> w(static_cast<size_t>(c.n * c.k), static_cast<int8_t>(wv));
        check_gemm(g, c, a, w, true);
      }
  }
}

TEST(GemmU8S8, ExtremesOfTheExactRangeDoNotSaturate) {
  // The two ranges cpu::linear_int8 uses, at their limits: exact for every kernel.
  for (const auto& g : gemm_kernels())
    for (const Case& c : {Case{3, 5, 96}, Case{1, 2, 3}})
      for (auto [av, wv] :
           {std::pair{127, 127}, std::pair{127, -127}, std::pair{255, 64}, std::pair{255, -64}}) {
        std::vector<uint8_t> a(static_cast<size_t>(c.m * c.k), static_cast<uint8_t>(av));
        std::vector<int8_t> w(static_cast<size_t>(c.n * c.k), static_cast<int8_t>(wv));
        check_gemm(g, c, a, w, false);
      }
}

// The layout gemm_u8s8s32_avx512vnni_6x64_panels reads (kernels_int8.h), packed here by hand
// so that the kernel's contract is tested apart from oneDNN's packing.
AlignedBuffer<int8_t> pack_vnni_panels(const std::vector<int8_t>& w, int64_t n, int64_t k) {
  const int64_t npad = (n + 63) / 64 * 64, kpad = (k + 63) / 64 * 64;
  AlignedBuffer<int8_t> out(static_cast<size_t>(npad * kpad));
  std::fill_n(out.data(), npad * kpad, int8_t{0});
  for (int64_t j = 0; j < n; ++j)
    for (int64_t p = 0; p < k; ++p)
      out[static_cast<size_t>(j / 64 * 64 * kpad + p / 4 * 256 + j % 64 * 4 + p % 4)] =
          w[static_cast<size_t>(j * k + p)];
  return out;
}

// Exact for every u8 x s8 value (vpdpbusd has no int16 step), on row counts 1-17 (every tile
// height and split), N and K off the 64-column and 4-k grid, and output strides wider than N.
TEST(GemmU8S8Vnni, PanelKernelIsExactOnOddShapesAndExtremeValues) {
  if (!int8_vnni_supported()) GTEST_SKIP() << "no AVX-512 VNNI (or EMBER_ISA below avx512)";
  std::mt19937 rng(13);
  std::uniform_int_distribution<int> da(0, 255), dw(-128, 127);
  for (int64_t m = 1; m <= 17; ++m)
    for (const auto& [n, k] : {std::pair<int64_t, int64_t>{1, 1},
                               {17, 3},
                               {64, 4},
                               {65, 5},
                               {130, 63},
                               {31, 130},
                               {64, 2051}})
      for (int fill = 0; fill < 3; ++fill) {
        // fill 0: random over the whole range; 1: 255 x -128; 2: 255 x 127.
        std::vector<uint8_t> a(static_cast<size_t>(m * k));
        std::vector<int8_t> w(static_cast<size_t>(n * k));
        for (auto& v : a) v = static_cast<uint8_t>(fill == 0 ? da(rng) : 255);
        for (auto& v : w) v = static_cast<int8_t>(fill == 0 ? dw(rng) : fill == 1 ? -128 : 127);
        const auto panels = pack_vnni_panels(w, n, k);
        const int64_t ldc = n + 3;
        std::vector<int32_t> got(static_cast<size_t>(m * ldc), -7), want(got.size(), -7);
        kernels::gemm_u8s8s32_avx512vnni_6x64_panels(m, n, k, a.data(), k, panels.data(),
                                                     got.data(), ldc);
        kernels::gemm_u8s8s32_scalar(m, n, k, a.data(), k, w.data(), k, want.data(), ldc);
        ASSERT_EQ(got, want) << "m=" << m << " n=" << n << " k=" << k << " fill=" << fill;
      }
}

// oneDNN's packing for its VNNI brgemm is the layout the panel kernel reads: on the same packed
// slices, the panel kernel, oneDNN's primitive and the scalar kernel agree exactly.
TEST(GemmU8S8Vnni, PanelKernelReadsOneDnnsPackedSlices) {
  if (!int8_vnni_supported()) GTEST_SKIP() << "no AVX-512 VNNI (or EMBER_ISA below avx512)";
  using kernels::PackedGemmDnnl;
  std::mt19937 rng(17);
  std::uniform_int_distribution<int> da(0, 255), dw(-128, 127);
  for (const auto& [n, k] : {std::pair<int64_t, int64_t>{70, 33}, {384, 768}, {200, 3072}}) {
    std::vector<int8_t> w(static_cast<size_t>(n * k));
    for (auto& v : w) v = static_cast<int8_t>(dw(rng));
    for (int64_t slices : {1, 3}) {
      const auto packed = PackedGemmDnnl::pack_s8(w.data(), n, k, slices);
      ASSERT_EQ(packed->panel_max_rows(), PackedGemmDnnl::kInt8PanelMaxRows)
          << "oneDNN did not pack " << n << "x" << k << " in the VNNI panel layout";
      for (int64_t m : {1, 7, 48, 256}) {
        std::vector<uint8_t> a(static_cast<size_t>(m * k));
        for (auto& v : a) v = static_cast<uint8_t>(da(rng));
        std::vector<int32_t> want(static_cast<size_t>(m * n));
        kernels::gemm_u8s8s32_scalar(m, n, k, a.data(), k, w.data(), k, want.data(), n);
        for (auto kernel : {PackedGemmDnnl::Kernel::kPanel, PackedGemmDnnl::Kernel::kDnnl})
          for (int64_t sl = 0; sl < packed->slices(); ++sl) {
            const int64_t c0 = packed->slice_begin(sl), nc = packed->slice_width(sl);
            std::vector<int32_t> got(static_cast<size_t>(m * nc), -7);
            packed->run_slice(sl, m, a.data(), got.data(), kernel);
            for (int64_t i = 0; i < m; ++i)
              for (int64_t j = 0; j < nc; ++j)
                ASSERT_EQ(got[i * nc + j], want[i * n + c0 + j])
                    << (kernel == PackedGemmDnnl::Kernel::kPanel ? "panel" : "dnnl") << " n=" << n
                    << " k=" << k << " m=" << m << " slice " << sl << " at " << i << "," << j;
          }
      }
    }
  }
}

TEST(QuantizeRowU8, IsaTwinsAreBitIdenticalAndWithinHalfAStep) {
  for (int64_t k : {1, 7, 31, 32, 33, 384, 1000})
    for (int32_t qmax : {127, 255})
      for (int shift = 0; shift < 3; ++shift) {
        // Mixed signs, all positive, all negative.
        auto x = test::random_vec(static_cast<size_t>(k), static_cast<uint32_t>(k + qmax),
                                  shift == 1 ? 0.5f : -3.0f, shift == 2 ? -0.5f : 5.0f);
        std::vector<uint8_t> qs(static_cast<size_t>(k)), qv(static_cast<size_t>(k));
        const auto rs = kernels::quantize_row_u8_scalar(x.data(), k, qmax, qs.data());
        if (detected_isa() >= Isa::kAvx2) {
          const auto rv = kernels::quantize_row_u8_avx2(x.data(), k, qmax, qv.data());
          EXPECT_EQ(rs.scale, rv.scale);
          EXPECT_EQ(rs.zero_point, rv.zero_point);
          EXPECT_EQ(qs, qv) << "k=" << k << " qmax=" << qmax;
        }
        ASSERT_GT(rs.scale, 0.0f);
        for (int64_t i = 0; i < k; ++i) {
          ASSERT_LE(qs[i], qmax);
          const double back =
              static_cast<double>(rs.scale) * (static_cast<int>(qs[i]) - rs.zero_point);
          ASSERT_LE(std::fabs(back - x[i]), 0.5001 * rs.scale) << "k=" << k << " i=" << i;
        }
      }
  std::vector<float> zeros(40, 0.0f);
  std::vector<uint8_t> q(40, 9);
  const auto r = kernels::quantize_row_u8_scalar(zeros.data(), 40, 255, q.data());
  EXPECT_EQ(r.scale, 1.0f);
  EXPECT_EQ(r.zero_point, 0);
  EXPECT_EQ(q, std::vector<uint8_t>(40, 0));
}

// Smoothing's column scales: the row quantized is x * col_scale, bit for bit in both ISAs.
TEST(QuantizeRowU8, ColumnScalesQuantizeTheScaledRowInBothIsas) {
  for (int64_t k : {1, 7, 33, 384, 1000})
    for (int32_t qmax : {127, 255}) {
      const auto x =
          test::random_vec(static_cast<size_t>(k), static_cast<uint32_t>(k), -3.0f, 5.0f);
      const auto cs =
          test::random_vec(static_cast<size_t>(k), static_cast<uint32_t>(k + 1), 0.05f, 20.0f);
      std::vector<float> scaled(static_cast<size_t>(k));
      for (int64_t i = 0; i < k; ++i) scaled[i] = x[i] * cs[i];
      std::vector<uint8_t> qs(static_cast<size_t>(k)), qp(static_cast<size_t>(k)),
          qv(static_cast<size_t>(k));
      const auto rs = kernels::quantize_row_u8_scalar(x.data(), k, qmax, qs.data(), cs.data());
      const auto rp = kernels::quantize_row_u8_scalar(scaled.data(), k, qmax, qp.data());
      EXPECT_EQ(rs.scale, rp.scale);
      EXPECT_EQ(rs.zero_point, rp.zero_point);
      EXPECT_EQ(qs, qp) << "k=" << k << " qmax=" << qmax;
      if (detected_isa() >= Isa::kAvx2) {
        const auto rv = kernels::quantize_row_u8_avx2(x.data(), k, qmax, qv.data(), cs.data());
        EXPECT_EQ(rs.scale, rv.scale);
        EXPECT_EQ(rs.zero_point, rv.zero_point);
        EXPECT_EQ(qs, qv) << "k=" << k << " qmax=" << qmax;
      }
    }
}

TEST(DequantizeRowS32, IsaTwinsAreBitIdentical) {
  std::mt19937 rng(3);
  std::uniform_int_distribution<int32_t> dc(-3000000, 3000000), ds(-5000, 5000);
  for (int64_t n : {1, 8, 13, 384}) {
    std::vector<int32_t> c(n), sums(n);
    for (auto& v : c) v = dc(rng);
    for (auto& v : sums) v = ds(rng);
    auto ws = test::random_vec(static_cast<size_t>(n), 11, 0.001f, 0.05f);
    std::vector<float> ys(n), yv(n);
    const kernels::RowQuant row{0.0123f, 77};
    kernels::dequantize_row_s32_scalar(c.data(), n, row, ws.data(), sums.data(), ys.data());
    if (detected_isa() >= Isa::kAvx2) {
      kernels::dequantize_row_s32_avx2(c.data(), n, row, ws.data(), sums.data(), yv.data());
      EXPECT_EQ(ys, yv);
    }
    for (int64_t j = 0; j < n; ++j) {
      const double ref =
          static_cast<double>(row.scale) * ws[j] * (static_cast<double>(c[j]) - 77.0 * sums[j]);
      EXPECT_NEAR(ys[j], ref, 1e-6 * std::fabs(ref) + 1e-30);
    }
  }
}

// cpu::linear_int8 end to end against a double reference that quantizes x with the scalar
// kernel: every GEMM choice and ISA gives the same floats (the integers are exact and the
// float steps are the same operations).
TEST(LinearInt8, EveryGemmAndIsaMatchesTheReference) {
  struct Shape3 {
    int64_t m, k, n;
  };
  for (const Shape3 s : {Shape3{1, 384, 384}, Shape3{5, 33, 17}, Shape3{17, 64, 96}}) {
    for (int32_t act_max : {127, 255}) {
      const int32_t wmax = act_max == 127 ? 127 : 64;
      std::mt19937 rng(static_cast<uint32_t>(s.m * 31 + s.k + act_max));
      std::uniform_int_distribution<int> dw(-wmax, wmax);
      std::vector<int8_t> w(static_cast<size_t>(s.n * s.k));
      for (auto& v : w) v = static_cast<int8_t>(dw(rng));
      const auto scale = test::random_vec(static_cast<size_t>(s.n), 5, 0.001f, 0.02f);
      std::vector<int32_t> sums(static_cast<size_t>(s.n), 0);
      for (int64_t j = 0; j < s.n; ++j)
        for (int64_t p = 0; p < s.k; ++p) sums[j] += w[j * s.k + p];
      const auto bias = test::random_vec(static_cast<size_t>(s.n), 6);
      const auto x = test::random_vec(static_cast<size_t>(s.m * s.k), 8, -4.0f, 6.0f);
      ops::Int8Weights qw{w.data(), scale.data(), sums.data(), act_max};

      // Reference: same quantization (scalar), exact integer sums, dequantized in double.
      std::vector<double> ref(static_cast<size_t>(s.m * s.n));
      std::vector<uint8_t> q(static_cast<size_t>(s.k));
      for (int64_t i = 0; i < s.m; ++i) {
        const auto r = kernels::quantize_row_u8_scalar(&x[i * s.k], s.k, act_max, q.data());
        for (int64_t j = 0; j < s.n; ++j) {
          double acc = 0;
          for (int64_t p = 0; p < s.k; ++p) acc += static_cast<double>(q[p]) * w[j * s.k + p];
          ref[i * s.n + j] = static_cast<double>(r.scale) * scale[j] *
                                 (acc - static_cast<double>(r.zero_point) * sums[j]) +
                             bias[j];
        }
      }
      for (Isa isa : test::available_isas())
        for (cpu::Int8Gemm g : {cpu::Int8Gemm::kScalar, cpu::Int8Gemm::kAvx2, cpu::Int8Gemm::kDnnl,
                                cpu::Int8Gemm::kAuto}) {
          test::ScopedIsa scoped(isa);
          std::vector<float> y(static_cast<size_t>(s.m * (s.n + 2)), 0.0f);
          cpu::linear_int8(x.data(), s.m, s.k, s.k, qw, bias.data(), s.n, y.data(), s.n + 2,
                           Activation::kNone, nullptr, g);
          for (int64_t i = 0; i < s.m; ++i)
            for (int64_t j = 0; j < s.n; ++j) {
              const double r = ref[i * s.n + j];
              ASSERT_NEAR(y[i * (s.n + 2) + j], r, 1e-5 * (1.0 + std::fabs(r)))
                  << isa_name(isa) << " " << cpu::int8_gemm_name(g) << " m=" << s.m << " i=" << i
                  << " j=" << j;
            }
        }
    }
  }
}

TEST(LinearInt8, GeluEpilogue) {
  std::vector<int8_t> w = {10, -20, 30, 40};
  std::vector<float> scale = {0.01f, 0.02f};
  std::vector<int32_t> sums = {-10, 70};
  ops::Int8Weights qw{w.data(), scale.data(), sums.data(), 127};
  std::vector<float> x = {1.0f, -2.0f}, y(2), z(2);
  cpu::linear_int8(x.data(), 1, 2, 2, qw, nullptr, 2, y.data(), 2, cpu::Activation::kNone);
  cpu::linear_int8(x.data(), 1, 2, 2, qw, nullptr, 2, z.data(), 2, cpu::Activation::kGeluErf);
  for (int j = 0; j < 2; ++j) {
    const double v = y[j];
    EXPECT_NEAR(z[j], 0.5 * v * (1.0 + std::erf(v / std::sqrt(2.0))), 1e-5);
  }
  EXPECT_NEAR(y[0], 0.01 * (1.0 * 10 + -2.0 * -20), 0.01 * 60 * 0.02);
}

}  // namespace
}  // namespace ember
