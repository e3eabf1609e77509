// Two engines of different models in one process compute at the same time, each on its own
// threads: both make progress while the other computes, and both give what they give alone.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include "runtime/engine.h"

namespace ember {
namespace {

using Clock = std::chrono::steady_clock;

struct Interval {
  Clock::time_point begin, end;
};

TEST(EnginesSideBySide, TwoModelsComputeConcurrentlyAndStayExact) {
  runtime::EngineOptions a_opts, b_opts;
  a_opts.threads = 1;
  b_opts.threads = 2;  // a pool of another size: neither engine resizes the other's
  const auto a = runtime::Engine::load("all-MiniLM-L6-v2", a_opts);
  const auto b = runtime::Engine::load("paraphrase-MiniLM-L3-v2", b_opts);
  ASSERT_EQ(a->info().threads, 1);
  ASSERT_EQ(b->info().threads, 2);
  const std::vector<std::string> texts = {
      "The quick brown fox jumps over the lazy dog.",
      "Engines in one process must not share their compute threads.",
      "A longer sentence, so that a forward pass takes a little while on this machine: it has "
      "more than a few dozen tokens, a comma or two, and no particular meaning at all."};
  const auto want_a = a->embed(texts);
  const auto want_b = b->embed(texts);
  ASSERT_NE(want_a.front().size(), 0u);

  constexpr int kRuns = 40;
  std::atomic<int> ready{0};
  std::atomic<int> wrong{0};
  std::vector<Interval> spans[2];
  auto work = [&](const runtime::Engine& e, const std::vector<std::vector<float>>& want,
                  std::vector<Interval>& out) {
    ++ready;
    while (ready.load() < 2) std::this_thread::yield();
    for (int i = 0; i < kRuns; ++i) {
      const auto t0 = Clock::now();
      const auto got = e.embed(texts);
      out.push_back({t0, Clock::now()});
      if (got != want) ++wrong;
    }
  };
  std::thread ta([&] { work(*a, want_a, spans[0]); });
  std::thread tb([&] { work(*b, want_b, spans[1]); });
  ta.join();
  tb.join();
  EXPECT_EQ(wrong.load(), 0) << "a result differed from the engine's result alone";
  ASSERT_EQ(spans[0].size(), static_cast<size_t>(kRuns));
  ASSERT_EQ(spans[1].size(), static_cast<size_t>(kRuns));
  // Both progressed while the other computed: runs of A that started and ended inside the
  // time B was running, and the other way round.
  auto inside = [](const std::vector<Interval>& mine, const std::vector<Interval>& other) {
    const auto lo = other.front().begin, hi = other.back().end;
    int n = 0;
    for (const auto& s : mine) n += s.begin > lo && s.end < hi;
    return n;
  };
  EXPECT_GT(inside(spans[0], spans[1]), 0);
  EXPECT_GT(inside(spans[1], spans[0]), 0);
  // Overlapping runs: at least one run of each engine overlapped a run of the other.
  int overlaps = 0;
  for (const auto& x : spans[0])
    for (const auto& y : spans[1]) overlaps += x.begin < y.end && y.begin < x.end;
  EXPECT_GT(overlaps, 0);
  EXPECT_EQ(a->info().threads, 1);
  EXPECT_EQ(b->info().threads, 2);
}

}  // namespace
}  // namespace ember
