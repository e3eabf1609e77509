// The files of a model directory that pruning writes or carries over, and scratch directories
// for the candidates it measures.
#pragma once

#include <filesystem>
#include <vector>

#include "prune/checkpoint.h"

namespace ember::prune {

// io::side_files less config.json and prune.json, which pruning writes anew: tokenizer,
// pooling and sentence-transformers files (relative paths).
std::vector<std::filesystem::path> side_files(const std::filesystem::path& dir);

// Every regular file under `dir` (relative paths), sorted.
std::vector<std::filesystem::path> all_files(const std::filesystem::path& dir);

// `c` as a model directory at `dir`, with the side files of `source`.
void write_model(const Checkpoint& c, const std::filesystem::path& source,
                 const std::filesystem::path& dir);

// A fresh directory under the system's temporary directory, removed with everything in it when
// this goes.
class ScratchDir {
 public:
  ScratchDir();
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace ember::prune
