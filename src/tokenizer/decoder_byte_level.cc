// The ByteLevel decoder: each token's characters back to the bytes they stand for (a token
// with a character outside the alphabet is kept as its own UTF-8), then the bytes read as
// UTF-8 with each invalid sequence replaced by U+FFFD (Rust's String::from_utf8_lossy).
#include "tokenizer/byte_level.h"
#include "tokenizer/decoder.h"
#include "tokenizer/utf8.h"

namespace ember::tok {
namespace {

// Length of the valid UTF-8 sequence at s[i], or 0 with `bad` set to the length of its
// longest valid prefix (at least 1): the maximal subpart that one U+FFFD replaces.
size_t valid_sequence(std::string_view s, size_t i, size_t& bad) {
  const auto b = static_cast<unsigned char>(s[i]);
  bad = 1;
  if (b < 0x80) return 1;
  size_t need = 0;
  unsigned char lo = 0x80, hi = 0xBF;
  if (b >= 0xC2 && b <= 0xDF) {
    need = 1;
  } else if (b >= 0xE0 && b <= 0xEF) {
    need = 2;
    if (b == 0xE0) lo = 0xA0;
    if (b == 0xED) hi = 0x9F;
  } else if (b >= 0xF0 && b <= 0xF4) {
    need = 3;
    if (b == 0xF0) lo = 0x90;
    if (b == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  for (size_t k = 1; k <= need; ++k) {
    if (i + k >= s.size()) return 0;
    const auto c = static_cast<unsigned char>(s[i + k]);
    if (c < lo || c > hi) return 0;
    lo = 0x80;
    hi = 0xBF;
    bad = k + 1;
  }
  return need + 1;
}

std::string from_utf8_lossy(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    size_t bad = 0;
    if (const size_t n = valid_sequence(s, i, bad)) {
      out.append(s.substr(i, n));
      i += n;
    } else {
      out.append("\xEF\xBF\xBD");
      i += bad;
    }
  }
  return out;
}

class ByteLevelDecoder final : public Decoder {
 public:
  std::string decode(std::vector<std::string> tokens) const override {
    std::string bytes;
    for (const std::string& t : tokens) {
      const size_t mark = bytes.size();
      bool all_mapped = true;
      for (size_t i = 0; i < t.size();) {
        const int b = char_to_byte(decode_utf8(t, i));
        if (b < 0) {
          all_mapped = false;
          break;
        }
        bytes.push_back(static_cast<char>(b));
      }
      if (!all_mapped) {
        bytes.resize(mark);
        bytes.append(t);
      }
    }
    return from_utf8_lossy(bytes);
  }
};

}  // namespace

std::unique_ptr<Decoder> make_byte_level_decoder() {
  return std::make_unique<ByteLevelDecoder>();
}

}  // namespace ember::tok
