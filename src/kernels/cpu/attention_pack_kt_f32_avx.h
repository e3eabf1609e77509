// K^T packing of the fp32 attention kernels (attention_f32_avx2.cc, attention_f32_avx512.cc),
// each in its own layout. Needs the AVX instructions that both files' flags include. Internal
// linkage: the header is included by files built for different ISAs.
#pragma once

#include <immintrin.h>

#include <cstdint>

namespace ember::kernels {
namespace {

// kt[at(j, d)] = k[j * ldk + d] for j < kv_len, 0 for kv_len <= j < end: 8x8 blocks transposed
// in registers (scalar for the edges), about 10x faster than element-wise strided stores.
// at(j, d) is the kernel's K^T layout; the 8 keys j0 .. j0 + 7 (j0 a multiple of 8) of one
// dimension must be contiguous in it.
template <typename At>
inline void pack_kt_f32_8x8(const float* k, int64_t ldk, int64_t kv_len, int64_t head_dim,
                            int64_t end, float* kt, At at) {
  const int64_t j_body = kv_len - kv_len % 8, d_body = head_dim - head_dim % 8;
  for (int64_t j0 = 0; j0 < j_body; j0 += 8) {
    for (int64_t d0 = 0; d0 < d_body; d0 += 8) {
      __m256 r[8];
      for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(k + (j0 + i) * ldk + d0);
      // Interleave pairs, then quads, then swap 128-bit halves: row i of the result holds
      // element i of each input row.
      __m256 t[8];
      for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
      }
      for (int i = 0; i < 8; i += 4) {
        r[i] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
        r[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
        r[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
        r[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
      }
      for (int i = 0; i < 4; ++i) {
        _mm256_storeu_ps(kt + at(j0, d0 + i), _mm256_permute2f128_ps(r[i], r[i + 4], 0x20));
        _mm256_storeu_ps(kt + at(j0, d0 + i + 4), _mm256_permute2f128_ps(r[i], r[i + 4], 0x31));
      }
    }
    for (int64_t d = d_body; d < head_dim; ++d)
      for (int64_t j = j0; j < j0 + 8; ++j) kt[at(j, d)] = k[j * ldk + d];
  }
  for (int64_t d = 0; d < head_dim; ++d) {
    for (int64_t j = j_body; j < kv_len; ++j) kt[at(j, d)] = k[j * ldk + d];
    for (int64_t j = kv_len; j < end; ++j) kt[at(j, d)] = 0.0f;
  }
}

}  // namespace
}  // namespace ember::kernels
