// MemoryBudget alone: reservations grow, shrink and are released; a request that does not fit
// is refused (429 while others hold the memory, 413 when it could never fit); large requests
// and bodies being received keep to their lanes, so a small request always finds room.
#include <gtest/gtest.h>

#include "serve/errors.h"
#include "serve/memory_budget.h"
#include "serve/request_cost.h"

namespace ember::serve {
namespace {

constexpr int64_t kMiB = 1 << 20;

MemoryBudget make(int64_t capacity = 100 * kMiB) {
  MemoryBudgetOptions o;
  o.capacity = capacity;
  o.max_pending_body_bytes = capacity / 4;
  o.small_request_bytes = kMiB;
  o.small_body_bytes = 64 << 10;
  return MemoryBudget(o);
}

int status_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const HttpError& e) {
    return e.status();
  }
  return 200;
}

TEST(MemoryBudget, ReservationsAreReleasedWithTheirLastHolder) {
  auto b = make();
  {
    auto r = b.reserve(10 * kMiB, "a");
    auto copy = r;
    EXPECT_EQ(b.in_use(), 10 * kMiB);
    r->resize(30 * kMiB, "a");
    EXPECT_EQ(b.in_use(), 30 * kMiB);
    r->resize(5 * kMiB, "a");
    EXPECT_EQ(b.in_use(), 5 * kMiB);
    r.reset();
    EXPECT_EQ(b.in_use(), 5 * kMiB);  // `copy` still holds it
  }
  EXPECT_EQ(b.in_use(), 0);
  EXPECT_EQ(b.peak(), 30 * kMiB);
}

TEST(MemoryBudget, ARequestThatCouldNeverFitIs413AndOneThatDoesNotFitNowIs429) {
  auto b = make();
  EXPECT_EQ(status_of([&] { b.reserve(76 * kMiB, "x"); }), 413);  // over 3/4 of 100
  auto held = b.reserve(70 * kMiB, "large");
  EXPECT_EQ(status_of([&] { b.reserve(10 * kMiB, "second large"); }), 429);  // large lane full
  try {
    b.reserve(10 * kMiB, "the second large one");
    FAIL();
  } catch (const HttpError& e) {
    EXPECT_NE(std::string(e.what()).find("the second large one"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("--max-memory"), std::string::npos);
  }
  // Small requests still find the last quarter.
  std::vector<MemoryBudget::Hold> small;
  for (int i = 0; i < 30; ++i) small.push_back(b.reserve(kMiB, "small"));
  EXPECT_EQ(status_of([&] { b.reserve(kMiB, "small"); }), 429);  // 101 MiB would not fit
  EXPECT_EQ(b.refused(), 4u);
  held.reset();
  EXPECT_EQ(status_of([&] { b.reserve(40 * kMiB, "large"); }), 200);
}

TEST(MemoryBudget, AFailedGrowthLeavesTheReservationAsItWas) {
  auto b = make();
  auto r = b.reserve(2 * kMiB, "r");
  auto other = b.reserve(70 * kMiB, "other");
  EXPECT_EQ(status_of([&] { r->resize(10 * kMiB, "r"); }), 429);
  EXPECT_EQ(r->bytes(), 2 * kMiB);
  EXPECT_EQ(b.in_use(), 72 * kMiB);
}

TEST(MemoryBudget, BodiesBeingReceivedKeepToTheirShare) {
  auto b = make();  // 25 MiB for large bodies being received
  std::vector<MemoryBudget::Hold> bodies;
  for (int i = 0; i < 12; ++i) bodies.push_back(b.reserve_body(2 * kMiB));
  EXPECT_EQ(b.pending_body_bytes(), 24 * kMiB);
  EXPECT_EQ(status_of([&] { b.reserve_body(2 * kMiB); }), 429);
  EXPECT_EQ(status_of([&] { b.reserve_body(32 << 10); }), 200);  // a small body: not in the lane
  // A body received leaves the lane (its bytes stay reserved) and makes room for another.
  bodies[0]->end_body();
  EXPECT_EQ(b.pending_body_bytes(), 22 * kMiB);
  EXPECT_EQ(status_of([&] { bodies.push_back(b.reserve_body(2 * kMiB)); }), 200);
  EXPECT_EQ(b.in_use(), 26 * kMiB);
  bodies.clear();
  EXPECT_EQ(b.pending_body_bytes(), 0);
  EXPECT_EQ(b.in_use(), 0);
}

TEST(MemoryBudget, SettleShrinksToWhatIsHeldAfterTheHandler) {
  auto b = make();
  auto r = b.reserve_body(kMiB);
  r->end_body();
  r->resize(parse_cost(kMiB), "parse");
  r->hold_after_handler(3 * kMiB);
  r->resize(50 * kMiB, "tokenize");
  r->settle();
  EXPECT_EQ(b.in_use(), 3 * kMiB);
  r->settle();  // never grows
  EXPECT_EQ(b.in_use(), 3 * kMiB);
}

TEST(MemoryBudget, ALargeReleaseCallsTheTrimmer) {
  auto b = make();
  int calls = 0;
  b.on_large_release(8 * kMiB, [&] { ++calls; });
  b.reserve(kMiB, "small");
  EXPECT_EQ(calls, 0);
  b.reserve(9 * kMiB, "large");
  EXPECT_EQ(calls, 1);
}

TEST(RequestCost, BoundsGrowWithWhatTheyBound) {
  EXPECT_GT(parse_cost(2 << 20), int64_t{2} << 20);
  EXPECT_GT(tokenize_cost(1 << 20, 0), int64_t{295} << 20);  // the worst measured, per byte
  EXPECT_EQ(hidden_states_json_bytes(1, 384), 384 * kJsonBytesPerFloat + 4);
  EXPECT_GT(hidden_states_answer_cost(100, 384), hidden_states_json_bytes(100, 384));
  EXPECT_GT(tokenize_answer_cost(10, 10), 10 * 96);
}

}  // namespace
}  // namespace ember::serve
