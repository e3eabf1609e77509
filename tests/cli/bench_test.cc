// `ember bench` end to end on the tiny fixture model: every output file parses and holds every
// cell with consistent statistics; bad grids fail with a typed error naming the cell. No
// timing thresholds: only the relations that hold on any machine.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace ember {
namespace {
namespace fs = std::filesystem;

const std::string kTinyModel = cat(EMBER_SOURCE_DIR, "/tests/fixtures/models/tiny-bert-seqcls");
const std::string kTinyDistil = cat(EMBER_SOURCE_DIR, "/tests/fixtures/models/tiny-distilbert");

std::string slurp(const fs::path& p) {
  std::ifstream f(p);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

class BenchCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           cat("ember-bench-", ::getpid(), "-",
               ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Runs `ember bench <args>` with stdout/stderr to files (stderr is no TTY: no progress).
  int bench(const std::string& args) {
    const std::string cmd = cat(EMBER_BINARY_DIR, "/src/cli/ember bench ", args, " >", dir_ / "out",
                                " 2>", dir_ / "err", " </dev/null");
    const int raw = std::system(cmd.c_str());
    out_ = slurp(dir_ / "out");
    err_ = slurp(dir_ / "err");
    return WIFEXITED(raw) ? WEXITSTATUS(raw) : 128 + WTERMSIG(raw);
  }

  fs::path dir_;
  std::string out_, err_;
};

void expect_consistent(double batch, double length, double p50, double p95, double p99,
                       double tokens_per_s, double sequences_per_s) {
  EXPECT_GT(p50, 0);
  EXPECT_LE(p50, p95);
  EXPECT_LE(p95, p99);
  EXPECT_NEAR(tokens_per_s, batch * length / (p50 / 1000), 1e-3 * tokens_per_s);
  EXPECT_NEAR(sequences_per_s, batch / (p50 / 1000), 1e-2 * sequences_per_s + 0.01);
}

TEST_F(BenchCli, WritesJsonCsvMarkdownWithEveryCell) {
  const fs::path json = dir_ / "r.json", csv = dir_ / "r.csv", md = dir_ / "r.md";
  ASSERT_EQ(bench(cat("--model ", kTinyModel, " --grid 1x8,2x16 --reps 3 --warmup 1 --threads 1",
                      " --json ", json, " --csv ", csv, " --markdown ", md)),
            0)
      << err_;
  EXPECT_EQ(err_, "") << "no progress output when stderr is not a terminal";

  const auto j = nlohmann::json::parse(slurp(json));
  EXPECT_EQ(j["machine"]["threads"].get<int>(), 1);
  EXPECT_GT(j["peak_rss_mb"].get<double>(), 0);
  ASSERT_EQ(j["models"].size(), 1u);
  EXPECT_EQ(j["models"][0]["output"], "seq_logits");
  const auto& results = j["results"];
  ASSERT_EQ(results.size(), 2u);
  const std::vector<std::pair<int, int>> cells = {{1, 8}, {2, 16}};
  for (size_t i = 0; i < cells.size(); ++i) {
    const auto& r = results[i];
    EXPECT_EQ(r["batch"].get<int>(), cells[i].first);
    EXPECT_EQ(r["length"].get<int>(), cells[i].second);
    EXPECT_EQ(r["reps"].get<int>(), 3);
    expect_consistent(cells[i].first, cells[i].second, r["p50_ms"], r["p95_ms"], r["p99_ms"],
                      r["tokens_per_s"], r["sequences_per_s"]);
  }

  std::istringstream rows(slurp(csv));
  std::string line;
  ASSERT_TRUE(std::getline(rows, line));
  EXPECT_EQ(line.rfind("model,batch,length,reps,p50_ms,p95_ms,p99_ms", 0), 0u) << line;
  size_t n = 0;
  while (std::getline(rows, line)) {
    // The model is a quoted path without commas: split the rest on commas.
    const size_t close = line.find("\",");
    ASSERT_NE(close, std::string::npos) << line;
    std::vector<double> v;
    std::istringstream fields(line.substr(close + 2));
    std::string field;
    while (std::getline(fields, field, ',')) v.push_back(std::stod(field));
    ASSERT_EQ(v.size(), 11u) << line;
    ASSERT_LT(n, cells.size());
    EXPECT_EQ(v[0], cells[n].first);
    EXPECT_EQ(v[1], cells[n].second);
    expect_consistent(v[0], v[1], v[3], v[4], v[5], v[9], v[10]);
    ++n;
  }
  EXPECT_EQ(n, cells.size());

  const std::string table = slurp(md);
  EXPECT_NE(table.find("| 1x8 |"), std::string::npos) << table;
  EXPECT_NE(table.find("| 2x16 |"), std::string::npos) << table;
  EXPECT_NE(out_.find("| 2x16 |"), std::string::npos) << "the table goes to stdout too";
}

TEST_F(BenchCli, SeveralModelsAreMeasuredCellByCell) {
  const fs::path json = dir_ / "r.json";
  ASSERT_EQ(bench(cat("--model ", kTinyModel, " --model ", kTinyDistil,
                      " --batches 1,2 --lengths 8 --reps 2 --warmup 0 --json ", json)),
            0)
      << err_;
  const auto j = nlohmann::json::parse(slurp(json));
  ASSERT_EQ(j["results"].size(), 4u);
  // Cell-major: both models for 1x8, then both for 2x8.
  const std::vector<std::pair<std::string, int>> order = {
      {kTinyModel, 1}, {kTinyDistil, 1}, {kTinyModel, 2}, {kTinyDistil, 2}};
  for (size_t i = 0; i < order.size(); ++i) {
    EXPECT_EQ(j["results"][i]["model"], order[i].first);
    EXPECT_EQ(j["results"][i]["batch"].get<int>(), order[i].second);
    EXPECT_GT(j["results"][i]["p50_ms"].get<double>(), 0);
  }
}

TEST_F(BenchCli, OverLongCellFailsNamingTheCell) {
  ASSERT_EQ(
      bench(cat("--model ", kTinyModel, " --grid 1x8,2x600 --reps 1 --json ", dir_ / "r.json")), 2);
  const auto e = nlohmann::json::parse(err_);
  EXPECT_EQ(e["error_type"], "invalid_input");
  const auto msg = e["error"].get<std::string>();
  EXPECT_NE(msg.find("2x600"), std::string::npos) << msg;
  EXPECT_NE(msg.find("max_length 512"), std::string::npos) << msg;
  EXPECT_FALSE(fs::exists(dir_ / "r.json")) << "nothing is written when a cell is invalid";
}

TEST_F(BenchCli, BadFlagsAreTypedErrors) {
  const std::map<std::string, std::string> cases = {
      {"--grid 1x", "--grid length"},
      {"--grid 8", "BATCHxLENGTH"},
      {"--batches 1,0", "--batches"},
      {"--lengths 16,abc", "--lengths"},
      {"--grid 1x16 --batches 2", "--grid cannot be combined"},
      {"--grid 1x1", "special tokens"},
  };
  for (const auto& [flags, expected] : cases) {
    ASSERT_EQ(bench(cat("--model ", kTinyModel, " --reps 1 ", flags)), 2) << flags;
    const auto e = nlohmann::json::parse(err_);
    EXPECT_EQ(e["error_type"], "invalid_input") << flags;
    EXPECT_NE(e["error"].get<std::string>().find(expected), std::string::npos)
        << flags << ": " << e["error"];
  }
  EXPECT_EQ(bench("--model /nonexistent/model --grid 1x8"), 3);
}

}  // namespace
}  // namespace ember
