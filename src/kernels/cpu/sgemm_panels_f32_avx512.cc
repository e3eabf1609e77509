// fp32 GEMM on weights pre-packed as 64-column panels (see kernels.h), for the few-row products
// of short requests. There the product is bound by streaming the weights from memory, and
// oneDNN's brgemm kernel on the same packed buffer leaves part of the bandwidth unused: this
// kernel reads the panels as one sequential stream and prefetches it into L2 a fixed distance
// ahead, so more lines are in flight while the FMAs run (docs/gemm.md, session 6: whole
// forwards 1.15-1.5x faster at 8-16 rows, a tie at 32).
//
// Loop order per panel: K in blocks of kKBlock (16 KB of panel, kept in L1), and within a block
// row tiles of up to 6 rows x 64 columns (24 accumulators, 4 panel vectors per k). The first
// row tile of a block reads the panel from memory and issues the prefetches; later row tiles
// find the block in L1. Partial sums live in y between K blocks.
#include <immintrin.h>

#include <algorithm>

#include "kernels/cpu/kernels.h"

namespace ember::kernels {
namespace {

constexpr int64_t kPanel = 64;          // columns per panel: 4 zmm
constexpr int64_t kKBlock = 64;         // k per block: 64 x 64 floats = 16 KB
constexpr int64_t kAheadBytes = 16384;  // prefetch distance into the sequential panel stream

template <int MR>
void tile(const float* x, int64_t ldx, const float* panel, int64_t kc, float* y, int64_t ldy,
          bool accumulate, bool prefetch) {
  __m512 c[MR][4];
  for (int r = 0; r < MR; ++r)
    for (int j = 0; j < 4; ++j)
      c[r][j] = accumulate ? _mm512_loadu_ps(y + r * ldy + 16 * j) : _mm512_setzero_ps();
  for (int64_t kk = 0; kk < kc; ++kk) {
    const float* b = panel + kk * kPanel;
    if (prefetch) {
      // Prefetches never fault, so running past the end of the buffer is harmless.
      const char* ahead = reinterpret_cast<const char*>(b) + kAheadBytes;
      for (int line = 0; line < 4; ++line) _mm_prefetch(ahead + 64 * line, _MM_HINT_T1);
    }
    const __m512 b0 = _mm512_load_ps(b), b1 = _mm512_load_ps(b + 16);
    const __m512 b2 = _mm512_load_ps(b + 32), b3 = _mm512_load_ps(b + 48);
    for (int r = 0; r < MR; ++r) {
      const __m512 a = _mm512_set1_ps(x[r * ldx + kk]);
      c[r][0] = _mm512_fmadd_ps(a, b0, c[r][0]);
      c[r][1] = _mm512_fmadd_ps(a, b1, c[r][1]);
      c[r][2] = _mm512_fmadd_ps(a, b2, c[r][2]);
      c[r][3] = _mm512_fmadd_ps(a, b3, c[r][3]);
    }
  }
  for (int r = 0; r < MR; ++r)
    for (int j = 0; j < 4; ++j) _mm512_storeu_ps(y + r * ldy + 16 * j, c[r][j]);
}

using TileFn = void (*)(const float*, int64_t, const float*, int64_t, float*, int64_t, bool, bool);
constexpr TileFn kTiles[7] = {nullptr, tile<1>, tile<2>, tile<3>, tile<4>, tile<5>, tile<6>};

}  // namespace

void sgemm_f32_avx512_6x64_panels(int64_t m, int64_t n, int64_t k, const float* x, int64_t ldx,
                                  const float* panels, float* y, int64_t ldy) {
  for (int64_t j = 0; j < n; j += kPanel) {
    const float* panel = panels + j * k;
    for (int64_t k0 = 0; k0 < k; k0 += kKBlock) {
      const int64_t kc = std::min(kKBlock, k - k0);
      // Rows spread evenly over the fewest tiles of <= 6 (8 rows: 4 + 4, not 6 + 2): a thin
      // last tile wastes its panel loads (MiniLM 1x8 and 1x16 forwards 6% faster).
      const int64_t tiles = (m + 5) / 6;
      for (int64_t t = 0, r0 = 0; r0 < m; ++t) {
        const int mr = static_cast<int>(m / tiles + (t < m % tiles ? 1 : 0));
        kTiles[mr](x + r0 * ldx + k0, ldx, panel + k0 * kPanel, kc, y + r0 * ldy + j, ldy, k0 > 0,
                   r0 == 0);
        r0 += mr;
      }
    }
  }
}

}  // namespace ember::kernels
