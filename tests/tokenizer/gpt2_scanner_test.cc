// The hand-written GPT-2 pattern matcher must give exactly the regex engine's matches
// (Oniguruma, as the library runs the pattern). Its \p{L}/\p{N} follow the library's newer
// Unicode (utf8proc + Unicode 15.1/16.0 additions), Debian's Oniguruma is older: the comparison
// uses gpt2_reference_pattern(), the pattern with those classes widened by the code points where
// the two differ, and ClassesDifferOnlyWhereOnigurumaIsOlder checks (independently, through
// the regex engine) that every such code point is unassigned (\p{Cn}) for Oniguruma. Checked on
// every code point in the contexts that decide the pattern's branches, and on random strings
// built from the characters that matter (spaces of every kind, apostrophes and contraction
// letters, letters, digits and other numbers, symbols, marks, unassigned code points, letters
// newer than Oniguruma). The parity corpus is compared by `bench_tokenize_corpus --check-gpt2`
// (tests/tokenizer_parity), the library itself by test_newer_unicode_parity.py there.
#include <gtest/gtest.h>

#include <algorithm>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "tokenizer/gpt2_scanner.h"
#include "tokenizer/pattern.h"
#include "tokenizer/regex.h"
#include "tokenizer/utf8.h"

namespace ember::tok {
namespace {

std::vector<std::pair<size_t, size_t>> spans(const std::vector<SplitMatch>& m) {
  std::vector<std::pair<size_t, size_t>> out;
  for (const auto& x : m) out.emplace_back(x.begin, x.end);
  return out;
}

class Gpt2ScannerTest : public ::testing::Test {
 protected:
  void expect_same(const std::string& text) {
    const auto want = find_matches(regex_, text);
    const auto got = gpt2_matches(text);
    ASSERT_EQ(spans(got), spans(want)) << "text: '" << text << "'";
    for (size_t i = 0; i < want.size(); ++i) ASSERT_EQ(got[i].is_match, want[i].is_match);
  }
  Regex regex_ = Regex::compile(gpt2_reference_pattern());
};

bool regex_matches(const Regex& r, char32_t c) {
  std::string s;
  append_utf8(s, c);
  const auto m = r.find_all(s);
  return !m.empty() && m[0] == std::pair<size_t, size_t>(0, s.size());
}

// Oniguruma's class (through its regex engine, not the scanner's code) against the scanner's.
TEST(Gpt2ScannerClasses, ClassesDifferOnlyWhereOnigurumaIsOlder) {
  const Regex letter = Regex::compile(R"(\p{L})"), number = Regex::compile(R"(\p{N})"),
              space = Regex::compile(R"(\s)"), unassigned = Regex::compile(R"(\p{Cn})");
  std::vector<char32_t> differ;
  for (char32_t c = 0; c <= 0x10FFFF; ++c) {
    if (c >= 0xD800 && c <= 0xDFFF) continue;
    const Gpt2Class onig = regex_matches(letter, c)   ? Gpt2Class::kLetter
                           : regex_matches(number, c) ? Gpt2Class::kNumber
                           : regex_matches(space, c)  ? Gpt2Class::kSpace
                                                      : Gpt2Class::kOther;
    const Gpt2Class ours = gpt2_class(c);
    if (ours == onig) continue;
    differ.push_back(c);
    // Only a Unicode version gap may explain a difference: a code point Oniguruma does not
    // know, which the scanner (newer data) has as a letter or number.
    ASSERT_TRUE(regex_matches(unassigned, c)) << "U+" << std::hex << static_cast<unsigned>(c);
    ASSERT_TRUE(ours == Gpt2Class::kLetter || ours == Gpt2Class::kNumber)
        << "U+" << std::hex << static_cast<unsigned>(c);
  }
  // The known gap (Unicode 15.0/15.1/16.0 letters) is there, so the exception is not vacuous.
  for (char32_t c : {0x1123F, 0x1E030, 0x31350, 0x2EBF0, 0x2EE5D, 0x1C89, 0x13460}) {
    EXPECT_TRUE(std::binary_search(differ.begin(), differ.end(), c))
        << "U+" << std::hex << static_cast<unsigned>(c);
    EXPECT_EQ(gpt2_class(c), Gpt2Class::kLetter) << "U+" << std::hex << static_cast<unsigned>(c);
  }
  EXPECT_EQ(gpt2_class(0x2EE5E), Gpt2Class::kOther);   // after CJK ext. I: unassigned in 15.1
  EXPECT_EQ(gpt2_class(0x11F50), Gpt2Class::kNumber);  // Kawi digit zero (Unicode 15.0)
  EXPECT_EQ(gpt2_class(0x10D40), Gpt2Class::kNumber);  // Garay digit zero (Unicode 16.0)
  std::cout << differ.size() << " code points are newer than Oniguruma's tables\n";
}

// The library's splits (tokenizers 0.23.3, ByteLevel) of letters Oniguruma does not know.
TEST(Gpt2ScannerClasses, NewerLettersAsTheLibrarySplitsThem) {
  const std::string text = "ab\U0001123F1 \U0002EBF0\U00031350x \U0001E030!";
  std::vector<std::pair<size_t, size_t>> want = {{0, 6}, {6, 7}, {7, 17}, {17, 22}, {22, 23}};
  EXPECT_EQ(spans(gpt2_matches(text)), want);
  // Debian's Oniguruma alone cuts words there.
  EXPECT_NE(spans(find_matches(Regex::compile(kGpt2Pattern), text)), want);
}

TEST_F(Gpt2ScannerTest, HandPickedCases) {
  for (const char* s : {"",
                        " ",
                        "  ",
                        "a",
                        " a",
                        "  a",
                        "Hello world",
                        "I'm here, you're not; it's 'd'll",
                        "'S 'x '",
                        "x 've",
                        "12 345  6",
                        " !!",
                        " ! ",
                        "\t\tx",
                        "\t x",
                        "a \n\n b  ",
                        " 's",
                        "a  ",
                        "caf\xC3\xA9 \xE2\x82\xAC"
                        "5 \xC2\xA0"
                        "x",
                        "\xE3\x80\x80\xE3\x81\x82",
                        "''ll",
                        "'"}) {
    expect_same(s);
  }
}

TEST_F(Gpt2ScannerTest, EveryCodePointInEveryContext) {
  for (char32_t c = 0; c <= 0x10FFFF; ++c) {
    if (c >= 0xD800 && c <= 0xDFFF) continue;
    std::string ch;
    append_utf8(ch, c);
    // Alone, after a space, between letters/digits, doubled before spaces and a letter.
    expect_same(" " + ch + ch + "a1 " + ch + "'s" + ch + "  x" + ch);
    if (HasFatalFailure()) return;
  }
}

TEST_F(Gpt2ScannerTest, RandomStrings) {
  const std::vector<char32_t> alphabet = {
      ' ',     ' ',     ' ',     '\t',    '\n',    '\r',    0x0B,   0x0C,   0x85,     0xA0,
      0x1680,  0x2003,  0x2028,  0x3000,  0x200B,  '\'',    '\'',   's',    't',      'r',
      'e',     'v',     'm',     'l',     'd',     'A',     'z',    '0',    '9',      0xB2,
      0x2167,  0x0663,  '!',     '.',     '-',     '_',     0x20AC, 0x0301, 0x093F,   0x4E2D,
      0x0627,  0x05D0,  0x0E01,  0x1F600, 0x200D,  0xFE0F,  0x0378, 0xE000, 0x10FFFF, 0xE0001,
      0x1123F, 0x1E030, 0x31350, 0x2EBF0, 0x2EE5E, 0x11F50, 0x1C89, 0x10D40};
  std::mt19937 rng(1234);
  std::uniform_int_distribution<size_t> pick(0, alphabet.size() - 1);
  std::uniform_int_distribution<size_t> len(0, 24);
  std::uniform_int_distribution<uint32_t> any(0, 0x10FFFF);
  for (int n = 0; n < 200000; ++n) {
    std::string s;
    for (size_t k = len(rng); k > 0; --k) {
      char32_t c = (k % 7 == 3) ? any(rng) : alphabet[pick(rng)];
      if (c >= 0xD800 && c <= 0xDFFF) c = 'x';
      append_utf8(s, c);
    }
    expect_same(s);
    if (HasFatalFailure()) return;
  }
}

}  // namespace
}  // namespace ember::tok
