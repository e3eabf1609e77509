// Shared helpers for the tokenizer tests: fixture paths and loading.
#pragma once

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace ember::tok::testing {

inline std::filesystem::path fixture(const std::string& name) {
  return std::filesystem::path(EMBER_SOURCE_DIR) / "tests" / "fixtures" / "tokenizers" / name;
}

inline std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace ember::tok::testing
