// The one description of an encoder that the shared forward pass needs, whatever the
// architecture's config.json calls its fields.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ops/ops.h"

namespace ember::model {

enum class HeadKind { kNone, kSequenceClassification, kTokenClassification };

// How position ids are made: BERT counts from 0; RoBERTa-family counts from
// padding_idx + 1 and gives pad tokens padding_idx.
enum class PositionScheme { kFromZero, kAfterPadding };

struct EncoderConfig {
  std::string model_type;    // "bert", "roberta", ...
  std::string architecture;  // architectures[0], e.g. "BertForSequenceClassification"
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t embedding_size = 0;  // == hidden_size except ELECTRA (then projected)
  int64_t num_layers = 0;
  int64_t num_heads = 0;
  int64_t intermediate_size = 0;
  int64_t max_position_embeddings = 0;
  int64_t type_vocab_size = 0;  // 0: no token type embeddings (DistilBERT)
  float layer_norm_eps = 1e-12f;
  ops::Activation hidden_act = ops::Activation::kGeluErf;
  PositionScheme positions = PositionScheme::kFromZero;
  int32_t pad_token_id = 0;

  HeadKind head = HeadKind::kNone;
  std::vector<std::string> labels;  // id2label, index = class id

  int64_t head_dim() const { return hidden_size / num_heads; }
  // Longest sequence the position embeddings allow.
  int64_t max_tokens() const;
};

}  // namespace ember::model
