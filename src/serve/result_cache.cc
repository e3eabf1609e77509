#include "serve/result_cache.h"

#include <cstring>

namespace ember::serve {

std::optional<std::vector<float>> ResultCache::get(const std::string& key) {
  if (!enabled()) {
    misses_.fetch_add(1, std::memory_order_relaxed);
    return std::nullopt;
  }
  std::vector<float> out;
  {
    std::lock_guard lock(mutex_);
    const auto it = index_.find(key);
    if (it == index_.end()) {
      misses_.fetch_add(1, std::memory_order_relaxed);
      return std::nullopt;
    }
    lru_.splice(lru_.begin(), lru_, it->second);
    out = it->second->values;
  }
  hits_.fetch_add(1, std::memory_order_relaxed);
  return out;
}

void ResultCache::put(const std::string& key, std::vector<float> values) {
  if (!enabled() || charge(key, values) > options_.max_bytes) return;
  Entry entry{key, std::move(values)};  // allocations outside the lock
  std::lock_guard lock(mutex_);
  if (const auto it = index_.find(key); it != index_.end()) {
    const auto node = it->second;
    bytes_ -= charge(node->key, node->values);
    index_.erase(it);
    lru_.erase(node);
  }
  lru_.push_front(std::move(entry));
  bytes_ += charge(lru_.front().key, lru_.front().values);
  index_.emplace(lru_.front().key, lru_.begin());
  evict_locked();
}

void ResultCache::evict_locked() {
  while (!lru_.empty() && (lru_.size() > options_.max_entries || bytes_ > options_.max_bytes)) {
    auto& last = lru_.back();
    bytes_ -= charge(last.key, last.values);
    index_.erase(last.key);
    lru_.pop_back();
  }
}

size_t ResultCache::entries() const {
  std::lock_guard lock(mutex_);
  return lru_.size();
}

size_t ResultCache::bytes() const {
  std::lock_guard lock(mutex_);
  return bytes_;
}

std::string cache_key(std::string_view scope, const std::vector<int32_t>& ids,
                      const std::vector<int32_t>& type_ids) {
  std::string key;
  key.reserve(scope.size() + 16 + (ids.size() + type_ids.size()) * sizeof(int32_t));
  auto append_size = [&key](uint64_t n) {
    char buf[sizeof n];
    std::memcpy(buf, &n, sizeof n);
    key.append(buf, sizeof n);
  };
  append_size(scope.size());
  key.append(scope);
  append_size(ids.size());
  key.append(reinterpret_cast<const char*>(ids.data()), ids.size() * sizeof(int32_t));
  // Empty type ids mean all zeros: the same input as explicit zeros.
  bool all_zero = true;
  for (const auto t : type_ids) all_zero = all_zero && t == 0;
  if (!all_zero)
    key.append(reinterpret_cast<const char*>(type_ids.data()), type_ids.size() * sizeof(int32_t));
  return key;
}

}  // namespace ember::serve
