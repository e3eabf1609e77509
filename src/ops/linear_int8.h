// ops::linear_int8: a Linear layer with int8 weights and dynamically quantized activations
// (docs/quantization.md). Per row i of x: q_i = u8 quantization with scale s_i and zero point
// z_i; per output channel j: int8 weights w_j with scale t_j and column sum S_j = sum_k w_jk.
//   y_ij = act(s_i t_j (sum_k q_ik w_jk - z_i S_j) + bias_j)
#pragma once

#include <cstdint>
#include <string_view>

#include "ops/ops.h"

namespace ember::ops {

struct Int8Weights {
  const int8_t* w = nullptr;         // [n, k], symmetric per output channel
  const float* scale = nullptr;      // [n], > 0
  const int32_t* col_sum = nullptr;  // [n], sum over k of w
  // Activations are quantized to [0, act_max]. 127 (u7) with 8-bit weights and 255 with
  // 7-bit weights (reduce_range), so that no pair sum of vpmaddubsw can saturate and every
  // GEMM kernel gives the same integers.
  int32_t act_max = 127;
  // w packed at load (kernels/cpu/packed_gemm_dnnl.h), or null: used where it is faster.
  const kernels::PackedGemmDnnl* packed = nullptr;
};

// The integer GEMM behind linear_int8. kAuto picks per shape (select_int8_gemm); the others
// force a kernel (tests, benchmarks, or EMBER_INT8_GEMM=scalar|avx2|dnnl|auto).
enum class Int8Gemm { kAuto, kScalar, kAvx2, kDnnl };
std::string_view int8_gemm_name(Int8Gemm g);
Int8Gemm parse_int8_gemm(std::string_view name);  // kInvalidInput for an unknown name
void set_int8_gemm(Int8Gemm g);
Int8Gemm int8_gemm();  // the override in force (kAuto when none)
// What kAuto runs for this shape on this machine (never kAuto).
Int8Gemm select_int8_gemm(int64_t m, int64_t n, int64_t k);

// y[M, N] = act(dequant(quant(x[M, K]) * w^T) + bias). bias may be null.
void linear_int8(const float* x, int64_t m, int64_t k, int64_t ldx, const Int8Weights& w,
                 const float* bias, int64_t n, float* y, int64_t ldy,
                 Activation act = Activation::kNone);

}  // namespace ember::ops
