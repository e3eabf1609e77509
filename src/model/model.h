// A model: its per-layer description (ModelSpec), its host weights, and once prepared for a
// backend, the one forward pass every architecture runs (embeddings, then each layer as its
// LayerSpec says, then the final norm) and its heads. The weights come in a WeightStore; the
// forward pass runs on a packed Batch and leaves [num_tokens, hidden] in the Workspace.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "io/json_config.h"
#include "io/weight_store.h"
#include "model/batch.h"
#include "model/model_spec.h"
#include "model/model_weights.h"
#include "model/workspace.h"
#include "ops/backend.h"

namespace ember::model {

struct PreparedModel;

// What a layer computes on its way, reported to a tap by Model::run_layer (ember prune reads its
// activations): the attention context [T, heads * head_dim] (input of the output projection),
// that projection's output [T, H] (before the residual), the state after the attention block
// [T, H] (the FFN's input in post-norm layers), the FFN activation [T, F] (input of its output
// projection) and that projection's output [T, H]; kQkvInput and kFfnInput are the inputs of the
// Q/K/V and the FFN's first projection (after the pre-norm, if any; ember quantize's smoothing
// reads them). The views are backend memory, valid during the call (host memory on the CPU and
// reference backends).
enum class TapPoint {
  kAttnContext,
  kAttnOutput,
  kAttnState,
  kFfnActivation,
  kFfnOutput,
  kQkvInput,
  kFfnInput
};
using LayerTap = std::function<void(TapPoint point, const ops::View& value)>;

class Model {
 public:
  // Parses the config with the architecture its model_type names, binds and checks the weights,
  // and validates the description (kInvalidInput / kUnsupported naming what is wrong).
  static std::unique_ptr<Model> load(const io::JsonConfig& config, io::WeightStore store);
  ~Model();

  const ModelSpec& spec() const { return spec_; }
  int64_t parameter_count() const { return parameters_; }
  // "" for float weights, "int8-dynamic" for a model written by `ember quantize`.
  const std::string& quantization() const { return weights_.quantization; }
  // The bound weights (host memory), for tools that read them (ember quantize). After
  // prepare(), Linears whose host copy was freed have no matrix (see there).
  const ModelWeights& weights() const { return weights_; }
  // True when the encoder layers' float Linears (all of them, or those an int8 model keeps
  // unquantized) are bound as bfloat16 (io::WeightStore::linear_dtype).
  bool bf16_linears() const { return bf16_linears_; }
  // Bytes of Linear matrices freed by prepare(), and of fused parts' file pages paged out at
  // load.
  int64_t released_bytes() const { return weights_.released_bytes; }
  int64_t parts_paged_out_bytes() const { return weights_.parts_paged_out_bytes; }

  // Prepares every weight for `backend`, once; the backend must outlive the model. forward and
  // the heads run on it. With `release_copies`, a Linear's host matrix that is a copy (a fused
  // projection, Q/K/V or gate/up; a conversion of the checkpoint's dtype) is freed as soon as
  // the backend says it no longer reads it (packed weights on the CPU backend); false keeps
  // weights() complete, for tools that read it afterwards.
  void prepare(ops::Backend& backend, bool release_copies = true);
  bool prepared() const { return prepared_ != nullptr; }

  // Validates ids, type ids and lengths (kInvalidInput). Returns the last hidden state,
  // [batch.num_tokens(), hidden_size], inside `ws` (valid until its next use), whose backend
  // must be the prepared one.
  ops::View forward(const Batch& batch, Workspace& ws) const;

  // The forward pass one layer at a time, for tools that look inside a model: start() checks
  // the batch and leaves the embeddings as the state [T, hidden] in `ws`; run_layer(i) runs
  // layer i on the state (which a host-memory caller may overwrite in between) and returns it.
  // forward() is start(), every layer, then the final norm.
  ops::View start(const Batch& batch, Workspace& ws) const;
  ops::View run_layer(size_t i, const Batch& batch, Workspace& ws,
                      const LayerTap* tap = nullptr) const;

  // logits [batch.size(), labels] from the first token or the mean of each sequence, as the
  // spec's head_pooling says (backend memory).
  ops::View classify_sequences(const ops::View& hidden, const Batch& batch, Workspace& ws) const;
  // logits [batch.num_tokens(), labels], after the head's dense + act + norm on every token when
  // the model has them (backend memory).
  ops::View classify_tokens(const ops::View& hidden, Workspace& ws) const;
  // SPLADE: the masked-LM logits of every token pooled per sequence, [batch.size(), vocab]
  // (backend memory). The logits are made a group of whole sequences at a time, so that memory
  // stays near kSparseChunkTokens x vocab whatever the batch.
  ops::View sparse(const ops::View& hidden, const Batch& batch, const ops::SparsePoolArgs& pool,
                   Workspace& ws) const;
  static constexpr int64_t kSparseChunkTokens = 512;

 private:
  Model(ModelSpec spec, io::WeightStore store);
  void check_batch(const Batch& batch) const;
  void embed(const Batch& batch, Workspace& ws) const;
  void relative_bias(const Batch& batch, Workspace& ws) const;
  void relative_rows(const Batch& batch, Workspace& ws) const;
  void layer(size_t i, const Batch& batch, Workspace& ws, const LayerTap* tap) const;

  ModelSpec spec_;
  io::WeightStore store_;
  ModelWeights weights_;
  bool bf16_linears_ = false;
  int64_t parameters_ = 0;
  std::unique_ptr<PreparedModel> prepared_;
};

}  // namespace ember::model
