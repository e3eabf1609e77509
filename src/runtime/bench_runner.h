// Latency of Engine::run over a grid of batch x sequence length, for one or more models
// measured interleaved (every repetition visits every model, in alternating order) so that
// the noise of a shared machine hits all of them alike. Inputs are synthetic token ids of
// exactly `length` tokens each; tokenization is not timed.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "model/batch.h"
#include "runtime/engine.h"

namespace ember::runtime {

struct BenchCell {
  int64_t batch = 0;
  int64_t length = 0;  // tokens per sequence, special tokens included
};

// "1x16,8x128" -> cells (kInvalidInput on anything else).
std::vector<BenchCell> parse_bench_grid(std::string_view grid);
// "1,2,8" -> {1, 2, 8}; every value positive. `what` names the flag in errors.
std::vector<int64_t> parse_positive_list(std::string_view list, std::string_view what);
// Every batch with every length, batch-major.
std::vector<BenchCell> cross_grid(const std::vector<int64_t>& batches,
                                  const std::vector<int64_t>& lengths);

struct BenchOptions {
  std::vector<std::string> models;
  std::vector<BenchCell> cells;
  EngineOptions engine;         // backend, threads and their tuning, for every model
  int warmup = 3;               // untimed runs per model and cell
  int reps = 20;                // timed runs per model and cell, at least
  double min_time_s = 0;        // and keep going until each model spent this long in the cell
  bool position_limit = false;  // check lengths against the positions, not max_length
  uint64_t seed = 42;
};

struct BenchModel {
  std::string name;
  std::string dir;
  std::string model_type;
  int64_t parameters = 0;
  int64_t max_length = 0;  // the limit lengths were checked against
  std::string output;      // what run() produced: "pooled", "seq_logits", "token_logits"
  double load_ms = 0;
};

struct BenchResult {
  size_t model = 0;  // index into BenchReport::models
  BenchCell cell;
  int reps = 0;
  double p50_ms = 0, p95_ms = 0, p99_ms = 0, mean_ms = 0, min_ms = 0, max_ms = 0;
  double tokens_per_s = 0;     // batch * length / p50
  double sequences_per_s = 0;  // batch / p50
};

struct BenchReport {
  std::string cpu;  // lscpu's "Model name", from /proc/cpuinfo
  std::string isa;
  int threads = 0;
  int warmup = 0;
  int reps = 0;
  double min_time_s = 0;
  uint64_t seed = 0;
  std::vector<BenchModel> models;
  std::vector<BenchResult> results;  // cell-major, models in order within a cell
  int64_t peak_rss_kb = 0;           // VmHWM of the whole process (all models loaded)
};

// Called before each cell is measured and once more at the end (done == total).
using BenchProgress = std::function<void(size_t done, size_t total, const BenchCell& cell)>;

// Loads every model, checks every cell against every model (kInvalidInput naming the cell
// and model, before anything is timed), then measures.
BenchReport run_bench(const BenchOptions& options, const BenchProgress& progress = {});

// `batch` sequences of exactly `length` ids: random in-vocabulary ids framed by the
// tokenizer's special tokens ([CLS] ... [SEP]); plain random ids when there is no tokenizer.
model::Batch synthetic_batch(const Engine& engine, const BenchCell& cell, uint64_t seed);

// Linear interpolation between closest ranks; `sorted` ascending and non-empty.
double percentile_sorted(const std::vector<double>& sorted, double p);

// VmHWM from /proc/self/status in KiB (0 where unavailable).
int64_t peak_rss_kb();
std::string cpu_model_name();

}  // namespace ember::runtime
