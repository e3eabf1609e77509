// A model of a Checkpoint prepared on a CPU backend and run one layer at a time from host
// states (model::Model::start / run_layer), so that pruning can read each layer's activations
// and carry the states of the unpruned and the pruned model side by side.
#pragma once

#include <memory>
#include <vector>

#include "model/batch.h"
#include "model/model.h"
#include "model/workspace.h"
#include "ops/backend.h"
#include "prune/checkpoint.h"

namespace ember::prune {

class LayerRunner {
 public:
  // `backend` must be a host-memory backend (CPU) and outlive the runner; the model keeps the
  // checkpoint's storage alive.
  LayerRunner(const Checkpoint& checkpoint, ops::Backend& backend);

  const model::ModelSpec& spec() const { return model_->spec(); }
  int64_t hidden() const { return model_->spec().hidden_size; }
  size_t layers() const { return model_->spec().layers.size(); }

  // The embeddings of `batch`, [T, hidden] row-major.
  std::vector<float> embed(const model::Batch& batch);
  // Runs layer i on the state `x` ([T, hidden], replaced by the layer's output), reporting its
  // activations to `tap` when given.
  void layer(size_t i, const model::Batch& batch, std::vector<float>& x,
             const model::LayerTap* tap = nullptr);
  // The last hidden state of `batch` (the whole forward pass).
  std::vector<float> forward(const model::Batch& batch);

 private:
  std::unique_ptr<model::Model> model_;
  model::Workspace ws_;
};

// A dense host copy of a backend view.
std::vector<float> to_host(const ops::View& v);

}  // namespace ember::prune
