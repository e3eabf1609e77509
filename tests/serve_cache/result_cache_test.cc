// ResultCache alone: LRU order, both bounds, key separation, the disabled cache.
#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "serve/result_cache.h"

namespace ember::serve {
namespace {

std::vector<float> values(size_t n, float v) {
  return std::vector<float>(n, v);
}

TEST(ResultCache, HitsMissesAndCounters) {
  ResultCache c({10, 1 << 20});
  EXPECT_FALSE(c.get("a"));
  c.put("a", values(3, 1));
  const auto hit = c.get("a");
  ASSERT_TRUE(hit);
  EXPECT_EQ(*hit, values(3, 1));
  EXPECT_EQ(c.hits(), 1u);
  EXPECT_EQ(c.misses(), 1u);
  EXPECT_EQ(c.entries(), 1u);
  EXPECT_EQ(c.bytes(), 1 + 3 * sizeof(float) + ResultCache::kEntryOverhead);
}

TEST(ResultCache, EvictsTheLeastRecentlyUsedByEntries) {
  ResultCache c({2, 1 << 20});
  c.put("a", values(1, 1));
  c.put("b", values(1, 2));
  ASSERT_TRUE(c.get("a"));  // a is now the most recent
  c.put("c", values(1, 3));
  EXPECT_EQ(c.entries(), 2u);
  EXPECT_TRUE(c.get("a"));
  EXPECT_FALSE(c.get("b"));
  EXPECT_TRUE(c.get("c"));
}

TEST(ResultCache, EvictsByBytes) {
  const size_t one = 1 + 100 * sizeof(float) + ResultCache::kEntryOverhead;
  ResultCache c({100, 2 * one + 10});
  c.put("a", values(100, 1));
  c.put("b", values(100, 2));
  EXPECT_EQ(c.bytes(), 2 * one);
  c.put("c", values(100, 3));
  EXPECT_EQ(c.entries(), 2u);
  EXPECT_LE(c.bytes(), 2 * one + 10);
  EXPECT_FALSE(c.get("a"));
  EXPECT_TRUE(c.get("b"));
  EXPECT_TRUE(c.get("c"));
  c.put("huge", values(1000, 4));  // larger than the whole budget: not stored, nothing evicted
  EXPECT_FALSE(c.get("huge"));
  EXPECT_EQ(c.entries(), 2u);
}

TEST(ResultCache, ReplacingAKeyKeepsTheAccountingExact) {
  ResultCache c({10, 1 << 20});
  c.put("a", values(10, 1));
  c.put("a", values(2, 5));
  EXPECT_EQ(c.entries(), 1u);
  EXPECT_EQ(c.bytes(), 1 + 2 * sizeof(float) + ResultCache::kEntryOverhead);
  EXPECT_EQ(*c.get("a"), values(2, 5));
}

TEST(ResultCache, DisabledByZeroEntriesOrBytes) {
  for (const auto opts : {ResultCacheOptions{0, 1 << 20}, ResultCacheOptions{10, 0}}) {
    ResultCache c(opts);
    EXPECT_FALSE(c.enabled());
    c.put("a", values(1, 1));
    EXPECT_FALSE(c.get("a"));
    EXPECT_EQ(c.entries(), 0u);
    EXPECT_EQ(c.hits(), 0u);
    EXPECT_EQ(c.misses(), 1u);
  }
}

TEST(CacheKey, SeparatesScopesIdsAndTypeIds) {
  const std::vector<int32_t> ids = {101, 7, 102};
  const auto base = cache_key("m|embed|n=1", ids, {});
  EXPECT_EQ(base, cache_key("m|embed|n=1", ids, {}));
  EXPECT_EQ(base, cache_key("m|embed|n=1", ids, {0, 0, 0}));  // empty type ids = zeros
  EXPECT_NE(base, cache_key("m|embed|n=0", ids, {}));
  EXPECT_NE(base, cache_key("m|predict|raw=0", ids, {}));
  EXPECT_NE(base, cache_key("m|embed|n=1", {101, 8, 102}, {}));
  EXPECT_NE(base, cache_key("m|embed|n=1", ids, {0, 1, 1}));
  // A scope ending in bytes that look like ids must not collide with a shorter scope.
  EXPECT_NE(cache_key("ab", {1}, {}), cache_key("a", {1}, {}));

  ResultCache c({10, 1 << 20});
  c.put(cache_key("m|embed|n=1", ids, {}), values(2, 1));
  EXPECT_FALSE(c.get(cache_key("m|embed|n=0", ids, {})));
  EXPECT_TRUE(c.get(cache_key("m|embed|n=1", ids, {0, 0, 0})));
}

TEST(ResultCache, ConcurrentUseKeepsTheBounds) {
  ResultCache c({50, 1 << 20});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&c, t] {
      for (int i = 0; i < 2000; ++i) {
        const std::string key = std::to_string((i * 7 + t) % 120);
        if (!c.get(key)) c.put(key, values(4, static_cast<float>(i)));
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_LE(c.entries(), 50u);
  EXPECT_EQ(c.hits() + c.misses(), 8000u);
}

}  // namespace
}  // namespace ember::serve
