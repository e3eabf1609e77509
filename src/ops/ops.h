// The ops the model layer calls. Each op checks its arguments and dispatches to a kernel
// for the active ISA (kernels/cpu/*_avx2.cc, *_avx512.cc, with *_scalar.cc twins).
// All matrices are dense row-major float32; `ld*` is a row stride in elements, so that the
// fused QKV output ([T, 3H]) can be read as Q, K and V without copies.
#pragma once

#include <cstdint>

namespace ember::kernels {
class PackedGemmDnnl;
}

namespace ember::ops {

enum class Activation { kNone, kGeluErf, kGeluTanh, kRelu, kTanh };

// "none", "gelu_erf", "gelu_tanh", "relu", "tanh": for messages and test names.
const char* activation_name(Activation act);

// y[M, N] = act(x[M, K] * w[N, K]^T + bias[N]). bias may be null. w is PyTorch's Linear layout.
// `packed`, when given, is the same w packed at load (kernels/cpu/packed_gemm_dnnl.h); it is
// used where it is faster (dense x and at least 2 rows), w everywhere else.
void linear(const float* x, int64_t m, int64_t k, int64_t ldx, const float* w, const float* bias,
            int64_t n, float* y, int64_t ldy, Activation act = Activation::kNone,
            const kernels::PackedGemmDnnl* packed = nullptr);

// x[M, N] = LayerNorm(x + residual) * gamma + beta, rows normalised over N. residual may be
// null (plain LayerNorm).
void add_layer_norm(float* x, const float* residual, int64_t m, int64_t n, const float* gamma,
                    const float* beta, float eps);

// In-place row softmax of x[M, N] (max-subtracted, numerically stable).
void softmax(float* x, int64_t m, int64_t n);

// In-place activation of x[M, N] (no bias).
void activation(float* x, int64_t m, int64_t n, Activation act);

// Multi-head self-attention over a packed batch: sequence s spans rows
// [cu_seqlens[s], cu_seqlens[s+1]) of q, k and v (each [T, heads * head_dim], row strides
// ldq/ldk/ldv). out[T, heads * head_dim] (row stride ldo) = softmax(q k^T * scale) v per
// sequence and head; no token attends across sequences, no padding exists.
void attention(const float* q, int64_t ldq, const float* k, int64_t ldk, const float* v,
               int64_t ldv, const int32_t* cu_seqlens, int64_t batch, int64_t heads,
               int64_t head_dim, float scale, float* out, int64_t ldo);

}  // namespace ember::ops
