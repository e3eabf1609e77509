// An encoder body (embeddings + post-LayerNorm transformer layers) and its optional
// classification head, for every registered architecture. The weights come in a WeightStore;
// the forward pass runs on a packed Batch and writes [num_tokens, hidden].
#pragma once

#include <memory>

#include "io/json_config.h"
#include "io/weight_store.h"
#include "model/batch.h"
#include "model/encoder_config.h"
#include "model/encoder_weights.h"
#include "model/workspace.h"

namespace ember::model {

class Encoder {
 public:
  // Parses the config with the architecture named by its model_type and binds the weights.
  static std::unique_ptr<Encoder> load(const io::JsonConfig& config, io::WeightStore store);

  const EncoderConfig& config() const { return config_; }
  int64_t parameter_count() const { return parameters_; }
  // "" for float weights, "int8-dynamic" for a model written by `ember quantize`.
  const std::string& quantization() const { return weights_.quantization; }

  // Packs the Linear weights of every layer for oneDNN's matmul (kernels/cpu/
  // packed_gemm_dnnl.h) into `slices` column slices (one per compute thread is best), once;
  // the forward pass then uses them where they are faster. Costs a second copy of those
  // weights in memory. Returns the bytes packed.
  int64_t pack_weights(int64_t slices);

  // Validates ids, type ids and lengths (kInvalidInput). Returns the last hidden state,
  // [batch.num_tokens(), hidden_size], inside `ws` (valid until the next call with `ws`).
  const float* forward(const Batch& batch, Workspace& ws) const;

  // logits [batch.size(), labels] from the first token of each sequence.
  void classify_sequences(const float* hidden, const Batch& batch, Workspace& ws,
                          float* logits) const;
  // logits [batch.num_tokens(), labels].
  void classify_tokens(const float* hidden, const Batch& batch, float* logits) const;

 private:
  Encoder(EncoderConfig config, io::WeightStore store);
  void embed(const Batch& batch, Workspace& ws) const;
  void layer(const LayerWeights& l, const Batch& batch, Workspace& ws) const;

  EncoderConfig config_;
  io::WeightStore store_;
  EncoderWeights weights_;
  int64_t parameters_ = 0;
};

}  // namespace ember::model
