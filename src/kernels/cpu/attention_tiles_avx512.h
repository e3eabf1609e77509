// The register tiles and the head driver that the AVX-512 attention kernels share, whatever
// the element type of their packed operands (attention_f32_avx512.cc: fp32 and FMA;
// attention_bf16_avx512bf16.cc: bf16 pairs and vdpbf16ps). K^T is packed in panels of 32 keys,
// [Lp / 32][head_dim][32] (Lp = kv_len rounded up to 32, zero padded), and V in rows, so that
// both products are broadcast-FMAs over contiguous memory: a score tile of 32 keys reads one
// contiguous panel rather than head_dim rows a whole K^T row apart, which at long lengths (a
// 4 KiB multiple apart) all fall into the same L1 set. Queries go in blocks of kRows = 8, one
// register tile: the block's scores [8, Lp] (16 KiB at kv_len 512) stay in L1 between QK^T,
// the softmax and PV, and every K^T / V load feeds 8 FMAs, so each K^T and V element is read
// from L2 once per 8 query rows. Once K^T and V outgrow L2 (kv_len x head_dim >= 2^17), keys go
// in blocks of 512 with an online softmax (flash attention's order: key blocks outside, query
// blocks inside, the output rescaled as the row max grows), so a block stays in L2 for all of a
// task's queries. Memory stays linear in length either way: no [rows, kv_len] buffer.
//
// A kernel packs its operands and calls attention_head_8x32_avx512<Ops> with a policy type Ops
// that holds what its dtype does differently:
//   Elem       the packed operands' element (float; uint16_t for bf16)
//   kPack      consecutive elements of the summed dimension in one 32-bit lane (1; 2 for bf16)
//   kQRowsPacked  whether Q rows are packed kt_dim apart (bf16) or read in place (fp32)
//   Operand    16 lanes of K^T or V as loaded; Broadcast: one lane of Q or P in every lane
//   load(p), load_masked(mask, p), broadcast(p), dot(acc, b, x): acc + the lane-wise products
//     of b and x, summed over each lane's kPack elements, in fp32
//   softmax_row(s, kv_len, lp, scale, p): a raw score row's softmax weights exp(scale s - max)
//     into p (padding keys up to lp: 0), returning 1 / their sum
//   online_softmax_block(s, kv_len, lp, scale, m, l, p): the same for one key block, online
//     (online_softmax_step), returning the factor of the row's output so far
// This header needs the AVX-512F/BW/VL/DQ flags and no more: the bf16 intrinsics stay in the
// bf16 file's Ops, so the fp32 file compiles without -mavx512bf16. Internal linkage: the files
// that include it are built with different flags.
#pragma once

#if !defined(__AVX512F__) || !defined(__AVX512BW__) || !defined(__AVX512DQ__) || \
    !defined(__AVX512VL__)
#error "attention_tiles_avx512.h is for files built with the *_avx512*.cc flags"
#endif

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "kernels/cpu/attention_row_blocks.h"
#include "kernels/cpu/kernels.h"

namespace ember::kernels {
namespace {

constexpr int kRows = 8;
constexpr int64_t kPanel = 32;  // keys per K^T panel
// Key-block (flash) tiling with an online softmax once a head's packed fp32 K^T and V (kv_len x
// head_dim x 8 bytes) outgrow L2 (1 MiB per core on the hosts measured): then the 8-row query
// blocks would each stream all of K and V from L3. A block of kKeyBlock keys (2 x 128 KiB at
// head_dim 64 in fp32, half that in bf16) stays in L2 across all of a task's query blocks.
// Below the threshold the softmax over whole rows is as fast and does less work.
constexpr int64_t kKeyBlock = 512;
constexpr int64_t kFlashMinKeyFloats = int64_t{1} << 17;  // kv_len x head_dim

// The score rows' stride (and the softmax's extent): n rounded up to 16.
inline int64_t padded(int64_t n) {
  return (n + 15) / 16 * 16;
}

// K^T's extent: kv_len rounded up to whole panels.
inline int64_t panel_padded(int64_t kv_len) {
  return (kv_len + kPanel - 1) / kPanel * kPanel;
}

inline __mmask16 tail_mask(int64_t n) {
  return static_cast<__mmask16>((1u << n) - 1u);
}

// What a kernel hands the driver: its packed operands and its scratch rows.
template <class Elem>
struct AttentionOperandsAvx512 {
  const Elem* q;  // query row i at q + i * ldq
  int64_t ldq;
  const Elem* kt;  // K^T panels, kt_dim elements per key (head_dim rounded up to kPack)
  int64_t kt_dim;
  const Elem* v;  // V: key j (a multiple of kPack) at v + j * head_dim
  float* s;       // kRows score rows, padded(kv_len) apart
  Elem* p;        // kRows rows of softmax weights as PV reads them (fp32: s itself)
  float* m;       // the key-block path's running max and sum, one per query row
  float* l;
};

// One step of a register tile, over kPack elements of the summed dimension:
// acc[r][c] = dot(acc[r][c], broadcast(b + r * ldb), x[c]) for R rows and C operands.
template <class Ops, int R, int C>
inline void tile_step_avx512(__m512 (&acc)[R][C], const typename Ops::Operand (&x)[C],
                             const typename Ops::Elem* b, int64_t ldb) {
  EMBER_UNROLL
  for (int r = 0; r < R; ++r) {
    const typename Ops::Broadcast br = Ops::broadcast(b + r * ldb);
    EMBER_UNROLL
    for (int c = 0; c < C; ++c) acc[r][c] = Ops::dot(acc[r][c], br, x[c]);
  }
}

// s[r, j0 + 16c ...] = q[r, :] . kt[:, j0 + 16c ...] for R rows and C vectors of keys
// (j0 a panel's first key).
template <class Ops, int R, int C>
void qk_tile_avx512(const typename Ops::Elem* q, int64_t ldq, const typename Ops::Elem* kt,
                    int64_t lp, float* s, int64_t j0, int64_t kt_dim) {
  constexpr int kPack = Ops::kPack;
  // Where Q rows are packed kt_dim apart, one value for both lets GCC drop the last argument,
  // so that the tile compiles to the code of one written for that dtype alone (a tile that
  // took both measured up to 2% slower in the bf16 kernel at 512 tokens).
  if constexpr (Ops::kQRowsPacked) kt_dim = ldq;
  const typename Ops::Elem* panel = kt + j0 * kt_dim;
  __m512 acc[R][C];
  EMBER_UNROLL
  for (int r = 0; r < R; ++r) {
    EMBER_UNROLL
    for (int c = 0; c < C; ++c) acc[r][c] = _mm512_setzero_ps();
  }
  for (int64_t d = 0; d < kt_dim; d += kPack) {
    typename Ops::Operand kv[C];
    EMBER_UNROLL
    for (int c = 0; c < C; ++c) kv[c] = Ops::load(panel + d * kPanel + 16 * kPack * c);
    tile_step_avx512<Ops>(acc, kv, q + d, ldq);
  }
  EMBER_UNROLL
  for (int r = 0; r < R; ++r) {
    EMBER_UNROLL
    for (int c = 0; c < C; ++c) _mm512_storeu_ps(s + r * lp + j0 + 16 * c, acc[r][c]);
  }
}

// The R score rows of a query block: whole panels, then a half panel where lp ends in one.
template <class Ops, int R>
void qk_rows_avx512(const typename Ops::Elem* q, int64_t ldq, const typename Ops::Elem* kt,
                    int64_t kt_dim, float* s, int64_t lp) {
  int64_t j0 = 0;
  for (; j0 + kPanel <= lp; j0 += kPanel) qk_tile_avx512<Ops, R, 2>(q, ldq, kt, lp, s, j0, kt_dim);
  if (j0 < lp) qk_tile_avx512<Ops, R, 1>(q, ldq, kt, lp, s, j0, kt_dim);
}

// What a P x V tile does with the output rows. kFinal: out = factor[r] * sum_j p[r, j] v[j] over
// the whole key range (factor: the softmax's 1 / sum). kBlock: the flash update by one key
// block, out = factor[r] * out + sum_j p[r, j] v[j] (factor: exp(m_old - m); out taken as 0 for
// the first block).
enum class PvMode { kFinal, kBlock };

// out[r, c0 + 16c ...] for R rows and C vectors of columns, as Mode says; with Tail the last
// vector is masked to the head_dim % 16 remaining columns.
template <class Ops, int R, int C, bool Tail, PvMode Mode>
void pv_tile_avx512(const typename Ops::Elem* p, int64_t lp, const typename Ops::Elem* v,
                    int64_t head_dim, int64_t kv_len, const float* factor, bool first, float* out,
                    int64_t ldo, int64_t c0, __mmask16 mask) {
  constexpr int kPack = Ops::kPack;
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
  for (int64_t j = 0; j < kv_len; j += kPack) {
    const typename Ops::Elem* vj = v + j * head_dim + kPack * c0;
    typename Ops::Operand vv[C];
    EMBER_UNROLL
    for (int c = 0; c < C; ++c)
      vv[c] = (Tail && c == C - 1) ? Ops::load_masked(mask, vj + 16 * kPack * c)
                                   : Ops::load(vj + 16 * kPack * c);
    tile_step_avx512<Ops>(acc, vv, p + j, lp);
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

// The R output rows of a query block: 32 columns a tile, then what is left of head_dim.
template <class Ops, int R, PvMode Mode>
void pv_rows_avx512(const typename Ops::Elem* p, int64_t lp, const typename Ops::Elem* v,
                    int64_t kv_len, int64_t head_dim, const float* factor, bool first, float* out,
                    int64_t ldo) {
  const int64_t body = head_dim - head_dim % 16;
  const __mmask16 mask = tail_mask(head_dim % 16);
  int64_t c0 = 0;
  for (; c0 + 32 <= body; c0 += 32)
    pv_tile_avx512<Ops, R, 2, false, Mode>(p, lp, v, head_dim, kv_len, factor, first, out, ldo, c0,
                                           mask);
  if (c0 < body) {
    if (body < head_dim) {  // one full vector and the tail in one pass over p
      pv_tile_avx512<Ops, R, 2, true, Mode>(p, lp, v, head_dim, kv_len, factor, first, out, ldo, c0,
                                            mask);
      return;
    }
    pv_tile_avx512<Ops, R, 1, false, Mode>(p, lp, v, head_dim, kv_len, factor, first, out, ldo, c0,
                                           mask);
  }
  if (body < head_dim)
    pv_tile_avx512<Ops, R, 1, true, Mode>(p, lp, v, head_dim, kv_len, factor, first, out, ldo, body,
                                          mask);
}

// One row's online softmax over one key block (flash attention's): raises the running max m to
// the block's max, block_max, and adds the block's weights under the new max, exp_sum(m_new),
// to the running sum l (rescaled to the new max); returns exp(m_old - m), the factor of the
// row's output so far.
template <class ExpSum>
inline float online_softmax_step(float block_max, float& m, float& l, ExpSum&& exp_sum) {
  const float m_new = std::max(m, block_max);
  const float alpha = std::exp(m - m_new);  // 0 on the first block (m = -inf)
  l = l * alpha + exp_sum(m_new);
  m = m_new;
  return alpha;
}

// One head (AttentionHeadArgs) on operands that the kernel has packed into x.
template <class Ops>
void attention_head_8x32_avx512(const AttentionHeadArgs& a,
                                const AttentionOperandsAvx512<typename Ops::Elem>& x) {
  const int64_t lp = padded(a.kv_len), dh = a.head_dim;
  const bool plain = attention_is_plain(a);
  if (plain && a.kv_len * dh >= kFlashMinKeyFloats) {
    // Key blocks outside, query blocks inside: out holds each row's unnormalised sum so far.
    std::fill(x.m, x.m + a.q_rows, -__builtin_inff());
    std::fill(x.l, x.l + a.q_rows, 0.0f);
    for (int64_t k0 = 0; k0 < a.kv_len; k0 += kKeyBlock) {
      const int64_t nk = std::min(kKeyBlock, a.kv_len - k0), lpb = padded(nk);
      by_row_blocks<kRows>(a.q_rows, [&](int64_t i0, auto R) {
        float alpha[kRows];
        qk_rows_avx512<Ops, R.value>(x.q + i0 * x.ldq, x.ldq, x.kt + k0 * x.kt_dim, x.kt_dim, x.s,
                                     lpb);
        for (int r = 0; r < R.value; ++r)
          alpha[r] = Ops::online_softmax_block(x.s + r * lpb, nk, lpb, a.scale, x.m[i0 + r],
                                               x.l[i0 + r], x.p + r * lpb);
        pv_rows_avx512<Ops, R.value, PvMode::kBlock>(x.p, lpb, x.v + k0 * dh, nk, dh, alpha,
                                                     k0 == 0, a.out + i0 * a.ldo, a.ldo);
      });
    }
    for (int64_t i = 0; i < a.q_rows; ++i) {
      const float inv = 1.0f / x.l[i];
      float* o = a.out + i * a.ldo;
      for (int64_t c = 0; c < dh; ++c) o[c] *= inv;
    }
    return;
  }
  by_row_blocks<kRows>(a.q_rows, [&](int64_t i0, auto R) {
    float inv[kRows];
    qk_rows_avx512<Ops, R.value>(x.q + i0 * x.ldq, x.ldq, x.kt, x.kt_dim, x.s, lp);
    for (int r = 0; r < R.value; ++r) {
      float* row = x.s + r * lp;
      float scale = a.scale;
      if (!plain) {
        attention_mask_row(a, i0 + r, row);  // scaled, biased and masked in place
        scale = 1.0f;
      }
      inv[r] = Ops::softmax_row(row, a.kv_len, lp, scale, x.p + r * lp);
    }
    pv_rows_avx512<Ops, R.value, PvMode::kFinal>(x.p, lp, x.v, a.kv_len, dh, inv, /*first=*/true,
                                                 a.out + i0 * a.ldo, a.ldo);
  });
}

}  // namespace
}  // namespace ember::kernels
