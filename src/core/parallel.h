// Parallel loops on Ember's own persistent pool (core/thread_pool.h). oneDNN is called from
// inside these loops on one thread per call (kernels/cpu/*_dnnl.cc), so the whole process
// has one set of compute threads and no OpenMP team.
#pragma once

#include <atomic>
#include <cstdint>
#include <utility>

#include "core/thread_pool.h"

namespace ember {

void set_num_threads(int n);  // n <= 0: all cores
int num_threads();

// Calls fn(begin, end) on chunks of [0, n) of `grain` items (the last may be shorter), in
// parallel. Threads take chunks in order from a shared counter, so a thread that starts late
// (woken from sleep, or descheduled on a busy machine) leaves its chunks to the others instead
// of holding the loop up. Runs inline as fn(0, n) when there is one chunk or one thread, and
// when called from inside another parallel_for.
template <typename Fn>
void parallel_for(int64_t n, int64_t grain, Fn&& fn) {
  if (n <= 0) return;
  if (grain < 1) grain = 1;
  const int64_t chunks = (n + grain - 1) / grain;
  ThreadPool& pool = compute_pool();
  if (chunks <= 1 || pool.size() <= 1 || ThreadPool::inside_job()) {
    fn(int64_t{0}, n);
    return;
  }
  struct Loop {
    Fn* fn;
    int64_t n, grain, chunks;
    std::atomic<int64_t> next{0};
  } loop{&fn, n, grain, chunks};
  pool.run(
      [](void* ctx, int /*thread*/) {
        Loop& l = *static_cast<Loop*>(ctx);
        for (;;) {
          const int64_t c = l.next.fetch_add(1, std::memory_order_relaxed);
          if (c >= l.chunks) return;
          const int64_t b = c * l.grain;
          (*l.fn)(b, b + l.grain < l.n ? b + l.grain : l.n);
        }
      },
      &loop);
}

// Splits [0, n) into one contiguous range per pool thread, each a multiple of `align` items
// except the last, and calls fn(begin, end) on each in parallel: for work that must not be
// cut finer, such as one single-threaded GEMM call per thread (ops::linear, linear_int8).
template <typename Fn>
void parallel_split(int64_t n, int64_t align, Fn&& fn) {
  const int64_t threads = num_threads();
  int64_t part = (n + threads - 1) / threads;
  if (align > 1) part = (part + align - 1) / align * align;
  parallel_for(n, part, std::forward<Fn>(fn));
}

}  // namespace ember
