// The work split for a GEMM on pre-packed weights (kernels/cpu/packed_gemm_dnnl.h): one task
// per (chunk of at most kMaxRows rows, column slice), so that each thread streams only its own
// slice's weights and larger M gets more tasks than threads.
#pragma once

#include <algorithm>
#include <cstdint>

#include "core/cpu_features.h"
#include "core/parallel.h"
#include "kernels/cpu/packed_gemm_dnnl.h"

namespace ember::ops::detail {

// Fewer rows than this run on the unpacked path: at M = 1 our dot-product kernels beat the
// primitive call, whose fixed cost (~3 us) is then a large part of the op (docs/gemm.md).
inline constexpr int64_t kPackedMinRows = 2;

inline bool use_packed(const kernels::PackedGemmDnnl* packed, int64_t m) {
  return packed != nullptr && m >= kPackedMinRows && active_isa() >= Isa::kAvx2;
}

// fn(first_row, rows, slice) for every task, in parallel.
template <typename Fn>
void for_each_packed_task(const kernels::PackedGemmDnnl& p, int64_t m, Fn&& fn) {
  constexpr int64_t kRows = kernels::PackedGemmDnnl::kMaxRows;
  const int64_t slices = p.slices();
  const int64_t tasks = (m + kRows - 1) / kRows * slices;
  parallel_for(tasks, 1, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      const int64_t r0 = t / slices * kRows;
      fn(r0, std::min(kRows, m - r0), t % slices);
    }
  });
}

}  // namespace ember::ops::detail
