// fp32 GEMM on weights pre-packed as 64-column panels (see kernels.h), for the few-row products
// of short requests. There the product is bound by streaming the weights from memory, and
// oneDNN's brgemm kernel on the same packed buffer leaves part of the bandwidth unused: this
// kernel reads the panels as one sequential stream and prefetches it into L2 one K block
// ahead, so more lines are in flight while the FMAs run.
//
// Loop order per panel: K in blocks of kKBlock (16 KB of panel, kept in L1), and within a block
// row tiles of up to 6 rows x 64 columns (24 accumulators, 4 panel vectors per k). The first
// row tile of a block reads the panel from memory; later row tiles find it in L1. Partial sums
// live in y between K blocks. The prefetches of the next block are spread evenly over all row
// tiles of this one: issued all from the first tile, they come in bursts that the core's miss
// queue cannot take, and the kernel loses to brgemm from ~24 rows on; spread, it wins to 32
// rows and ties at 48-64 (docs/gemm.md, "The panel kernel").
#include <immintrin.h>

#include <algorithm>

#include "kernels/cpu/kernels.h"

namespace ember::kernels {
namespace {

constexpr int64_t kPanel = 64;   // columns per panel: 4 zmm
constexpr int64_t kKBlock = 64;  // k per block: 64 x 64 floats = 16 KB
constexpr int64_t kLine = 64;    // bytes per cache line
constexpr int64_t kBlockLines = kKBlock * kPanel * static_cast<int64_t>(sizeof(float)) / kLine;

// The prefetches of the next block that one tile issues: `lines` cache lines from `next`,
// spread evenly over its kc steps.
struct Prefetch {
  const char* next;
  int64_t lines;
};

template <int MR>
void tile(const float* x, int64_t ldx, const float* panel, int64_t kc, float* y, int64_t ldy,
          bool accumulate, Prefetch pf) {
  __m512 c[MR][4];
  for (int r = 0; r < MR; ++r)
    for (int j = 0; j < 4; ++j)
      c[r][j] = accumulate ? _mm512_loadu_ps(y + r * ldy + 16 * j) : _mm512_setzero_ps();
  int64_t credit = 0;  // Bresenham: lines owed so far, times kc
  const char* line = pf.next;
  for (int64_t kk = 0; kk < kc; ++kk) {
    const float* b = panel + kk * kPanel;
    // Prefetches never fault, so running past the end of the buffer is harmless.
    for (credit += pf.lines; credit >= kc; credit -= kc, line += kLine)
      _mm_prefetch(line, _MM_HINT_T1);
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

using TileFn = void (*)(const float*, int64_t, const float*, int64_t, float*, int64_t, bool,
                        Prefetch);
constexpr TileFn kTiles[7] = {nullptr, tile<1>, tile<2>, tile<3>, tile<4>, tile<5>, tile<6>};

}  // namespace

void sgemm_f32_avx512_6x64_panels(int64_t m, int64_t n, int64_t k, const float* x, int64_t ldx,
                                  const float* panels, float* y, int64_t ldy) {
  // Rows spread evenly over the fewest tiles of <= 6 (8 rows: 4 + 4, not 6 + 2): a thin last
  // tile wastes its panel loads (MiniLM 1x8 and 1x16 forwards 6% faster).
  const int64_t tiles = (m + 5) / 6;
  for (int64_t j = 0; j < n; j += kPanel) {
    const float* panel = panels + j * k;
    for (int64_t k0 = 0; k0 < k; k0 += kKBlock) {
      const int64_t kc = std::min(kKBlock, k - k0);
      // The stream is sequential: the next block starts right after this one, in this panel
      // or at the head of the next.
      const char* next = reinterpret_cast<const char*>(panel + (k0 + kc) * kPanel);
      for (int64_t t = 0, r0 = 0; r0 < m; ++t) {
        const int mr = static_cast<int>(m / tiles + (t < m % tiles ? 1 : 0));
        // Tile t's share of the next block's lines: [kBlockLines * t / tiles, ... (t + 1) ...).
        const int64_t lo = kBlockLines * t / tiles, hi = kBlockLines * (t + 1) / tiles;
        kTiles[mr](x + r0 * ldx + k0, ldx, panel + k0 * kPanel, kc, y + r0 * ldy + j, ldy, k0 > 0,
                   Prefetch{next + lo * kLine, hi - lo});
        r0 += mr;
      }
    }
  }
}

}  // namespace ember::kernels
