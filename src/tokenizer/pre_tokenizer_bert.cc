// BertPreTokenizer: drop whitespace, then make every punctuation character its own word.
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/unicode_props.h"

namespace ember::tok {
namespace {

class BertPreTokenizer final : public PreTokenizer {
 public:
  void pre_tokenize(PreTokenizedString& s) const override {
    s.split_text([](NormalizedString&& n) {
      return n.split(n.find_chars(is_whitespace), SplitBehavior::kRemoved);
    });
    s.split_text([](NormalizedString&& n) {
      return n.split(n.find_chars(is_bert_punctuation), SplitBehavior::kIsolated);
    });
  }
};

}  // namespace

std::unique_ptr<PreTokenizer> make_bert_pre_tokenizer() {
  return std::make_unique<BertPreTokenizer>();
}

}  // namespace ember::tok
