// Internal to model/: a model's weights as one backend prepared them. The forward pass reads
// only these.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "model/model_spec.h"
#include "model/model_weights.h"
#include "ops/backend.h"

namespace ember::model {

struct PreparedNorm {
  std::unique_ptr<ops::Weight> gamma, beta;
  ops::NormArgs args;  // gamma/beta point at the handles above
};

struct PreparedLayer {
  std::unique_ptr<ops::Linear> qkv, attn_out, ffn_in, ffn_out;
  std::optional<PreparedNorm> attn_norm, ffn_norm, q_norm, k_norm;
  // DeBERTa: the (normalised) relative embeddings through this layer's query and key
  // projections, [2 * span, q width | kv width]; constants of the model, made once.
  std::unique_ptr<ops::Buffer> relative_qk;
  ops::View pos_query, pos_key;  // column views of relative_qk
  // bf16 or int8 Linears: the attention may run in bf16 (ops::AttentionArgs::bf16).
  bool low_precision = false;
};

struct PreparedModel {
  ops::Backend* backend = nullptr;
  std::unique_ptr<ops::Weight> word, position, token_type;
  std::optional<PreparedNorm> embed_norm;
  std::unique_ptr<ops::Linear> project;
  std::vector<PreparedLayer> layers;
  std::optional<PreparedNorm> final_norm;
  std::unique_ptr<ops::Linear> head_dense, head_out, token_classifier;
  std::optional<PreparedNorm> head_norm;
};

// Who frees a Linear's host matrix once its backend no longer reads it: can_free(data) says
// whether `data` is a copy nothing else binds (a fused projection `weights` owns, a conversion
// the store made), free(data) frees it and returns its bytes.
struct SourceRelease {
  std::function<bool(const void* data)> can_free;
  std::function<int64_t(const void* data)> free;
};

// Prepares everything `weights` holds for `backend`, as `spec` describes it. With `release`,
// each Linear's matrix that can be freed is freed right after that Linear's preparation where
// the backend no longer reads it (ops::Linear::release_source), and its pointer in `weights`
// set to null (weights.released_bytes counts the bytes).
std::unique_ptr<PreparedModel> prepare_model(const ModelSpec& spec, ModelWeights& weights,
                                             ops::Backend& backend, const SourceRelease* release);

}  // namespace ember::model
