#include "prune/model_files.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <string>
#include <system_error>

#include "core/error.h"
#include "io/model_dir.h"

namespace ember::prune {
namespace fs = std::filesystem;

std::vector<fs::path> side_files(const fs::path& dir) {
  std::vector<fs::path> out = io::side_files(dir);
  std::erase_if(out,
                [](const fs::path& rel) { return rel == "config.json" || rel == "prune.json"; });
  return out;
}

void write_model(const Checkpoint& c, const fs::path& source, const fs::path& dir) {
  fs::create_directories(dir);
  c.write(dir);
  for (const auto& rel : side_files(source)) {
    fs::create_directories((dir / rel).parent_path());
    fs::copy_file(source / rel, dir / rel);
  }
}

std::vector<fs::path> all_files(const fs::path& dir) {
  std::vector<fs::path> out;
  for (auto it = fs::recursive_directory_iterator(dir); it != fs::recursive_directory_iterator();
       ++it)
    if (it->is_regular_file()) out.push_back(fs::relative(it->path(), dir));
  std::sort(out.begin(), out.end());
  return out;
}

ScratchDir::ScratchDir() {
  static std::atomic<int> counter{0};
  path_ = fs::temp_directory_path() /
          ("ember-prune-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
  std::error_code ec;
  fs::remove_all(path_, ec);
  fs::create_directories(path_, ec);
  EMBER_CHECK(!ec, ErrorKind::kUnavailable, "cannot create ", path_.string(), ": ", ec.message());
}

ScratchDir::~ScratchDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

}  // namespace ember::prune
