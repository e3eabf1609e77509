// cpu::attention with ops::AttentionArgs::bf16 (bf16 models): which kernel runs where, and the
// bf16 kernel (attention_head_bf16_avx512bf16) against double references, at short, odd and
// long (> 512 keys, whole-row and key-block softmax) lengths, head sizes 64 / 88 / 128 and odd
// ones, masks, a local window, a bias by distance and grouped heads. Two bounds per element:
//  - against a double reference on Q, K, V rounded to bf16 (the kernel's definition, less the
//    rounding of the softmax weights): |err| <= (2^-8 + 2^-12) max|v| + 1e-5. Rounding each
//    weight to bf16 moves it by at most 2^-9 relative, and the weights are normalised by the
//    sum of the rounded values, so the output moves by at most 2^-8 max|v|; the kernel's exp
//    (4.2e-5 relative) adds less than 2^-12 max|v|, fp32 summation the rest.
//  - against the exact double reference (unrounded inputs): normalised mean squared error
//    <= 1e-4 (observed <= 1.2e-5 on Zen 4; ggml's test-backend-ops allows 5e-4 for
//    low-precision flash attention).
// The kernel tests skip, saying why, on CPUs without avx512_bf16; the dispatch tests run on
// every CPU.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "backends/cpu/cpu_ops.h"
#include "core/cpu_features.h"
#include "core/dtype.h"
#include "kernels/cpu/kernels.h"
#include "ops_test_util.h"

namespace ember {
namespace {

constexpr const char* kBf16Kernel = "attention_head_bf16_avx512bf16";
constexpr double kMaxNmse = 1e-4;

bool cpu_has_bf16() {
  test::ScopedIsa scope(Isa::kAvx512);
  return bf16_gemm_supported();
}

#define SKIP_WITHOUT_AVX512_BF16()                                                 \
  if (!cpu_has_bf16())                                                             \
  GTEST_SKIP() << "this CPU has no avx512_bf16: the bf16 attention kernel cannot " \
                  "run here (the dispatch tests check that fp32 runs instead)"

struct Problem {
  std::vector<int32_t> cu;
  std::vector<float> qkv;  // [T, ld]: Q (heads) | K (kv_heads) | V (kv_heads)
  std::vector<float> bias;
  ops::AttentionArgs args;
  int64_t width, kv_width, ld;
  int64_t tokens() const { return cu.back(); }
  const float* q() const { return qkv.data(); }
  const float* k() const { return qkv.data() + width; }
  const float* v() const { return qkv.data() + width + kv_width; }
};

Problem make_problem(const std::vector<int32_t>& lengths, int64_t heads, int64_t kv_heads,
                     int64_t head_dim, uint32_t seed) {
  Problem p;
  p.cu = {0};
  for (int32_t len : lengths) p.cu.push_back(p.cu.back() + len);
  p.args.heads = heads;
  p.args.kv_heads = kv_heads;
  p.args.head_dim = head_dim;
  p.args.scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
  p.args.bf16 = true;
  p.width = heads * head_dim;
  p.kv_width = kv_heads * head_dim;
  p.ld = p.width + 2 * p.kv_width + 3;  // a padded row, as a fused projection with slack
  // Values up to +-2 make some softmax rows peaky, not all near-uniform.
  p.qkv = test::random_vec(p.tokens() * p.ld, seed, -2.0f, 2.0f);
  return p;
}

void add_rel_bias(Problem& p, uint32_t seed) {
  int32_t longest = 0;
  for (size_t s = 0; s + 1 < p.cu.size(); ++s) longest = std::max(longest, p.cu[s + 1] - p.cu[s]);
  p.args.rel_span = longest - 1;
  p.bias = test::random_vec(p.args.heads * (2 * p.args.rel_span + 1), seed, -1.0f, 1.0f);
  p.args.rel_bias = p.bias.data();
}

double round_bf16(float x) {
  return static_cast<double>(bf16_to_float(float_to_bf16(x)));
}

// out [T, width] in double, from the definition; with `rounded`, Q, K and V are first rounded
// to bf16 as the kernel rounds them.
std::vector<double> reference(const Problem& p, bool rounded) {
  const ops::AttentionArgs& a = p.args;
  auto in = [&](const float* x, int64_t i) {
    return rounded ? round_bf16(x[i]) : static_cast<double>(x[i]);
  };
  std::vector<double> out(p.tokens() * p.width, 0.0);
  const int64_t group = a.heads / a.kv_heads;
  for (size_t s = 0; s + 1 < p.cu.size(); ++s) {
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
            dot += in(p.q(), (b + i) * p.ld + c + d) * in(p.k(), (b + j) * p.ld + kc + d);
          sc[j] = dot * a.scale;
          if (a.rel_bias) sc[j] += a.rel_bias[h * (2 * a.rel_span + 1) + (j - i) + a.rel_span];
          max = std::max(max, sc[j]);
        }
        for (int64_t j = 0; j < len; ++j) sum += (sc[j] = std::exp(sc[j] - max));
        for (int64_t j = 0; j < len; ++j)
          for (int64_t d = 0; d < a.head_dim; ++d)
            out[(b + i) * p.width + c + d] += sc[j] / sum * in(p.v(), (b + j) * p.ld + kc + d);
      }
    }
  }
  return out;
}

constexpr float kSentinel = -777.0f;

// cpu::attention into rows of width + 5 floats; checks the padding is untouched and returns
// the dense [T, width] result.
std::vector<float> run(const Problem& p) {
  const int64_t ldo = p.width + 5;
  std::vector<float> out(p.tokens() * ldo, kSentinel);
  cpu::attention(p.q(), p.ld, p.k(), p.ld, p.v(), p.ld, p.cu.data(),
                 static_cast<int64_t>(p.cu.size()) - 1, p.args, out.data(), ldo);
  std::vector<float> dense(p.tokens() * p.width);
  for (int64_t i = 0; i < p.tokens(); ++i) {
    for (int64_t d = 0; d < ldo; ++d) {
      const float y = out[i * ldo + d];
      if (d < p.width) {
        dense[i * p.width + d] = y;
      } else {
        EXPECT_EQ(y, kSentinel) << "wrote into the row padding";
      }
    }
  }
  return dense;
}

// Both bounds of the header, on the bf16 kernel (asserted to be the one that runs).
void expect_bf16_bounds(const Problem& p, const std::string& where) {
  ASSERT_STREQ(cpu::attention_kernel_name(p.args), kBf16Kernel) << where;
  const std::vector<float> got = run(p);
  const std::vector<double> rounded = reference(p, true), exact = reference(p, false);
  double max_v = 0.0;
  for (int64_t t = 0; t < p.tokens(); ++t)
    for (int64_t c = 0; c < p.kv_width; ++c)
      max_v = std::max(max_v, std::fabs(round_bf16(p.v()[t * p.ld + c])));
  const double tol = (std::ldexp(1.0, -8) + std::ldexp(1.0, -12)) * max_v + 1e-5;
  test::MaxError err;
  double se = 0.0, ss = 0.0;
  for (size_t i = 0; i < got.size(); ++i) {
    err.check(got[i], rounded[i], tol, where + " element " + std::to_string(i));
    se += (got[i] - exact[i]) * (got[i] - exact[i]);
    ss += exact[i] * exact[i];
  }
  const double nmse = se / ss;
  EXPECT_LE(nmse, kMaxNmse) << where;
  std::printf(
      "  bf16 attention %-34s max |err| vs rounded-input ref %.3g (bound %.3g), "
      "nmse vs exact %.3g\n",
      where.c_str(), err.worst, tol, nmse);
}

TEST(AttentionBf16, ShortAndOddLengthsAtTheEncodersHeadSizes) {
  SKIP_WITHOUT_AVX512_BF16();
  test::ScopedIsa scope(Isa::kAvx512);
  for (int64_t head_dim : {64, 88, 128, 32, 13, 1}) {
    const Problem p =
        make_problem({1, 2, 7, 16, 33, 129}, 3, 3, head_dim, 90 + static_cast<uint32_t>(head_dim));
    expect_bf16_bounds(p, "ragged head_dim=" + std::to_string(head_dim));
  }
}

TEST(AttentionBf16, EveryTileEdgeUpTo512Keys) {
  SKIP_WITHOUT_AVX512_BF16();
  test::ScopedIsa scope(Isa::kAvx512);
  for (int32_t len : {3, 8, 9, 15, 17, 31, 32, 63, 128, 255, 257, 511, 512}) {
    const Problem p = make_problem({len}, 2, 2, 64, 200 + static_cast<uint32_t>(len));
    expect_bf16_bounds(p, "len=" + std::to_string(len));
  }
}

// Past 512 keys: at head_dim 64 the whole-row softmax, at 128 and 88 (a 16-lane tail) past the
// key-block threshold (kv_len x head_dim >= 2^17), the online softmax over blocks of 512 keys
// with a ragged last block; several query tasks per head.
TEST(AttentionBf16, LongOddSequencesWholeRowAndKeyBlocks) {
  SKIP_WITHOUT_AVX512_BF16();
  test::ScopedIsa scope(Isa::kAvx512);
  for (const auto& [len, head_dim] :
       {std::pair<int32_t, int64_t>{1093, 64}, {1093, 128}, {1501, 88}}) {
    const Problem p = make_problem({len}, 1, 1, head_dim, 300);
    expect_bf16_bounds(p, "len=" + std::to_string(len) + " head_dim=" + std::to_string(head_dim));
  }
}

TEST(AttentionBf16, MasksWindowBiasAndGroupedHeads) {
  SKIP_WITHOUT_AVX512_BF16();
  test::ScopedIsa scope(Isa::kAvx512);
  struct Case {
    const char* name;
    ops::MaskKind mask;
    int64_t window;
    bool rel;
    int64_t kv_heads;
    int64_t head_dim;
  };
  for (const Case c : {Case{"causal", ops::MaskKind::kCausal, 0, false, 4, 64},
                       Case{"local w=3", ops::MaskKind::kLocal, 3, false, 4, 64},
                       Case{"local w=64", ops::MaskKind::kLocal, 64, false, 4, 88},
                       Case{"relative bias", ops::MaskKind::kFull, 0, true, 4, 64},
                       Case{"gqa 4/2", ops::MaskKind::kFull, 0, false, 2, 128},
                       Case{"gqa 4/1 causal", ops::MaskKind::kCausal, 0, false, 1, 64},
                       Case{"local + bias + gqa", ops::MaskKind::kLocal, 10, true, 2, 64}}) {
    Problem p = make_problem({1, 5, 40, 130, 300}, 4, c.kv_heads, c.head_dim, 400);
    p.args.mask = c.mask;
    p.args.window = c.window;
    if (c.rel) add_rel_bias(p, 401);
    expect_bf16_bounds(p, c.name);
  }
}

// Local attention over a long sequence: every task sees only its window's keys.
TEST(AttentionBf16, LocalWindowOverALongSequence) {
  SKIP_WITHOUT_AVX512_BF16();
  test::ScopedIsa scope(Isa::kAvx512);
  Problem p = make_problem({2000}, 2, 2, 64, 500);
  p.args.mask = ops::MaskKind::kLocal;
  p.args.window = 64;
  expect_bf16_bounds(p, "local w=64 len=2000");
}

// Memory linear in length, as the fp32 kernels (attention_test.cc): K and V in bf16 (head_dim
// floats per key for both) and the fp32 and bf16 score rows of one query block.
TEST(AttentionBf16, KernelScratchGrowsLinearlyInLength) {
  const auto floats = kernels::attention_scratch_floats_bf16_avx512bf16;
  const int64_t head_dim = 64, rows = 256;
  const double per_key =
      static_cast<double>(floats(rows, 2048, head_dim) - floats(rows, 1024, head_dim)) / 1024.0;
  EXPECT_GT(per_key, 0.0);
  EXPECT_LE(per_key, head_dim + 12.0);
  for (int64_t len : {4096, 8192, 32768})
    EXPECT_EQ(static_cast<double>(floats(rows, len, head_dim)),
              static_cast<double>(floats(rows, 1024, head_dim)) + per_key * (len - 1024))
        << len << " keys";
}

// Which kernel runs: bf16 only where asked for and the CPU has avx512_bf16 at the active ISA;
// under EMBER_ISA=avx2 (set_isa here) or scalar, a bf16 model's attention is the fp32 kernel,
// bit for bit what it computes without the flag.
TEST(AttentionBf16Dispatch, Fp32BelowAvx512AndWhereTheCpuLacksBf16) {
  Problem p = make_problem({7, 130}, 2, 2, 64, 600);
  for (Isa isa : test::available_isas()) {
    test::ScopedIsa scope(isa);
    p.args.bf16 = false;
    const std::string fp32 = cpu::attention_kernel_name(p.args);
    EXPECT_EQ(fp32.rfind("attention_head_f32_", 0), 0u) << fp32;
    p.args.bf16 = true;
    const std::string asked = cpu::attention_kernel_name(p.args);
    if (isa == Isa::kAvx512 && bf16_gemm_supported()) {
      EXPECT_EQ(asked, kBf16Kernel);
      continue;
    }
    EXPECT_EQ(asked, fp32) << isa_name(isa);
    const std::vector<float> with_flag = run(p);
    p.args.bf16 = false;
    const std::vector<float> without = run(p);
    ASSERT_EQ(with_flag, without) << isa_name(isa);
  }
  p.args.bf16 = true;
  if (detected_isa() >= Isa::kAvx2) {
    test::ScopedIsa scope(Isa::kAvx2);
    EXPECT_STREQ(cpu::attention_kernel_name(p.args), "attention_head_f32_avx2");
  }
  {
    test::ScopedIsa scope(Isa::kScalar);
    EXPECT_STREQ(cpu::attention_kernel_name(p.args), "attention_head_f32_scalar");
  }
}

}  // namespace
}  // namespace ember
