// Properties of every fixture tokenizer over mixed-script text (issue #3): offsets are
// monotone within a sequence; encoding from several threads at once (the server tokenizes on
// its HTTP threads; BPE shares a word cache) equals encoding one by one; truncation with a
// stride cuts the untruncated ids into windows of max_length that step by max_length - stride.
#include <gtest/gtest.h>

#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace ember::tok {
namespace {

const char* const kFixtures[] = {"bert-base-uncased", "wordpiece-cased", "bpe-byte-level",
                                 "bpe-split-regex",   "unigram-xlmr",    "unigram-llama"};

Tokenizer load(const std::string& name) {
  return Tokenizer::from_file(std::filesystem::path(EMBER_SOURCE_DIR) / "tests" / "fixtures" /
                              "tokenizers" / (name + ".json"));
}

// Words from several scripts, punctuation, digits, marks, emoji and odd spaces.
std::vector<std::string> texts(size_t n, uint32_t seed) {
  static const char* const kPieces[] = {
      "the",      "Quick",  "don't",  "I'm",    "42",     "3.14",     ",",
      "!",        "...",    "café",   "naïve",  "Ωμέγα",  "добрый",   "שלום",
      "مرحبا",    "日本語", "中文字", "สวัสดี",   "नमस्ते",   "👍🏽", "👨‍👩‍👧",
      "e\u0301",  "\t",     "  ",     "\u00a0", "\u3000", "[MASK]",   "<mask>",
      "x\u200dy", "ＡＢＣ", "ﬁ",      "²",      "#",      "'s",       "über",
      "İstanbul"};
  std::mt19937 rng(seed);
  std::uniform_int_distribution<size_t> pick(0, std::size(kPieces) - 1);
  std::uniform_int_distribution<size_t> len(0, 30);
  std::vector<std::string> out;
  for (size_t i = 0; i < n; ++i) {
    std::string s;
    for (size_t k = len(rng); k > 0; --k) {
      s += kPieces[pick(rng)];
      if (rng() % 3) s += ' ';
    }
    out.push_back(std::move(s));
  }
  return out;
}

TEST(TokenizerProperties, OffsetsAreMonotoneWithinASequence) {
  for (const char* name : kFixtures) {
    const Tokenizer tok = load(name);
    for (const std::string& text : texts(400, 7)) {
      const Encoding e = tok.encode(text, /*add_special_tokens=*/false);
      for (size_t i = 1; i < e.size(); ++i) {
        ASSERT_LE(e.offsets[i - 1].first, e.offsets[i].first) << name << ": '" << text << "'";
        ASSERT_LE(e.offsets[i - 1].second, e.offsets[i].second) << name << ": '" << text << "'";
        ASSERT_LE(e.char_offsets[i - 1].first, e.char_offsets[i].first) << name;
      }
    }
  }
}

TEST(TokenizerProperties, ConcurrentEncodeEqualsSequential) {
  const std::vector<std::string> lines = texts(300, 11);
  for (const char* name : kFixtures) {
    const Tokenizer tok = load(name);
    std::vector<Encoding> want;
    for (const std::string& l : lines) want.push_back(tok.encode(l));
    constexpr int kThreads = 4;
    std::vector<std::vector<Encoding>> got(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (size_t i = 0; i < lines.size(); ++i) {
          // Each thread walks the lines in a different order, so caches fill differently.
          got[t].push_back(tok.encode(lines[(i * (t + 1) * 7) % lines.size()]));
        }
      });
    }
    for (auto& th : threads) th.join();
    for (int t = 0; t < kThreads; ++t) {
      for (size_t i = 0; i < lines.size(); ++i) {
        const Encoding& w = want[(i * (t + 1) * 7) % lines.size()];
        ASSERT_EQ(got[t][i].ids, w.ids) << name;
        ASSERT_EQ(got[t][i].offsets, w.offsets) << name;
        ASSERT_EQ(got[t][i].tokens, w.tokens) << name;
      }
    }
  }
}

TEST(TokenizerProperties, TruncationWindowsCoverTheUntruncatedIds) {
  for (const char* name : kFixtures) {
    Tokenizer tok = load(name);
    for (const std::string& text : texts(60, 5)) {
      tok.set_truncation(std::nullopt);
      const std::vector<int32_t> all = tok.encode(text, false).ids;
      for (const auto& [max_len, stride] : {std::pair<size_t, size_t>{8, 0}, {8, 3}, {6, 4}}) {
        tok.set_truncation(Truncation{max_len, stride, TruncationStrategy::kLongestFirst,
                                      TruncationDirection::kRight, true});
        const Encoding e = tok.encode(text, false);
        std::vector<std::vector<int32_t>> windows{e.ids};
        for (const Encoding& o : e.overflowing) windows.push_back(o.ids);
        const size_t step = max_len - stride;
        for (size_t k = 0; k < windows.size(); ++k) {
          const size_t begin = std::min(k * step, all.size());
          const size_t end = std::min(begin + max_len, all.size());
          ASSERT_EQ(windows[k], std::vector<int32_t>(all.begin() + begin, all.begin() + end))
              << name << " window " << k << " of '" << text << "'";
        }
        if (all.size() > max_len) {
          EXPECT_EQ(windows.size(), (all.size() - stride + step - 1) / step) << name;
        }
        // Without the overflowing windows the kept one is the same.
        tok.set_truncation(Truncation{max_len, stride});
        const Encoding kept = tok.encode(text, false);
        EXPECT_EQ(kept.ids, e.ids) << name;
        EXPECT_TRUE(kept.overflowing.empty()) << name;
        // With special tokens the whole sequence still fits in max_length.
        tok.set_truncation(Truncation{max_len + tok.num_special_tokens(false), stride});
        EXPECT_LE(tok.encode(text).size(), max_len + tok.num_special_tokens(false)) << name;
      }
    }
  }
}

}  // namespace
}  // namespace ember::tok
