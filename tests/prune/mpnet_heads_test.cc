// MPNet whose layers keep different heads (tests/fixtures/models/tiny-mpnet-seqcls, 4 heads,
// 2 layers): the pruned checkpoint carries one relative-position table per layer, the columns
// of the shared table for that layer's heads, and no shared table; a uniform prune keeps the
// shared table; pruning a pruned model composes; a table that does not match its layer is a
// typed error naming it. (The forward against transformers: prune_exact_test.)
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/safetensors_writer.h"
#include "io/weight_store.h"
#include "model/batch.h"
#include "prune/checkpoint.h"
#include "prune_test_util.h"
#include "runtime/engine.h"
#include "runtime/quantize_model.h"

namespace ember {
namespace {

namespace fs = std::filesystem;
using prune::Checkpoint;
using prune::KeepSpec;
using testing::TempDir;

const fs::path kTiny = testing::fixture("models/tiny-mpnet-seqcls");
// The fixture's tensors are under "mpnet." (MPNetForSequenceClassification).
const std::string kShared = "mpnet.encoder.relative_attention_bias.weight";

std::string layer_table(int layer) {
  return "mpnet.encoder.layer." + std::to_string(layer) +
         ".attention.relative_attention_bias.weight";
}

KeepSpec spec_of(const std::vector<std::vector<int64_t>>& heads, int64_t ffn) {
  KeepSpec k;
  for (const auto& h : heads) {
    std::vector<int64_t> units(static_cast<size_t>(ffn));
    for (int64_t u = 0; u < ffn; ++u) units[static_cast<size_t>(u)] = u;
    k.layers.push_back({false, h, units});
  }
  return k;
}

// A copy of the tiny model with its weights and config replaced by `c`'s.
fs::path write_model(const Checkpoint& c, const fs::path& dir) {
  fs::copy(kTiny, dir, fs::copy_options::recursive);
  fs::remove(dir / "model.safetensors");
  c.write(dir);
  return dir;
}

Checkpoint load_tiny() {
  return Checkpoint::load(kTiny / "config.json", kTiny / "model.safetensors");
}

std::vector<float> last_hidden(const fs::path& dir) {
  runtime::EngineOptions eo;
  eo.threads = 1;
  const auto engine = runtime::Engine::load(dir.string(), eo);
  const std::vector<int32_t> ids = {0, 17, 250, 31, 999, 4, 88, 2}, types(ids.size(), 0);
  model::Batch batch;
  batch.add(ids, types);
  return engine->run(batch, runtime::kHidden).hidden;
}

TEST(MpnetHeads, DifferentHeadsWriteATablePerLayer) {
  const Checkpoint base = load_tiny();
  const Tensor shared = base.get(kShared);
  ASSERT_EQ(shared.shape[1], 4);
  const std::vector<std::vector<int64_t>> heads = {{0, 2, 3}, {1}};
  const Checkpoint pruned = base.prune(spec_of(heads, 64));
  EXPECT_THROW(pruned.get(kShared), Error);
  for (int l = 0; l < 2; ++l) {
    const Tensor t = pruned.get(layer_table(l));
    const auto& hs = heads[static_cast<size_t>(l)];
    ASSERT_EQ(t.shape[0], shared.shape[0]);
    ASSERT_EQ(t.shape[1], static_cast<int64_t>(hs.size()));
    for (int64_t b = 0; b < t.shape[0]; ++b)
      for (size_t c = 0; c < hs.size(); ++c)
        EXPECT_EQ(t.f32()[b * t.shape[1] + static_cast<int64_t>(c)],
                  shared.f32()[b * shared.shape[1] + hs[c]])
            << "layer " << l << " bucket " << b << " head " << hs[c];
  }
  TempDir tmp("mpnet-heads-write");
  const auto hidden = last_hidden(write_model(pruned, tmp.path() / "m"));
  for (float v : hidden) ASSERT_TRUE(std::isfinite(v));
}

TEST(MpnetHeads, SameHeadsKeepTheSharedTable) {
  const Checkpoint pruned = load_tiny().prune(spec_of({{1, 3}, {1, 3}}, 64));
  EXPECT_EQ(pruned.get(kShared).shape[1], 2);
  EXPECT_THROW(pruned.get(layer_table(0)), Error);
}

// Layer 0 keeps source heads {0, 2, 3} then {2, 3} of those; layer 1 keeps {1, 2} then {1}:
// the same model as one prune to {2, 3} and {2}.
TEST(MpnetHeads, PruningAPrunedModelComposes) {
  const Checkpoint base = load_tiny();
  const Checkpoint twice =
      base.prune(spec_of({{0, 2, 3}, {1, 2}}, 64)).prune(spec_of({{1, 2}, {1}}, 64));
  const Checkpoint once = base.prune(spec_of({{2, 3}, {2}}, 64));
  for (int l = 0; l < 2; ++l) {
    const Tensor a = twice.get(layer_table(l)), b = once.get(layer_table(l));
    ASSERT_EQ(a.shape[1], b.shape[1]) << "layer " << l;
    for (int64_t i = 0; i < a.shape.numel(); ++i) EXPECT_EQ(a.f32()[i], b.f32()[i]);
  }
  TempDir tmp("mpnet-heads-compose");
  const auto x = last_hidden(write_model(twice, tmp.path() / "twice"));
  const auto y = last_hidden(write_model(once, tmp.path() / "once"));
  ASSERT_EQ(x.size(), y.size());
  for (size_t i = 0; i < x.size(); ++i) EXPECT_EQ(x[i], y[i]) << i;
}

// Quantizing (int8, bf16) leaves the per-layer tables in float: they are no Linear weights.
TEST(MpnetHeads, QuantizedKeepsTheTables) {
  TempDir tmp("mpnet-heads-quantize");
  const fs::path dir =
      write_model(load_tiny().prune(spec_of({{0, 2, 3}, {1}}, 64)), tmp.path() / "m");
  const auto fp32 = last_hidden(dir);
  for (const char* dtype : {"int8", "bf16"}) {
    runtime::QuantizeOptions qo;
    qo.dtype = dtype;
    qo.threads = 1;
    const fs::path out = tmp.path() / dtype;
    runtime::quantize_model(dir.string(), out, qo);
    const io::WeightStore q = io::WeightStore::from_safetensors(out / "model.safetensors");
    for (int l = 0; l < 2; ++l)
      EXPECT_EQ(q.get_raw(layer_table(l)).dtype, DType::kF32) << dtype << " layer " << l;
    const auto got = last_hidden(out);
    ASSERT_EQ(got.size(), fp32.size());
    double dot = 0, a = 0, b = 0;
    for (size_t i = 0; i < got.size(); ++i) {
      dot += static_cast<double>(got[i]) * fp32[i];
      a += static_cast<double>(got[i]) * got[i];
      b += static_cast<double>(fp32[i]) * fp32[i];
    }
    EXPECT_GT(dot / std::sqrt(a * b), 0.98) << dtype;
  }
}

// A per-layer checkpoint with one table replaced, or removed.
class BrokenTables : public ::testing::Test {
 protected:
  void SetUp() override {
    const Checkpoint pruned = load_tiny().prune(spec_of({{0, 2, 3}, {1}}, 64));
    dir_ = write_model(pruned, tmp_.path() / "m");
    store_ = std::make_unique<io::WeightStore>(
        io::WeightStore::from_safetensors(dir_ / "model.safetensors"));
  }
  // Rewrites model.safetensors with `name` replaced by `t` (or left out when `t` is null).
  void rewrite(const std::string& name, const Tensor* t) {
    std::vector<io::TensorToWrite> out;
    for (const auto& n : store_->names()) {
      if (n != name)
        out.push_back({n, store_->get_raw(n)});
      else if (t)
        out.push_back({n, *t});
    }
    const fs::path tmp = tmp_.path() / "model.safetensors";
    io::write_safetensors(tmp, out, store_->metadata());
    store_.reset();
    fs::rename(tmp, dir_ / "model.safetensors");
  }
  Error load_error() {
    try {
      runtime::Engine::load(dir_.string());
    } catch (const Error& e) {
      return e;
    }
    ADD_FAILURE() << "loading " << dir_ << " succeeded";
    return Error(ErrorKind::kInternal, "");
  }

  TempDir tmp_{"mpnet-heads-broken"};
  fs::path dir_;
  std::unique_ptr<io::WeightStore> store_;
};

TEST_F(BrokenTables, IntactLoads) {
  EXPECT_NO_THROW(runtime::Engine::load(dir_.string()));
}

TEST_F(BrokenTables, TableWithAnotherLayersHeadCount) {
  // Layer 1 keeps one head; give it layer 0's three-head table.
  const Tensor wrong = store_->get_raw(layer_table(0));
  rewrite(layer_table(1), &wrong);
  const Error e = load_error();
  EXPECT_EQ(e.kind(), ErrorKind::kInvalidInput);
  EXPECT_NE(std::string(e.what()).find(layer_table(1)), std::string::npos) << e.what();
}

TEST_F(BrokenTables, MissingTableAndNoSharedOne) {
  rewrite(layer_table(1), nullptr);
  const Error e = load_error();
  EXPECT_EQ(e.kind(), ErrorKind::kNotFound);
  EXPECT_NE(std::string(e.what()).find(kShared), std::string::npos) << e.what();
}

// Layers of different head counts cannot both read the shared table.
TEST_F(BrokenTables, SharedTableForLayersOfDifferentHeads) {
  const Tensor t0 = store_->get_raw(layer_table(0));
  std::vector<io::TensorToWrite> out;
  for (const auto& n : store_->names())
    if (n.find("relative_attention_bias") == std::string::npos)
      out.push_back({n, store_->get_raw(n)});
  out.push_back({kShared, t0});
  const fs::path tmp = tmp_.path() / "model.safetensors";
  io::write_safetensors(tmp, out, store_->metadata());
  store_.reset();
  fs::rename(tmp, dir_ / "model.safetensors");
  const Error e = load_error();
  EXPECT_EQ(e.kind(), ErrorKind::kInvalidInput);
  // The table layer 1 lacks, by its name under the model's prefix.
  const std::string own = layer_table(1).substr(std::string("mpnet.").size());
  EXPECT_NE(std::string(e.what()).find(own), std::string::npos) << e.what();
}

}  // namespace
}  // namespace ember
