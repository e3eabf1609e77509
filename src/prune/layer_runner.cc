#include "prune/layer_runner.h"

#include <cstring>

#include "core/error.h"
#include "io/json_config.h"

namespace ember::prune {

LayerRunner::LayerRunner(const Checkpoint& checkpoint, ops::Backend& backend)
    : model_(model::Model::load(io::JsonConfig::from_json(checkpoint.config(), "config.json"),
                                checkpoint.store())),
      ws_(backend) {
  model_->prepare(backend);
  for (const auto& l : model_->spec().layers)
    EMBER_CHECK(l.placement == model::NormPlacement::kPost, ErrorKind::kUnsupported,
                "pruning supports post-norm layers only");
}

std::vector<float> to_host(const ops::View& v) {
  std::vector<float> out(static_cast<size_t>(v.rows * v.cols));
  for (int64_t r = 0; r < v.rows; ++r)
    std::memcpy(out.data() + r * v.cols, v.data + r * v.ld, sizeof(float) * v.cols);
  return out;
}

std::vector<float> LayerRunner::embed(const model::Batch& batch) {
  return to_host(model_->start(batch, ws_));
}

void LayerRunner::layer(size_t i, const model::Batch& batch, std::vector<float>& x,
                        const model::LayerTap* tap) {
  const ops::View state = model_->start(batch, ws_);
  EMBER_CHECK(static_cast<int64_t>(x.size()) == state.rows * state.cols && state.dense(),
              ErrorKind::kInternal, "state of ", x.size(), " values for ", state.rows, "x",
              state.cols);
  std::memcpy(state.data, x.data(), sizeof(float) * x.size());
  x = to_host(model_->run_layer(i, batch, ws_, tap));
}

std::vector<float> LayerRunner::forward(const model::Batch& batch) {
  return to_host(model_->forward(batch, ws_));
}

}  // namespace ember::prune
