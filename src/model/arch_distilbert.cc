// DistilBERT: its own config keys and names (q_lin, sa_layer_norm, ffn.lin1, ...), no token
// type embeddings, and a pre_classifier + ReLU head.
#include <cmath>

#include "core/error.h"
#include "model/architecture.h"

namespace ember::model {

using detail::WeightBinder;

ModelSpec parse_distilbert_config(const io::JsonConfig& config) {
  ModelSpec c;
  c.model_type = config.get_string("model_type");
  c.hidden_size = config.get_positive_int("dim");
  auto& e = c.embeddings;
  e.vocab_size = config.get_positive_int("vocab_size");
  e.dim = c.hidden_size;
  e.max_positions = config.get_positive_int("max_position_embeddings");
  e.type_vocab_size = 0;
  // eps is fixed in DistilBERT's code, not in its config.
  e.norm = NormSpec{ops::NormKind::kLayerNorm, true, 1e-12f};
  c.pad_token_id = static_cast<int32_t>(config.get_int("pad_token_id", 0));
  const int64_t heads = config.get_positive_int("n_heads");
  EMBER_CHECK(c.hidden_size % heads == 0, ErrorKind::kInvalidInput, config.origin(), ": dim ",
              c.hidden_size, " is not a multiple of n_heads ", heads);
  LayerSpec l;
  l.attn.heads = l.attn.kv_heads = heads;
  l.attn.head_dim = c.hidden_size / heads;
  l.attn.scale = 1.0f / std::sqrt(static_cast<float>(l.attn.head_dim));
  l.ffn.width = config.get_positive_int("hidden_dim");
  l.ffn.act = detail::parse_activation(config.get_string("activation", "gelu"), config.origin());
  l.attn_norm = l.ffn_norm = e.norm;
  detail::repeat_layers(c, config.get_positive_int("n_layers"), l);
  detail::parse_head(config, c);
  return c;
}

void bind_distilbert(const io::WeightStore& store, const io::JsonConfig& config, ModelSpec& spec,
                     ModelWeights& w) {
  const WeightBinder b(store, {"", "distilbert."}, "embeddings.word_embeddings.weight");
  const int64_t h = spec.hidden_size;
  auto& e = w.embeddings;
  e.word = b.get("embeddings.word_embeddings.weight", Shape{spec.embeddings.vocab_size, h});
  e.position =
      b.get("embeddings.position_embeddings.weight", Shape{spec.embeddings.max_positions, h});
  e.norm = b.norm("embeddings.LayerNorm", h);

  detail::LayerNames names;
  names.layer = "transformer.layer.";
  names.q = "attention.q_lin";
  names.k = "attention.k_lin";
  names.v = "attention.v_lin";
  names.o = "attention.out_lin";
  names.attn_norm = "sa_layer_norm";
  names.ffn_in = "ffn.lin1";
  names.ffn_out = "ffn.lin2";
  names.ffn_norm = "output_layer_norm";
  detail::bind_post_norm_layers(b, config, names, spec, w);

  detail::bind_heads(b, spec, w, {"pre_classifier", false, ops::Activation::kRelu, "classifier"});
}

}  // namespace ember::model
