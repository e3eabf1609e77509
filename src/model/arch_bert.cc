// BERT (and every checkpoint with its layout: MiniLM, BGE, E5, GTE-small).
#include "core/error.h"
#include "model/architecture.h"

namespace ember::model {

using detail::WeightBinder;

EncoderConfig parse_bert_config(const io::JsonConfig& config) {
  return detail::parse_bert_like_config(config);
}

void bind_bert(const io::WeightStore& store, const EncoderConfig& c, EncoderWeights& w) {
  const WeightBinder b(store, {"", "bert."}, "embeddings.word_embeddings.weight");
  detail::bind_bert_embeddings(b, c, w);
  detail::bind_bert_layers(b, c, w);

  // BertForSequenceClassification: pooler (dense + tanh on [CLS]) then classifier.
  detail::bind_heads(b, c, w, {"pooler.dense", true, ops::Activation::kTanh, "classifier"});
}

}  // namespace ember::model
