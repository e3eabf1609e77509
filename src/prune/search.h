// The search over sub-networks behind `ember prune --target-speedup / --max-loss`: candidates
// at `budget` estimated cost fractions, each allocated over the layers from the surgeon's
// profile (allocation.h: per-layer head and FFN counts and layer drops), pruned and re-fitted
// (refit.h), and scored by latency measured with Ember's own bench interleaved with the base
// model at every shape, and by fidelity to the base on the held-out calibration texts (mean
// cosine of the pooled embeddings, 10-nearest-neighbour overlap). With int8 on, every
// candidate's dynamic-int8 copy (ember::quantize) is a point too. The Pareto front (fastest
// for its loss) is written as front.json, front.csv and front.svg.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/batch.h"
#include "ops/backend.h"
#include "prune/allocation.h"
#include "prune/checkpoint.h"
#include "prune/refit.h"
#include "runtime/bench_runner.h"
#include "runtime/engine.h"

namespace ember::prune {

struct SearchOptions {
  std::vector<runtime::BenchCell> shapes{{1, 128}};
  int bench_reps = 10;
  int budget = 6;          // float candidates
  double min_cost = 0.25;  // the most pruned candidate's estimated cost fraction
  bool int8 = true;
  RefitOptions refit;
  runtime::EngineOptions engine;
  // A sequence classifier's labels of the held-out texts (--labels), in batch order: each
  // point's loss is then the drop in label accuracy on them instead of 1 - cosine.
  std::vector<int> held_out_labels;
};

struct FrontPoint {
  std::string name;  // "base", "c0", "c0-int8", ...
  double cost_fraction = 1;
  bool int8 = false;
  nlohmann::json keep;
  std::vector<int64_t> heads, ffn;  // per kept layer
  int64_t parameters = 0;
  std::vector<double> base_p50_ms, p50_ms;  // per shape, measured interleaved
  double speedup = 1;                       // the smallest base / point ratio over the shapes
  double cosine = 1, overlap = 1;           // against the base, held-out calibration texts
  std::optional<double> label_accuracy;     // with labels, on the held-out texts
  double loss = 0;  // 1 - cosine; with labels, the base's label accuracy minus this point's
  // Of the float model: last hidden states' relative error, sliced and after the re-fit.
  double reconstruction_before = 0, reconstruction_after = 0;
  nlohmann::json layer_fits;
  bool pareto = false;
  std::filesystem::path dir;  // the model directory (scratch)
  nlohmann::json to_json() const;
};

// (stage, done, total).
using SearchProgress = std::function<void(const std::string&, size_t, size_t)>;

// The base point first, then the candidates in order (int8 after its float point); pareto set.
// Candidates are written under `scratch`.
std::vector<FrontPoint> search_front(const Checkpoint& base, const std::filesystem::path& source,
                                     const std::vector<LayerCurve>& curves,
                                     const std::vector<model::Batch>& fit,
                                     const std::vector<model::Batch>& held_out,
                                     ops::Backend& backend, const SearchOptions& options,
                                     const std::filesystem::path& scratch,
                                     const SearchProgress& progress = {});

// The most faithful point at least `target_speedup` faster (the higher cosine between equal
// losses), or the fastest within `max_loss` (not the base); nullopt when none qualifies.
std::optional<size_t> choose_point(const std::vector<FrontPoint>& points,
                                   std::optional<double> target_speedup,
                                   std::optional<double> max_loss);

// front.json, front.csv and front.svg into `dir`.
void write_front(const std::filesystem::path& dir, const std::vector<FrontPoint>& points,
                 std::optional<size_t> chosen, const std::vector<runtime::BenchCell>& shapes);

}  // namespace ember::prune
