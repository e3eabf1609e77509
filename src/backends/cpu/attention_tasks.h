// Internal to the CPU backend: how an attention op over a packed batch is split into
// (sequence, head, query range) tasks and how those tasks are spread over the threads by cost,
// shared by cpu::attention and cpu::disentangled_attention.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "core/parallel.h"

namespace ember::cpu::detail {

// Query rows per task: at most ~256, so that one sequence of 512 tokens still splits into
// two tasks per head, and a multiple of 24 so that the kernels' register tiles (6 rows on
// AVX2, 8 on AVX-512) divide it. Each task packs its head's K^T and V once (a few percent of
// a 256-row task), which is why tasks are not smaller.
inline int64_t attention_task_rows(int64_t len) {
  constexpr int64_t kMaxTaskRows = 256, kRowMultiple = 24;
  const int64_t chunks = (len + kMaxTaskRows - 1) / kMaxTaskRows;
  const int64_t rows = (len + chunks - 1) / chunks;
  return (rows + kRowMultiple - 1) / kRowMultiple * kRowMultiple;
}

struct AttentionTask {
  int64_t seq, head, q0, rows;
};

// Every task of a batch with its cost, (rows + 8) * len (+ packing), in cost units.
struct AttentionTasks {
  std::vector<AttentionTask> tasks;
  std::vector<double> cost_end;  // cumulative cost after each task
  double total = 0.0;
};

// window > 0 (a local mask): tasks of about `window` rows, so that a task's key range (its
// rows + 2 window) stays close to the window a query sees, instead of ~256 rows + 2 window.
inline AttentionTasks attention_tasks(const int32_t* cu_seqlens, int64_t batch, int64_t heads,
                                      int64_t window = 0) {
  AttentionTasks t;
  for (int64_t s = 0; s < batch; ++s) {
    const int64_t len = cu_seqlens[s + 1] - cu_seqlens[s];
    if (len == 0) continue;
    int64_t step = attention_task_rows(len);
    if (window > 0) step = std::min(step, std::max<int64_t>(24, (window + 23) / 24 * 24));
    for (int64_t h = 0; h < heads; ++h) {
      for (int64_t q0 = 0; q0 < len; q0 += step) {
        const int64_t rows = len - q0 < step ? len - q0 : step;
        t.tasks.push_back({s, h, q0, rows});
        t.total += static_cast<double>(rows + 8) * static_cast<double>(len);
        t.cost_end.push_back(t.total);
      }
    }
  }
  return t;
}

// run(task) for every task, in parts of equal cost (a few per thread), each a contiguous range
// of tasks; on the calling thread alone when the whole is below ~100K multiply-adds
// (`work_per_cost` of them per cost unit), where a fork/join costs more than it saves.
template <typename Run>
void run_attention_tasks(const AttentionTasks& t, double work_per_cost, Run&& run) {
  const int64_t n_tasks = static_cast<int64_t>(t.tasks.size());
  const bool tiny = t.total * work_per_cost < 1e5;
  const int64_t wanted = tiny ? 1 : 4 * static_cast<int64_t>(num_threads());
  const int64_t parts = n_tasks < wanted ? n_tasks : wanted;
  std::vector<int64_t> bounds(parts + 1, n_tasks);
  bounds[0] = 0;
  for (int64_t p = 1, i = 0; p < parts; ++p) {
    const double target = t.total * static_cast<double>(p) / static_cast<double>(parts);
    while (i < n_tasks && t.cost_end[i] <= target) ++i;
    bounds[p] = i;
  }
  parallel_for(parts, 1, [&](int64_t b, int64_t e) {
    for (int64_t i = bounds[b]; i < bounds[e]; ++i) run(t.tasks[i]);
  });
}

}  // namespace ember::cpu::detail
