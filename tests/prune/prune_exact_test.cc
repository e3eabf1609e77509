// The pruned structure is exact: `ember prune --keep SPEC --no-refit` equals the same heads,
// FFN units and layers removed from the transformers model in PyTorch (the references of
// scripts/reference_models/prune.py, made from the same keep spec files), max |diff| <= 1e-4
// on every reference text's last hidden state (MPNet with the same heads in every layer: its
// shared relative-position table sliced to them; with different heads per layer: one table per
// layer, against transformers' layers each given the bias columns of their own heads). The written
// config lists the removed heads as transformers' pruned_heads, and prune.json holds the spec
// applied.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "../model/reference.h"
#include "prune/prune_model.h"
#include "prune_test_util.h"
#include "runtime/engine.h"

namespace ember {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

class PruneExact : public ::testing::TestWithParam<std::string> {};

TEST_P(PruneExact, KeepSpecEqualsTransformersSlicing) {
  const auto ref = testing::Reference::load(GetParam());
  TempDir tmp(testing::test_name(GetParam()));
  testing::write_lines(tmp.path() / "calibration.txt", ref.texts);
  prune::PruneOptions o;
  o.calibration = tmp.path() / "calibration.txt";
  o.keep = fs::path(EMBER_SOURCE_DIR) / ref.inputs["keep"].get<std::string>();
  o.refit = false;
  o.threads = 2;
  const fs::path out = tmp.path() / "pruned";
  const auto report = prune::prune_model(ref.model, out, o);

  std::ifstream keep_file(*o.keep);
  const auto keep = nlohmann::json::parse(keep_file);
  std::ifstream written(out / "prune.json");
  const auto pj = nlohmann::json::parse(written);
  // The spec applied, as written, lists the same parts (absent lists mean "all").
  ASSERT_EQ(pj["keep"]["layers"].size(), keep["layers"].size());
  int64_t kept_layers = 0;
  for (size_t i = 0; i < keep["layers"].size(); ++i) {
    const auto& want = keep["layers"][i];
    const auto& got = pj["keep"]["layers"][i];
    if (want.value("drop", false)) {
      EXPECT_TRUE(got.value("drop", false)) << "layer " << i;
      continue;
    }
    ++kept_layers;
    EXPECT_EQ(got["heads"], want["heads"]) << "layer " << i;
    EXPECT_EQ(got["ffn"], want["ffn"]) << "layer " << i;
  }
  std::ifstream cfg_file(out / "config.json");
  const auto cfg = nlohmann::json::parse(cfg_file);
  EXPECT_EQ(cfg["num_hidden_layers"].get<int64_t>(), kept_layers);
  ASSERT_TRUE(cfg.contains("pruned_heads"));

  runtime::EngineOptions eo;
  eo.threads = 2;
  const auto engine = runtime::Engine::load(out.string(), eo);
  EXPECT_EQ(engine->spec().num_layers(), kept_layers);
  const int64_t h = engine->spec().hidden_size;
  double worst = 0;
  for (size_t i = 0; i < ref.texts.size(); ++i) {
    const auto ids = ref.ints("ids." + std::to_string(i));
    const auto type_ids = ref.ints("type_ids." + std::to_string(i));
    model::Batch batch;
    batch.add(ids, type_ids);
    const auto got = engine->run(batch, runtime::kHidden);
    const auto want = ref.floats("hidden." + std::to_string(i));
    ASSERT_EQ(got.hidden.size(), want.size()) << "text " << i;
    ASSERT_EQ(static_cast<int64_t>(want.size()), static_cast<int64_t>(ids.size()) * h);
    for (size_t e = 0; e < want.size(); ++e)
      worst = std::max(worst, static_cast<double>(std::fabs(got.hidden[e] - want[e])));
  }
  EXPECT_LE(worst, 1e-4) << GetParam();
  EXPECT_LT(report.parameters_after, report.parameters_before);
}

INSTANTIATE_TEST_SUITE_P(References, PruneExact,
                         ::testing::Values("tiny-bert-st6-pruned", "tiny-bert-st6-drop-pruned",
                                           "all-MiniLM-L6-v2-pruned", "all-mpnet-base-v2-pruned",
                                           "all-mpnet-base-v2-perlayer-pruned"),
                         [](const auto& p) { return testing::test_name(p.param); });

}  // namespace
}  // namespace ember
