#include "model/architecture.h"

#include <cstring>

#include "core/error.h"
#include "model/int8_weights.h"

namespace ember::model {

ModelSpec parse_bert_config(const io::JsonConfig& config);
void bind_bert(const io::WeightStore& store, const io::JsonConfig& config, ModelSpec& spec,
               ModelWeights& w);
ModelSpec parse_roberta_config(const io::JsonConfig& config);
void bind_roberta(const io::WeightStore& store, const io::JsonConfig& config, ModelSpec& spec,
                  ModelWeights& w);
ModelSpec parse_electra_config(const io::JsonConfig& config);
void bind_electra(const io::WeightStore& store, const io::JsonConfig& config, ModelSpec& spec,
                  ModelWeights& w);
ModelSpec parse_mpnet_config(const io::JsonConfig& config);
void bind_mpnet(const io::WeightStore& store, const io::JsonConfig& config, ModelSpec& spec,
                ModelWeights& w);
ModelSpec parse_deberta_v2_config(const io::JsonConfig& config);
void bind_deberta_v2(const io::WeightStore& store, const io::JsonConfig& config, ModelSpec& spec,
                     ModelWeights& w);
ModelSpec parse_distilbert_config(const io::JsonConfig& config);
void bind_distilbert(const io::WeightStore& store, const io::JsonConfig& config, ModelSpec& spec,
                     ModelWeights& w);
ModelSpec parse_modernbert_config(const io::JsonConfig& config);
void bind_modernbert(const io::WeightStore& store, const io::JsonConfig& config, ModelSpec& spec,
                     ModelWeights& w);
ModelSpec parse_qwen3_config(const io::JsonConfig& config);
void bind_qwen3(const io::WeightStore& store, const io::JsonConfig& config, ModelSpec& spec,
                ModelWeights& w);

namespace {
const Architecture kArchitectures[] = {
    {"bert", parse_bert_config, bind_bert},
    {"roberta", parse_roberta_config, bind_roberta},
    {"xlm-roberta", parse_roberta_config, bind_roberta},
    {"electra", parse_electra_config, bind_electra},
    {"distilbert", parse_distilbert_config, bind_distilbert},
    {"mpnet", parse_mpnet_config, bind_mpnet},
    {"modernbert", parse_modernbert_config, bind_modernbert},
    {"qwen3", parse_qwen3_config, bind_qwen3},
    {"deberta-v2", parse_deberta_v2_config, bind_deberta_v2},
};
}  // namespace

const Architecture& find_architecture(std::string_view model_type) {
  for (const auto& arch : kArchitectures)
    if (arch.model_type == model_type) return arch;
  std::string known;
  for (const auto type : supported_model_types()) known += cat(known.empty() ? "" : ", ", type);
  fail(ErrorKind::kUnsupported, "model_type '", model_type,
       "' is not supported (supported: ", known, ")");
}

std::vector<std::string_view> supported_model_types() {
  std::vector<std::string_view> out;
  for (const auto& arch : kArchitectures) out.push_back(arch.model_type);
  return out;
}

namespace detail {

WeightBinder::WeightBinder(const io::WeightStore& store, std::vector<std::string> prefixes,
                           const std::string& probe)
    : store_(store) {
  for (const auto& p : prefixes) {
    if (store.has(p + probe)) {
      prefix_ = p;
      return;
    }
  }
  fail(ErrorKind::kInvalidInput, store.origin(), ": no tensor '", probe,
       "' under any expected prefix; are these the weights of this architecture?");
}

const float* WeightBinder::get(const std::string& name, const Shape& shape) const {
  return store_.get(prefix_ + name, shape).f32();
}
bool WeightBinder::has(const std::string& name) const {
  return store_.has(prefix_ + name);
}
Shape WeightBinder::shape(const std::string& name) const {
  return store_.get_raw(prefix_ + name).shape;
}
ops::LinearSource WeightBinder::linear(const std::string& name, int64_t out, int64_t in) const {
  return linear_root(prefix_ + name, out, in);
}

ops::LinearSource WeightBinder::linear_root(const std::string& name, int64_t out,
                                            int64_t in) const {
  if (store_.has(name + ".weight") && store_.get_raw(name + ".weight").dtype == DType::kI8)
    return bind_int8_linear(store_, name, out, in);  // model/int8_weights.h
  ops::LinearSource l;
  if (store_.linear_dtype() == DType::kBF16)
    l.w_bf16 = store_.get_bf16(name + ".weight", Shape{out, in});
  else
    l.w = store_.get(name + ".weight", Shape{out, in}).f32();
  l.b = store_.has(name + ".bias") ? store_.get(name + ".bias", Shape{out}).f32() : nullptr;
  l.out = out;
  l.in = in;
  return l;
}

NormWeights WeightBinder::norm(const std::string& name, int64_t n, bool bias) const {
  const bool old = !has(name + ".weight") && has(name + ".gamma");
  return {get(name + (old ? ".gamma" : ".weight"), Shape{n}),
          bias ? get(name + (old ? ".beta" : ".bias"), Shape{n}) : nullptr};
}

namespace {

ops::LinearSource fuse_float(const std::vector<ops::LinearSource>& parts, ModelWeights& weights,
                             const std::string& origin) {
  int64_t out = 0;
  const int64_t in = parts.front().in;
  const bool bf16 = parts.front().is_bf16();
  bool any_bias = false;
  for (const auto& p : parts) {
    EMBER_CHECK(!p.is_int8() && p.is_bf16() == bf16 && p.in == in, ErrorKind::kInvalidInput, origin,
                ": fused projections must be all int8, all bf16 or all fp32, with one input "
                "width");
    out += p.out;
    any_bias |= p.b != nullptr;
  }
  // The matrix in a buffer of its own, so that it can be freed without the bias.
  AlignedBuffer<float> wbuf(static_cast<size_t>(bf16 ? 0 : out * in));
  AlignedBuffer<uint16_t> wbuf16(static_cast<size_t>(bf16 ? out * in : 0));
  AlignedBuffer<float> bbuf(static_cast<size_t>(any_bias ? out : 0));
  float* w = wbuf.data();
  uint16_t* w16 = wbuf16.data();
  float* b = bbuf.data();
  int64_t row = 0;
  for (const auto& p : parts) {
    if (bf16)
      std::memcpy(w16 + row * in, p.w_bf16, sizeof(uint16_t) * p.out * in);
    else
      std::memcpy(w + row * in, p.w, sizeof(float) * p.out * in);
    if (b && p.b)
      std::memcpy(b + row, p.b, sizeof(float) * p.out);
    else if (b)
      std::memset(b + row, 0, sizeof(float) * p.out);
    row += p.out;
  }
  if (bf16)
    weights.owned_bf16.push_back(std::move(wbuf16));
  else
    weights.owned.push_back(std::move(wbuf));
  if (any_bias) weights.owned.push_back(std::move(bbuf));
  ops::LinearSource l;
  l.w = w;
  l.w_bf16 = w16;
  l.b = b;
  l.out = out;
  l.in = in;
  return l;
}

}  // namespace

ops::LinearSource fuse_rows(const std::vector<ops::LinearSource>& parts, ModelWeights& weights,
                            const io::WeightStore& store) {
  const ops::LinearSource l = parts.front().is_int8() ? fuse_int8(parts, weights, store.origin())
                                                      : fuse_float(parts, weights, store.origin());
  // Nothing reads the parts' matrices now: their file pages go back at once, projection by
  // projection, so that the load holds one fused copy more than the checkpoint, not all of
  // them. A part that another weight binds too (a tied checkpoint) is read again from the
  // file; its values never change. Conversions are freed by Model::load, which can check that
  // nothing else points at them.
  for (const auto& p : parts) {
    weights.parts_paged_out_bytes +=
        static_cast<int64_t>(store.page_out_mapped(p.weight_data(), p.weight_bytes()));
    weights.fused_parts.push_back(p.weight_data());
  }
  return l;
}

void bind_heads(const WeightBinder& b, ModelSpec& spec, ModelWeights& w, const HeadNames& names) {
  const int64_t h = spec.hidden_size, n = static_cast<int64_t>(spec.labels.size());
  if (spec.head == HeadKind::kSequenceClassification) {
    w.head.dense =
        names.dense_under_prefix ? b.linear(names.dense, h, h) : b.linear_root(names.dense, h, h);
    spec.head_act = names.act;
    w.head.out = b.linear_root(names.out, n, h);
  } else if (spec.head == HeadKind::kTokenClassification) {
    w.head.token_classifier = b.linear_root("classifier", n, h);
  }
}

void bind_masked_lm_head(const WeightBinder& b, const io::JsonConfig& config, ModelSpec& spec,
                         ModelWeights& w) {
  if (spec.head != HeadKind::kMaskedLm) return;
  const int64_t h = spec.hidden_size, vocab = spec.vocab_size();
  const io::WeightStore& store = b.store();
  // Checkpoints saved as *ForMaskedLM without the head (bert-base-uncased's config names it;
  // embedding models keep only the body) are the body alone.
  if (!store.has("cls.predictions.transform.dense.weight")) return;
  w.head.dense = b.linear_root("cls.predictions.transform.dense", h, h);
  spec.head_act = parse_activation(config.get_string("hidden_act", "gelu"), config.origin());
  spec.head_norm = spec.layers.front().ffn_norm;  // the encoder's LayerNorm eps
  const std::string ln = "cls.predictions.transform.LayerNorm";
  w.head.norm = {store.get(ln + ".weight", Shape{h}).f32(),
                 store.get(ln + ".bias", Shape{h}).f32()};
  // The decoder is tied to the word embeddings unless the checkpoint has its own.
  if (store.has("cls.predictions.decoder.weight")) {
    w.head.out = b.linear_root("cls.predictions.decoder", vocab, h);
  } else {
    EMBER_CHECK(config.get_bool("tie_word_embeddings", true), ErrorKind::kInvalidInput,
                store.origin(),
                ": no cls.predictions.decoder.weight and tie_word_embeddings "
                "is false");
    w.head.out.w = w.embeddings.word;
    w.head.out.out = vocab;
    w.head.out.in = h;
  }
  const char* bias = store.has("cls.predictions.decoder.bias") ? "cls.predictions.decoder.bias"
                                                               : "cls.predictions.bias";
  w.head.out.b = store.get(bias, Shape{vocab}).f32();
}

ops::Activation parse_activation(const std::string& name, const std::string& origin) {
  if (name == "gelu") return ops::Activation::kGeluErf;
  if (name == "gelu_new" || name == "gelu_pytorch_tanh") return ops::Activation::kGeluTanh;
  if (name == "relu") return ops::Activation::kRelu;
  if (name == "tanh") return ops::Activation::kTanh;
  if (name == "silu" || name == "swish") return ops::Activation::kSilu;
  fail(ErrorKind::kUnsupported, origin, ": activation '", name,
       "' is not supported (gelu, gelu_new, gelu_pytorch_tanh, relu, tanh, silu)");
}

float parse_rope_theta(const io::JsonConfig& config, const char* legacy_key, const char* sub,
                       double fallback) {
  const auto& raw = config.raw();
  EMBER_CHECK(!raw.contains("rope_scaling") || raw["rope_scaling"].is_null(),
              ErrorKind::kUnsupported, config.origin(),
              ": rope_scaling is not supported (default rotary positions only)");
  double theta = config.get_double(legacy_key, fallback);
  if (!raw.contains("rope_parameters") || !raw["rope_parameters"].is_object())
    return static_cast<float>(theta);
  const auto& node =
      sub ? raw["rope_parameters"].value(sub, nlohmann::json()) : raw["rope_parameters"];
  if (!node.is_object()) return static_cast<float>(theta);
  const auto params = io::JsonConfig::from_json(
      node, cat(config.origin(), " rope_parameters", sub ? cat(".", sub) : std::string()));
  const std::string kind = params.get_string("rope_type", "default");
  EMBER_CHECK(kind == "default", ErrorKind::kUnsupported, params.origin(), ": rope_type '", kind,
              "' is not supported (default)");
  return static_cast<float>(params.get_double("rope_theta", theta));
}

void parse_head(const io::JsonConfig& config, ModelSpec& out) {
  const auto archs = config.get_string_list("architectures");
  out.architecture = archs.empty() ? "" : archs.front();
  auto ends_with = [&](std::string_view suffix) {
    return out.architecture.size() >= suffix.size() &&
           out.architecture.compare(out.architecture.size() - suffix.size(), suffix.size(),
                                    suffix) == 0;
  };
  if (ends_with("ForSequenceClassification"))
    out.head = HeadKind::kSequenceClassification;
  else if (ends_with("ForTokenClassification"))
    out.head = HeadKind::kTokenClassification;
  else if (ends_with("ForMaskedLM"))
    out.head = HeadKind::kMaskedLm;
  else
    out.head = HeadKind::kNone;
  if (out.head == HeadKind::kNone || out.head == HeadKind::kMaskedLm) return;

  // id2label: {"0": "negative", ...}; num_labels alone is accepted too.
  const auto& raw = config.raw();
  if (raw.contains("id2label") && raw["id2label"].is_object() && !raw["id2label"].empty()) {
    const auto& m = raw["id2label"];
    out.labels.assign(m.size(), "");
    for (auto it = m.begin(); it != m.end(); ++it) {
      size_t idx = 0;
      try {
        idx = std::stoul(it.key());
      } catch (...) {
        fail(ErrorKind::kInvalidInput, config.origin(), ": id2label key '", it.key(),
             "' is not an integer");
      }
      EMBER_CHECK(idx < out.labels.size() && it.value().is_string(), ErrorKind::kInvalidInput,
                  config.origin(), ": id2label must map 0..n-1 to strings");
      out.labels[idx] = it.value().get<std::string>();
    }
  } else {
    const int64_t n = config.get_int("num_labels", 2);
    for (int64_t i = 0; i < n; ++i) out.labels.push_back(cat("LABEL_", i));
  }
}

void repeat_layers(ModelSpec& spec, int64_t count, const LayerSpec& layer) {
  spec.layers.assign(static_cast<size_t>(count), layer);
}

}  // namespace detail
}  // namespace ember::model
