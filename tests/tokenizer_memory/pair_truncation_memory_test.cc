// Pair truncation in memory linear in the input (issue #20). The library pairs every overflow
// window of one text with every window of the other; built and thrown away, that made a
// sentence pair of two long texts cost gigabytes in the server. This binary counts the heap
// (operator new / delete, by malloc_usable_size) and asserts on the peak of live bytes while a
// pair of two 20,000-word texts is encoded with truncation: deterministic, unlike time.
#include <gtest/gtest.h>
#include <malloc.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <new>
#include <string>

#include "tokenizer/tokenizer.h"

namespace {

std::atomic<size_t> g_live{0};
std::atomic<size_t> g_peak{0};

void* counted_alloc(size_t n) {
  void* p = std::malloc(n ? n : 1);
  if (!p) throw std::bad_alloc();
  const size_t live = g_live.fetch_add(malloc_usable_size(p)) + malloc_usable_size(p);
  size_t peak = g_peak.load();
  while (live > peak && !g_peak.compare_exchange_weak(peak, live)) {
  }
  return p;
}

void counted_free(void* p) noexcept {
  if (!p) return;
  g_live.fetch_sub(malloc_usable_size(p));
  std::free(p);
}

}  // namespace

void* operator new(size_t n) {
  return counted_alloc(n);
}
void* operator new[](size_t n) {
  return counted_alloc(n);
}
void operator delete(void* p) noexcept {
  counted_free(p);
}
void operator delete[](void* p) noexcept {
  counted_free(p);
}
void operator delete(void* p, size_t) noexcept {
  counted_free(p);
}
void operator delete[](void* p, size_t) noexcept {
  counted_free(p);
}

namespace ember::tok {
namespace {

Tokenizer load(const std::string& name) {
  return Tokenizer::from_file(std::filesystem::path(EMBER_SOURCE_DIR) / "tests" / "fixtures" /
                              "tokenizers" / (name + ".json"));
}

std::string words(size_t n, size_t seed) {
  static const char* const kWords[] = {
      "the",   "model",     "reads", "a",     "long",   "text",  "about", "42",   "rivers", "and",
      "their", "tokenizer", ",",     "which", "splits", "every", "word",  "into", "pieces", "."};
  constexpr size_t kCount = sizeof(kWords) / sizeof(kWords[0]);
  std::string s;
  for (size_t i = 0; i < n; ++i) {
    if (i) s += ' ';
    s += kWords[(i * 7 + seed) % kCount];
  }
  return s;
}

// Peak live heap bytes above the level at the start, while f runs.
template <typename F>
size_t peak_bytes(F f) {
  const size_t base = g_live.load();
  g_peak.store(base);
  f();
  return g_peak.load() - base;
}

struct Case {
  const char* fixture;
  Truncation truncation;
};

TEST(PairTruncationMemory, TwoLongTextsTruncateInMemoryLinearInTheInput) {
  // As the server truncates pairs (longest first, from the right or the left), and the
  // library's other strategies, each with a stride; on WordPiece and byte-level BPE.
  const Case cases[] = {
      {"bert-base-uncased",
       {512, 0, TruncationStrategy::kLongestFirst, TruncationDirection::kRight}},
      {"bert-base-uncased",
       {512, 0, TruncationStrategy::kLongestFirst, TruncationDirection::kLeft}},
      {"bert-base-uncased",
       {512, 16, TruncationStrategy::kLongestFirst, TruncationDirection::kRight}},
      {"bpe-byte-level", {512, 0, TruncationStrategy::kLongestFirst, TruncationDirection::kRight}},
  };
  for (const Case& c : cases) {
    Tokenizer tok = load(c.fixture);
    tok.set_truncation(c.truncation);
    const std::string a20 = words(20000, 1), b20 = words(20000, 3);
    const std::string a10 = words(10000, 1), b10 = words(10000, 3);
    Encoding e;
    const size_t peak20 = peak_bytes([&] { e = tok.encode_pair(a20, b20); });
    EXPECT_EQ(e.size(), 512u) << c.fixture;
    EXPECT_TRUE(e.overflowing.empty()) << c.fixture;
    e = Encoding{};
    const size_t peak10 = peak_bytes([&] { e = tok.encode_pair(a10, b10); });
    EXPECT_EQ(e.size(), 512u) << c.fixture;
    // Linear: twice the input, about twice the memory (with every pair of windows built it
    // grew fourfold: 634 MB -> 2.54 GB for WordPiece). And bounded by the input: the two
    // untruncated encodings with their normalized copies, 64-75 bytes per input byte (13.3 MB
    // for these 208 KB; 12,000-17,000 bytes per byte before).
    const size_t input = a20.size() + b20.size();
    EXPECT_LT(peak20, peak10 * 5 / 2) << c.fixture << ": " << peak10 << " -> " << peak20;
    EXPECT_LT(peak20, 150 * input) << c.fixture << ": " << peak20 << " bytes for " << input;
  }
}

// Only one side is cut, but each of its windows was merged with the whole other text
// (222-290 MB here before, over 1,000 bytes per input byte).
TEST(PairTruncationMemory, OnlyFirstAndOnlySecondAreLinearToo) {
  Tokenizer tok = load("bert-base-uncased");
  tok.set_truncation(std::nullopt);
  const std::string a = words(20000, 1), b = words(20000, 3);
  const size_t na = tok.encode(a, false).size(), nb = tok.encode(b, false).size();
  for (const auto strategy : {TruncationStrategy::kOnlyFirst, TruncationStrategy::kOnlySecond}) {
    const bool first = strategy == TruncationStrategy::kOnlyFirst;
    const size_t max_length = (first ? nb : na) + 3 + 512;  // the cut side keeps 512 tokens
    tok.set_truncation(Truncation{max_length, 0, strategy, TruncationDirection::kRight});
    Encoding e;
    const size_t peak = peak_bytes([&] { e = tok.encode_pair(a, b); });
    EXPECT_EQ(e.size(), max_length);
    EXPECT_TRUE(e.overflowing.empty());
    EXPECT_LT(peak, 150 * (a.size() + b.size())) << peak;
  }
}

}  // namespace
}  // namespace ember::tok
