// The CPU backend's ops on raw host pointers: each checks what the backend seam cannot (its own
// kernels' preconditions), splits the work over the calling thread's compute pool
// (core/parallel.h) and picks the kernel for the active ISA (kernels/cpu: *_avx2, *_avx512 and
// their *_scalar twins). CpuBackend (cpu_backend.h) calls them; the op tests call them directly
// on every ISA. All matrices are dense row-major float32; `ld*` is a row stride in elements.
#pragma once

#include <cstdint>

#include "ops/backend.h"

namespace ember::kernels {
class PackedGemmDnnl;
}

namespace ember::cpu {

using ops::Activation;

// y[M, N] = act(x[M, K] * w[N, K]^T + bias[N]). bias may be null. w is PyTorch's Linear layout.
// `packed`, when given, is the same w packed at load (kernels/cpu/packed_gemm_dnnl.h); it is
// used where it is faster (dense x and at least 2 rows), w everywhere else.
void linear(const float* x, int64_t m, int64_t k, int64_t ldx, const float* w, const float* bias,
            int64_t n, float* y, int64_t ldy, Activation act = Activation::kNone,
            const kernels::PackedGemmDnnl* packed = nullptr);

// x[M, N] = LayerNorm(x + residual) * gamma + beta, rows normalised over N. residual may be
// null (plain LayerNorm), beta may be null (no shift). x and residual have row stride ld
// (0: N).
void add_layer_norm(float* x, const float* residual, int64_t m, int64_t n, const float* gamma,
                    const float* beta, float eps, int64_t ld = 0);
// x[M, N] = RMSNorm(x + residual) * gamma (+ beta), each run of `group` columns normalised on
// its own (group == n: the whole row; per-head norms otherwise).
void add_rms_norm(float* x, const float* residual, int64_t m, int64_t n, int64_t group,
                  const float* gamma, const float* beta, float eps, int64_t ld = 0);

// In-place row softmax of x[M, N] (max-subtracted, numerically stable).
void softmax(float* x, int64_t m, int64_t n);

// In-place activation of x[M, N] (no bias).
void activation(float* x, int64_t m, int64_t n, Activation act);

// Multi-head self-attention over a packed batch: sequence s spans rows
// [cu_seqlens[s], cu_seqlens[s+1]) of q, k and v (q [T, heads * head_dim], k and v
// [T, kv_heads * head_dim], row strides ldq/ldk/ldv). out[T, heads * head_dim] (row stride
// ldo) = softmax(q k^T * scale + bias, mask) v per sequence and head (ops::AttentionArgs); no
// token attends across sequences, no padding exists.
void attention(const float* q, int64_t ldq, const float* k, int64_t ldk, const float* v,
               int64_t ldv, const int32_t* cu_seqlens, int64_t batch,
               const ops::AttentionArgs& args, float* out, int64_t ldo);
// The head kernel cpu::attention runs for args on this CPU and active ISA, named as in
// kernels/cpu/kernels.h ("attention_head_bf16_avx512bf16", "attention_head_f32_avx2", ...):
// bf16 when args.bf16 and the CPU has avx512_bf16, else the active ISA's fp32 kernel.
const char* attention_kernel_name(const ops::AttentionArgs& args);

// DeBERTa's disentangled self-attention over a packed batch (ops::DisentangledAttentionArgs):
// q, k, v, out [T, heads * head_dim]; pos_query, pos_key [rows, heads * head_dim] (projected
// relative embeddings), each with its row stride. Per (sequence, head, query range), the
// content-to-position and position-to-content terms are GEMMs against the table rows the
// range's distances read, gathered into a score bias of the attention head kernel.
void disentangled_attention(const float* q, int64_t ldq, const float* k, int64_t ldk,
                            const float* v, int64_t ldv, const float* pos_query, int64_t ldpq,
                            const float* pos_key, int64_t ldpk, const int32_t* cu_seqlens,
                            int64_t batch, const ops::DisentangledAttentionArgs& args, float* out,
                            int64_t ldo);

}  // namespace ember::cpu
