// The int8 model format that `ember quantize` writes (docs/quantization.md): a
// model.safetensors in which each Linear weight of the encoder layers, "<name>.weight", is an
// I8 tensor [out, in] (symmetric, per output channel) with an F32 "<name>.weight_scale" [out];
// everything else stays F32. The header's __metadata__ carries
//   "ember_quantization": {"scheme": "int8-dynamic", "version": 1, "reduce_range": false,
//                          "input_scale": true}
// With "input_scale" (smoothing), a Linear may have an F32 "<name>.input_scale" [in]: its
// activations are quantized as x[j] / input_scale[j] (the weights were written smoothed).
// With "fp32_linears": ["layer.11.ffn_out", ...] (`ember quantize --keep-fp32`), the encoder
// Linears named there stay F32 and run the fp32 kernels; every other one must be int8.
// Binding validates shapes, dtypes, scales (finite, > 0) and weight ranges with typed errors.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "io/weight_store.h"
#include "model/model_weights.h"

namespace ember::model {

inline constexpr const char* kQuantizationKey = "ember_quantization";
inline constexpr const char* kInt8Scheme = "int8-dynamic";
inline constexpr int kInt8Version = 1;

struct QuantizationMarker {
  std::string scheme = kInt8Scheme;
  int version = kInt8Version;
  // 7-bit weights ([-64, 64]) and u8 activations; else 8-bit weights ([-127, 127]) and u7
  // activations. Either way no vpmaddubsw pair sum can saturate.
  bool reduce_range = false;
  // Linears may carry "<name>.input_scale" (per-input-channel smoothing); absent in files
  // written without smoothing, which load as they were written.
  bool input_scale = false;
  // The encoder Linears kept in F32 ("layer.<i>.<kind>", kind one of kLinearKinds), in layer
  // and kind order; absent in files written without --keep-fp32 (then any float encoder
  // Linear loads as such, as before).
  std::optional<std::vector<std::string>> fp32_linears;
};

// The four Linears of an encoder layer as the engine runs them (Q, K and V are one fused
// projection), in LayerWeights order: the names --keep-fp32 and "fp32_linears" use.
inline constexpr const char* kLinearKinds[] = {"qkv", "attn_out", "ffn_in", "ffn_out"};
inline constexpr int kLinearKindCount = 4;
// "layer.<layer>.<kLinearKinds[kind]>".
std::string linear_name(int64_t layer, int kind);

std::string marker_json(const QuantizationMarker& m);
// The marker of the store's metadata, if any. kInvalidInput if it is not valid JSON of that
// form, kUnsupported for another scheme or version.
std::optional<QuantizationMarker> read_marker(const io::WeightStore& store);

namespace detail {
// Binds "<name>.weight" (I8 [out, in]), "<name>.weight_scale" (F32 [out]) and, if present,
// "<name>.input_scale" (F32 [in], finite and > 0; kept as q.act_scale until finish_int8 turns
// it into its reciprocal).
ops::LinearSource bind_int8_linear(const io::WeightStore& store, const std::string& name,
                                   int64_t out, int64_t in);
// int8 projections of one input concatenated by rows (as their per-channel scales allow), into
// buffers owned by `weights`; kInvalidInput when they are not all int8 or their input scales
// differ (one input, one smoothing).
ops::LinearSource fuse_int8(const std::vector<ops::LinearSource>& parts, ModelWeights& weights,
                            const std::string& origin);
// After binding: checks marker vs tensors and weight ranges (and the marker's fp32_linears
// against the encoder Linears that are not int8), computes the column sums, sets the
// activation range, weights.quantization and weights.fp32_linears.
void finish_int8(const io::WeightStore& store, ModelWeights& weights);
}  // namespace detail

}  // namespace ember::model
