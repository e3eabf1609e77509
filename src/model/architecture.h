// The architecture table: each model family is written once, as a config parser (config.json
// into a ModelSpec) and a weight binder (its tensor names into ModelWeights, completing the
// spec from tensor shapes where checkpoints differ: pruned heads, sliced FFN widths), and
// registered by its config.json `model_type`. The forward pass is shared (model.cc).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "io/json_config.h"
#include "io/weight_store.h"
#include "model/model_spec.h"
#include "model/model_weights.h"

namespace ember::model {

struct Architecture {
  std::string_view model_type;
  ModelSpec (*parse_config)(const io::JsonConfig& config);
  void (*bind_weights)(const io::WeightStore& store, const io::JsonConfig& config, ModelSpec& spec,
                       ModelWeights& weights);
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
  // The shape of a tensor under the prefix (kNotFound when missing).
  Shape shape(const std::string& name) const;
  ops::LinearSource linear(const std::string& name, int64_t out, int64_t in) const;
  ops::LinearSource linear_root(const std::string& name, int64_t out, int64_t in) const;
  // LayerNorm under "<name>.weight/bias", or the old "<name>.gamma/beta"; no bias when
  // `bias` is false.
  NormWeights norm(const std::string& name, int64_t n, bool bias = true) const;
  const io::WeightStore& store() const { return store_; }

 private:
  const io::WeightStore& store_;
  std::string prefix_;
};

// Projections of one input concatenated by rows into one [sum out, in] projection owned by
// `weights` (Q, K and V; gate and up), float or int8 alike. The parts' file pages are paged
// out and their matrices listed in weights.fused_parts (Model::load frees their conversions).
ops::LinearSource fuse_rows(const std::vector<ops::LinearSource>& parts, ModelWeights& weights,
                            const io::WeightStore& store);

// The config fields that BERT, RoBERTa, XLM-R, ELECTRA and MPNet share: uniform post-norm layers
// with LayerNorm, learned absolute positions, GELU (or hidden_act).
ModelSpec parse_bert_like_config(const io::JsonConfig& config);
// Binds embeddings.{word,position,token_type}_embeddings and embeddings.LayerNorm (BERT naming)
// as the spec's embeddings say.
void bind_bert_embeddings(const WeightBinder& binder, const ModelSpec& spec, ModelWeights& w);
// The tensor names of a post-norm encoder layer, under "<layer><N>." (BERT's by default).
struct LayerNames {
  const char* layer = "encoder.layer.";
  const char* q = "attention.self.query";
  const char* k = "attention.self.key";
  const char* v = "attention.self.value";
  const char* o = "attention.output.dense";
  const char* attn_norm = "attention.output.LayerNorm";
  const char* ffn_in = "intermediate.dense";
  const char* ffn_out = "output.dense";
  const char* ffn_norm = "output.LayerNorm";
};
// Binds the layers of a post-norm encoder, fusing Q, K and V. Heads and FFN width per layer
// come from the tensor shapes (pruned checkpoints; config.json's pruned_heads is checked
// against them; neither may exceed the config).
void bind_post_norm_layers(const WeightBinder& binder, const io::JsonConfig& config,
                           const LayerNames& names, ModelSpec& spec, ModelWeights& w);
// Heads per layer of a pruned BERT-family checkpoint: the query projection's rows / head_dim.
// Sets spec.layers[i].attn heads (and kv_heads); checks pruned_heads when the config has it.
void set_heads_from_shape(ModelSpec& spec, size_t layer, int64_t q_rows, const std::string& origin);

// Where a family keeps its sequence classification head: dense (under the body's prefix, as
// BERT's pooler, or at the root) + activation + out projection. Token classification is
// always a root "classifier" Linear.
struct HeadNames {
  const char* dense;
  bool dense_under_prefix;
  ops::Activation act;
  const char* out;
};
void bind_heads(const WeightBinder& binder, ModelSpec& spec, ModelWeights& weights,
                const HeadNames& names);
// The masked-LM head of BERT-family checkpoints (cls.predictions.*, decoder tied to the word
// embeddings unless present), when the spec's head is kMaskedLm.
void bind_masked_lm_head(const WeightBinder& binder, const io::JsonConfig& config, ModelSpec& spec,
                         ModelWeights& weights);
ops::Activation parse_activation(const std::string& name, const std::string& origin);
// The rotary base: `legacy_key` of the config (the Hub's rope_theta, global_rope_theta, ...),
// overridden by rope_parameters[.sub].rope_theta as transformers 5 writes it (sub: nullptr for
// rope_parameters itself). Only the default rotary, without scaling, is supported.
float parse_rope_theta(const io::JsonConfig& config, const char* legacy_key, const char* sub,
                       double fallback);
// Head kind and labels from architectures[0] and id2label.
void parse_head(const io::JsonConfig& config, ModelSpec& out);
// Uniform layers: every layer gets `layer`.
void repeat_layers(ModelSpec& spec, int64_t count, const LayerSpec& layer);

}  // namespace detail
}  // namespace ember::model
