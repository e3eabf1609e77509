// cpu::attention on packed batches: against a double-precision reference, packed == each
// sequence alone (bit for bit), fused-QKV strides, lengths 1..512 and long odd lengths, odd
// head sizes, masks, a bias by distance, grouped heads, and a kernel scratch that grows
// linearly in length; every ISA the CPU has (attention_test_util.h: shapes and reference).
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "attention_test_util.h"
#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/cpu_ops.h"
#include "core/error.h"
#include "kernels/cpu/kernels.h"
#include "ops_test_util.h"

namespace ember {
namespace {

using test::AttentionProblem;
using test::make_attention_problem;
using test::run_attention;

ops::AttentionArgs plain_args(int64_t heads, int64_t head_dim, float scale) {
  ops::AttentionArgs a;
  a.heads = a.kv_heads = heads;
  a.head_dim = head_dim;
  a.scale = scale;
  return a;
}

// |got - want| <= tol for every element (outputs are convex combinations of values in
// [-2, 2]); prints the worst error of the shapes the encoders run.
void expect_near(const std::vector<float>& got, const std::vector<double>& want, double tol,
                 const std::string& where) {
  test::MaxError err;
  for (size_t i = 0; i < want.size(); ++i)
    err.check(got[i], want[i], tol, where + " element " + std::to_string(i));
  if (where.find("head_dim=64") != std::string::npos || where.find("len=512") != std::string::npos)
    err.print("attention " + where);
}

// cpu::attention on p under every ISA the CPU has, each within tol of the double reference.
void expect_every_isa_near_reference(const AttentionProblem& p, double tol,
                                     const std::string& where) {
  const std::vector<double> want = test::attention_reference(p);
  for (Isa isa : test::available_isas()) {
    test::ScopedIsa scope(isa);
    expect_near(run_attention(p), want, tol, std::string(isa_name(isa)) + " " + where);
  }
}

TEST(Attention, MixedLengthBatchMatchesReferenceOnEveryIsa) {
  for (int64_t head_dim : test::kAttentionHeadDims) {
    const AttentionProblem p =
        make_attention_problem(test::kAttentionRaggedLengths, 3, 3, head_dim, 31);
    expect_every_isa_near_reference(p, 2e-6, "head_dim=" + std::to_string(head_dim));
  }
}

TEST(Attention, PackedBatchEqualsEachSequenceAlone) {
  for (Isa isa : test::available_isas()) {
    test::ScopedIsa scope(isa);
    const std::vector<int32_t> lengths = {1, 2, 7, 64, 129, 0, 33};
    const AttentionProblem p = make_attention_problem(lengths, 4, 4, 32, 41);
    const std::vector<float> packed = run_attention(p);
    for (size_t s = 0; s < lengths.size(); ++s) {
      if (lengths[s] == 0) continue;
      const int32_t cu[2] = {0, lengths[s]};
      const std::vector<float> alone = run_attention(p, cu, 1, p.cu[s]);
      for (int64_t i = 0; i < lengths[s] * p.width; ++i)
        ASSERT_EQ(alone[i], packed[p.cu[s] * p.width + i])
            << isa_name(isa) << ": sequence " << s << " element " << i;
    }
  }
}

TEST(Attention, EverySequenceLengthUpTo512) {
  for (int32_t len : test::kAttentionTileEdgeLengths) {
    const AttentionProblem p = make_attention_problem({len}, 2, 2, 64, 50 + len);
    expect_every_isa_near_reference(p, 2e-6, "len=" + std::to_string(len));
  }
}

// Ragged batches with long sequences (several 128-row tasks per head, key counts that are not
// a multiple of any SIMD width) at the encoders' head sizes: every ISA's kernel against the
// double reference and against the scalar twin.
TEST(Attention, RaggedLongBatchMatchesScalarTwinOnEveryIsa) {
  const std::vector<int32_t> lengths = {1, 7, 64, 257, 512};
  for (int64_t head_dim : {32, 64}) {
    const AttentionProblem p =
        make_attention_problem(lengths, 2, 2, head_dim, 60 + static_cast<uint32_t>(head_dim));
    const std::vector<double> want = test::attention_reference(p);
    std::vector<float> scalar;
    {
      test::ScopedIsa scope(Isa::kScalar);
      scalar = run_attention(p);
    }
    for (Isa isa : test::available_isas()) {
      test::ScopedIsa scope(isa);
      const std::string where =
          std::string(isa_name(isa)) + " ragged head_dim=" + std::to_string(head_dim);
      const std::vector<float> got = isa == Isa::kScalar ? scalar : run_attention(p);
      expect_near(got, want, 2e-6, where);
      test::MaxError err;
      // Both are within 2e-6 of the reference.
      for (size_t i = 0; i < got.size(); ++i)
        err.check(got[i], scalar[i], 4e-6, where + " vs scalar, element " + std::to_string(i));
      if (isa != Isa::kScalar) err.print("attention " + where + " vs scalar");
    }
  }
}

TEST(Attention, LongOddSequencesMatchReferenceOnEveryIsa) {
  for (const auto& [len, head_dim] : test::kAttentionLongOddShapes) {
    const AttentionProblem p = make_attention_problem({len}, 1, 1, head_dim, 77);
    expect_every_isa_near_reference(
        p, 2e-6, "len=" + std::to_string(len) + " head_dim=" + std::to_string(head_dim));
  }
}

// Every ISA's scratch: 2 head_dim per key for K and V, at most 8 for the score rows of one
// query block.
TEST(Attention, KernelScratchGrowsLinearlyInLength) {
  using Fn = size_t (*)(int64_t, int64_t, int64_t);
  const std::pair<const char*, Fn> kernels[] = {
      {"scalar", kernels::attention_scratch_floats_scalar},
      {"avx2", kernels::attention_scratch_floats_avx2},
      {"avx512", kernels::attention_scratch_floats_avx512}};
  for (const auto& [name, floats] : kernels)
    test::expect_scratch_linear_in_length(floats, 64, 2.0 * 64 + 8.0, name);
}

TEST(Attention, EmptyBatchAndEmptySequencesAreFine) {
  const int32_t cu[4] = {0, 0, 0, 0};
  cpu::attention(nullptr, 8, nullptr, 8, nullptr, 8, cu, 3, plain_args(2, 4, 0.5f), nullptr, 8);
  cpu::attention(nullptr, 8, nullptr, 8, nullptr, 8, cu, 0, plain_args(2, 4, 0.5f), nullptr, 8);
}

// The backend seam checks every attention call before a kernel sees it.
TEST(Attention, BadArgumentsThrowAtTheSeam) {
  cpu::CpuBackend backend;
  std::vector<float> buf(64, 0.0f);
  const int32_t good[3] = {0, 2, 4};
  const int32_t decreasing[3] = {0, 3, 2};
  auto call = [&](const int32_t* cu, int64_t ld, int64_t heads, int64_t head_dim, float scale,
                  int64_t kv_heads = 0) {
    ops::AttentionArgs a = plain_args(heads, head_dim, scale);
    if (kv_heads) a.kv_heads = kv_heads;
    const ops::View q{buf.data(), 4, heads * head_dim, ld};
    const ops::View kv{buf.data(), 4, a.kv_heads * head_dim, ld};
    backend.attention(q, kv, kv, ops::SeqLayout{cu, 2}, a, q);
  };
  EXPECT_NO_THROW(call(good, 8, 2, 4, 0.5f));
  EXPECT_THROW(call(decreasing, 8, 2, 4, 0.5f), Error);
  EXPECT_THROW(call(good, 7, 2, 4, 0.5f), Error);  // ld < heads * head_dim
  EXPECT_THROW(call(good, 8, 0, 4, 0.5f), Error);
  EXPECT_THROW(call(good, 8, 2, 4, NAN), Error);
  EXPECT_THROW(call(nullptr, 8, 2, 4, 0.5f), Error);
  EXPECT_THROW(call(good, 8, 2, 4, 0.5f, 3), Error);  // heads not a multiple of kv heads
}

// Masks (causal, local window), a bias by distance (MPNet) and grouped-query attention, on
// every ISA, against the double reference written from their definitions.
TEST(Attention, MasksBiasAndGroupedHeadsMatchReferenceOnEveryIsa) {
  for (const test::AttentionMaskCase& c : test::kAttentionMaskCases) {
    expect_every_isa_near_reference(test::make_attention_mask_case(c, 77), 4e-6, c.name);
  }
}

}  // namespace
}  // namespace ember
