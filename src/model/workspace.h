// Activation memory for one forward pass and its heads, from the model's backend: one buffer per
// role, grown to the largest batch seen and then reused, so that the steady state allocates
// nothing. Host-side per-batch arrays (positions, relative biases, row indices) live here too.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "ops/backend.h"

namespace ember::model {

class Workspace {
 public:
  enum Slot { kX, kTmp, kQkv, kCtx, kFfn, kGate, kHeadIn, kHeadMid, kOut, kLogits, kSlots };

  explicit Workspace(ops::Backend& backend) : backend_(&backend) {}
  ops::Backend& backend() const { return *backend_; }

  // A dense rows x cols view of the slot, its buffer grown when needed (contents are not kept
  // across a growth).
  ops::View view(Slot slot, int64_t n_rows, int64_t n_cols) {
    auto& buf = buffers_[slot];
    const int64_t need = n_rows * n_cols;
    if (!buf || buf->floats() < need) buf = backend_->alloc(std::max<int64_t>(need, 1));
    return ops::dense_view(buf->data(), n_rows, n_cols);
  }
  // Grows a slot ahead of use (a forward grows all its slots first, then swaps x and tmp).
  void reserve(Slot slot, int64_t floats) {
    auto& buf = buffers_[slot];
    if (!buf || buf->floats() < floats) buf = backend_->alloc(std::max<int64_t>(floats, 1));
  }
  void swap(Slot a, Slot b) { std::swap(buffers_[a], buffers_[b]); }

  std::vector<int32_t> positions;         // [T]
  std::vector<float> rel_bias;            // [heads, 2 * span + 1]
  const float* rel_bias_table = nullptr;  // the relative bias table rel_bias was gathered from
  std::vector<int32_t> rel_bucket;        // MPNet: [2 * span + 1], distance -> bucket
  std::vector<int32_t> rows;              // row indices for gathers, sequence offsets of a group
  std::vector<int32_t> rel_index;         // DeBERTa: [2 * span + 1], distance -> relative table row

 private:
  ops::Backend* backend_;
  std::array<std::unique_ptr<ops::Buffer>, kSlots> buffers_;
};

}  // namespace ember::model
