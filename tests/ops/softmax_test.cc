// cpu::softmax against a double-precision reference, odd widths, large and -inf inputs.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "core/error.h"
#include "backends/cpu/cpu_ops.h"
#include "ops_test_util.h"

namespace ember {
namespace {

// Tolerance: 1e-6 relative to each probability, plus 1e-9 absolute for the tiny ones.
void run_case(int64_t m, int64_t n, float range, Isa isa) {
  std::vector<float> x = test::random_vec(m * n, 21, -range, range);
  const std::vector<float> x0 = x;
  cpu::softmax(x.data(), m, n);
  test::MaxError err;
  for (int64_t i = 0; i < m; ++i) {
    double max = -INFINITY, sum = 0.0;
    for (int64_t j = 0; j < n; ++j) max = std::max(max, static_cast<double>(x0[i * n + j]));
    for (int64_t j = 0; j < n; ++j) sum += std::exp(x0[i * n + j] - max);
    for (int64_t j = 0; j < n; ++j) {
      const double want = std::exp(x0[i * n + j] - max) / sum;
      err.check(x[i * n + j], want, 1e-6 * want + 1e-9,
                std::string(isa_name(isa)) + " m=" + std::to_string(m) + " n=" + std::to_string(n) +
                    " range=" + std::to_string(range));
    }
  }
}

TEST(Softmax, MatchesDoubleReferenceOnEveryIsa) {
  for (Isa isa : test::available_isas()) {
    test::ScopedIsa scope(isa);
    for (int64_t n : {1, 2, 7, 8, 9, 31, 129, 512})
      for (int64_t m : {1, 3, 17})
        for (float range : {1.0f, 30.0f, 200.0f}) run_case(m, n, range, isa);
  }
}

TEST(Softmax, NegativeInfinityGetsZeroWeight) {
  for (Isa isa : test::available_isas()) {
    test::ScopedIsa scope(isa);
    std::vector<float> x = {1.0f, -INFINITY, 1.0f, -INFINITY, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f};
    cpu::softmax(x.data(), 1, static_cast<int64_t>(x.size()));
    EXPECT_EQ(x[1], 0.0f);
    EXPECT_EQ(x[3], 0.0f);
    const double e = std::exp(1.0), sum = 2 * e + 5;
    EXPECT_NEAR(x[0], e / sum, 1e-7);
    EXPECT_NEAR(x[8], 1 / sum, 1e-7);
  }
}

TEST(Softmax, BadShapeThrows) {
  float x = 0.0f;
  EXPECT_THROW(cpu::softmax(&x, 1, 0), Error);
  EXPECT_THROW(cpu::softmax(nullptr, 1, 1), Error);
}

}  // namespace
}  // namespace ember
