// A BenchReport as JSON (everything), CSV (one row per model and cell) and Markdown (rows =
// cells, columns per model), for docs and for scripts comparing runs.
#pragma once

#include <string>

#include "runtime/bench_runner.h"

namespace ember::runtime {

std::string bench_to_json(const BenchReport& report);
std::string bench_to_csv(const BenchReport& report);
std::string bench_to_markdown(const BenchReport& report);

// Writes `text` to `path` (kInvalidInput naming the path when it cannot be written).
void write_text_file(const std::string& path, const std::string& text);

}  // namespace ember::runtime
