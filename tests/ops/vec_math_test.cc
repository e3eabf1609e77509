// The vector approximations (erf, exp, tanh) against libm over dense grids, including the
// large-|x| tails where erf and tanh saturate and exp under/overflows.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "kernels/cpu/kernels.h"
#include "ops_test_util.h"

namespace ember {
namespace {

bool has_avx2() {
  return detected_isa() >= Isa::kAvx2;
}

// x from lo to hi in `steps` equal steps, plus the exact points 0 and +-1 (branch edges).
std::vector<float> grid(double lo, double hi, int steps) {
  std::vector<float> x;
  for (int i = 0; i <= steps; ++i) x.push_back(static_cast<float>(lo + (hi - lo) * i / steps));
  for (float e : {0.0f, -0.0f, 1.0f, -1.0f, 3.92f, -3.92f, 0.625f, -0.625f}) x.push_back(e);
  return x;
}

TEST(VecMath, ErfMatchesStdErfToOneEMinus7) {
  if (!has_avx2()) GTEST_SKIP() << "no AVX2";
  // 2M points on [-8, 8] (step 8e-6) and the far tails.
  std::vector<float> x = grid(-8.0, 8.0, 2000000);
  for (float t : {10.0f, 100.0f, 1e10f, 3.4e38f, INFINITY}) {
    x.push_back(t);
    x.push_back(-t);
  }
  std::vector<float> y(x.size());
  kernels::erf_f32_avx2(x.data(), y.data(), static_cast<int64_t>(x.size()));
  test::MaxError err;
  for (size_t i = 0; i < x.size(); ++i)
    err.check(y[i], std::erf(static_cast<double>(x[i])), 1.5e-7,
              "erf(" + std::to_string(x[i]) + ")");
  err.print("erf_f32_avx2 vs std::erf, [-8, 8] + tails");
  EXPECT_LT(err.worst, 1.5e-7);
  // Odd symmetry is exact (the sign is copied).
  for (size_t i = 0; i + 1 < x.size(); i += 997) {
    float neg = -x[i], yn = 0.0f;
    kernels::erf_f32_avx2(&neg, &yn, 1);
    EXPECT_EQ(yn, -y[i]);
  }
}

TEST(VecMath, ErfIsRelativelyAccurateNearZero) {
  if (!has_avx2()) GTEST_SKIP() << "no AVX2";
  std::vector<float> x;
  for (float v = 1e-30f; v < 1.0f; v *= 1.37f) x.push_back(v);
  std::vector<float> y(x.size());
  kernels::erf_f32_avx2(x.data(), y.data(), static_cast<int64_t>(x.size()));
  for (size_t i = 0; i < x.size(); ++i) {
    const double want = std::erf(static_cast<double>(x[i]));
    EXPECT_NEAR(y[i], want, 4e-7 * want) << "x=" << x[i];
  }
}

TEST(VecMath, ExpRelativeErrorIsAFewUlp) {
  if (!has_avx2()) GTEST_SKIP() << "no AVX2";
  const std::vector<float> x = grid(-87.0, 88.0, 1000000);
  std::vector<float> y(x.size());
  kernels::exp_f32_avx2(x.data(), y.data(), static_cast<int64_t>(x.size()));
  double worst = 0.0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double want = std::exp(static_cast<double>(x[i]));
    worst = std::max(worst, std::fabs(y[i] - want) / want);
  }
  std::printf("  max rel err exp_f32_avx2 [-87, 88]: %.3g\n", worst);
  EXPECT_LT(worst, 3e-7);
  // Under/overflow ends: -inf and very negative give 0, never NaN or garbage.
  const float ends[] = {-INFINITY, -1000.0f, -88.0f, 0.0f};
  float out[4];
  kernels::exp_f32_avx2(ends, out, 4);
  EXPECT_EQ(out[0], 0.0f);
  EXPECT_EQ(out[1], 0.0f);
  EXPECT_EQ(out[2], 0.0f);
  EXPECT_EQ(out[3], 1.0f);
}

TEST(VecMath, TanhMatchesStdTanh) {
  if (!has_avx2()) GTEST_SKIP() << "no AVX2";
  std::vector<float> x = grid(-12.0, 12.0, 1000000);
  for (float t : {1e-20f, -1e-20f, 50.0f, -50.0f, 1e30f, -1e30f}) x.push_back(t);
  std::vector<float> y = x;
  kernels::bias_tanh_f32_avx2(y.data(), nullptr, static_cast<int64_t>(y.size()));
  test::MaxError err;
  for (size_t i = 0; i < x.size(); ++i) {
    const double want = std::tanh(static_cast<double>(x[i]));
    // 3e-7 relative, and never worse than 1.2e-7 absolute.
    err.check(y[i], want, std::min(1.2e-7, 3e-7 * std::fabs(want) + 1e-30),
              "tanh(" + std::to_string(x[i]) + ")");
  }
  err.print("tanh avx2 vs std::tanh, [-12, 12] + tails");
  EXPECT_LT(err.worst, 1.2e-7);
}

}  // namespace
}  // namespace ember
