// `ember quantize --keep-fp32 SPEC`: which encoder Linears of an int8 model stay fp32
// (docs/quantization.md, "Keeping Linears in fp32"). SPEC is a comma-separated list of
//   KIND            that Linear in every layer (qkv, attn_out, ffn_in, ffn_out)
//   layer.N         every Linear of layer N
//   layer.N.KIND    one Linear
//   auto:N          the N most sensitive of the others, measured on the calibration inputs
//                   (runtime/int8_sensitivity.h)
// The kinds are the Linears the engine runs (model::kLinearKinds): Q, K and V are one fused
// projection, so they are kept together as `qkv`.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ember::runtime {

struct KeepFp32 {
  struct Item {
    int64_t layer = -1;  // -1: every layer
    int kind = -1;       // index into model::kLinearKinds; -1: every kind
  };
  std::vector<Item> items;
  int64_t auto_count = 0;  // N of "auto:N"; 0: none
  bool empty() const { return items.empty() && auto_count == 0; }
};

// kInvalidInput, naming the item, for an empty item, an unknown kind (q, k and v get a
// message pointing at qkv), a layer index that is not a non-negative integer, an auto count
// that is not a positive integer, or auto given twice.
KeepFp32 parse_keep_fp32(std::string_view spec);

// The Linears the explicit items keep in a model of `layers` layers, as flags indexed
// layer * kLinearKindCount + kind. kInvalidInput for a layer index >= layers.
std::vector<bool> resolve_keep_fp32(const KeepFp32& keep, int64_t layers);

// Adds to `keep` the `count` Linears of highest `score` (same indexing; entries of Linears
// the model lacks are NaN) among those not yet kept; ties go to the lower index.
// kInvalidInput when fewer than `count` remain.
void keep_most_sensitive(const std::vector<double>& score, int64_t count, std::vector<bool>& keep);

}  // namespace ember::runtime
