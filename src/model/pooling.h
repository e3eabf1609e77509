// Sentence embeddings from the last hidden state, as sentence-transformers computes them.
#pragma once

#include <cstdint>

#include "io/sentence_transformers.h"
#include "model/batch.h"

namespace ember::model {

// out[B, H]: one pooled vector per sequence; `normalize` divides by max(||v||, 1e-12).
void pool(const float* hidden, int64_t hidden_size, const Batch& batch, io::PoolingMode mode,
          bool normalize, float* out);

}  // namespace ember::model
