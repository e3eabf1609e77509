#include "tokenizer/unicode_props.h"

#include <utf8proc.h>

#include "tokenizer/unicode_quirks.h"

namespace ember::tok {
namespace {

utf8proc_category_t category(char32_t c) {
  return utf8proc_category(static_cast<utf8proc_int32_t>(c));
}

bool is_unicode_punctuation(char32_t c) {
  switch (category(c)) {
    case UTF8PROC_CATEGORY_PC:
    case UTF8PROC_CATEGORY_PD:
    case UTF8PROC_CATEGORY_PS:
    case UTF8PROC_CATEGORY_PE:
    case UTF8PROC_CATEGORY_PI:
    case UTF8PROC_CATEGORY_PF:
    case UTF8PROC_CATEGORY_PO:
      return true;
    default:
      return false;
  }
}

}  // namespace

bool is_whitespace(char32_t c) {
  // White_Space = Zs + Zl + Zp + the C0/C1 controls U+0009..U+000D and U+0085.
  if ((c >= 0x09 && c <= 0x0D) || c == 0x85) return true;
  if (c < 0x80) return c == 0x20;
  const auto cat = category(c);
  return cat == UTF8PROC_CATEGORY_ZS || cat == UTF8PROC_CATEGORY_ZL || cat == UTF8PROC_CATEGORY_ZP;
}

bool is_bert_control(char32_t c) {
  if (c == '\t' || c == '\n' || c == '\r') return false;
  switch (category(c)) {
    case UTF8PROC_CATEGORY_CC:
    case UTF8PROC_CATEGORY_CS:
    case UTF8PROC_CATEGORY_CO:
      return true;
    case UTF8PROC_CATEGORY_CF:
      return !quirks::format_unknown_to_library(c);
    default:
      return false;
  }
}

bool is_bert_punctuation(char32_t c) {
  if (c < 0x80) {
    return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) ||
           (c >= 123 && c <= 126);
  }
  if (is_unicode_punctuation(c)) return !quirks::punctuation_unknown_to_library(c);
  return quirks::punctuation_only_in_library(c);
}

bool is_mark_nonspacing(char32_t c) {
  if (c < 0x300) return false;
  if (category(c) == UTF8PROC_CATEGORY_MN) return !quirks::nonspacing_unknown_to_library(c);
  return quirks::nonspacing_only_in_library(c);
}

bool is_chinese_char(char32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
         (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
         (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

bool is_word_char(char32_t c) {
  if (c < 0x80) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
  }
  if (c == 0x200C || c == 0x200D) return true;
  // Other_Alphabetic symbols (circled and squared letters) are \w although they are So.
  if ((c >= 0x24B6 && c <= 0x24E9) || (c >= 0x1F130 && c <= 0x1F149) ||
      (c >= 0x1F150 && c <= 0x1F169) || (c >= 0x1F170 && c <= 0x1F189)) {
    return true;
  }
  switch (category(c)) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC:
    case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_PC:
      return true;
    default:
      return false;
  }
}

void append_lowercase(char32_t c, std::u32string& out) {
  if (c < 0x80) {
    out.push_back(c >= 'A' && c <= 'Z' ? c + 32 : c);
    return;
  }
  if (c == 0x130) {  // the only unconditional multi-char lowercase mapping
    out.push_back(U'i');
    out.push_back(0x307);
    return;
  }
  out.push_back(static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(c))));
}

void append_decomposition(char32_t c, bool compat, std::u32string& out) {
  // Nothing below U+00C0 has a canonical decomposition; U+00A0..U+00BF (no-break space, the
  // ordinals, superscripts, fractions, spacing accents) have compatibility ones.
  if (c < (compat ? 0xA0u : 0xC0u) || (compat ? quirks::compat_decomposition_unknown_to_library(c)
                                              : quirks::decomposition_unknown_to_library(c))) {
    out.push_back(c);
    return;
  }
  utf8proc_int32_t buf[32];
  int last_boundclass = 0;
  const auto options =
      static_cast<utf8proc_option_t>(UTF8PROC_DECOMPOSE | (compat ? UTF8PROC_COMPAT : 0));
  const utf8proc_ssize_t n =
      utf8proc_decompose_char(static_cast<utf8proc_int32_t>(c), buf, 32, options, &last_boundclass);
  if (n <= 0 || n > 32) {
    out.push_back(c);
    return;
  }
  for (utf8proc_ssize_t i = 0; i < n; ++i) out.push_back(static_cast<char32_t>(buf[i]));
}

int combining_class(char32_t c) {
  if (c < 0x300) return 0;
  const int ccc = utf8proc_get_property(static_cast<utf8proc_int32_t>(c))->combining_class;
  return ccc != 0 && quirks::combining_class_unknown_to_library(c) ? 0 : ccc;
}

char32_t compose_pair(char32_t a, char32_t b) {
  utf8proc_int32_t buf[2] = {static_cast<utf8proc_int32_t>(a), static_cast<utf8proc_int32_t>(b)};
  // STABLE: composition exclusions (U+0958.., U+1D15E..) are not composed, as in NFC.
  const utf8proc_ssize_t n = utf8proc_normalize_utf32(
      buf, 2, static_cast<utf8proc_option_t>(UTF8PROC_COMPOSE | UTF8PROC_STABLE));
  if (n != 1) return 0;
  const auto composite = static_cast<char32_t>(buf[0]);
  // A composite the library does not decompose, it does not compose either.
  return quirks::decomposition_unknown_to_library(composite) ? 0 : composite;
}

}  // namespace ember::tok
