// ByteLevel (GPT-2, RoBERTa): optionally a space before the text, optionally the GPT-2 regex
// split, then every byte replaced by its character of the byte-level alphabet. All characters
// produced from one input character keep that character's alignment, so token offsets point
// at whole characters of the input, as in the library.
#include <nlohmann/json.hpp>

#include "tokenizer/byte_level.h"
#include "tokenizer/gpt2_scanner.h"
#include "tokenizer/json_fields.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/utf8.h"

namespace ember::tok {
namespace {

// The UTF-8 form of byte_to_char(b) for every byte (each character of a piece is replaced
// by the characters of its bytes, all with its alignment: the same as mapping byte by byte).
struct ByteTable {
  std::string storage[256];
  std::string_view utf8[256];
  ByteTable() {
    for (int b = 0; b < 256; ++b) {
      append_utf8(storage[b], byte_to_char(static_cast<uint8_t>(b)));
      utf8[b] = storage[b];
    }
  }
};

class ByteLevel final : public PreTokenizer {
 public:
  ByteLevel(bool add_prefix_space, bool use_regex)
      : add_prefix_space_(add_prefix_space), use_regex_(use_regex) {}

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
      // The GPT-2 pattern by its hand-written matcher (the same matches as the regex).
      if (use_regex_) return n.split(gpt2_matches(n.get()), SplitBehavior::kIsolated);
      out.push_back(std::move(n));
      return out;
    });
    static const ByteTable table;
    for (Split& split : s.splits()) {
      if (!split.tokens) split.normalized.map_bytes(table.utf8);
    }
  }

 private:
  bool add_prefix_space_;
  bool use_regex_;
};

}  // namespace

std::unique_ptr<PreTokenizer> make_byte_level_pre_tokenizer(const nlohmann::json& j) {
  constexpr std::string_view kWhat = "pre_tokenizer";
  return std::make_unique<ByteLevel>(json_fields::get_bool(j, kWhat, "add_prefix_space", true),
                                     json_fields::get_bool(j, kWhat, "use_regex", true));
}

}  // namespace ember::tok
