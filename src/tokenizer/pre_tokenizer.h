// Pre-tokenizers cut the normalized text into words before the model sees them. One
// implementation per tokenizer.json "pre_tokenizer" type.
#pragma once

#include <memory>
#include <nlohmann/json_fwd.hpp>

#include "tokenizer/pre_tokenized_string.h"

namespace ember::tok {

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  virtual void pre_tokenize(PreTokenizedString& s) const = 0;
};

std::unique_ptr<PreTokenizer> make_bert_pre_tokenizer();
std::unique_ptr<PreTokenizer> make_whitespace_pre_tokenizer();        // \w+|[^\w\s]+
std::unique_ptr<PreTokenizer> make_whitespace_split_pre_tokenizer();  // split on whitespace

// nullptr for a JSON null. Throws kUnsupported naming an unknown type.
std::unique_ptr<PreTokenizer> make_pre_tokenizer(const nlohmann::json& j);

}  // namespace ember::tok
