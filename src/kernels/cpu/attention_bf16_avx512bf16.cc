// One attention head with both products in bf16 (vdpbf16ps, fp32 accumulation), for bf16
// models on CPUs with avx512_bf16: attention_tiles_avx512.h's query blocks, K^T panels and
// softmax paths with AttentionOpsBf16Avx512Bf16. What differs from fp32 is the operands' layout,
// the one vdpbf16ps needs (each 32-bit lane holds a pair of bf16 along the summed dimension):
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
#include <cstring>

#include "kernels/cpu/attention_tiles_avx512.h"
#include "kernels/cpu/kernels.h"

namespace ember::kernels {
namespace {

int64_t even(int64_t n) {
  return (n + 1) / 2 * 2;
}
// Floats that hold n bf16 values, rounded up to a 64-byte line so every region stays aligned.
int64_t floats_for_bf16(int64_t n) {
  return (n + 31) / 32 * 16;
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

// What bf16 does in attention_tiles_avx512.h's tiles: each 32-bit lane holds a pair of bf16
// along the summed dimension (head_dim for QK^T, keys for PV), multiplied and summed into fp32
// by vdpbf16ps. The softmax reads the fp32 score rows s and writes its weights to p in bf16.
struct AttentionOpsBf16Avx512Bf16 {
  using Elem = uint16_t;
  using Operand = __m512bh;
  using Broadcast = __m512bh;
  static constexpr bool kQRowsPacked = true;
  static constexpr int kPack = 2;

  static __m512bh load(const uint16_t* x) { return as_bh(_mm512_loadu_si512(x)); }
  static __m512bh load_masked(__mmask16 mask, const uint16_t* x) {
    return as_bh(_mm512_maskz_loadu_epi32(mask, x));
  }
  static __m512bh broadcast(const uint16_t* x) { return as_bh(broadcast_pair(x)); }
  static __m512 dot(__m512 acc, __m512bh b, __m512bh x) { return _mm512_dpbf16_ps(acc, b, x); }

  static float softmax_row(const float* s, int64_t kv_len, int64_t lp, float scale, uint16_t* p) {
    return 1.0f / exp_sum_bf16(s, kv_len, lp, scale, scaled_max(s, kv_len, lp, scale), p);
  }
  static float online_softmax_block(const float* s, int64_t kv_len, int64_t lp, float scale,
                                    float& m, float& l, uint16_t* p) {
    return online_softmax_step(scaled_max(s, kv_len, lp, scale), m, l, [&](float m_new) {
      return exp_sum_bf16(s, kv_len, lp, scale, m_new, p);
    });
  }
};

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
  const int64_t dh = a.head_dim, hd2 = even(dh);
  const Layout at = layout(a.q_rows, a.kv_len, dh);
  const auto base = reinterpret_cast<uintptr_t>(a.scratch);
  float* scratch = reinterpret_cast<float*>((base + 63) / 64 * 64);
  auto* kt = reinterpret_cast<uint16_t*>(scratch + at.kt);
  auto* vp = reinterpret_cast<uint16_t*>(scratch + at.vp);
  auto* qb = reinterpret_cast<uint16_t*>(scratch + at.qb);
  pack_kt(a.k, a.ldk, a.kv_len, dh, kt, reinterpret_cast<uint16_t*>(scratch + at.row));
  pack_v(a.v, a.ldv, a.kv_len, dh, vp);
  pack_q(a.q, a.ldq, a.q_rows, dh, qb);
  attention_head_8x32_avx512<AttentionOpsBf16Avx512Bf16>(
      a, {.q = qb,
          .ldq = hd2,
          .kt = kt,
          .kt_dim = hd2,
          .v = vp,
          .s = scratch + at.s,
          .p = reinterpret_cast<uint16_t*>(scratch + at.pb),
          .m = scratch + at.m,
          .l = scratch + at.l});
}

}  // namespace ember::kernels
