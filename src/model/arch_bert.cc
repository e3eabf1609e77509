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
  const int64_t h = c.hidden_size;
  auto& e = w.embeddings;
  e.word = b.get("embeddings.word_embeddings.weight", Shape{c.vocab_size, h});
  e.position = b.get("embeddings.position_embeddings.weight", Shape{c.max_position_embeddings, h});
  e.token_type = b.get("embeddings.token_type_embeddings.weight", Shape{c.type_vocab_size, h});
  e.ln = b.layer_norm("embeddings.LayerNorm", h);
  detail::bind_bert_layers(b, c, w);

  const int64_t n = static_cast<int64_t>(c.labels.size());
  if (c.head == HeadKind::kSequenceClassification) {
    // BertForSequenceClassification: pooler (dense + tanh on [CLS]) then classifier.
    w.seq_classifier.dense = b.linear("pooler.dense", h, h);
    w.seq_classifier.act = ops::Activation::kTanh;
    w.seq_classifier.out = b.linear_root("classifier", n, h);
  } else if (c.head == HeadKind::kTokenClassification) {
    w.token_classifier = b.linear_root("classifier", n, h);
  }
}

}  // namespace ember::model
