// cpu::linear: GEMM + bias + activation against a double-precision reference, for every ISA,
// activation, with and without bias, odd sizes, and strided input/output rows.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "core/error.h"
#include "backends/cpu/cpu_ops.h"
#include "ops_test_util.h"

namespace ember {
namespace {

using cpu::Activation;

struct Case {
  int64_t m, k, n, ldx_pad, ldy_pad;
};

// Tolerance: the float GEMM's rounding, ~K * 2^-24 * sum|x w| at worst; 2e-6 * sum|x w|
// covers K up to ~30 ulps of headroom and still catches a wrong bias (errors of ~0.1 or more).
void run_case(const Case& c, Activation act, bool with_bias, Isa isa) {
  const int64_t ldx = c.k + c.ldx_pad, ldy = c.n + c.ldy_pad;
  const std::vector<float> x = test::random_vec(c.m * ldx, 1);
  const std::vector<float> w = test::random_vec(c.n * c.k, 2);
  const std::vector<float> bias = test::random_vec(c.n, 3);
  const float kSentinel = 12345.0f;
  std::vector<float> y(c.m * ldy, kSentinel);
  cpu::linear(x.data(), c.m, c.k, ldx, w.data(), with_bias ? bias.data() : nullptr, c.n, y.data(),
              ldy, act);
  test::MaxError err;
  const std::string where = std::string(isa_name(isa)) + " m=" + std::to_string(c.m) +
                            " k=" + std::to_string(c.k) + " n=" + std::to_string(c.n) +
                            " act=" + std::to_string(static_cast<int>(act)) +
                            (with_bias ? " bias" : " no bias");
  for (int64_t i = 0; i < c.m; ++i) {
    for (int64_t j = 0; j < c.n; ++j) {
      double acc = with_bias ? bias[j] : 0.0, mag = std::fabs(acc);
      for (int64_t p = 0; p < c.k; ++p) {
        acc += static_cast<double>(x[i * ldx + p]) * w[j * c.k + p];
        mag += std::fabs(static_cast<double>(x[i * ldx + p]) * w[j * c.k + p]);
      }
      err.check(y[i * ldy + j], test::act_ref(act, acc), 2e-6 * mag + 1e-6,
                where + " at (" + std::to_string(i) + "," + std::to_string(j) + ")");
    }
    for (int64_t j = c.n; j < ldy; ++j)
      ASSERT_EQ(y[i * ldy + j], kSentinel) << where << ": wrote past n in row " << i;
  }
}

TEST(Linear, EveryActivationBiasAndIsa) {
  // M = 8, 24, 40 and 17 cover the AVX2 path's 16-row tiles, 8-row tiles and few-row tail;
  // K = 1024 its variant for w rows 4 KiB apart; M = 64 the largest M our kernels take, M = 65
  // the first that oneDNN takes (column blocks), M = 100 and 128 oneDNN with tile-edge N and
  // padded strides.
  const Case cases[] = {{1, 1, 1, 0, 0},     {1, 37, 19, 0, 0},     {3, 64, 33, 5, 7},
                        {8, 40, 70, 0, 0},   {17, 129, 45, 0, 3},   {17, 31, 200, 2, 0},
                        {24, 100, 77, 1, 0}, {40, 1024, 30, 0, 2},  {64, 384, 96, 0, 16},
                        {100, 96, 70, 3, 1}, {128, 384, 134, 0, 0}, {65, 64, 40, 0, 0}};
  const Activation acts[] = {Activation::kNone, Activation::kGeluErf, Activation::kGeluTanh,
                             Activation::kRelu, Activation::kTanh};
  for (Isa isa : test::available_isas()) {
    test::ScopedIsa scope(isa);
    for (const Case& c : cases)
      for (Activation act : acts)
        for (bool with_bias : {false, true}) run_case(c, act, with_bias, isa);
  }
}

TEST(Linear, EncoderShapeWithFusedQkvStrideAndLargeM) {
  // The shape of a fused QKV projection of a 2x77-token batch, written into a wider buffer.
  for (Isa isa : test::available_isas()) {
    test::ScopedIsa scope(isa);
    run_case({154, 384, 1152, 0, 8}, Activation::kNone, true, isa);
  }
}

TEST(Linear, BadArgumentsThrowInsteadOfAborting) {
  std::vector<float> x(16), w(16), y(16);
  auto call = [&](int64_t m, int64_t k, int64_t ldx, int64_t n, int64_t ldy) {
    cpu::linear(x.data(), m, k, ldx, w.data(), nullptr, n, y.data(), ldy);
  };
  EXPECT_THROW(call(2, 4, 3, 2, 2), Error);   // ldx < k
  EXPECT_THROW(call(2, 4, 4, 3, 2), Error);   // ldy < n
  EXPECT_THROW(call(-1, 4, 4, 2, 2), Error);  // negative m
  EXPECT_THROW(call(2, 0, 4, 2, 2), Error);   // k = 0
  try {
    cpu::linear(x.data(), 2, 4, 4, nullptr, nullptr, 2, y.data(), 2);
    ADD_FAILURE() << "null weight accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInternal);
    EXPECT_NE(std::string(e.what()).find("linear"), std::string::npos) << e.what();
  }
  EXPECT_THROW(cpu::linear(x.data(), 2, 4, 4, w.data(), nullptr, 2, y.data(), 2,
                           static_cast<Activation>(99)),
               Error);
  call(0, 4, 4, 2, 2);  // no rows: nothing to do, no error
}

}  // namespace
}  // namespace ember
