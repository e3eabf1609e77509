#include "runtime/quantize_model.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <regex>
#include <system_error>
#include <utility>

#include "backends/cpu/cpu_backend.h"
#include "core/aligned_buffer.h"
#include "core/error.h"
#include "io/json_config.h"
#include "io/model_dir.h"
#include "io/model_dir_writer.h"
#include "io/safetensors_writer.h"
#include "io/weight_store.h"
#include "model/int8_weights.h"
#include "model/model.h"
#include "runtime/int8_sensitivity.h"
#include "runtime/keep_fp32.h"
#include "runtime/smoothing.h"

namespace ember::runtime {
namespace fs = std::filesystem;

namespace {

constexpr int64_t kRandomBatches = 4;
// auto:N ranks the Linears on the calibration batches up to this many tokens (the default
// random ids are ~2,250): each Linear of layer l costs layers l..L-1 of a forward over them.
constexpr int64_t kSensitivityTokens = 4096;

// A Linear weight of an encoder layer in every supported family's naming
// (encoder.layer.N., transformer.layer.N., with any prefix): 2-D, ends in ".weight". A pruned
// MPNet layer's relative-position table (attention.relative_attention_bias) is no Linear.
bool is_layer_linear(const std::string& name, const Tensor& t) {
  static const std::regex pattern(R"((^|\.)layers?\.[0-9]+\..*\.weight$)");
  return t.shape.rank() == 2 && std::regex_search(name, pattern) &&
         name.find("relative_attention_bias") == std::string::npos;
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

namespace {

// One encoder Linear weight tensor, quantized (and smoothed), kept until the Linears to keep in
// fp32 are known.
struct QuantizedTensor {
  std::string name;
  Tensor source;  // the float weights (F32)
  LinearSlot slot;
  AlignedBuffer<int8_t> q;
  AlignedBuffer<float> scale;
  const float* input_scale = nullptr;  // [in], or null without smoothing
  double max_error = 0;
};

// The source model with the kind-`kind` Linears of `tensors` int8, the rest as the source has
// them (an in-memory store over both): a probe for runtime/int8_sensitivity.h.
std::unique_ptr<model::Model> int8_kind_model(const io::ModelFiles& files,
                                              const io::WeightStore& store,
                                              const std::vector<QuantizedTensor>& tensors, int kind,
                                              const model::QuantizationMarker& marker) {
  io::WeightStore mixed;
  mixed.set_origin(cat(store.origin(), " (", model::kLinearKinds[kind], " in int8)"));
  std::vector<std::string> replaced;
  for (const QuantizedTensor& t : tensors) {
    if (t.slot.part != kind) continue;
    const int64_t rows = t.source.shape[0], cols = t.source.shape[1];
    mixed.add_tensor(t.name, Tensor{DType::kI8, t.source.shape, const_cast<int8_t*>(t.q.data())});
    mixed.add_tensor(t.name + "_scale",
                     Tensor{DType::kF32, Shape{rows}, const_cast<float*>(t.scale.data())});
    if (t.input_scale) {
      const std::string base = t.name.substr(0, t.name.size() - std::string(".weight").size());
      mixed.add_tensor(base + ".input_scale",
                       Tensor{DType::kF32, Shape{cols}, const_cast<float*>(t.input_scale)});
    }
    replaced.push_back(t.name);
  }
  for (const std::string& name : store.names())
    if (std::find(replaced.begin(), replaced.end(), name) == replaced.end())
      mixed.add_tensor(name, store.get_raw(name));
  mixed.set_metadata({{model::kQuantizationKey, model::marker_json(marker)}});
  return model::Model::load(io::JsonConfig::load(*files.config), std::move(mixed));
}

// Ranks the encoder Linears by int8_sensitivity on `batches` (the first kSensitivityTokens
// tokens' worth) and adds the `count` worst to `keep`; returns the ranking, worst first.
std::vector<std::pair<std::string, double>> keep_sensitive(
    const io::ModelFiles& files, const io::WeightStore& store, model::Model& source,
    const std::vector<QuantizedTensor>& tensors, const model::QuantizationMarker& marker,
    const std::vector<model::Batch>& batches, int threads, int64_t count, std::vector<bool>& keep) {
  cpu::CpuBackendOptions co;
  co.pool.threads = threads;
  co.pack_weights = false;  // a few batches: packing would cost more than it saves
  cpu::CpuBackend backend(co);
  source.prepare(backend);
  std::array<std::unique_ptr<model::Model>, model::kLinearKindCount> owned;
  std::array<const model::Model*, model::kLinearKindCount> kinds{};
  for (int k = 0; k < model::kLinearKindCount; ++k) {
    const bool any = std::any_of(tensors.begin(), tensors.end(),
                                 [&](const QuantizedTensor& t) { return t.slot.part == k; });
    if (!any) continue;
    owned[k] = int8_kind_model(files, store, tensors, k, marker);
    owned[k]->prepare(backend);
    kinds[k] = owned[k].get();
  }
  std::vector<model::Batch> probe;
  int64_t tokens = 0;
  for (const model::Batch& b : batches) {
    if (tokens >= kSensitivityTokens) break;
    probe.push_back(b);
    tokens += b.num_tokens();
  }
  const std::vector<double> score = int8_sensitivity(source, kinds, probe, backend);
  keep_most_sensitive(score, count, keep);
  std::vector<std::pair<std::string, double>> ranked;
  for (size_t i = 0; i < score.size(); ++i)
    if (!std::isnan(score[i]))
      ranked.emplace_back(model::linear_name(static_cast<int64_t>(i) / model::kLinearKindCount,
                                             static_cast<int>(i) % model::kLinearKindCount),
                          score[i]);
  std::stable_sort(ranked.begin(), ranked.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  return ranked;
}

}  // namespace

QuantizeReport quantize_model(const std::string& model, const fs::path& out_dir,
                              const QuantizeOptions& options, const QuantizeProgress& progress) {
  EMBER_CHECK(options.dtype == "int8" || options.dtype == "bf16", ErrorKind::kInvalidInput,
              "quantize dtype '", options.dtype, "' is not one of int8, bf16");
  EMBER_CHECK(!options.reduce_range.has_value() || options.dtype == "int8",
              ErrorKind::kInvalidInput, "reduce_range applies to int8 only");
  EMBER_CHECK(options.smooth_alpha >= 0.0 && options.smooth_alpha <= 1.0, ErrorKind::kInvalidInput,
              "smoothing alpha ", options.smooth_alpha, " is outside [0, 1]");
  const bool bf16 = options.dtype == "bf16";
  const KeepFp32 keep_spec =
      options.keep_fp32.empty() ? KeepFp32{} : parse_keep_fp32(options.keep_fp32);
  EMBER_CHECK(keep_spec.empty() || !bf16, ErrorKind::kInvalidInput,
              "--keep-fp32 applies to int8 only");
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
  const auto num_layers = static_cast<int64_t>(source->spec().layers.size());
  std::vector<bool> keep = resolve_keep_fp32(keep_spec, num_layers);
  if (!keep_spec.empty()) {
    // Checked before any work: auto:N needs N Linears left, and some Linear must stay int8.
    int64_t left = 0;
    for (int64_t l = 0; l < num_layers; ++l) {
      const auto& lw = source->weights().layers[static_cast<size_t>(l)];
      const ops::LinearSource* parts[] = {&lw.qkv, &lw.attn_out, &lw.ffn_in, &lw.ffn_out};
      for (int k = 0; k < model::kLinearKindCount; ++k)
        left += parts[k]->out > 0 && !keep[static_cast<size_t>(l * model::kLinearKindCount + k)];
    }
    EMBER_CHECK(keep_spec.auto_count <= left, ErrorKind::kInvalidInput,
                "--keep-fp32 auto:", keep_spec.auto_count, ": only ", left,
                " encoder Linears are left to choose from");
    EMBER_CHECK(left > keep_spec.auto_count, ErrorKind::kInvalidInput, "--keep-fp32 '",
                options.keep_fp32,
                "' keeps every encoder Linear in fp32: nothing is left to quantize (the float "
                "model is that)");
  }

  const io::WeightStore store = io::load_checkpoint(*files.checkpoint);
  const bool smooth = !bf16 && options.smooth;
  std::vector<model::Batch> batches;
  if (smooth || keep_spec.auto_count > 0)
    batches = options.calibration.empty()
                  ? random_id_batches(source->spec(), options.seed, kRandomBatches, 8, 128,
                                      special_frame(files))
                  : options.calibration;
  std::vector<LayerInputRange> ranges;
  if (smooth) ranges = input_ranges(files, batches, options.threads);
  // Per (layer, part): the input scales, made once (Q, K and V share theirs).
  std::vector<std::array<std::vector<float>, 4>> scales(ranges.size());
  const bool reduce_range = options.reduce_range.value_or(true);
  const int32_t limit = reduce_range ? 64 : 127;
  QuantizeReport report;
  report.out_dir = writer.out();
  report.bytes_in = checkpoint_bytes(*files.checkpoint);

  const auto names = store.names();
  std::vector<io::TensorToWrite> out;
  std::vector<QuantizedTensor> quantized;
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
    QuantizedTensor qt;
    qt.name = name;
    qt.source = t;
    const float* w = t.f32();
    qt.slot = find_linear(*source, name, w, rows, cols);
    AlignedBuffer<float> smoothed;
    if (smooth && qt.slot.layer >= 0) {
      const auto& lw = source->weights().layers[static_cast<size_t>(qt.slot.layer)];
      const ops::LinearSource* parts[] = {&lw.qkv, &lw.attn_out, &lw.ffn_in, &lw.ffn_out};
      const LayerInputRange& r = ranges[static_cast<size_t>(qt.slot.layer)];
      const std::vector<float>* x_max[] = {&r.qkv, &r.attn_out, &r.ffn_in, &r.ffn_out};
      std::vector<float>& sc = scales[static_cast<size_t>(qt.slot.layer)][qt.slot.part];
      if (sc.empty()) {
        const ops::LinearSource& l = *parts[qt.slot.part];
        std::vector<float> col_max;
        column_abs_max(l.w, l.out, l.in, col_max);
        sc = smoothing_scales(*x_max[qt.slot.part], col_max, options.smooth_alpha);
      }
      smoothed = AlignedBuffer<float>(static_cast<size_t>(rows * cols));
      for (int64_t row = 0; row < rows; ++row)
        for (int64_t col = 0; col < cols; ++col)
          smoothed[row * cols + col] = w[row * cols + col] * sc[col];
      w = smoothed.data();
      qt.input_scale = sc.data();
    }
    qt.q = AlignedBuffer<int8_t>(static_cast<size_t>(rows * cols));
    qt.scale = AlignedBuffer<float>(static_cast<size_t>(rows));
    try {
      qt.max_error = quantize_rows_symmetric(w, rows, cols, limit, qt.q.data(), qt.scale.data());
    } catch (const Error& e) {
      fail(e.kind(), store.origin(), ": tensor '", name, "': ", e.what());
    }
    quantized.push_back(std::move(qt));
  }
  EMBER_CHECK(report.tensors_quantized > 0 || !quantized.empty(), ErrorKind::kUnsupported,
              store.origin(), ": no encoder-layer Linear weight found to quantize");

  model::QuantizationMarker marker;
  marker.reduce_range = reduce_range;
  marker.input_scale = std::any_of(quantized.begin(), quantized.end(),
                                   [](const QuantizedTensor& q) { return q.input_scale; });
  if (keep_spec.auto_count > 0)
    report.sensitivity = keep_sensitive(files, store, *source, quantized, marker, batches,
                                        options.threads, keep_spec.auto_count, keep);
  // The Linears kept: their float weights as the source has them, no scales.
  const auto& layer_weights = source->weights().layers;
  for (int64_t l = 0; l < num_layers; ++l) {
    const auto& lw = layer_weights[static_cast<size_t>(l)];
    const ops::LinearSource* parts[] = {&lw.qkv, &lw.attn_out, &lw.ffn_in, &lw.ffn_out};
    for (int k = 0; k < model::kLinearKindCount; ++k)
      if (keep[static_cast<size_t>(l * model::kLinearKindCount + k)] && parts[k]->out > 0)
        report.fp32_linears.push_back(model::linear_name(l, k));
  }
  for (const QuantizedTensor& qt : quantized) {
    const bool kept =
        qt.slot.layer >= 0 &&
        keep[static_cast<size_t>(qt.slot.layer * model::kLinearKindCount + qt.slot.part)];
    if (kept) {
      out.push_back({qt.name, qt.source});
      ++report.tensors_kept;
      continue;
    }
    const int64_t rows = qt.source.shape[0], cols = qt.source.shape[1];
    if (qt.input_scale) {
      const std::string base = qt.name.substr(0, qt.name.size() - std::string(".weight").size());
      out.push_back({base + ".input_scale",
                     Tensor{DType::kF32, Shape{cols}, const_cast<float*>(qt.input_scale)}});
      ++report.tensors_smoothed;
    }
    out.push_back({qt.name, Tensor{DType::kI8, qt.source.shape, const_cast<int8_t*>(qt.q.data())}});
    out.push_back({qt.name + "_scale",
                   Tensor{DType::kF32, Shape{rows}, const_cast<float*>(qt.scale.data())}});
    report.max_abs_error = std::max(report.max_abs_error, qt.max_error);
    ++report.tensors_quantized;
  }
  EMBER_CHECK(report.tensors_quantized > 0, ErrorKind::kInvalidInput, "--keep-fp32 '",
              options.keep_fp32,
              "' keeps every encoder Linear in fp32: nothing is left to quantize (the float "
              "model is that)");
  if (progress) progress(names.size(), names.size(), "");

  marker.input_scale = report.tensors_smoothed > 0;
  if (!report.fp32_linears.empty()) marker.fp32_linears = report.fp32_linears;
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
    EMBER_CHECK(bf16 || check->weights().fp32_linears == report.fp32_linears, ErrorKind::kInternal,
                "the written model does not keep the Linears asked in fp32");
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
