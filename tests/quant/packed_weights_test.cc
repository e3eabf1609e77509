// Engine::load packs the layer Linears for oneDNN's matmul by default (EngineOptions::
// pack_weights): the packed engine must give the unpacked engine's outputs, for all-MiniLM-L6-v2
// in fp32 and in int8 (written here by ember quantize), on a batch whose total row count
// crosses the packed path's 256-row chunks.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "core/cpu_features.h"
#include "quant_test_util.h"
#include "runtime/engine.h"
#include "runtime/quantize_model.h"

namespace ember {
namespace {
namespace fs = std::filesystem;

void expect_same_outputs(const std::string& model, double tol) {
  runtime::EngineOptions packed_opts, plain_opts;
  plain_opts.pack_weights = false;
  const auto packed = runtime::Engine::load(model, packed_opts);
  const auto plain = runtime::Engine::load(model, plain_opts);
  EXPECT_EQ(plain->info().packed_bytes, 0);
  if (active_isa() >= Isa::kAvx2) {
    EXPECT_GT(packed->info().packed_bytes, 0);
  }

  std::vector<tok::Encoding> encs;
  std::string long_text;
  for (int i = 0; i < 40; ++i) long_text += "The quick brown fox jumps over the lazy dog. ";
  for (const std::string& t : {std::string("ok"), std::string("A tedious, overlong mess."),
                               long_text, long_text + "Again.", std::string("Fine.")})
    encs.push_back(packed->tokenize(t));
  const auto batch = runtime::Engine::pack(encs);
  ASSERT_GT(batch.num_tokens(), 256);  // more than one chunk of rows
  const auto a = packed->run(batch, runtime::kHidden);
  const auto b = plain->run(batch, runtime::kHidden);
  ASSERT_EQ(a.hidden.size(), b.hidden.size());
  double worst = 0;
  for (size_t i = 0; i < a.hidden.size(); ++i)
    worst = std::max(worst, static_cast<double>(std::fabs(a.hidden[i] - b.hidden[i])));
  EXPECT_LT(worst, tol) << model;
  // A lone short sequence too (few rows per Linear).
  const auto one = runtime::Engine::pack({encs[1]});
  const auto c = packed->run(one, runtime::kHidden), d = plain->run(one, runtime::kHidden);
  for (size_t i = 0; i < c.hidden.size(); ++i) ASSERT_NEAR(c.hidden[i], d.hidden[i], tol) << i;
}

TEST(PackedWeights, Fp32EngineEqualsUnpacked) {
  ASSERT_TRUE(fs::exists(test::minilm_dir() / "model.safetensors"))
      << test::minilm_dir() << " is missing: run scripts/fetch_models.sh";
  // Only float summation order differs (hidden states are O(1) after LayerNorm).
  expect_same_outputs(test::minilm_dir().string(), 1e-4);
}

TEST(PackedWeights, Int8EngineEqualsUnpacked) {
  ASSERT_TRUE(fs::exists(test::minilm_dir() / "model.safetensors"))
      << test::minilm_dir() << " is missing: run scripts/fetch_models.sh";
  const fs::path out = test::fresh_temp_dir("packed");
  runtime::quantize_model(test::minilm_dir().string(), out, {});
  // The integer sums are exact on both paths; only the float epilogue order may differ.
  expect_same_outputs(out.string(), 1e-4);
  fs::remove_all(out);
}

}  // namespace
}  // namespace ember
