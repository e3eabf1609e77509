#include "runtime/smoothing.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <regex>

#include "backends/cpu/cpu_backend.h"
#include "core/error.h"
#include "io/json_config.h"
#include "io/weight_store.h"
#include "model/workspace.h"
#include "tokenizer/tokenizer.h"

namespace ember::runtime {
namespace {

void fold_max(const ops::View& v, std::vector<float>& m) {
  if (m.empty()) m.assign(static_cast<size_t>(v.cols), 0.0f);
  for (int64_t i = 0; i < v.rows; ++i) {
    const float* r = v.data + i * v.ld;
    for (int64_t j = 0; j < v.cols; ++j) m[j] = std::max(m[j], std::fabs(r[j]));
  }
}

}  // namespace

std::vector<LayerInputRange> input_ranges(const io::ModelFiles& files,
                                          const std::vector<model::Batch>& batches, int threads) {
  cpu::CpuBackendOptions co;
  co.pool.threads = threads;
  co.pack_weights = false;  // a few batches: packing would cost more than it saves
  cpu::CpuBackend backend(co);
  const auto model = model::Model::load(io::JsonConfig::load(*files.config),
                                        io::load_checkpoint(*files.checkpoint));
  model->prepare(backend);
  std::vector<LayerInputRange> ranges(model->spec().layers.size());
  size_t layer = 0;
  const model::LayerTap tap = [&](model::TapPoint p, const ops::View& v) {
    LayerInputRange& r = ranges[layer];
    switch (p) {
      case model::TapPoint::kQkvInput:
        fold_max(v, r.qkv);
        break;
      case model::TapPoint::kAttnContext:
        fold_max(v, r.attn_out);
        break;
      case model::TapPoint::kFfnInput:
        fold_max(v, r.ffn_in);
        break;
      case model::TapPoint::kFfnActivation:
        fold_max(v, r.ffn_out);
        break;
      default:
        break;
    }
  };
  model::Workspace ws(backend);
  for (const model::Batch& batch : batches) {
    model->start(batch, ws);
    for (layer = 0; layer < ranges.size(); ++layer) model->run_layer(layer, batch, ws, &tap);
  }
  return ranges;
}

SpecialFrame special_frame(const io::ModelFiles& files) {
  if (!files.tokenizer) return {};
  const tok::Tokenizer tokenizer = tok::Tokenizer::from_file(*files.tokenizer);
  // Where the text's own ids sit in its encoding with the special tokens tells them apart.
  const std::vector<int32_t> text = tokenizer.encode("a", false).ids;
  const std::vector<int32_t> all = tokenizer.encode("a", true).ids;
  const auto at = std::search(all.begin(), all.end(), text.begin(), text.end());
  if (text.empty() || at == all.end()) return {};
  return {std::vector<int32_t>(all.begin(), at),
          std::vector<int32_t>(at + static_cast<std::ptrdiff_t>(text.size()), all.end())};
}

std::vector<model::Batch> random_id_batches(const model::ModelSpec& spec, uint64_t seed,
                                            int64_t count, int64_t sequences, int64_t tokens,
                                            const SpecialFrame& frame) {
  const int64_t vocab = spec.vocab_size();
  EMBER_CHECK(vocab > 1, ErrorKind::kInvalidInput, "random calibration ids need a vocabulary");
  const int64_t lo = std::min<int64_t>(1000, vocab / 2);
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int64_t> pick(lo, vocab - 1);
  std::uniform_int_distribution<int64_t> short_length(1, 16);
  const auto framing = static_cast<int64_t>(frame.before.size() + frame.after.size());
  if (spec.embeddings.max_positions > 2)
    tokens = std::min(tokens, spec.embeddings.max_positions - 2 - framing);
  tokens = std::max<int64_t>(tokens, 1);
  std::vector<model::Batch> out(static_cast<size_t>(count));
  std::vector<int32_t> ids;
  for (auto& b : out)
    for (int64_t s = 0; s < sequences; ++s) {
      const int64_t n = s % 2 == 0 ? tokens : std::min(tokens, short_length(rng));
      ids.assign(frame.before.begin(), frame.before.end());
      for (int64_t i = 0; i < n; ++i) ids.push_back(static_cast<int32_t>(pick(rng)));
      ids.insert(ids.end(), frame.after.begin(), frame.after.end());
      b.add(ids);
    }
  return out;
}

void column_abs_max(const float* w, int64_t rows, int64_t cols, std::vector<float>& col_max) {
  if (col_max.empty()) col_max.assign(static_cast<size_t>(cols), 0.0f);
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j)
      col_max[j] = std::max(col_max[j], std::fabs(w[i * cols + j]));
}

std::vector<float> smoothing_scales(const std::vector<float>& x_max,
                                    const std::vector<float>& col_max, double alpha) {
  EMBER_CHECK(x_max.size() == col_max.size(), ErrorKind::kInternal,
              "smoothing: input range and weight columns differ in width");
  std::vector<float> s(x_max.size(), 1.0f);
  for (size_t j = 0; j < s.size(); ++j) {
    if (!(x_max[j] > 0.0f) || !(col_max[j] > 0.0f)) continue;
    const double v = std::pow(double{x_max[j]}, alpha) / std::pow(double{col_max[j]}, 1.0 - alpha);
    if (std::isfinite(v) && v > 1e-30 && v < 1e30) s[j] = static_cast<float>(v);
  }
  return s;
}

LinearSlot find_linear(const model::Model& model, const std::string& name, const float* w,
                       int64_t rows, int64_t cols) {
  static const std::regex layer_index(R"((^|\.)layers?\.([0-9]+)\.)");
  std::smatch m;
  if (!std::regex_search(name, m, layer_index)) return {};
  const int64_t layer = std::stoll(m[2].str());
  const auto& layers = model.weights().layers;
  if (layer < 0 || layer >= static_cast<int64_t>(layers.size())) return {};
  const auto& lw = layers[static_cast<size_t>(layer)];
  const ops::LinearSource* parts[] = {&lw.qkv, &lw.attn_out, &lw.ffn_in, &lw.ffn_out};
  const size_t row_bytes = sizeof(float) * static_cast<size_t>(cols);
  for (int part = 0; part < 4; ++part) {
    const ops::LinearSource& l = *parts[part];
    if (!l.w || l.in != cols || l.out < rows) continue;
    for (int64_t r0 = 0; r0 + rows <= l.out; ++r0)
      if (std::memcmp(l.w + r0 * cols, w, row_bytes) == 0 &&
          std::memcmp(l.w + r0 * cols, w, row_bytes * static_cast<size_t>(rows)) == 0)
        return {layer, part};
  }
  return {};
}

}  // namespace ember::runtime
