// Helpers for the int8 tests: fixture paths, a fresh temporary directory, cosine.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "io/model_dir.h"

namespace ember::test {
namespace fs = std::filesystem;

inline fs::path fixture_model(const std::string& name) {
  return fs::path(EMBER_SOURCE_DIR) / "tests/fixtures/models" / name;
}

// all-MiniLM-L6-v2 in the model cache (scripts/fetch_models.sh puts it there).
inline fs::path minilm_dir() {
  return io::model_cache_dir() / "all-MiniLM-L6-v2";
}

inline fs::path fresh_temp_dir(const std::string& tag) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  fs::path d = fs::temp_directory_path() /
               ("ember-int8-" + tag + "-" + info->test_suite_name() + "-" + info->name());
  fs::remove_all(d);
  return d;
}

inline double cosine(const float* a, const float* b, size_t n) {
  double ab = 0, aa = 0, bb = 0;
  for (size_t i = 0; i < n; ++i) {
    ab += static_cast<double>(a[i]) * b[i];
    aa += static_cast<double>(a[i]) * a[i];
    bb += static_cast<double>(b[i]) * b[i];
  }
  return ab / std::sqrt(aa * bb);
}

}  // namespace ember::test
