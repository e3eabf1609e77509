// RoBERTa and XLM-RoBERTa: BERT's layers, positions counted from padding_idx + 1, and a
// classification head of its own (dense + tanh + out_proj on <s>).
#include "core/error.h"
#include "model/architecture.h"

namespace ember::model {

using detail::WeightBinder;

EncoderConfig parse_roberta_config(const io::JsonConfig& config) {
  EncoderConfig c = detail::parse_bert_like_config(config);
  c.positions = PositionScheme::kAfterPadding;
  c.pad_token_id = static_cast<int32_t>(config.get_int("pad_token_id", 1));
  EMBER_CHECK(c.max_position_embeddings > c.pad_token_id + 1, ErrorKind::kInvalidInput,
              config.origin(), ": max_position_embeddings ", c.max_position_embeddings,
              " leaves no positions after pad_token_id ", c.pad_token_id);
  return c;
}

void bind_roberta(const io::WeightStore& store, const EncoderConfig& c, EncoderWeights& w) {
  const WeightBinder b(store, {"", "roberta."}, "embeddings.word_embeddings.weight");
  const int64_t h = c.hidden_size;
  auto& e = w.embeddings;
  e.word = b.get("embeddings.word_embeddings.weight", Shape{c.vocab_size, h});
  e.position = b.get("embeddings.position_embeddings.weight", Shape{c.max_position_embeddings, h});
  e.token_type = b.get("embeddings.token_type_embeddings.weight", Shape{c.type_vocab_size, h});
  e.ln = b.layer_norm("embeddings.LayerNorm", h);
  detail::bind_bert_layers(b, c, w);

  const int64_t n = static_cast<int64_t>(c.labels.size());
  if (c.head == HeadKind::kSequenceClassification) {
    w.seq_classifier.dense = b.linear_root("classifier.dense", h, h);
    w.seq_classifier.act = ops::Activation::kTanh;
    w.seq_classifier.out = b.linear_root("classifier.out_proj", n, h);
  } else if (c.head == HeadKind::kTokenClassification) {
    w.token_classifier = b.linear_root("classifier", n, h);
  }
}

}  // namespace ember::model
