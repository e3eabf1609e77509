// cpu::attention on packed batches: against a double-precision reference, packed == each
// sequence alone (bit for bit), fused-QKV strides, lengths 1..512 and one long odd length,
// odd head sizes, and a kernel scratch that grows linearly in length.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/cpu_ops.h"
#include "core/error.h"
#include "kernels/cpu/kernels.h"
#include "ops_test_util.h"

namespace ember {
namespace {

struct Packed {
  std::vector<int32_t> cu;
  std::vector<float> qkv;  // [T, 3 * width]: Q | K | V, as a fused projection writes it
  int64_t heads, head_dim, width, ld;
  int64_t tokens() const { return cu.back(); }
  const float* q() const { return qkv.data(); }
  const float* k() const { return qkv.data() + width; }
  const float* v() const { return qkv.data() + 2 * width; }
};

Packed make_packed(const std::vector<int32_t>& lengths, int64_t heads, int64_t head_dim,
                   uint32_t seed) {
  Packed p;
  p.cu = {0};
  for (int32_t len : lengths) p.cu.push_back(p.cu.back() + len);
  p.heads = heads;
  p.head_dim = head_dim;
  p.width = heads * head_dim;
  p.ld = 3 * p.width;
  // Values up to +-2 make some softmax rows peaky, not all near-uniform.
  p.qkv = test::random_vec(p.tokens() * p.ld, seed, -2.0f, 2.0f);
  return p;
}

ops::AttentionArgs plain_args(int64_t heads, int64_t head_dim, float scale) {
  ops::AttentionArgs a;
  a.heads = a.kv_heads = heads;
  a.head_dim = head_dim;
  a.scale = scale;
  return a;
}

// out [T, width] in double.
std::vector<double> reference(const Packed& p, float scale) {
  std::vector<double> out(p.tokens() * p.width, 0.0);
  for (size_t s = 0; s + 1 < p.cu.size(); ++s) {
    const int64_t b = p.cu[s], len = p.cu[s + 1] - p.cu[s];
    for (int64_t h = 0; h < p.heads; ++h) {
      const int64_t c = h * p.head_dim;
      for (int64_t i = 0; i < len; ++i) {
        std::vector<double> sc(len);
        double max = -INFINITY, sum = 0.0;
        for (int64_t j = 0; j < len; ++j) {
          double dot = 0.0;
          for (int64_t d = 0; d < p.head_dim; ++d)
            dot +=
                static_cast<double>(p.q()[(b + i) * p.ld + c + d]) * p.k()[(b + j) * p.ld + c + d];
          sc[j] = dot * scale;
          max = std::max(max, sc[j]);
        }
        for (int64_t j = 0; j < len; ++j) sum += (sc[j] = std::exp(sc[j] - max));
        for (int64_t j = 0; j < len; ++j)
          for (int64_t d = 0; d < p.head_dim; ++d)
            out[(b + i) * p.width + c + d] += sc[j] / sum * p.v()[(b + j) * p.ld + c + d];
      }
    }
  }
  return out;
}

constexpr float kSentinel = -777.0f;

// Runs cpu::attention with an output row stride of width + 3, checks the padding is untouched,
// and returns the dense [T, width] result.
std::vector<float> run(const Packed& p, float scale, const int32_t* cu, int64_t batch,
                       int64_t first_row) {
  const int64_t rows = cu[batch] - cu[0], ldo = p.width + 3;
  std::vector<float> out((cu[0] + rows) * ldo, kSentinel);
  const int64_t off = first_row * p.ld;
  cpu::attention(p.q() + off, p.ld, p.k() + off, p.ld, p.v() + off, p.ld, cu, batch,
                 plain_args(p.heads, p.head_dim, scale), out.data(), ldo);
  std::vector<float> dense(rows * p.width);
  for (int64_t i = 0; i < rows; ++i) {
    for (int64_t d = 0; d < ldo; ++d) {
      const float y = out[(cu[0] + i) * ldo + d];
      if (d < p.width) {
        dense[i * p.width + d] = y;
      } else {
        EXPECT_EQ(y, kSentinel) << "wrote into the row padding";
      }
    }
  }
  return dense;
}

// Tolerance 2e-6 absolute: outputs are convex combinations of values in [-2, 2].
void expect_matches_reference(const Packed& p, float scale, const std::vector<float>& got,
                              const std::string& where) {
  const std::vector<double> want = reference(p, scale);
  test::MaxError err;
  for (size_t i = 0; i < want.size(); ++i)
    err.check(got[i], want[i], 2e-6, where + " element " + std::to_string(i));
  if (where.find("head_dim=64") != std::string::npos || where.find("len=512") != std::string::npos)
    err.print("attention " + where);
}

TEST(Attention, MixedLengthBatchMatchesReferenceOnEveryIsa) {
  for (Isa isa : test::available_isas()) {
    test::ScopedIsa scope(isa);
    for (int64_t head_dim : {64, 32, 20, 13, 1, 48, 40, 80}) {
      const Packed p = make_packed({1, 2, 7, 64, 129}, 3, head_dim, 31);
      const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
      const std::vector<float> got = run(p, scale, p.cu.data(), 5, 0);
      expect_matches_reference(
          p, scale, got, std::string(isa_name(isa)) + " head_dim=" + std::to_string(head_dim));
    }
  }
}

TEST(Attention, PackedBatchEqualsEachSequenceAlone) {
  for (Isa isa : test::available_isas()) {
    test::ScopedIsa scope(isa);
    const std::vector<int32_t> lengths = {1, 2, 7, 64, 129, 0, 33};
    const Packed p = make_packed(lengths, 4, 32, 41);
    const float scale = 0.1767767f;
    const std::vector<float> packed = run(p, scale, p.cu.data(), 7, 0);
    for (size_t s = 0; s < lengths.size(); ++s) {
      if (lengths[s] == 0) continue;
      const int32_t cu[2] = {0, lengths[s]};
      const std::vector<float> alone = run(p, scale, cu, 1, p.cu[s]);
      for (int64_t i = 0; i < lengths[s] * p.width; ++i)
        ASSERT_EQ(alone[i], packed[p.cu[s] * p.width + i])
            << isa_name(isa) << ": sequence " << s << " element " << i;
    }
  }
}

TEST(Attention, EverySequenceLengthUpTo512) {
  for (Isa isa : test::available_isas()) {
    test::ScopedIsa scope(isa);
    for (int32_t len :
         {1, 2, 3, 8, 9, 15, 16, 17, 31, 32, 33, 127, 128, 129, 255, 256, 257, 511, 512}) {
      const Packed p = make_packed({len}, 2, 64, 50 + len);
      const std::vector<float> got = run(p, 0.125f, p.cu.data(), 1, 0);
      expect_matches_reference(p, 0.125f, got,
                               std::string(isa_name(isa)) + " len=" + std::to_string(len));
    }
  }
}

// Ragged batches with long sequences (several 128-row tasks per head, key counts that are not
// a multiple of any SIMD width) at the encoders' head sizes: every ISA's kernel against the
// double reference and against the scalar twin.
TEST(Attention, RaggedLongBatchMatchesScalarTwinOnEveryIsa) {
  const std::vector<int32_t> lengths = {1, 7, 64, 257, 512};
  for (int64_t head_dim : {32, 64}) {
    const Packed p = make_packed(lengths, 2, head_dim, 60 + static_cast<uint32_t>(head_dim));
    const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
    std::vector<float> scalar;
    {
      test::ScopedIsa scope(Isa::kScalar);
      scalar = run(p, scale, p.cu.data(), 5, 0);
    }
    for (Isa isa : test::available_isas()) {
      test::ScopedIsa scope(isa);
      const std::string where =
          std::string(isa_name(isa)) + " ragged head_dim=" + std::to_string(head_dim);
      const std::vector<float> got =
          isa == Isa::kScalar ? scalar : run(p, scale, p.cu.data(), 5, 0);
      expect_matches_reference(p, scale, got, where);
      test::MaxError err;
      // Both are within 2e-6 of the reference.
      for (size_t i = 0; i < got.size(); ++i)
        err.check(got[i], scalar[i], 4e-6, where + " vs scalar, element " + std::to_string(i));
      if (isa != Isa::kScalar) err.print("attention " + where + " vs scalar");
    }
  }
}

// Long sequences of odd length (K^T panels, score rows and key blocks with a ragged end,
// several query tasks per head) on every ISA against the double reference: at head_dim 64 the
// whole-row softmax, at 128 and 88 (a 16-lane tail) past the AVX-512 kernel's key-block
// threshold (kv_len x head_dim >= 2^17), its online softmax over blocks of 512 keys.
TEST(Attention, LongOddSequencesMatchReferenceOnEveryIsa) {
  for (const auto& [len, head_dim] :
       {std::pair<int32_t, int64_t>{1093, 64}, {1093, 128}, {1501, 88}}) {
    const Packed p = make_packed({len}, 1, head_dim, 77);
    const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
    for (Isa isa : test::available_isas()) {
      test::ScopedIsa scope(isa);
      const std::vector<float> got = run(p, scale, p.cu.data(), 1, 0);
      expect_matches_reference(p, scale, got,
                               std::string(isa_name(isa)) + " len=" + std::to_string(len) +
                                   " head_dim=" + std::to_string(head_dim));
    }
  }
}

// Attention's memory is linear in length: a task's scratch (packed K and V, the score rows of
// one query block) grows by the same amount for every added key, whatever the ISA, and holds no
// [rows, kv_len] or [kv_len, kv_len] buffer.
TEST(Attention, KernelScratchGrowsLinearlyInLength) {
  using Fn = size_t (*)(int64_t, int64_t, int64_t);
  const std::pair<const char*, Fn> kernels[] = {
      {"scalar", kernels::attention_scratch_floats_scalar},
      {"avx2", kernels::attention_scratch_floats_avx2},
      {"avx512", kernels::attention_scratch_floats_avx512}};
  const int64_t head_dim = 64, rows = 256;
  for (const auto& [name, floats] : kernels) {
    const double per_key =
        static_cast<double>(floats(rows, 2048, head_dim) - floats(rows, 1024, head_dim)) / 1024.0;
    EXPECT_GT(per_key, 0.0) << name;
    // 2 head_dim for K and V, at most 8 for the score rows of one query block.
    EXPECT_LE(per_key, 2.0 * head_dim + 8.0) << name;
    for (int64_t len : {4096, 8192, 32768})
      EXPECT_EQ(static_cast<double>(floats(rows, len, head_dim)),
                static_cast<double>(floats(rows, 1024, head_dim)) + per_key * (len - 1024))
          << name << " at " << len << " keys";
  }
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
// every ISA, against a double reference written from their definitions.
std::vector<double> general_reference(const Packed& p, const ops::AttentionArgs& a,
                                      int64_t kv_ld_cols) {
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
            dot += static_cast<double>(p.q()[(b + i) * p.ld + c + d]) *
                   p.qkv[(b + j) * p.ld + p.width + kc + d];
          sc[j] = dot * a.scale;
          if (a.rel_bias) sc[j] += a.rel_bias[h * (2 * a.rel_span + 1) + (j - i) + a.rel_span];
          max = std::max(max, sc[j]);
        }
        for (int64_t j = 0; j < len; ++j) sum += (sc[j] = std::exp(sc[j] - max));
        for (int64_t j = 0; j < len; ++j)
          for (int64_t d = 0; d < a.head_dim; ++d)
            out[(b + i) * p.width + c + d] +=
                sc[j] / sum * p.qkv[(b + j) * p.ld + p.width + kv_ld_cols + kc + d];
      }
    }
  }
  return out;
}

TEST(Attention, MasksBiasAndGroupedHeadsMatchReferenceOnEveryIsa) {
  const std::vector<int32_t> lengths = {1, 5, 40, 130};
  const int64_t heads = 4, head_dim = 32;
  // Q | K | V with K and V of kv_heads only; the buffer keeps full-width K and V slots.
  const Packed p = make_packed(lengths, heads, head_dim, 77);
  const int64_t max_len = 130, span = max_len - 1;
  const std::vector<float> bias = test::random_vec(heads * (2 * span + 1), 78, -1.0f, 1.0f);
  struct Case {
    const char* name;
    ops::MaskKind mask;
    int64_t window;
    bool rel;
    int64_t kv_heads;
  };
  for (const Case c : {Case{"causal", ops::MaskKind::kCausal, 0, false, 4},
                       Case{"local w=3", ops::MaskKind::kLocal, 3, false, 4},
                       Case{"local w=64", ops::MaskKind::kLocal, 64, false, 4},
                       Case{"relative bias", ops::MaskKind::kFull, 0, true, 4},
                       Case{"gqa 4/2", ops::MaskKind::kFull, 0, false, 2},
                       Case{"gqa 4/1 causal", ops::MaskKind::kCausal, 0, false, 1},
                       Case{"local + bias + gqa", ops::MaskKind::kLocal, 10, true, 2}}) {
    ops::AttentionArgs a = plain_args(heads, head_dim, 0.17f);
    a.mask = c.mask;
    a.window = c.window;
    a.kv_heads = c.kv_heads;
    if (c.rel) {
      a.rel_bias = bias.data();
      a.rel_span = span;
    }
    // K in the buffer's K slot, V right after its kv_heads-wide block.
    const int64_t kv_width = c.kv_heads * head_dim;
    const std::vector<double> want = general_reference(p, a, kv_width);
    for (Isa isa : test::available_isas()) {
      test::ScopedIsa scope(isa);
      std::vector<float> out(p.tokens() * p.width, kSentinel);
      cpu::attention(p.q(), p.ld, p.k(), p.ld, p.k() + kv_width, p.ld, p.cu.data(),
                     static_cast<int64_t>(lengths.size()), a, out.data(), p.width);
      test::MaxError err;
      for (size_t i = 0; i < want.size(); ++i)
        err.check(out[i], want[i], 4e-6,
                  std::string(isa_name(isa)) + " " + c.name + " element " + std::to_string(i));
    }
  }
}

}  // namespace
}  // namespace ember
