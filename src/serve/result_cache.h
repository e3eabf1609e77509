// ResultCache: an in-process LRU of per-input results (float vectors), bounded in entries and
// in bytes (key + values + a fixed per-entry overhead). Keys are opaque byte strings; the
// server builds them from the model, the route's output-changing parameters and the token
// ids (see cache_key). Thread-safe: one mutex, held only for the map and list updates.
#pragma once

#include <atomic>
#include <cstdint>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace ember::serve {

struct ResultCacheOptions {
  size_t max_entries = 10000;     // 0: disabled
  size_t max_bytes = 256u << 20;  // 0: disabled
};

class ResultCache {
 public:
  // Bytes an entry is charged beyond its key and values (list node, map slot, vector header).
  static constexpr size_t kEntryOverhead = 96;

  explicit ResultCache(ResultCacheOptions options) : options_(options) {}

  bool enabled() const { return options_.max_entries > 0 && options_.max_bytes > 0; }
  // A copy of the values and a move to the front; nullopt (and a counted miss) otherwise.
  std::optional<std::vector<float>> get(const std::string& key);
  // Inserts or replaces, then evicts least recently used entries until both bounds hold.
  // An entry larger than max_bytes on its own is not stored.
  void put(const std::string& key, std::vector<float> values);

  size_t entries() const;
  size_t bytes() const;
  uint64_t hits() const { return hits_.load(std::memory_order_relaxed); }
  uint64_t misses() const { return misses_.load(std::memory_order_relaxed); }

 private:
  struct Entry {
    std::string key;
    std::vector<float> values;
  };
  static size_t charge(const std::string& key, const std::vector<float>& values) {
    return key.size() + values.size() * sizeof(float) + kEntryOverhead;
  }
  void evict_locked();

  const ResultCacheOptions options_;
  mutable std::mutex mutex_;
  std::list<Entry> lru_;  // front: most recently used
  std::unordered_map<std::string_view, std::list<Entry>::iterator> index_;  // views into lru_
  size_t bytes_ = 0;
  std::atomic<uint64_t> hits_{0}, misses_{0};
};

// scope: the model and every parameter that changes a result ("embed|n=1|d=384"); then the
// token ids and type ids as raw bytes, length-prefixed so that no two inputs collide.
std::string cache_key(std::string_view scope, const std::vector<int32_t>& ids,
                      const std::vector<int32_t>& type_ids);

}  // namespace ember::serve
