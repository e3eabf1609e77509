// `ember prune` end to end through the real binary: piped output is the JSON summary alone; the
// directory it writes loads in `ember embed` and `ember info`; the search writes its front
// (JSON, CSV, SVG) and --target-speedup / --max-loss pick the point its recorded measurements
// justify; bad input gets a typed error
// (JSON on stderr, the exit code of its kind) and leaves nothing at --out or beside it.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <set>

#include "prune_test_util.h"

namespace ember {
namespace {

using testing::run_ember;
namespace fs = std::filesystem;
using testing::TempDir;

const std::string kTiny = testing::fixture("models/tiny-bert-st6").string();

std::set<std::string> listing(const fs::path& dir) {
  std::set<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.insert(e.path().filename().string());
  return names;
}

// The path quoted for the shell.
std::string q(const fs::path& p) {
  std::string s(1, '\'');
  s.append(p.string());
  s.push_back('\'');
  return s;
}

TEST(PruneCli, KeepRatioWritesAModelThatEmbedAndInfoLoad) {
  TempDir tmp("cli-ratio");
  testing::write_lines(tmp.path() / "cal.jsonl",
                       {"\"A first sentence.\"", "{\"text\": \"A JSON line with a text.\"}",
                        "\"A JSON string.\"", "", "\"Short.\"", "\"The quick brown fox jumps.\"",
                        "{\"text\": \"Another calibration sentence, longer than the rest.\"}"});
  testing::write_lines(tmp.path() / "cal.txt",
                       {"\"Plain\" text lines", "{not JSON in a .txt file}", "", "Short.",
                        "The quick brown fox jumps.", "And a sixth line."});
  const fs::path out = tmp.path() / "pruned";
  auto r = run_ember("prune --model " + q(kTiny) + " --calibration " + q(tmp.path() / "cal.jsonl") +
                         " --keep-ratio 0.5 --out " + q(out) + " --threads 2",
                     tmp.path());
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.err, "");  // piped: no progress line
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["selection"], "keep-ratio");
  EXPECT_EQ(j["fit_texts"].get<int>() + j["held_out_texts"].get<int>(), 6);
  EXPECT_EQ(j["heads"], nlohmann::json({2, 2}));
  EXPECT_EQ(j["ffn"], nlohmann::json({32, 32}));
  EXPECT_LT(j["parameters_after"].get<int64_t>(), j["parameters_before"].get<int64_t>());
  for (const char* f :
       {"model.safetensors", "config.json", "tokenizer.json", "prune.json", "modules.json"})
    EXPECT_TRUE(fs::exists(out / f)) << f;

  r = run_ember("embed --model " + q(out) + " 'hello pruned world'", tmp.path());
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find('['), std::string::npos);
  r = run_ember("info --model " + q(out), tmp.path());
  ASSERT_EQ(r.status, 0) << r.err;

  // The same seed chooses the same parts; a quantized copy of the result loads too.
  const fs::path again = tmp.path() / "again";
  r = run_ember("prune --model " + q(kTiny) + " --calibration " + q(tmp.path() / "cal.jsonl") +
                    " --keep-ratio 0.5 --out " + q(again) + " --threads 2",
                tmp.path());
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["keep"], j["keep"]);
  // Plain text lines are texts as they are, quotes and braces included.
  r = run_ember("prune --model " + q(kTiny) + " --calibration " + q(tmp.path() / "cal.txt") +
                    " --keep-ratio 0.5 --no-refit --out " + q(tmp.path() / "plain") +
                    " --threads 2",
                tmp.path());
  ASSERT_EQ(r.status, 0) << r.err;
  const auto plain = nlohmann::json::parse(r.out);
  EXPECT_EQ(plain["fit_texts"].get<int>() + plain["held_out_texts"].get<int>(), 5);
  r = run_ember("quantize --model " + q(out) + " --out " + q(tmp.path() / "int8"), tmp.path());
  ASSERT_EQ(r.status, 0) << r.err;
  r = run_ember("embed --model " + q(tmp.path() / "int8") + " 'hello'", tmp.path());
  EXPECT_EQ(r.status, 0) << r.err;
}

// The front's three files: front.json parses and lists the base and every candidate (with an
// int8 copy unless --no-int8), front.csv has a row per point, front.svg marks the chosen one.
nlohmann::json read_front(const fs::path& dir, bool int8) {
  std::ifstream f(dir / "front.json");
  const auto j = nlohmann::json::parse(f, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << dir / "front.json";
  if (j.is_discarded()) return {};
  const auto& points = j["points"];
  EXPECT_EQ(points.at(0)["name"], "base");
  size_t int8_points = 0;
  for (const auto& p : points) {
    int8_points += p["int8"].get<bool>() ? 1 : 0;
    EXPECT_EQ(p["p50_ms"].size(), j["shapes"].size()) << p["name"];
  }
  EXPECT_EQ(int8_points > 0, int8);
  std::ifstream csv(dir / "front.csv");
  std::string line;
  size_t rows = 0;
  while (std::getline(csv, line)) ++rows;
  EXPECT_EQ(rows, points.size() + 1);  // and the header
  std::ifstream svg(dir / "front.svg");
  const std::string text((std::istreambuf_iterator<char>(svg)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("<svg"), std::string::npos);
  EXPECT_NE(text.find("</svg>"), std::string::npos);
  EXPECT_NE(text.find(">base<"), std::string::npos);
  if (j["chosen"].is_string()) {
    EXPECT_NE(text.find("chosen: " + j["chosen"].get<std::string>()), std::string::npos);
  }
  return j;
}

const nlohmann::json& point(const nlohmann::json& front, const nlohmann::json& name) {
  for (const auto& p : front["points"])
    if (p["name"] == name) return p;
  ADD_FAILURE() << "no point " << name;
  return front["points"][0];
}

TEST(PruneCli, TargetSpeedupChoosesTheMostFaithfulMeasuredPointThatReachesIt) {
  TempDir tmp("cli-target");
  std::vector<std::string> texts = testing::vader_sentences();
  ASSERT_GE(texts.size(), 100u) << "run scripts/fetch_data.sh";
  texts.resize(100);
  testing::write_lines(tmp.path() / "cal.txt", texts);
  const fs::path out = tmp.path() / "pruned";
  const double target = 1.25;
  auto r = run_ember("prune --model all-MiniLM-L6-v2 --calibration " + q(tmp.path() / "cal.txt") +
                         " --target-speedup 1.25 --budget 2 --min-cost 0.3 --shapes 1x64,4x64 "
                         "--bench-reps 5 --threads 2 --out " +
                         q(out),
                     tmp.path());
  ASSERT_EQ(r.status, 0) << r.err;
  std::ifstream f(out / "prune.json");
  const auto j = nlohmann::json::parse(f);
  EXPECT_EQ(j["selection"], "target-speedup");
  EXPECT_EQ(j["shapes"], "1x64,4x64");
  const auto front = read_front(out, true);
  ASSERT_TRUE(j["chosen"].is_string());
  EXPECT_EQ(front["chosen"], j["chosen"]);
  EXPECT_EQ(front["points"], j["front"]);
  EXPECT_EQ(front["points"].size(), 1u + 2 * 2);
  const auto& c = point(front, j["chosen"]);
  // The recorded latencies reach the target at every shape ...
  ASSERT_EQ(c["p50_ms"].size(), 2u);
  for (size_t s = 0; s < 2; ++s)
    EXPECT_GE(c["base_p50_ms"][s].get<double>() / c["p50_ms"][s].get<double>(), target);
  // ... and no point that reaches it is closer to the base.
  for (const auto& p : front["points"])
    if (p["name"] != "base" && p["speedup"].get<double>() >= target) {
      EXPECT_LE(c["loss"].get<double>(), p["loss"].get<double>()) << p["name"];
    }
  EXPECT_EQ(j["keep"], c["keep"]);
  EXPECT_EQ(j["heads"], c["heads"]);
  EXPECT_GT(j["held_out_cosine"].get<double>(), 0.5);
  r = run_ember("embed --model " + q(out) + " 'a pruned MiniLM'", tmp.path());
  EXPECT_EQ(r.status, 0) << r.err;
}

TEST(PruneCli, MaxLossChoosesTheFastestPointWithinIt) {
  TempDir tmp("cli-loss");
  std::vector<std::string> texts = testing::vader_sentences();
  ASSERT_GE(texts.size(), 200u) << "run scripts/fetch_data.sh";
  texts.resize(200);
  testing::write_lines(tmp.path() / "cal.txt", texts);
  const fs::path out = tmp.path() / "pruned", front_dir = tmp.path() / "front";
  const double max_loss = 0.02;
  auto r = run_ember("prune --model " + q(kTiny) + " --calibration " + q(tmp.path() / "cal.txt") +
                         " --max-loss 0.02 --budget 4 --no-int8 --shapes 1x32 --bench-reps 3 "
                         "--threads 2 --front " +
                         q(front_dir) + " --out " + q(out),
                     tmp.path());
  ASSERT_EQ(r.status, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["selection"], "max-loss");
  EXPECT_FALSE(fs::exists(out / "front.json"));  // --front puts them elsewhere
  const auto front = read_front(front_dir, false);
  const auto& c = point(front, j["chosen"]);
  EXPECT_LE(c["loss"].get<double>(), max_loss);
  for (const auto& p : front["points"])
    if (p["name"] != "base" && p["loss"].get<double>() <= max_loss) {
      EXPECT_GE(c["speedup"].get<double>(), p["speedup"].get<double>()) << p["name"];
    }
  // The front's points are exactly the non-dominated ones.
  for (const auto& p : front["points"]) {
    bool dominated = false;
    for (const auto& o : front["points"])
      dominated |= o["speedup"] >= p["speedup"] && o["loss"] <= p["loss"] &&
                   (o["speedup"] > p["speedup"] || o["loss"] < p["loss"]);
    EXPECT_EQ(p["pareto"].get<bool>(), !dominated) << p["name"];
  }
}

// With fewer --search-texts than fit texts, the chosen point is fitted again on all of them:
// the same counts per layer (the speed measured), its own re-fit.
TEST(PruneCli, SearchTextsRefitTheChosenCountsOnEveryText) {
  TempDir tmp("cli-search-texts");
  std::vector<std::string> texts = testing::vader_sentences();
  ASSERT_GE(texts.size(), 200u) << "run scripts/fetch_data.sh";
  texts.resize(200);
  testing::write_lines(tmp.path() / "cal.txt", texts);
  const fs::path out = tmp.path() / "pruned";
  auto r = run_ember("prune --model " + q(kTiny) + " --calibration " + q(tmp.path() / "cal.txt") +
                         " --max-loss 1 --budget 2 --no-int8 --shapes 1x32 --bench-reps 2 "
                         "--search-texts 32 --threads 2 --out " +
                         q(out),
                     tmp.path());
  ASSERT_EQ(r.status, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["fit_texts"], 160);
  const nlohmann::json front = {{"points", j["front"]}};
  const auto& c = point(front, j["chosen"]);
  EXPECT_EQ(j["heads"], c["heads"]);
  EXPECT_EQ(j["ffn"], c["ffn"]);
  // Its own fit (on 160 texts, the candidate's on 32): another reconstruction error.
  EXPECT_NE(j["reconstruction_error"]["after_refit"].get<double>(),
            c["reconstruction_error"]["after_refit"].get<double>());
  r = run_ember("embed --model " + q(out) + " 'hello'", tmp.path());
  EXPECT_EQ(r.status, 0) << r.err;
}

struct BadCase {
  std::string name, args;
  int status;
  std::string type;
};

TEST(PruneCli, BadInputGetsATypedErrorAndLeavesNothingBehind) {
  TempDir tmp("cli-bad");
  const fs::path cal = tmp.path() / "cal.txt", empty = tmp.path() / "empty.txt";
  testing::write_lines(cal, {"one sentence", "two sentences", "three"});
  testing::write_lines(empty, {"", "   ", ""});
  const fs::path existing = tmp.path() / "existing";
  fs::create_directories(existing);
  testing::write_lines(existing / "keep-me.txt", {"untouched"});
  testing::write_lines(tmp.path() / "a-file", {"not a directory"});
  testing::write_lines(tmp.path() / "bad.keep.json", {"{\"layers\": [{\"heads\": [7]}, {}]}"});
  testing::write_lines(tmp.path() / "bad.jsonl", {"\"fine\"", "{\"text\": 3}"});
  const fs::path out = tmp.path() / "out";
  const std::string base = "prune --threads 2 --model " + q(kTiny) + " ";
  const std::vector<BadCase> cases = {
      {"empty calibration",
       base + "--keep-ratio 0.5 --calibration " + q(empty) + " --out " + q(out), 2,
       "invalid_input"},
      {"JSON line without text",
       base + "--keep-ratio 0.5 --calibration " + q(tmp.path() / "bad.jsonl") + " --out " + q(out),
       2, "invalid_input"},
      {"missing calibration",
       base + "--keep-ratio 0.5 --calibration " + q(tmp.path() / "nope.txt") + " --out " + q(out),
       3, "not_found"},
      {"unknown model",
       "prune --model no-such-model-anywhere --keep-ratio 0.5 --calibration " + q(cal) + " --out " +
           q(out),
       3, "not_found"},
      {"impossible target",
       base +
           "--target-speedup 1000 --budget 2 --no-int8 --shapes 1x8 --bench-reps 2 "
           "--calibration " +
           q(cal) + " --out " + q(out),
       2, "invalid_input"},
      {"impossible loss",
       base + "--max-loss 0 --budget 2 --no-int8 --shapes 1x8 --bench-reps 2 --calibration " +
           q(cal) + " --out " + q(out),
       2, "invalid_input"},
      {"negative loss", base + "--max-loss -1 --calibration " + q(cal) + " --out " + q(out), 2,
       "invalid_input"},
      {"cost ratio out of range",
       base + "--cost-ratio 0 --calibration " + q(cal) + " --out " + q(out), 2, "invalid_input"},
      {"existing out", base + "--keep-ratio 0.5 --calibration " + q(cal) + " --out " + q(existing),
       2, "invalid_input"},
      {"out under a file",
       base + "--keep-ratio 0.5 --calibration " + q(cal) + " --out " + q(tmp.path() / "a-file/x"),
       5, "unavailable"},
      {"keep spec out of range",
       base + "--keep " + q(tmp.path() / "bad.keep.json") + " --calibration " + q(cal) + " --out " +
           q(out),
       2, "invalid_input"},
      {"ratio out of range", base + "--keep-ratio 1.5 --calibration " + q(cal) + " --out " + q(out),
       2, "invalid_input"},
      {"no selection", base + "--calibration " + q(cal) + " --out " + q(out), 2, "invalid_input"},
  };
  const auto before = listing(tmp.path());
  for (const auto& c : cases) {
    const fs::path io = tmp.path() / "io";
    fs::create_directories(io);
    const auto r = run_ember(c.args, io);
    fs::remove_all(io);
    EXPECT_EQ(r.status, c.status) << c.name << ": " << r.err;
    const auto j = nlohmann::json::parse(r.err, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << c.name << ": " << r.err;
    EXPECT_EQ(j["error_type"], c.type) << c.name << ": " << r.err;
    EXPECT_EQ(r.out, "") << c.name;
    // No output, no staging directory beside it, the existing directory as it was.
    EXPECT_EQ(listing(tmp.path()), before) << c.name;
    EXPECT_EQ(listing(existing), std::set<std::string>{"keep-me.txt"}) << c.name;
  }
}

// SIGTERM, SIGINT or SIGHUP while the tool works: it says so, exits 128 + the signal, and leaves
// no staging directory and no output; an output being replaced (--force) keeps every byte.
TEST(PruneCli, ASignalMidWayLeavesNothingBehind) {
  TempDir tmp("cli-signal");
  std::vector<std::string> texts = testing::vader_sentences();
  ASSERT_GE(texts.size(), 300u) << "run scripts/fetch_data.sh";
  texts.resize(300);
  testing::write_lines(tmp.path() / "cal.txt", texts);
  const fs::path out = tmp.path() / "pruned";
  fs::create_directories(out);
  testing::write_lines(out / "keep-me.txt", {"the output being replaced"});
  const std::string bin = std::string(EMBER_BINARY_DIR) + "/src/cli/ember";
  const std::string cal = (tmp.path() / "cal.txt").string(), err = (tmp.path() / "stderr").string();
  for (const int sig : {SIGTERM, SIGINT}) {
    const pid_t pid = ::fork();
    if (pid == 0) {
      const int e = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (e < 0 || ::dup2(e, 2) < 0) ::_exit(120);
      ::execl(bin.c_str(), bin.c_str(), "prune", "--model", "all-MiniLM-L6-v2", "--calibration",
              cal.c_str(), "--keep-ratio", "0.6", "--force", "--out", out.c_str(), nullptr);
      ::_exit(122);
    }
    ASSERT_GT(pid, 0);
    // Once the staging directory exists the tool is at work (loading, then the calibration
    // passes, several seconds on MiniLM).
    auto staging = [&] {
      for (const auto& e : fs::directory_iterator(tmp.path()))
        if (e.path().filename().string().rfind(".pruned.tmp-", 0) == 0) return true;
      return false;
    };
    for (int i = 0; i < 600 && !staging(); ++i) ::usleep(50'000);
    ASSERT_TRUE(staging()) << "no staging directory appeared";
    ::usleep(500'000);
    ::kill(pid, sig);
    int raw = 0;
    ::waitpid(pid, &raw, 0);
    ASSERT_TRUE(WIFEXITED(raw)) << "killed by signal " << WTERMSIG(raw);
    EXPECT_EQ(WEXITSTATUS(raw), 128 + sig);
    std::ifstream f(err);
    const auto j =
        nlohmann::json::parse(std::string(std::istreambuf_iterator<char>(f), {}), nullptr, false);
    ASSERT_FALSE(j.is_discarded());
    EXPECT_EQ(j["error_type"], "unavailable");
    EXPECT_NE(j["error"].get<std::string>().find("interrupted by SIG"), std::string::npos);
    EXPECT_EQ(listing(tmp.path()), (std::set<std::string>{"cal.txt", "pruned", "stderr"}));
    EXPECT_EQ(listing(out), std::set<std::string>{"keep-me.txt"});
  }
}

}  // namespace
}  // namespace ember
