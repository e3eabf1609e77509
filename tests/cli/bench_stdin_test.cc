// `ember bench --serve-stdin` (the side-by-side harness's way to time Ember, bench/compare/):
// the real binary, driven through stdin. Its hidden states match the Hugging Face reference,
// `time` returns one positive time per run, and bad requests are answered with a typed error
// while the process keeps serving.
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

struct Served {
  int status = -1;
  std::vector<nlohmann::json> replies;
};

Served serve(const std::string& model, const std::string& requests, const fs::path& tmp) {
  std::ofstream(tmp / "requests") << requests;
  const std::string cmd =
      cat(EMBER_BINARY_DIR, "/src/cli/ember bench --serve-stdin --threads 1 --model '", model,
          "' <", tmp / "requests", " >", tmp / "replies", " 2>", tmp / "stderr");
  const int raw = std::system(cmd.c_str());
  Served s;
  s.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : 128 + WTERMSIG(raw);
  std::ifstream in(tmp / "replies");
  for (std::string line; std::getline(in, line);) s.replies.push_back(nlohmann::json::parse(line));
  return s;
}

class BenchServe : public ::testing::Test {
 protected:
  void SetUp() override {
    tmp_ = fs::temp_directory_path() / cat("ember-bench-serve-", ::getpid());
    fs::create_directories(tmp_);
  }
  void TearDown() override { fs::remove_all(tmp_); }
  fs::path tmp_;
};

TEST_F(BenchServe, HiddenMatchesReferenceAndTimesEveryRun) {
  const auto ref = testing::Reference::load("tiny-distilbert");
  // Two reference inputs packed as one batch of different lengths.
  std::ofstream ids(tmp_ / "ids.txt");
  std::vector<float> expected;
  int64_t tokens = 0;
  for (int i : {3, 4}) {
    for (int32_t id : ref.ints(cat("ids.", i))) ids << id << ' ';
    ids << '\n';
    tokens += static_cast<int64_t>(ref.ints(cat("ids.", i)).size());
    const auto h = ref.floats(cat("hidden.", i));
    expected.insert(expected.end(), h.begin(), h.end());
  }
  ids.close();
  const std::string file = (tmp_ / "ids.txt").string();
  const Served s = serve(ref.model,
                         cat("hidden ", file, " ", (tmp_ / "h.f32").string(), "\ntime ", file,
                             " 3\nquit\ntime ", file, " 1\n"),
                         tmp_);
  ASSERT_EQ(s.status, 0);
  ASSERT_EQ(s.replies.size(), 3u);  // ready, hidden, time; nothing after quit
  EXPECT_TRUE(s.replies[0]["ready"].get<bool>());
  EXPECT_EQ(s.replies[0]["threads"].get<int>(), 1);
  EXPECT_EQ(s.replies[0]["dtype"].get<std::string>(), "fp32");
  EXPECT_EQ(s.replies[0]["quantization"].get<std::string>(), "");
  EXPECT_EQ(s.replies[1]["tokens"].get<int64_t>(), tokens);
  const int64_t h = s.replies[1]["hidden"].get<int64_t>();
  ASSERT_EQ(static_cast<int64_t>(expected.size()), tokens * h);
  std::vector<float> got(expected.size());
  std::ifstream(tmp_ / "h.f32", std::ios::binary)
      .read(reinterpret_cast<char*>(got.data()), static_cast<std::streamsize>(got.size() * 4));
  float worst = 0;
  for (size_t i = 0; i < got.size(); ++i) worst = std::max(worst, std::abs(got[i] - expected[i]));
  EXPECT_LE(worst, 1e-4f);  // the parity tests' tolerance
  const auto ms = s.replies[2]["ms"].get<std::vector<double>>();
  ASSERT_EQ(ms.size(), 3u);
  for (double t : ms) EXPECT_GT(t, 0.0);
  // The process's CPU time of each run (a forward computes, so it is never zero).
  const auto cpu_ms = s.replies[2]["cpu_ms"].get<std::vector<double>>();
  ASSERT_EQ(cpu_ms.size(), 3u);
  for (double t : cpu_ms) EXPECT_GT(t, 0.0);
}

TEST_F(BenchServe, BadRequestsAreTypedErrorsAndServingGoesOn) {
  const auto ref = testing::Reference::load("tiny-distilbert");
  std::ofstream(tmp_ / "oov.txt") << "101 99999999 102\n";
  std::ofstream(tmp_ / "junk.txt") << "101 abc 102\n";
  std::ofstream(tmp_ / "ok.txt") << "1 5 2\n";  // the tiny vocabulary is small
  const std::string dir = tmp_.string();
  const Served s = serve(
      ref.model,
      cat("frobnicate\n", "time ", dir, "/missing.txt 1\n", "time ", dir, "/oov.txt 1\n", "time ",
          dir, "/junk.txt 1\n", "time ", dir, "/ok.txt 0\n", "time ", dir, "/ok.txt 2\n"),
      tmp_);
  ASSERT_EQ(s.status, 0);
  ASSERT_EQ(s.replies.size(), 7u);
  const char* kinds[] = {"invalid_input", "not_found", "invalid_input", "invalid_input",
                         "invalid_input"};
  for (size_t i = 0; i < 5; ++i) {
    ASSERT_TRUE(s.replies[i + 1].contains("error")) << s.replies[i + 1].dump();
    EXPECT_EQ(s.replies[i + 1]["error_type"].get<std::string>(), kinds[i]) << i;
  }
  EXPECT_EQ(s.replies[6]["ms"].size(), 2u);
}

TEST_F(BenchServe, TakesExactlyOneModel) {
  const std::string cmd = cat(EMBER_BINARY_DIR, "/src/cli/ember bench --serve-stdin -m a -m b",
                              " </dev/null >/dev/null 2>", tmp_ / "err");
  const int raw = std::system(cmd.c_str());
  EXPECT_EQ(WEXITSTATUS(raw), 2);
}

}  // namespace
}  // namespace ember
