// Replace (String or Regex pattern) and Prepend, the normalizers of SentencePiece-converted
// tokenizers, plus the factory for the SentencePiece-family normalizers.
#include <nlohmann/json.hpp>

#include "tokenizer/json_fields.h"
#include "tokenizer/normalizer.h"
#include "tokenizer/replace_pattern.h"

namespace ember::tok {

ReplaceSpec ReplaceSpec::from_json(const nlohmann::json& j, std::string_view what) {
  const auto it = j.find("pattern");
  if (it == j.end()) json_fields::malformed(what, "Replace needs a field 'pattern'");
  const auto content = j.find("content");
  if (content == j.end() || !content->is_string()) {
    json_fields::malformed(what, "field 'content' must be a string");
  }
  return {ReplacePattern::from_json(*it, what), content->get<std::string>()};
}

ReplacePattern ReplacePattern::from_json(const nlohmann::json& j, std::string_view what) {
  if (!j.is_object() || j.size() != 1) {
    json_fields::malformed(what, "field 'pattern' must be {\"String\": ...} or {\"Regex\": ...}");
  }
  const std::string kind = j.begin().key();
  const nlohmann::json& value = j.begin().value();
  if ((kind != "String" && kind != "Regex") || !value.is_string()) {
    json_fields::malformed(what, "field 'pattern' must be {\"String\": ...} or {\"Regex\": ...}");
  }
  ReplacePattern p;
  const std::string s = value.get<std::string>();
  if (kind == "Regex") {
    p.regex_ = Regex::compile(s);
  } else if (!s.empty()) {
    p.regex_ = Regex::literal(s);
  }
  return p;
}

std::vector<std::pair<size_t, size_t>> ReplacePattern::find(std::string_view text) const {
  if (!regex_ || text.empty()) return {};
  return regex_->find_all(text);
}

namespace {

using namespace json_fields;

class Replace final : public Normalizer {
 public:
  Replace(ReplacePattern pattern, std::string content)
      : pattern_(std::move(pattern)), content_(std::move(content)) {}
  void normalize(NormalizedString& s) const override {
    s.replace_ranges(pattern_.find(s.get()), content_);
  }

 private:
  ReplacePattern pattern_;
  std::string content_;
};

// Every prepended character keeps the alignment of the first character (library prepend()).
class Prepend final : public Normalizer {
 public:
  explicit Prepend(std::string prefix) : prefix_(std::move(prefix)) {
    for (size_t i = 0; i < prefix_.size();) chars_.push_back(decode_utf8(prefix_, i));
  }
  void normalize(NormalizedString& s) const override {
    if (s.empty() || chars_.empty()) return;
    s.expand([&](char32_t c, size_t pos, std::u32string& out) {
      if (pos == 0) out += chars_;
      out += c;
    });
  }

 private:
  std::string prefix_;
  std::u32string chars_;
};

}  // namespace

std::unique_ptr<Normalizer> make_spm_normalizer(const nlohmann::json& j, const std::string& type) {
  constexpr std::string_view kWhat = "normalizer";
  if (type == "Precompiled") {
    const auto it = j.find("precompiled_charsmap");
    if (it == j.end() || !it->is_string()) {
      malformed(kWhat, "field 'precompiled_charsmap' must be a base64 string");
    }
    return make_precompiled_normalizer(it->get<std::string>());
  }
  if (type == "Replace") {
    auto spec = ReplaceSpec::from_json(j, kWhat);
    return std::make_unique<Replace>(std::move(spec.pattern), std::move(spec.content));
  }
  if (type == "Prepend") {
    const auto it = j.find("prepend");
    if (it == j.end() || !it->is_string()) malformed(kWhat, "field 'prepend' must be a string");
    return std::make_unique<Prepend>(it->get<std::string>());
  }
  return nullptr;
}

}  // namespace ember::tok
