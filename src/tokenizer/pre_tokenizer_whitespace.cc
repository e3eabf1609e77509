// Whitespace (the regex \w+|[^\w\s]+ kept, the rest dropped), WhitespaceSplit, Sequence, and
// the JSON factory.
#include <nlohmann/json.hpp>
#include <vector>

#include "tokenizer/json_fields.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/unicode_props.h"
#include "tokenizer/utf8.h"

namespace ember::tok {
namespace {

class Whitespace final : public PreTokenizer {
 public:
  void pre_tokenize(PreTokenizedString& s) const override {
    s.split_text([](NormalizedString&& n) {
      // Runs of word characters and runs of other non-space characters are the matches
      // that survive; whitespace between them is the removed gap.
      enum Kind { kSpace, kWord, kOther };
      std::vector<SplitMatch> runs;
      const std::string& t = n.get();
      Kind last = kSpace;
      for (size_t i = 0; i < t.size();) {
        const size_t start = i;
        const char32_t c = decode_utf8(t, i);
        const Kind k = is_word_char(c) ? kWord : is_whitespace(c) ? kSpace : kOther;
        const bool keep = k != kSpace;
        if (!runs.empty() && runs.back().end == start && last == k) {
          runs.back().end = i;
        } else {
          runs.push_back({start, i, !keep});
        }
        last = k;
      }
      return n.split(runs, SplitBehavior::kRemoved);
    });
  }
};

class WhitespaceSplit final : public PreTokenizer {
 public:
  void pre_tokenize(PreTokenizedString& s) const override {
    s.split_text([](NormalizedString&& n) {
      return n.split(n.find_chars(is_whitespace), SplitBehavior::kRemoved);
    });
  }
};

// CharDelimiterSplit: the delimiter character is removed and splits the text.
class CharDelimiterSplit final : public PreTokenizer {
 public:
  explicit CharDelimiterSplit(char32_t delimiter) : delimiter_(delimiter) {}
  void pre_tokenize(PreTokenizedString& s) const override {
    s.split_text([this](NormalizedString&& n) {
      return n.split(n.find_chars([this](char32_t c) { return c == delimiter_; }),
                     SplitBehavior::kRemoved);
    });
  }

 private:
  char32_t delimiter_;
};

class Sequence final : public PreTokenizer {
 public:
  explicit Sequence(std::vector<std::unique_ptr<PreTokenizer>> items) : items_(std::move(items)) {}
  void pre_tokenize(PreTokenizedString& s) const override {
    for (const auto& p : items_) p->pre_tokenize(s);
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> items_;
};

}  // namespace

std::unique_ptr<PreTokenizer> make_whitespace_pre_tokenizer() {
  return std::make_unique<Whitespace>();
}
std::unique_ptr<PreTokenizer> make_whitespace_split_pre_tokenizer() {
  return std::make_unique<WhitespaceSplit>();
}

std::unique_ptr<PreTokenizer> make_pre_tokenizer(const nlohmann::json& j) {
  using namespace json_fields;
  if (j.is_null()) return nullptr;
  constexpr std::string_view kWhat = "pre_tokenizer";
  const std::string type = type_of(j, kWhat);
  if (type == "BertPreTokenizer") return make_bert_pre_tokenizer();
  if (type == "Whitespace") return make_whitespace_pre_tokenizer();
  if (type == "WhitespaceSplit") return make_whitespace_split_pre_tokenizer();
  if (type == "ByteLevel") return make_byte_level_pre_tokenizer(j);
  if (type == "CharDelimiterSplit") {
    const std::string d = get_string(j, kWhat, "delimiter", "");
    size_t i = 0;
    const char32_t c = d.empty() ? 0 : decode_utf8(d, i);
    if (d.empty() || i != d.size()) malformed(kWhat, "field 'delimiter' must be one character");
    return std::make_unique<CharDelimiterSplit>(c);
  }
  if (type == "Split") return make_split_pre_tokenizer(j);
  if (auto p = make_spm_pre_tokenizer(j, type)) return p;
  if (type == "Sequence") {
    std::vector<std::unique_ptr<PreTokenizer>> items;
    for (const auto& item : get_array(j, kWhat, "pretokenizers")) {
      if (auto p = make_pre_tokenizer(item)) items.push_back(std::move(p));
    }
    return std::make_unique<Sequence>(std::move(items));
  }
  unsupported(kWhat, type);
}

}  // namespace ember::tok
