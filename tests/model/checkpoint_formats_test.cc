// The same tiny models saved by PyTorch (pytorch_model.bin, single and sharded), by
// transformers as sharded safetensors, and by TensorFlow/Keras (tf_model.h5) give the same
// hidden states, pooled embeddings and logits through the engine as their model.safetensors,
// whose own parity with Hugging Face is tests/model/parity_test.cc. The checkpoints were
// written by the frameworks themselves (scripts/reference_models/checkpoint_formats.py).
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <string>
#include <tuple>
#include <vector>

#include "model/reference.h"
#include "runtime/engine.h"

namespace ember {
namespace {
namespace fs = std::filesystem;

const fs::path kSource = EMBER_SOURCE_DIR;

// A model directory with the fixture's config, tokenizer and sentence-transformers files, and
// the weights of one format only (no model.safetensors).
fs::path assemble(const std::string& model, const std::string& format) {
  const fs::path dir =
      fs::temp_directory_path() / cat("ember-ckpt-", ::getpid(), "-", model, "-", format);
  fs::remove_all(dir);
  fs::create_directories(dir);
  for (const auto& e : fs::directory_iterator(kSource / "tests/fixtures/models" / model)) {
    if (e.path().filename() == "model.safetensors") continue;
    fs::copy(e.path(), dir / e.path().filename(), fs::copy_options::recursive);
  }
  for (const auto& e :
       fs::directory_iterator(kSource / "tests/fixtures/checkpoints" / model / format))
    fs::copy_file(e.path(), dir / e.path().filename());
  return dir;
}

double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  double d = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i)
    d = std::max(d, std::abs(double(a[i]) - double(b[i])));
  return d;
}

using Param = std::tuple<std::string, std::string>;  // model, format directory
class CheckpointFormats : public ::testing::TestWithParam<Param> {};

TEST_P(CheckpointFormats, SameOutputsAsSafetensors) {
  const auto& [model, format] = GetParam();
  const auto ref = testing::Reference::load(model);
  const fs::path dir = assemble(model, format);
  runtime::EngineOptions opts;
  opts.threads = 1;
  const auto want = runtime::Engine::load(ref.model, opts);
  const auto got = runtime::Engine::load(dir.string(), opts);
  fs::remove_all(dir);
  ASSERT_EQ(want->info().weights, "safetensors");
  EXPECT_EQ(got->info().weights, format);
  EXPECT_EQ(got->info().parameters, want->info().parameters);

  std::vector<tok::Encoding> encodings;
  for (const auto& t : ref.texts) encodings.push_back(want->tokenize(t));
  const auto batch = runtime::Engine::pack(encodings);
  unsigned outputs = runtime::kHidden | runtime::kPooled;
  if (want->spec().head == model::HeadKind::kSequenceClassification) outputs |= runtime::kSeqLogits;
  const auto a = want->run(batch, outputs);
  const auto b = got->run(batch, outputs);
  ASSERT_FALSE(a.hidden.empty());
  EXPECT_LE(max_abs_diff(a.hidden, b.hidden), 1e-6);
  EXPECT_LE(max_abs_diff(a.pooled, b.pooled), 1e-6);
  EXPECT_LE(max_abs_diff(a.seq_logits, b.seq_logits), 1e-6);
}

INSTANTIATE_TEST_SUITE_P(Formats, CheckpointFormats,
                         ::testing::Combine(::testing::Values("tiny-bert-st6", "tiny-distilbert"),
                                            ::testing::Values("pytorch", "pytorch-sharded",
                                                              "safetensors-sharded", "keras-h5")),
                         [](const auto& p) {
                           return testing::test_name(std::get<0>(p.param) + "_" +
                                                     std::get<1>(p.param));
                         });

}  // namespace
}  // namespace ember
