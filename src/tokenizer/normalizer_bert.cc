// BertNormalizer: the original BERT BasicTokenizer cleaning, step for step in its order.
#include "tokenizer/normalizer.h"
#include "tokenizer/unicode_props.h"

namespace ember::tok {
namespace {

class BertNormalizer final : public Normalizer {
 public:
  explicit BertNormalizer(const BertNormalizerOptions& o) : o_(o) {}

  void normalize(NormalizedString& s) const override {
    if (ascii_fast_path(s)) return;
    if (o_.clean_text) {
      // Removal runs before the whitespace mapping, so controls that are also whitespace
      // (U+000B, U+000C, U+0085) are removed, as in the library.
      s.filter([](char32_t c) { return !(c == 0 || c == 0xFFFD || is_bert_control(c)); });
      s.map([](char32_t c) { return is_whitespace(c) ? U' ' : c; });
    }
    if (o_.handle_chinese_chars) s.pad_with_spaces(is_chinese_char);
    if (o_.strip_accents.value_or(o_.lowercase)) {
      s.nfd();
      s.filter([](char32_t c) { return !is_mark_nonspacing(c); });
    }
    if (o_.lowercase) s.lowercase();
  }

 private:
  // ASCII text without removed controls: no character is Chinese, decomposes or is a mark,
  // so the steps reduce to mapping \t \n \r to spaces and lowercasing A-Z, byte for byte
  // in place. The common case; anything else takes the general path.
  bool ascii_fast_path(NormalizedString& s) const {
    for (const char ch : s.get()) {
      const auto b = static_cast<unsigned char>(ch);
      if (b >= 0x80) return false;
      const bool removed = (b < 0x20 && b != '\t' && b != '\n' && b != '\r') || b == 0x7F;
      if (o_.clean_text && removed) return false;
    }
    const bool clean = o_.clean_text;
    const bool lower = o_.lowercase;
    s.map_ascii([clean, lower](unsigned char b) {
      if (clean && (b == '\t' || b == '\n' || b == '\r')) return static_cast<unsigned char>(' ');
      if (lower && b >= 'A' && b <= 'Z') return static_cast<unsigned char>(b + 32);
      return b;
    });
    return true;
  }

  BertNormalizerOptions o_;
};

}  // namespace

std::unique_ptr<Normalizer> make_bert_normalizer(const BertNormalizerOptions& options) {
  return std::make_unique<BertNormalizer>(options);
}

}  // namespace ember::tok
