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
// From their tokenizer.json objects.
std::unique_ptr<PreTokenizer> make_byte_level_pre_tokenizer(const nlohmann::json& j);
std::unique_ptr<PreTokenizer> make_split_pre_tokenizer(const nlohmann::json& j);
// A "behavior" field (Removed, Isolated, ...); kInvalidInput naming `what` otherwise.
SplitBehavior read_split_behavior(const nlohmann::json& j, std::string_view what);

// Metaspace options, shared by the pre-tokenizer and the decoder of that name.
enum class PrependScheme { kAlways, kFirst, kNever };
struct MetaspaceOptions {
  char32_t replacement = U'\u2581';
  PrependScheme prepend = PrependScheme::kAlways;
  bool split = true;
};
MetaspaceOptions read_metaspace_options(const nlohmann::json& j, std::string_view what);
// Metaspace, Punctuation, Digits from their objects; nullptr when `type` is none of them.
std::unique_ptr<PreTokenizer> make_spm_pre_tokenizer(const nlohmann::json& j,
                                                     const std::string& type);

// nullptr for a JSON null. Throws kUnsupported naming an unknown type.
std::unique_ptr<PreTokenizer> make_pre_tokenizer(const nlohmann::json& j);

}  // namespace ember::tok
