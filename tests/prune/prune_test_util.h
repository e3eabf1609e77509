// Shared by the prune tests: scratch directories, the VADER sentences, running the real binary.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace ember::testing {
namespace fs = std::filesystem;

// A fresh directory under the system's temp directory, removed at the end of the test.
class TempDir {
 public:
  explicit TempDir(const std::string& tag) {
    path_ =
        fs::temp_directory_path() / ("ember-prune-test-" + tag + "-" + std::to_string(::getpid()));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

inline fs::path fixture(const std::string& rel) {
  return fs::path(EMBER_SOURCE_DIR) / "tests/fixtures" / rel;
}

inline fs::path data_dir() {
  if (const char* d = std::getenv("EMBER_DATA_DIR"); d && *d) return d;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return fs::path(x) / "ember/data";
  const char* home = std::getenv("HOME");
  return fs::path(home ? home : "/tmp") / ".cache/ember/data";
}

// The movie-review sentences of the VADER set (scripts/fetch_data.sh): "id<TAB>rating<TAB>text".
inline std::vector<std::string> vader_sentences() {
  std::ifstream in(data_dir() / "vader/hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt");
  std::vector<std::string> out;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const size_t t1 = line.find('\t'), t2 = line.find('\t', t1 + 1);
    if (t1 == std::string::npos || t2 == std::string::npos) continue;
    out.push_back(line.substr(t2 + 1));
  }
  return out;
}

inline void write_lines(const fs::path& path, const std::vector<std::string>& lines) {
  std::ofstream out(path);
  for (const auto& l : lines) out << l << "\n";
}

struct CliResult {
  int status = -1;
  std::string out, err;
};

inline CliResult run_ember(const std::string& args, const fs::path& tmp) {
  const std::string cmd = std::string(EMBER_BINARY_DIR) + "/src/cli/ember " + args + " >" +
                          (tmp / "stdout").string() + " 2>" + (tmp / "stderr").string();
  const int raw = std::system(cmd.c_str());
  auto slurp = [](const fs::path& p) {
    std::ifstream f(p);
    return std::string(std::istreambuf_iterator<char>(f), {});
  };
  return {WIFEXITED(raw) ? WEXITSTATUS(raw) : 128 + WTERMSIG(raw), slurp(tmp / "stdout"),
          slurp(tmp / "stderr")};
}

}  // namespace ember::testing
