// ELECTRA (discriminator): BERT's layers over embeddings of a smaller size E, projected to
// the hidden size; its classification head uses GELU.
#include "core/error.h"
#include "model/architecture.h"

namespace ember::model {

using detail::WeightBinder;

ModelSpec parse_electra_config(const io::JsonConfig& config) {
  ModelSpec c = detail::parse_bert_like_config(config);
  c.embeddings.dim = config.get_positive_int("embedding_size", c.hidden_size);
  c.embeddings.project = c.embeddings.dim != c.hidden_size;
  return c;
}

void bind_electra(const io::WeightStore& store, const io::JsonConfig& config, ModelSpec& spec,
                  ModelWeights& w) {
  const WeightBinder b(store, {"", "electra."}, "embeddings.word_embeddings.weight");
  const int64_t h = spec.hidden_size, e_size = spec.embeddings.dim;
  detail::bind_bert_embeddings(b, spec, w);
  if (spec.embeddings.project || b.has("embeddings_project.weight")) {
    spec.embeddings.project = true;
    w.embeddings.project = b.linear("embeddings_project", h, e_size);
  }
  detail::bind_post_norm_layers(b, config, {}, spec, w);

  // ElectraClassificationHead uses GELU (erf) whatever hidden_act says.
  detail::bind_heads(b, spec, w,
                     {"classifier.dense", false, ops::Activation::kGeluErf, "classifier.out_proj"});
}

}  // namespace ember::model
