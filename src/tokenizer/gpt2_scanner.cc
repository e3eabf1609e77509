#include "tokenizer/gpt2_scanner.h"

#include <oniguruma.h>

#include <utf8proc.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <iterator>

#include "core/error.h"
#include "tokenizer/regex.h"
#include "tokenizer/utf8.h"

namespace ember::tok {
namespace {

using Kind = Gpt2Class;

struct Range {
  char32_t lo, hi;
};

// Letters and numbers the library's Oniguruma (tokenizers 0.23.3: Unicode 16.0 tables) has and
// utf8proc 2.8 (Unicode 15.0) does not. CJK Unified Ideographs Extension I is Unicode 15.1
// (UnicodeData.txt 15.1.0: "2EBF0;<CJK Ideograph Extension I, First>;Lo;..." to "2EE5D;<CJK
// Ideograph Extension I, Last>;Lo;..."); the rest are Unicode 16.0 additions (Garay, Tulu-
// Tigalari, Sunuwar, Egyptian Hieroglyphs Ext-A, Kirat Rai, Ol Onal, ... and their digits).
// Found by probing the library's ByteLevel split on every code point; the tokenizer_parity
// test test_scanner_classes_equal_library repeats that probe, so a stale list fails a test.
constexpr Range kNewerLetters[] = {
    {0x1C89, 0x1C8A},   {0xA7CB, 0xA7CD},   {0xA7DA, 0xA7DC},   {0x105C0, 0x105F3},
    {0x10D4A, 0x10D65}, {0x10D6F, 0x10D85}, {0x10EC2, 0x10EC4}, {0x11380, 0x11389},
    {0x1138B, 0x1138B}, {0x1138E, 0x1138E}, {0x11390, 0x113B5}, {0x113B7, 0x113B7},
    {0x113D1, 0x113D1}, {0x113D3, 0x113D3}, {0x11BC0, 0x11BE0}, {0x13460, 0x143FA},
    {0x16100, 0x1611D}, {0x16D40, 0x16D6C}, {0x18CFF, 0x18CFF}, {0x1E5D0, 0x1E5ED},
    {0x1E5F0, 0x1E5F0}, {0x2EBF0, 0x2EE5D}};
constexpr Range kNewerNumbers[] = {{0x10D40, 0x10D49}, {0x116D0, 0x116E3}, {0x11BF0, 0x11BF9},
                                   {0x16130, 0x16139}, {0x16D70, 0x16D79}, {0x1CCF0, 0x1CCF9},
                                   {0x1E5F1, 0x1E5FA}};

template <size_t N>
bool in(const Range (&ranges)[N], char32_t c) {
  const auto* it = std::upper_bound(std::begin(ranges), std::end(ranges), c,
                                    [](char32_t v, const Range& r) { return v < r.lo; });
  return it != std::begin(ranges) && c <= std::prev(it)->hi;
}

unsigned onig_ctype(std::string_view name) {
  Regex::compile("a");  // initializes Oniguruma once
  auto* p = const_cast<OnigUChar*>(reinterpret_cast<const OnigUChar*>(name.data()));
  const int t = ONIGENC_PROPERTY_NAME_TO_CTYPE(ONIG_ENCODING_UTF8, p, p + name.size());
  EMBER_CHECK(t >= 0, ErrorKind::kInternal, "Oniguruma has no property ", name);
  return static_cast<unsigned>(t);
}

bool onig_is(char32_t c, unsigned ctype) {
  return ONIGENC_IS_CODE_CTYPE(ONIG_ENCODING_UTF8, c, ctype);
}

// \p{L} and \p{N} as the library's Oniguruma has them: general categories L* and N* from
// utf8proc, plus the newer ranges above. \s stays Oniguruma's (White_Space, stable).
Kind lookup(char32_t c) {
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(c))) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
      return Kind::kLetter;
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO:
      return Kind::kNumber;
    default:
      break;
  }
  if (c >= 0x1C89 && c <= 0x2EE5D) {  // the span of the newer ranges
    if (in(kNewerLetters, c)) return Kind::kLetter;
    if (in(kNewerNumbers, c)) return Kind::kNumber;
  }
  if (onig_is(c, ONIGENC_CTYPE_SPACE)) return Kind::kSpace;
  return Kind::kOther;
}

// The BMP in a table (most text), the rest looked up.
class Classes {
 public:
  Classes() {
    Regex::compile("a");  // initializes Oniguruma once, before its space table is used
    for (char32_t c = 0; c < 0x10000; ++c) bmp_[c] = static_cast<uint8_t>(lookup(c));
  }
  Kind operator()(char32_t c) const { return c < 0x10000 ? static_cast<Kind>(bmp_[c]) : lookup(c); }

 private:
  std::vector<uint8_t> bmp_ = std::vector<uint8_t>(0x10000);
};

Kind kind_of(char32_t c) {
  static const Classes classes;  // thread-safe static initialization
  return classes(c);
}

// Length of the contraction ('s 't 're 've 'm 'll 'd) at the start of s, or 0.
size_t contraction(std::string_view s) {
  if (s.size() < 2 || s[0] != '\'') return 0;
  const char a = s[1];
  if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
  if (s.size() >= 3) {
    const char b = s[2];
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
  }
  return 0;
}

}  // namespace

std::vector<SplitMatch> gpt2_matches(std::string_view text) {
  std::vector<SplitMatch> out;
  if (text.empty()) {
    out.push_back({0, 0, false});
    return out;
  }
  // Kind of the character at byte i; `next` gets the byte after it.
  auto at = [&](size_t i, size_t& next) {
    next = i;
    return kind_of(decode_utf8(text, next));
  };
  // End of the run of characters of kind k starting at i.
  auto run = [&](size_t i, Kind k) {
    while (i < text.size()) {
      size_t next = 0;
      if (at(i, next) != k) break;
      i = next;
    }
    return i;
  };
  size_t p = 0;
  while (p < text.size()) {
    size_t end = 0;
    if (const size_t n = contraction(text.substr(p))) {
      end = p + n;
    } else {
      size_t q = 0;
      Kind k = at(p, q);
      size_t body = p;  // where the letter/number/other run starts
      if (text[p] == ' ' && q < text.size()) {
        size_t r = 0;
        const Kind after = at(q, r);
        if (after != Kind::kSpace) {  // " ?" takes the space, the run follows it
          body = q;
          k = after;
        }
      }
      if (k != Kind::kSpace) {
        end = run(body, k);
      } else {
        // \s+(?!\S): the whole run if it ends the text or is followed by whitespace (never,
        // being maximal) -- else all but its last character; \s+ when that leaves nothing.
        end = run(p, Kind::kSpace);
        if (end < text.size()) {
          size_t last = 0;
          last_code_point(text, end, &last);
          if (last > p) end = last;
        }
      }
    }
    out.push_back({p, end, true});
    p = end;
  }
  return out;
}

Gpt2Class gpt2_class(char32_t c) {
  return kind_of(c);
}

std::string gpt2_reference_pattern() {
  const unsigned letter = onig_ctype("L"), number = onig_ctype("N"), unassigned = onig_ctype("Cn");
  // Inclusive ranges of code points the scanner adds to \p{L} (extra[0]) and \p{N} (extra[1]).
  std::string extra[2];
  char32_t lo = 0, prev = 0;
  int open = -1;  // which list the current range belongs to
  auto close = [&] {
    if (open < 0) return;
    char buf[40];
    if (lo == prev) {
      std::snprintf(buf, sizeof buf, "\\x{%X}", static_cast<unsigned>(lo));
    } else {
      std::snprintf(buf, sizeof buf, "\\x{%X}-\\x{%X}", static_cast<unsigned>(lo),
                    static_cast<unsigned>(prev));
    }
    extra[open] += buf;
    open = -1;
  };
  for (char32_t c = 0; c <= 0x10FFFF; ++c) {
    const Kind onig = onig_is(c, letter)                ? Kind::kLetter
                      : onig_is(c, number)              ? Kind::kNumber
                      : onig_is(c, ONIGENC_CTYPE_SPACE) ? Kind::kSpace
                                                        : Kind::kOther;
    const Kind ours = kind_of(c);
    int list = -1;
    if (ours != onig) {
      EMBER_CHECK(onig_is(c, unassigned) && (ours == Kind::kLetter || ours == Kind::kNumber),
                  ErrorKind::kInternal,
                  "GPT-2 scanner class differs from Oniguruma's at assigned code point ",
                  static_cast<unsigned>(c));
      list = ours == Kind::kLetter ? 0 : 1;
    }
    if (list != open) close();
    if (list >= 0 && open < 0) {
      open = list;
      lo = c;
    }
    prev = c;
  }
  close();
  const std::string l = "\\p{L}" + extra[0], n = "\\p{N}" + extra[1];
  return "'s|'t|'re|'ve|'m|'ll|'d| ?[" + l + "]+| ?[" + n + "]+| ?[^\\s" + l + n +
         "]+|\\s+(?!\\S)|\\s+";
}

}  // namespace ember::tok
