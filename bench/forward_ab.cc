// Whole forwards of one model under engine settings A, B, ..., alternated in one process: one
// engine is loaded per setting (each setting is a list of engine options: pack_weights=0|1,
// spin_us=N, worker_affinity=0|1, backend=cpu|reference, dtype=auto|fp32|bf16,
// bf16_attention=0|1), then every round runs `--per-round` forwards on each engine in turn.
// Medians and quartiles per setting, and the median process CPU time per forward (all threads;
// on a shared machine it leaves out the time the threads waited for a core). Separate
// processes proved too noisy on a shared VM to choose between kernels (docs/gemm.md).
//
//   bench_forward_ab MODEL OUT.json --cells 1x8,1x128 --setting "pack_weights=0"
//                    --setting "" [--rounds 15] [--per-round 2] [--threads 2]
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "core/parallel.h"
#include "runtime/engine.h"

namespace {

using Clock = std::chrono::steady_clock;

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string item; std::getline(in, item, sep);)
    if (!item.empty()) out.push_back(item);
  return out;
}

double quantile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(q * static_cast<double>(v.size() - 1) + 0.5)];
}

// CPU time of the whole process (all its threads), in ms: on a shared machine, wall time counts
// the time the compute threads waited for a core and CPU time does not (spinning counts).
double process_cpu_ms() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return 1e3 * (static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec)) +
         1e-3 * static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

int usage() {
  std::cerr << "usage: bench_forward_ab MODEL OUT.json --cells BxL[,BxL...] --setting "
               "\"K=V[ K=V...]\" [--setting ...] [--rounds N] [--per-round N] [--threads N]\n"
               "  K: pack_weights, spin_us, worker_affinity, backend, dtype, bf16_attention\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) return usage();
  const std::string model = argv[1], out = argv[2];
  std::vector<std::string> settings;
  std::string cells = "1x8,1x128";
  int rounds = 15, per_round = 2, threads = 2;
  for (int i = 3; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) return usage();
    const std::string v = argv[++i];
    if (a == "--setting")
      settings.push_back(v);
    else if (a == "--cells")
      cells = v;
    else if (a == "--rounds")
      rounds = std::atoi(v.c_str());
    else if (a == "--per-round")
      per_round = std::atoi(v.c_str());
    else if (a == "--threads")
      threads = std::atoi(v.c_str());
    else
      return usage();
  }
  if (settings.empty() || rounds < 1 || per_round < 1) return usage();
  try {
    std::vector<std::unique_ptr<ember::runtime::Engine>> engines;
    for (const std::string& s : settings) {
      ember::runtime::EngineOptions opts;
      opts.threads = threads;
      for (const std::string& kv : split(s, ' ')) {
        const auto eq = kv.find('=');
        if (eq == std::string::npos) return usage();
        const std::string key = kv.substr(0, eq), value = kv.substr(eq + 1);
        if (key == "pack_weights")
          opts.pack_weights = value != "0";
        else if (key == "spin_us")
          opts.spin_us = std::atoll(value.c_str());
        else if (key == "worker_affinity")
          opts.worker_affinity = value != "0";
        else if (key == "backend")
          opts.backend = value;
        else if (key == "dtype")
          opts.dtype = value;
        else if (key == "bf16_attention")
          opts.bf16_attention = value != "0";
        else
          return usage();
      }
      engines.push_back(ember::runtime::Engine::load(model, opts));
    }
    std::ofstream json(out);
    json << "{\"model\": \"" << model << "\", \"threads\": " << threads
         << ", \"rounds\": " << rounds << ", \"per_round\": " << per_round << ", \"results\": [";
    bool first = true;
    for (const std::string& cell : split(cells, ',')) {
      int batch = 0, len = 0;
      if (std::sscanf(cell.c_str(), "%dx%d", &batch, &len) != 2 || batch < 1 || len < 1)
        return usage();
      // Random ids from the middle of the vocabulary, the same for every setting.
      std::mt19937 rng(42);
      ember::model::Batch b;
      for (int s = 0; s < batch; ++s) {
        std::vector<int32_t> ids(static_cast<size_t>(len)), types(static_cast<size_t>(len), 0);
        for (auto& id : ids) id = 1000 + static_cast<int32_t>(rng() % 20000);
        b.add(ids, types);
      }
      for (auto& e : engines) e->run(b, ember::runtime::kHidden);  // warm-up
      std::vector<std::vector<double>> ms(engines.size()), cpu(engines.size());
      for (int r = 0; r < rounds; ++r)
        for (size_t d = 0; d < engines.size(); ++d)
          for (int i = 0; i < per_round; ++i) {
            const double c0 = process_cpu_ms();
            const auto t0 = Clock::now();
            engines[d]->run(b, ember::runtime::kHidden);
            ms[d].push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
            cpu[d].push_back(process_cpu_ms() - c0);
          }
      for (size_t d = 0; d < engines.size(); ++d) {
        const double p50 = quantile(ms[d], 0.5);
        std::printf(
            "%-8s %-40s median %8.3f ms  p25 %8.3f  p75 %8.3f  cpu %8.3f ms  (vs first: %.3f)\n",
            cell.c_str(), settings[d].empty() ? "(defaults)" : settings[d].c_str(), p50,
            quantile(ms[d], 0.25), quantile(ms[d], 0.75), quantile(cpu[d], 0.5),
            quantile(ms[0], 0.5) / p50);
        json << (first ? "" : ",") << "\n  {\"cell\": \"" << cell << "\", \"setting\": \""
             << settings[d] << "\", \"median_ms\": " << p50
             << ", \"p25_ms\": " << quantile(ms[d], 0.25)
             << ", \"p75_ms\": " << quantile(ms[d], 0.75)
             << ", \"median_cpu_ms\": " << quantile(cpu[d], 0.5) << ", \"n\": " << ms[d].size()
             << "}";
        first = false;
      }
    }
    json << "\n]}\n";
  } catch (const std::exception& e) {
    std::cerr << "bench_forward_ab: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
