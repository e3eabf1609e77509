// Helpers for the ops tests: every ISA this CPU has, a scope that forces one, random data, and
// double-precision references.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <numbers>
#include <random>
#include <string>
#include <vector>

#include "core/cpu_features.h"
#include "backends/cpu/cpu_ops.h"

namespace ember::test {

// Every ISA level up to the detected one (AVX-512 machines also run the AVX2 and scalar
// paths).
inline std::vector<Isa> available_isas() {
  std::vector<Isa> out;
  for (int i = 0; i <= static_cast<int>(detected_isa()); ++i) out.push_back(static_cast<Isa>(i));
  return out;
}

class ScopedIsa {
 public:
  explicit ScopedIsa(Isa isa) : saved_(active_isa()) { set_isa(isa); }
  ~ScopedIsa() { set_isa(saved_); }
  ScopedIsa(const ScopedIsa&) = delete;
  ScopedIsa& operator=(const ScopedIsa&) = delete;

 private:
  Isa saved_;
};

inline std::vector<float> random_vec(size_t n, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

inline double gelu_erf_ref(double v) {
  return 0.5 * v * (1.0 + std::erf(v / std::sqrt(2.0)));
}
inline double gelu_tanh_ref(double v) {
  return 0.5 * v *
         (1.0 + std::tanh(std::sqrt(2.0 / std::numbers::pi) * (v + 0.044715 * v * v * v)));
}

// Double-precision reference of every activation.
inline double act_ref(cpu::Activation act, double v) {
  switch (act) {
    case cpu::Activation::kNone:
      return v;
    case cpu::Activation::kGeluErf:
      return gelu_erf_ref(v);
    case cpu::Activation::kGeluTanh:
      return gelu_tanh_ref(v);
    case cpu::Activation::kRelu:
      return v > 0 ? v : 0;
    case cpu::Activation::kTanh:
      return std::tanh(v);
    case cpu::Activation::kSilu:
      return v / (1.0 + std::exp(-v));
  }
  return NAN;
}

// Tracks the worst |got - want| against a tolerance, reporting the first failure with context.
struct MaxError {
  double worst = 0.0;
  int failures = 0;
  void check(double got, double want, double tol, const std::string& where) {
    const double err = std::fabs(got - want);
    if (!(err <= tol)) {  // NaN fails too
      if (failures++ < 5)
        ADD_FAILURE() << where << ": got " << got << ", want " << want << " (err " << err
                      << " > tol " << tol << ")";
    }
    if (err > worst || std::isnan(err)) worst = err;
  }
  // The measured error, printed so that tolerances can be judged from a test log.
  void print(const std::string& what) const {
    std::printf("  max |err| %-44s %.3g\n", what.c_str(), worst);
  }
};

}  // namespace ember::test
