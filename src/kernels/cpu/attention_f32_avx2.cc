// One attention head on AVX2. K is packed once per call as K^T [head_dim, Lp] (Lp = kv_len
// rounded up to 8, zero padded) so that scores are broadcast-FMAs over contiguous keys, with
// no horizontal sums. Queries go in blocks of kBlockRows: scores [kBlockRows, Lp] (at most
// 64 KiB for kv_len 512) stay in L1/L2; P V is broadcast-FMAs over contiguous V rows.
#include <type_traits>

#include "kernels/cpu/kernels.h"
#include "kernels/cpu/vec_math_avx2.h"

namespace ember::kernels {
namespace {

constexpr int64_t kBlockRows = 32;

int64_t padded(int64_t kv_len) {
  return (kv_len + 7) / 8 * 8;
}

// s[r, j0 + 8c ...] = q[r, :] . kt[:, j0 + 8c ...] for R rows and C vectors of keys.
template <int R, int C>
void scores_tile(const float* q, int64_t ldq, const float* kt, int64_t lp, int64_t head_dim,
                 float* s, int64_t j0) {
  __m256 acc[R][C];
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) acc[r][c] = _mm256_setzero_ps();
  for (int64_t d = 0; d < head_dim; ++d) {
    __m256 kv[C];
    for (int c = 0; c < C; ++c) kv[c] = _mm256_loadu_ps(kt + d * lp + j0 + 8 * c);
    for (int r = 0; r < R; ++r) {
      const __m256 b = _mm256_broadcast_ss(q + r * ldq + d);
      for (int c = 0; c < C; ++c) acc[r][c] = _mm256_fmadd_ps(b, kv[c], acc[r][c]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) _mm256_storeu_ps(s + r * lp + j0 + 8 * c, acc[r][c]);
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
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) acc[r][c] = _mm256_setzero_ps();
  for (int64_t j = 0; j < kv_len; ++j) {
    const float* vj = v + j * ldv + c0;
    __m256 vv[C];
    for (int c = 0; c < C; ++c)
      vv[c] =
          (Tail && c == C - 1) ? _mm256_maskload_ps(vj + 8 * c, mask) : _mm256_loadu_ps(vj + 8 * c);
    for (int r = 0; r < R; ++r) {
      const __m256 b = _mm256_broadcast_ss(p + r * lp + j);
      for (int c = 0; c < C; ++c) acc[r][c] = _mm256_fmadd_ps(b, vv[c], acc[r][c]);
    }
  }
  for (int r = 0; r < R; ++r) {
    const __m256 scale = _mm256_set1_ps(inv[r]);
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

// kt[d, j] = k[j, d] for j < kv_len, zero for kv_len <= j < lp: 8x8 blocks transposed in
// registers (scalar for the edges), about 10x faster than element-wise strided stores.
void pack_kt(const float* k, int64_t ldk, int64_t kv_len, int64_t head_dim, float* kt, int64_t lp) {
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
        _mm256_storeu_ps(kt + (d0 + i) * lp + j0, _mm256_permute2f128_ps(r[i], r[i + 4], 0x20));
        _mm256_storeu_ps(kt + (d0 + i + 4) * lp + j0, _mm256_permute2f128_ps(r[i], r[i + 4], 0x31));
      }
    }
    for (int64_t d = d_body; d < head_dim; ++d)
      for (int64_t j = j0; j < j0 + 8; ++j) kt[d * lp + j] = k[j * ldk + d];
  }
  for (int64_t d = 0; d < head_dim; ++d) {
    for (int64_t j = j_body; j < kv_len; ++j) kt[d * lp + j] = k[j * ldk + d];
    for (int64_t j = kv_len; j < lp; ++j) kt[d * lp + j] = 0.0f;
  }
}

template <typename Fn>
void by_rows_of_4(int64_t rows, Fn&& fn) {
  int64_t i = 0;
  for (; i + 4 <= rows; i += 4) fn(i, std::integral_constant<int, 4>{});
  switch (rows - i) {
    case 3:
      fn(i, std::integral_constant<int, 3>{});
      break;
    case 2:
      fn(i, std::integral_constant<int, 2>{});
      break;
    case 1:
      fn(i, std::integral_constant<int, 1>{});
      break;
    default:
      break;
  }
}

}  // namespace

size_t attention_scratch_floats_avx2(int64_t q_rows, int64_t kv_len, int64_t head_dim) {
  const int64_t rows = q_rows < kBlockRows ? q_rows : kBlockRows;
  return static_cast<size_t>(padded(kv_len) * (head_dim + rows));
}

void attention_head_f32_avx2(const AttentionHeadArgs& a) {
  const int64_t lp = padded(a.kv_len);
  float* kt = a.scratch;
  float* s = a.scratch + a.head_dim * lp;
  pack_kt(a.k, a.ldk, a.kv_len, a.head_dim, kt, lp);

  float inv[kBlockRows];
  for (int64_t i0 = 0; i0 < a.q_rows; i0 += kBlockRows) {
    const int64_t rows = a.q_rows - i0 < kBlockRows ? a.q_rows - i0 : kBlockRows;
    const float* q = a.q + i0 * a.ldq;
    by_rows_of_4(rows, [&](int64_t r, auto R) {
      scores_rows<R.value>(q + r * a.ldq, a.ldq, kt, lp, a.head_dim, s + r * lp);
    });
    for (int64_t r = 0; r < rows; ++r) inv[r] = softmax_row(s + r * lp, a.kv_len, lp, a.scale);
    by_rows_of_4(rows, [&](int64_t r, auto R) {
      pv_rows<R.value>(s + r * lp, lp, a.v, a.ldv, a.kv_len, a.head_dim, inv + r,
                       a.out + (i0 + r) * a.ldo, a.ldo);
    });
  }
}

}  // namespace ember::kernels
