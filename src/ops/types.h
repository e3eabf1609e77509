// The vocabulary of the op set (ops/backend.h): activations, norms, masks, pooling modes, views
// of activation memory, the packed-batch layout, and Linear weights as a model stores them.
// Nothing here knows a backend, a kernel or a model.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ember::ops {

enum class Activation { kNone, kGeluErf, kGeluTanh, kRelu, kTanh, kSilu };
// "none", "gelu_erf", "gelu_tanh", "relu", "tanh", "silu": for messages and test names.
const char* activation_name(Activation act);

enum class NormKind { kLayerNorm, kRmsNorm };

// Which keys a query may see inside its own sequence: all (bidirectional encoders), those
// within a window on either side (ModernBERT's local layers), or those at or before it.
enum class MaskKind { kFull, kLocal, kCausal };

// Sentence embeddings from token states, as sentence-transformers pools them.
enum class PoolMode { kCls, kMean, kMax, kMeanSqrtLen, kLastToken };

// A row-major float matrix in a backend's memory: `rows` x `cols`, `ld` elements from one row
// to the next (ld >= cols), so that column ranges of a wider matrix (Q, K and V inside one
// fused projection) are views too.
struct View {
  float* data = nullptr;
  int64_t rows = 0;
  int64_t cols = 0;
  int64_t ld = 0;

  View cols_at(int64_t c0, int64_t n) const { return {data + c0, rows, n, ld}; }
  View rows_at(int64_t r0, int64_t n) const { return {data + r0 * ld, n, cols, ld}; }
  bool dense() const { return ld == cols; }
};
inline View dense_view(float* data, int64_t rows, int64_t cols) {
  return {data, rows, cols, cols};
}

// The packed batch: sequence s is rows [cu_seqlens[s], cu_seqlens[s + 1]) of every [T, *]
// activation. Host memory; a device backend copies what it needs.
struct SeqLayout {
  const int32_t* cu_seqlens = nullptr;  // [sequences + 1], cu_seqlens[0] == 0
  int64_t sequences = 0;
  int64_t tokens() const { return sequences > 0 ? cu_seqlens[sequences] : 0; }
  int64_t max_len() const;
};

// int8 weights of a dynamically quantized Linear (docs/quantization.md). Per row i of x:
// q_i = u8 quantization with scale s_i and zero point z_i; per output channel j: int8 weights
// w_j with scale t_j and column sum S_j = sum_k w_jk.
//   y_ij = act(s_i t_j (sum_k q_ik w_jk - z_i S_j) + bias_j)
struct Int8Weights {
  const int8_t* w = nullptr;         // [n, k], symmetric per output channel
  const float* scale = nullptr;      // [n], > 0
  const int32_t* col_sum = nullptr;  // [n], sum over k of w
  // Activations are quantized to [0, act_max]: 127 (u7) with 8-bit weights and 255 with
  // 7-bit weights (reduce_range), so that no pair sum of vpmaddubsw can saturate and every
  // integer GEMM gives the same integers.
  int32_t act_max = 127;
  // Smoothing (docs/quantization.md): activations are quantized as x[j] * act_scale[j], the
  // weights were written as w[:, j] / act_scale[j]. Null: no smoothing.
  const float* act_scale = nullptr;  // [k]
};

// A Linear layer's weights in host memory, as the model binds them (PyTorch's [out, in]
// layout): float, bfloat16 when w_bf16 is set, or int8 when q.w is set. A backend prepares it
// once (Backend::prepare_linear).
// bf16 Linears compute y = act(bf16(x) w_bf16^T + b): x rounded to bfloat16 (nearest even),
// products accumulated in fp32 or wider, bias and activation in fp32 (docs/bf16.md).
struct LinearSource {
  int64_t out = 0;
  int64_t in = 0;
  const float* w = nullptr;          // [out, in], null when bf16 or int8
  const uint16_t* w_bf16 = nullptr;  // [out, in] bfloat16 bits, or null
  const float* b = nullptr;          // [out] or null
  Int8Weights q;
  bool is_int8() const { return q.w != nullptr; }
  bool is_bf16() const { return w_bf16 != nullptr; }
  // The weight matrix whatever its dtype (null when none), and its size in bytes.
  const void* weight_data() const {
    if (is_int8()) return q.w;
    if (is_bf16()) return w_bf16;
    return w;
  }
  size_t weight_bytes() const {
    return static_cast<size_t>(out * in) * (is_int8() ? 1 : is_bf16() ? 2 : sizeof(float));
  }
};

}  // namespace ember::ops
