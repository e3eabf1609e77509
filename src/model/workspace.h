// Activation buffers for one forward pass, grown to the largest batch seen and then reused:
// the steady state allocates nothing.
#pragma once

#include <cstdint>

#include "core/aligned_buffer.h"
#include "model/encoder_config.h"

namespace ember::model {

struct Workspace {
  AlignedBuffer<float> x;      // [T, max(H, E)] hidden state
  AlignedBuffer<float> tmp;    // [T, H]
  AlignedBuffer<float> qkv;    // [T, 3H]
  AlignedBuffer<float> ctx;    // [T, H]
  AlignedBuffer<float> ffn;    // [T, I]
  AlignedBuffer<float> first;  // [B, H] first token of each sequence (classifier input)
  AlignedBuffer<float> head;   // [B, H] classifier scratch

  void reserve(const EncoderConfig& c, int64_t tokens, int64_t sequences);
};

}  // namespace ember::model
