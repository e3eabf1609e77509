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
#include <map>
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

Served serve(const std::string& model, const std::string& requests, const fs::path& tmp,
             const std::string& env = "") {
  std::ofstream(tmp / "requests") << requests;
  const std::string cmd =
      cat(env, EMBER_BINARY_DIR, "/src/cli/ember bench --serve-stdin --threads 1 --model '", model,
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

// `profile` answers the per-op totals since the last `profile` and clears them, so that the
// harness (bench/compare/profile_cells.py) gets one run's profile at a time.
TEST_F(BenchServe, ProfileAnswersTheRunsSinceTheLastOneAndClears) {
  constexpr long long kLayers = 2;  // tiny-distilbert's n_layers (its config.json)
  const auto ref = testing::Reference::load("tiny-distilbert");
  std::ofstream(tmp_ / "ok.txt") << "1 5 2\n1 6 7 2\n";
  const std::string file = (tmp_ / "ok.txt").string();
  const std::string requests =
      cat("time ", file, " 2\nprofile\nprofile\ntime ", file, " 1\nprofile\n");
  const Served s = serve(ref.model, requests, tmp_, "EMBER_PROFILE=1 ");
  ASSERT_EQ(s.status, 0);
  ASSERT_EQ(s.replies.size(), 6u);  // ready, time, profile, profile, time, profile
  auto calls = [](const nlohmann::json& reply) {
    std::map<std::string, long long> out;
    for (const auto& op : reply["ops"]) {
      EXPECT_GE(op["ms"].get<double>(), 0.0);
      EXPECT_GE(op["cpu_ms"].get<double>(), 0.0);
      out[op["label"].get<std::string>()] = op["calls"].get<long long>();
    }
    return out;
  };
  EXPECT_TRUE(s.replies[2]["enabled"].get<bool>());
  auto first = calls(s.replies[2]);
  EXPECT_EQ(first["forward"], 2);
  for (const auto& op : s.replies[2]["ops"]) {  // a forward computes: CPU time is not zero
    if (op["label"] == "forward") {
      EXPECT_GT(op["cpu_ms"].get<double>(), 0.0);
    }
  }
  EXPECT_EQ(first["embed"], 2);       // the model's embedding stage, once per forward
  EXPECT_EQ(first["embed rows"], 2);  // the backend's gather inside it, under its own label
  EXPECT_EQ(first["attention"], 2 * kLayers);
  EXPECT_TRUE(calls(s.replies[3]).empty());  // cleared by the first `profile`
  auto third = calls(s.replies[5]);
  EXPECT_EQ(third["forward"], 1);
  EXPECT_EQ(third["attention"], kLayers);

  // Without EMBER_PROFILE nothing is recorded, and the request says so.
  const Served off = serve(ref.model, cat("time ", file, " 1\nprofile\n"), tmp_);
  ASSERT_EQ(off.replies.size(), 3u);
  EXPECT_FALSE(off.replies[2]["enabled"].get<bool>());
  EXPECT_TRUE(off.replies[2]["ops"].empty());
}

TEST_F(BenchServe, TakesExactlyOneModel) {
  const std::string cmd = cat(EMBER_BINARY_DIR, "/src/cli/ember bench --serve-stdin -m a -m b",
                              " </dev/null >/dev/null 2>", tmp_ / "err");
  const int raw = std::system(cmd.c_str());
  EXPECT_EQ(WEXITSTATUS(raw), 2);
}

}  // namespace
}  // namespace ember
