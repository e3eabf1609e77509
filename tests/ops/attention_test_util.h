// What the attention tests (attention_test.cc for fp32 on every ISA, attention_bf16_test.cc for
// the bf16 kernel) share: a packed batch with Q, K and V in one fused buffer, the double
// reference from the definition (masks, local windows, the bias by distance, grouped heads;
// optionally on inputs rounded as a kernel rounds them), cpu::attention into padded output
// rows, the check that a kernel's scratch is linear in length, and the shapes both walk.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "backends/cpu/cpu_ops.h"
#include "ops_test_util.h"

namespace ember::test {

// Head sizes of the encoders (32, 64, 88: 16-lane tails, 128) and odd ones.
inline const std::vector<int64_t> kAttentionHeadDims = {64, 32, 88, 128, 20, 13, 1, 48, 40, 80};
// Sequences of one batch with every tile edge of the kernels' query blocks (6, 8) and key
// vectors / panels (8, 16, 32) near them.
inline const std::vector<int32_t> kAttentionRaggedLengths = {1, 2, 7, 16, 33, 64, 129};
// One sequence of each length up to 512 keys where a tile, panel or vector ends.
inline const std::vector<int32_t> kAttentionTileEdgeLengths = {
    1, 2, 3, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129, 255, 256, 257, 511, 512};
// Long sequences of odd length (K^T panels, score rows and key blocks with a ragged end,
// several query tasks per head), {length, head_dim}: at head_dim 64 the whole-row softmax, at
// 128 and 88 (a 16-lane tail) past the AVX-512 kernels' key-block threshold (kv_len x head_dim
// >= 2^17), their online softmax over blocks of 512 keys.
inline const std::vector<std::pair<int32_t, int64_t>> kAttentionLongOddShapes = {
    {1093, 64}, {1093, 128}, {1501, 88}};

// A mask, a bias by distance, grouped heads, or several at once, on 4 query heads.
struct AttentionMaskCase {
  const char* name;
  ops::MaskKind mask;
  int64_t window;
  bool rel_bias;
  int64_t kv_heads;
  int64_t head_dim;
};
inline const std::vector<AttentionMaskCase> kAttentionMaskCases = {
    {"causal", ops::MaskKind::kCausal, 0, false, 4, 64},
    {"local w=3", ops::MaskKind::kLocal, 3, false, 4, 64},
    {"local w=64", ops::MaskKind::kLocal, 64, false, 4, 88},
    {"relative bias", ops::MaskKind::kFull, 0, true, 4, 64},
    {"gqa 4/2", ops::MaskKind::kFull, 0, false, 2, 128},
    {"gqa 4/1 causal", ops::MaskKind::kCausal, 0, false, 1, 32},
    {"local + bias + gqa", ops::MaskKind::kLocal, 10, true, 2, 64}};
// The batch the mask cases run on: a sequence of one token, short ones, and two past 128 rows.
inline const std::vector<int32_t> kAttentionMaskCaseLengths = {1, 5, 40, 130, 300};

struct AttentionProblem {
  std::vector<int32_t> cu;
  std::vector<float> qkv;  // [T, ld]: Q (heads) | K (kv_heads) | V (kv_heads) | 3 of slack
  std::vector<float> bias;
  ops::AttentionArgs args;
  int64_t width, kv_width, ld;
  int64_t tokens() const { return cu.back(); }
  int64_t batch() const { return static_cast<int64_t>(cu.size()) - 1; }
  const float* q() const { return qkv.data(); }
  const float* k() const { return qkv.data() + width; }
  const float* v() const { return qkv.data() + width + kv_width; }
};

// Random Q, K and V in [-2, 2] (some softmax rows peaky, not all near-uniform), rows padded as
// a fused projection's with slack; scale 1 / sqrt(head_dim), no mask.
inline AttentionProblem make_attention_problem(const std::vector<int32_t>& lengths, int64_t heads,
                                               int64_t kv_heads, int64_t head_dim, uint32_t seed) {
  AttentionProblem p;
  p.cu = {0};
  for (int32_t len : lengths) p.cu.push_back(p.cu.back() + len);
  p.args.heads = heads;
  p.args.kv_heads = kv_heads;
  p.args.head_dim = head_dim;
  p.args.scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
  p.width = heads * head_dim;
  p.kv_width = kv_heads * head_dim;
  p.ld = p.width + 2 * p.kv_width + 3;
  p.qkv = random_vec(p.tokens() * p.ld, seed, -2.0f, 2.0f);
  return p;
}

// A bias by distance in [-1, 1] per head, spanning the longest sequence.
inline void add_rel_bias(AttentionProblem& p, uint32_t seed) {
  int32_t longest = 0;
  for (size_t s = 0; s + 1 < p.cu.size(); ++s) longest = std::max(longest, p.cu[s + 1] - p.cu[s]);
  p.args.rel_span = longest - 1;
  p.bias = random_vec(p.args.heads * (2 * p.args.rel_span + 1), seed, -1.0f, 1.0f);
  p.args.rel_bias = p.bias.data();
}

// kAttentionMaskCaseLengths on 4 query heads with c's mask, bias and kv heads.
inline AttentionProblem make_attention_mask_case(const AttentionMaskCase& c, uint32_t seed) {
  AttentionProblem p =
      make_attention_problem(kAttentionMaskCaseLengths, 4, c.kv_heads, c.head_dim, seed);
  p.args.mask = c.mask;
  p.args.window = c.window;
  if (c.rel_bias) add_rel_bias(p, seed + 1);
  return p;
}

struct AsDouble {
  double operator()(float x) const { return x; }
};

// out [T, width] in double from the definition, each Q, K and V element read through `in`
// (as it is, or rounded to the precision a kernel computes in).
template <typename In = AsDouble>
std::vector<double> attention_reference(const AttentionProblem& p, In in = {}) {
  const ops::AttentionArgs& a = p.args;
  std::vector<double> out(p.tokens() * p.width, 0.0);
  const int64_t group = a.heads / a.kv_heads;
  for (int64_t s = 0; s < p.batch(); ++s) {
    const int64_t b = p.cu[s], len = p.cu[s + 1] - p.cu[s];
    for (int64_t h = 0; h < a.heads; ++h) {
      const int64_t c = h * a.head_dim, kc = h / group * a.head_dim;
      for (int64_t i = 0; i < len; ++i) {
        std::vector<double> sc(len, -INFINITY);
        double max = -INFINITY, sum = 0.0;
        for (int64_t j = 0; j < len; ++j) {
          if (a.mask == ops::MaskKind::kCausal && j > i) continue;
          if (a.mask == ops::MaskKind::kLocal && std::abs(i - j) > a.window) continue;
          double dot = 0.0;
          for (int64_t d = 0; d < a.head_dim; ++d)
            dot += in(p.q()[(b + i) * p.ld + c + d]) * in(p.k()[(b + j) * p.ld + kc + d]);
          sc[j] = dot * a.scale;
          if (a.rel_bias) sc[j] += a.rel_bias[h * (2 * a.rel_span + 1) + (j - i) + a.rel_span];
          max = std::max(max, sc[j]);
        }
        for (int64_t j = 0; j < len; ++j) sum += (sc[j] = std::exp(sc[j] - max));
        for (int64_t j = 0; j < len; ++j)
          for (int64_t d = 0; d < a.head_dim; ++d)
            out[(b + i) * p.width + c + d] += sc[j] / sum * in(p.v()[(b + j) * p.ld + kc + d]);
      }
    }
  }
  return out;
}

constexpr float kAttentionSentinel = -777.0f;

// cpu::attention on the `batch` sequences of cu (offsets from the problem's token first_row)
// into rows of width + 3 floats; checks that the padding is untouched and returns the dense
// [rows, width] result.
inline std::vector<float> run_attention(const AttentionProblem& p, const int32_t* cu, int64_t batch,
                                        int64_t first_row) {
  const int64_t rows = cu[batch] - cu[0], ldo = p.width + 3;
  std::vector<float> out((cu[0] + rows) * ldo, kAttentionSentinel);
  const int64_t off = first_row * p.ld;
  cpu::attention(p.q() + off, p.ld, p.k() + off, p.ld, p.v() + off, p.ld, cu, batch, p.args,
                 out.data(), ldo);
  std::vector<float> dense(rows * p.width);
  for (int64_t i = 0; i < rows; ++i) {
    for (int64_t d = 0; d < ldo; ++d) {
      const float y = out[(cu[0] + i) * ldo + d];
      if (d < p.width) {
        dense[i * p.width + d] = y;
      } else {
        EXPECT_EQ(y, kAttentionSentinel) << "wrote into the row padding";
      }
    }
  }
  return dense;
}

// The whole batch.
inline std::vector<float> run_attention(const AttentionProblem& p) {
  return run_attention(p, p.cu.data(), p.batch(), 0);
}

// Attention's memory is linear in length: a task's scratch (packed K and V, the score rows of
// one query block) grows by the same amount for every added key, at most max_per_key floats,
// and holds no [rows, kv_len] or [kv_len, kv_len] buffer.
inline void expect_scratch_linear_in_length(size_t (*floats)(int64_t, int64_t, int64_t),
                                            int64_t head_dim, double max_per_key,
                                            const std::string& name) {
  const int64_t rows = 256;
  const double per_key =
      static_cast<double>(floats(rows, 2048, head_dim) - floats(rows, 1024, head_dim)) / 1024.0;
  EXPECT_GT(per_key, 0.0) << name;
  EXPECT_LE(per_key, max_per_key) << name;
  for (int64_t len : {4096, 8192, 32768})
    EXPECT_EQ(static_cast<double>(floats(rows, len, head_dim)),
              static_cast<double>(floats(rows, 1024, head_dim)) + per_key * (len - 1024))
        << name << " at " << len << " keys";
}

}  // namespace ember::test
