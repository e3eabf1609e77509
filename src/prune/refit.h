// Compensation after pruning (Kwon et al. 2022, "A Fast Post-Training Pruning Framework for
// Transformers", layer-wise reconstruction), with the parts chosen by the error they leave after
// it (structured Optimal Brain Surgeon, Hassibi & Stork 1993; Kurtic et al. 2023, "ZipLM").
//
// Layer by layer, on the pruned model's own states (its earlier layers already pruned and
// re-fitted, so each layer also corrects the error the layers before it left), the output
// projection of the attention (W_o, b_o) and then of the FFN (W_2, b_2) is fitted with all of
// the layer's heads (units) present to the unpruned layer's pre-norm sum (residual + projection):
//
//   E(W) = sum_t | x_t W^T + b - (s_t - r_t) |^2  +  lambda |[W b] - [W0 b0]|^2
//
// x_t every head's context (every unit's activation) of the pruned model, r_t its residual
// input, s_t the unpruned model's pre-norm sum; lambda = ridge * mean diagonal of the normal
// matrix. Then heads (units) are removed one at a time, each time the one whose removal raises
// E least once the remaining weights are re-solved (exact for a quadratic: the surgeon's step),
// until the layer's count is reached; or, when the plan names the parts to keep, the others are
// removed, which gives the least-squares fit on the kept parts alone. Solved in double (Eigen).
// Before each output projection, its layer's input projections (Q, K, V; the FFN's intermediate
// rows) are re-fitted to the unpruned model's values (input_fit.h) unless options say not.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/batch.h"
#include "ops/backend.h"
#include "prune/checkpoint.h"
#include "prune/keep_spec.h"

namespace ember::prune {

struct RefitOptions {
  double ridge = 1e-2;
  // Also re-fit the kept input projections (Q, K, V; the FFN's intermediate rows) to the
  // unpruned model's values on the unpruned inputs (input_fit.h), before the output projections.
  bool inputs = true;
  double input_ridge = 1e-2;
};

// Per kept layer, E / sum |s - r|^2 on the calibration text: with the layer's unpruned weights
// (the error of the pruned inputs alone), with the kept parts' sliced weights, and after the
// fit; for the attention and the FFN projection. With the input re-fit, the relative errors of
// Q, K and V (their mean) and of the FFN's intermediate projection against the unpruned values:
// with the unpruned weights and after the fit.
struct LayerFit {
  double attn_unpruned = 0, attn_sliced = 0, attn_fitted = 0;
  double ffn_unpruned = 0, ffn_sliced = 0, ffn_fitted = 0;
  double qkv_unpruned = 0, qkv_fitted = 0, ffn_in_unpruned = 0, ffn_in_fitted = 0;
};

struct RefitResult {
  KeepSpec keep;      // what was kept
  Checkpoint pruned;  // base.prune(keep), re-fitted
  std::vector<LayerFit> layers;
  nlohmann::json layers_json() const;
};

// (step done, steps, what).
using RefitProgress = std::function<void(size_t, size_t, const std::string&)>;

// One plan per layer of `base`. kInvalidInput for a count out of range or every layer dropped.
RefitResult select_and_refit(const Checkpoint& base, const std::vector<LayerPlan>& plan,
                             const std::vector<model::Batch>& batches, ops::Backend& backend,
                             const RefitOptions& options, const RefitProgress& progress = {});

// sum |h_pruned - h_base|^2 / sum |h_base|^2 over the last hidden states of `batches`.
double reconstruction_error(const Checkpoint& base, const Checkpoint& pruned,
                            const std::vector<model::Batch>& batches, ops::Backend& backend);

}  // namespace ember::prune
