// DistilBERT: its own config keys and names (q_lin, sa_layer_norm, ffn.lin1, ...), no token
// type embeddings, and a pre_classifier + ReLU head.
#include "core/error.h"
#include "model/architecture.h"

namespace ember::model {

using detail::WeightBinder;

EncoderConfig parse_distilbert_config(const io::JsonConfig& config) {
  EncoderConfig c;
  c.model_type = config.get_string("model_type");
  c.vocab_size = config.get_positive_int("vocab_size");
  c.hidden_size = config.get_positive_int("dim");
  c.embedding_size = c.hidden_size;
  c.num_layers = config.get_positive_int("n_layers");
  c.num_heads = config.get_positive_int("n_heads");
  c.intermediate_size = config.get_positive_int("hidden_dim");
  c.max_position_embeddings = config.get_positive_int("max_position_embeddings");
  c.type_vocab_size = 0;
  c.layer_norm_eps = 1e-12f;  // fixed in DistilBERT's code, not in its config
  c.hidden_act = detail::parse_activation(config.get_string("activation", "gelu"), config.origin());
  c.pad_token_id = static_cast<int32_t>(config.get_int("pad_token_id", 0));
  EMBER_CHECK(c.hidden_size % c.num_heads == 0, ErrorKind::kInvalidInput, config.origin(), ": dim ",
              c.hidden_size, " is not a multiple of n_heads ", c.num_heads);
  detail::parse_head(config, c);
  return c;
}

void bind_distilbert(const io::WeightStore& store, const EncoderConfig& c, EncoderWeights& w) {
  const WeightBinder b(store, {"", "distilbert."}, "embeddings.word_embeddings.weight");
  const int64_t h = c.hidden_size, inter = c.intermediate_size;
  auto& e = w.embeddings;
  e.word = b.get("embeddings.word_embeddings.weight", Shape{c.vocab_size, h});
  e.position = b.get("embeddings.position_embeddings.weight", Shape{c.max_position_embeddings, h});
  e.ln = b.layer_norm("embeddings.LayerNorm", h);

  w.layers.resize(c.num_layers);
  for (int64_t i = 0; i < c.num_layers; ++i) {
    const std::string p = cat("transformer.layer.", i, ".");
    LayerWeights& l = w.layers[i];
    l.qkv = detail::fuse_qkv(b.linear(p + "attention.q_lin", h, h),
                             b.linear(p + "attention.k_lin", h, h),
                             b.linear(p + "attention.v_lin", h, h), w);
    l.attn_out = b.linear(p + "attention.out_lin", h, h);
    l.attn_ln = b.layer_norm(p + "sa_layer_norm", h);
    l.ffn_in = b.linear(p + "ffn.lin1", inter, h);
    l.ffn_out = b.linear(p + "ffn.lin2", h, inter);
    l.ffn_ln = b.layer_norm(p + "output_layer_norm", h);
  }

  detail::bind_heads(b, c, w, {"pre_classifier", false, ops::Activation::kRelu, "classifier"});
}

}  // namespace ember::model
