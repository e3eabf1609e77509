// CPU kernels: one row (or one attention head) at a time, single-threaded; ops/ checks the
// arguments, splits the work over threads and picks the ISA. Names carry dtype and ISA.
// Every *_avx2 kernel has a *_scalar twin that computes the same thing without SIMD; the
// twins are the fallback on CPUs without AVX2 and the reference in tests. The AVX2 kernels
// also serve AVX-512 machines where no *_avx512 twin exists (attention has one).
#pragma once

#include <cstddef>
#include <cstdint>

namespace ember::kernels {

// --- GEMM -----------------------------------------------------------------------------------
// y[M, N] = x[M, K] * w[N, K]^T (row-major, w in PyTorch's Linear layout), through oneDNN's
// dnnl_sgemm, single-threaded on the calling thread (ops/ threads the calls). Throws
// Error(kInternal) if oneDNN fails.
void sgemm_nt_f32_dnnl(int64_t m, int64_t n, int64_t k, const float* x, int64_t ldx, const float* w,
                       int64_t ldw, float* y, int64_t ldy);
// The same product on the calling thread with our AVX-512 kernel (4x4 tiles of dot products
// along K, w in [N, K] layout as is): for small M, where it beats oneDNN (docs/gemm.md).
void sgemm_nt_f32_avx512_dot4x4(int64_t m, int64_t n, int64_t k, const float* x, int64_t ldx,
                                const float* w, int64_t ldw, float* y, int64_t ldy);
// Its AVX2 + FMA twin for CPUs without AVX-512 (3x4 tiles: 16 ymm registers), K in blocks.
// None of our GEMM kernels has a scalar twin: without AVX2, ops::linear uses oneDNN, and the
// tests compare them with a double-precision reference.
void sgemm_nt_f32_avx2_dot3x4(int64_t m, int64_t n, int64_t k, const float* x, int64_t ldx,
                              const float* w, int64_t ldw, float* y, int64_t ldy);
// The same on AVX2 as an outer-product GEMM (tiles of 6 columns x 16 rows, 12 x 8 for a last
// 8 rows; x transposed per call, 16 rows at a time): for M >= 8, where it beats both the
// dot-product tiles and oneDNN up to M = 64 (docs/gemm.md), on AVX2 and AVX-512 CPUs. Rows
// past a multiple of 8 waste vector lanes: ops::linear gives those to a dot-product kernel.
void sgemm_nt_f32_avx2_6x16(int64_t m, int64_t n, int64_t k, const float* x, int64_t ldx,
                            const float* w, int64_t ldw, float* y, int64_t ldy);
// y[M, N] = x[M, K] w^T with w pre-packed as N / 64 column panels, one after the other, each
// [K][64] floats (64-byte aligned): the layout oneDNN's brgemm gives f32 weights, which
// PackedGemmDnnl checks before it calls this for a few rows (AVX-512, N % 64 == 0).
void sgemm_f32_avx512_6x64_panels(int64_t m, int64_t n, int64_t k, const float* x, int64_t ldx,
                                  const float* panels, float* y, int64_t ldy);

// --- Row epilogues: y[i] = act(y[i] + bias[i]) for i < n; bias may be null ------------------
void bias_f32_scalar(float* y, const float* bias, int64_t n);
void bias_f32_avx2(float* y, const float* bias, int64_t n);
void bias_relu_f32_scalar(float* y, const float* bias, int64_t n);
void bias_relu_f32_avx2(float* y, const float* bias, int64_t n);
void bias_tanh_f32_scalar(float* y, const float* bias, int64_t n);
void bias_tanh_f32_avx2(float* y, const float* bias, int64_t n);
// GELU, erf form: 0.5 v (1 + erf(v / sqrt 2)), as PyTorch's gelu().
void bias_gelu_erf_f32_scalar(float* y, const float* bias, int64_t n);
void bias_gelu_erf_f32_avx2(float* y, const float* bias, int64_t n);
// GELU, tanh form: 0.5 v (1 + tanh(sqrt(2/pi) (v + 0.044715 v^3))), as gelu(approximate='tanh').
void bias_gelu_tanh_f32_scalar(float* y, const float* bias, int64_t n);
void bias_gelu_tanh_f32_avx2(float* y, const float* bias, int64_t n);

// SiLU (swish): v / (1 + e^{-v}).
void bias_silu_f32_scalar(float* y, const float* bias, int64_t n);
void bias_silu_f32_avx2(float* y, const float* bias, int64_t n);

// --- Elementwise math (exposed so that tests can check the vector approximations) ----------
void exp_f32_scalar(const float* x, float* y, int64_t n);
void exp_f32_avx2(const float* x, float* y, int64_t n);
void erf_f32_scalar(const float* x, float* y, int64_t n);
void erf_f32_avx2(const float* x, float* y, int64_t n);

// --- Normalisation ---------------------------------------------------------------------------
// One row: x[i] = (s[i] - mean(s)) / sqrt(var(s) + eps) * gamma[i] + beta[i] with
// s = x + residual (residual may be null, beta may be null: no shift). Two passes over s.
void layer_norm_f32_scalar(float* x, const float* residual, int64_t n, const float* gamma,
                           const float* beta, float eps);
void layer_norm_f32_avx2(float* x, const float* residual, int64_t n, const float* gamma,
                         const float* beta, float eps);

// One row: x[i] = s[i] / sqrt(mean(s^2) + eps) * gamma[i] (+ beta[i]) with s = x + residual
// (residual and beta may be null): RMSNorm as Hugging Face computes it in float32.
void rms_norm_f32_scalar(float* x, const float* residual, int64_t n, const float* gamma,
                         const float* beta, float eps);
void rms_norm_f32_avx2(float* x, const float* residual, int64_t n, const float* gamma,
                       const float* beta, float eps);

// One row, in place: x = exp(x - max x) / sum.
void softmax_f32_scalar(float* x, int64_t n);
void softmax_f32_avx2(float* x, int64_t n);

// --- Attention -------------------------------------------------------------------------------
// Which keys a query row sees (ops::MaskKind): all, those within `window` of it, or those at or
// before it.
enum class KeyMask { kAll, kWindow, kCausal };

// One head of one sequence, for a range of query rows:
// out[i, :] = softmax_j(scale * q[i, :] . k[j, :] + bias(i, j), masked) v[j, :], i < q_rows,
// j < kv_len, each operand a [rows, head_dim] slice of a row-major matrix with its own row
// stride. Query row i sits at position q_pos0 + i of the sequence, key j at position j.
struct AttentionHeadArgs {
  const float* q;  // first query row of the range
  int64_t ldq;
  const float* k;  // first key row of the sequence
  int64_t ldk;
  const float* v;  // first value row of the sequence
  int64_t ldv;
  float* out;  // first output row of the range
  int64_t ldo;
  int64_t q_rows;
  int64_t kv_len;
  int64_t head_dim;
  float scale;
  float* scratch;  // attention_scratch_floats(...) floats, 32-byte aligned
  KeyMask mask = KeyMask::kAll;
  int64_t window = 0;
  int64_t q_pos0 = 0;
  // Optional bias by distance: bias(i, j) = rel_bias[j - (q_pos0 + i)] (the pointer is at
  // distance 0; distances from -(kv_len - 1) to kv_len - 1 are read).
  const float* rel_bias = nullptr;
  // Optional bias per query row and key, added after the scale: bias(i, j) =
  // score_bias[i * ld_score_bias + j] (DeBERTa's disentangled terms, already scaled).
  const float* score_bias = nullptr;
  int64_t ld_score_bias = 0;
};
// True when a head has no mask and no biases (the kernels' fast path).
bool attention_is_plain(const AttentionHeadArgs& a);
// The score row of query row i (raw dot products, kv_len of them) scaled, biased and masked in
// place (masked keys: -inf). Scalar, shared by every ISA: O(kv_len) beside O(kv_len head_dim).
void attention_mask_row(const AttentionHeadArgs& a, int64_t i, float* scores);
size_t attention_scratch_floats_scalar(int64_t q_rows, int64_t kv_len, int64_t head_dim);
size_t attention_scratch_floats_avx2(int64_t q_rows, int64_t kv_len, int64_t head_dim);
size_t attention_scratch_floats_avx512(int64_t q_rows, int64_t kv_len, int64_t head_dim);
void attention_head_f32_scalar(const AttentionHeadArgs& args);
void attention_head_f32_avx2(const AttentionHeadArgs& args);
void attention_head_f32_avx512(const AttentionHeadArgs& args);
// The same head with QK^T and PV in bf16 (vdpbf16ps): Q, K, V and the softmax weights rounded
// to bf16 (nearest even), fp32 accumulation, scores, softmax and output in fp32. Needs a CPU
// with avx512_bf16 (core/cpu_features.h: bf16_gemm_supported).
size_t attention_scratch_floats_bf16_avx512bf16(int64_t q_rows, int64_t kv_len, int64_t head_dim);
void attention_head_bf16_avx512bf16(const AttentionHeadArgs& args);

// --- bfloat16 ---------------------------------------------------------------------------------
// out[i] = bf16(x[i]) for i < n, rounded to nearest even as vcvtne2ps2bf16 does it
// (core/dtype.h's float_to_bf16): the activations of a bf16 Linear, just before its GEMM. The
// avx512bf16 kernel needs a CPU with avx512_bf16 (core/cpu_features.h: bf16_gemm_supported).
void f32_to_bf16_scalar(const float* x, int64_t n, uint16_t* out);
void f32_to_bf16_avx512bf16(const float* x, int64_t n, uint16_t* out);

}  // namespace ember::kernels
