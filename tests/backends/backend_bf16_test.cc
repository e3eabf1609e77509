// bf16 Linears (ops::LinearSource::w_bf16) through the CPU backend on every ISA this machine has
// (packed and unpacked) against the reference backend, which computes the definition: x rounded
// to bf16 (nearest even), exact products summed in double. Where the CPU has avx512_bf16 the CPU
// backend runs oneDNN's bf16 matmul (fp32 accumulation), so only the summation order differs;
// elsewhere it widens the weights to fp32 and keeps x in fp32, so the bound is x's rounding.
// Also the f32 -> bf16 conversion kernels against core/dtype.h's float_to_bf16.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "backends/cpu/cpu_backend.h"
#include "backends/reference/reference_backend.h"
#include "core/cpu_features.h"
#include "core/dtype.h"
#include "core/error.h"
#include "kernels/cpu/kernels.h"
#include "ops/backend.h"
#include "ops/ops_test_util.h"

namespace ember {
namespace {

using ops::Activation;
using ops::View;

std::vector<uint16_t> to_bf16(const std::vector<float>& v) {
  std::vector<uint16_t> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = float_to_bf16(v[i]);
  return out;
}

TEST(Bf16, RoundsToNearestEven) {
  // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties go to the even mantissa (1.0).
  EXPECT_EQ(float_to_bf16(1.0f + 0x1p-8f), 0x3f80);
  EXPECT_EQ(float_to_bf16(1.0f + 3 * 0x1p-8f), 0x3f82);         // tie, odd below: up
  EXPECT_EQ(float_to_bf16(1.0f + 0x1p-8f + 0x1p-20f), 0x3f81);  // above the tie: up
  EXPECT_EQ(float_to_bf16(-2.0f), 0xc000);
  EXPECT_EQ(float_to_bf16(std::numeric_limits<float>::infinity()), 0x7f80);
  EXPECT_EQ(float_to_bf16(std::numeric_limits<float>::max()), 0x7f80);  // rounds up to inf
  EXPECT_TRUE(std::isnan(bf16_to_float(float_to_bf16(std::numeric_limits<float>::quiet_NaN()))));
  // A NaN whose payload sits only in the low 16 bits must stay a NaN, not become infinity.
  EXPECT_TRUE(std::isnan(bf16_to_float(float_to_bf16(std::bit_cast<float>(0x7f800001u)))));
  EXPECT_EQ(float_to_bf16(-0x1p-140f), 0x8000);  // subnormal: a zero of its sign
  for (float f : {0.0f, 1.0f, -0.5f, 3.140625f, 65280.0f})
    EXPECT_EQ(bf16_to_float(float_to_bf16(f)), f) << f;  // exact in bf16: unchanged
}

TEST(Bf16, ConversionKernelsAgree) {
  if (!bf16_gemm_supported()) GTEST_SKIP() << "no avx512_bf16 on this CPU";
  auto x = test::random_vec(1000, 21, -300.0f, 300.0f);
  x[3] = std::numeric_limits<float>::quiet_NaN();
  x[4] = -std::numeric_limits<float>::infinity();
  x[5] = 1.0f + 0x1p-8f;
  x[6] = -0x1p-140f;
  x[7] = std::numeric_limits<float>::max();
  for (int64_t n : {1, 15, 16, 17, 31, 32, 33, 64, 999, 1000}) {
    std::vector<uint16_t> a(static_cast<size_t>(n)), b(static_cast<size_t>(n) + 1, 0xabcd);
    kernels::f32_to_bf16_scalar(x.data(), n, a.data());
    kernels::f32_to_bf16_avx512bf16(x.data(), n, b.data());
    for (int64_t i = 0; i < n; ++i) {
      if (std::isnan(x[i]))
        EXPECT_TRUE(std::isnan(bf16_to_float(b[i]))) << "n " << n << " element " << i;
      else
        EXPECT_EQ(a[i], b[i]) << "n " << n << " element " << i << " value " << x[i];
    }
    EXPECT_EQ(b[static_cast<size_t>(n)], 0xabcd) << "n " << n << ": wrote past the end";
  }
}

struct Shape3 {
  int64_t m, k, n;
};

// y = act(bf16(x) w^T + b) with x and y strided views of one buffer; returns y's rows densely.
std::vector<float> run_linear(ops::Backend& be, const ops::LinearSource& src,
                              const std::vector<float>& x, Shape3 s, Activation act) {
  const int64_t ldx = s.k + 3, ldy = s.n + 5;
  std::vector<float> buf(static_cast<size_t>(s.m * ldx + s.m * ldy), 7.0f);
  for (int64_t i = 0; i < s.m; ++i)
    for (int64_t p = 0; p < s.k; ++p) buf[i * ldx + p] = x[i * s.k + p];
  const auto l = be.prepare_linear(src);
  float* y = buf.data() + s.m * ldx;
  be.linear(*l, View{buf.data(), s.m, s.k, ldx}, View{y, s.m, s.n, ldy}, act);
  std::vector<float> out(static_cast<size_t>(s.m * s.n));
  for (int64_t i = 0; i < s.m; ++i)
    for (int64_t j = 0; j < s.n; ++j) out[i * s.n + j] = y[i * ldy + j];
  return out;
}

TEST(Bf16, LinearMatchesTheReferenceOnEveryIsa) {
  for (Shape3 s : {Shape3{1, 32, 48}, Shape3{3, 384, 384}, Shape3{17, 384, 1536},
                   Shape3{70, 96, 200}, Shape3{300, 64, 130}}) {
    const auto w = test::random_vec(static_cast<size_t>(s.n * s.k), 1, -0.2f, 0.2f);
    const auto b = test::random_vec(static_cast<size_t>(s.n), 2);
    const auto x = test::random_vec(static_cast<size_t>(s.m * s.k), 3, -2.0f, 2.0f);
    const auto wb = to_bf16(w);
    ops::LinearSource src;
    src.out = s.n;
    src.in = s.k;
    src.w_bf16 = wb.data();
    src.b = b.data();
    // |x| |w| summed per output: the scale of the rounding errors.
    std::vector<double> mag(static_cast<size_t>(s.m * s.n), 0.0);
    for (int64_t i = 0; i < s.m; ++i)
      for (int64_t j = 0; j < s.n; ++j)
        for (int64_t p = 0; p < s.k; ++p)
          mag[i * s.n + j] += std::fabs(x[i * s.k + p] * bf16_to_float(wb[j * s.k + p]));
    for (Activation act : {Activation::kNone, Activation::kGeluErf, Activation::kRelu}) {
      reference::ReferenceBackend ref;
      const auto want = run_linear(ref, src, x, s, act);
      for (Isa isa : test::available_isas())
        for (bool pack : {false, true}) {
          test::ScopedIsa scope(isa);
          cpu::CpuBackendOptions o;
          o.pool.threads = 2;
          o.pack_weights = pack;
          cpu::CpuBackend cpu(o);
          const auto got = run_linear(cpu, src, x, s, act);
          const bool native = bf16_gemm_supported();
          EXPECT_EQ(cpu.bf16_native(), native);
          EXPECT_EQ(cpu.widened_bf16(), !native);
          // Native: fp32 accumulation of exact products. Widened: x is not rounded, so each
          // product may differ by up to 2^-9 of itself.
          const double rel = native ? 1e-5 : 0x1p-8;
          const std::string what =
              cat("linear bf16 ", s.m, "x", s.k, "->", s.n, " ", ops::activation_name(act), " on ",
                  isa_name(isa), pack ? "/packed" : "");
          test::MaxError err;
          for (size_t i = 0; i < got.size(); ++i)
            err.check(got[i], want[i], 1e-6 + rel * mag[i], what + " element " + std::to_string(i));
        }
    }
  }
}

}  // namespace
}  // namespace ember
