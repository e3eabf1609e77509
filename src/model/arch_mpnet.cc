// MPNet (all-mpnet-base-v2): BERT's post-norm layers under other names, positions counted from
// padding_idx + 1 as RoBERTa does, no token types, and T5-style relative position buckets: one
// learned bias per bucket and head, shared by all layers and added to the attention scores.
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
  // Every layer attends with the first layer's head count to the shared table.
  const int64_t heads = spec.layers.front().attn.heads;
  for (const auto& l : spec.layers)
    EMBER_CHECK(l.attn.heads == heads, ErrorKind::kUnsupported, store.origin(),
                ": MPNet layers with different head counts (pruned) share one relative bias "
                "table of ",
                heads, " heads; not supported");
  const int64_t table = config.get_positive_int("relative_attention_num_buckets", kBuckets);
  w.relative_buckets = b.get("encoder.relative_attention_bias.weight", Shape{table, heads});

  // MPNetForSequenceClassification: classifier.dense + tanh + classifier.out_proj on <s>.
  detail::bind_heads(b, spec, w,
                     {"classifier.dense", false, ops::Activation::kTanh, "classifier.out_proj"});
}

}  // namespace ember::model
