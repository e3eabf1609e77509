// Normalizers edit a NormalizedString in place (keeping alignments). One implementation per
// tokenizer.json "normalizer" type; make_normalizer builds the tree from JSON.
#pragma once

#include <memory>
#include <nlohmann/json_fwd.hpp>

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

// nullptr for a JSON null. Throws kUnsupported naming an unknown type.
std::unique_ptr<Normalizer> make_normalizer(const nlohmann::json& j);

}  // namespace ember::tok
