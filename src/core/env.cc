#include "core/env.h"

#include <cstdlib>

namespace ember {

std::optional<int64_t> env_int(const char* name, int64_t lo, int64_t hi) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return std::nullopt;
  char* end = nullptr;
  const long long x = std::strtoll(v, &end, 10);
  if (end == v || *end != '\0' || x < lo || x > hi) return std::nullopt;
  return static_cast<int64_t>(x);
}

}  // namespace ember
