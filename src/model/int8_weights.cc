#include "model/int8_weights.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>

#include "core/error.h"

namespace ember::model {

std::string marker_json(const QuantizationMarker& m) {
  nlohmann::ordered_json j;
  j["scheme"] = m.scheme;
  j["version"] = m.version;
  j["reduce_range"] = m.reduce_range;
  if (m.input_scale) j["input_scale"] = true;
  if (m.fp32_linears) j["fp32_linears"] = *m.fp32_linears;
  return j.dump();
}

std::string linear_name(int64_t layer, int kind) {
  return cat("layer.", layer, ".", kLinearKinds[kind]);
}

std::optional<QuantizationMarker> read_marker(const io::WeightStore& store) {
  const auto it = store.metadata().find(kQuantizationKey);
  if (it == store.metadata().end()) return std::nullopt;
  const auto j = nlohmann::json::parse(it->second, nullptr, false);
  EMBER_CHECK(j.is_object() && j.contains("scheme") && j["scheme"].is_string() &&
                  j.contains("version") && j["version"].is_number_integer(),
              ErrorKind::kInvalidInput, store.origin(), ": metadata '", kQuantizationKey,
              "' must be a JSON object with a string 'scheme' and an integer 'version'");
  QuantizationMarker m;
  m.scheme = j["scheme"].get<std::string>();
  m.version = j["version"].get<int>();
  EMBER_CHECK(m.scheme == kInt8Scheme && m.version == kInt8Version, ErrorKind::kUnsupported,
              store.origin(), ": quantization scheme '", m.scheme, "' version ", m.version,
              " is not supported (", kInt8Scheme, " version ", kInt8Version, ")");
  if (j.contains("reduce_range")) {
    EMBER_CHECK(j["reduce_range"].is_boolean(), ErrorKind::kInvalidInput, store.origin(), ": ",
                kQuantizationKey, ".reduce_range must be a boolean");
    m.reduce_range = j["reduce_range"].get<bool>();
  }
  if (j.contains("input_scale")) {
    EMBER_CHECK(j["input_scale"].is_boolean(), ErrorKind::kInvalidInput, store.origin(), ": ",
                kQuantizationKey, ".input_scale must be a boolean");
    m.input_scale = j["input_scale"].get<bool>();
  }
  if (j.contains("fp32_linears")) {
    const auto& list = j["fp32_linears"];
    bool strings = list.is_array();
    for (const auto& e : list) strings &= e.is_string();
    EMBER_CHECK(strings, ErrorKind::kInvalidInput, store.origin(), ": ", kQuantizationKey,
                ".fp32_linears must be an array of Linear names (\"layer.<i>.<kind>\")");
    m.fp32_linears = list.get<std::vector<std::string>>();
  }
  return m;
}

namespace detail {

ops::LinearSource bind_int8_linear(const io::WeightStore& store, const std::string& name,
                                   int64_t out, int64_t in) {
  const std::string wname = name + ".weight", sname = name + ".weight_scale";
  const Tensor w = store.get_raw(wname);
  EMBER_CHECK(w.dtype == DType::kI8, ErrorKind::kInvalidInput, store.origin(), ": tensor '", wname,
              "' is ", dtype_name(w.dtype), ", expected I8");
  EMBER_CHECK(w.shape == (Shape{out, in}), ErrorKind::kInvalidInput, store.origin(), ": tensor '",
              wname, "' has shape ", w.shape.str(), ", expected ", Shape{out, in}.str());
  EMBER_CHECK(store.has(sname), ErrorKind::kInvalidInput, store.origin(), ": int8 tensor '", wname,
              "' has no scale tensor '", sname, "'");
  const Tensor s = store.get_raw(sname);
  EMBER_CHECK(s.dtype == DType::kF32, ErrorKind::kInvalidInput, store.origin(), ": scale tensor '",
              sname, "' is ", dtype_name(s.dtype), ", expected F32");
  EMBER_CHECK(s.shape == (Shape{out}), ErrorKind::kInvalidInput, store.origin(), ": scale tensor '",
              sname, "' has shape ", s.shape.str(), ", expected [", out,
              "] (one scale per output channel)");
  const float* scale = store.get(sname).f32();  // F32, aligned by the store
  for (int64_t j = 0; j < out; ++j)
    EMBER_CHECK(std::isfinite(scale[j]) && scale[j] > 0.0f, ErrorKind::kInvalidInput,
                store.origin(), ": scale tensor '", sname, "' has value ", scale[j], " at ", j,
                "; scales must be finite and positive");
  ops::LinearSource l;
  const std::string iname = name + ".input_scale";
  if (store.has(iname)) {
    const Tensor t = store.get_raw(iname);
    EMBER_CHECK(t.dtype == DType::kF32 && t.shape == (Shape{in}), ErrorKind::kInvalidInput,
                store.origin(), ": input scale tensor '", iname, "' is ", dtype_name(t.dtype), " ",
                t.shape.str(), ", expected F32 [", in, "] (one scale per input channel)");
    const float* is = store.get(iname).f32();
    for (int64_t p = 0; p < in; ++p)
      EMBER_CHECK(std::isfinite(is[p]) && is[p] > 0.0f && std::isfinite(1.0f / is[p]),
                  ErrorKind::kInvalidInput, store.origin(), ": input scale tensor '", iname,
                  "' has value ", is[p], " at ", p,
                  "; input scales must be finite and positive, with a finite reciprocal");
    l.q.act_scale = is;
  }
  l.q.w = static_cast<const int8_t*>(w.data);
  l.q.scale = scale;
  l.b = store.has(name + ".bias") ? store.get(name + ".bias", Shape{out}).f32() : nullptr;
  l.out = out;
  l.in = in;
  return l;
}

ops::LinearSource fuse_int8(const std::vector<ops::LinearSource>& parts, ModelWeights& weights,
                            const std::string& origin) {
  int64_t out = 0;
  const int64_t in = parts.front().in;
  for (const auto& p : parts) {
    EMBER_CHECK(p.is_int8() == parts.front().is_int8() && p.in == in, ErrorKind::kInvalidInput,
                origin,
                ": fused projections must be all int8 or all floating point, with one "
                "input width");
    const bool same_scale = (p.q.act_scale == nullptr) == (parts.front().q.act_scale == nullptr) &&
                            (!p.q.act_scale || std::memcmp(p.q.act_scale, parts.front().q.act_scale,
                                                           sizeof(float) * in) == 0);
    EMBER_CHECK(same_scale, ErrorKind::kInvalidInput, origin,
                ": fused int8 projections of one input must have equal input scales");
    out += p.out;
  }
  AlignedBuffer<int8_t> wbuf(static_cast<size_t>(out * in));
  AlignedBuffer<float> fbuf(static_cast<size_t>(2 * out));  // scales, then biases
  float* scale = fbuf.data();
  float* bias = scale + out;
  int64_t row = 0;
  for (const auto& p : parts) {
    std::memcpy(wbuf.data() + row * in, p.q.w, static_cast<size_t>(p.out * in));
    std::memcpy(scale + row, p.q.scale, sizeof(float) * p.out);
    if (p.b)
      std::memcpy(bias + row, p.b, sizeof(float) * p.out);
    else
      std::memset(bias + row, 0, sizeof(float) * p.out);
    row += p.out;
  }
  ops::LinearSource l;
  l.q.w = wbuf.data();
  l.q.scale = scale;
  l.q.act_scale = parts.front().q.act_scale;
  l.b = bias;
  l.out = out;
  l.in = in;
  weights.owned_i8.push_back(std::move(wbuf));
  weights.owned.push_back(std::move(fbuf));
  return l;
}

namespace {

// Column sums for the zero-point correction, and the weight range check: -128 never occurs
// in symmetric quantization, and 7-bit weights must stay within [-64, 64] since u8
// activations rely on it (no vpmaddubsw saturation).
void prepare(ops::LinearSource& l, const QuantizationMarker& m, ModelWeights& weights,
             const std::string& origin) {
  const int32_t limit = m.reduce_range ? 64 : 127;
  AlignedBuffer<int32_t> sums(static_cast<size_t>(l.out));
  for (int64_t j = 0; j < l.out; ++j) {
    const int8_t* row = l.q.w + j * l.in;
    int32_t s = 0;
    bool ok = true;
    for (int64_t p = 0; p < l.in; ++p) {
      s += row[p];
      ok &= row[p] >= -limit && row[p] <= limit;
    }
    EMBER_CHECK(ok, ErrorKind::kInvalidInput, origin, ": int8 weight row ", j,
                " has a value outside [", -limit, ", ", limit, "]",
                m.reduce_range ? " (reduce_range)" : "");
    sums[j] = s;
  }
  l.q.col_sum = sums.data();
  l.q.act_max = m.reduce_range ? 255 : 127;
  weights.owned_i32.push_back(std::move(sums));
  if (l.q.act_scale) {
    EMBER_CHECK(m.input_scale, ErrorKind::kInvalidInput, origin,
                ": an int8 Linear has an input_scale tensor but the metadata '", kQuantizationKey,
                "' does not say input_scale");
    // The kernels multiply: x / input_scale is quantized as x * (1 / input_scale).
    AlignedBuffer<float> inv(static_cast<size_t>(l.in));
    for (int64_t p = 0; p < l.in; ++p) inv[p] = 1.0f / l.q.act_scale[p];
    l.q.act_scale = inv.data();
    weights.owned.push_back(std::move(inv));
  }
}

}  // namespace

void finish_int8(const io::WeightStore& store, ModelWeights& weights) {
  const auto marker = read_marker(store);
  int count = 0;
  std::vector<std::string> float_linears;
  for (size_t i = 0; i < weights.layers.size(); ++i) {
    LayerWeights& layer = weights.layers[i];
    ops::LinearSource* parts[] = {&layer.qkv, &layer.attn_out, &layer.ffn_in, &layer.ffn_out};
    for (int kind = 0; kind < kLinearKindCount; ++kind) {
      ops::LinearSource* l = parts[kind];
      if (l->is_int8()) {
        EMBER_CHECK(marker.has_value(), ErrorKind::kInvalidInput, store.origin(),
                    ": int8 weights without '", kQuantizationKey, "' metadata");
        prepare(*l, *marker, weights, store.origin());
        ++count;
      } else if (l->out > 0) {
        float_linears.push_back(linear_name(static_cast<int64_t>(i), kind));
      }
    }
  }
  for (const ops::LinearSource* l : {&weights.embeddings.project, &weights.head.dense,
                                     &weights.head.out, &weights.head.token_classifier})
    EMBER_CHECK(!l->is_int8(), ErrorKind::kUnsupported, store.origin(),
                ": int8 weights are supported in the encoder layers only, not in heads or "
                "embedding projections");
  EMBER_CHECK(!marker || count > 0, ErrorKind::kInvalidInput, store.origin(), ": metadata '",
              kQuantizationKey, "' but no int8 Linear weight in the encoder layers");
  if (marker && marker->fp32_linears) {
    // The file says which Linears it kept in F32: exactly those may be float.
    const std::vector<std::string>& listed = *marker->fp32_linears;
    for (const std::string& name : listed)
      EMBER_CHECK(
          std::find(float_linears.begin(), float_linears.end(), name) != float_linears.end(),
          ErrorKind::kInvalidInput, store.origin(), ": ", kQuantizationKey, ".fp32_linears lists '",
          name, "', which is not a floating-point encoder Linear of this model");
    for (const std::string& name : float_linears)
      EMBER_CHECK(std::find(listed.begin(), listed.end(), name) != listed.end(),
                  ErrorKind::kInvalidInput, store.origin(), ": encoder Linear '", name,
                  "' is not int8, but ", kQuantizationKey, ".fp32_linears does not list it");
  }
  weights.quantization = count > 0 ? kInt8Scheme : "";
  if (count > 0) weights.fp32_linears = std::move(float_linears);
}

}  // namespace detail
}  // namespace ember::model
