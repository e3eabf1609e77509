// Internal to model/: a model's weights as one backend prepared them. The forward pass reads
// only these.
#pragma once

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

// Prepares everything `weights` holds for `backend`, as `spec` describes it.
std::unique_ptr<PreparedModel> prepare_model(const ModelSpec& spec, const ModelWeights& weights,
                                             ops::Backend& backend);

}  // namespace ember::model
