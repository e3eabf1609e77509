// fp32 GEMM kernels for AVX-512, y[M, N] = x[M, K] w[N, K]^T on one thread, for the small and
// mid M of short requests, where oneDNN 2.6 is slow (docs/gemm.md) or spends its time in
// per-call overhead. ops::linear uses the dot-product kernel for M < 16 and the rows past a
// multiple of 16 (the others go to sgemm_nt_f32_avx2_6x16); sgemm_nt_f32_avx512_6x32 (below)
// is measured in the bench but not used: on Zen 4 it was no faster than the AVX2 6x16.
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

// --- sgemm_nt_f32_avx512_6x32: outer-product tiles for mid M ---------------------------------
// The AVX-512 form of sgemm_nt_f32_avx2_6x16 (see sgemm_f32_avx2.cc for the reasoning): y^T =
// w x^T with w broadcast from its [N, K] rows as stored and x transposed per call into blocks
// of 16 rows ([kc][16] each, one zmm per step along K). A 6x32 tile is 12 zmm accumulators;
// a last 16-row block takes a 12x16 tile (or the 6x32 one with its x block repeated when w
// rows are a multiple of 4 KiB apart: 12 such rows share one 8-way L1 set).
namespace {

constexpr int64_t kOpKc = 512;  // K block: 64 KiB of x^T; long, to amortize the write-back

// dst[p * 16 + r] = src[r * lds + p] for r < rows (0 past rows), p < kc: 16 rows of x
// transposed, as two 8x8 AVX transposes per 8 steps of K, scalar at the K tail.
void transpose_rows16(const float* src, int64_t lds, int rows, int64_t kc, float* dst) {
  int64_t p = 0;
  if (rows == 16) {
    for (; p + 8 <= kc; p += 8) {
      for (int h = 0; h < 2; ++h) {
        __m256 r[8];
        for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(src + (8 * h + i) * lds + p);
        const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
        const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
        const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
        const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
        const __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
        const __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
        const __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
        const __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
        float* d = dst + p * 16 + 8 * h;
        _mm256_storeu_ps(d + 0 * 16, _mm256_permute2f128_ps(s0, s4, 0x20));
        _mm256_storeu_ps(d + 1 * 16, _mm256_permute2f128_ps(s1, s5, 0x20));
        _mm256_storeu_ps(d + 2 * 16, _mm256_permute2f128_ps(s2, s6, 0x20));
        _mm256_storeu_ps(d + 3 * 16, _mm256_permute2f128_ps(s3, s7, 0x20));
        _mm256_storeu_ps(d + 4 * 16, _mm256_permute2f128_ps(s0, s4, 0x31));
        _mm256_storeu_ps(d + 5 * 16, _mm256_permute2f128_ps(s1, s5, 0x31));
        _mm256_storeu_ps(d + 6 * 16, _mm256_permute2f128_ps(s2, s6, 0x31));
        _mm256_storeu_ps(d + 7 * 16, _mm256_permute2f128_ps(s3, s7, 0x31));
      }
    }
  }
  for (; p < kc; ++p)
    for (int r = 0; r < 16; ++r) dst[p * 16 + r] = r < rows ? src[r * lds + p] : 0.0f;
}

// y[i][r] (+)= t[r][i] for i < rows, r < nr.
template <int TR, int TC>
void write_back(const float (&t)[TR][TC], float* y, int64_t ldy, int rows, int nr,
                bool accumulate) {
  for (int i = 0; i < rows; ++i) {
    float* yi = y + i * ldy;
    if (accumulate) {
      for (int r = 0; r < nr; ++r) yi[r] += t[r][i];
    } else {
      for (int r = 0; r < nr; ++r) yi[r] = t[r][i];
    }
  }
}

// y[rows, nr] (+)= x w^T for rows <= 32, nr <= 6, x as two x^T blocks. Named accumulators:
// GCC 12 keeps an array of them in memory here (see sgemm_f32_avx2.cc).
void tile_6x32(const float* const* wr, const float* xt0, const float* xt1, int64_t kc, float* y,
               int64_t ldy, int rows, int nr, bool accumulate) {
  __m512 a00 = _mm512_setzero_ps(), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00;
  __m512 a30 = a00, a31 = a00, a40 = a00, a41 = a00, a50 = a00, a51 = a00;
  const float *w0 = wr[0], *w1 = wr[1], *w2 = wr[2], *w3 = wr[3], *w4 = wr[4], *w5 = wr[5];
  for (int64_t p = 0; p < kc; ++p) {
    const __m512 x0 = _mm512_loadu_ps(xt0 + p * 16), x1 = _mm512_loadu_ps(xt1 + p * 16);
    __m512 b = _mm512_set1_ps(w0[p]);
    a00 = _mm512_fmadd_ps(b, x0, a00);
    a01 = _mm512_fmadd_ps(b, x1, a01);
    b = _mm512_set1_ps(w1[p]);
    a10 = _mm512_fmadd_ps(b, x0, a10);
    a11 = _mm512_fmadd_ps(b, x1, a11);
    b = _mm512_set1_ps(w2[p]);
    a20 = _mm512_fmadd_ps(b, x0, a20);
    a21 = _mm512_fmadd_ps(b, x1, a21);
    b = _mm512_set1_ps(w3[p]);
    a30 = _mm512_fmadd_ps(b, x0, a30);
    a31 = _mm512_fmadd_ps(b, x1, a31);
    b = _mm512_set1_ps(w4[p]);
    a40 = _mm512_fmadd_ps(b, x0, a40);
    a41 = _mm512_fmadd_ps(b, x1, a41);
    b = _mm512_set1_ps(w5[p]);
    a50 = _mm512_fmadd_ps(b, x0, a50);
    a51 = _mm512_fmadd_ps(b, x1, a51);
  }
  alignas(64) float t[6][32];
  _mm512_store_ps(t[0], a00);
  _mm512_store_ps(t[0] + 16, a01);
  _mm512_store_ps(t[1], a10);
  _mm512_store_ps(t[1] + 16, a11);
  _mm512_store_ps(t[2], a20);
  _mm512_store_ps(t[2] + 16, a21);
  _mm512_store_ps(t[3], a30);
  _mm512_store_ps(t[3] + 16, a31);
  _mm512_store_ps(t[4], a40);
  _mm512_store_ps(t[4] + 16, a41);
  _mm512_store_ps(t[5], a50);
  _mm512_store_ps(t[5] + 16, a51);
  write_back(t, y, ldy, rows, nr, accumulate);
}

// The same for one 16-row block: 12 columns x 16 rows.
void tile_12x16(const float* const* wr, const float* xt0, int64_t kc, float* y, int64_t ldy,
                int rows, int nr, bool accumulate) {
  __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0;
  __m512 a6 = a0, a7 = a0, a8 = a0, a9 = a0, a10 = a0, a11 = a0;
  const float *w0 = wr[0], *w1 = wr[1], *w2 = wr[2], *w3 = wr[3], *w4 = wr[4], *w5 = wr[5];
  const float *w6 = wr[6], *w7 = wr[7], *w8 = wr[8], *w9 = wr[9], *w10 = wr[10], *w11 = wr[11];
  for (int64_t p = 0; p < kc; ++p) {
    const __m512 x0 = _mm512_loadu_ps(xt0 + p * 16);
    a0 = _mm512_fmadd_ps(_mm512_set1_ps(w0[p]), x0, a0);
    a1 = _mm512_fmadd_ps(_mm512_set1_ps(w1[p]), x0, a1);
    a2 = _mm512_fmadd_ps(_mm512_set1_ps(w2[p]), x0, a2);
    a3 = _mm512_fmadd_ps(_mm512_set1_ps(w3[p]), x0, a3);
    a4 = _mm512_fmadd_ps(_mm512_set1_ps(w4[p]), x0, a4);
    a5 = _mm512_fmadd_ps(_mm512_set1_ps(w5[p]), x0, a5);
    a6 = _mm512_fmadd_ps(_mm512_set1_ps(w6[p]), x0, a6);
    a7 = _mm512_fmadd_ps(_mm512_set1_ps(w7[p]), x0, a7);
    a8 = _mm512_fmadd_ps(_mm512_set1_ps(w8[p]), x0, a8);
    a9 = _mm512_fmadd_ps(_mm512_set1_ps(w9[p]), x0, a9);
    a10 = _mm512_fmadd_ps(_mm512_set1_ps(w10[p]), x0, a10);
    a11 = _mm512_fmadd_ps(_mm512_set1_ps(w11[p]), x0, a11);
  }
  alignas(64) float t[12][16];
  _mm512_store_ps(t[0], a0);
  _mm512_store_ps(t[1], a1);
  _mm512_store_ps(t[2], a2);
  _mm512_store_ps(t[3], a3);
  _mm512_store_ps(t[4], a4);
  _mm512_store_ps(t[5], a5);
  _mm512_store_ps(t[6], a6);
  _mm512_store_ps(t[7], a7);
  _mm512_store_ps(t[8], a8);
  _mm512_store_ps(t[9], a9);
  _mm512_store_ps(t[10], a10);
  _mm512_store_ps(t[11], a11);
  write_back(t, y, ldy, rows, nr, accumulate);
}

// x^T of 32 rows of one K block, per thread (64 KiB).
float* xt32_buffer() {
  thread_local const std::unique_ptr<float[]> buf(new float[32 * kOpKc]);
  return buf.get();
}

}  // namespace

void sgemm_nt_f32_avx512_6x32(int64_t m, int64_t n, int64_t k, const float* x, int64_t ldx,
                              const float* w, int64_t ldw, float* y, int64_t ldy) {
  float* const xt = xt32_buffer();
  const bool w_rows_alias = (ldw * static_cast<int64_t>(sizeof(float))) % 4096 == 0;
  for (int64_t p0 = 0; p0 < k; p0 += kOpKc) {
    const int64_t kc = k - p0 < kOpKc ? k - p0 : kOpKc;
    // Rows outside columns: 32 rows of x^T stay in L1/L2 while 6-row panels of w stream past.
    for (int64_t i = 0; i < m; i += 32) {
      const int rows = m - i < 32 ? static_cast<int>(m - i) : 32;
      transpose_rows16(x + i * ldx + p0, ldx, rows < 16 ? rows : 16, kc, xt);
      if (rows <= 16 && !w_rows_alias) {
        for (int64_t j = 0; j < n; j += 12) {
          const int nr = n - j < 12 ? static_cast<int>(n - j) : 12;
          const float* wr[12];
          for (int r = 0; r < 12; ++r) wr[r] = w + (j + (r < nr ? r : 0)) * ldw + p0;
          tile_12x16(wr, xt, kc, y + i * ldy + j, ldy, rows, nr, p0 > 0);
        }
        continue;
      }
      const float* xt1 = xt;
      if (rows > 16) {
        transpose_rows16(x + (i + 16) * ldx + p0, ldx, rows - 16, kc, xt + 16 * kc);
        xt1 = xt + 16 * kc;
      }
      for (int64_t j = 0; j < n; j += 6) {
        const int nr = n - j < 6 ? static_cast<int>(n - j) : 6;
        const float* wr[6];
        for (int r = 0; r < 6; ++r) wr[r] = w + (j + (r < nr ? r : 0)) * ldw + p0;
        tile_6x32(wr, xt, xt1, kc, y + i * ldy + j, ldy, rows, nr, p0 > 0);
      }
    }
  }
}

}  // namespace ember::kernels
