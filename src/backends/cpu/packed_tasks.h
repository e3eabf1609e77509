// The work split for a GEMM on pre-packed weights (kernels/cpu/packed_gemm_dnnl.h): one task
// per (chunk of at most kMaxRows rows, column slice), so that each thread streams only its own
// slice's weights and larger M gets more tasks than threads.
#pragma once

#include <algorithm>
#include <cstdint>

#include "core/aligned_buffer.h"
#include "core/cpu_features.h"
#include "core/parallel.h"
#include "kernels/cpu/packed_gemm_dnnl.h"

namespace ember::cpu::detail {

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

// Every task's product (rows of x, dense with k elements per row, times its slice) into a
// per-thread scratch block of Out (the primitive writes dense rows), then
// row_fn(row, outputs of that row in the slice, first column, columns) for each of its rows
// while the block is in cache: the epilogue (fp32) or the dequantization (int8).
// `kernel` forces run_slice's kernel (tests and benchmarks).
template <typename Out, typename In, typename RowFn>
void packed_gemm_rows(
    const kernels::PackedGemmDnnl& p, int64_t m, const In* x, RowFn&& row_fn,
    kernels::PackedGemmDnnl::Kernel kernel = kernels::PackedGemmDnnl::Kernel::kAuto) {
  for_each_packed_task(p, m, [&](int64_t r0, int64_t rows, int64_t s) {
    const int64_t c0 = p.slice_begin(s);
    const int64_t nc = p.slice_width(s);
    thread_local AlignedBuffer<Out> block;
    block.resize(static_cast<size_t>(rows * nc));
    p.run_slice(s, rows, x + r0 * p.k(), block.data(), kernel);
    for (int64_t i = 0; i < rows; ++i) row_fn(r0 + i, block.data() + i * nc, c0, nc);
  });
}

}  // namespace ember::cpu::detail
