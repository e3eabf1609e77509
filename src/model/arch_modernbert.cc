// ModernBERT: pre-norm layers with LayerNorm (no shift unless norm_bias), token embeddings +
// norm without a position table, rotary positions whose theta differs between global and local
// (sliding-window) layers, a fused Wqkv, a gated FFN (Wi = [input; gate], the activation on the
// input half), no attention norm on layer 0, a final norm, and a head of dense + activation +
// norm over the first token or the mean of the sequence (classifier_pooling).
#include <cmath>
#include <string>
#include <vector>

#include "core/error.h"
#include "model/architecture.h"

namespace ember::model {

using detail::WeightBinder;

namespace {

constexpr const char* kGlobal = "full_attention";
constexpr const char* kLocal = "sliding_attention";

// Which layers attend locally: config.json's layer_types as transformers 5 writes it, else the
// Hub's global_attn_every_n_layers (layer i is global when i % n == 0).
std::vector<bool> local_layers(const io::JsonConfig& config, int64_t layers) {
  std::vector<bool> local(static_cast<size_t>(layers));
  if (config.has("layer_types")) {
    const auto types = config.get_string_list("layer_types");
    EMBER_CHECK(static_cast<int64_t>(types.size()) == layers, ErrorKind::kInvalidInput,
                config.origin(), ": layer_types lists ", types.size(), " layers, not ", layers);
    for (size_t i = 0; i < types.size(); ++i) {
      EMBER_CHECK(types[i] == kGlobal || types[i] == kLocal, ErrorKind::kUnsupported,
                  config.origin(), ": layer_types[", i, "] '", types[i], "' is not ", kGlobal,
                  " or ", kLocal);
      local[i] = types[i] == kLocal;
    }
    return local;
  }
  const int64_t every = config.get_positive_int("global_attn_every_n_layers", 3);
  for (int64_t i = 0; i < layers; ++i) local[i] = i % every != 0;
  return local;
}

}  // namespace

ModelSpec parse_modernbert_config(const io::JsonConfig& config) {
  ModelSpec c;
  c.model_type = config.get_string("model_type");
  c.hidden_size = config.get_positive_int("hidden_size");
  auto& e = c.embeddings;
  e.vocab_size = config.get_positive_int("vocab_size");
  e.dim = c.hidden_size;
  e.positions = PositionScheme::kNone;
  e.max_positions = config.get_positive_int("max_position_embeddings");
  e.type_vocab_size = 0;
  const NormSpec norm{ops::NormKind::kLayerNorm, config.get_bool("norm_bias", false),
                      static_cast<float>(config.get_double("norm_eps", 1e-5))};
  e.norm = norm;
  c.pad_token_id = static_cast<int32_t>(config.get_int("pad_token_id", 0));

  const int64_t heads = config.get_positive_int("num_attention_heads");
  EMBER_CHECK(c.hidden_size % heads == 0, ErrorKind::kInvalidInput, config.origin(),
              ": hidden_size ", c.hidden_size, " is not a multiple of num_attention_heads ", heads);
  const int64_t layers = config.get_positive_int("num_hidden_layers");
  const std::vector<bool> local = local_layers(config, layers);
  // transformers: a local layer sees keys within local_attention // 2 positions on either side.
  const int64_t window = config.get_positive_int("local_attention", 128) / 2;
  const float global_theta =
      detail::parse_rope_theta(config, "global_rope_theta", kGlobal, 160000.0);
  const float local_theta = detail::parse_rope_theta(config, "local_rope_theta", kLocal, 10000.0);

  LayerSpec l;
  l.attn.heads = l.attn.kv_heads = heads;
  l.attn.head_dim = c.hidden_size / heads;
  l.attn.scale = 1.0f / std::sqrt(static_cast<float>(l.attn.head_dim));
  l.ffn.kind = FfnKind::kGated;
  l.ffn.width = config.get_positive_int("intermediate_size");
  l.ffn.act =
      detail::parse_activation(config.get_string("hidden_activation", "gelu"), config.origin());
  l.placement = NormPlacement::kPre;
  l.ffn_norm = norm;
  for (int64_t i = 0; i < layers; ++i) {
    LayerSpec li = l;
    li.attn.mask = local[i] ? ops::MaskKind::kLocal : ops::MaskKind::kFull;
    li.attn.window = local[i] ? window : 0;
    li.attn.rotary = RotarySpec{local[i] ? local_theta : global_theta, l.attn.head_dim};
    if (i > 0) li.attn_norm = norm;  // layer 0 reads the normed embeddings as they are
    c.layers.push_back(li);
  }
  c.final_norm = norm;

  detail::parse_head(config, c);
  if (c.head != HeadKind::kNone) {
    c.head_act = detail::parse_activation(config.get_string("classifier_activation", "gelu"),
                                          config.origin());
    c.head_norm = norm;
    const std::string pooling = config.get_string("classifier_pooling", "cls");
    EMBER_CHECK(pooling == "cls" || pooling == "mean", ErrorKind::kUnsupported, config.origin(),
                ": classifier_pooling '", pooling, "' is not supported (cls, mean)");
    c.head_pooling = pooling == "mean" ? HeadPooling::kMean : HeadPooling::kFirstToken;
  }
  return c;
}

void bind_modernbert(const io::WeightStore& store, const io::JsonConfig& /*config*/,
                     ModelSpec& spec, ModelWeights& w) {
  const WeightBinder b(store, {"", "model."}, "embeddings.tok_embeddings.weight");
  const int64_t h = spec.hidden_size;
  const bool norm_bias = spec.embeddings.norm->bias;
  w.embeddings.word = b.get("embeddings.tok_embeddings.weight", Shape{spec.vocab_size(), h});
  w.embeddings.norm = b.norm("embeddings.norm", h, norm_bias);

  w.layers.resize(spec.layers.size());
  for (size_t i = 0; i < spec.layers.size(); ++i) {
    const std::string p = cat("layers.", i, ".");
    const LayerSpec& ls = spec.layers[i];
    LayerWeights& l = w.layers[i];
    // Wqkv's rows are [Q; K; V], each heads * head_dim: the fused layout the model runs.
    l.qkv = b.linear(p + "attn.Wqkv", 3 * h, h);
    l.attn_out = b.linear(p + "attn.Wo", h, h);
    if (ls.attn_norm) l.attn_norm = b.norm(p + "attn_norm", h, norm_bias);
    // Wi's rows are [input; gate] and the activation goes on the input: act half first.
    l.ffn_in = b.linear(p + "mlp.Wi", 2 * ls.ffn.width, h);
    l.ffn_out = b.linear(p + "mlp.Wo", h, ls.ffn.width);
    l.ffn_norm = b.norm(p + "mlp_norm", h, norm_bias);
  }
  w.final_norm = b.norm("final_norm", h, norm_bias);

  if (spec.head == HeadKind::kNone) return;
  // The head (dense + act + norm) and the classifier sit at the root, beside "model.".
  const WeightBinder root(store, {""}, "head.dense.weight");
  const int64_t n = static_cast<int64_t>(spec.labels.size());
  w.head.dense = root.linear("head.dense", h, h);
  w.head.norm = root.norm("head.norm", h, norm_bias);
  if (spec.head == HeadKind::kSequenceClassification)
    w.head.out = root.linear("classifier", n, h);
  else
    w.head.token_classifier = root.linear("classifier", n, h);
}

}  // namespace ember::model
