// One attention head on AVX-512. K is packed once per call as K^T in panels of 32 keys,
// [Lp / 32][head_dim][32] (Lp = kv_len rounded up to 32, zero padded), and V as dense
// [kv_len, head_dim] rows, so that both products are broadcast-FMAs over contiguous memory:
// a score tile of 32 keys reads one contiguous panel (head_dim x 128 bytes) rather than
// head_dim rows a whole K^T row apart, which at long lengths (a 4 KiB multiple apart) all
// fall into the same L1 set. Queries go in blocks of kRows = 8, one register tile: the
// block's scores [8, Lp] (16 KiB at kv_len 512) stay in L1 between QK^T, the two softmax
// passes and PV, and every K^T / V load feeds 8 FMAs, so each K^T and V element is read from
// L2 once per 8 query rows. Once K^T and V outgrow L2 (kv_len x head_dim >= 2^17), keys go in
// blocks of 512 with an online softmax (flash attention's order: key blocks outside, query
// blocks inside, the output rescaled as the row max grows), so a block stays in L2 for all of
// a task's queries. Memory stays linear in length either way: no [rows, kv_len] buffer.
// GCC 12 reports its own _mm512_undefined_* placeholders inside intrinsics as uninitialized
// once they are inlined; they are not our variables.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <type_traits>

#include "kernels/cpu/kernels.h"

// Fully unrolled register tiles: without it GCC keeps the accumulator arrays on the stack
// and stores every accumulator after each FMA (store-bound, ~2x slower).
#if defined(__clang__)
#define EMBER_UNROLL _Pragma("unroll")
#else
#define EMBER_UNROLL _Pragma("GCC unroll 16")
#endif

namespace ember::kernels {
namespace {

constexpr int kRows = 8;
constexpr int64_t kPanel = 32;  // keys per K^T panel
// Key-block (flash) tiling with an online softmax once a head's packed K^T and V (kv_len x
// head_dim x 8 bytes) outgrow L2 (1 MiB per core on the hosts measured): then the 8-row query
// blocks would each stream all of K and V from L3. A block of kKeyBlock keys (2 x 128 KiB at
// head_dim 64) stays in L2 across all of a task's query blocks. Below the threshold the
// two-pass softmax over whole rows is as fast and does less work.
constexpr int64_t kKeyBlock = 512;
constexpr int64_t kFlashMinKeyFloats = int64_t{1} << 17;  // kv_len x head_dim

// The score rows' stride (and the softmax's extent): kv_len rounded up to 16.
int64_t padded(int64_t kv_len) {
  return (kv_len + 15) / 16 * 16;
}

// K^T's extent: kv_len rounded up to whole panels.
int64_t panel_padded(int64_t kv_len) {
  return (kv_len + kPanel - 1) / kPanel * kPanel;
}

// Where key j, dimension d of K^T is.
inline int64_t kt_at(int64_t j, int64_t d, int64_t head_dim) {
  return j / kPanel * kPanel * head_dim + d * kPanel + j % kPanel;
}

__mmask16 tail_mask(int64_t n) {
  return static_cast<__mmask16>((1u << n) - 1u);
}

// e^x on 16 floats: the AVX2 kernel's method and coefficients (vec_math_avx2.h), ~2 ulp;
// x < -87.3 (including -inf) gives 0.
inline __m512 exp16(__m512 x) {
  const __m512 lo = _mm512_set1_ps(-87.33654f);
  const __mmask16 underflow = _mm512_cmp_ps_mask(x, lo, _CMP_LT_OQ);
  x = _mm512_min_ps(_mm512_max_ps(x, lo), _mm512_set1_ps(88.0f));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693145752f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(1.42860682e-6f), r);
  static constexpr float kTaylor[] = {1.f / 5040, 1.f / 720, 1.f / 120, 1.f / 24,
                                      1.f / 6,    0.5f,      1.f,       1.f};
  __m512 p = _mm512_set1_ps(kTaylor[0]);
  for (size_t i = 1; i < sizeof(kTaylor) / sizeof(kTaylor[0]); ++i)
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kTaylor[i]));
  const __m512i bits =
      _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23);
  return _mm512_maskz_mul_ps(static_cast<__mmask16>(~underflow), p, _mm512_castsi512_ps(bits));
}

// s[r, j0 + 16c ...] = q[r, :] . kt[:, j0 + 16c ...] for R rows and C vectors of keys
// (j0 a panel's first key).
template <int R, int C>
void scores_tile(const float* q, int64_t ldq, const float* kt, int64_t lp, int64_t head_dim,
                 float* s, int64_t j0) {
  const float* panel = kt + j0 * head_dim;
  __m512 acc[R][C];
  EMBER_UNROLL
  for (int r = 0; r < R; ++r) {
    EMBER_UNROLL
    for (int c = 0; c < C; ++c) acc[r][c] = _mm512_setzero_ps();
  }
  for (int64_t d = 0; d < head_dim; ++d) {
    __m512 kv[C];
    EMBER_UNROLL
    for (int c = 0; c < C; ++c) kv[c] = _mm512_loadu_ps(panel + d * kPanel + 16 * c);
    EMBER_UNROLL
    for (int r = 0; r < R; ++r) {
      const __m512 b = _mm512_set1_ps(q[r * ldq + d]);
      EMBER_UNROLL
      for (int c = 0; c < C; ++c) acc[r][c] = _mm512_fmadd_ps(b, kv[c], acc[r][c]);
    }
  }
  EMBER_UNROLL
  for (int r = 0; r < R; ++r) {
    EMBER_UNROLL
    for (int c = 0; c < C; ++c) _mm512_storeu_ps(s + r * lp + j0 + 16 * c, acc[r][c]);
  }
}

template <int R>
void scores_rows(const float* q, int64_t ldq, const float* kt, int64_t lp, int64_t head_dim,
                 float* s) {
  int64_t j0 = 0;
  for (; j0 + kPanel <= lp; j0 += kPanel) scores_tile<R, 2>(q, ldq, kt, lp, head_dim, s, j0);
  if (j0 < lp) scores_tile<R, 1>(q, ldq, kt, lp, head_dim, s, j0);
}

// What a p x V tile does with the output rows. kFinal: out = factor[r] * sum_j p[r, j] v[j] over
// the whole key range (factor: the softmax's 1 / sum). kBlock: the flash update by one key
// block, out = factor[r] * out + sum_j p[r, j] v[j] (factor: exp(m_old - m); out taken as 0 for
// the first block).
enum class PvMode { kFinal, kBlock };

// out[r, c0 + 16c ...] for R rows and C vectors of columns, as Mode says; with Tail the last
// vector is masked to the head_dim % 16 remaining columns.
template <int R, int C, bool Tail, PvMode Mode>
void pv_tile(const float* p, int64_t lp, const float* vp, int64_t head_dim, int64_t kv_len,
             const float* factor, bool first, float* out, int64_t ldo, int64_t c0, __mmask16 mask) {
  __m512 acc[R][C];
  EMBER_UNROLL
  for (int r = 0; r < R; ++r) {
    EMBER_UNROLL
    for (int c = 0; c < C; ++c) {
      if (Mode == PvMode::kFinal || first) {
        acc[r][c] = _mm512_setzero_ps();
      } else {
        const float* o = out + r * ldo + c0 + 16 * c;
        const __m512 old =
            (Tail && c == C - 1) ? _mm512_maskz_loadu_ps(mask, o) : _mm512_loadu_ps(o);
        acc[r][c] = _mm512_mul_ps(old, _mm512_set1_ps(factor[r]));
      }
    }
  }
  for (int64_t j = 0; j < kv_len; ++j) {
    const float* vj = vp + j * head_dim + c0;
    __m512 vv[C];
    EMBER_UNROLL
    for (int c = 0; c < C; ++c)
      vv[c] = (Tail && c == C - 1) ? _mm512_maskz_loadu_ps(mask, vj + 16 * c)
                                   : _mm512_loadu_ps(vj + 16 * c);
    EMBER_UNROLL
    for (int r = 0; r < R; ++r) {
      const __m512 b = _mm512_set1_ps(p[r * lp + j]);
      EMBER_UNROLL
      for (int c = 0; c < C; ++c) acc[r][c] = _mm512_fmadd_ps(b, vv[c], acc[r][c]);
    }
  }
  EMBER_UNROLL
  for (int r = 0; r < R; ++r) {
    const __m512 scale = _mm512_set1_ps(factor[r]);
    EMBER_UNROLL
    for (int c = 0; c < C; ++c) {
      float* o = out + r * ldo + c0 + 16 * c;
      const __m512 y = Mode == PvMode::kFinal ? _mm512_mul_ps(acc[r][c], scale) : acc[r][c];
      if (Tail && c == C - 1) {
        _mm512_mask_storeu_ps(o, mask, y);
      } else {
        _mm512_storeu_ps(o, y);
      }
    }
  }
}

template <int R, PvMode Mode>
void pv_rows(const float* p, int64_t lp, const float* vp, int64_t kv_len, int64_t head_dim,
             const float* factor, bool first, float* out, int64_t ldo) {
  const int64_t body = head_dim - head_dim % 16;
  const __mmask16 mask = tail_mask(head_dim % 16);
  int64_t c0 = 0;
  for (; c0 + 32 <= body; c0 += 32)
    pv_tile<R, 2, false, Mode>(p, lp, vp, head_dim, kv_len, factor, first, out, ldo, c0, mask);
  if (c0 < body) {
    if (body < head_dim) {  // one full vector and the tail in one pass over p
      pv_tile<R, 2, true, Mode>(p, lp, vp, head_dim, kv_len, factor, first, out, ldo, c0, mask);
      return;
    }
    pv_tile<R, 1, false, Mode>(p, lp, vp, head_dim, kv_len, factor, first, out, ldo, c0, mask);
  }
  if (body < head_dim)
    pv_tile<R, 1, true, Mode>(p, lp, vp, head_dim, kv_len, factor, first, out, ldo, body, mask);
}

// Scales a score row in place, masks the padding keys (kv_len..lp) to -inf; returns its max.
float scale_mask_max(float* s, int64_t kv_len, int64_t lp, float scale) {
  const __m512 vscale = _mm512_set1_ps(scale);
  const __m512 neg_inf = _mm512_set1_ps(-__builtin_inff());
  __m512 vmax = neg_inf;
  for (int64_t j = 0; j < lp; j += 16) {
    __m512 x = _mm512_mul_ps(_mm512_loadu_ps(s + j), vscale);
    if (j + 16 > kv_len) x = _mm512_mask_blend_ps(tail_mask(kv_len - j), neg_inf, x);
    _mm512_storeu_ps(s + j, x);
    vmax = _mm512_max_ps(vmax, x);
  }
  return _mm512_reduce_max_ps(vmax);
}

// Turns a scaled score row into exp(s - max) in place; returns its sum.
float exp_sum(float* s, int64_t lp, float max_value) {
  const __m512 max = _mm512_set1_ps(max_value);
  __m512 vsum = _mm512_setzero_ps();
  for (int64_t j = 0; j < lp; j += 16) {
    const __m512 e = exp16(_mm512_sub_ps(_mm512_loadu_ps(s + j), max));
    _mm512_storeu_ps(s + j, e);
    vsum = _mm512_add_ps(vsum, e);
  }
  return _mm512_reduce_add_ps(vsum);
}

// One key block of a score row, online: scales it, masks the padding keys to -inf, raises the
// running max m to the block's, turns the block into exp(s - m) and adds it to the running sum
// l (rescaled to the new max); returns the factor exp(m_old - m) for the row's output so far.
float online_softmax_block(float* s, int64_t kv_len, int64_t lp, float scale, float& m, float& l) {
  const float m_new = std::max(m, scale_mask_max(s, kv_len, lp, scale));
  const float alpha = std::exp(m - m_new);  // 0 on the first block (m = -inf)
  l = l * alpha + exp_sum(s, lp, m_new);
  m = m_new;
  return alpha;
}

// Scales a score row, masks the padding keys to -inf, and turns it into exp(s - max);
// returns 1 / sum.
float softmax_row(float* s, int64_t kv_len, int64_t lp, float scale) {
  return 1.0f / exp_sum(s, lp, scale_mask_max(s, kv_len, lp, scale));
}

// K^T in panels (kt_at): k[j, d] for j < kv_len, zero up to the last panel's end, through the
// AVX2 kernel's 8x8 in-register transposes (packing is a few percent of a task; not worth
// 16x16 here). An 8-key block never straddles a panel.
void pack_kt(const float* k, int64_t ldk, int64_t kv_len, int64_t head_dim, float* kt) {
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
        _mm256_storeu_ps(kt + kt_at(j0, d0 + i, head_dim),
                         _mm256_permute2f128_ps(r[i], r[i + 4], 0x20));
        _mm256_storeu_ps(kt + kt_at(j0, d0 + i + 4, head_dim),
                         _mm256_permute2f128_ps(r[i], r[i + 4], 0x31));
      }
    }
    for (int64_t d = d_body; d < head_dim; ++d)
      for (int64_t j = j0; j < j0 + 8; ++j) kt[kt_at(j, d, head_dim)] = k[j * ldk + d];
  }
  const int64_t end = panel_padded(kv_len);
  for (int64_t d = 0; d < head_dim; ++d) {
    for (int64_t j = j_body; j < kv_len; ++j) kt[kt_at(j, d, head_dim)] = k[j * ldk + d];
    for (int64_t j = kv_len; j < end; ++j) kt[kt_at(j, d, head_dim)] = 0.0f;
  }
}

// vp[j, :] = v[j, :]: dense rows (inline: a memcpy call per 128-byte row costs more than
// the copy).
void pack_v(const float* v, int64_t ldv, int64_t kv_len, int64_t head_dim, float* vp) {
  const int64_t body = head_dim - head_dim % 16;
  const __mmask16 mask = tail_mask(head_dim % 16);
  for (int64_t j = 0; j < kv_len; ++j) {
    const float* src = v + j * ldv;
    float* dst = vp + j * head_dim;
    for (int64_t c = 0; c < body; c += 16) _mm512_storeu_ps(dst + c, _mm512_loadu_ps(src + c));
    if (body < head_dim)
      _mm512_mask_storeu_ps(dst + body, mask, _mm512_maskz_loadu_ps(mask, src + body));
  }
}

// Runs fn(r, R) over row blocks of kRows and then the remainder as one block.
template <typename Fn>
void by_row_blocks(int64_t rows, Fn&& fn) {
  int64_t i = 0;
  for (; i + kRows <= rows; i += kRows) fn(i, std::integral_constant<int, kRows>{});
  switch (rows - i) {
    case 7:
      fn(i, std::integral_constant<int, 7>{});
      break;
    case 6:
      fn(i, std::integral_constant<int, 6>{});
      break;
    case 5:
      fn(i, std::integral_constant<int, 5>{});
      break;
    case 4:
      fn(i, std::integral_constant<int, 4>{});
      break;
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

size_t attention_scratch_floats_avx512(int64_t q_rows, int64_t kv_len, int64_t head_dim) {
  const int64_t lp = padded(kv_len);
  // K^T panels, V rows, one query block's score rows, and the running max and sum per query
  // row of the key-block path.
  return static_cast<size_t>(panel_padded(kv_len) * head_dim + kv_len * head_dim + kRows * lp +
                             2 * q_rows);
}

void attention_head_f32_avx512(const AttentionHeadArgs& a) {
  const int64_t lp = padded(a.kv_len), dh = a.head_dim;
  float* kt = a.scratch;
  float* vp = kt + panel_padded(a.kv_len) * dh;
  float* s = vp + a.kv_len * dh;
  pack_kt(a.k, a.ldk, a.kv_len, dh, kt);
  pack_v(a.v, a.ldv, a.kv_len, dh, vp);

  const bool plain = attention_is_plain(a);
  if (plain && a.kv_len * dh >= kFlashMinKeyFloats) {
    // Key blocks outside, query blocks inside: out holds each row's unnormalised sum so far.
    float* m = s + kRows * lp;
    float* l = m + a.q_rows;
    std::fill(m, m + a.q_rows, -__builtin_inff());
    std::fill(l, l + a.q_rows, 0.0f);
    for (int64_t k0 = 0; k0 < a.kv_len; k0 += kKeyBlock) {
      const int64_t nk = std::min(kKeyBlock, a.kv_len - k0), lpb = padded(nk);
      by_row_blocks(a.q_rows, [&](int64_t i0, auto R) {
        float alpha[kRows];
        scores_rows<R.value>(a.q + i0 * a.ldq, a.ldq, kt + k0 * dh, lpb, dh, s);
        for (int r = 0; r < R.value; ++r)
          alpha[r] = online_softmax_block(s + r * lpb, nk, lpb, a.scale, m[i0 + r], l[i0 + r]);
        pv_rows<R.value, PvMode::kBlock>(s, lpb, vp + k0 * dh, nk, dh, alpha, k0 == 0,
                                         a.out + i0 * a.ldo, a.ldo);
      });
    }
    for (int64_t i = 0; i < a.q_rows; ++i) {
      const float inv = 1.0f / l[i];
      float* o = a.out + i * a.ldo;
      for (int64_t c = 0; c < dh; ++c) o[c] *= inv;
    }
    return;
  }
  by_row_blocks(a.q_rows, [&](int64_t i0, auto R) {
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
    pv_rows<R.value, PvMode::kFinal>(s, lp, vp, a.kv_len, dh, inv, /*first=*/true,
                                     a.out + i0 * a.ldo, a.ldo);
  });
}

}  // namespace ember::kernels
