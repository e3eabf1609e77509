// Pooling that leaves a prompt's tokens out, for models whose Pooling config has
// include_prompt false (INSTRUCTOR-style): sentence-transformers masks the first
// `from` tokens of each sequence and pools the rest. The engine pools every token, so such
// requests take the last hidden states and are pooled here.
#pragma once

#include <cstdint>
#include <vector>

#include "io/sentence_transformers.h"

namespace ember::model {

// sentence-transformers' prompt length, from the prompt tokenized alone with special tokens:
// its tokens less a trailing special token (CLS and the prompt's words, for BERT).
int64_t prompt_length(const std::vector<uint8_t>& special_tokens_mask);

// hidden: [tokens][hidden_size]. Pools tokens [from, tokens) as sentence-transformers'
// Pooling does with the first `from` masked (none left: mean 0, cls and lasttoken the first
// token, max -inf), then L2-normalizes when the model has a Normalize module.
std::vector<float> pool_after_prompt(const float* hidden, int64_t tokens, int64_t hidden_size,
                                     int64_t from, io::PoolingMode mode, bool normalize);

}  // namespace ember::model
