// Every op of the backend seam, run through the CPU backend (on every ISA this machine has,
// packed and unpacked weights) and through the reference backend (plain loops, sums in
// double), on the same random inputs: the two must agree within each op's float tolerance.
// The reference shares no code with the CPU kernels, so this checks kernels, dispatch and the
// seam together, op by op (the model-by-model check is tests/model/backend_parity_test.cc).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "backends/cpu/cpu_backend.h"
#include "backends/reference/reference_backend.h"
#include "core/cpu_features.h"
#include "core/error.h"
#include "ops/backend.h"
#include "ops/ops_test_util.h"

namespace ember {
namespace {

using ops::Activation;
using ops::View;

// A backend under test and a name for messages.
struct Subject {
  std::string name;
  std::unique_ptr<ops::Backend> backend;
  Isa isa;
};

std::vector<Subject> subjects() {
  std::vector<Subject> out;
  for (Isa isa : test::available_isas())
    for (bool pack : {false, true}) {
      if (pack && isa == Isa::kScalar) continue;  // packing needs AVX2
      cpu::CpuBackendOptions o;
      o.pool.threads = 2;
      o.pack_weights = pack;
      out.push_back({std::string("cpu/") + std::string(isa_name(isa)) + (pack ? "/packed" : ""),
                     std::make_unique<cpu::CpuBackend>(o), isa});
    }
  return out;
}

// Runs `op` on the reference backend and on every CPU subject with copies of the same inputs,
// and compares `out` element by element: |cpu - ref| <= atol + rtol |ref|.
void compare(const std::string& what, const std::vector<float>& init,
             const std::function<void(ops::Backend&, std::vector<float>&)>& op, double atol,
             double rtol = 0.0) {
  reference::ReferenceBackend ref;
  std::vector<float> want = init;
  op(ref, want);
  for (Subject& s : subjects()) {
    test::ScopedIsa scope(s.isa);
    std::vector<float> got = init;
    op(*s.backend, got);
    test::MaxError err;
    for (size_t i = 0; i < got.size(); ++i)
      err.check(got[i], want[i], atol + rtol * std::fabs(want[i]),
                what + " " + s.name + " element " + std::to_string(i));
  }
}

View view_of(std::vector<float>& v, int64_t rows, int64_t cols, int64_t offset = 0,
             int64_t ld = 0) {
  return View{v.data() + offset, rows, cols, ld ? ld : cols};
}

TEST(BackendOps, LinearFloat) {
  for (auto [m, k, n] : {std::tuple<int64_t, int64_t, int64_t>{1, 32, 48},
                         {3, 384, 384},
                         {17, 384, 1536},
                         {70, 96, 200},
                         {130, 64, 64}}) {
    const auto w = test::random_vec(n * k, 1, -0.2f, 0.2f);
    const auto b = test::random_vec(n, 2);
    const auto x = test::random_vec(m * k, 3);
    for (Activation act : {Activation::kNone, Activation::kGeluErf, Activation::kGeluTanh,
                           Activation::kRelu, Activation::kTanh, Activation::kSilu}) {
      ops::LinearSource src;
      src.out = n;
      src.in = k;
      src.w = w.data();
      src.b = b.data();
      std::vector<float> io(m * k + m * n, 0.0f);
      std::copy(x.begin(), x.end(), io.begin());
      compare(
          cat("linear ", m, "x", k, "->", n, " ", ops::activation_name(act)), io,
          [&](ops::Backend& be, std::vector<float>& v) {
            const auto l = be.prepare_linear(src);
            be.linear(*l, view_of(v, m, k), view_of(v, m, n, m * k), act);
          },
          2e-5, 2e-5);
    }
  }
}

TEST(BackendOps, LinearInt8) {
  const int64_t m = 9, k = 256, n = 96;
  std::vector<int8_t> w(n * k);
  std::vector<int32_t> sums(n, 0);
  for (int64_t i = 0; i < n * k; ++i) {
    w[i] = static_cast<int8_t>((i * 37 + 11) % 255 - 127);
    sums[i / k] += w[i];
  }
  const auto scale = test::random_vec(n, 5, 0.001f, 0.01f);
  const auto b = test::random_vec(n, 6);
  const auto x = test::random_vec(m * k, 7, -3.0f, 4.0f);
  ops::LinearSource src;
  src.out = n;
  src.in = k;
  src.b = b.data();
  src.q = ops::Int8Weights{w.data(), scale.data(), sums.data(), 127};
  std::vector<float> io(m * k + m * n, 0.0f);
  std::copy(x.begin(), x.end(), io.begin());
  compare(
      "linear int8", io,
      [&](ops::Backend& be, std::vector<float>& v) {
        const auto l = be.prepare_linear(src);
        be.linear(*l, view_of(v, m, k), view_of(v, m, n, m * k), Activation::kGeluErf);
      },
      1e-5, 1e-5);
}

TEST(BackendOps, LayerNormAndRmsNorm) {
  const int64_t m = 13, n = 96;
  const auto x = test::random_vec(2 * m * n, 11, -3.0f, 5.0f);
  const auto gamma = test::random_vec(n, 12, 0.5f, 1.5f);
  const auto beta = test::random_vec(n, 13);
  for (ops::NormKind kind : {ops::NormKind::kLayerNorm, ops::NormKind::kRmsNorm})
    for (bool residual : {false, true})
      for (bool shift : {false, true})
        for (bool in_place : {false, true}) {
          compare(
              cat(kind == ops::NormKind::kLayerNorm ? "layer_norm" : "rms_norm",
                  residual ? " +residual" : "", shift ? " +beta" : "", in_place ? " in place" : ""),
              x,
              [&](ops::Backend& be, std::vector<float>& v) {
                const auto g = be.prepare_weight(gamma.data(), n);
                const auto bt = be.prepare_weight(beta.data(), n);
                ops::NormArgs a{kind, g.get(), shift ? bt.get() : nullptr, 1e-6f, 0};
                const View src = view_of(v, m, n), res = view_of(v, m, n, m * n);
                be.norm(src, residual ? &res : nullptr, in_place ? src : res, a);
              },
              2e-6, 2e-6);
        }
}

// Per-head RMSNorm on the Q columns of a fused projection (Qwen3's q_norm): groups of head_dim
// inside rows with a stride.
TEST(BackendOps, GroupedRmsNormOnAStridedView) {
  const int64_t t = 7, heads = 4, hd = 16, ld = 3 * heads * hd;
  const auto x = test::random_vec(t * ld, 21, -2.0f, 2.0f);
  const auto gamma = test::random_vec(hd, 22, 0.5f, 1.5f);
  compare(
      "grouped rms_norm", x,
      [&](ops::Backend& be, std::vector<float>& v) {
        const auto g = be.prepare_weight(gamma.data(), hd);
        const View q = view_of(v, t, heads * hd, 0, ld);
        be.norm(q, nullptr, q, ops::NormArgs{ops::NormKind::kRmsNorm, g.get(), nullptr, 1e-6f, hd});
      },
      2e-6, 2e-6);
}

TEST(BackendOps, EmbedAddGatherAndActivation) {
  const int64_t vocab = 50, dim = 24, t = 9;
  const auto word = test::random_vec(vocab * dim, 31);
  const auto pos = test::random_vec(20 * dim, 32);
  const auto type = test::random_vec(2 * dim, 33);
  const std::vector<int32_t> ids = {0, 5, 49, 7, 7, 3, 2, 1, 10};
  const std::vector<int32_t> positions = {0, 1, 2, 3, 0, 1, 2, 3, 4};
  const std::vector<int32_t> types = {0, 0, 1, 1, 0, 1, 0, 0, 1};
  for (int variant = 0; variant < 3; ++variant)
    compare(
        cat("embed variant ", variant), std::vector<float>(t * dim, 0.0f),
        [&](ops::Backend& be, std::vector<float>& v) {
          const auto w = be.prepare_weight(word.data(), vocab * dim);
          const auto p = be.prepare_weight(pos.data(), 20 * dim);
          const auto ty = be.prepare_weight(type.data(), 2 * dim);
          ops::EmbedArgs a;
          a.tokens = t;
          a.ids = ids.data();
          a.word = w.get();
          if (variant >= 1) {
            a.position = p.get();
            a.positions = positions.data();
          }
          if (variant >= 2) {
            a.token_type = ty.get();
            a.type_ids = types.data();
          }
          be.embed(a, view_of(v, t, dim));
        },
        0.0, 1e-7);

  const auto x = test::random_vec(2 * t * dim, 34, -6.0f, 6.0f);
  compare(
      "add", x,
      [&](ops::Backend& be, std::vector<float>& v) {
        be.add(view_of(v, t, dim), view_of(v, t, dim, t * dim));
      },
      0.0, 1e-7);
  const std::vector<int32_t> rows = {8, 0, 3};
  std::vector<float> g(t * dim + 3 * dim, 0.0f);
  std::copy(x.begin(), x.begin() + t * dim, g.begin());
  compare(
      "gather_rows", g,
      [&](ops::Backend& be, std::vector<float>& v) {
        be.gather_rows(view_of(v, t, dim), rows.data(), view_of(v, 3, dim, t * dim));
      },
      0.0);
  for (Activation act : {Activation::kGeluErf, Activation::kGeluTanh, Activation::kRelu,
                         Activation::kTanh, Activation::kSilu})
    compare(
        cat("activation ", ops::activation_name(act)), x,
        [&](ops::Backend& be, std::vector<float>& v) {
          be.activation(view_of(v, 2 * t, dim), act);
        },
        1e-6, 1e-6);
}

TEST(BackendOps, GatedActivations) {
  const int64_t t = 11, f = 40;
  const auto x = test::random_vec(t * 2 * f + t * f, 41, -5.0f, 5.0f);
  for (Activation act : {Activation::kGeluErf, Activation::kSilu})
    compare(
        cat("gated ", ops::activation_name(act)), x,
        [&](ops::Backend& be, std::vector<float>& v) {
          be.gated(view_of(v, t, 2 * f), view_of(v, t, f, t * 2 * f), act);
        },
        2e-6, 2e-6);
}

// Full and partial rotary, on the Q and K column blocks of a fused projection.
TEST(BackendOps, Rotary) {
  const int64_t t = 40, heads = 3, hd = 32, ld = 3 * heads * hd;
  const auto x = test::random_vec(t * ld, 51, -2.0f, 2.0f);
  std::vector<int32_t> positions(t);
  for (int64_t i = 0; i < t; ++i) positions[i] = static_cast<int32_t>((i * 53) % 600);
  for (int64_t dims : {hd, hd / 2})
    for (float base : {10000.0f, 160000.0f})
      compare(
          cat("rotary dims ", dims, " base ", base), x,
          [&](ops::Backend& be, std::vector<float>& v) {
            be.rotary(view_of(v, t, heads * hd, 0, ld),
                      ops::RotaryArgs{heads, hd, dims, base, positions.data()});
          },
          2e-6, 2e-6);
}

TEST(BackendOps, AttentionWithMasksBiasAndGroupedHeads) {
  // The last sequence splits into three query ranges per head on the CPU backend (into ranges
  // of about one window under the local masks), each of which sees only part of the keys
  // under the causal and local masks.
  const std::vector<int32_t> cu = {0, 1, 9, 49, 120, 720};
  const int64_t t = cu.back(), heads = 4, hd = 16, span = 599;
  const auto bias = test::random_vec(heads * (2 * span + 1), 61);
  struct Case {
    ops::MaskKind mask;
    int64_t window, kv_heads;
    bool rel;
  };
  for (const Case c :
       {Case{ops::MaskKind::kFull, 0, 4, false}, Case{ops::MaskKind::kCausal, 0, 2, false},
        Case{ops::MaskKind::kLocal, 8, 4, true}, Case{ops::MaskKind::kFull, 0, 1, true},
        Case{ops::MaskKind::kLocal, 64, 2, false}, Case{ops::MaskKind::kCausal, 0, 4, true}}) {
    const int64_t qw = heads * hd, kvw = c.kv_heads * hd, ld = qw + 2 * kvw;
    std::vector<float> v = test::random_vec(t * ld + t * qw, 62, -2.0f, 2.0f);
    ops::AttentionArgs a;
    a.heads = heads;
    a.kv_heads = c.kv_heads;
    a.head_dim = hd;
    a.scale = 0.25f;
    a.mask = c.mask;
    a.window = c.window;
    if (c.rel) {
      a.rel_bias = bias.data();
      a.rel_span = span;
    }
    compare(
        cat("attention mask ", static_cast<int>(c.mask), " kv ", c.kv_heads, c.rel ? " bias" : ""),
        v,
        [&](ops::Backend& be, std::vector<float>& buf) {
          const View qkv = view_of(buf, t, ld);
          be.attention(qkv.cols_at(0, qw), qkv.cols_at(qw, kvw), qkv.cols_at(qw + kvw, kvw),
                       ops::SeqLayout{cu.data(), 5}, a, view_of(buf, t, qw, t * ld));
        },
        4e-6, 4e-6);
  }
}

// DeBERTa's attention: both position terms or one, a clamped monotonic distance -> row map (as
// log buckets give) and an arbitrary one, and a sequence long enough to split into two query
// ranges per head on the CPU backend.
TEST(BackendOps, DisentangledAttention) {
  const std::vector<int32_t> cu = {0, 1, 9, 49, 300};
  const int64_t t = cu.back(), heads = 3, hd = 16, width = heads * hd, rows = 40;
  const int64_t span = 299;  // longest sequence - 1
  std::vector<int32_t> monotonic(2 * span + 1), scrambled(2 * span + 1);
  for (int64_t d = -span; d <= span; ++d) {
    monotonic[d + span] = static_cast<int32_t>(std::clamp<int64_t>(d / 4 + rows / 2, 0, rows - 1));
    scrambled[d + span] = static_cast<int32_t>(((d + span) * 7) % rows);
  }
  struct Case {
    bool c2p, p2c;
    const std::vector<int32_t>* index;
  };
  for (const Case c : {Case{true, true, &monotonic}, Case{true, false, &monotonic},
                       Case{false, true, &monotonic}, Case{true, true, &scrambled}}) {
    // [t, 3 width] q|k|v, then the table [rows, 2 width] pos_query|pos_key, then out [t, width].
    const int64_t qkv = 3 * width, table = t * qkv, out = table + rows * 2 * width;
    std::vector<float> v = test::random_vec(out + t * width, 63, -1.5f, 1.5f);
    ops::DisentangledAttentionArgs a;
    a.heads = heads;
    a.head_dim = hd;
    a.scale = 1.0f / std::sqrt(static_cast<float>(hd * 3));
    a.c2p = c.c2p;
    a.p2c = c.p2c;
    a.rel_index = c.index->data();
    a.rel_span = span;
    compare(
        cat("disentangled attention c2p ", c.c2p, " p2c ", c.p2c,
            c.index == &scrambled ? " scrambled" : ""),
        v,
        [&](ops::Backend& be, std::vector<float>& buf) {
          const View x = view_of(buf, t, qkv), pos = view_of(buf, rows, 2 * width, table);
          be.disentangled_attention(x.cols_at(0, width), x.cols_at(width, width),
                                    x.cols_at(2 * width, width), pos.cols_at(0, width),
                                    pos.cols_at(width, width), ops::SeqLayout{cu.data(), 4}, a,
                                    view_of(buf, t, width, out));
        },
        4e-6, 4e-6);
  }
}

TEST(BackendOps, PoolingEveryMode) {
  const std::vector<int32_t> cu = {0, 1, 6, 30};
  const int64_t t = 30, h = 32;
  const auto x = test::random_vec(t * h + 3 * h, 71, -3.0f, 3.0f);
  for (ops::PoolMode mode : {ops::PoolMode::kCls, ops::PoolMode::kMean, ops::PoolMode::kMax,
                             ops::PoolMode::kMeanSqrtLen, ops::PoolMode::kLastToken})
    for (bool normalize : {false, true})
      compare(
          cat("pool ", static_cast<int>(mode), normalize ? " normalized" : ""), x,
          [&](ops::Backend& be, std::vector<float>& v) {
            be.pool(view_of(v, t, h), ops::SeqLayout{cu.data(), 3}, mode, normalize,
                    view_of(v, 3, h, t * h));
          },
          1e-6, 1e-6);
}

TEST(BackendOps, SparsePooling) {
  const std::vector<int32_t> cu = {0, 1, 7, 40};
  const int64_t t = 40, vocab = 1500;
  const auto x = test::random_vec(t * vocab + 3 * vocab, 81, -4.0f, 2.0f);
  for (bool max : {true, false})
    for (bool double_log : {false, true})
      compare(
          cat("sparse_pool ", max ? "max" : "sum", double_log ? " log1p_relu" : " relu"), x,
          [&](ops::Backend& be, std::vector<float>& v) {
            be.sparse_pool(view_of(v, t, vocab), ops::SeqLayout{cu.data(), 3},
                           ops::SparsePoolArgs{max, double_log}, view_of(v, 3, vocab, t * vocab));
          },
          1e-6, 2e-6);
}

// Wrong calls stop at the seam with kInternal, whatever the backend.
TEST(BackendOps, ShapeErrorsAreCaughtAtTheSeam) {
  reference::ReferenceBackend ref;
  cpu::CpuBackend cpu_backend;
  for (ops::Backend* be :
       {static_cast<ops::Backend*>(&ref), static_cast<ops::Backend*>(&cpu_backend)}) {
    std::vector<float> v(64, 0.0f), w(16, 0.5f);
    ops::LinearSource src;
    src.out = 4;
    src.in = 4;
    src.w = w.data();
    const auto l = be->prepare_linear(src);
    EXPECT_THROW(be->linear(*l, view_of(v, 2, 3), view_of(v, 2, 4, 16)), Error) << be->name();
    EXPECT_THROW(be->add(view_of(v, 2, 4), view_of(v, 3, 4)), Error) << be->name();
    const auto g = be->prepare_weight(w.data(), 3);
    EXPECT_THROW(be->norm(view_of(v, 2, 4), nullptr, view_of(v, 2, 4),
                          ops::NormArgs{ops::NormKind::kLayerNorm, g.get(), nullptr, 1e-5f, 0}),
                 Error)
        << be->name();
    EXPECT_THROW(be->rotary(view_of(v, 2, 8), ops::RotaryArgs{2, 4, 3, 10000.0f, nullptr}), Error)
        << be->name();
    const std::vector<int32_t> rows = {5};
    EXPECT_THROW(be->gather_rows(view_of(v, 2, 4), rows.data(), view_of(v, 1, 4, 32)), Error)
        << be->name();
    // A distance whose table row is outside the table.
    const std::vector<int32_t> cu = {0, 2}, index = {0, 1, 2};
    ops::DisentangledAttentionArgs da;
    da.heads = 2;
    da.head_dim = 2;
    da.rel_index = index.data();
    da.rel_span = 1;
    EXPECT_THROW(be->disentangled_attention(view_of(v, 2, 4), view_of(v, 2, 4), view_of(v, 2, 4),
                                            view_of(v, 2, 4, 16), view_of(v, 2, 4, 16),
                                            ops::SeqLayout{cu.data(), 1}, da, view_of(v, 2, 4, 32)),
                 Error)
        << be->name();
  }
}

}  // namespace
}  // namespace ember
