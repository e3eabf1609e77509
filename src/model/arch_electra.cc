// ELECTRA (discriminator): BERT's layers over embeddings of a smaller size E, projected to
// the hidden size; its classification head uses GELU.
#include "core/error.h"
#include "model/architecture.h"

namespace ember::model {

using detail::WeightBinder;

EncoderConfig parse_electra_config(const io::JsonConfig& config) {
  EncoderConfig c = detail::parse_bert_like_config(config);
  c.embedding_size = config.get_positive_int("embedding_size", c.hidden_size);
  return c;
}

void bind_electra(const io::WeightStore& store, const EncoderConfig& c, EncoderWeights& w) {
  const WeightBinder b(store, {"", "electra."}, "embeddings.word_embeddings.weight");
  const int64_t h = c.hidden_size, e_size = c.embedding_size;
  detail::bind_bert_embeddings(b, c, w);
  if (e_size != h || b.has("embeddings_project.weight"))
    w.embeddings.project = b.linear("embeddings_project", h, e_size);
  detail::bind_bert_layers(b, c, w);

  // ElectraClassificationHead uses GELU (erf) whatever hidden_act says.
  detail::bind_heads(b, c, w,
                     {"classifier.dense", false, ops::Activation::kGeluErf, "classifier.out_proj"});
}

}  // namespace ember::model
