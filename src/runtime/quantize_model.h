// `ember quantize`: writes an int8 or bf16 model directory from a float one. int8
// (model/int8_weights.h describes the format, docs/quantization.md the scheme): each Linear
// weight of the encoder layers ("...layer.N....weight", 2-D) becomes I8 [out, in] + F32 scale
// [out], symmetric per output channel. bf16 (docs/bf16.md): each of those weights becomes BF16
// [out, in], rounded to nearest even. Either way embeddings, LayerNorm, biases and heads stay
// F32. The tokenizer, config and
// pooling files are copied. The result is loaded once to validate it. The directory is written
// by io::ModelDirWriter: complete or not at all, never through a link into the source.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "model/batch.h"

namespace ember::runtime {

struct QuantizeOptions {
  std::string dtype = "int8";  // "int8" or "bf16"
  // int8: true (unset): 7-bit weights ([-64, 64]) and u8 activations; false: 8-bit weights and
  // u7 activations (docs/quantization.md, "The vpmaddubsw saturation"). Set with bf16: an error.
  std::optional<bool> reduce_range;
  bool force = false;  // replace an existing output directory (once the new one is done)
  // int8: per-input-channel smoothing (runtime/smoothing.h) with this exponent; off: none.
  bool smooth = true;
  double smooth_alpha = 0.5;
  // The texts smoothing measures activations on, tokenized; empty: random token ids
  // (kRandomBatches batches of 8 x 128, drawn with `seed`).
  std::vector<model::Batch> calibration;
  uint64_t seed = 0;
  int threads = 0;  // compute threads of the calibration pass; 0: all cores
  // int8: the encoder Linears that stay fp32 (runtime/keep_fp32.h: "ffn_out",
  // "layer.11.ffn_out", "auto:2", comma-separated); empty: none. auto:N ranks them on the
  // calibration inputs (runtime/int8_sensitivity.h).
  std::string keep_fp32;
};

struct QuantizeReport {
  std::filesystem::path out_dir;
  int64_t tensors_quantized = 0;
  int64_t tensors_kept = 0;
  int64_t bytes_in = 0;          // the source weights file
  int64_t bytes_out = 0;         // the written model.safetensors
  double max_abs_error = 0;      // largest |w - scale * q| (or |w - bf16(w)|) over those weights
  int64_t tensors_smoothed = 0;  // int8 weights written with an input_scale
  std::vector<std::string> files_copied;
  // int8: the encoder Linears written in fp32 ("layer.<i>.<kind>"), and with auto:N every
  // Linear's sensitivity score, worst first.
  std::vector<std::string> fp32_linears;
  std::vector<std::pair<std::string, double>> sensitivity;
};

// (tensors done, tensors total, current tensor name).
using QuantizeProgress = std::function<void(size_t, size_t, const std::string&)>;

// kUnsupported for a model without model.safetensors (ONNX); kInvalidInput for another dtype,
// reduce_range or keep_fp32 with bf16, a bad keep_fp32 (runtime/keep_fp32.h; a layer out of
// range; auto:N beyond the Linears left; every Linear kept), or when out_dir
// exists (without force), is the model's directory, is inside it or shares a file with it
// (io/model_dir_writer.h); kUnavailable when writing fails (the old output, if any, is then
// untouched); plus every error of loading the source or the result.
QuantizeReport quantize_model(const std::string& model, const std::filesystem::path& out_dir,
                              const QuantizeOptions& options,
                              const QuantizeProgress& progress = {});

// Symmetric per-row int8 of w[rows, cols] into q with scale[rows] (limit 127, or 64 with
// reduce_range); a zero row gets scale 1. Returns the largest |w - scale * q|.
double quantize_rows_symmetric(const float* w, int64_t rows, int64_t cols, int32_t limit, int8_t* q,
                               float* scale);

}  // namespace ember::runtime
