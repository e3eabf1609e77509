// cpu::activation for every activation and ISA against double-precision references.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/error.h"
#include "backends/cpu/cpu_ops.h"
#include "ops_test_util.h"

namespace ember {
namespace {

using ops::Activation;

// Stated tolerances: GELU (both forms) and SiLU 1e-6 absolute up to |x| = 1, then 2e-7 relative to |x|
// (the float rounding of 0.5 x itself); tanh 2e-7; ReLU and identity exact.
double act_tol(Activation act, double v) {
  switch (act) {
    case Activation::kGeluErf:
    case Activation::kGeluTanh:
    case Activation::kSilu:
      return 1e-6 * std::max(1.0, 0.2 * std::fabs(v));
    case Activation::kTanh:
      return 2e-7;
    default:
      return 0.0;
  }
}

const Activation kAll[] = {Activation::kNone, Activation::kGeluErf, Activation::kGeluTanh,
                           Activation::kRelu, Activation::kTanh, Activation::kSilu};

TEST(Activation, MatchesDoubleReferenceOnEveryIsa) {
  for (Isa isa : test::available_isas()) {
    test::ScopedIsa scope(isa);
    for (Activation act : kAll) {
      for (auto [m, n] : {std::pair<int64_t, int64_t>{1, 1}, {3, 7}, {17, 33}, {5, 1000}}) {
        const std::vector<float> x0 = test::random_vec(m * n, 7, -12.0f, 12.0f);
        std::vector<float> x = x0;
        cpu::activation(x.data(), m, n, act);
        test::MaxError err;
        for (int64_t i = 0; i < m * n; ++i)
          err.check(x[i], test::act_ref(act, x0[i]), act_tol(act, x0[i]),
                    std::string(isa_name(isa)) + " act " + std::to_string(static_cast<int>(act)) +
                        " x=" + std::to_string(x0[i]));
      }
    }
  }
}

TEST(Activation, DenseGridIncludingTails) {
  std::vector<float> x0;
  for (int i = -400000; i <= 400000; ++i) x0.push_back(static_cast<float>(i) * 2.5e-5f);  // +-10
  for (float t : {-1e4f, -100.0f, -30.0f, 30.0f, 100.0f, 1e4f}) x0.push_back(t);
  for (Activation act :
       {Activation::kGeluErf, Activation::kGeluTanh, Activation::kTanh, Activation::kSilu}) {
    for (Isa isa : test::available_isas()) {
      test::ScopedIsa scope(isa);
      std::vector<float> x = x0;
      cpu::activation(x.data(), 1, static_cast<int64_t>(x.size()), act);
      test::MaxError err;
      const std::string name = std::string(activation_name(act)) + " " + std::string(isa_name(isa));
      for (size_t i = 0; i < x.size(); ++i)
        err.check(x[i], test::act_ref(act, x0[i]), act_tol(act, x0[i]),
                  name + " x=" + std::to_string(x0[i]));
      err.print(name + " [-10, 10] + tails");
    }
  }
}

TEST(Activation, NegativeShapeIsAnErrorNotACrash) {
  float x = 1.0f;
  EXPECT_THROW(cpu::activation(&x, -1, 1, Activation::kRelu), Error);
  cpu::activation(nullptr, 0, 5, Activation::kRelu);  // empty is fine
}

}  // namespace
}  // namespace ember
