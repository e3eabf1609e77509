// How many heads and FFN units each layer keeps, and which layers go, for a cost budget.
//
// profile_layers runs the unpruned model over the calibration text and, for every layer, lets
// the surgeon (surgeon.h) remove the attention's heads and the FFN's units one at a time,
// cheapest first, recording the error left after the least-squares re-fit at every count. The
// errors are relative to the energy of the layer's (centered) pre-norm sum, the value its
// LayerNorm scales to unit size, so that they compare across layers and between the attention
// and the FFN. allocate() then spends the budget greedily: of all moves (one head less in a
// layer, a block of FFN units less, a whole layer dropped) it takes the one that adds the least
// error per unit of cost saved, until the model's estimated cost is at most the fraction asked.
#pragma once

#include <cstdint>
#include <vector>

#include "model/batch.h"
#include "model/model_spec.h"
#include "ops/backend.h"
#include "prune/checkpoint.h"
#include "prune/refit.h"
#include "runtime/bench_runner.h"

namespace ember::prune {

struct LayerCurve {
  std::vector<double> heads;  // [kept heads]: the attention's relative error, 0..heads
  std::vector<double> ffn;    // [kept units]: the FFN's relative error, 0..width
};

// With `output_eval` (texts not among `batches`), each curve is rescaled to the error at the
// model's output: at 3/4, 1/2 and 1/4 of a layer's heads (units) the model with only that
// layer's part cut, its projection as the surgeon left it, runs `output_eval` to the last hidden
// state, whose relative squared error to the unpruned model's becomes the curve's value there;
// between these the curve follows the local error.
std::vector<LayerCurve> profile_layers(const Checkpoint& base,
                                       const std::vector<model::Batch>& batches,
                                       ops::Backend& backend, double ridge,
                                       const std::vector<model::Batch>& output_eval = {});

// Multiply-adds of the parts at the served shapes, each shape's total normalized to 1.
struct CostModel {
  double head = 0, unit = 0, layer = 0, fixed = 0;  // per head, FFN unit, kept layer; the rest
  static CostModel of(const model::ModelSpec& spec, const std::vector<runtime::BenchCell>& shapes);
  double cost(const std::vector<LayerPlan>& plan, const model::ModelSpec& spec) const;
};

// Counts per layer (LayerPlan with empty lists) whose estimated cost is at most `fraction` of
// the unpruned model's.
std::vector<LayerPlan> allocate(const std::vector<LayerCurve>& curves, const model::ModelSpec& spec,
                                const CostModel& cost, double fraction);

// The estimated error of a plan: the sum of its layers' relative errors (dropped layers count
// their error with nothing kept).
double estimated_error(const std::vector<LayerCurve>& curves, const std::vector<LayerPlan>& plan);

}  // namespace ember::prune
