// BERT (and every checkpoint with its layout: MiniLM, BGE, E5, GTE-small), pruned ones included.
#include "core/error.h"
#include "model/architecture.h"

namespace ember::model {

using detail::WeightBinder;

ModelSpec parse_bert_config(const io::JsonConfig& config) {
  return detail::parse_bert_like_config(config);
}

void bind_bert(const io::WeightStore& store, const io::JsonConfig& config, ModelSpec& spec,
               ModelWeights& w) {
  const WeightBinder b(store, {"", "bert."}, "embeddings.word_embeddings.weight");
  detail::bind_bert_embeddings(b, spec, w);
  detail::bind_post_norm_layers(b, config, {}, spec, w);

  // BertForSequenceClassification: pooler (dense + tanh on [CLS]) then classifier.
  detail::bind_heads(b, spec, w, {"pooler.dense", true, ops::Activation::kTanh, "classifier"});
  // BertForMaskedLM (SPLADE).
  detail::bind_masked_lm_head(b, config, spec, w);
}

}  // namespace ember::model
