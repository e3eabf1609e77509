// Qwen3 as an embedding model (Qwen3-Embedding): the decoder body run once over the text with
// causal attention, grouped-query heads of an explicit head_dim, RMSNorm before each block and
// at the end, a per-head RMSNorm of Q and K before the rotary positions, and SwiGLU
// (gate_proj and up_proj fused as [gate; up], down_proj). Pooling (the last token, which the
// tokenizer makes <|endoftext|>) comes from the sentence-transformers metadata.
#include <cmath>
#include <string>

#include "core/error.h"
#include "model/architecture.h"

namespace ember::model {

using detail::WeightBinder;

ModelSpec parse_qwen3_config(const io::JsonConfig& config) {
  ModelSpec c;
  c.model_type = config.get_string("model_type");
  c.hidden_size = config.get_positive_int("hidden_size");
  auto& e = c.embeddings;
  e.vocab_size = config.get_positive_int("vocab_size");
  e.dim = c.hidden_size;
  e.positions = PositionScheme::kNone;
  e.max_positions = config.get_positive_int("max_position_embeddings");
  e.type_vocab_size = 0;
  c.pad_token_id = static_cast<int32_t>(config.get_int("pad_token_id", 0));

  // Sliding-window layers attend to a causal window, which no mask kind states.
  const auto types = config.get_string_list("layer_types");
  for (size_t i = 0; i < types.size(); ++i)
    EMBER_CHECK(types[i] == "full_attention", ErrorKind::kUnsupported, config.origin(),
                ": layer_types[", i, "] '", types[i],
                "' is not supported (full_attention; no sliding windows)");
  EMBER_CHECK(!config.get_bool("use_sliding_window", false), ErrorKind::kUnsupported,
              config.origin(), ": use_sliding_window is not supported");

  const int64_t heads = config.get_positive_int("num_attention_heads");
  const NormSpec rms{ops::NormKind::kRmsNorm, false,
                     static_cast<float>(config.get_double("rms_norm_eps", 1e-6))};
  LayerSpec l;
  l.attn.heads = heads;
  l.attn.kv_heads = config.get_positive_int("num_key_value_heads", heads);
  if (config.has("head_dim")) {
    l.attn.head_dim = config.get_positive_int("head_dim");
  } else {
    EMBER_CHECK(c.hidden_size % heads == 0, ErrorKind::kInvalidInput, config.origin(),
                ": no head_dim, and hidden_size ", c.hidden_size,
                " is not a multiple of num_attention_heads ", heads);
    l.attn.head_dim = c.hidden_size / heads;
  }
  l.attn.scale = 1.0f / std::sqrt(static_cast<float>(l.attn.head_dim));
  l.attn.mask = ops::MaskKind::kCausal;
  l.attn.qk_norm = rms;
  l.attn.rotary =
      RotarySpec{detail::parse_rope_theta(config, "rope_theta", nullptr, 10000.0), l.attn.head_dim};
  l.ffn.kind = FfnKind::kGated;
  l.ffn.width = config.get_positive_int("intermediate_size");
  l.ffn.act = detail::parse_activation(config.get_string("hidden_act", "silu"), config.origin());
  l.placement = NormPlacement::kPre;
  l.attn_norm = l.ffn_norm = rms;
  const int64_t layers = config.get_positive_int("num_hidden_layers");
  EMBER_CHECK(types.empty() || static_cast<int64_t>(types.size()) == layers,
              ErrorKind::kInvalidInput, config.origin(), ": layer_types lists ", types.size(),
              " layers, not ", layers);
  detail::repeat_layers(c, layers, l);
  c.final_norm = rms;

  detail::parse_head(config, c);
  EMBER_CHECK(c.head == HeadKind::kNone, ErrorKind::kUnsupported, config.origin(), ": '",
              c.architecture, "' is not supported for qwen3 (the body: Qwen3Model)");
  return c;
}

void bind_qwen3(const io::WeightStore& store, const io::JsonConfig& /*config*/, ModelSpec& spec,
                ModelWeights& w) {
  // Qwen3Model has no prefix; a Qwen3ForCausalLM checkpoint keeps the body under "model.".
  const WeightBinder b(store, {"", "model."}, "embed_tokens.weight");
  const int64_t h = spec.hidden_size;
  w.embeddings.word = b.get("embed_tokens.weight", Shape{spec.vocab_size(), h});

  w.layers.resize(spec.layers.size());
  for (size_t i = 0; i < spec.layers.size(); ++i) {
    const std::string p = cat("layers.", i, ".");
    const LayerSpec& ls = spec.layers[i];
    const int64_t qw = ls.attn.q_width(), kvw = ls.attn.kv_width(), f = ls.ffn.width;
    LayerWeights& l = w.layers[i];
    l.qkv = detail::fuse_rows(
        {b.linear(p + "self_attn.q_proj", qw, h), b.linear(p + "self_attn.k_proj", kvw, h),
         b.linear(p + "self_attn.v_proj", kvw, h)},
        w, store);
    l.attn_out = b.linear(p + "self_attn.o_proj", h, qw);
    l.q_norm = b.norm(p + "self_attn.q_norm", ls.attn.head_dim, false);
    l.k_norm = b.norm(p + "self_attn.k_norm", ls.attn.head_dim, false);
    l.attn_norm = b.norm(p + "input_layernorm", h, false);
    // SwiGLU: silu(gate) * up, so gate is the half the activation goes on.
    l.ffn_in = detail::fuse_rows(
        {b.linear(p + "mlp.gate_proj", f, h), b.linear(p + "mlp.up_proj", f, h)}, w, store);
    l.ffn_out = b.linear(p + "mlp.down_proj", h, f);
    l.ffn_norm = b.norm(p + "post_attention_layernorm", h, false);
  }
  w.final_norm = b.norm("norm", h, false);
}

}  // namespace ember::model
