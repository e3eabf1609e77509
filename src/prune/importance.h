// How much each attention head and FFN unit matters, from unlabeled calibration text: the
// energy of its contribution to its layer's output, sum over tokens of |W_o[:, head] ctx_head|^2
// for a head and |W_2[:, j]|^2 sum of act_j^2 for a unit: exactly how much the (pre-norm) output
// of the layer changes, in squared error, when that one part is removed. Measured on the
// unpruned model.
#pragma once

#include <vector>

#include "model/batch.h"
#include "prune/checkpoint.h"
#include "prune/keep_spec.h"
#include "prune/layer_runner.h"

namespace ember::prune {

struct Importance {
  std::vector<std::vector<double>> heads;  // [layer][head]
  std::vector<std::vector<double>> ffn;    // [layer][unit]
  std::vector<double> layer_energy;        // [layer]: the attention and FFN outputs' energy
};

Importance measure_importance(LayerRunner& model, const Checkpoint& checkpoint,
                              const std::vector<model::Batch>& batches);

// The most important round(ratio * n) heads and units of every layer (at least one each).
// same_heads: every layer keeps the same heads, ranked by their importance summed over layers
// (MPNet, whose layers share one relative position table).
KeepSpec keep_top(const Importance& importance, double head_ratio, double ffn_ratio,
                  bool same_heads);

}  // namespace ember::prune
