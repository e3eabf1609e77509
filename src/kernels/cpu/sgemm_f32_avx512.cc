// fp32 GEMM kernels for AVX-512, y[M, N] = x[M, K] w[N, K]^T on one thread, for the small and
// mid M of short requests, where oneDNN 2.6 is slow (docs/gemm.md) or spends its time in
// per-call overhead. cpu::linear uses the dot-product kernel for M < 16 and the rows past a
// multiple of 16 (the others go to sgemm_nt_f32_avx2_6x16: an AVX-512 outer-product twin was
// no faster on Zen 4, docs/gemm.md).
// sgemm_nt_f32_avx512_dot4x4: weights stay in PyTorch's [N, K] layout (no packing, no second
// copy): each 4x4 tile of y is 16 dot products along K, 16 floats per FMA, with x rows and w rows
// both read contiguously. w streams from memory once per call, and at small M the kernel is
// bound by that stream, so each tile prefetches the next tile's 4 rows as it goes. The 16
// accumulators are reduced to 16 floats once per tile.
// GCC 12 reports its own _mm512_undefined_* placeholders (inside intrinsics such as
// _mm512_extractf64x4_pd) as uninitialized once they are inlined; they are not our variables.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include <memory>

#include "kernels/cpu/kernels.h"
#include "kernels/cpu/prefetch_rows.h"

namespace ember::kernels {
namespace {

// [sum a0, sum a1, sum a2, sum a3]: pairs, then quads, then the four 128-bit lanes.
inline __m128 reduce4(__m512 a0, __m512 a1, __m512 a2, __m512 a3) {
  const __m512 t0 = _mm512_add_ps(_mm512_unpacklo_ps(a0, a1), _mm512_unpackhi_ps(a0, a1));
  const __m512 t1 = _mm512_add_ps(_mm512_unpacklo_ps(a2, a3), _mm512_unpackhi_ps(a2, a3));
  const __m512d d0 = _mm512_castps_pd(t0), d1 = _mm512_castps_pd(t1);
  const __m512 u = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(d0, d1)),
                                 _mm512_castpd_ps(_mm512_unpackhi_pd(d0, d1)));
  const __m256 v = _mm256_add_ps(_mm512_castps512_ps256(u), _mm512_extractf32x8_ps(u, 1));
  return _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
}

// y[MR, NR] tile; K's last k % 16 elements go through masked (zero-filling) loads. next: the
// first of the 4 w rows the next tile reads, or null; one line of each is prefetched into L1
// per step, so they arrive while this tile computes (MiniLM 1x8 forward: 2.48 -> 2.02 ms warm,
// 2.99 -> 2.63 ms with cold caches). far: 4 rows two tiles further on, prefetched into L2, so
// more lines are in flight from memory (another 5-9%). docs/gemm.md has the runs.
template <int MR, int NR>
void tile(const float* x, int64_t ldx, const float* w, int64_t ldw, float* y, int64_t ldy,
          int64_t k, const float* next, const float* far) {
  __m512 acc[MR][4];
  for (int r = 0; r < MR; ++r)
    for (int c = 0; c < 4; ++c) acc[r][c] = _mm512_setzero_ps();
  // No lambda here: GCC then keeps the accumulators in memory, storing all 16 every step.
  const int64_t body = k - k % 16;
  int64_t p = 0;
  for (; p < body; p += 16) {
    prefetch_rows<4>(next, far, ldw, p);
    __m512 wv[NR];
    for (int c = 0; c < NR; ++c) wv[c] = _mm512_loadu_ps(w + c * ldw + p);
    for (int r = 0; r < MR; ++r) {
      const __m512 xv = _mm512_loadu_ps(x + r * ldx + p);
      for (int c = 0; c < NR; ++c) acc[r][c] = _mm512_fmadd_ps(xv, wv[c], acc[r][c]);
    }
  }
  if (p < k) {
    const auto mask = static_cast<__mmask16>((1u << (k - p)) - 1u);
    __m512 wv[NR];
    for (int c = 0; c < NR; ++c) wv[c] = _mm512_maskz_loadu_ps(mask, w + c * ldw + p);
    for (int r = 0; r < MR; ++r) {
      const __m512 xv = _mm512_maskz_loadu_ps(mask, x + r * ldx + p);
      for (int c = 0; c < NR; ++c) acc[r][c] = _mm512_fmadd_ps(xv, wv[c], acc[r][c]);
    }
  }
  for (int r = 0; r < MR; ++r) {
    const __m128 s = reduce4(acc[r][0], acc[r][1], acc[r][2], acc[r][3]);
    if constexpr (NR == 4) {
      _mm_storeu_ps(y + r * ldy, s);
    } else {
      _mm_mask_storeu_ps(y + r * ldy, static_cast<__mmask8>((1u << NR) - 1u), s);
    }
  }
}

using TileFn = void (*)(const float*, int64_t, const float*, int64_t, float*, int64_t, int64_t,
                        const float*, const float*);

template <int MR>
constexpr TileFn kRowOfTiles[4] = {tile<MR, 1>, tile<MR, 2>, tile<MR, 3>, tile<MR, 4>};
constexpr const TileFn* kTiles[4] = {kRowOfTiles<1>, kRowOfTiles<2>, kRowOfTiles<3>,
                                     kRowOfTiles<4>};

}  // namespace

void sgemm_nt_f32_avx512_dot4x4(int64_t m, int64_t n, int64_t k, const float* x, int64_t ldx,
                                const float* w, int64_t ldw, float* y, int64_t ldy) {
  // Columns outermost: 4 weight rows (<= 48 KiB at K = 3072) stay in L1/L2 while every row
  // tile of x passes over them.
  for (int64_t j = 0; j < n; j += 4) {
    const int nr = n - j < 4 ? static_cast<int>(n - j) : 4;
    const float* wj = w + j * ldw;
    // The first row tile brings these w rows in; it also fetches the next tiles'.
    const float* next = j + 8 <= n ? wj + 4 * ldw : nullptr;
    const float* far = j + 16 <= n ? wj + 12 * ldw : nullptr;
    for (int64_t i = 0; i < m; i += 4) {
      const int mr = m - i < 4 ? static_cast<int>(m - i) : 4;
      const bool first = i == 0;
      kTiles[mr - 1][nr - 1](x + i * ldx, ldx, wj, ldw, y + i * ldy + j, ldy, k,
                             first ? next : nullptr, first ? far : nullptr);
    }
  }
}

}  // namespace ember::kernels
