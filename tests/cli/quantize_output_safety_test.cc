// `ember quantize` through the real binary never loses data: an existing --out is refused
// without --force and replaced with it; an output linked into the source (hard link, symbolic
// link, the source itself, a directory inside it) is refused and the source keeps every byte
// and still loads; a write that fails halfway (a file-size limit) leaves the previous output
// and the source byte-identical and no staging directory behind. The source is a copy of the
// tiny-bert-seqcls fixture, so that a bug here could never damage the repository's files.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace {
namespace fs = std::filesystem;

struct CliRun {
  int status = -1;
  std::string out, err;
};

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

// Runs the real binary with `args`; with `file_size_limit`, under RLIMIT_FSIZE of that many
// bytes with SIGXFSZ ignored (as `ulimit -f` in a shell that traps XFSZ).
CliRun ember(const std::vector<std::string>& args, const fs::path& logs,
             std::optional<rlim_t> file_size_limit = std::nullopt) {
  const std::string bin = std::string(EMBER_BINARY_DIR) + "/src/cli/ember";
  const fs::path out = logs / "stdout", err = logs / "stderr";
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int o = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int e = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (o < 0 || e < 0 || ::dup2(o, 1) < 0 || ::dup2(e, 2) < 0) ::_exit(120);
    if (file_size_limit) {
      ::signal(SIGXFSZ, SIG_IGN);
      const rlimit limit{*file_size_limit, *file_size_limit};
      if (::setrlimit(RLIMIT_FSIZE, &limit) != 0) ::_exit(121);
    }
    std::vector<char*> argv = {const_cast<char*>(bin.c_str())};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(bin.c_str(), argv.data());
    ::_exit(122);
  }
  int raw = 0;
  ::waitpid(pid, &raw, 0);
  return {WIFEXITED(raw) ? WEXITSTATUS(raw) : 128 + WTERMSIG(raw), slurp(out), slurp(err)};
}

uint64_t fnv1a(const std::string& bytes) {
  uint64_t h = 1469598103934665603ull;
  for (const unsigned char c : bytes) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

// Relative path -> a hash of the file's bytes, "link:<target>" or "dir".
std::map<std::string, std::string> snapshot(const fs::path& dir) {
  std::map<std::string, std::string> out;
  for (auto it = fs::recursive_directory_iterator(dir); it != fs::recursive_directory_iterator();
       ++it) {
    const std::string rel = fs::relative(it->path(), dir).string();
    if (it->is_symlink())
      out[rel] = "link:" + fs::read_symlink(it->path()).string();
    else if (it->is_directory())
      out[rel] = "dir";
    else
      out[rel] = std::to_string(fnv1a(slurp(it->path())));
  }
  return out;
}

class QuantizeOutputSafety : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    root_ = fs::temp_directory_path() /
            ("ember-quantize-safety-" + std::to_string(::getpid()) + "-" + info->name());
    fs::remove_all(root_);
    fs::create_directories(root_ / "logs");
    work_ = root_ / "work";
    source_ = work_ / "source";
    fs::create_directories(work_);
    fs::copy(fs::path(EMBER_SOURCE_DIR) / "tests/fixtures/models/tiny-bert-seqcls", source_,
             fs::copy_options::recursive);
    source_before_ = snapshot(source_);
  }
  void TearDown() override {
    // Whatever the outcome: the source keeps every byte and still loads.
    EXPECT_EQ(snapshot(source_), source_before_) << "the source model changed";
    const CliRun info = ember({"info", "--model", source_.string()}, root_ / "logs");
    EXPECT_EQ(info.status, 0) << info.err;
    fs::remove_all(root_);
  }

  CliRun quantize(const fs::path& out, std::vector<std::string> extra = {},
                  std::optional<rlim_t> file_size_limit = std::nullopt) {
    std::vector<std::string> args = {"quantize", "--model", source_.string(), "--out",
                                     out.string()};
    args.insert(args.end(), extra.begin(), extra.end());
    return ember(args, root_ / "logs", file_size_limit);
  }

  // Entries of work_ besides `keep`: staging or swapped-out directories left behind.
  std::set<std::string> leftovers(const std::set<std::string>& keep) const {
    std::set<std::string> out;
    for (const auto& e : fs::directory_iterator(work_))
      if (!keep.count(e.path().filename().string())) out.insert(e.path().filename().string());
    return out;
  }

  fs::path root_, work_, source_;
  std::map<std::string, std::string> source_before_;
};

// Exit 2 (invalid input) with the one JSON error line naming the path and the reason.
void expect_refused(const CliRun& r, const std::string& path, const std::string& reason) {
  EXPECT_EQ(r.status, 2) << r.err;
  const auto j = nlohmann::json::parse(r.err);
  const std::string message = j["error"];
  EXPECT_NE(message.find(path), std::string::npos) << message;
  EXPECT_NE(message.find(reason), std::string::npos) << message;
}

TEST_F(QuantizeOutputSafety, ExistingOutputRefusedWithoutForceReplacedWithIt) {
  const fs::path out = work_ / "int8";
  CliRun r = quantize(out);
  ASSERT_EQ(r.status, 0) << r.err;
  fs::create_directories(out / "notes");
  std::ofstream(out / "notes/mine.txt") << "the user's own file";
  const auto first = snapshot(out);

  expect_refused(quantize(out, {"--full-range-weights"}), out.string(), "already exists");
  EXPECT_EQ(snapshot(out), first);

  r = quantize(out, {"--full-range-weights", "--force"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["out"], out.string());
  const auto second = snapshot(out);
  EXPECT_FALSE(second.count("notes/mine.txt"));  // the old directory was replaced whole
  EXPECT_NE(second.at("model.safetensors"), first.at("model.safetensors"));  // 8-bit weights
  EXPECT_EQ(second.at("config.json"), source_before_.at("config.json"));
  r = ember({"info", "--model", out.string()}, root_ / "logs");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["quantization"], "int8-dynamic");
  EXPECT_EQ(leftovers({"source", "int8"}), std::set<std::string>{});
}

TEST_F(QuantizeOutputSafety, HardLinkToTheSourceWeightsIsNeverWrittenThrough) {
  const fs::path out = work_ / "int8";
  fs::create_directories(out);
  fs::create_hard_link(source_ / "model.safetensors", out / "model.safetensors");
  expect_refused(quantize(out), out.string(), "already exists");
  expect_refused(quantize(out, {"--force"}), (out / "model.safetensors").string(), "hard link");
  EXPECT_TRUE(fs::equivalent(out / "model.safetensors", source_ / "model.safetensors"));
}

TEST_F(QuantizeOutputSafety, SymbolicLinkToTheSourceWeightsIsNeverWrittenThrough) {
  const fs::path out = work_ / "int8";
  fs::create_directories(out);
  fs::create_symlink(source_ / "model.safetensors", out / "model.safetensors");
  expect_refused(quantize(out), out.string(), "already exists");
  expect_refused(quantize(out, {"--force"}), (out / "model.safetensors").string(), "symbolic link");
}

TEST_F(QuantizeOutputSafety, OutputIsTheSourceOrInsideIt) {
  for (const std::vector<std::string>& extra : {std::vector<std::string>{}, {"--force"}}) {
    expect_refused(quantize(source_, extra), source_.string(), "is the model directory");
    expect_refused(quantize(source_ / "int8", extra), (source_ / "int8").string(),
                   "inside the model directory");
    expect_refused(quantize(work_, extra), work_.string(), "holds the model directory");
  }
  EXPECT_EQ(leftovers({"source"}), std::set<std::string>{});
}

// The int8 weights of tiny-bert-seqcls are about 120 KB; 64 KiB stops their write halfway.
TEST_F(QuantizeOutputSafety, FileSizeLimitMidWriteLeavesThePreviousOutput) {
  const fs::path out = work_ / "int8";
  CliRun r = quantize(out);
  ASSERT_EQ(r.status, 0) << r.err;
  const auto before = snapshot(out);
  ASSERT_GT(fs::file_size(out / "model.safetensors"), 64u << 10);

  r = quantize(out, {"--force", "--reduce-range"}, 64 << 10);
  EXPECT_EQ(r.status, 5) << r.err;  // kUnavailable: the system refused the write
  const std::string message = nlohmann::json::parse(r.err)["error"];
  EXPECT_NE(message.find("model.safetensors"), std::string::npos) << message;
  EXPECT_NE(message.find("File too large"), std::string::npos) << message;
  EXPECT_NE(message.find(out.string() + " is left as it was"), std::string::npos) << message;
  EXPECT_EQ(snapshot(out), before);
  EXPECT_EQ(leftovers({"source", "int8"}), std::set<std::string>{});

  // The same into a new directory: nothing appears.
  r = quantize(work_ / "fresh", {}, 64 << 10);
  EXPECT_EQ(r.status, 5) << r.err;
  EXPECT_NE(r.err.find("fresh was not created"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(work_ / "fresh"));
  EXPECT_EQ(leftovers({"source", "int8"}), std::set<std::string>{});
}

}  // namespace
