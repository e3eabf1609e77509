// u8 x s8 -> s32 GEMM with AVX-512 VNNI on weights in oneDNN's packed VNNI layout (see
// kernels_int8.h). vpdpbusd adds four u8 x s8 products into each int32 lane without an int16
// step, so unlike vpmaddubsw it never saturates: the sums are exact for all inputs.
//
// Loop order per 64-column panel: K in blocks, and within a block row tiles of up to 6 rows x 64
// columns (24 accumulators, 4 panel vectors and one broadcast activation dword per group of 4 k).
// The first row tile of a block reads the panel from memory; later ones find it in cache.
// Partial sums live in c between K blocks. The prefetches of the next block are spread over all
// row tiles of this one, as in sgemm_panels_f32_avx512.cc, so that few-row products, bound by
// streaming the weights, keep more lines in flight.
// Block size by row count (docs/gemm.md, "int8 GEMM"): up to kSmallRows rows, 256 k (16 KB of
// panel, L1-sized, with the prefetches one block ahead: the better of the two for weights
// streamed from memory at 8-32 rows); above, 2048 k (128 KB, kept in L2), since reloading and
// storing the 24 partial sums per 16 KB block cost 5-12% against brgemm at 128-256 rows.
// Which rows run here at all is PackedGemmDnnl's rule (kInt8PanelMaxRows).
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "kernels/cpu/kernels_int8.h"

namespace ember::kernels {
namespace {

constexpr int64_t kPanel = 64;               // columns per panel: 4 zmm of int32
constexpr int64_t kGroupBytes = kPanel * 4;  // one group of 4 k across the panel
constexpr int64_t kSmallRows = 48;
constexpr int64_t kKBlockSmall = 256;   // k per block up to kSmallRows rows: 16 KB of panel
constexpr int64_t kKBlockLarge = 2048;  // k per block above: 128 KB
constexpr int64_t kLine = 64;           // bytes per cache line

struct Prefetch {
  const char* next;
  int64_t lines;
};

// acc += the four u8 (x) x s8 (w) products of each int32 lane. GCC 12 allocates the intrinsic's
// tied accumulator poorly (a copy and a spill of every accumulator on every step, half the
// speed); the same instruction as asm keeps all 24 accumulators in registers.
inline __m512i dpbusd(__m512i acc, __m512i x, __m512i w) {
  asm("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(x), "v"(w));
  return acc;
}

// c[MR rows, ncols <= 64] (+)= a[MR rows, 4 * groups] * panel block. `mask[v]` selects the
// columns of vector v that exist.
template <int MR>
void tile(const uint8_t* a, int64_t lda, const int8_t* panel, int64_t groups, int32_t* c,
          int64_t ldc, const __mmask16* mask, bool accumulate, Prefetch pf) {
  __m512i acc[MR][4];
  for (int r = 0; r < MR; ++r)
    for (int v = 0; v < 4; ++v)
      acc[r][v] = accumulate ? _mm512_maskz_loadu_epi32(mask[v], c + r * ldc + 16 * v)
                             : _mm512_setzero_si512();
  int64_t credit = 0;  // Bresenham: lines owed so far, times groups
  const char* line = pf.next;
  for (int64_t g = 0; g < groups; ++g) {
    const int8_t* b = panel + g * kGroupBytes;
    // Prefetches never fault, so running past the end of the buffer is harmless.
    for (credit += pf.lines; credit >= groups; credit -= groups, line += kLine)
      _mm_prefetch(line, _MM_HINT_T1);
    const __m512i b0 = _mm512_load_si512(b), b1 = _mm512_load_si512(b + 64);
    const __m512i b2 = _mm512_load_si512(b + 128), b3 = _mm512_load_si512(b + 192);
    for (int r = 0; r < MR; ++r) {
      int32_t dword;
      std::memcpy(&dword, a + r * lda + 4 * g, sizeof dword);
      const __m512i x = _mm512_set1_epi32(dword);
      acc[r][0] = dpbusd(acc[r][0], x, b0);
      acc[r][1] = dpbusd(acc[r][1], x, b1);
      acc[r][2] = dpbusd(acc[r][2], x, b2);
      acc[r][3] = dpbusd(acc[r][3], x, b3);
    }
  }
  for (int r = 0; r < MR; ++r)
    for (int v = 0; v < 4; ++v) _mm512_mask_storeu_epi32(c + r * ldc + 16 * v, mask[v], acc[r][v]);
}

// The last k % 4 (1-3) products, added in scalar code: only odd K (tests, never a model) have
// them, and reading a whole dword there could run past the activation buffer. The panel holds
// the bytes of k = kt + t for column j at kt * 64 + j * 4 + t.
void add_tail(int64_t m, int64_t ncols, const uint8_t* a, int64_t lda, int64_t kt, int tail,
              const int8_t* panel, int32_t* c, int64_t ldc) {
  const int8_t* b = panel + kt / 4 * kGroupBytes;
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < ncols; ++j) {
      int32_t s = 0;
      for (int t = 0; t < tail; ++t) s += static_cast<int32_t>(a[i * lda + kt + t]) * b[j * 4 + t];
      c[i * ldc + j] += s;
    }
}

using TileFn = void (*)(const uint8_t*, int64_t, const int8_t*, int64_t, int32_t*, int64_t,
                        const __mmask16*, bool, Prefetch);
constexpr TileFn kTiles[7] = {nullptr, tile<1>, tile<2>, tile<3>, tile<4>, tile<5>, tile<6>};

}  // namespace

void gemm_u8s8s32_avx512vnni_6x64_panels(int64_t m, int64_t n, int64_t k, const uint8_t* a,
                                         int64_t lda, const int8_t* panels, int32_t* c,
                                         int64_t ldc) {
  if (m <= 0 || n <= 0) return;
  const int64_t kpad = (k + 63) / 64 * 64;
  // Rows spread evenly over the fewest tiles of <= 6 (8 rows: 4 + 4, not 6 + 2): a thin last
  // tile wastes its panel loads.
  const int64_t tiles = (m + 5) / 6;
  const int64_t kblock = m <= kSmallRows ? kKBlockSmall : kKBlockLarge;
  const int64_t block_lines = kblock / 4 * kGroupBytes / kLine;
  for (int64_t j = 0; j < n; j += kPanel) {
    const int64_t ncols = std::min(kPanel, n - j);
    __mmask16 mask[4];
    for (int v = 0; v < 4; ++v) {
      const int64_t cols = std::clamp<int64_t>(ncols - 16 * v, 0, 16);
      mask[v] = static_cast<__mmask16>((1u << cols) - 1u);
    }
    const int8_t* panel = panels + j * kpad;
    const int64_t kfull = k / 4 * 4;  // whole groups of 4 k; the rest is add_tail's
    for (int64_t k0 = 0; k0 < kfull; k0 += kblock) {
      const int64_t kc = std::min(kblock, kfull - k0);
      const int8_t* block = panel + k0 / 4 * kGroupBytes;
      // The stream is sequential: the next block starts right after this one, in this panel
      // or (past the zero padding of this one) at the head of the next.
      const char* next = reinterpret_cast<const char*>(
          k0 + kc < kfull ? block + kc / 4 * kGroupBytes : panel + kPanel * kpad);
      for (int64_t t = 0, r0 = 0; r0 < m; ++t) {
        const int mr = static_cast<int>(m / tiles + (t < m % tiles ? 1 : 0));
        const int64_t lo = block_lines * t / tiles, hi = block_lines * (t + 1) / tiles;
        kTiles[mr](a + r0 * lda + k0, lda, block, kc / 4, c + r0 * ldc + j, ldc, mask, k0 > 0,
                   Prefetch{next + lo * kLine, hi - lo});
        r0 += mr;
      }
    }
    if (kfull == 0)  // k < 4: no tile ran to initialize c
      for (int64_t i = 0; i < m; ++i) std::fill_n(c + i * ldc + j, ncols, 0);
    if (k > kfull)
      add_tail(m, ncols, a, lda, kfull, static_cast<int>(k - kfull), panel, c + j, ldc);
  }
}

}  // namespace ember::kernels
