// fp32 GEMM kernels for AVX2 + FMA CPUs (CI's EPYCs have no AVX-512): y[M, N] = x[M, K]
// w[N, K]^T on one thread, w in PyTorch's [N, K] layout as stored (no packing at load).
// - sgemm_nt_f32_avx2_dot3x4, the twin of sgemm_nt_f32_avx512_dot4x4: each 3x4 tile of y is
//   12 dot products along K, 8 floats per FMA, x rows and w rows both read contiguously. 3x4
//   because AVX2 has 16 vector registers: 12 accumulators, the tile's 3 x vectors and one w
//   vector. K is cut into blocks so that a tile's 7 rows of x and w stay in L1 and x[M, Kc] in
//   L2 while the columns pass over it; later K blocks add their partial sums to y. Each block of
//   x is first copied with a padded row stride: at K = 3072 the rows of x and w are 12 KiB
//   apart, so all 7 rows a tile reads would fall into one L1 set (8 ways).
// - sgemm_nt_f32_avx2_6x16 (below): outer-product tiles, for whole blocks of 16 rows.
// At small M both are bound by the stream of w from memory, so every tile prefetches the rows
// of the next one while it computes (MiniLM 1x8-1x32 forwards 13-19% faster).
#include <immintrin.h>

#include <cstring>
#include <memory>

#include "kernels/cpu/kernels.h"
#include "kernels/cpu/prefetch_rows.h"

namespace ember::kernels {
namespace {

constexpr int kMr = 3, kNr = 4;
// 7 rows x 512 floats = 14 KiB of L1; x[M, 512] is 512 KiB of L2 at M = 256.
constexpr int64_t kKc = 512;
// Rows per pass over the columns, so that x[kMc, kKc] (192 KiB) stays in L2 for any M.
constexpr int64_t kMc = 96;
// Row stride of the copied x block: 64 bytes more than a K block, so rows map to different
// L1 sets.
constexpr int64_t kPackLd = kKc + 16;

// One x block per thread, allocated on first use (198 KiB).
float* x_block_buffer() {
  thread_local const std::unique_ptr<float[]> buf(new float[kMc * kPackLd]);
  return buf.get();
}

// Eight -1 then eight 0: loadu(kMaskTable + 8 - r) keeps the first r lanes.
alignas(64) constexpr int32_t kMaskTable[16] = {-1, -1, -1, -1, -1, -1, -1, -1,
                                                0,  0,  0,  0,  0,  0,  0,  0};

inline __m256i lane_mask8(int64_t r) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kMaskTable + 8 - r));
}

// [sum a0, sum a1, sum a2, sum a3].
inline __m128 reduce4(__m256 a0, __m256 a1, __m256 a2, __m256 a3) {
  const __m256 t = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3));
  return _mm_add_ps(_mm256_castps256_ps128(t), _mm256_extractf128_ps(t, 1));
}

// y[MR, NR] tile over k elements (one K block); the last k % 8 go through masked loads.
// accumulate: add to y (a later K block) instead of overwriting it.
// next / far: the first of the 4 w rows the next tile reads and of 4 rows two tiles further
// on, or null; prefetched into L1 / L2 while this tile computes (see sgemm_f32_avx512.cc).
template <int MR, int NR>
void tile(const float* x, int64_t ldx, const float* w, int64_t ldw, float* y, int64_t ldy,
          int64_t k, bool accumulate, const float* next, const float* far) {
  __m256 acc[MR][NR];
  for (int r = 0; r < MR; ++r)
    for (int c = 0; c < NR; ++c) acc[r][c] = _mm256_setzero_ps();
  // x held in registers, w streamed one vector at a time: 12 + 3 + 1 registers.
  const int64_t body = k - k % 8;
  int64_t p = 0;
  for (; p < body; p += 8) {
    prefetch_rows<4>(next, far, ldw, p);
    __m256 xv[MR];
    for (int r = 0; r < MR; ++r) xv[r] = _mm256_loadu_ps(x + r * ldx + p);
    for (int c = 0; c < NR; ++c) {
      const __m256 wv = _mm256_loadu_ps(w + c * ldw + p);
      for (int r = 0; r < MR; ++r) acc[r][c] = _mm256_fmadd_ps(xv[r], wv, acc[r][c]);
    }
  }
  if (p < k) {
    const __m256i mask = lane_mask8(k - p);
    __m256 xv[MR];
    for (int r = 0; r < MR; ++r) xv[r] = _mm256_maskload_ps(x + r * ldx + p, mask);
    for (int c = 0; c < NR; ++c) {
      const __m256 wv = _mm256_maskload_ps(w + c * ldw + p, mask);
      for (int r = 0; r < MR; ++r) acc[r][c] = _mm256_fmadd_ps(xv[r], wv, acc[r][c]);
    }
  }
  const __m256 zero = _mm256_setzero_ps();
  for (int r = 0; r < MR; ++r) {
    __m128 s = reduce4(acc[r][0], NR > 1 ? acc[r][1 % NR] : zero, NR > 2 ? acc[r][2 % NR] : zero,
                       NR > 3 ? acc[r][3 % NR] : zero);
    float* yr = y + r * ldy;
    if constexpr (NR == 4) {
      if (accumulate) s = _mm_add_ps(s, _mm_loadu_ps(yr));
      _mm_storeu_ps(yr, s);
    } else {
      const __m128i mask = _mm256_castsi256_si128(lane_mask8(NR));
      if (accumulate) s = _mm_add_ps(s, _mm_maskload_ps(yr, mask));
      _mm_maskstore_ps(yr, mask, s);
    }
  }
}

using TileFn = void (*)(const float*, int64_t, const float*, int64_t, float*, int64_t, int64_t,
                        bool, const float*, const float*);

template <int MR>
constexpr TileFn kRowOfTiles[kNr] = {tile<MR, 1>, tile<MR, 2>, tile<MR, 3>, tile<MR, 4>};
constexpr const TileFn* kTiles[kMr] = {kRowOfTiles<1>, kRowOfTiles<2>, kRowOfTiles<3>};

}  // namespace

void sgemm_nt_f32_avx2_dot3x4(int64_t m, int64_t n, int64_t k, const float* x, int64_t ldx,
                              const float* w, int64_t ldw, float* y, int64_t ldy) {
  float* const xb = x_block_buffer();
  for (int64_t p0 = 0; p0 < k; p0 += kKc) {
    const int64_t kc = k - p0 < kKc ? k - p0 : kKc;
    for (int64_t i0 = 0; i0 < m; i0 += kMc) {
      const int64_t i1 = m - i0 < kMc ? m : i0 + kMc;
      for (int64_t i = i0; i < i1; ++i)
        std::memcpy(xb + (i - i0) * kPackLd, x + i * ldx + p0, sizeof(float) * kc);
      // Columns outside rows: the tile's 4 w rows stay in L1 while the row tiles pass.
      for (int64_t j = 0; j < n; j += kNr) {
        const int nr = n - j < kNr ? static_cast<int>(n - j) : kNr;
        const float* wj = w + j * ldw + p0;
        const float* next = j + 2 * kNr <= n ? wj + kNr * ldw : nullptr;
        const float* far = j + 4 * kNr <= n ? wj + 3 * kNr * ldw : nullptr;
        for (int64_t i = i0; i < i1; i += kMr) {
          const int mr = i1 - i < kMr ? static_cast<int>(i1 - i) : kMr;
          const bool first = i == i0;
          kTiles[mr - 1][nr - 1](xb + (i - i0) * kPackLd, kPackLd, wj, ldw, y + i * ldy + j, ldy,
                                 kc, p0 > 0, first ? next : nullptr, first ? far : nullptr);
        }
      }
    }
  }
}

// --- sgemm_nt_f32_avx2_6x16: for mid M ------------------------------------------------------
// The dot-product tiles above spend 7 loads and a final reduction per 12 FMAs. Here y^T = w x^T
// is computed as a textbook outer-product GEMM with w as the left operand: a 6x16 tile of y^T
// (6 columns of y, 16 rows) is 12 accumulators, and each step along K broadcasts 6 floats of w
// (read from its [N, K] rows as stored) against 2 vectors of x^T. x is transposed once per call
// and K block into blocks of 8 rows ([K][8] each), which costs M*K moves against M*N*K FMAs.
namespace {

constexpr int kBNr = 6;  // columns of y (rows of w) per tile
// K block. Long, so that each tile's transposed write-back is a small part of its time: with
// x^T (64 KiB) in L2 rather than L1, 1024 measured ~2% faster than 512 and ~7% faster than 256
// (M = 16..256, encoder shapes).
constexpr int64_t kBKc = 1024;

// dst[p * 8 + r] = src[r * lds + p] for r < rows (0 past rows), p < kc: one 8-row block of x
// transposed, 8x8 at a time with AVX shuffles, scalar at the edges.
void transpose_rows8(const float* src, int64_t lds, int rows, int64_t kc, float* dst) {
  int64_t p = 0;
  if (rows == 8) {
    for (; p + 8 <= kc; p += 8) {
      __m256 r[8];
      for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(src + i * lds + p);
      const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
      const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
      const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
      const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
      const __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
      const __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
      const __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
      const __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
      float* d = dst + p * 8;
      _mm256_storeu_ps(d + 0, _mm256_permute2f128_ps(s0, s4, 0x20));
      _mm256_storeu_ps(d + 8, _mm256_permute2f128_ps(s1, s5, 0x20));
      _mm256_storeu_ps(d + 16, _mm256_permute2f128_ps(s2, s6, 0x20));
      _mm256_storeu_ps(d + 24, _mm256_permute2f128_ps(s3, s7, 0x20));
      _mm256_storeu_ps(d + 32, _mm256_permute2f128_ps(s0, s4, 0x31));
      _mm256_storeu_ps(d + 40, _mm256_permute2f128_ps(s1, s5, 0x31));
      _mm256_storeu_ps(d + 48, _mm256_permute2f128_ps(s2, s6, 0x31));
      _mm256_storeu_ps(d + 56, _mm256_permute2f128_ps(s3, s7, 0x31));
    }
  }
  for (; p < kc; ++p)
    for (int r = 0; r < 8; ++r) dst[p * 8 + r] = r < rows ? src[r * lds + p] : 0.0f;
}

// y[rows, nr] (+)= x[rows, kc] w[nr, kc]^T for rows <= 16, nr <= 6, with x given as two
// transposed 8-row blocks xt0, xt1 ([kc][8] each). Always computes the full 6x16 tile (edge
// tiles point unused w rows and x blocks at valid data and drop those results): written out
// with named accumulators because GCC 12 keeps an array of them in memory here, storing all
// 12 every step (half speed).
void bcast_tile_6x16(const float* const* wr, const float* xt0, const float* xt1, int64_t kc,
                     float* y, int64_t ldy, int rows, int nr, bool accumulate, const float* next,
                     const float* far, int64_t ldw) {
  __m256 a00 = _mm256_setzero_ps(), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00;
  __m256 a30 = a00, a31 = a00, a40 = a00, a41 = a00, a50 = a00, a51 = a00;
  const float *w0 = wr[0], *w1 = wr[1], *w2 = wr[2], *w3 = wr[3], *w4 = wr[4], *w5 = wr[5];
  for (int64_t p = 0; p < kc; ++p) {
    if (next != nullptr && (p & 15) == 0) prefetch_rows<kBNr>(next, far, ldw, p);
    const __m256 x0 = _mm256_loadu_ps(xt0 + p * 8), x1 = _mm256_loadu_ps(xt1 + p * 8);
    __m256 b = _mm256_broadcast_ss(w0 + p);
    a00 = _mm256_fmadd_ps(b, x0, a00);
    a01 = _mm256_fmadd_ps(b, x1, a01);
    b = _mm256_broadcast_ss(w1 + p);
    a10 = _mm256_fmadd_ps(b, x0, a10);
    a11 = _mm256_fmadd_ps(b, x1, a11);
    b = _mm256_broadcast_ss(w2 + p);
    a20 = _mm256_fmadd_ps(b, x0, a20);
    a21 = _mm256_fmadd_ps(b, x1, a21);
    b = _mm256_broadcast_ss(w3 + p);
    a30 = _mm256_fmadd_ps(b, x0, a30);
    a31 = _mm256_fmadd_ps(b, x1, a31);
    b = _mm256_broadcast_ss(w4 + p);
    a40 = _mm256_fmadd_ps(b, x0, a40);
    a41 = _mm256_fmadd_ps(b, x1, a41);
    b = _mm256_broadcast_ss(w5 + p);
    a50 = _mm256_fmadd_ps(b, x0, a50);
    a51 = _mm256_fmadd_ps(b, x1, a51);
  }
  // t[r][i] = y[i][r]: store y^T, then write it back transposed.
  alignas(32) float t[kBNr][16];
  _mm256_store_ps(t[0], a00);
  _mm256_store_ps(t[0] + 8, a01);
  _mm256_store_ps(t[1], a10);
  _mm256_store_ps(t[1] + 8, a11);
  _mm256_store_ps(t[2], a20);
  _mm256_store_ps(t[2] + 8, a21);
  _mm256_store_ps(t[3], a30);
  _mm256_store_ps(t[3] + 8, a31);
  _mm256_store_ps(t[4], a40);
  _mm256_store_ps(t[4] + 8, a41);
  _mm256_store_ps(t[5], a50);
  _mm256_store_ps(t[5] + 8, a51);
  if (nr == kBNr && !accumulate) {  // the common case, with a constant trip count
    for (int i = 0; i < rows; ++i)
      for (int r = 0; r < kBNr; ++r) y[i * ldy + r] = t[r][i];
    return;
  }
  for (int i = 0; i < rows; ++i) {
    float* yi = y + i * ldy;
    if (accumulate) {
      for (int r = 0; r < nr; ++r) yi[r] += t[r][i];
    } else {
      for (int r = 0; r < nr; ++r) yi[r] = t[r][i];
    }
  }
}

// x^T of 16 rows of one K block, per thread (64 KiB).
float* xt_block_buffer() {
  thread_local const std::unique_ptr<float[]> buf(new float[16 * kBKc]);
  return buf.get();
}

}  // namespace

void sgemm_nt_f32_avx2_6x16(int64_t m, int64_t n, int64_t k, const float* x, int64_t ldx,
                            const float* w, int64_t ldw, float* y, int64_t ldy) {
  float* const xt = xt_block_buffer();
  for (int64_t p0 = 0; p0 < k; p0 += kBKc) {
    const int64_t kc = k - p0 < kBKc ? k - p0 : kBKc;
    // Rows outside columns: 16 rows of x^T stay in cache while the 6-row panels of w stream
    // past from L2 (w[64, 1024] is 256 KiB for the 64-column blocks ops::linear passes).
    for (int64_t i = 0; i < m; i += 16) {
      const int rows = m - i < 16 ? static_cast<int>(m - i) : 16;
      transpose_rows8(x + i * ldx + p0, ldx, rows < 8 ? rows : 8, kc, xt);
      // A block of <= 8 rows repeats its x block as the second one (ops::linear sends only whole
      // 16-row blocks here; the dot-product kernels take the rest: src/ops/linear.cc, own_gemm).
      const float* xt1 = xt;
      if (rows > 8) {
        transpose_rows8(x + (i + 8) * ldx + p0, ldx, rows - 8, kc, xt + 8 * kc);
        xt1 = xt + 8 * kc;
      }
      for (int64_t j = 0; j < n; j += kBNr) {
        const int nr = n - j < kBNr ? static_cast<int>(n - j) : kBNr;
        const float* wr[kBNr];
        for (int r = 0; r < kBNr; ++r) wr[r] = w + (j + (r < nr ? r : 0)) * ldw + p0;
        // Only the first row block brings w from memory; later ones find it in L2.
        const float* next = i == 0 && j + 2 * kBNr <= n ? w + (j + kBNr) * ldw + p0 : nullptr;
        const float* far = i == 0 && j + 4 * kBNr <= n ? w + (j + 3 * kBNr) * ldw + p0 : nullptr;
        bcast_tile_6x16(wr, xt, xt1, kc, y + i * ldy + j, ldy, rows, nr, p0 > 0, next, far, ldw);
      }
    }
  }
}

}  // namespace ember::kernels
