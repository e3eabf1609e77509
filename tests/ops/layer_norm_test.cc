// cpu::add_layer_norm against a double-precision reference: with and without residual, odd
// widths, BERT's eps 1e-12, and rows whose mean is far larger than their spread.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "core/error.h"
#include "backends/cpu/cpu_ops.h"
#include "ops_test_util.h"

namespace ember {
namespace {

// Reference: the residual add in float (as PyTorch does it), LayerNorm in double.
std::vector<double> reference(const std::vector<float>& x, const float* residual, int64_t m,
                              int64_t n, const std::vector<float>& gamma,
                              const std::vector<float>& beta, double eps) {
  std::vector<double> out(m * n);
  for (int64_t i = 0; i < m; ++i) {
    std::vector<double> s(n);
    double mean = 0.0, var = 0.0;
    for (int64_t j = 0; j < n; ++j) {
      s[j] = residual ? static_cast<double>(x[i * n + j] + residual[i * n + j]) : x[i * n + j];
      mean += s[j];
    }
    mean /= n;
    for (int64_t j = 0; j < n; ++j) var += (s[j] - mean) * (s[j] - mean);
    var /= n;
    for (int64_t j = 0; j < n; ++j)
      out[i * n + j] = (s[j] - mean) / std::sqrt(var + eps) * gamma[j] + beta[j];
  }
  return out;
}

// Tolerance 2e-6 * (|gamma| + 1): the output is O(gamma) and float gives ~1e-7 per step.
void run_case(int64_t m, int64_t n, bool with_residual, float offset, float spread, Isa isa) {
  std::vector<float> x = test::random_vec(m * n, 11, offset - spread, offset + spread);
  const std::vector<float> residual = test::random_vec(m * n, 12, -spread, spread);
  const std::vector<float> gamma = test::random_vec(n, 13, 0.5f, 2.0f);
  const std::vector<float> beta = test::random_vec(n, 14);
  const float* r = with_residual ? residual.data() : nullptr;
  const std::vector<double> want = reference(x, r, m, n, gamma, beta, 1e-12);
  cpu::add_layer_norm(x.data(), r, m, n, gamma.data(), beta.data(), 1e-12f);
  test::MaxError err;
  for (int64_t i = 0; i < m * n; ++i)
    err.check(x[i], want[i], 2e-6 * (std::fabs(gamma[i % n]) + 1.0),
              std::string(isa_name(isa)) + " m=" + std::to_string(m) + " n=" + std::to_string(n) +
                  (with_residual ? " residual" : "") + " offset=" + std::to_string(offset) +
                  " at " + std::to_string(i));
  if (offset != 0.0f)
    err.print("layer_norm offset " + std::to_string(offset) + " " + std::string(isa_name(isa)));
}

TEST(AddLayerNorm, WithAndWithoutResidualOnEveryIsa) {
  for (Isa isa : test::available_isas()) {
    test::ScopedIsa scope(isa);
    for (int64_t n : {1, 7, 8, 9, 17, 33, 384, 385, 768, 1000})
      for (int64_t m : {1, 3, 17})
        for (bool res : {false, true}) run_case(m, n, res, 0.0f, 3.0f, isa);
  }
}

TEST(AddLayerNorm, MeanFarLargerThanSpreadKeepsPrecision) {
  // Hidden states with a large common offset: E[x^2] - E[x]^2 would lose every digit here.
  for (Isa isa : test::available_isas()) {
    test::ScopedIsa scope(isa);
    run_case(5, 768, true, 1000.0f, 1.0f, isa);
    run_case(5, 385, false, -300.0f, 0.01f, isa);
  }
}

TEST(AddLayerNorm, ConstantRowGivesBetaNotNaN) {
  for (Isa isa : test::available_isas()) {
    test::ScopedIsa scope(isa);
    std::vector<float> x(37, 2.5f), gamma(37, 1.0f), beta = test::random_vec(37, 3);
    cpu::add_layer_norm(x.data(), nullptr, 1, 37, gamma.data(), beta.data(), 1e-12f);
    for (int i = 0; i < 37; ++i) EXPECT_FLOAT_EQ(x[i], beta[i]) << isa_name(isa);
  }
}

TEST(AddLayerNorm, BadArgumentsThrow) {
  std::vector<float> x(8), g(8), b(8);
  EXPECT_THROW(cpu::add_layer_norm(x.data(), nullptr, 1, 0, g.data(), b.data(), 1e-5f), Error);
  EXPECT_THROW(cpu::add_layer_norm(x.data(), nullptr, 1, 8, nullptr, b.data(), 1e-5f), Error);
  try {
    cpu::add_layer_norm(x.data(), nullptr, 1, 8, g.data(), b.data(), NAN);
    ADD_FAILURE() << "NaN eps accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidInput);
  }
}

}  // namespace
}  // namespace ember
