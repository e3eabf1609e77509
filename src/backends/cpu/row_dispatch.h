// Internal to the CPU backend: ISA choice and row-kernel lookup shared by the op files.
#pragma once

#include <cstdint>
#include <string>

#include "backends/cpu/cpu_ops.h"
#include "core/cpu_features.h"

namespace ember::cpu::detail {

// AVX-512 machines run the AVX2 kernels until AVX-512 twins exist.
inline bool use_avx2() {
  return active_isa() != Isa::kScalar;
}

// Rows per parallel chunk so that a chunk holds at least ~16K elements: below that the
// fork/join of a parallel region costs more than the work.
inline int64_t row_grain(int64_t n) {
  return n >= 16384 ? 1 : (16384 + n - 1) / n;
}

using RowEpilogue = void (*)(float* y, const float* bias, int64_t n);

// y = act(y + bias) for one row, for the active ISA; null when there is nothing to do
// (kNone without bias).
RowEpilogue row_epilogue(Activation act, bool has_bias);

// "<op> MxK->N [+act]": the EMBER_PROFILE label of a Linear call (cpu::linear, linear_int8);
// built only when profiling is on.
std::string linear_profile_label(const char* op, int64_t m, int64_t k, int64_t n, Activation act);

}  // namespace ember::cpu::detail
