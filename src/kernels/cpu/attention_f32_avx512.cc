// One attention head on AVX-512 in fp32: attention_tiles_avx512.h's query blocks, K^T panels
// and softmax paths, with fp32 operands and FMA (AttentionOpsF32Avx512), K^T packed by 8x8
// in-register transposes and V as dense [kv_len, head_dim] rows.
// GCC 12 reports its own _mm512_undefined_* placeholders inside intrinsics as uninitialized
// once they are inlined; they are not our variables.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include <algorithm>

#include "kernels/cpu/attention_pack_kt_f32_avx.h"
#include "kernels/cpu/attention_tiles_avx512.h"
#include "kernels/cpu/kernels.h"

namespace ember::kernels {
namespace {

// Where key j, dimension d of K^T is.
inline int64_t kt_at(int64_t j, int64_t d, int64_t head_dim) {
  return j / kPanel * kPanel * head_dim + d * kPanel + j % kPanel;
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

// p[j] = exp(s[j] - max) for a scaled score row (p may be s); returns their sum.
float exp_sum(const float* s, int64_t lp, float max_value, float* p) {
  const __m512 max = _mm512_set1_ps(max_value);
  __m512 vsum = _mm512_setzero_ps();
  for (int64_t j = 0; j < lp; j += 16) {
    const __m512 e = exp16(_mm512_sub_ps(_mm512_loadu_ps(s + j), max));
    _mm512_storeu_ps(p + j, e);
    vsum = _mm512_add_ps(vsum, e);
  }
  return _mm512_reduce_add_ps(vsum);
}

// What fp32 does in attention_tiles_avx512.h's tiles: 16 fp32 lanes, one FMA per element.
// The softmax rounds nothing, so it works in the score rows (p == s): each pass scales the row
// and masks the padding keys to -inf in place, then turns it into its weights.
struct AttentionOpsF32Avx512 {
  using Elem = float;
  using Operand = __m512;
  using Broadcast = __m512;
  static constexpr bool kQRowsPacked = false;
  static constexpr int kPack = 1;

  static __m512 load(const float* x) { return _mm512_loadu_ps(x); }
  static __m512 load_masked(__mmask16 mask, const float* x) {
    return _mm512_maskz_loadu_ps(mask, x);
  }
  static __m512 broadcast(const float* x) { return _mm512_set1_ps(*x); }
  static __m512 dot(__m512 acc, __m512 b, __m512 x) { return _mm512_fmadd_ps(b, x, acc); }

  static float softmax_row(float* s, int64_t kv_len, int64_t lp, float scale, float* p) {
    return 1.0f / exp_sum(s, lp, scale_mask_max(s, kv_len, lp, scale), p);
  }
  static float online_softmax_block(float* s, int64_t kv_len, int64_t lp, float scale, float& m,
                                    float& l, float* p) {
    return online_softmax_step(scale_mask_max(s, kv_len, lp, scale), m, l,
                               [&](float m_new) { return exp_sum(s, lp, m_new, p); });
  }
};

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

}  // namespace

size_t attention_scratch_floats_avx512(int64_t q_rows, int64_t kv_len, int64_t head_dim) {
  const int64_t lp = padded(kv_len);
  // K^T panels, V rows, one query block's score rows, and the running max and sum per query
  // row of the key-block path.
  return static_cast<size_t>(panel_padded(kv_len) * head_dim + kv_len * head_dim + kRows * lp +
                             2 * q_rows);
}

void attention_head_f32_avx512(const AttentionHeadArgs& a) {
  const int64_t dh = a.head_dim;
  float* kt = a.scratch;
  float* vp = kt + panel_padded(a.kv_len) * dh;
  float* s = vp + a.kv_len * dh;
  float* m = s + kRows * padded(a.kv_len);
  // K^T in panels (an 8-key block never straddles one); AVX2's 8x8 transposes, since packing
  // is a few percent of a task (not worth 16x16 here).
  pack_kt_f32_8x8(a.k, a.ldk, a.kv_len, dh, panel_padded(a.kv_len), kt,
                  [dh](int64_t j, int64_t d) { return kt_at(j, d, dh); });
  pack_v(a.v, a.ldv, a.kv_len, dh, vp);
  attention_head_8x32_avx512<AttentionOpsF32Avx512>(a, {.q = a.q,
                                                        .ldq = a.ldq,
                                                        .kt = kt,
                                                        .kt_dim = dh,
                                                        .v = vp,
                                                        .s = s,
                                                        .p = s,
                                                        .m = m,
                                                        .l = m + a.q_rows});
}

}  // namespace ember::kernels
