// The least-squares re-fit on real text: all-MiniLM-L6-v2 pruned to half its heads and FFN
// units per layer (the surgeon choosing which), calibrated on VADER sentences
// (scripts/fetch_data.sh); on other, held-out sentences, the last hidden states of the re-fitted
// model are closer to the unpruned model's than those of the same parts sliced without it, and
// than those of the same parts with only the output projections re-fitted (no input re-fit).
// The re-fit is deterministic: the same calibration and seed give the same weights.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "prune/prune_model.h"
#include "prune_test_util.h"
#include "runtime/engine.h"

namespace ember {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

// sum |h - h_base|^2 / sum |h_base|^2 over the texts' last hidden states.
double reconstruction(const runtime::Engine& base, const runtime::Engine& pruned,
                      const std::vector<std::string>& texts) {
  double err = 0, norm = 0;
  for (size_t i = 0; i < texts.size(); i += 16) {
    std::vector<tok::Encoding> enc;
    for (size_t j = i; j < std::min(texts.size(), i + 16); ++j)
      enc.push_back(base.tokenize(texts[j]));
    const model::Batch batch = runtime::Engine::pack(enc);
    const auto hb = base.run(batch, runtime::kHidden).hidden;
    const auto hp = pruned.run(batch, runtime::kHidden).hidden;
    for (size_t e = 0; e < hb.size(); ++e) {
      err += (static_cast<double>(hp[e]) - hb[e]) * (static_cast<double>(hp[e]) - hb[e]);
      norm += static_cast<double>(hb[e]) * hb[e];
    }
  }
  return err / norm;
}

TEST(PruneRefit, LowersTheReconstructionErrorOnHeldOutText) {
  const auto sentences = testing::vader_sentences();
  ASSERT_GE(sentences.size(), 1000u) << "run scripts/fetch_data.sh";
  TempDir tmp("refit");
  // Calibration and evaluation texts are disjoint.
  const std::vector<std::string> calibration(sentences.begin(), sentences.begin() + 320);
  const std::vector<std::string> held_out(sentences.end() - 200, sentences.end());
  testing::write_lines(tmp.path() / "calibration.txt", calibration);

  // The surgeon chooses half the heads and units of every layer and re-fits ...
  prune::PruneOptions o;
  o.calibration = tmp.path() / "calibration.txt";
  o.keep_ratio = 0.5;
  o.threads = 2;
  const auto fitted = prune::prune_model("all-MiniLM-L6-v2", tmp.path() / "fitted", o);
  EXPECT_EQ(fitted.heads, std::vector<int64_t>(6, 6));
  EXPECT_EQ(fitted.ffn, std::vector<int64_t>(6, 768));
  // ... on the calibration's own held-out part, as the report says, ...
  EXPECT_LT(fitted.reconstruction_after_refit, fitted.reconstruction_before_refit);
  ASSERT_EQ(fitted.layer_fits.size(), 6u);
  for (const auto& l : fitted.layer_fits) {
    for (const char* part : {"attn", "ffn"})  // the fit improves on the sliced weights
      EXPECT_LE(l[part][2].get<double>(), l[part][1].get<double>()) << l.dump();
    for (const char* part : {"qkv", "ffn_in"})  // ... and on the unpruned input weights (the
      // first layer's inputs are the unpruned ones: both 0 but for rounding)
      EXPECT_LE(l[part][1].get<double>(), l[part][0].get<double>() + 1e-9) << l.dump();
  }

  // ... and the same parts sliced without the re-fit are further from the unpruned model.
  std::ofstream(tmp.path() / "keep.json") << fitted.keep.dump();
  prune::PruneOptions s;
  s.calibration = o.calibration;
  s.keep = tmp.path() / "keep.json";
  s.threads = 2;
  s.refit = false;
  const auto sliced = prune::prune_model("all-MiniLM-L6-v2", tmp.path() / "sliced", s);
  EXPECT_EQ(sliced.keep, fitted.keep);
  // The same parts with the output projections re-fitted, the inputs not.
  s.refit = true;
  s.refit_options.inputs = false;
  const auto outputs = prune::prune_model("all-MiniLM-L6-v2", tmp.path() / "outputs", s);
  EXPECT_EQ(outputs.keep, fitted.keep);

  runtime::EngineOptions eo;
  eo.threads = 2;
  const auto base = runtime::Engine::load("all-MiniLM-L6-v2", eo);
  const auto a = runtime::Engine::load((tmp.path() / "sliced").string(), eo);
  const auto b = runtime::Engine::load((tmp.path() / "fitted").string(), eo);
  const auto c = runtime::Engine::load((tmp.path() / "outputs").string(), eo);
  const double before = reconstruction(*base, *a, held_out);
  const double after = reconstruction(*base, *b, held_out);
  const double outputs_only = reconstruction(*base, *c, held_out);
  EXPECT_LT(after, before) << "before " << before << ", after " << after;
  EXPECT_LT(outputs_only, before) << "before " << before << ", outputs only " << outputs_only;
  EXPECT_LT(after, outputs_only) << "outputs only " << outputs_only << ", inputs too " << after;
}

std::string file_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST(PruneRefit, SameCalibrationAndSeedGiveTheSameWeights) {
  TempDir tmp("refit-seed");
  const auto sentences = testing::vader_sentences();
  ASSERT_GE(sentences.size(), 200u) << "run scripts/fetch_data.sh";
  testing::write_lines(tmp.path() / "calibration.txt",
                       std::vector<std::string>(sentences.begin(), sentences.begin() + 200));
  prune::PruneOptions o;
  o.calibration = tmp.path() / "calibration.txt";
  o.keep_ratio = 0.5;
  o.calibration_options.max_texts = 100;
  o.calibration_options.seed = 7;
  o.threads = 2;
  const std::string tiny = testing::fixture("models/tiny-bert-st6").string();
  const auto a = prune::prune_model(tiny, tmp.path() / "a", o);
  const auto b = prune::prune_model(tiny, tmp.path() / "b", o);
  EXPECT_EQ(a.keep, b.keep);
  const std::string wa = file_bytes(tmp.path() / "a" / "model.safetensors");
  EXPECT_FALSE(wa.empty());
  EXPECT_EQ(wa, file_bytes(tmp.path() / "b" / "model.safetensors"));
  // Another seed samples other texts, so the fit (if not the choice) differs.
  o.calibration_options.seed = 8;
  prune::prune_model(tiny, tmp.path() / "c", o);
  EXPECT_NE(wa, file_bytes(tmp.path() / "c" / "model.safetensors"));
}

}  // namespace
}  // namespace ember
