// Latency of Engine::run on synthetic batches (random in-vocabulary ids framed by the
// model's first and last special ids), over a grid of batch x tokens. Writes JSON.
//
//   bench_latency --model all-MiniLM-L6-v2 --grid 1x16,1x128,8x128 --reps 50 --threads 2
//                 --json out.json
//
// Timing only: values do not matter, so any model (also random weights) is fine.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "core/cpu_features.h"
#include "core/error.h"
#include "core/parallel.h"
#include "runtime/engine.h"

namespace {

struct Cell {
  int batch;
  int tokens;
};

std::vector<Cell> parse_grid(const std::string& s) {
  std::vector<Cell> cells;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ',')) {
    const auto x = item.find('x');
    if (x == std::string::npos) throw std::runtime_error("grid cell '" + item + "' is not BxT");
    cells.push_back({std::stoi(item.substr(0, x)), std::stoi(item.substr(x + 1))});
  }
  return cells;
}

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  const double idx = p * (v.size() - 1);
  const size_t lo = static_cast<size_t>(idx);
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (idx - lo);
}

}  // namespace

int main(int argc, char** argv) {
  std::string model = "all-MiniLM-L6-v2", grid = "1x16,1x128,8x128", json_path;
  int reps = 30, warmup = 5, threads = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) throw std::runtime_error(a + " needs a value");
      return argv[++i];
    };
    if (a == "--model") model = next();
    else if (a == "--grid") grid = next();
    else if (a == "--reps") reps = std::stoi(next());
    else if (a == "--warmup") warmup = std::stoi(next());
    else if (a == "--threads") threads = std::stoi(next());
    else if (a == "--json") json_path = next();
    else {
      std::cerr << "unknown flag " << a << "\n";
      return 2;
    }
  }
  try {
    ember::runtime::EngineOptions opts;
    opts.threads = threads;
    const auto engine = ember::runtime::Engine::load(model, opts);
    const auto& c = engine->config();
    std::mt19937 rng(42);
    std::uniform_int_distribution<int32_t> id(1000, static_cast<int32_t>(c.vocab_size) - 1);
    std::ostringstream json;
    json << "{\"model\":\"" << model << "\",\"threads\":" << ember::num_threads()
         << ",\"isa\":\"" << ember::isa_name(ember::active_isa()) << "\",\"cells\":[";
    bool first = true;
    for (const Cell& cell : parse_grid(grid)) {
      ember::model::Batch batch;
      for (int b = 0; b < cell.batch; ++b) {
        std::vector<int32_t> ids(cell.tokens);
        for (auto& x : ids) x = id(rng);
        batch.add(ids);
      }
      std::vector<double> ms;
      for (int r = 0; r < warmup + reps; ++r) {
        const auto t0 = std::chrono::steady_clock::now();
        engine->run(batch, ember::runtime::kPooled);
        const auto t1 = std::chrono::steady_clock::now();
        if (r >= warmup) ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
      }
      const double p50 = percentile(ms, 0.5), p90 = percentile(ms, 0.9);
      std::printf("%-28s %3dx%-4d p50 %8.3f ms  p90 %8.3f ms  %9.0f tokens/s\n", model.c_str(),
                  cell.batch, cell.tokens, p50, p90, cell.batch * cell.tokens / (p50 / 1000));
      json << (first ? "" : ",") << "{\"batch\":" << cell.batch << ",\"tokens\":" << cell.tokens
           << ",\"p50_ms\":" << p50 << ",\"p90_ms\":" << p90 << ",\"min_ms\":"
           << *std::min_element(ms.begin(), ms.end()) << ",\"reps\":" << reps << "}";
      first = false;
    }
    json << "]}\n";
    if (!json_path.empty()) std::ofstream(json_path) << json.str();
  } catch (const std::exception& e) {
    std::cerr << "bench_latency: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
