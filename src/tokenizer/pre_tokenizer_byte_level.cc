// ByteLevel (GPT-2, RoBERTa): optionally a space before the text, optionally the GPT-2 regex
// split, then every byte replaced by its character of the byte-level alphabet. All characters
// produced from one input character keep that character's alignment, so token offsets point
// at whole characters of the input, as in the library.
#include <nlohmann/json.hpp>

#include "tokenizer/byte_level.h"
#include "tokenizer/json_fields.h"
#include "tokenizer/pattern.h"
#include "tokenizer/pre_tokenizer.h"

namespace ember::tok {
namespace {

constexpr std::string_view kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

class ByteLevel final : public PreTokenizer {
 public:
  ByteLevel(bool add_prefix_space, bool use_regex)
      : add_prefix_space_(add_prefix_space),
        regex_(use_regex ? std::optional<Regex>(Regex::compile(kGpt2Pattern)) : std::nullopt) {}

  void pre_tokenize(PreTokenizedString& s) const override {
    s.split_text([this](NormalizedString&& n) {
      if (add_prefix_space_ && !n.get().starts_with(' ')) {
        // The library's prepend(" "): the space and the first character share its alignment.
        n.expand([](char32_t c, size_t pos, std::u32string& out) {
          if (pos == 0) out.push_back(U' ');
          out.push_back(c);
        });
      }
      std::vector<NormalizedString> out;
      if (regex_) return n.split(find_matches(*regex_, n.get()), SplitBehavior::kIsolated);
      out.push_back(std::move(n));
      return out;
    });
    for (Split& split : s.splits()) {
      if (split.tokens) continue;
      split.normalized.expand([](char32_t c, size_t, std::u32string& out) {
        std::string utf8;
        append_utf8(utf8, c);
        for (unsigned char b : utf8) out.push_back(byte_to_char(b));
      });
    }
  }

 private:
  bool add_prefix_space_;
  std::optional<Regex> regex_;
};

}  // namespace

std::unique_ptr<PreTokenizer> make_byte_level_pre_tokenizer(const nlohmann::json& j) {
  constexpr std::string_view kWhat = "pre_tokenizer";
  return std::make_unique<ByteLevel>(json_fields::get_bool(j, kWhat, "add_prefix_space", true),
                                     json_fields::get_bool(j, kWhat, "use_regex", true));
}

}  // namespace ember::tok
