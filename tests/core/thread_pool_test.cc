// The compute pool under parallel_for: every index once, from several threads, nested and
// concurrent callers, exceptions, and threads that go to sleep between jobs.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include "core/parallel.h"
#include "core/thread_pool.h"

namespace ember {
namespace {

int64_t sum_of_indices(int64_t n, int64_t grain) {
  std::atomic<int64_t> sum{0};
  parallel_for(n, grain, [&](int64_t b, int64_t e) {
    int64_t s = 0;
    for (int64_t i = b; i < e; ++i) s += i;
    sum += s;
  });
  return sum.load();
}

TEST(ThreadPool, EveryThreadRunsTheJobOnce) {
  ThreadPool pool(3);
  ASSERT_EQ(pool.size(), 3);
  struct Seen {
    std::mutex m;
    std::multiset<int> index;
    std::set<std::thread::id> id;
  } seen;
  for (int rep = 0; rep < 3; ++rep) {
    seen.index.clear();
    pool.run(
        [](void* ctx, int i) {
          auto& s = *static_cast<Seen*>(ctx);
          std::lock_guard<std::mutex> lock(s.m);
          s.index.insert(i);
          s.id.insert(std::this_thread::get_id());
        },
        &seen);
    EXPECT_EQ(seen.index, (std::multiset<int>{0, 1, 2}));
  }
  EXPECT_EQ(seen.id.size(), 3u);  // the caller and two workers, the same ones every time
}

TEST(ThreadPool, ChunksCoverTheRangeOnceOnManyJobs) {
  use_compute_pool(2);
  ASSERT_EQ(num_threads(), 2);
  // Many short jobs back to back: the hand-off between spinning workers and the caller.
  for (int rep = 0; rep < 2000; ++rep) {
    const int64_t n = 1 + rep % 97;
    ASSERT_EQ(sum_of_indices(n, 1 + rep % 5), n * (n - 1) / 2) << "rep " << rep;
  }
}

TEST(ThreadPool, WorkersThatSleptWakeUp) {
  use_compute_pool(2);
  // Longer than the spin budget (200 us by default): the worker sleeps in
  // the kernel and the next job must wake it.
  for (int rep = 0; rep < 5; ++rep) {
    std::this_thread::sleep_for(std::chrono::milliseconds(3));
    std::set<std::thread::id> ids;
    std::mutex m;
    parallel_for(64, 1, [&](int64_t, int64_t) {
      // Long enough that the woken worker takes some chunks.
      std::this_thread::sleep_for(std::chrono::microseconds(200));
      std::lock_guard<std::mutex> lock(m);
      ids.insert(std::this_thread::get_id());
    });
    EXPECT_EQ(ids.size(), 2u) << "rep " << rep << ": only one thread ran the loop";
  }
}

TEST(ThreadPool, NestedLoopsRunInline) {
  use_compute_pool(2);
  std::atomic<int64_t> total{0};
  parallel_for(8, 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const std::thread::id outer = std::this_thread::get_id();
      parallel_for(100, 1, [&](int64_t ib, int64_t ie) {
        EXPECT_EQ(std::this_thread::get_id(), outer);
        total += ie - ib;
      });
    }
  });
  EXPECT_EQ(total.load(), 800);
}

TEST(ThreadPool, ConcurrentCallersGetCorrectResults) {
  use_compute_pool(2);
  // Two threads submit at once: one gets the pool, the other runs inline; both complete.
  std::vector<std::thread> callers;
  std::atomic<int> wrong{0};
  for (int t = 0; t < 4; ++t)
    callers.emplace_back([&, t] {
      for (int rep = 0; rep < 300; ++rep) {
        const int64_t n = 50 + t * 13 + rep % 7;
        if (sum_of_indices(n, 3) != n * (n - 1) / 2) ++wrong;
      }
    });
  for (auto& c : callers) c.join();
  EXPECT_EQ(wrong.load(), 0);
}

TEST(ThreadPool, ExceptionReachesTheCallerAfterAllChunks) {
  use_compute_pool(2);
  std::atomic<int> ran{0};
  EXPECT_THROW(parallel_for(16, 1,
                            [&](int64_t b, int64_t) {
                              ++ran;
                              if (b == 5) throw std::runtime_error("chunk 5");
                            }),
               std::runtime_error);
  EXPECT_EQ(ran.load(), 16);  // the other chunks still ran; nothing is left half-done
  // The pool still works afterwards.
  EXPECT_EQ(sum_of_indices(1000, 10), 999 * 1000 / 2);
}

TEST(ThreadPool, ResizingKeepsWorking) {
  for (int threads : {1, 3, 2, 1, 2}) {
    use_compute_pool(threads);
    EXPECT_EQ(num_threads(), threads);
    EXPECT_EQ(sum_of_indices(12345, 100), int64_t{12344} * 12345 / 2);
  }
}

TEST(ThreadPool, ZeroThreadsMeansEveryCpu) {
  EXPECT_EQ(ThreadPool(0).size(), hardware_threads());
  EXPECT_ANY_THROW(ThreadPool(100000));
}

TEST(ThreadPool, SpinOptionFixesTheBudget) {
  ThreadPoolOptions o;
  o.threads = 2;
  o.spin_us = 0;
  EXPECT_EQ(ThreadPool(o).spin_ns(), 0);
  o.spin_us = 50;
  EXPECT_EQ(ThreadPool(o).spin_ns(), 50'000);
}

// A PoolScope routes this thread's parallel loops to its pool, and only this thread's: two
// threads with pools of their own run their loops on their own workers at the same time.
TEST(PoolScope, EachThreadComputesOnItsOwnPool) {
  use_compute_pool(1);
  ThreadPool a(2), b(3);
  std::atomic<int> ready{0};
  auto use = [&](ThreadPool& pool, int want_threads, std::set<std::thread::id>& seen) {
    PoolScope scope(pool);
    EXPECT_EQ(num_threads(), want_threads);
    ++ready;
    while (ready.load() < 2) std::this_thread::yield();
    std::mutex m;
    for (int rep = 0; rep < 50; ++rep)
      parallel_for(64, 1, [&](int64_t, int64_t) {
        std::this_thread::sleep_for(std::chrono::microseconds(50));
        std::lock_guard<std::mutex> lock(m);
        seen.insert(std::this_thread::get_id());
      });
  };
  std::set<std::thread::id> seen_a, seen_b;
  std::thread ta([&] { use(a, 2, seen_a); });
  std::thread tb([&] { use(b, 3, seen_b); });
  ta.join();
  tb.join();
  EXPECT_EQ(seen_a.size(), 2u);
  EXPECT_EQ(seen_b.size(), 3u);
  for (const auto& id : seen_a) EXPECT_EQ(seen_b.count(id), 0u) << "a thread served both pools";
  EXPECT_EQ(num_threads(), 1);  // outside the scopes: the default pool again
}

}  // namespace
}  // namespace ember
