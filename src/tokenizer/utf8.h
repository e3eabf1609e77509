// UTF-8 helpers. Input text is validated once at the boundary (validate_utf8); everything
// after that decodes without checks, since the pipeline only produces valid UTF-8.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace ember::tok {

// Throws Error(kInvalidInput, "input is not valid UTF-8 at byte N") for overlong forms,
// surrogates, code points above U+10FFFF and truncated sequences.
void validate_utf8(std::string_view text);

// Length in bytes of the UTF-8 sequence that starts with `lead` (valid input only).
inline size_t utf8_len(unsigned char lead) {
  if (lead < 0x80) return 1;
  if (lead < 0xE0) return 2;
  if (lead < 0xF0) return 3;
  return 4;
}

// Decodes the code point at s[i] (valid input only) and advances i past it.
// Inline: it runs once per character in every normalizer and pre-tokenizer.
inline char32_t decode_utf8(std::string_view s, size_t& i) {
  const auto c = static_cast<unsigned char>(s[i]);
  if (c < 0x80) {
    ++i;
    return c;
  }
  const size_t len = utf8_len(c);
  char32_t cp = len == 2 ? (c & 0x1F) : len == 3 ? (c & 0x0F) : (c & 0x07);
  for (size_t k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
  i += len;
  return cp;
}

// The code point that ends just before byte `end` (valid input only).
char32_t last_code_point(std::string_view s, size_t end, size_t* start = nullptr);

size_t utf8_width(char32_t c);
void append_utf8(std::string& out, char32_t c);

size_t count_code_points(std::string_view s);

}  // namespace ember::tok
