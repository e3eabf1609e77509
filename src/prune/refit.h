// Compensation after pruning (Kwon et al. 2022, "A Fast Post-Training Pruning Framework for
// Transformers", layer-wise reconstruction): layer by layer, the kept output projection of the
// attention (W_o, b_o) and of the FFN (W_2, b_2) are re-fitted by least squares so that the
// pruned layer's pre-norm sum (residual + projection) matches the unpruned layer's on the
// calibration text. The pruned model's own inputs are used (its earlier layers already
// re-fitted), so each layer also corrects the error the layers before it left:
//
//   min_W,b  sum_t | x_t W^T + b - (s_t - r_t) |^2  +  lambda |[W b] - [W0 b0]|^2
//
// x_t the kept heads' context (or FFN activation) of the pruned model, r_t its residual input,
// s_t the unpruned model's pre-norm sum; the ridge term pulls toward the sliced weights with
// lambda = ridge * mean diagonal of the normal matrix. Solved with Eigen's LDLT in double.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "model/batch.h"
#include "ops/backend.h"
#include "prune/checkpoint.h"
#include "prune/keep_spec.h"

namespace ember::prune {

struct RefitOptions {
  double ridge = 1e-3;
};

// (step done, steps, what).
using RefitProgress = std::function<void(size_t, size_t, const std::string&)>;

// Re-fits `pruned` (the result of base.prune(keep)) in place.
void refit(const Checkpoint& base, Checkpoint& pruned, const KeepSpec& keep,
           const std::vector<model::Batch>& batches, ops::Backend& backend,
           const RefitOptions& options, const RefitProgress& progress = {});

// sum |h_pruned - h_base|^2 / sum |h_base|^2 over the last hidden states of `batches`.
double reconstruction_error(const Checkpoint& base, const Checkpoint& pruned,
                            const std::vector<model::Batch>& batches, ops::Backend& backend);

}  // namespace ember::prune
