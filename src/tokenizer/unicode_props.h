// Unicode character properties as the `tokenizers` library sees them. The data comes from
// utf8proc; where the library's frozen tables (the `unicode_categories` crate, Unicode 8.0, and
// `unicode-normalization-alignments`) disagree with utf8proc's newer data, a small generated
// difference table (unicode_quirks.cc) restores the library's answer so parity is exact.
#pragma once

#include <string>

namespace ember::tok {

// Rust char::is_whitespace (the White_Space property), which BertNormalizer also uses.
bool is_whitespace(char32_t c);
// BertNormalizer is_control: categories Cc, Cf, Cs, Co except \t \n \r (Cn is kept).
bool is_bert_control(char32_t c);
// BertPreTokenizer punctuation: ASCII punctuation plus Unicode P* categories.
bool is_bert_punctuation(char32_t c);
// General category Mn (what strip_accents drops after NFD).
bool is_mark_nonspacing(char32_t c);
// The CJK ideograph blocks that BertNormalizer surrounds with spaces.
bool is_chinese_char(char32_t c);
// Regex \w (Unicode): letters, marks, decimal digits, Nl, connector punctuation, ZWJ/ZWNJ.
bool is_word_char(char32_t c);

// Rust char::to_lowercase: the simple mapping plus the unconditional multi-char mapping of
// SpecialCasing.txt (U+0130 -> "i\u0307"). Appends 1 or 2 code points.
void append_lowercase(char32_t c, std::u32string& out);

// Full canonical (or compatibility) decomposition of one code point, Hangul included, in
// canonical order. Appends the code points.
void append_decomposition(char32_t c, bool compat, std::u32string& out);
int combining_class(char32_t c);

// Canonical composition of two code points, or 0 if they do not compose.
char32_t compose_pair(char32_t a, char32_t b);

}  // namespace ember::tok
