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
#include <cstdio>
#include <string>
#include <vector>

#include "attention_test_util.h"
#include "backends/cpu/cpu_ops.h"
#include "core/cpu_features.h"
#include "core/dtype.h"
#include "kernels/cpu/kernels.h"
#include "ops_test_util.h"

namespace ember {
namespace {

using test::AttentionProblem;
using test::run_attention;

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

// A problem of attention_test_util.h with ops::AttentionArgs::bf16 set.
AttentionProblem make_problem(const std::vector<int32_t>& lengths, int64_t heads, int64_t kv_heads,
                              int64_t head_dim, uint32_t seed) {
  AttentionProblem p = test::make_attention_problem(lengths, heads, kv_heads, head_dim, seed);
  p.args.bf16 = true;
  return p;
}

double round_bf16(float x) {
  return static_cast<double>(bf16_to_float(float_to_bf16(x)));
}

// Both bounds of the header, on the bf16 kernel (asserted to be the one that runs).
void expect_bf16_bounds(const AttentionProblem& p, const std::string& where) {
  ASSERT_STREQ(cpu::attention_kernel_name(p.args), kBf16Kernel) << where;
  const std::vector<float> got = run_attention(p);
  const std::vector<double> rounded =
                                test::attention_reference(p, [](float x) { return round_bf16(x); }),
                            exact = test::attention_reference(p);
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
  for (int64_t head_dim : test::kAttentionHeadDims) {
    const AttentionProblem p = make_problem(test::kAttentionRaggedLengths, 3, 3, head_dim,
                                            90 + static_cast<uint32_t>(head_dim));
    expect_bf16_bounds(p, "ragged head_dim=" + std::to_string(head_dim));
  }
}

TEST(AttentionBf16, EveryTileEdgeUpTo512Keys) {
  SKIP_WITHOUT_AVX512_BF16();
  test::ScopedIsa scope(Isa::kAvx512);
  for (int32_t len : test::kAttentionTileEdgeLengths) {
    const AttentionProblem p = make_problem({len}, 2, 2, 64, 200 + static_cast<uint32_t>(len));
    expect_bf16_bounds(p, "len=" + std::to_string(len));
  }
}

TEST(AttentionBf16, LongOddSequencesWholeRowAndKeyBlocks) {
  SKIP_WITHOUT_AVX512_BF16();
  test::ScopedIsa scope(Isa::kAvx512);
  for (const auto& [len, head_dim] : test::kAttentionLongOddShapes) {
    const AttentionProblem p = make_problem({len}, 1, 1, head_dim, 300);
    expect_bf16_bounds(p, "len=" + std::to_string(len) + " head_dim=" + std::to_string(head_dim));
  }
}

TEST(AttentionBf16, MasksWindowBiasAndGroupedHeads) {
  SKIP_WITHOUT_AVX512_BF16();
  test::ScopedIsa scope(Isa::kAvx512);
  for (const test::AttentionMaskCase& c : test::kAttentionMaskCases) {
    AttentionProblem p = test::make_attention_mask_case(c, 400);
    p.args.bf16 = true;
    expect_bf16_bounds(p, c.name);
  }
}

// Local attention over a long sequence: every task sees only its window's keys.
TEST(AttentionBf16, LocalWindowOverALongSequence) {
  SKIP_WITHOUT_AVX512_BF16();
  test::ScopedIsa scope(Isa::kAvx512);
  AttentionProblem p = make_problem({2000}, 2, 2, 64, 500);
  p.args.mask = ops::MaskKind::kLocal;
  p.args.window = 64;
  expect_bf16_bounds(p, "local w=64 len=2000");
}

// Memory linear in length, as the fp32 kernels: K and V in bf16 (head_dim floats per key for
// both) and the fp32 and bf16 score rows of one query block.
TEST(AttentionBf16, KernelScratchGrowsLinearlyInLength) {
  test::expect_scratch_linear_in_length(kernels::attention_scratch_floats_bf16_avx512bf16, 64,
                                        64 + 12.0, "bf16");
}

// Which kernel runs: bf16 only where asked for and the CPU has avx512_bf16 at the active ISA;
// under EMBER_ISA=avx2 (set_isa here) or scalar, a bf16 model's attention is the fp32 kernel,
// bit for bit what it computes without the flag.
TEST(AttentionBf16Dispatch, Fp32BelowAvx512AndWhereTheCpuLacksBf16) {
  AttentionProblem p = make_problem({7, 130}, 2, 2, 64, 600);
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
    const std::vector<float> with_flag = run_attention(p);
    p.args.bf16 = false;
    const std::vector<float> without = run_attention(p);
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
