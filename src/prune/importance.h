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

// Indices of the `keep` largest scores, ascending (ties to the lower index).
std::vector<int64_t> top(const std::vector<double>& scores, int64_t keep);

// How the parts kept are spread over the layers: kUniform keeps round(ratio * n) of every
// layer; kGlobal keeps round(ratio * total) over the whole model, ranked by each part's share of
// its layer's output energy (Importance::layer_energy), so that layers differ.
enum class Allocation { kUniform, kGlobal };

// The most important heads and units (at least one of each per layer), as `allocation` spreads
// them.
KeepSpec keep_top(const Importance& importance, double head_ratio, double ffn_ratio,
                  Allocation allocation = Allocation::kUniform);

}  // namespace ember::prune
