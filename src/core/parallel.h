// Parallel loops on OpenMP: the same runtime oneDNN uses, so compute threads are one pool
// that persists between ops (no per-op spin-up, no oversubscription).
#pragma once

#include <cstdint>

namespace ember {

void set_num_threads(int n);  // n <= 0: all cores
int num_threads();

// Calls fn(begin, end) on chunks of [0, n) of at least `grain` items, in parallel.
template <typename Fn>
void parallel_for(int64_t n, int64_t grain, Fn&& fn) {
  if (n <= 0) return;
  if (grain < 1) grain = 1;
  const int64_t chunks = (n + grain - 1) / grain;
  if (chunks <= 1 || num_threads() <= 1) {
    fn(int64_t{0}, n);
    return;
  }
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t b = c * grain;
    const int64_t e = b + grain < n ? b + grain : n;
    fn(b, e);
  }
}

}  // namespace ember
