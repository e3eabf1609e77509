#include "runtime/quantize_model.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <regex>
#include <system_error>

#include "core/aligned_buffer.h"
#include "core/error.h"
#include "io/json_config.h"
#include "io/model_dir.h"
#include "io/model_dir_writer.h"
#include "io/safetensors_writer.h"
#include "io/weight_store.h"
#include "model/int8_weights.h"
#include "model/model.h"
#include "runtime/smoothing.h"

namespace ember::runtime {
namespace fs = std::filesystem;

namespace {

constexpr int64_t kRandomBatches = 4;

// A Linear weight of an encoder layer in every supported family's naming
// (encoder.layer.N., transformer.layer.N., with any prefix): 2-D, ends in ".weight".
bool is_layer_linear(const std::string& name, const Tensor& t) {
  static const std::regex pattern(R"((^|\.)layers?\.[0-9]+\..*\.weight$)");
  return t.shape.rank() == 2 && std::regex_search(name, pattern);
}

// Everything but weights: tokenizer, config, pooling files (io::side_files).
std::vector<std::string> copy_model_files(const fs::path& from, const io::ModelDirWriter& to) {
  std::vector<std::string> copied;
  for (const fs::path& rel : io::side_files(from)) {
    to.copy_file(from / rel, rel);
    copied.push_back(rel.string());
  }
  return copied;
}

// The checkpoint's size on disk: its file, or for a shard index every file beside it of the
// shards' kind.
int64_t checkpoint_bytes(const io::Checkpoint& c) {
  const bool sharded = c.format == io::CheckpointFormat::kSafetensorsSharded ||
                       c.format == io::CheckpointFormat::kTorchSharded;
  if (!sharded) return static_cast<int64_t>(fs::file_size(c.path));
  const std::string ext = c.format == io::CheckpointFormat::kTorchSharded ? ".bin" : ".safetensors";
  int64_t bytes = 0;
  for (const auto& entry : fs::directory_iterator(c.path.parent_path()))
    if (entry.is_regular_file() && entry.path().extension() == ext)
      bytes += static_cast<int64_t>(entry.file_size());
  return bytes;
}

}  // namespace

double quantize_rows_symmetric(const float* w, int64_t rows, int64_t cols, int32_t limit, int8_t* q,
                               float* scale) {
  double max_err = 0;
  for (int64_t j = 0; j < rows; ++j) {
    const float* row = w + j * cols;
    float amax = 0;
    for (int64_t p = 0; p < cols; ++p) amax = std::max(amax, std::fabs(row[p]));
    EMBER_CHECK(std::isfinite(amax), ErrorKind::kInvalidInput, "weight row ", j,
                " has a non-finite value");
    const float s = amax > 0 ? amax / static_cast<float>(limit) : 1.0f;
    scale[j] = s;
    for (int64_t p = 0; p < cols; ++p) {
      const float v = std::nearbyint(row[p] / s);
      const int32_t qi = std::clamp(static_cast<int32_t>(v), -limit, limit);
      q[j * cols + p] = static_cast<int8_t>(qi);
      max_err = std::max(max_err, std::fabs(static_cast<double>(row[p]) - double{s} * qi));
    }
  }
  return max_err;
}

QuantizeReport quantize_model(const std::string& model, const fs::path& out_dir,
                              const QuantizeOptions& options, const QuantizeProgress& progress) {
  EMBER_CHECK(options.dtype == "int8" || options.dtype == "bf16", ErrorKind::kInvalidInput,
              "quantize dtype '", options.dtype, "' is not one of int8, bf16");
  EMBER_CHECK(!options.reduce_range.has_value() || options.dtype == "int8",
              ErrorKind::kInvalidInput, "reduce_range applies to int8 only");
  EMBER_CHECK(options.smooth_alpha >= 0.0 && options.smooth_alpha <= 1.0, ErrorKind::kInvalidInput,
              "smoothing alpha ", options.smooth_alpha, " is outside [0, 1]");
  const bool bf16 = options.dtype == "bf16";
  const io::ModelFiles files = io::resolve_model(model);
  EMBER_CHECK(files.checkpoint.has_value() && files.config.has_value(), ErrorKind::kUnsupported,
              files.dir.string(),
              ": quantize needs weights (safetensors, pytorch_model.bin or tf_model.h5, sharded or "
              "not) and config.json; ONNX models are not supported");
  // Refuses a bad --out (exists without force, the source, inside it, linked to it) before the
  // work; everything is written into a staging directory and appears at out_dir only complete.
  io::ModelDirWriter writer(out_dir, files.dir, {options.force});
  // Load once as a float model: fails early on anything Ember cannot run.
  const auto source = model::Model::load(io::JsonConfig::load(*files.config),
                                         io::load_checkpoint(*files.checkpoint));
  EMBER_CHECK(source->quantization().empty(), ErrorKind::kInvalidInput, files.dir.string(),
              ": the model is already quantized (", source->quantization(), ")");

  const io::WeightStore store = io::load_checkpoint(*files.checkpoint);
  const bool smooth = !bf16 && options.smooth;
  std::vector<LayerInputRange> ranges;
  if (smooth)
    ranges = input_ranges(files,
                          options.calibration.empty()
                              ? random_id_batches(source->spec(), options.seed, kRandomBatches, 8,
                                                  128, special_frame(files))
                              : options.calibration,
                          options.threads);
  // Per (layer, part): the input scales, made once (Q, K and V share theirs).
  std::vector<std::array<std::vector<float>, 4>> scales(ranges.size());
  const bool reduce_range = options.reduce_range.value_or(true);
  const int32_t limit = reduce_range ? 64 : 127;
  QuantizeReport report;
  report.out_dir = writer.out();
  report.bytes_in = checkpoint_bytes(*files.checkpoint);

  const auto names = store.names();
  std::vector<io::TensorToWrite> out;
  std::vector<AlignedBuffer<int8_t>> qbufs;
  std::vector<AlignedBuffer<float>> sbufs;
  for (size_t i = 0; i < names.size(); ++i) {
    const std::string& name = names[i];
    if (progress) progress(i, names.size(), name);
    const Tensor raw = store.get_raw(name);
    const bool floating =
        raw.dtype == DType::kF32 || raw.dtype == DType::kF16 || raw.dtype == DType::kBF16;
    const Tensor t = floating ? store.get(name) : raw;  // floats widened to F32 by the store
    if (!floating || !is_layer_linear(name, t)) {
      out.push_back({name, t});  // integers as they are
      ++report.tensors_kept;
      continue;
    }
    const int64_t rows = t.shape[0], cols = t.shape[1];
    if (bf16) {
      const uint16_t* b = store.get_bf16(name, t.shape);
      for (int64_t e = 0; e < rows * cols; ++e)
        report.max_abs_error = std::max(
            report.max_abs_error,
            std::fabs(static_cast<double>(t.f32()[e]) - static_cast<double>(bf16_to_float(b[e]))));
      out.push_back({name, Tensor{DType::kBF16, t.shape, const_cast<uint16_t*>(b)}});
      ++report.tensors_quantized;
      continue;
    }
    const float* w = t.f32();
    AlignedBuffer<float> smoothed;
    if (smooth) {
      const LinearSlot slot = find_linear(*source, name, w, rows, cols);
      if (slot.layer >= 0) {
        const auto& lw = source->weights().layers[static_cast<size_t>(slot.layer)];
        const ops::LinearSource* parts[] = {&lw.qkv, &lw.attn_out, &lw.ffn_in, &lw.ffn_out};
        const LayerInputRange& r = ranges[static_cast<size_t>(slot.layer)];
        const std::vector<float>* x_max[] = {&r.qkv, &r.attn_out, &r.ffn_in, &r.ffn_out};
        std::vector<float>& sc = scales[static_cast<size_t>(slot.layer)][slot.part];
        if (sc.empty()) {
          const ops::LinearSource& l = *parts[slot.part];
          std::vector<float> col_max;
          column_abs_max(l.w, l.out, l.in, col_max);
          sc = smoothing_scales(*x_max[slot.part], col_max, options.smooth_alpha);
        }
        smoothed = AlignedBuffer<float>(static_cast<size_t>(rows * cols));
        for (int64_t row = 0; row < rows; ++row)
          for (int64_t col = 0; col < cols; ++col)
            smoothed[row * cols + col] = w[row * cols + col] * sc[col];
        w = smoothed.data();
        const std::string base = name.substr(0, name.size() - std::string(".weight").size());
        out.push_back({base + ".input_scale",
                       Tensor{DType::kF32, Shape{cols}, const_cast<float*>(sc.data())}});
        ++report.tensors_smoothed;
      }
    }
    AlignedBuffer<int8_t> q(static_cast<size_t>(rows * cols));
    AlignedBuffer<float> s(static_cast<size_t>(rows));
    double err = 0;
    try {
      err = quantize_rows_symmetric(w, rows, cols, limit, q.data(), s.data());
    } catch (const Error& e) {
      fail(e.kind(), store.origin(), ": tensor '", name, "': ", e.what());
    }
    report.max_abs_error = std::max(report.max_abs_error, err);
    out.push_back({name, Tensor{DType::kI8, t.shape, q.data()}});
    out.push_back({name + "_scale", Tensor{DType::kF32, Shape{rows}, s.data()}});
    qbufs.push_back(std::move(q));
    sbufs.push_back(std::move(s));
    ++report.tensors_quantized;
  }
  EMBER_CHECK(report.tensors_quantized > 0, ErrorKind::kUnsupported, store.origin(),
              ": no encoder-layer Linear weight found to quantize");
  if (progress) progress(names.size(), names.size(), "");

  model::QuantizationMarker marker;
  marker.reduce_range = reduce_range;
  marker.input_scale = report.tensors_smoothed > 0;
  auto meta = store.metadata();
  if (!bf16) meta[model::kQuantizationKey] = model::marker_json(marker);
  const fs::path weights = writer.staging() / "model.safetensors";
  try {
    io::write_safetensors(weights, out, meta);
    report.bytes_out = static_cast<int64_t>(fs::file_size(weights));
    report.files_copied = copy_model_files(files.dir, writer);
    // The result must load as an int8 (or bf16) model of the same shape.
    io::WeightStore written = io::WeightStore::from_safetensors(weights);
    if (bf16) written.set_linear_dtype(DType::kBF16);
    const auto check = model::Model::load(io::JsonConfig::load(writer.staging() / "config.json"),
                                          std::move(written));
    EMBER_CHECK(bf16 ? check->bf16_linears() : check->quantization() == model::kInt8Scheme,
                ErrorKind::kInternal, "the written model did not load as ", options.dtype);
    writer.commit();
  } catch (const Error& e) {
    // The staging directory is removed on the way out; the message says what the user has.
    std::error_code ec;
    fail(e.kind(), e.what(), " (", writer.out().string(),
         fs::exists(writer.out(), ec) ? " is left as it was)" : " was not created)");
  }
  return report;
}

}  // namespace ember::runtime
