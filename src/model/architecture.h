// The architecture table: each model family is written once, as a config parser and a weight
// binder, and registered by its config.json `model_type`. The forward pass is shared.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "io/json_config.h"
#include "io/weight_store.h"
#include "model/encoder_config.h"
#include "model/encoder_weights.h"

namespace ember::model {

struct Architecture {
  std::string_view model_type;
  EncoderConfig (*parse_config)(const io::JsonConfig& config);
  void (*bind_weights)(const io::WeightStore& store, const EncoderConfig& config,
                       EncoderWeights& weights);
};

// Throws Error(kUnsupported) naming the model_type and the supported ones.
const Architecture& find_architecture(std::string_view model_type);
std::vector<std::string_view> supported_model_types();

// Shared by the architecture files.
namespace detail {

// Reads a weight under the first prefix that has the model's embeddings, so that a bare
// BertModel ("embeddings.word_embeddings.weight") and a BertForSequenceClassification
// ("bert.embeddings...") bind alike.
class WeightBinder {
 public:
  WeightBinder(const io::WeightStore& store, std::vector<std::string> prefixes,
               const std::string& probe);
  const float* get(const std::string& name, const Shape& shape) const;  // under the prefix
  bool has(const std::string& name) const;
  LinearWeights linear(const std::string& name, int64_t out, int64_t in) const;
  LinearWeights linear_root(const std::string& name, int64_t out, int64_t in) const;
  // LayerNorm under "<name>.weight/bias", or the old "<name>.gamma/beta".
  LayerNormWeights layer_norm(const std::string& name, int64_t n) const;
  const io::WeightStore& store() const { return store_; }

 private:
  const io::WeightStore& store_;
  std::string prefix_;
};

// Reads the fields that BERT, RoBERTa, XLM-R and ELECTRA share.
EncoderConfig parse_bert_like_config(const io::JsonConfig& config);
// Binds embeddings.{word,position,token_type}_embeddings and embeddings.LayerNorm (BERT
// naming) at the config's embedding size.
void bind_bert_embeddings(const WeightBinder& binder, const EncoderConfig& config,
                          EncoderWeights& weights);
// Binds encoder.layer.N.* (BERT naming), fusing Q, K and V.
void bind_bert_layers(const WeightBinder& binder, const EncoderConfig& config,
                      EncoderWeights& weights);
// Fuses three [H, H] projections (+ biases) into one [3H, H] matrix owned by `weights`.
LinearWeights fuse_qkv(const LinearWeights& q, const LinearWeights& k, const LinearWeights& v,
                       EncoderWeights& weights);
// Where a family keeps its sequence classification head: dense (under the body's prefix, as
// BERT's pooler, or at the root) + activation + out projection. Token classification is
// always a root "classifier" Linear.
struct HeadNames {
  const char* dense;
  bool dense_under_prefix;
  ops::Activation act;
  const char* out;
};
void bind_heads(const WeightBinder& binder, const EncoderConfig& config, EncoderWeights& weights,
                const HeadNames& names);
ops::Activation parse_activation(const std::string& name, const std::string& origin);
// Head kind and labels from architectures[0] and id2label.
void parse_head(const io::JsonConfig& config, EncoderConfig& out);

}  // namespace detail
}  // namespace ember::model
