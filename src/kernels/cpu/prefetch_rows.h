// Software prefetch of weight rows for the small-M fp32 kernels. At small M a GEMM is bound by
// streaming w from memory, and w is read as short [N, K] rows that the hardware prefetcher
// alone follows poorly; so a tile fetches, as it computes, the rows of the next tile into L1
// and those of a tile further on into L2 (docs/gemm.md, "Our small-M kernels"). Internal
// linkage: the header is included by files built for different ISAs.
#pragma once

#include <xmmintrin.h>

#include <cstdint>

namespace ember::kernels {
namespace {

// One cache line, at column p, of each of R rows (ldw floats apart) from `next` (into L1) and
// from `far` (into L2); either may be null.
template <int R>
inline void prefetch_rows(const float* next, const float* far, int64_t ldw, int64_t p) {
  if (next != nullptr) {
    for (int r = 0; r < R; ++r)
      _mm_prefetch(reinterpret_cast<const char*>(next + r * ldw + p), _MM_HINT_T0);
  }
  if (far != nullptr) {
    for (int r = 0; r < R; ++r)
      _mm_prefetch(reinterpret_cast<const char*>(far + r * ldw + p), _MM_HINT_T1);
  }
}

}  // namespace
}  // namespace ember::kernels
