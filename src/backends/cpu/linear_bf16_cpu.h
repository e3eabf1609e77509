// cpu::linear_bf16: a Linear layer with bfloat16 weights packed for oneDNN's bf16 matmul
// (ops::LinearSource::w_bf16; docs/bf16.md). Only where core/cpu_features.h's
// bf16_gemm_supported(): elsewhere the CPU backend widens bf16 weights to fp32 at prepare time.
#pragma once

#include <cstdint>

#include "backends/cpu/cpu_ops.h"

namespace ember::cpu {

// y[M, N] = act(bf16(x[M, K]) w^T + bias), products accumulated in fp32. x and y may be
// strided (ldx >= k, ldy >= n); bias may be null; `packed` is of type kBF16.
void linear_bf16(const float* x, int64_t m, int64_t k, int64_t ldx,
                 const kernels::PackedGemmDnnl& packed, const float* bias, int64_t n, float* y,
                 int64_t ldy, Activation act = Activation::kNone);

}  // namespace ember::cpu
