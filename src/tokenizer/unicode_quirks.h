// Where the `tokenizers` library's frozen Unicode tables differ from utf8proc (see
// unicode_quirks.cc and scripts/make_tokenizer_golden.py --print-quirks, which regenerates
// the lists from the library itself).
#pragma once

namespace ember::tok::quirks {

bool punctuation_unknown_to_library(char32_t c);           // P* in utf8proc, not in the library
bool punctuation_only_in_library(char32_t c);              // P* in the library only
bool format_unknown_to_library(char32_t c);                // Cf in utf8proc, not in the library
bool nonspacing_unknown_to_library(char32_t c);            // Mn in utf8proc, not in the library
bool nonspacing_only_in_library(char32_t c);               // Mn in the library only
bool decomposition_unknown_to_library(char32_t c);         // canonical (NFD/NFC)
bool compat_decomposition_unknown_to_library(char32_t c);  // compatibility (NFKD/NFKC)
bool combining_class_unknown_to_library(char32_t c);       // a mark the library gives class 0
bool combining_mark_unknown_to_library(char32_t c);        // M* in utf8proc, not in the library
bool combining_mark_only_in_library(char32_t c);           // M* in the library only

}  // namespace ember::tok::quirks
