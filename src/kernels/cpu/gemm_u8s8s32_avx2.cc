// u8 x s8 GEMM with AVX2: each tile is 4 activation rows x 2 weight rows; along K, 32 bytes
// per step: vpmaddubsw (u8 * s8 pairs -> s16, saturating) then vpmaddwd with ones (-> s32),
// accumulated in 8 registers and reduced horizontally once per tile. Weights stay in the
// Linear layout [N, K], the same buffer oneDNN reads, so no second packed copy is kept.
#include <immintrin.h>

#include <algorithm>

#include "kernels/cpu/kernels_int8.h"

namespace ember::kernels {
namespace {

constexpr int kRows = 4;
constexpr int kCols = 2;

// The pair rule of vpmaddubsw, for the K tail: sum of the pairs (k, k+1), each saturated.
int32_t dot_pairs_saturating(const uint8_t* a, const int8_t* w, int64_t k) {
  int32_t sum = 0;
  for (int64_t p = 0; p < k; p += 2) {
    int32_t s = static_cast<int32_t>(a[p]) * w[p];
    if (p + 1 < k) s += static_cast<int32_t>(a[p + 1]) * w[p + 1];
    sum += std::clamp(s, -32768, 32767);
  }
  return sum;
}

// [A, B, C, D, E, F, G, H] (8 lanes each) -> the 8 lane sums, in that order.
inline __m256i reduce8(const __m256i v[8]) {
  const __m256i ab = _mm256_hadd_epi32(v[0], v[1]);
  const __m256i cd = _mm256_hadd_epi32(v[2], v[3]);
  const __m256i ef = _mm256_hadd_epi32(v[4], v[5]);
  const __m256i gh = _mm256_hadd_epi32(v[6], v[7]);
  const __m256i abcd = _mm256_hadd_epi32(ab, cd);
  const __m256i efgh = _mm256_hadd_epi32(ef, gh);
  const __m256i lo = _mm256_permute2x128_si256(abcd, efgh, 0x20);
  const __m256i hi = _mm256_permute2x128_si256(abcd, efgh, 0x31);
  return _mm256_add_epi32(lo, hi);
}

}  // namespace

void gemm_u8s8s32_avx2_4x2(int64_t m, int64_t n, int64_t k, const uint8_t* a, int64_t lda,
                           const int8_t* w, int64_t ldw, int32_t* c, int64_t ldc) {
  if (m <= 0 || n <= 0) return;
  const __m256i ones = _mm256_set1_epi16(1);
  const int64_t k32 = k & ~int64_t{31};
  // Columns per block, so that a block of weight rows (~256 KiB) stays in L2 while every
  // activation row passes over it.
  const int64_t block = std::max<int64_t>(kCols, ((256 * 1024) / std::max<int64_t>(k, 1)) & ~1);
  for (int64_t jb = 0; jb < n; jb += block) {
    const int64_t je = std::min(n, jb + block);
    for (int64_t i0 = 0; i0 < m; i0 += kRows) {
      // Partial tiles repeat the last row/column and store only the valid part.
      const uint8_t* ar[kRows];
      for (int r = 0; r < kRows; ++r) ar[r] = a + std::min(i0 + r, m - 1) * lda;
      for (int64_t j0 = jb; j0 < je; j0 += kCols) {
        const int8_t* w0 = w + j0 * ldw;
        const int8_t* w1 = w + std::min(j0 + 1, n - 1) * ldw;
        __m256i acc[kRows * kCols];
        for (auto& v : acc) v = _mm256_setzero_si256();
        for (int64_t p = 0; p < k32; p += 32) {
          const __m256i b0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w0 + p));
          const __m256i b1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w1 + p));
          for (int r = 0; r < kRows; ++r) {
            const __m256i av = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ar[r] + p));
            acc[r * kCols] = _mm256_add_epi32(
                acc[r * kCols], _mm256_madd_epi16(_mm256_maddubs_epi16(av, b0), ones));
            acc[r * kCols + 1] = _mm256_add_epi32(
                acc[r * kCols + 1], _mm256_madd_epi16(_mm256_maddubs_epi16(av, b1), ones));
          }
        }
        alignas(32) int32_t out[kRows * kCols];
        _mm256_store_si256(reinterpret_cast<__m256i*>(out), reduce8(acc));
        if (k32 < k) {
          for (int r = 0; r < kRows; ++r) {
            out[r * kCols] += dot_pairs_saturating(ar[r] + k32, w0 + k32, k - k32);
            out[r * kCols + 1] += dot_pairs_saturating(ar[r] + k32, w1 + k32, k - k32);
          }
        }
        const int rows = static_cast<int>(std::min<int64_t>(kRows, m - i0));
        const int cols = static_cast<int>(std::min<int64_t>(kCols, n - j0));
        for (int r = 0; r < rows; ++r)
          for (int cc = 0; cc < cols; ++cc) c[(i0 + r) * ldc + j0 + cc] = out[r * kCols + cc];
      }
    }
  }
}

}  // namespace ember::kernels
