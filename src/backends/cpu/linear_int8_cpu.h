// cpu::linear_int8: a Linear layer with int8 weights and dynamically quantized activations
// (ops::Int8Weights, docs/quantization.md).
#pragma once

#include <cstdint>
#include <string_view>

#include "backends/cpu/cpu_ops.h"

namespace ember::cpu {

// The integer GEMM behind linear_int8. kAuto picks per shape (select_int8_gemm) and uses the
// packed weights where they are faster; kScalar, kAvx2 and kDnnl force one kernel on the
// unpacked weights, kPackedDnnl (oneDNN's primitive) and kPackedVnni (our AVX-512 VNNI panel
// kernel, where the CPU and the packed layout allow it, else the primitive) one on the packed
// weights for every row count (tests and benchmarks compare them).
enum class Int8Gemm { kAuto, kScalar, kAvx2, kDnnl, kPackedDnnl, kPackedVnni };
std::string_view int8_gemm_name(Int8Gemm g);
// What kAuto runs on unpacked weights for this shape on this machine (never kAuto).
Int8Gemm select_int8_gemm(int64_t m, int64_t n, int64_t k);

// y[M, N] = act(dequant(quant(x[M, K]) * w^T) + bias). bias may be null; `packed` is w.w packed
// at load (kernels/cpu/packed_gemm_dnnl.h) or null.
void linear_int8(const float* x, int64_t m, int64_t k, int64_t ldx, const ops::Int8Weights& w,
                 const float* bias, int64_t n, float* y, int64_t ldy,
                 Activation act = Activation::kNone,
                 const kernels::PackedGemmDnnl* packed = nullptr, Int8Gemm gemm = Int8Gemm::kAuto);

}  // namespace ember::cpu
