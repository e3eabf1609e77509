// The pattern of the Replace normalizer and decoder: {"String": "..."} (a literal) or
// {"Regex": "..."} (Oniguruma), matched as the library's find_matches does.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tokenizer/regex.h"

namespace ember::tok {

class ReplacePattern {
 public:
  // kInvalidInput naming `what` for a malformed pattern object or an invalid regex.
  static ReplacePattern from_json(const nlohmann::json& j, std::string_view what);

  // The non-overlapping matches in `text`, as byte ranges; none for an empty text or an empty
  // String pattern.
  std::vector<std::pair<size_t, size_t>> find(std::string_view text) const;

 private:
  std::optional<Regex> regex_;  // nullopt: the empty String pattern
};

// The fields a Replace normalizer or decoder carries: {"pattern": ..., "content": "..."}.
struct ReplaceSpec {
  ReplacePattern pattern;
  std::string content;
  // kInvalidInput naming `what` when a field is missing or malformed.
  static ReplaceSpec from_json(const nlohmann::json& j, std::string_view what);
};

}  // namespace ember::tok
