// Split: cut on a literal string or a regex, with one of the five delimiter behaviours,
// optionally inverted (the pattern describes the pieces to keep rather than the delimiters).
#include <nlohmann/json.hpp>

#include "tokenizer/json_fields.h"
#include "tokenizer/pattern.h"
#include "tokenizer/pre_tokenizer.h"

namespace ember::tok {

std::vector<SplitMatch> find_matches(const Regex& re, std::string_view text, bool invert) {
  std::vector<SplitMatch> out;
  if (text.empty()) {
    out.push_back({0, 0, invert});
    return out;
  }
  size_t prev = 0;
  for (const auto& [b, e] : re.find_all(text)) {
    if (prev != b) out.push_back({prev, b, invert});
    out.push_back({b, e, !invert});
    prev = e;
  }
  if (prev != text.size()) out.push_back({prev, text.size(), invert});
  return out;
}

namespace {

constexpr std::string_view kWhat = "pre_tokenizer";

class SplitPreTokenizer final : public PreTokenizer {
 public:
  SplitPreTokenizer(Regex re, SplitBehavior behavior, bool invert)
      : regex_(std::move(re)), behavior_(behavior), invert_(invert) {}

  void pre_tokenize(PreTokenizedString& s) const override {
    s.split_text([this](NormalizedString&& n) {
      return n.split(find_matches(regex_, n.get(), invert_), behavior_);
    });
  }

 private:
  Regex regex_;
  SplitBehavior behavior_;
  bool invert_;
};

Regex read_pattern(const nlohmann::json& j) {
  const auto it = j.find("pattern");
  if (it == j.end() || !it->is_object() || it->size() != 1 || !it->begin().value().is_string()) {
    json_fields::malformed(kWhat,
                           "Split field 'pattern' must be {\"String\": s} or {\"Regex\": r}");
  }
  const std::string kind = it->begin().key();
  const std::string value = it->begin().value().get<std::string>();
  if (kind == "String") return Regex::literal(value);
  if (kind == "Regex") return Regex::compile(value);
  json_fields::malformed(kWhat, "Split pattern kind '" + kind + "' is not String or Regex");
}

}  // namespace

SplitBehavior read_split_behavior(const nlohmann::json& j, std::string_view what) {
  const std::string b = json_fields::get_string(j, what, "behavior", "");
  if (b == "Removed") return SplitBehavior::kRemoved;
  if (b == "Isolated") return SplitBehavior::kIsolated;
  if (b == "MergedWithPrevious") return SplitBehavior::kMergedWithPrevious;
  if (b == "MergedWithNext") return SplitBehavior::kMergedWithNext;
  if (b == "Contiguous") return SplitBehavior::kContiguous;
  json_fields::malformed(what, "unknown split behavior '" + b + "'");
}

std::unique_ptr<PreTokenizer> make_split_pre_tokenizer(const nlohmann::json& j) {
  Regex re = read_pattern(j);
  const SplitBehavior behavior = read_split_behavior(j, kWhat);
  return std::make_unique<SplitPreTokenizer>(std::move(re), behavior,
                                             json_fields::get_bool(j, kWhat, "invert", false));
}

}  // namespace ember::tok
