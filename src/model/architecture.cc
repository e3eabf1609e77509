#include "model/architecture.h"

#include <cstring>

#include "core/error.h"
#include "model/int8_weights.h"

namespace ember::model {

EncoderConfig parse_bert_config(const io::JsonConfig& config);
void bind_bert(const io::WeightStore& store, const EncoderConfig& config, EncoderWeights& w);
EncoderConfig parse_roberta_config(const io::JsonConfig& config);
void bind_roberta(const io::WeightStore& store, const EncoderConfig& config, EncoderWeights& w);
EncoderConfig parse_electra_config(const io::JsonConfig& config);
void bind_electra(const io::WeightStore& store, const EncoderConfig& config, EncoderWeights& w);
EncoderConfig parse_distilbert_config(const io::JsonConfig& config);
void bind_distilbert(const io::WeightStore& store, const EncoderConfig& config, EncoderWeights& w);

namespace {
const Architecture kArchitectures[] = {
    {"bert", parse_bert_config, bind_bert},
    {"roberta", parse_roberta_config, bind_roberta},
    {"xlm-roberta", parse_roberta_config, bind_roberta},
    {"electra", parse_electra_config, bind_electra},
    {"distilbert", parse_distilbert_config, bind_distilbert},
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

int64_t EncoderConfig::max_tokens() const {
  return positions == PositionScheme::kAfterPadding ? max_position_embeddings - pad_token_id - 1
                                                    : max_position_embeddings;
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
LinearWeights WeightBinder::linear(const std::string& name, int64_t out, int64_t in) const {
  return linear_root(prefix_ + name, out, in);
}

LinearWeights WeightBinder::linear_root(const std::string& name, int64_t out, int64_t in) const {
  if (store_.has(name + ".weight") && store_.get_raw(name + ".weight").dtype == DType::kI8)
    return bind_int8_linear(store_, name, out, in);  // model/int8_weights.h
  LinearWeights l;
  l.w = store_.get(name + ".weight", Shape{out, in}).f32();
  l.b = store_.has(name + ".bias") ? store_.get(name + ".bias", Shape{out}).f32() : nullptr;
  l.out = out;
  l.in = in;
  return l;
}

LayerNormWeights WeightBinder::layer_norm(const std::string& name, int64_t n) const {
  const bool old = !has(name + ".weight") && has(name + ".gamma");
  return {get(name + (old ? ".gamma" : ".weight"), Shape{n}),
          get(name + (old ? ".beta" : ".bias"), Shape{n})};
}

LinearWeights fuse_qkv(const LinearWeights& q, const LinearWeights& k, const LinearWeights& v,
                       EncoderWeights& weights) {
  if (q.is_int8() || k.is_int8() || v.is_int8()) return fuse_qkv_int8(q, k, v, weights, "QKV");
  const int64_t h = q.out, in = q.in;
  AlignedBuffer<float> buf(static_cast<size_t>(3 * h * in + 3 * h));
  float* w = buf.data();
  float* b = w + 3 * h * in;
  const LinearWeights* parts[3] = {&q, &k, &v};
  for (int i = 0; i < 3; ++i) {
    std::memcpy(w + i * h * in, parts[i]->w, sizeof(float) * h * in);
    if (parts[i]->b)
      std::memcpy(b + i * h, parts[i]->b, sizeof(float) * h);
    else
      std::memset(b + i * h, 0, sizeof(float) * h);
  }
  weights.owned.push_back(std::move(buf));
  return LinearWeights{w, b, 3 * h, in};
}

void bind_bert_embeddings(const WeightBinder& b, const EncoderConfig& c, EncoderWeights& w) {
  const int64_t e_size = c.embedding_size;
  auto& e = w.embeddings;
  e.word = b.get("embeddings.word_embeddings.weight", Shape{c.vocab_size, e_size});
  e.position =
      b.get("embeddings.position_embeddings.weight", Shape{c.max_position_embeddings, e_size});
  e.token_type = b.get("embeddings.token_type_embeddings.weight", Shape{c.type_vocab_size, e_size});
  e.ln = b.layer_norm("embeddings.LayerNorm", e_size);
}

void bind_bert_layers(const WeightBinder& binder, const EncoderConfig& c, EncoderWeights& w) {
  const int64_t h = c.hidden_size, inter = c.intermediate_size;
  w.layers.resize(c.num_layers);
  for (int64_t i = 0; i < c.num_layers; ++i) {
    const std::string p = cat("encoder.layer.", i, ".");
    LayerWeights& l = w.layers[i];
    l.qkv = fuse_qkv(binder.linear(p + "attention.self.query", h, h),
                     binder.linear(p + "attention.self.key", h, h),
                     binder.linear(p + "attention.self.value", h, h), w);
    l.attn_out = binder.linear(p + "attention.output.dense", h, h);
    l.attn_ln = binder.layer_norm(p + "attention.output.LayerNorm", h);
    l.ffn_in = binder.linear(p + "intermediate.dense", inter, h);
    l.ffn_out = binder.linear(p + "output.dense", h, inter);
    l.ffn_ln = binder.layer_norm(p + "output.LayerNorm", h);
  }
}

void bind_heads(const WeightBinder& b, const EncoderConfig& c, EncoderWeights& w,
                const HeadNames& names) {
  const int64_t h = c.hidden_size, n = static_cast<int64_t>(c.labels.size());
  if (c.head == HeadKind::kSequenceClassification) {
    w.seq_classifier.dense =
        names.dense_under_prefix ? b.linear(names.dense, h, h) : b.linear_root(names.dense, h, h);
    w.seq_classifier.act = names.act;
    w.seq_classifier.out = b.linear_root(names.out, n, h);
  } else if (c.head == HeadKind::kTokenClassification) {
    w.token_classifier = b.linear_root("classifier", n, h);
  }
}

ops::Activation parse_activation(const std::string& name, const std::string& origin) {
  if (name == "gelu") return ops::Activation::kGeluErf;
  if (name == "gelu_new" || name == "gelu_pytorch_tanh") return ops::Activation::kGeluTanh;
  if (name == "relu") return ops::Activation::kRelu;
  if (name == "tanh") return ops::Activation::kTanh;
  fail(ErrorKind::kUnsupported, origin, ": activation '", name,
       "' is not supported (gelu, gelu_new, gelu_pytorch_tanh, relu, tanh)");
}

void parse_head(const io::JsonConfig& config, EncoderConfig& out) {
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
  else
    out.head = HeadKind::kNone;
  if (out.head == HeadKind::kNone) return;

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

EncoderConfig parse_bert_like_config(const io::JsonConfig& config) {
  EncoderConfig c;
  c.model_type = config.get_string("model_type");
  c.vocab_size = config.get_positive_int("vocab_size");
  c.hidden_size = config.get_positive_int("hidden_size");
  c.embedding_size = c.hidden_size;
  c.num_layers = config.get_positive_int("num_hidden_layers");
  c.num_heads = config.get_positive_int("num_attention_heads");
  c.intermediate_size = config.get_positive_int("intermediate_size");
  c.max_position_embeddings = config.get_positive_int("max_position_embeddings");
  c.type_vocab_size = config.get_positive_int("type_vocab_size", 2);
  c.layer_norm_eps = static_cast<float>(config.get_double("layer_norm_eps", 1e-12));
  c.hidden_act = parse_activation(config.get_string("hidden_act", "gelu"), config.origin());
  c.pad_token_id = static_cast<int32_t>(config.get_int("pad_token_id", 0));
  const std::string pos = config.get_string("position_embedding_type", "absolute");
  EMBER_CHECK(pos == "absolute", ErrorKind::kUnsupported, config.origin(),
              ": position_embedding_type '", pos, "' is not supported (absolute)");
  EMBER_CHECK(c.hidden_size % c.num_heads == 0, ErrorKind::kInvalidInput, config.origin(),
              ": hidden_size ", c.hidden_size, " is not a multiple of num_attention_heads ",
              c.num_heads);
  parse_head(config, c);
  return c;
}

}  // namespace detail
}  // namespace ember::model
