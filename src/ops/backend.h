// The backend seam: the op set a model is written against, once, whatever runs it. A Backend
// owns what it prepares from the model's weights (opaque handles: packed for oneDNN, on a
// device, or kept as is), the activation memory it hands out, and the threads it computes on.
//
// Each op is one public, non-virtual call that checks shapes and arguments here, once, for
// every backend (kInternal: a wrong call is a bug in the caller), then runs the backend's
// implementation. Backends today: cpu (backends/cpu: SIMD kernels, oneDNN, its own thread
// pool) and reference (backends/reference: plain loops, the oracle the tests compare with).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "ops/types.h"

namespace ember::ops {

// A Linear layer prepared by a backend from a LinearSource.
class Linear {
 public:
  virtual ~Linear() = default;
  int64_t out() const { return out_; }
  int64_t in() const { return in_; }
  bool is_int8() const { return int8_; }
  // Stops reading its LinearSource's weight matrix where the backend holds a copy of its own
  // that serves every call (bias and int8 scales are still read); returns whether it did, and
  // then the caller may free that matrix. A backend that keeps reading it returns false.
  virtual bool release_source() { return false; }

 protected:
  explicit Linear(const LinearSource& s) : out_(s.out), in_(s.in), int8_(s.is_int8()) {}

 private:
  int64_t out_, in_;
  bool int8_;
};

// A float tensor prepared by a backend: an embedding table, a norm's scale or shift.
class Weight {
 public:
  virtual ~Weight() = default;
  int64_t numel() const { return numel_; }

 protected:
  explicit Weight(int64_t numel) : numel_(numel) {}

 private:
  int64_t numel_;
};

// Activation memory handed out by a backend (device memory on a device backend).
class Buffer {
 public:
  virtual ~Buffer() = default;
  float* data() const { return data_; }
  int64_t floats() const { return floats_; }

 protected:
  Buffer(float* data, int64_t floats) : data_(data), floats_(floats) {}

 private:
  float* data_;
  int64_t floats_;
};

// out[t] = word[ids[t]] + position[positions[t]] + token_type[type_ids[t]], for t < tokens.
// Ids are host memory, checked by the model against the tables before the call.
struct EmbedArgs {
  int64_t tokens = 0;
  const int32_t* ids = nullptr;
  const Weight* word = nullptr;        // [rows, dim]
  const int32_t* positions = nullptr;  // with `position`
  const Weight* position = nullptr;    // [rows, dim] or null
  const int32_t* type_ids = nullptr;   // with `token_type`
  const Weight* token_type = nullptr;  // [rows, dim] or null
};

// LayerNorm: (s - mean(s)) / sqrt(var(s) + eps) * gamma + beta; RMSNorm: s / sqrt(mean(s^2) +
// eps) * gamma (+ beta when given), over each run of `group` columns (0: the whole row).
struct NormArgs {
  NormKind kind = NormKind::kLayerNorm;
  const Weight* gamma = nullptr;  // [group or cols]
  const Weight* beta = nullptr;   // [group or cols], or null (no bias)
  float eps = 1e-12f;
  int64_t group = 0;
};

// Rotary position embedding in place on x [T, heads * head_dim], the rotate-half form of
// Hugging Face's Llama, Qwen and ModernBERT: within each head the first `rotary_dims` values are
// two halves (a, b) turned by angle p * base^(-2i / rotary_dims), p = positions[t]; the rest are
// left as they are.
struct RotaryArgs {
  int64_t heads = 0;
  int64_t head_dim = 0;
  int64_t rotary_dims = 0;  // even, <= head_dim
  float base = 10000.0f;
  const int32_t* positions = nullptr;  // [T] host
};

// softmax(scale * q k^T + bias, masked) v per sequence and head. Query head h reads key/value
// head h / (heads / kv_heads) (grouped-query attention).
struct AttentionArgs {
  int64_t heads = 0;
  int64_t kv_heads = 0;
  int64_t head_dim = 0;
  float scale = 1.0f;
  MaskKind mask = MaskKind::kFull;
  int64_t window = 0;  // kLocal: query i sees key j when |i - j| <= window
  // Optional bias by distance (MPNet's relative position buckets, resolved for this batch):
  // score(h, i, j) += rel_bias[h * (2 * rel_span + 1) + (j - i) + rel_span], host memory,
  // rel_span >= longest sequence - 1.
  const float* rel_bias = nullptr;
  int64_t rel_span = 0;
  // Both products (QK^T, PV) may run on bf16-rounded operands with fp32 accumulation (the
  // model's Linears are bf16; docs/bf16.md): the CPU backend does so where the CPU has
  // avx512_bf16, every other case computes in fp32.
  bool bf16 = false;
};

// SPLADE's pooling of masked-LM logits: out[s, v] = max (or sum) over the tokens t of sequence s
// of f(logits[t, v]), f(x) = log(1 + relu(x)), applied twice when double_log.
struct SparsePoolArgs {
  bool max = true;
  bool double_log = false;
};

// DeBERTa's disentangled self-attention, per sequence and head h (no mask, heads == kv heads):
//   out_i = sum_j softmax_j(scale * (q_i . k_j + c2p q_i . pos_key[r] + p2c k_j . pos_query[r]))
//           v_j,   r = rel_index[(i - j) + rel_span]
// with i, j positions in the sequence; pos_query and pos_key are relative embeddings projected
// by the layer's query and key projections ([rows, heads * head_dim], head h in columns
// h * head_dim ...), and rel_index (host memory, 2 * rel_span + 1 entries) picks the row of a
// distance.
struct DisentangledAttentionArgs {
  int64_t heads = 0;
  int64_t head_dim = 0;
  float scale = 1.0f;
  bool c2p = true;  // content to position: reads pos_key
  bool p2c = true;  // position to content: reads pos_query
  const int32_t* rel_index = nullptr;
  int64_t rel_span = 0;  // >= longest sequence - 1
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;
  // Threads one op uses.
  virtual int threads() const = 0;

  // --- Weights: host data stays valid, unchanged, for the backend's lifetime (a Linear's
  // matrix until its release_source() returned true) -------------------------------------------
  virtual std::unique_ptr<Linear> prepare_linear(const LinearSource& src) = 0;
  virtual std::unique_ptr<Weight> prepare_weight(const float* host, int64_t numel) = 0;
  // Bytes a backend added for its prepared copies (packed weights), for ModelInfo.
  virtual int64_t prepared_bytes() const { return 0; }
  // Whether bf16 Linears (LinearSource::w_bf16) run as bf16 GEMMs here; a backend without
  // them widens their weights to fp32 at prepare time (and then widened_bf16() is true).
  virtual bool bf16_native() const { return false; }
  virtual bool widened_bf16() const { return false; }

  // --- Memory ---------------------------------------------------------------------------------
  virtual std::unique_ptr<Buffer> alloc(int64_t floats) = 0;
  // dst[rows * cols] (dense, host) = src.
  void to_host(const View& src, float* dst) const;

  // --- Ops --------------------------------------------------------------------------------
  void embed(const EmbedArgs& a, const View& out);
  // y = act(x w^T + b), y [x.rows, w.out()].
  void linear(const Linear& w, const View& x, const View& y, Activation act = Activation::kNone);
  // y = norm(x + residual) (residual may be null; y may be x).
  void norm(const View& x, const View* residual, const View& y, const NormArgs& a);
  // x += y.
  void add(const View& x, const View& y);
  void rotary(const View& x, const RotaryArgs& a);
  // out [T, heads * head_dim]; q [T, heads * head_dim]; k, v [T, kv_heads * head_dim].
  void attention(const View& q, const View& k, const View& v, const SeqLayout& seqs,
                 const AttentionArgs& a, const View& out);
  // q, k, v, out [T, heads * head_dim]; pos_query, pos_key [rows, heads * head_dim] (either may
  // be empty when its term is off).
  void disentangled_attention(const View& q, const View& k, const View& v, const View& pos_query,
                              const View& pos_key, const SeqLayout& seqs,
                              const DisentangledAttentionArgs& a, const View& out);
  // out = act(x[:, :F]) * x[:, F:] with F = out.cols, x [T, 2F] (GeGLU, SwiGLU).
  void gated(const View& x, const View& out, Activation act);
  // x = act(x), in place.
  void activation(const View& x, Activation act);
  // out[i] = x[rows[i]] for i < out.rows; rows host memory.
  void gather_rows(const View& x, const int32_t* rows, const View& out);
  // out[s] = pool(rows of sequence s of hidden), L2-normalised when `normalize`.
  void pool(const View& hidden, const SeqLayout& seqs, PoolMode mode, bool normalize,
            const View& out);
  // out [sequences, V] from logits [T, V].
  void sparse_pool(const View& logits, const SeqLayout& seqs, const SparsePoolArgs& a,
                   const View& out);

 protected:
  virtual void do_to_host(const View& src, float* dst) const = 0;
  virtual void do_embed(const EmbedArgs& a, const View& out) = 0;
  virtual void do_linear(const Linear& w, const View& x, const View& y, Activation act) = 0;
  virtual void do_norm(const View& x, const View* residual, const View& y, const NormArgs& a) = 0;
  virtual void do_add(const View& x, const View& y) = 0;
  virtual void do_rotary(const View& x, const RotaryArgs& a) = 0;
  virtual void do_attention(const View& q, const View& k, const View& v, const SeqLayout& seqs,
                            const AttentionArgs& a, const View& out) = 0;
  virtual void do_disentangled_attention(const View& q, const View& k, const View& v,
                                         const View& pos_query, const View& pos_key,
                                         const SeqLayout& seqs, const DisentangledAttentionArgs& a,
                                         const View& out) = 0;
  virtual void do_gated(const View& x, const View& out, Activation act) = 0;
  virtual void do_activation(const View& x, Activation act) = 0;
  virtual void do_gather_rows(const View& x, const int32_t* rows, const View& out) = 0;
  virtual void do_pool(const View& hidden, const SeqLayout& seqs, PoolMode mode, bool normalize,
                       const View& out) = 0;
  virtual void do_sparse_pool(const View& logits, const SeqLayout& seqs, const SparsePoolArgs& a,
                              const View& out) = 0;
};

// A Weight or Buffer kept in host memory: what the cpu and reference backends prepare.
class HostWeight final : public Weight {
 public:
  HostWeight(const float* data, int64_t numel) : Weight(numel), data_(data) {}
  const float* data() const { return data_; }

 private:
  const float* data_;
};
// The host pointer of a Weight that a host backend prepared (null for null).
const float* host_data(const Weight* w);

}  // namespace ember::ops
