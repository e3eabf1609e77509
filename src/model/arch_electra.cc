// ELECTRA (discriminator): BERT's layers over embeddings of a smaller size E, projected to
// the hidden size; its classification head uses GELU.
#include "core/error.h"
#include "model/architecture.h"

namespace ember::model {

using detail::WeightBinder;

EncoderConfig parse_electra_config(const io::JsonConfig& config) {
  EncoderConfig c = detail::parse_bert_like_config(config);
  c.embedding_size = config.get_int("embedding_size", c.hidden_size);
  return c;
}

void bind_electra(const io::WeightStore& store, const EncoderConfig& c, EncoderWeights& w) {
  const WeightBinder b(store, {"", "electra."}, "embeddings.word_embeddings.weight");
  const int64_t h = c.hidden_size, e_size = c.embedding_size;
  auto& e = w.embeddings;
  e.word = b.get("embeddings.word_embeddings.weight", Shape{c.vocab_size, e_size});
  e.position =
      b.get("embeddings.position_embeddings.weight", Shape{c.max_position_embeddings, e_size});
  e.token_type = b.get("embeddings.token_type_embeddings.weight", Shape{c.type_vocab_size, e_size});
  e.ln = b.layer_norm("embeddings.LayerNorm", e_size);
  if (e_size != h || b.has("embeddings_project.weight"))
    e.project = b.linear("embeddings_project", h, e_size);
  detail::bind_bert_layers(b, c, w);

  const int64_t n = static_cast<int64_t>(c.labels.size());
  if (c.head == HeadKind::kSequenceClassification) {
    w.seq_classifier.dense = b.linear_root("classifier.dense", h, h);
    w.seq_classifier.act = ops::Activation::kGeluErf;
    w.seq_classifier.out = b.linear_root("classifier.out_proj", n, h);
  } else if (c.head == HeadKind::kTokenClassification) {
    w.token_classifier = b.linear_root("classifier", n, h);
  }
}

}  // namespace ember::model
