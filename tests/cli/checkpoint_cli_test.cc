// `ember embed` on model directories whose only weights are a pytorch_model.bin or a
// tf_model.h5 (as many published models are): the real binary gives the Hugging Face
// reference embeddings; a hostile pickle makes it exit with the unsupported-input code and
// nothing runs.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "model/reference.h"

namespace ember {
namespace {
namespace fs = std::filesystem;

const fs::path kSource = EMBER_SOURCE_DIR;

struct EmbedRun {
  int status = -1;
  std::string out, err;
};

EmbedRun ember_embed(const fs::path& model, const std::string& input, const fs::path& tmp) {
  std::ofstream(tmp / "in") << input;
  const std::string cmd =
      cat(EMBER_BINARY_DIR, "/src/cli/ember embed --jsonl --model '", model.string(), "' <",
          tmp / "in", " >", tmp / "out", " 2>", tmp / "err");
  const int raw = std::system(cmd.c_str());
  EmbedRun r;
  r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : 128 + WTERMSIG(raw);
  auto slurp = [](const fs::path& p) {
    std::ifstream f(p);
    return std::string(std::istreambuf_iterator<char>(f), {});
  };
  r.out = slurp(tmp / "out");
  r.err = slurp(tmp / "err");
  return r;
}

// config, tokenizer and pooling files of the fixture, and `weights` as its only weights.
fs::path model_dir(const fs::path& tmp, const std::string& model, const fs::path& weights) {
  const fs::path dir = tmp / "model";
  fs::create_directories(dir);
  for (const auto& e : fs::directory_iterator(kSource / "tests/fixtures/models" / model))
    if (e.path().filename() != "model.safetensors")
      fs::copy(e.path(), dir / e.path().filename(), fs::copy_options::recursive);
  fs::copy_file(weights, dir / weights.filename());
  return dir;
}

class CheckpointCli : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    tmp_ = fs::temp_directory_path() /
           cat("ember-ckpt-cli-", ::getpid(), "-",
               ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(tmp_);
    fs::create_directories(tmp_);
  }
  void TearDown() override { fs::remove_all(tmp_); }
  fs::path tmp_;
};

TEST_P(CheckpointCli, EmbedMatchesReference) {
  const auto ref = testing::Reference::load("tiny-bert-st6");
  const fs::path weights = kSource / "tests/fixtures/checkpoints/tiny-bert-st6" / GetParam();
  const fs::path dir = model_dir(tmp_, "tiny-bert-st6", weights);
  std::string input;
  for (const auto& t : ref.texts) input += nlohmann::json(t).dump() + "\n";
  const EmbedRun r = ember_embed(dir, input, tmp_);
  ASSERT_EQ(r.status, 0) << r.err;
  const auto expected = ref.floats("pooled");
  const size_t h = expected.size() / ref.texts.size();
  std::istringstream lines(r.out);
  std::string line;
  size_t n = 0;
  while (std::getline(lines, line)) {
    const auto v = nlohmann::json::parse(line)["embedding"].get<std::vector<float>>();
    ASSERT_EQ(v.size(), h);
    double ab = 0, aa = 0, bb = 0;
    for (size_t k = 0; k < h; ++k) {
      ab += double(v[k]) * expected[n * h + k];
      aa += double(v[k]) * v[k];
      bb += double(expected[n * h + k]) * expected[n * h + k];
    }
    EXPECT_GE(ab / std::sqrt(aa * bb), 0.99999) << "input " << n;
    ++n;
  }
  EXPECT_EQ(n, ref.texts.size());
}

INSTANTIATE_TEST_SUITE_P(OnlyWeights, CheckpointCli,
                         ::testing::Values("pytorch/pytorch_model.bin", "keras-h5/tf_model.h5"),
                         [](const auto& p) {
                           return p.param.substr(0, p.param.find('/')) == "pytorch"
                                      ? std::string("pytorch_bin")
                                      : std::string("keras_h5");
                         });

TEST_F(CheckpointCli, MaliciousPickleIsRefusedAndRunsNothing) {
  const fs::path marker = "/tmp/ember-malicious-pickle-ran";
  fs::remove(marker);
  const fs::path dir = model_dir(
      tmp_, "tiny-bert-st6", kSource / "tests/fixtures/checkpoints/malicious/pytorch_model.bin");
  const EmbedRun r = ember_embed(dir, "\"hello\"\n", tmp_);
  EXPECT_EQ(r.status, 4) << r.err;  // kUnsupported
  EXPECT_NE(r.err.find("posix.system"), std::string::npos) << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
  EXPECT_FALSE(fs::exists(marker));
}

}  // namespace
}  // namespace ember
