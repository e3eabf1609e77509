// MPNet (all-mpnet-base-v2): BERT's post-norm layers under other names, positions counted from
// padding_idx + 1 as RoBERTa does, no token types, and T5-style relative position buckets: one
// learned bias per bucket and head, shared by all layers and added to the attention scores. A
// pruned checkpoint whose layers keep different heads carries one table per layer instead
// (encoder.layer.N.attention.relative_attention_bias.weight, [buckets, heads of layer N]: the
// shared table's columns of the heads that layer keeps); a layer without its own uses the
// shared table.
#include <string>

#include "core/error.h"
#include "model/architecture.h"

namespace ember::model {

using detail::WeightBinder;

namespace {
// transformers computes the buckets with MPNetEncoder.compute_position_bias's defaults, not
// with relative_attention_num_buckets (which only sizes the table).
constexpr int64_t kBuckets = 32;
constexpr int64_t kMaxDistance = 128;
// MPNetEmbeddings fixes padding_idx at 1, whatever pad_token_id says.
constexpr int32_t kPaddingIdx = 1;
}  // namespace

ModelSpec parse_mpnet_config(const io::JsonConfig& config) {
  ModelSpec c = detail::parse_bert_like_config(config);
  c.embeddings.type_vocab_size = 0;
  c.embeddings.positions = PositionScheme::kAfterPadding;
  c.pad_token_id = kPaddingIdx;
  const int64_t table = config.get_positive_int("relative_attention_num_buckets", kBuckets);
  EMBER_CHECK(table >= kBuckets, ErrorKind::kInvalidInput, config.origin(),
              ": relative_attention_num_buckets ", table, " is below the ", kBuckets,
              " buckets MPNet uses");
  c.relative_buckets = RelativeBucketsSpec{kBuckets, kMaxDistance};
  return c;
}

void bind_mpnet(const io::WeightStore& store, const io::JsonConfig& config, ModelSpec& spec,
                ModelWeights& w) {
  const WeightBinder b(store, {"", "mpnet."}, "embeddings.word_embeddings.weight");
  detail::bind_bert_embeddings(b, spec, w);
  detail::LayerNames names;
  names.q = "attention.attn.q";
  names.k = "attention.attn.k";
  names.v = "attention.attn.v";
  names.o = "attention.attn.o";
  names.attn_norm = "attention.LayerNorm";
  detail::bind_post_norm_layers(b, config, names, spec, w);
  const int64_t table = config.get_positive_int("relative_attention_num_buckets", kBuckets);
  const std::string shared = "encoder.relative_attention_bias.weight";
  int64_t shared_heads = 0;  // the head count of the layers that read the shared table
  for (size_t i = 0; i < spec.layers.size(); ++i) {
    const int64_t heads = spec.layers[i].attn.heads;
    const std::string own =
        "encoder.layer." + std::to_string(i) + ".attention.relative_attention_bias.weight";
    if (b.has(own)) {
      w.layers[i].relative_buckets = b.get(own, Shape{table, heads});
      continue;
    }
    EMBER_CHECK(shared_heads == 0 || heads == shared_heads, ErrorKind::kInvalidInput,
                store.origin(), ": MPNet layer ", i, " has ", heads,
                " heads and no table of its own ('", own, "'), and the shared table '", shared,
                "' serves layers of ", shared_heads);
    shared_heads = heads;
  }
  if (shared_heads > 0) w.relative_buckets = b.get(shared, Shape{table, shared_heads});
  // MPNetForSequenceClassification: classifier.dense + tanh + classifier.out_proj on <s>.
  detail::bind_heads(b, spec, w,
                     {"classifier.dense", false, ops::Activation::kTanh, "classifier.out_proj"});
}

}  // namespace ember::model
