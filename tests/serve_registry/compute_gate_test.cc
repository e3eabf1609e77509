// The compute gate: at most `slots` turns at once, first come first served, so that a model
// whose batcher asks again at once cannot keep another model's batch waiting.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "core/error.h"
#include "serve/compute_gate.h"

namespace ember::serve {
namespace {

TEST(ComputeGate, AtMostSlotsTurnsAtOnce) {
  ComputeGate gate(2);
  std::atomic<int> inside{0}, most{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        const auto turn = gate.enter();
        const int now = ++inside;
        int seen = most.load();
        while (now > seen && !most.compare_exchange_weak(seen, now)) {
        }
        std::this_thread::sleep_for(std::chrono::microseconds(100));
        --inside;
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(most.load(), 2);
  EXPECT_EQ(gate.waiting(), 0);
}

TEST(ComputeGate, AFloodingModelLetsAnotherInAfterAtMostOneTurn) {
  ComputeGate gate(1);
  std::atomic<bool> stop{false};
  std::atomic<int> flood_turns{0};
  std::thread flood([&] {
    while (!stop) {
      const auto turn = gate.enter();
      ++flood_turns;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  });
  while (flood_turns < 3) std::this_thread::yield();
  for (int round = 0; round < 10; ++round) {
    const int before = flood_turns.load();
    { const auto turn = gate.enter(); }
    // The flooding model's turn in progress when we asked, and at most one it asked for
    // before us: never a run of them.
    EXPECT_LE(flood_turns.load() - before, 2) << round;
  }
  stop = true;
  flood.join();
}

TEST(ComputeGate, NeedsASlot) {
  EXPECT_THROW(ComputeGate(0), Error);
}

}  // namespace
}  // namespace ember::serve
