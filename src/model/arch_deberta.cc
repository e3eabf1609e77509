// DeBERTa-v2 and v3 (model_type "deberta-v2"): BERT-like post-norm layers with disentangled
// attention (relative embeddings through each layer's own query and key projections,
// log-bucketed distances), embeddings without absolute positions in v3 (projected before their
// norm when embedding_size differs), and the ContextPooler head (dense + pooler_hidden_act on
// the first token, then the classifier). Not supported: the convolution layer of
// DeBERTa-v2-xlarge/xxlarge (conv_kernel_size) and separate position projections
// (share_att_key false); DeBERTa v1 (model_type "deberta") is another architecture.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <string>
#include <vector>

#include "core/error.h"
#include "model/architecture.h"

namespace ember::model {

using detail::WeightBinder;

namespace {

// pos_att_type: "p2c|c2p" in published configs, ["p2c", "c2p"] as transformers saves it.
std::vector<std::string> pos_att_types(const io::JsonConfig& config) {
  const auto& raw = config.raw();
  std::vector<std::string> out;
  if (!raw.contains("pos_att_type") || raw["pos_att_type"].is_null()) return out;
  const auto& v = raw["pos_att_type"];
  auto add = [&](std::string s) {
    while (!s.empty() && s.front() == ' ') s.erase(s.begin());
    while (!s.empty() && s.back() == ' ') s.pop_back();
    for (char& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    out.push_back(s);
  };
  if (v.is_string()) {
    const std::string s = v.get<std::string>();
    size_t begin = 0;
    for (size_t bar = s.find('|'); bar != std::string::npos; bar = s.find('|', begin)) {
      add(s.substr(begin, bar - begin));
      begin = bar + 1;
    }
    add(s.substr(begin));
  } else if (v.is_array()) {
    for (const auto& e : v) {
      EMBER_CHECK(e.is_string(), ErrorKind::kInvalidInput, config.origin(),
                  ": pos_att_type must list strings");
      add(e.get<std::string>());
    }
  } else {
    fail(ErrorKind::kInvalidInput, config.origin(),
         ": pos_att_type must be a string (\"p2c|c2p\") or a list of strings");
  }
  return out;
}

}  // namespace

ModelSpec parse_deberta_v2_config(const io::JsonConfig& config) {
  const std::string& origin = config.origin();
  EMBER_CHECK(config.get_int("conv_kernel_size", 0) <= 0, ErrorKind::kUnsupported, origin,
              ": conv_kernel_size ", config.get_int("conv_kernel_size", 0),
              " (the convolution layer of DeBERTa-v2-xlarge/xxlarge) is not supported");
  ModelSpec c;
  c.model_type = config.get_string("model_type");
  c.hidden_size = config.get_positive_int("hidden_size");
  const int64_t h = c.hidden_size;
  auto& e = c.embeddings;
  e.vocab_size = config.get_positive_int("vocab_size");
  e.dim = config.get_positive_int("embedding_size", h);
  e.project = e.dim != h;
  e.norm_after_project = true;
  e.max_positions = config.get_positive_int("max_position_embeddings", 512);
  e.positions = config.get_bool("position_biased_input", true) ? PositionScheme::kFromZero
                                                               : PositionScheme::kNone;
  e.type_vocab_size = config.get_int("type_vocab_size", 0);
  const float eps = static_cast<float>(config.get_double("layer_norm_eps", 1e-7));
  e.norm = NormSpec{ops::NormKind::kLayerNorm, true, eps};
  c.pad_token_id = static_cast<int32_t>(config.get_int("pad_token_id", 0));

  const int64_t heads = config.get_positive_int("num_attention_heads");
  EMBER_CHECK(h % heads == 0, ErrorKind::kInvalidInput, origin, ": hidden_size ", h,
              " is not a multiple of num_attention_heads ", heads);
  LayerSpec l;
  l.attn.heads = l.attn.kv_heads = heads;
  l.attn.head_dim = config.get_positive_int("attention_head_size", h / heads);

  // The scale counts the position terms whether or not relative attention is on, as
  // DisentangledSelfAttention does.
  DisentangledSpec d;
  d.c2p = d.p2c = false;
  for (const std::string& type : pos_att_types(config)) {
    if (type == "c2p")
      d.c2p = true;
    else if (type == "p2c")
      d.p2c = true;
    else
      fail(ErrorKind::kUnsupported, origin, ": pos_att_type '", type,
           "' is not supported (c2p, p2c)");
  }
  const int64_t terms = 1 + (d.c2p ? 1 : 0) + (d.p2c ? 1 : 0);
  l.attn.scale = 1.0f / std::sqrt(static_cast<float>(l.attn.head_dim * terms));
  if (config.get_bool("relative_attention", false)) {
    EMBER_CHECK(config.get_bool("share_att_key", false) || !(d.c2p || d.p2c),
                ErrorKind::kUnsupported, origin,
                ": share_att_key false (separate position projections) is not supported");
    d.max_relative = config.get_int("max_relative_positions", -1);
    if (d.max_relative < 1) d.max_relative = e.max_positions;
    d.buckets = std::max<int64_t>(config.get_int("position_buckets", -1), 0);
    const std::string norm_rel = config.get_string("norm_rel_ebd", "none");
    if (norm_rel.find("layer_norm") != std::string::npos) d.norm = e.norm;
    c.disentangled = d;
  }

  l.ffn.width = config.get_positive_int("intermediate_size");
  l.ffn.act = detail::parse_activation(config.get_string("hidden_act", "gelu"), origin);
  l.placement = NormPlacement::kPost;
  l.attn_norm = l.ffn_norm = e.norm;
  detail::repeat_layers(c, config.get_positive_int("num_hidden_layers"), l);
  detail::parse_head(config, c);
  // DebertaV2ForMaskedLM: the encoder alone (its LM head is not read).
  if (c.head == HeadKind::kMaskedLm) c.head = HeadKind::kNone;
  if (c.head == HeadKind::kSequenceClassification) {
    EMBER_CHECK(config.get_int("pooler_hidden_size", h) == h, ErrorKind::kUnsupported, origin,
                ": pooler_hidden_size ", config.get_int("pooler_hidden_size", h),
                " differs from hidden_size ", h);
    c.head_act = detail::parse_activation(config.get_string("pooler_hidden_act", "gelu"), origin);
  }
  return c;
}

void bind_deberta_v2(const io::WeightStore& store, const io::JsonConfig& config, ModelSpec& spec,
                     ModelWeights& w) {
  const WeightBinder b(store, {"", "deberta."}, "embeddings.word_embeddings.weight");
  const int64_t h = spec.hidden_size;
  const EmbeddingSpec& es = spec.embeddings;
  auto& e = w.embeddings;
  e.word = b.get("embeddings.word_embeddings.weight", Shape{es.vocab_size, es.dim});
  if (es.positions != PositionScheme::kNone)
    e.position = b.get("embeddings.position_embeddings.weight", Shape{es.max_positions, es.dim});
  if (es.type_vocab_size > 0)
    e.token_type =
        b.get("embeddings.token_type_embeddings.weight", Shape{es.type_vocab_size, es.dim});
  if (es.project) e.project = b.linear("embeddings.embed_proj", h, es.dim);
  e.norm = b.norm("embeddings.LayerNorm", h);
  if (spec.disentangled) {
    w.relative_table =
        b.get("encoder.rel_embeddings.weight", Shape{2 * spec.disentangled->span(), h});
    if (spec.disentangled->norm) w.relative_norm = b.norm("encoder.LayerNorm", h);
  }

  detail::LayerNames names;
  names.q = "attention.self.query_proj";
  names.k = "attention.self.key_proj";
  names.v = "attention.self.value_proj";
  detail::bind_post_norm_layers(b, config, names, spec, w);

  // ContextPooler: pooler.dense + pooler_hidden_act (set by the parser), then classifier.
  detail::bind_heads(b, spec, w, {"pooler.dense", false, spec.head_act, "classifier"});
}

}  // namespace ember::model
