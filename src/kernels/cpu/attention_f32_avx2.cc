// One attention head on AVX2. K is packed once per call as K^T [head_dim, Lp] (Lp = kv_len
// rounded up to 8, zero padded) and V as dense [kv_len, head_dim] rows, so that both products
// are broadcast-FMAs over contiguous memory with no horizontal sums. Queries go in blocks of
// kRows = 6, one register tile (12 accumulators of the 16 ymm registers): the block's scores
// [6, Lp] (12 KiB at kv_len 512) stay in L1 between QK^T, the two softmax passes and PV, and
// every K^T / V load feeds 6 FMAs. That is the cache behaviour of key-block (flash) tiling
// without its online rescaling: K^T and V are read from L2 once per 6 query rows.
#include <cstring>

#include "kernels/cpu/attention_pack_kt_f32_avx.h"
#include "kernels/cpu/attention_row_blocks.h"
#include "kernels/cpu/kernels.h"
#include "kernels/cpu/vec_math_avx2.h"

namespace ember::kernels {
namespace {

constexpr int kRows = 6;

int64_t padded(int64_t kv_len) {
  return (kv_len + 7) / 8 * 8;
}

// s[r, j0 + 8c ...] = q[r, :] . kt[:, j0 + 8c ...] for R rows and C vectors of keys.
template <int R, int C>
void scores_tile(const float* q, int64_t ldq, const float* kt, int64_t lp, int64_t head_dim,
                 float* s, int64_t j0) {
  __m256 acc[R][C];
  EMBER_UNROLL
  for (int r = 0; r < R; ++r) {
    EMBER_UNROLL
    for (int c = 0; c < C; ++c) acc[r][c] = _mm256_setzero_ps();
  }
  for (int64_t d = 0; d < head_dim; ++d) {
    __m256 kv[C];
    EMBER_UNROLL
    for (int c = 0; c < C; ++c) kv[c] = _mm256_loadu_ps(kt + d * lp + j0 + 8 * c);
    EMBER_UNROLL
    for (int r = 0; r < R; ++r) {
      const __m256 b = _mm256_broadcast_ss(q + r * ldq + d);
      EMBER_UNROLL
      for (int c = 0; c < C; ++c) acc[r][c] = _mm256_fmadd_ps(b, kv[c], acc[r][c]);
    }
  }
  EMBER_UNROLL
  for (int r = 0; r < R; ++r) {
    EMBER_UNROLL
    for (int c = 0; c < C; ++c) _mm256_storeu_ps(s + r * lp + j0 + 8 * c, acc[r][c]);
  }
}

template <int R>
void scores_rows(const float* q, int64_t ldq, const float* kt, int64_t lp, int64_t head_dim,
                 float* s) {
  int64_t j0 = 0;
  for (; j0 + 16 <= lp; j0 += 16) scores_tile<R, 2>(q, ldq, kt, lp, head_dim, s, j0);
  if (j0 < lp) scores_tile<R, 1>(q, ldq, kt, lp, head_dim, s, j0);
}

// out[r, c0 ...] = inv[r] * sum_j p[r, j] v[j, c0 ...] for R rows and C vectors of columns;
// with Tail the last vector is masked to the head_dim % 8 remaining columns.
template <int R, int C, bool Tail>
void pv_tile(const float* p, int64_t lp, const float* v, int64_t ldv, int64_t kv_len,
             const float* inv, float* out, int64_t ldo, int64_t c0, __m256i mask) {
  __m256 acc[R][C];
  EMBER_UNROLL
  for (int r = 0; r < R; ++r) {
    EMBER_UNROLL
    for (int c = 0; c < C; ++c) acc[r][c] = _mm256_setzero_ps();
  }
  for (int64_t j = 0; j < kv_len; ++j) {
    const float* vj = v + j * ldv + c0;
    __m256 vv[C];
    EMBER_UNROLL
    for (int c = 0; c < C; ++c)
      vv[c] =
          (Tail && c == C - 1) ? _mm256_maskload_ps(vj + 8 * c, mask) : _mm256_loadu_ps(vj + 8 * c);
    EMBER_UNROLL
    for (int r = 0; r < R; ++r) {
      const __m256 b = _mm256_broadcast_ss(p + r * lp + j);
      EMBER_UNROLL
      for (int c = 0; c < C; ++c) acc[r][c] = _mm256_fmadd_ps(b, vv[c], acc[r][c]);
    }
  }
  EMBER_UNROLL
  for (int r = 0; r < R; ++r) {
    const __m256 scale = _mm256_set1_ps(inv[r]);
    EMBER_UNROLL
    for (int c = 0; c < C; ++c) {
      float* o = out + r * ldo + c0 + 8 * c;
      const __m256 y = _mm256_mul_ps(acc[r][c], scale);
      if (Tail && c == C - 1) {
        _mm256_maskstore_ps(o, mask, y);
      } else {
        _mm256_storeu_ps(o, y);
      }
    }
  }
}

template <int R>
void pv_rows(const float* p, int64_t lp, const float* v, int64_t ldv, int64_t kv_len,
             int64_t head_dim, const float* inv, float* out, int64_t ldo) {
  const int64_t body = head_dim - head_dim % 8;
  const __m256i mask = avx2::tail_mask(head_dim % 8);
  int64_t c0 = 0;
  for (; c0 + 16 <= body; c0 += 16)
    pv_tile<R, 2, false>(p, lp, v, ldv, kv_len, inv, out, ldo, c0, mask);
  if (c0 < body) pv_tile<R, 1, false>(p, lp, v, ldv, kv_len, inv, out, ldo, c0, mask);
  if (body < head_dim) pv_tile<R, 1, true>(p, lp, v, ldv, kv_len, inv, out, ldo, body, mask);
}

// Scales a score row, masks the padding keys to -inf, and turns it into exp(s - max);
// returns 1 / sum.
float softmax_row(float* s, int64_t kv_len, int64_t lp, float scale) {
  const __m256 vscale = _mm256_set1_ps(scale);
  const __m256 neg_inf = _mm256_set1_ps(-__builtin_inff());
  __m256 vmax = neg_inf;
  for (int64_t j = 0; j < lp; j += 8) {
    __m256 x = _mm256_mul_ps(_mm256_loadu_ps(s + j), vscale);
    if (j + 8 > kv_len) {
      x = _mm256_blendv_ps(neg_inf, x, _mm256_castsi256_ps(avx2::tail_mask(kv_len - j)));
    }
    _mm256_storeu_ps(s + j, x);
    vmax = _mm256_max_ps(vmax, x);
  }
  const __m256 max = _mm256_set1_ps(avx2::hmax(vmax));
  __m256 vsum = _mm256_setzero_ps();
  for (int64_t j = 0; j < lp; j += 8) {
    const __m256 e = avx2::exp(_mm256_sub_ps(_mm256_loadu_ps(s + j), max));
    _mm256_storeu_ps(s + j, e);
    vsum = _mm256_add_ps(vsum, e);
  }
  return 1.0f / avx2::hsum(vsum);
}

}  // namespace

size_t attention_scratch_floats_avx2(int64_t /*q_rows*/, int64_t kv_len, int64_t head_dim) {
  const int64_t lp = padded(kv_len);
  return static_cast<size_t>(lp * head_dim + kv_len * head_dim + kRows * lp);
}

void attention_head_f32_avx2(const AttentionHeadArgs& a) {
  const int64_t lp = padded(a.kv_len), dh = a.head_dim;
  float* kt = a.scratch;
  float* vp = kt + lp * dh;
  float* s = vp + a.kv_len * dh;
  // K^T [head_dim, lp]: key j of dimension d at d * lp + j.
  pack_kt_f32_8x8(a.k, a.ldk, a.kv_len, dh, lp, kt,
                  [lp](int64_t j, int64_t d) { return d * lp + j; });
  // memcpy, not an inlined copy loop: with one, GCC 12 compiled the tiles below ~20% slower.
  for (int64_t j = 0; j < a.kv_len; ++j)
    std::memcpy(vp + j * dh, a.v + j * a.ldv, static_cast<size_t>(dh) * sizeof(float));

  const bool plain = attention_is_plain(a);
  by_row_blocks<kRows>(a.q_rows, [&](int64_t i0, auto R) {
    float inv[kRows];
    scores_rows<R.value>(a.q + i0 * a.ldq, a.ldq, kt, lp, dh, s);
    for (int r = 0; r < R.value; ++r) {
      float* row = s + r * lp;
      if (plain) {
        inv[r] = softmax_row(row, a.kv_len, lp, a.scale);
      } else {
        attention_mask_row(a, i0 + r, row);  // scaled, biased and masked in place
        inv[r] = softmax_row(row, a.kv_len, lp, 1.0f);
      }
    }
    pv_rows<R.value>(s, lp, vp, dh, a.kv_len, dh, inv, a.out + i0 * a.ldo, a.ldo);
  });
}

}  // namespace ember::kernels
