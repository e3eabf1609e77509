// One attention head with both products in bf16 (vdpbf16ps, fp32 accumulation), for bf16
// models on CPUs with avx512_bf16. The structure is attention_f32_avx512.cc's (query blocks
// of kRows = 8 in registers, K^T in panels of 32 keys, whole-row softmax or key blocks of 512
// with an online softmax, memory linear in length); what differs is the operands' layout, the
// one vdpbf16ps needs (each 32-bit lane holds a pair of bf16 along the summed dimension):
// - QK^T sums over head_dim: Q rows are rounded to bf16 once per task, a pair of dimensions
//   broadcast per lane; K^T panels hold [head_dim / 2][32 keys][2 dimensions].
// - PV sums over keys: each exp'd score row is rounded to bf16 as it is made (pairs of
//   adjacent keys), V is packed as [kv_len / 2][head_dim][2 keys].
// Scores, softmax, the running max and sum, and the output stay fp32. Odd head_dim and odd
// kv_len are padded with zeros (whose products add nothing).
// GCC 12 reports its own _mm512_undefined_* placeholders inside intrinsics as uninitialized
// once they are inlined; they are not our variables.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>

#include "kernels/cpu/kernels.h"

// Fully unrolled register tiles (see attention_f32_avx512.cc).
#if defined(__clang__)
#define EMBER_UNROLL _Pragma("unroll")
#else
#define EMBER_UNROLL _Pragma("GCC unroll 16")
#endif

namespace ember::kernels {
namespace {

constexpr int kRows = 8;
constexpr int64_t kPanel = 32;  // keys per K^T panel
// Key blocks with an online softmax past the same footprint as the fp32 kernel's (kv_len x
// head_dim >= 2^17; the packed bf16 K^T and V are half its size, so a block of 512 keys
// fits L2 with room to spare).
constexpr int64_t kKeyBlock = 512;
constexpr int64_t kFlashMinKeyFloats = int64_t{1} << 17;

int64_t padded(int64_t n) {
  return (n + 15) / 16 * 16;
}
int64_t panel_padded(int64_t kv_len) {
  return (kv_len + kPanel - 1) / kPanel * kPanel;
}
int64_t even(int64_t n) {
  return (n + 1) / 2 * 2;
}
// Floats that hold n bf16 values, rounded up to a 64-byte line so every region stays aligned.
int64_t floats_for_bf16(int64_t n) {
  return (n + 31) / 32 * 16;
}

__mmask16 tail_mask(int64_t n) {
  return static_cast<__mmask16>((1u << n) - 1u);
}

inline __m512bh as_bh(__m512i x) {
  return reinterpret_cast<const __m512bh&>(x);
}

// The 32 bits at p (a pair of bf16) in every lane.
inline __m512i broadcast_pair(const uint16_t* p) {
  int32_t pair;
  std::memcpy(&pair, p, sizeof(pair));
  return _mm512_set1_epi32(pair);
}

// 16 floats rounded to bf16 (nearest even) and back: the value vdpbf16ps will multiply.
inline __m512 round_bf16(__m256bh h) {
  return _mm512_castsi512_ps(
      _mm512_slli_epi32(_mm512_cvtepu16_epi32(reinterpret_cast<const __m256i&>(h)), 16));
}

// e^x on 16 floats x <= ~0 (x - max of a score row), to about 4e-5 relative: the result is
// rounded to bf16 (2^-9 relative) right after, so the fp32 kernels' degree-7 polynomial and
// range checks would be wasted. x = n ln2 + r, |r| <= ln2 / 2; e^r by its Taylor polynomial of
// degree 4 (error r^5 / 120 <= 4.2e-5); 2^n by vscalefps. x below -100 (-inf too) is clamped to
// -100: e^-100 is an fp32 denormal, which vcvtneps2bf16 turns into 0 (as it does any denormal).
inline __m512 exp16(__m512 x) {
  x = _mm512_max_ps(x, _mm512_set1_ps(-100.0f));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693147181f), x);
  __m512 p = _mm512_fmadd_ps(_mm512_set1_ps(1.f / 24), r, _mm512_set1_ps(1.f / 6));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  return _mm512_scalef_ps(p, n);
}

// s[r, j0 + 16c ...] = qb[r, :] . kt[:, j0 + 16c ...] for R rows and C vectors of keys (j0 a
// panel's first key; hd2 = head_dim rounded up to even).
template <int R, int C>
void scores_tile(const uint16_t* qb, int64_t hd2, const uint16_t* kt, int64_t lp, float* s,
                 int64_t j0) {
  const uint16_t* panel = kt + j0 * hd2;
  __m512 acc[R][C];
  EMBER_UNROLL
  for (int r = 0; r < R; ++r) {
    EMBER_UNROLL
    for (int c = 0; c < C; ++c) acc[r][c] = _mm512_setzero_ps();
  }
  for (int64_t d = 0; d < hd2; d += 2) {
    __m512i kv[C];
    EMBER_UNROLL
    for (int c = 0; c < C; ++c) kv[c] = _mm512_loadu_si512(panel + d * kPanel + 32 * c);
    EMBER_UNROLL
    for (int r = 0; r < R; ++r) {
      const __m512bh b = as_bh(broadcast_pair(qb + r * hd2 + d));
      EMBER_UNROLL
      for (int c = 0; c < C; ++c) acc[r][c] = _mm512_dpbf16_ps(acc[r][c], b, as_bh(kv[c]));
    }
  }
  EMBER_UNROLL
  for (int r = 0; r < R; ++r) {
    EMBER_UNROLL
    for (int c = 0; c < C; ++c) _mm512_storeu_ps(s + r * lp + j0 + 16 * c, acc[r][c]);
  }
}

template <int R>
void scores_rows(const uint16_t* qb, int64_t hd2, const uint16_t* kt, int64_t lp, float* s) {
  int64_t j0 = 0;
  for (; j0 + kPanel <= lp; j0 += kPanel) scores_tile<R, 2>(qb, hd2, kt, lp, s, j0);
  if (j0 < lp) scores_tile<R, 1>(qb, hd2, kt, lp, s, j0);
}

// As attention_f32_avx512.cc's PvMode: kFinal scales the sum by factor (1 / the softmax's
// sum); kBlock adds one key block's sum to factor x the output so far (out taken as 0 when
// first).
enum class PvMode { kFinal, kBlock };

// out[r, c0 + 16c ...] from pb (bf16 score rows, stride lp) and vp (V in key pairs) for R
// rows and C vectors of columns; with Tail the last vector is masked to head_dim % 16 columns.
template <int R, int C, bool Tail, PvMode Mode>
void pv_tile(const uint16_t* pb, int64_t lp, const uint16_t* vp, int64_t head_dim, int64_t kv_len,
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
  for (int64_t j = 0; j < kv_len; j += 2) {
    const uint16_t* vj = vp + j * head_dim + 2 * c0;
    __m512i vv[C];
    EMBER_UNROLL
    for (int c = 0; c < C; ++c)
      vv[c] = (Tail && c == C - 1) ? _mm512_maskz_loadu_epi32(mask, vj + 32 * c)
                                   : _mm512_loadu_si512(vj + 32 * c);
    EMBER_UNROLL
    for (int r = 0; r < R; ++r) {
      const __m512bh b = as_bh(broadcast_pair(pb + r * lp + j));
      EMBER_UNROLL
      for (int c = 0; c < C; ++c) acc[r][c] = _mm512_dpbf16_ps(acc[r][c], b, as_bh(vv[c]));
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
void pv_rows(const uint16_t* pb, int64_t lp, const uint16_t* vp, int64_t kv_len, int64_t head_dim,
             const float* factor, bool first, float* out, int64_t ldo) {
  const int64_t body = head_dim - head_dim % 16;
  const __mmask16 mask = tail_mask(head_dim % 16);
  int64_t c0 = 0;
  for (; c0 + 32 <= body; c0 += 32)
    pv_tile<R, 2, false, Mode>(pb, lp, vp, head_dim, kv_len, factor, first, out, ldo, c0, mask);
  if (c0 < body) {
    if (body < head_dim) {  // one full vector and the tail in one pass over pb
      pv_tile<R, 2, true, Mode>(pb, lp, vp, head_dim, kv_len, factor, first, out, ldo, c0, mask);
      return;
    }
    pv_tile<R, 1, false, Mode>(pb, lp, vp, head_dim, kv_len, factor, first, out, ldo, c0, mask);
  }
  if (body < head_dim)
    pv_tile<R, 1, true, Mode>(pb, lp, vp, head_dim, kv_len, factor, first, out, ldo, body, mask);
}

// The largest scaled score of a raw score row (its kv_len keys; the padding keys up to lp are
// left out): scale x max, or scale x min for a negative scale.
float scaled_max(const float* s, int64_t kv_len, int64_t lp, float scale) {
  __m512 vmax = _mm512_set1_ps(-__builtin_inff()), vmin = _mm512_set1_ps(__builtin_inff());
  for (int64_t j = 0; j < lp; j += 16) {
    const __mmask16 m = j + 16 > kv_len ? tail_mask(kv_len - j) : static_cast<__mmask16>(0xffff);
    const __m512 x = _mm512_loadu_ps(s + j);
    vmax = _mm512_mask_max_ps(vmax, m, vmax, x);
    vmin = _mm512_mask_min_ps(vmin, m, vmin, x);
  }
  return scale >= 0.0f ? scale * _mm512_reduce_max_ps(vmax) : scale * _mm512_reduce_min_ps(vmin);
}

// pb[j] = bf16(exp(scale s[j] - max)) for the kv_len keys, 0 for the padding keys up to lp
// (the scale folded into the subtraction: one FMA, no pass that stores scaled scores); returns
// the sum of the rounded values, so that the weights PV applies sum to exactly 1 after the
// division.
float exp_sum_bf16(const float* s, int64_t kv_len, int64_t lp, float scale, float max_value,
                   uint16_t* pb) {
  const __m512 max = _mm512_set1_ps(max_value), vscale = _mm512_set1_ps(scale);
  const __m512 neg_inf = _mm512_set1_ps(-__builtin_inff());
  __m512 vsum = _mm512_setzero_ps();
  for (int64_t j = 0; j < lp; j += 16) {
    __m512 x = _mm512_fmsub_ps(_mm512_loadu_ps(s + j), vscale, max);
    if (j + 16 > kv_len) x = _mm512_mask_blend_ps(tail_mask(kv_len - j), neg_inf, x);
    const __m256bh e = _mm512_cvtneps_pbh(exp16(x));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(pb + j), reinterpret_cast<const __m256i&>(e));
    vsum = _mm512_add_ps(vsum, round_bf16(e));
  }
  return _mm512_reduce_add_ps(vsum);
}

// One key block of a raw score row, online (attention_f32_avx512.cc's online_softmax_block):
// raises the running max m to the block's, writes the block's weights exp(scale s - m) to pb in
// bf16 and adds them to the running sum l (rescaled to the new max); returns exp(m_old - m)
// for the row's output so far.
float online_softmax_block(const float* s, int64_t kv_len, int64_t lp, float scale, float& m,
                           float& l, uint16_t* pb) {
  const float m_new = std::max(m, scaled_max(s, kv_len, lp, scale));
  const float alpha = std::exp(m - m_new);  // 0 on the first block (m = -inf)
  l = l * alpha + exp_sum_bf16(s, kv_len, lp, scale, m_new, pb);
  m = m_new;
  return alpha;
}

// Q, K and V rows are a fused projection's columns, rows several KiB apart, which the hardware
// prefetcher follows poorly once the batch outgrows L2; each packing loop fetches the row
// kAhead rows on while it converts this one (the conversion stalled on those loads: a third
// of the kernel at 8 x 128 tokens under perf).
constexpr int64_t kAhead = 8;

inline void prefetch_row(const float* x, int64_t n) {
  for (int64_t c = 0; c < n; c += 16)
    _mm_prefetch(reinterpret_cast<const char*>(x + c), _MM_HINT_T0);
}

// n floats of x rounded to bf16 into out, padded with zeros up to n_out (>= n).
void to_bf16(const float* x, int64_t n, int64_t n_out, uint16_t* out) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256bh h = _mm512_cvtneps_pbh(_mm512_loadu_ps(x + i));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i), reinterpret_cast<const __m256i&>(h));
  }
  if (i < n) {
    const __mmask16 m = tail_mask(n - i);
    const __m256bh h = _mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(m, x + i));
    _mm256_mask_storeu_epi16(out + i, m, reinterpret_cast<const __m256i&>(h));
  }
  for (int64_t j = n; j < n_out; ++j) out[j] = 0;
}

// Q rows in bf16: qb[i, :] (stride hd2), the odd head_dim's last pair padded with 0.
void pack_q(const float* q, int64_t ldq, int64_t rows, int64_t head_dim, uint16_t* qb) {
  const int64_t hd2 = even(head_dim);
  for (int64_t i = 0; i < rows; ++i) {
    if (i + kAhead < rows) prefetch_row(q + (i + kAhead) * ldq, head_dim);
    to_bf16(q + i * ldq, head_dim, hd2, qb + i * hd2);
  }
}

// K^T panels in bf16: the pair of dimensions (2p, 2p + 1) of key j at
// kt[j / 32 * 32 hd2 + p * 64 + j % 32 * 2], zero keys up to the last panel's end. Each key
// row is rounded once into `row` (hd2 values), then its pairs are spread as 32-bit words.
void pack_kt(const float* k, int64_t ldk, int64_t kv_len, int64_t head_dim, uint16_t* kt,
             uint16_t* row) {
  const int64_t hd2 = even(head_dim), pairs = hd2 / 2;
  auto* words = reinterpret_cast<uint32_t*>(kt);  // kt is 64-byte aligned
  const auto* row_words = reinterpret_cast<const uint32_t*>(row);
  for (int64_t j = 0; j < kv_len; ++j) {
    if (j + kAhead < kv_len) prefetch_row(k + (j + kAhead) * ldk, head_dim);
    to_bf16(k + j * ldk, head_dim, hd2, row);
    uint32_t* dst = words + j / kPanel * kPanel * pairs + j % kPanel;
    for (int64_t p = 0; p < pairs; ++p) dst[p * kPanel] = row_words[p];
  }
  for (int64_t j = kv_len; j < panel_padded(kv_len); ++j) {
    uint32_t* dst = words + j / kPanel * kPanel * pairs + j % kPanel;
    for (int64_t p = 0; p < pairs; ++p) dst[p * kPanel] = 0;
  }
}

// V in key pairs: vp[j / 2 * 2 head_dim + 2 c + j % 2] = bf16(v[j, c]), a zero row after an odd
// kv_len. Two rows at a time: vcvtne2ps2bf16 makes [row j | row j + 1] per 16 columns, a word
// permutation interleaves them.
void pack_v(const float* v, int64_t ldv, int64_t kv_len, int64_t head_dim, uint16_t* vp) {
  const __m512i interleave =
      _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8, 23, 7, 22, 6,
                       21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
  for (int64_t j = 0; j < kv_len; j += 2) {
    const float* a = v + j * ldv;
    const float* b = a + ldv;
    const bool pair = j + 1 < kv_len;
    if (j + kAhead + 1 < kv_len) {
      prefetch_row(v + (j + kAhead) * ldv, head_dim);
      prefetch_row(v + (j + kAhead + 1) * ldv, head_dim);
    }
    uint16_t* dst = vp + j * head_dim;
    for (int64_t c = 0; c < head_dim; c += 16) {
      const __mmask16 m = tail_mask(std::min<int64_t>(16, head_dim - c));
      const __m512 lo = _mm512_maskz_loadu_ps(m, a + c);
      const __m512 hi = pair ? _mm512_maskz_loadu_ps(m, b + c) : _mm512_setzero_ps();
      const __m512bh h = _mm512_cvtne2ps_pbh(hi, lo);
      const __m512i w = _mm512_permutexvar_epi16(interleave, reinterpret_cast<const __m512i&>(h));
      _mm512_mask_storeu_epi32(dst + 2 * c, m, w);
    }
  }
}

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

// The scratch regions, in floats from its start, each 64-byte aligned.
struct Layout {
  int64_t kt, vp, qb, row, s, pb, m, l, total;
};

Layout layout(int64_t q_rows, int64_t kv_len, int64_t head_dim) {
  const int64_t hd2 = even(head_dim), lp = padded(kv_len);
  Layout o{};
  o.kt = 0;
  o.vp = o.kt + floats_for_bf16(panel_padded(kv_len) * hd2);
  o.qb = o.vp + floats_for_bf16(even(kv_len) * head_dim);
  o.row = o.qb + floats_for_bf16(q_rows * hd2);
  o.s = o.row + floats_for_bf16(hd2);
  o.pb = o.s + kRows * lp;
  o.m = o.pb + floats_for_bf16(kRows * lp);
  o.l = o.m + q_rows;
  o.total = o.l + q_rows;
  return o;
}

}  // namespace

size_t attention_scratch_floats_bf16_avx512bf16(int64_t q_rows, int64_t kv_len, int64_t head_dim) {
  // 16 floats of slack: the regions are laid out from the first 64-byte boundary.
  return static_cast<size_t>(layout(q_rows, kv_len, head_dim).total + 16);
}

void attention_head_bf16_avx512bf16(const AttentionHeadArgs& a) {
  const int64_t lp = padded(a.kv_len), dh = a.head_dim, hd2 = even(dh);
  const Layout at = layout(a.q_rows, a.kv_len, dh);
  const auto base = reinterpret_cast<uintptr_t>(a.scratch);
  float* scratch = reinterpret_cast<float*>((base + 63) / 64 * 64);
  auto* kt = reinterpret_cast<uint16_t*>(scratch + at.kt);
  auto* vp = reinterpret_cast<uint16_t*>(scratch + at.vp);
  auto* qb = reinterpret_cast<uint16_t*>(scratch + at.qb);
  auto* pb = reinterpret_cast<uint16_t*>(scratch + at.pb);
  float* s = scratch + at.s;
  pack_kt(a.k, a.ldk, a.kv_len, dh, kt, reinterpret_cast<uint16_t*>(scratch + at.row));
  pack_v(a.v, a.ldv, a.kv_len, dh, vp);
  pack_q(a.q, a.ldq, a.q_rows, dh, qb);

  const bool plain = attention_is_plain(a);
  if (plain && a.kv_len * dh >= kFlashMinKeyFloats) {
    // Key blocks outside, query blocks inside: out holds each row's unnormalised sum so far.
    float* m = scratch + at.m;
    float* l = scratch + at.l;
    std::fill(m, m + a.q_rows, -__builtin_inff());
    std::fill(l, l + a.q_rows, 0.0f);
    for (int64_t k0 = 0; k0 < a.kv_len; k0 += kKeyBlock) {
      const int64_t nk = std::min(kKeyBlock, a.kv_len - k0), lpb = padded(nk);
      by_row_blocks(a.q_rows, [&](int64_t i0, auto R) {
        float alpha[kRows];
        scores_rows<R.value>(qb + i0 * hd2, hd2, kt + k0 * hd2, lpb, s);
        for (int r = 0; r < R.value; ++r)
          alpha[r] = online_softmax_block(s + r * lpb, nk, lpb, a.scale, m[i0 + r], l[i0 + r],
                                          pb + r * lpb);
        pv_rows<R.value, PvMode::kBlock>(pb, lpb, vp + k0 * dh, nk, dh, alpha, k0 == 0,
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
    scores_rows<R.value>(qb + i0 * hd2, hd2, kt, lp, s);
    for (int r = 0; r < R.value; ++r) {
      float* row = s + r * lp;
      float scale = a.scale;
      if (!plain) {
        attention_mask_row(a, i0 + r, row);  // scaled, biased and masked in place
        scale = 1.0f;
      }
      const float max = scaled_max(row, a.kv_len, lp, scale);
      inv[r] = 1.0f / exp_sum_bf16(row, a.kv_len, lp, scale, max, pb + r * lp);
    }
    pv_rows<R.value, PvMode::kFinal>(pb, lp, vp, a.kv_len, dh, inv, /*first=*/true,
                                     a.out + i0 * a.ldo, a.ldo);
  });
}

}  // namespace ember::kernels
