// RoBERTa and XLM-RoBERTa: BERT's layers, positions counted from padding_idx + 1, and a
// classification head of its own (dense + tanh + out_proj on <s>).
#include "core/error.h"
#include "model/architecture.h"

namespace ember::model {

using detail::WeightBinder;

ModelSpec parse_roberta_config(const io::JsonConfig& config) {
  ModelSpec c = detail::parse_bert_like_config(config);
  c.embeddings.positions = PositionScheme::kAfterPadding;
  c.pad_token_id = static_cast<int32_t>(config.get_int("pad_token_id", 1));
  EMBER_CHECK(c.embeddings.max_positions > c.pad_token_id + 1, ErrorKind::kInvalidInput,
              config.origin(), ": max_position_embeddings ", c.embeddings.max_positions,
              " leaves no positions after pad_token_id ", c.pad_token_id);
  return c;
}

void bind_roberta(const io::WeightStore& store, const io::JsonConfig& config, ModelSpec& spec,
                  ModelWeights& w) {
  const WeightBinder b(store, {"", "roberta."}, "embeddings.word_embeddings.weight");
  detail::bind_bert_embeddings(b, spec, w);
  detail::bind_post_norm_layers(b, config, {}, spec, w);

  detail::bind_heads(b, spec, w,
                     {"classifier.dense", false, ops::Activation::kTanh, "classifier.out_proj"});
}

}  // namespace ember::model
