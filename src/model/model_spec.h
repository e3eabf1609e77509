// The per-layer description of a model that the one forward pass (model.cc) runs: what an
// architecture file (arch_*.cc) makes of a config.json and the tensor shapes it finds. Each
// layer states its own heads, head size, KV heads, FFN width and kind, norms and their place,
// positions and attention mask, so that pruned checkpoints (uneven heads and widths per layer)
// and the families with rotary positions, gated FFNs, pre-norm and local or causal attention
// are all one description, not one forward pass each.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ops/types.h"

namespace ember::model {

// kMaskedLm: the masked-LM head (transform dense + act + norm, then the vocabulary projection),
// which SPLADE pools into sparse vectors.
enum class HeadKind { kNone, kSequenceClassification, kTokenClassification, kMaskedLm };

// What a sequence classification head reads of each sequence: its first token's state (BERT's
// [CLS]) or the mean of its tokens' states (ModernBERT's classifier_pooling "mean").
enum class HeadPooling { kFirstToken, kMean };

struct NormSpec {
  ops::NormKind kind = ops::NormKind::kLayerNorm;
  bool bias = true;  // LayerNorm / RMSNorm with a shift
  float eps = 1e-12f;
};

// Post-norm (BERT): x = norm(x + block(x)). Pre-norm: x = x + block(norm(x)).
enum class NormPlacement { kPost, kPre };

// How position ids are made for a learned position table: BERT counts from 0; the RoBERTa family
// counts from padding_idx + 1 and gives pad tokens padding_idx.
enum class PositionScheme { kNone, kFromZero, kAfterPadding };

struct EmbeddingSpec {
  int64_t vocab_size = 0;
  int64_t dim = 0;  // == hidden size, except ELECTRA and ALBERT-like models (then projected)
  PositionScheme positions = PositionScheme::kFromZero;  // kNone: no learned position table
  int64_t max_positions = 0;     // config's max_position_embeddings (the length limit either way)
  int64_t type_vocab_size = 0;   // 0: no token type embeddings
  std::optional<NormSpec> norm;  // after the sum (BERT's embeddings.LayerNorm)
  bool project = false;          // a Linear [hidden, dim] after the norm (ELECTRA)
  // DeBERTa projects before the norm, which is then over the hidden size.
  bool norm_after_project = false;
};

struct RotarySpec {
  float base = 10000.0f;
  int64_t dims = 0;  // rotated values per head (partial rotary: fewer than head_dim)
};

struct AttentionSpec {
  int64_t heads = 0;
  int64_t kv_heads = 0;  // < heads: grouped-query attention
  int64_t head_dim = 0;
  float scale = 0.0f;  // of q k^T; 1 / sqrt(head_dim) unless the family says otherwise
  ops::MaskKind mask = ops::MaskKind::kFull;
  int64_t window = 0;                // kLocal: keys within this many positions on either side
  std::optional<RotarySpec> rotary;  // on Q and K, after qk_norm
  std::optional<NormSpec> qk_norm;   // per-head norm of Q and K (Qwen3)
  int64_t q_width() const { return heads * head_dim; }
  int64_t kv_width() const { return kv_heads * head_dim; }
};

// Plain: W2 act(W1 x). Gated: W2 (act(gate) * up), gate and up from one fused projection
// [2F, hidden] (GeGLU with GELU, SwiGLU with SiLU).
enum class FfnKind { kPlain, kGated };

struct FfnSpec {
  FfnKind kind = FfnKind::kPlain;
  int64_t width = 0;  // F
  ops::Activation act = ops::Activation::kGeluErf;
};

struct LayerSpec {
  AttentionSpec attn;
  FfnSpec ffn;
  NormPlacement placement = NormPlacement::kPost;
  // Post-norm: applied after each residual add. Pre-norm: before each block; absent means the
  // block reads x as is (ModernBERT's first layer has no attention norm).
  std::optional<NormSpec> attn_norm;
  std::optional<NormSpec> ffn_norm;
};

// MPNet's relative position buckets (T5's bidirectional scheme): one learned bias per bucket
// and head, shared by all layers and added to the attention scores.
struct RelativeBucketsSpec {
  int64_t buckets = 32;
  int64_t max_distance = 128;
};

// DeBERTa-v2/v3's disentangled attention: a table of 2 * span() relative embeddings, shared by
// all layers (LayerNorm'd when `norm` is set), is projected through each layer's own query and
// key projections (share_att_key), and each layer's scores gain content-to-position and
// position-to-content terms for the (log-bucketed) distance between query and key. The scale of
// the scores is 1 / sqrt(head_dim * (1 + number of terms)), in AttentionSpec::scale.
struct DisentangledSpec {
  int64_t buckets = 0;       // position_buckets; 0: distances are not bucketed
  int64_t max_relative = 0;  // max_relative_positions (the distance the log buckets reach)
  bool c2p = true;           // q_i . key_proj(rel[r(i - j)])
  bool p2c = true;           // k_j . query_proj(rel[r(i - j)])
  std::optional<NormSpec> norm;
  // Rows of the table per direction: position_buckets when bucketed, else max_relative.
  int64_t span() const { return buckets > 0 ? buckets : max_relative; }
  // The table row r(d) of distance d = query - key position: the bucket of d (DeBERTa's
  // make_log_bucket_position when bucketed) + span(), clamped to [0, 2 span() - 1].
  int64_t table_row(int64_t distance) const;
};

struct ModelSpec {
  std::string model_type;    // "bert", "mpnet", ...
  std::string architecture;  // architectures[0], e.g. "BertForSequenceClassification"
  int64_t hidden_size = 0;
  EmbeddingSpec embeddings;
  std::vector<LayerSpec> layers;
  std::optional<NormSpec> final_norm;  // after the last layer (pre-norm families)
  std::optional<RelativeBucketsSpec> relative_buckets;
  std::optional<DisentangledSpec> disentangled;
  int32_t pad_token_id = 0;

  HeadKind head = HeadKind::kNone;
  std::vector<std::string> labels;  // id2label, index = class id
  // Sequence classification and masked-LM: the activation after the head's dense layer.
  ops::Activation head_act = ops::Activation::kTanh;
  HeadPooling head_pooling = HeadPooling::kFirstToken;
  // A norm after the head's dense layer and activation: ModernBERT's head.norm, the masked-LM
  // transform's LayerNorm. A token classification head with a dense layer runs dense,
  // activation and norm on every token.
  std::optional<NormSpec> head_norm;

  int64_t vocab_size() const { return embeddings.vocab_size; }
  int64_t num_layers() const { return static_cast<int64_t>(layers.size()); }
  // Longest sequence the position scheme allows.
  int64_t max_tokens() const;
  // The widest Q/K/V projection and FFN of any layer (buffer sizes).
  int64_t max_qkv_width() const;
  int64_t max_ffn_width() const;

  // Every value in range (kInvalidInput naming the field and layer): positive sizes, heads that
  // divide, finite positive eps, even rotary dims, known labels.
  void validate(const std::string& origin) const;
};

}  // namespace ember::model
