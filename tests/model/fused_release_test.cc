// The host copies of Linear matrices (fused projections, Q/K/V and gate/up: detail::fuse_rows;
// the store's bf16 conversions of an fp32 checkpoint) are freed once the CPU backend has packed
// them (Model::prepare's release_copies): the model's outputs are the same bits as with the
// copies kept, the bytes freed are exactly those of the copies, and nothing is freed where the
// backend still reads them (--no-pack-weights, the reference backend). Float, bf16 and int8
// models; BERT (Q/K/V), Qwen3 (Q/K/V and gate/up) and DeBERTa (whose relative embeddings go
// through Q/K/V after preparation).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "backends/cpu/cpu_backend.h"
#include "backends/reference/reference_backend.h"
#include "core/cpu_features.h"
#include "core/dtype.h"
#include "io/checkpoint.h"
#include "io/json_config.h"
#include "io/model_dir.h"
#include "io/safetensors.h"
#include "io/safetensors_writer.h"
#include "model/model.h"
#include "model/workspace.h"
#include "runtime/quantize_model.h"

namespace ember {
namespace {
namespace fs = std::filesystem;

fs::path fixture(const std::string& name) {
  return fs::path(EMBER_SOURCE_DIR) / "tests/fixtures/models" / name;
}

struct Loaded {
  std::unique_ptr<ops::Backend> backend;
  std::unique_ptr<model::Model> model;
};

struct LoadOptions {
  bool release = true;
  bool pack = true;
  bool reference = false;
  DType dtype = DType::kF32;
};

Loaded load(const std::string& dir, const LoadOptions& o) {
  const io::ModelFiles files = io::resolve_model(dir);
  Loaded l;
  if (o.reference) {
    l.backend = std::make_unique<reference::ReferenceBackend>();
  } else {
    cpu::CpuBackendOptions co;
    co.pool.threads = 2;
    co.pack_weights = o.pack;
    l.backend = std::make_unique<cpu::CpuBackend>(co);
  }
  io::WeightStore store = io::load_checkpoint(*files.checkpoint);
  store.set_linear_dtype(o.dtype);
  l.model = model::Model::load(io::JsonConfig::load(*files.config), std::move(store));
  l.model->prepare(*l.backend, o.release);
  return l;
}

// Sequences of random ids of these lengths, one packed batch.
model::Batch random_batch(const model::ModelSpec& spec, const std::vector<int64_t>& lengths) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<int32_t> id(0, static_cast<int32_t>(spec.vocab_size()) - 1);
  model::Batch b;
  for (const int64_t n : lengths) {
    std::vector<int32_t> ids(static_cast<size_t>(n)), types(static_cast<size_t>(n), 0);
    for (auto& i : ids) i = id(rng);
    b.add(ids, types);
  }
  return b;
}

std::vector<float> hidden(const Loaded& l, const model::Batch& batch) {
  model::Workspace ws(*l.backend);
  const ops::View v = l.model->forward(batch, ws);
  std::vector<float> out(static_cast<size_t>(v.rows * v.cols));
  l.backend->to_host(v, out.data());
  return out;
}

// The bytes of every fused matrix (Q/K/V of each layer, and gate/up of gated FFNs), or with
// `all`, of every layer Linear.
int64_t copied_bytes(const model::ModelSpec& spec, int64_t bytes_per_weight, bool all) {
  int64_t n = 0;
  const int64_t h = spec.hidden_size;
  for (const auto& l : spec.layers) {
    const bool gated = l.ffn.kind == model::FfnKind::kGated;
    n += (l.attn.q_width() + 2 * l.attn.kv_width()) * h;
    if (gated) n += 2 * l.ffn.width * h;
    if (all) n += h * l.attn.q_width() + (gated ? 0 : l.ffn.width * h) + h * l.ffn.width;
  }
  return n * bytes_per_weight;
}

// Released and kept copies give the same bits on multi-row batches (both run the packed
// weights); a one-token batch runs the packed weights where the copy is released and the
// unpacked kernel where it is kept, so only the rounding differs there.
// `converted`: every Linear is a conversion of the checkpoint (bf16 from fp32), not only the
// fused ones a copy.
void expect_release_changes_nothing(const std::string& dir, DType dtype, int64_t bytes_per_weight,
                                    bool converted = false) {
  SCOPED_TRACE(dir);
  const Loaded released = load(dir, {.release = true, .dtype = dtype});
  const Loaded kept = load(dir, {.release = false, .dtype = dtype});
  const model::ModelSpec& spec = released.model->spec();
  EXPECT_EQ(released.model->released_bytes(), copied_bytes(spec, bytes_per_weight, converted));
  EXPECT_EQ(kept.model->released_bytes(), 0);
  for (const auto& l : released.model->weights().layers) {
    EXPECT_EQ(l.qkv.weight_data(), nullptr);
    // In place in the mapping (the backend pages it out) unless converted.
    EXPECT_EQ(l.attn_out.weight_data() == nullptr, converted);
  }
  for (const auto& l : kept.model->weights().layers) EXPECT_NE(l.qkv.weight_data(), nullptr);
  EXPECT_EQ(released.model->bf16_linears(), kept.model->bf16_linears());

  const auto batch = random_batch(spec, {5, 17, 2, 300});
  const auto a = hidden(released, batch), b = hidden(kept, batch);
  ASSERT_EQ(a.size(), b.size());
  EXPECT_EQ(std::memcmp(a.data(), b.data(), sizeof(float) * a.size()), 0);

  const auto one = random_batch(spec, {1});
  const auto c = hidden(released, one), d = hidden(kept, one);
  ASSERT_EQ(c.size(), d.size());
  for (size_t i = 0; i < c.size(); ++i) ASSERT_NEAR(c[i], d[i], 1e-4 * (1 + std::fabs(d[i]))) << i;
}

TEST(FusedRelease, Fp32BertQwen3AndDebertaGiveTheSameBits) {
  const fs::path minilm = io::model_cache_dir() / "all-MiniLM-L6-v2";
  ASSERT_TRUE(fs::exists(minilm / "model.safetensors"))
      << minilm << " is missing: run scripts/fetch_models.sh";
  expect_release_changes_nothing(minilm.string(), DType::kF32, 4);
  expect_release_changes_nothing(fixture("tiny-qwen3-embedding").string(), DType::kF32, 4);
  expect_release_changes_nothing(fixture("tiny-deberta-v3").string(), DType::kF32, 4);
}

// bf16 Linears of an fp32 checkpoint (every one a conversion): packed on CPUs with
// avx512_bf16, widened to fp32 by the backend elsewhere; either way the bf16 copies are read no
// more.
TEST(FusedRelease, Bf16GivesTheSameBits) {
  expect_release_changes_nothing(fixture("tiny-qwen3-embedding").string(), DType::kBF16, 2, true);
  expect_release_changes_nothing(fixture("tiny-bert-st6").string(), DType::kBF16, 2, true);
}

TEST(FusedRelease, Int8GivesTheSameBits) {
  const fs::path out = fs::temp_directory_path() / "ember-fused-release-int8";
  fs::remove_all(out);
  runtime::QuantizeOptions qo;
  qo.threads = 2;
  runtime::quantize_model(fixture("tiny-bert-st6").string(), out, qo);
  expect_release_changes_nothing(out.string(), DType::kF32, 1);
  fs::remove_all(out);
}

// A BF16 copy of a masked-LM model whose decoder is tied to the word embeddings, run in fp32:
// every Linear is a widened conversion and is freed once packed, except the decoder, whose
// conversion is also the embedding table. Hidden states and SPLADE vectors (through the
// decoder) are the same bits as with every copy kept.
TEST(FusedRelease, ATiedConversionIsKept) {
  const fs::path src = fixture("tiny-bert-splade"),
                 dir = fs::temp_directory_path() / "ember-fused-release-bf16-splade";
  fs::remove_all(dir);
  fs::create_directories(dir);
  for (const char* f : {"config.json", "tokenizer.json"}) fs::copy_file(src / f, dir / f);
  const auto st = io::SafetensorsFile::open(src / "model.safetensors");
  std::vector<io::TensorToWrite> tensors;
  std::vector<std::vector<uint16_t>> buffers;
  buffers.reserve(st.tensors().size());
  for (const auto& [name, t] : st.tensors()) {
    if (t.dtype != DType::kF32) {
      tensors.push_back({name, t});
      continue;
    }
    auto& b = buffers.emplace_back(static_cast<size_t>(t.numel()));
    for (int64_t i = 0; i < t.numel(); ++i)
      b[i] = float_to_bf16(static_cast<const float*>(t.data)[i]);
    tensors.push_back({name, Tensor{DType::kBF16, t.shape, b.data()}});
  }
  io::write_safetensors(dir / "model.safetensors", tensors, st.metadata());

  const Loaded released = load(dir.string(), {}), kept = load(dir.string(), {.release = false});
  const model::ModelSpec& spec = released.model->spec();
  ASSERT_EQ(spec.head, model::HeadKind::kMaskedLm);
  const int64_t h = spec.hidden_size;
  EXPECT_EQ(released.model->released_bytes(), copied_bytes(spec, 4, true) + h * h * 4);
  const auto& w = released.model->weights();
  EXPECT_EQ(w.head.dense.weight_data(), nullptr);
  EXPECT_EQ(w.head.out.weight_data(), w.embeddings.word);

  const auto batch = random_batch(spec, {6, 11});
  auto run = [&](const Loaded& l) {
    model::Workspace ws(*l.backend);
    const ops::View hid = l.model->forward(batch, ws);
    const ops::View sp = l.model->sparse(hid, batch, {}, ws);
    std::vector<float> out(static_cast<size_t>(hid.rows * hid.cols + sp.rows * sp.cols));
    l.backend->to_host(hid, out.data());
    l.backend->to_host(sp, out.data() + hid.rows * hid.cols);
    return out;
  };
  const auto a = run(released), b = run(kept);
  ASSERT_EQ(a.size(), b.size());
  EXPECT_EQ(std::memcmp(a.data(), b.data(), sizeof(float) * a.size()), 0);
  fs::remove_all(dir);
}

TEST(FusedRelease, NothingIsFreedWhereTheBackendReadsTheCopies) {
  const std::string qwen3 = fixture("tiny-qwen3-embedding").string();
  const Loaded unpacked = load(qwen3, {.pack = false});
  EXPECT_EQ(unpacked.model->released_bytes(), 0);
  EXPECT_NE(unpacked.model->weights().layers.front().qkv.weight_data(), nullptr);
  const Loaded reference = load(qwen3, {.reference = true});
  EXPECT_EQ(reference.model->released_bytes(), 0);
  // Their outputs agree with the released model's (no bits: other kernels).
  const Loaded released = load(qwen3, {});
  const auto batch = random_batch(released.model->spec(), {9, 4});
  const auto a = hidden(released, batch), b = hidden(unpacked, batch), c = hidden(reference, batch);
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_NEAR(a[i], b[i], 1e-4) << i;
    ASSERT_NEAR(a[i], c[i], 1e-4) << i;
  }
}

// A released fp32 CpuLinear reads only its packed weights, for one row and for rows with a
// stride: its source, overwritten with NaN after the release, leaves no trace. Unpacked, it
// keeps reading the source and says so.
TEST(FusedRelease, AReleasedCpuLinearServesEveryRowCountAndStride) {
  constexpr int64_t n = 40, k = 24, ld = k + 5;
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(-1, 1);
  std::vector<float> w(n * k), bias(n), source(n * k);
  for (auto& v : w) v = u(rng);
  for (auto& v : bias) v = u(rng);
  source = w;
  ops::LinearSource src;
  src.w = source.data();
  src.b = bias.data();
  src.out = n;
  src.in = k;
  cpu::CpuBackendOptions unpacked;
  unpacked.pack_weights = false;
  EXPECT_FALSE(cpu::CpuBackend(unpacked).prepare_linear(src)->release_source());

  cpu::CpuBackend backend;
  const auto linear = backend.prepare_linear(src);
  if (active_isa() < Isa::kAvx2) {
    EXPECT_FALSE(linear->release_source());  // nothing packed below AVX2
    return;
  }
  ASSERT_TRUE(linear->release_source());
  std::fill(source.begin(), source.end(), std::nanf(""));
  for (const int64_t m : {1, 2, 3, 17}) {
    std::vector<float> x(m * ld), y(m * n);
    for (auto& v : x) v = u(rng);
    backend.linear(*linear, ops::View{x.data(), m, k, ld}, ops::dense_view(y.data(), m, n));
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double want = bias[j];
        for (int64_t p = 0; p < k; ++p) want += double(x[i * ld + p]) * w[j * k + p];
        ASSERT_NEAR(y[i * n + j], want, 1e-4) << "m=" << m << " row " << i << " col " << j;
      }
  }
}

// The parts' pages in the checkpoint's mapping are handed back at load (MADV_PAGEOUT, Linux
// 5.4+): Q, K and V of all-MiniLM-L6-v2 are 384 x 384 fp32 each, 144 pages of 4 KiB, whose
// whole pages are advised.
TEST(FusedRelease, PartsInTheFileMappingArePagedOut) {
  const fs::path minilm = io::model_cache_dir() / "all-MiniLM-L6-v2";
  const Loaded l = load(minilm.string(), {});
  const int64_t parts = 6 * 3 * 384 * 384 * 4;
  EXPECT_GT(l.model->parts_paged_out_bytes(), parts * 9 / 10);
  EXPECT_LE(l.model->parts_paged_out_bytes(), parts);
}

}  // namespace
}  // namespace ember
