#include "tokenizer/byte_level.h"

#include <algorithm>
#include <array>

#include "tokenizer/unicode_props.h"
#include "tokenizer/utf8.h"

namespace ember::tok {
namespace {

struct Alphabet {
  std::array<char32_t, 256> to_char{};
  Alphabet() {
    char32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
      to_char[static_cast<size_t>(b)] = printable ? static_cast<char32_t>(b) : next++;
    }
  }
};

const Alphabet& alphabet() {
  static const Alphabet a;
  return a;
}

bool is_space_char(char32_t c) {
  return c == U'\u0120' || is_whitespace(c);
}

std::pair<size_t, size_t> trim_pair(std::pair<size_t, size_t> o, size_t leading, size_t trailing,
                                    bool first, bool add_prefix_space) {
  if (leading > 0) {
    if ((first || o.first == 0) && add_prefix_space && leading == 1) leading = 0;
    o.first = std::min(o.first + leading, o.second);
  }
  if (trailing > 0 && o.second >= trailing) o.second = std::max(o.second - trailing, o.first);
  return o;
}

// The byte range that the trimmed code point range covers. The library trims Python's code
// point offsets; a trimmed "Ġ" is one byte (an input space) except the space add_prefix_space
// inserted, which shares the alignment of the first character: an edge that reaches the
// other edge takes that edge's byte.
std::pair<size_t, size_t> bytes_after_trim(std::pair<size_t, size_t> bytes,
                                           std::pair<size_t, size_t> before,
                                           std::pair<size_t, size_t> after) {
  std::pair<size_t, size_t> out = bytes;
  if (after.first == before.second) {
    out.first = bytes.second;
  } else {
    out.first = std::min(bytes.first + (after.first - before.first), bytes.second);
  }
  if (after.second == after.first) {
    out.second = out.first;
  } else {
    const size_t cut = before.second - after.second;
    out.second = std::max(bytes.second >= cut ? bytes.second - cut : 0, out.first);
  }
  return out;
}

void trim_one(Encoding& e, bool add_prefix_space) {
  for (size_t i = 0; i < e.tokens.size(); ++i) {
    const std::string& t = e.tokens[i];
    size_t leading = 0;
    bool in_lead = true;
    size_t trailing = 0;
    for (size_t p = 0; p < t.size();) {
      const bool space = is_space_char(decode_utf8(t, p));
      if (in_lead && space) {
        ++leading;
      } else {
        in_lead = false;
      }
      trailing = space ? trailing + 1 : 0;
    }
    if (leading == 0 && trailing == 0) continue;
    const auto before = e.char_offsets[i];
    e.char_offsets[i] = trim_pair(before, leading, trailing, i == 0, add_prefix_space);
    e.offsets[i] = bytes_after_trim(e.offsets[i], before, e.char_offsets[i]);
  }
}

}  // namespace

char32_t byte_to_char(uint8_t b) {
  return alphabet().to_char[b];
}

int char_to_byte(char32_t c) {
  if (c < 256) {
    const bool printable = (c >= '!' && c <= '~') || (c >= 0xA1 && c <= 0xAC) || c >= 0xAE;
    return printable ? static_cast<int>(c) : -1;
  }
  if (c >= 0x144) return -1;
  const auto& a = alphabet().to_char;
  const auto it = std::find(a.begin(), a.end(), c);
  return it == a.end() ? -1 : static_cast<int>(it - a.begin());
}

void trim_byte_level_offsets(Encoding& e, bool add_prefix_space) {
  trim_one(e, add_prefix_space);
  for (Encoding& o : e.overflowing) trim_one(o, add_prefix_space);
}

}  // namespace ember::tok
