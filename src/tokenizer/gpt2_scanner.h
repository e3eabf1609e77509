// A hand-written matcher for the GPT-2 pre-tokenizer pattern
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// giving the regex's matches (tests/tokenizer/gpt2_scanner_test.cc compares them), several
// times faster: it is the hottest step of byte-level BPE. \p{L} and \p{N} follow the
// `tokenizers` library (its bundled Oniguruma: Unicode 16.0), not Debian's older Oniguruma:
// utf8proc's categories plus a short list of Unicode 15.1/16.0 additions. \s is Oniguruma's.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/normalized_string.h"

namespace ember::tok {

// The pattern's source, as the ByteLevel pre-tokenizer compiles it.
inline constexpr std::string_view kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

// The matches of kGpt2Pattern in `text` (valid UTF-8), in find_matches() form. The pattern
// matches every character, so there are no gaps: pieces cover the text in order.
std::vector<SplitMatch> gpt2_matches(std::string_view text);

// The scanner's class of a code point: \p{L}, \p{N}, \s or none of them.
enum class Gpt2Class : uint8_t { kLetter, kNumber, kSpace, kOther };
Gpt2Class gpt2_class(char32_t c);

// For comparing the scanner with the regex engine: kGpt2Pattern with \p{L} and \p{N} widened
// by the code points the scanner classes as letters or numbers and Debian's Oniguruma does
// not (newer Unicode), so that the regex gives exactly the scanner's intended matches.
// Throws Error(kInternal) if a class differs at a code point that Oniguruma knows (not \p{Cn}):
// that would be a bug, not a version gap.
std::string gpt2_reference_pattern();

}  // namespace ember::tok
