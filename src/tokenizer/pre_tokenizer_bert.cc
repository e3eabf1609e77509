// BertPreTokenizer: drop whitespace, then make every punctuation character its own word.
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/unicode_props.h"
#include "tokenizer/utf8.h"

namespace ember::tok {
namespace {

class BertPreTokenizer final : public PreTokenizer {
 public:
  void pre_tokenize(PreTokenizedString& s) const override {
    // One pass instead of the library's two (split on whitespace, removed; then isolate
    // punctuation): the pieces are the same, each sliced once from the normalized text.
    s.split_text([](NormalizedString&& n) {
      std::vector<NormalizedString> out;
      const std::string& t = n.get();
      size_t word = 0;
      for (size_t i = 0; i < t.size();) {
        const size_t start = i;
        const char32_t c = decode_utf8(t, i);
        const bool space = is_whitespace(c);
        if (!space && !is_bert_punctuation(c)) continue;
        if (word < start) out.push_back(n.slice(word, start));
        if (!space) out.push_back(n.slice(start, i));
        word = i;
      }
      if (word < t.size()) out.push_back(n.slice(word, t.size()));
      return out;
    });
  }
};

}  // namespace

std::unique_ptr<PreTokenizer> make_bert_pre_tokenizer() {
  return std::make_unique<BertPreTokenizer>();
}

}  // namespace ember::tok
