// What BERT, RoBERTa, XLM-R, ELECTRA and MPNet share: their config keys and the encoder.layer.N
// tensor names, as a uniform post-norm description that the tensor shapes then refine (pruned
// heads and FFN widths per layer).
#include <cmath>
#include <optional>
#include <set>
#include <vector>

#include "core/error.h"
#include "model/architecture.h"

namespace ember::model::detail {

ModelSpec parse_bert_like_config(const io::JsonConfig& config) {
  ModelSpec c;
  c.model_type = config.get_string("model_type");
  c.hidden_size = config.get_positive_int("hidden_size");
  auto& e = c.embeddings;
  e.vocab_size = config.get_positive_int("vocab_size");
  e.dim = c.hidden_size;
  e.max_positions = config.get_positive_int("max_position_embeddings");
  e.type_vocab_size = config.get_positive_int("type_vocab_size", 2);
  const float eps = static_cast<float>(config.get_double("layer_norm_eps", 1e-12));
  e.norm = NormSpec{ops::NormKind::kLayerNorm, true, eps};
  c.pad_token_id = static_cast<int32_t>(config.get_int("pad_token_id", 0));
  const std::string pos = config.get_string("position_embedding_type", "absolute");
  EMBER_CHECK(pos == "absolute", ErrorKind::kUnsupported, config.origin(),
              ": position_embedding_type '", pos, "' is not supported (absolute)");

  const int64_t heads = config.get_positive_int("num_attention_heads");
  EMBER_CHECK(c.hidden_size % heads == 0, ErrorKind::kInvalidInput, config.origin(),
              ": hidden_size ", c.hidden_size, " is not a multiple of num_attention_heads ", heads);
  LayerSpec l;
  l.attn.heads = l.attn.kv_heads = heads;
  l.attn.head_dim = c.hidden_size / heads;
  l.attn.scale = 1.0f / std::sqrt(static_cast<float>(l.attn.head_dim));
  l.ffn.width = config.get_positive_int("intermediate_size");
  l.ffn.act = parse_activation(config.get_string("hidden_act", "gelu"), config.origin());
  l.placement = NormPlacement::kPost;
  l.attn_norm = l.ffn_norm = e.norm;
  repeat_layers(c, config.get_positive_int("num_hidden_layers"), l);
  parse_head(config, c);
  return c;
}

void bind_bert_embeddings(const WeightBinder& b, const ModelSpec& spec, ModelWeights& w) {
  const auto& es = spec.embeddings;
  auto& e = w.embeddings;
  e.word = b.get("embeddings.word_embeddings.weight", Shape{es.vocab_size, es.dim});
  e.position = b.get("embeddings.position_embeddings.weight", Shape{es.max_positions, es.dim});
  if (es.type_vocab_size > 0)
    e.token_type =
        b.get("embeddings.token_type_embeddings.weight", Shape{es.type_vocab_size, es.dim});
  e.norm = b.norm("embeddings.LayerNorm", es.dim);
}

void set_heads_from_shape(ModelSpec& spec, size_t layer, int64_t q_rows,
                          const std::string& origin) {
  AttentionSpec& a = spec.layers[layer].attn;
  EMBER_CHECK(q_rows > 0 && q_rows % a.head_dim == 0, ErrorKind::kInvalidInput, origin, ": layer ",
              layer, "'s query projection has ", q_rows,
              " outputs, not a whole number of heads of ", a.head_dim);
  a.heads = a.kv_heads = q_rows / a.head_dim;
}

namespace {

// config.json's pruned_heads, {"layer": [head, ...]}, as transformers writes it after
// prune_heads: the number of heads each layer lost; nullopt when the config has none.
std::optional<std::vector<int64_t>> pruned_per_layer(const io::JsonConfig& config, size_t layers) {
  const auto& raw = config.raw();
  if (!raw.contains("pruned_heads") || !raw["pruned_heads"].is_object()) return std::nullopt;
  std::vector<int64_t> out(layers, 0);
  for (auto it = raw["pruned_heads"].begin(); it != raw["pruned_heads"].end(); ++it) {
    size_t layer = 0;
    try {
      layer = std::stoul(it.key());
    } catch (...) {
      fail(ErrorKind::kInvalidInput, config.origin(), ": pruned_heads key '", it.key(),
           "' is not a layer index");
    }
    EMBER_CHECK(layer < layers && it.value().is_array(), ErrorKind::kInvalidInput, config.origin(),
                ": pruned_heads['", it.key(), "'] must list heads of one of the ", layers,
                " layers");
    std::set<int64_t> heads;
    for (const auto& h : it.value()) {
      EMBER_CHECK(h.is_number_integer(), ErrorKind::kInvalidInput, config.origin(),
                  ": pruned_heads['", it.key(), "'] holds a non-integer");
      heads.insert(h.get<int64_t>());
    }
    out[layer] = static_cast<int64_t>(heads.size());
  }
  return out;
}

}  // namespace

void bind_post_norm_layers(const WeightBinder& b, const io::JsonConfig& config,
                           const LayerNames& names, ModelSpec& spec, ModelWeights& w) {
  const int64_t h = spec.hidden_size;
  const size_t n = spec.layers.size();
  const auto pruned = pruned_per_layer(config, n);
  w.layers.resize(n);
  for (size_t i = 0; i < n; ++i) {
    const std::string p = cat(names.layer, i, ".");
    LayerSpec& ls = spec.layers[i];
    const int64_t configured = ls.attn.heads, configured_ffn = ls.ffn.width;
    const std::string q_name = p + names.q + ".weight", ffn_name = p + names.ffn_in + ".weight";
    set_heads_from_shape(spec, i, b.shape(q_name)[0], b.store().origin());
    // A pruned checkpoint has fewer heads (exactly those pruned_heads removes, when the config
    // lists them) and a narrower FFN than its config; never more.
    if (pruned)
      EMBER_CHECK(ls.attn.heads == configured - (*pruned)[i], ErrorKind::kInvalidInput,
                  b.store().origin(), ": layer ", i, " has ", ls.attn.heads,
                  " heads; the config's ", configured, " less ", (*pruned)[i],
                  " pruned_heads give ", configured - (*pruned)[i]);
    EMBER_CHECK(ls.attn.heads <= configured, ErrorKind::kInvalidInput, b.store().origin(),
                ": tensor '", q_name, "' has ", ls.attn.heads, " heads, more than the config's ",
                configured);
    ls.ffn.width = b.shape(ffn_name)[0];
    EMBER_CHECK(ls.ffn.width <= configured_ffn, ErrorKind::kInvalidInput, b.store().origin(),
                ": tensor '", ffn_name, "' has ", ls.ffn.width,
                " rows, more than the config's FFN width ", configured_ffn);
    const int64_t qw = ls.attn.q_width(), f = ls.ffn.width;
    LayerWeights& l = w.layers[i];
    l.qkv = fuse_rows(
        {b.linear(p + names.q, qw, h), b.linear(p + names.k, qw, h), b.linear(p + names.v, qw, h)},
        w, b.store());
    l.attn_out = b.linear(p + names.o, h, qw);
    l.attn_norm = b.norm(p + names.attn_norm, h);
    l.ffn_in = b.linear(p + names.ffn_in, f, h);
    l.ffn_out = b.linear(p + names.ffn_out, h, f);
    l.ffn_norm = b.norm(p + names.ffn_norm, h);
  }
}

}  // namespace ember::model::detail
