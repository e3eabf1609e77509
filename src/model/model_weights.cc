#include "model/model_weights.h"

#include <algorithm>

namespace ember::model {
namespace {

template <typename Buffers>
auto find_buffer(Buffers& buffers, const void* data) {
  return std::find_if(buffers.begin(), buffers.end(),
                      [&](const auto& b) { return b.size() > 0 && b.data() == data; });
}

template <typename T>
int64_t free_from(std::vector<AlignedBuffer<T>>& buffers, const void* data) {
  const auto it = find_buffer(buffers, data);
  if (it == buffers.end()) return 0;
  const auto bytes = static_cast<int64_t>(it->size() * sizeof(T));
  buffers.erase(it);  // the others move, their data does not
  return bytes;
}

template <typename T>
bool holds(const std::vector<AlignedBuffer<T>>& buffers, const void* data) {
  return find_buffer(buffers, data) != buffers.end();
}

}  // namespace

bool ModelWeights::owns(const void* data) const {
  return data != nullptr &&
         (holds(owned, data) || holds(owned_i8, data) || holds(owned_bf16, data));
}

int64_t ModelWeights::free_owned(const void* data) {
  if (data == nullptr) return 0;
  if (const int64_t n = free_from(owned, data)) return n;
  if (const int64_t n = free_from(owned_i8, data)) return n;
  return free_from(owned_bf16, data);
}

}  // namespace ember::model
