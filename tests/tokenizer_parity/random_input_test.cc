// Properties of every fixture tokenizer on random input (issue #3): random byte strings never
// crash and fail only with ember::Error(kInvalidInput) when they are not UTF-8; offsets always
// lie inside the input; the byte-level BPE is lossless (decode(encode(x)) == x).
#include <gtest/gtest.h>

#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "tokenizer/tokenizer.h"

namespace ember::tok {
namespace {

const char* const kFixtures[] = {"bert-base-uncased", "wordpiece-cased", "bpe-byte-level",
                                 "bpe-split-regex",   "unigram-xlmr",    "unigram-llama"};

Tokenizer load(const std::string& name) {
  return Tokenizer::from_file(std::filesystem::path(EMBER_SOURCE_DIR) / "tests" / "fixtures" /
                              "tokenizers" / (name + ".json"));
}

bool is_utf8(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t n = 0;
    uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      n = 1, cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2, cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3, cp = c & 0x07;
    } else {
      return false;
    }
    if (i + n >= s.size()) return false;
    for (size_t k = 1; k <= n; ++k) {
      const auto d = static_cast<unsigned char>(s[i + k]);
      if ((d & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (d & 0x3F);
    }
    const uint32_t min[] = {0, 0x80, 0x800, 0x10000};
    if (cp < min[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n + 1;
  }
  return true;
}

void append_utf8(std::string& s, uint32_t cp) {
  if (cp < 0x80) {
    s += static_cast<char>(cp);
  } else if (cp < 0x800) {
    s += static_cast<char>(0xC0 | (cp >> 6));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    s += static_cast<char>(0xE0 | (cp >> 12));
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    s += static_cast<char>(0xF0 | (cp >> 18));
    s += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

size_t code_points(const std::string& s) {
  size_t n = 0;
  for (const char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

void expect_offsets_inside(const Encoding& e, const std::string& text) {
  const size_t chars = code_points(text);
  ASSERT_EQ(e.offsets.size(), e.size());
  ASSERT_EQ(e.char_offsets.size(), e.size());
  for (size_t i = 0; i < e.size(); ++i) {
    EXPECT_LE(e.offsets[i].first, e.offsets[i].second);
    EXPECT_LE(e.offsets[i].second, text.size());
    EXPECT_LE(e.char_offsets[i].first, e.char_offsets[i].second);
    EXPECT_LE(e.char_offsets[i].second, chars);
  }
}

TEST(TokenizerRandomInput, RandomBytesOnlyEverThrowEmberError) {
  std::mt19937 rng(20261122);
  std::vector<std::string> inputs;
  for (int i = 0; i < 400; ++i) {
    std::string s(std::uniform_int_distribution<size_t>(0, 64)(rng), '\0');
    // Mostly ASCII with some high bytes, so that both valid and invalid UTF-8 occur.
    for (char& c : s) {
      const unsigned r = std::uniform_int_distribution<unsigned>(0, 255)(rng);
      c = static_cast<char>(r < 160 ? 0x20 + r % 0x5F : r);
    }
    inputs.push_back(s);
  }
  inputs.push_back("\xC0\x80");          // overlong NUL
  inputs.push_back("\xED\xA0\x80");      // surrogate
  inputs.push_back("\xF4\x90\x80\x80");  // above U+10FFFF
  inputs.push_back("ok\xE2\x82");        // truncated sequence at the end
  inputs.push_back("\xFF");
  for (const char* name : kFixtures) {
    const Tokenizer tok = load(name);
    size_t rejected = 0;
    for (const std::string& s : inputs) {
      const bool valid = is_utf8(s);
      try {
        const Encoding e = tok.encode(s);
        EXPECT_TRUE(valid) << name << ": accepted invalid UTF-8 " << ::testing::PrintToString(s);
        expect_offsets_inside(e, s);
      } catch (const Error& err) {
        ++rejected;
        EXPECT_FALSE(valid) << name << ": rejected valid UTF-8: " << err.what();
        EXPECT_EQ(err.kind(), ErrorKind::kInvalidInput) << name;
      }
    }
    EXPECT_GT(rejected, 5u) << name;
  }
}

TEST(TokenizerRandomInput, ByteLevelBpeIsLossless) {
  const Tokenizer tok = load("bpe-byte-level");
  std::mt19937 rng(7);
  for (int i = 0; i < 500; ++i) {
    std::string s;
    const size_t n = std::uniform_int_distribution<size_t>(0, 40)(rng);
    for (size_t k = 0; k < n; ++k) {
      uint32_t cp = 0;
      do {
        const unsigned kind = std::uniform_int_distribution<unsigned>(0, 3)(rng);
        cp = kind == 0   ? std::uniform_int_distribution<uint32_t>(0, 0x7F)(rng)
             : kind == 1 ? std::uniform_int_distribution<uint32_t>(0x80, 0x7FF)(rng)
             : kind == 2 ? std::uniform_int_distribution<uint32_t>(0x800, 0xFFFF)(rng)
                         : std::uniform_int_distribution<uint32_t>(0x10000, 0x10FFFF)(rng);
      } while (cp >= 0xD800 && cp <= 0xDFFF);
      append_utf8(s, cp);
    }
    const Encoding e = tok.encode(s, /*add_special_tokens=*/false);
    expect_offsets_inside(e, s);
    EXPECT_EQ(tok.decode(e.ids, /*skip_special_tokens=*/false), s) << ::testing::PrintToString(s);
  }
}

}  // namespace
}  // namespace ember::tok
