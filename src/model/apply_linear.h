// One call for a Linear layer whatever its weights hold: F32 (ops::linear) or int8
// (ops::linear_int8), so that the encoder has one forward pass for both.
#pragma once

#include "model/encoder_weights.h"

namespace ember::model {

// y[m, l.out] (row stride ldy) = act(x[m, l.in] (row stride ldx) * W^T + b).
inline void apply_linear(const LinearWeights& l, const float* x, int64_t m, int64_t ldx, float* y,
                         int64_t ldy, ops::Activation act = ops::Activation::kNone) {
  if (l.is_int8())
    ops::linear_int8(x, m, l.in, ldx, l.q, l.b, l.out, y, ldy, act);
  else
    ops::linear(x, m, l.in, ldx, l.w, l.b, l.out, y, ldy, act, l.packed);
}

}  // namespace ember::model
