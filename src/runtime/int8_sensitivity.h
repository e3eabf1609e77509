// How much each encoder Linear costs when it alone is int8: the ranking behind
// `ember quantize --keep-fp32 auto:N` (docs/quantization.md, "Keeping Linears in fp32").
// For Linear (layer l, kind k), the float model runs the calibration batches up to layer l,
// layer l runs with that one Linear int8 (a model whose kind-k Linears are int8, the others
// float), and the float model runs the layers after it. The score is the mean over the
// calibration inputs of 1 - cos(a, b), a and b the mean over the input's tokens of the last
// layer's output with and without that Linear in int8 (the sentence embedding of mean-pooling
// models; before any final norm). Each layer's float input is computed once per batch, so a
// Linear of layer l costs the layers l..L-1 of one forward.
#pragma once

#include <array>
#include <vector>

#include "model/batch.h"
#include "model/model.h"
#include "ops/backend.h"

namespace ember::runtime {

// `fp32` and every non-null `int8_kind[k]` (the same model with its kind-k Linears int8) must
// be prepared on `backend`, a backend of host memory (CPU, reference). Returns the scores indexed
// layer * kLinearKindCount + kind; NaN for the Linears of a kind without a model, or that the model
// lacks.
std::vector<double> int8_sensitivity(const model::Model& fp32,
                                     const std::array<const model::Model*, 4>& int8_kind,
                                     const std::vector<model::Batch>& batches,
                                     ops::Backend& backend);

}  // namespace ember::runtime
