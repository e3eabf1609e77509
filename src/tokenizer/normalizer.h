// Normalizers edit a NormalizedString in place (keeping alignments). One implementation per
// tokenizer.json "normalizer" type; make_normalizer builds the tree from JSON.
#pragma once

#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>

#include "tokenizer/normalized_string.h"

namespace ember::tok {

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  virtual void normalize(NormalizedString& s) const = 0;
};

struct BertNormalizerOptions {
  bool clean_text = true;
  bool handle_chinese_chars = true;
  std::optional<bool> strip_accents;  // nullopt: follow lowercase
  bool lowercase = true;
};
std::unique_ptr<Normalizer> make_bert_normalizer(const BertNormalizerOptions& options);

// Precompiled from its base64 precompiled_charsmap (kInvalidInput naming the field if corrupt).
std::unique_ptr<Normalizer> make_precompiled_normalizer(std::string_view base64);
// Precompiled, Replace, Prepend from their objects; nullptr when `type` is none of them.
std::unique_ptr<Normalizer> make_spm_normalizer(const nlohmann::json& j, const std::string& type);

// nullptr for a JSON null. Throws kUnsupported naming an unknown type.
std::unique_ptr<Normalizer> make_normalizer(const nlohmann::json& j);

}  // namespace ember::tok
