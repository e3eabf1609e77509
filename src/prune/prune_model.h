// `ember prune`: a dense, smaller model directory from a float one (docs/pruning.md). The parts
// to keep come from an explicit keep spec (--keep), from keep ratios applied to the importance
// ranking (--keep-ratio), or from the least-pruned candidate of the ranking whose latency,
// measured with Ember's own bench interleaved with the base model at the given shapes, is at
// least --target-speedup lower. The kept output projections are then re-fitted by least squares
// (refit.h) unless refit is off. The directory (weights, config with pruned_heads, tokenizer and
// pooling files, and prune.json: the keep spec, the measurements and the choice) is written by
// io::ModelDirWriter: complete or not at all.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "prune/calibration.h"
#include "prune/importance.h"
#include "prune/refit.h"
#include "runtime/bench_runner.h"

namespace ember::prune {

struct PruneOptions {
  std::filesystem::path calibration;          // texts, one per line or JSON lines
  std::optional<std::filesystem::path> keep;  // an explicit keep spec (keep_spec.h)
  std::optional<double> keep_ratio;           // heads and FFN units kept per layer, in (0, 1]
  std::optional<double> target_speedup;       // measured latency ratio base / pruned, > 1
  std::vector<runtime::BenchCell> shapes{{1, 128}};
  // Keep ratios tried for --target-speedup, least pruned first.
  std::vector<double> candidate_ratios{0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.25, 0.2};
  Allocation allocation = Allocation::kUniform;  // of --keep-ratio and the candidates
  int bench_reps = 10;
  bool refit = true;
  RefitOptions refit_options;
  CalibrationOptions calibration_options;
  int threads = 0;  // compute threads (calibration and bench); 0: all cores
  bool force = false;
};

struct PruneCandidate {
  double keep_ratio = 0;
  int64_t parameters = 0;
  std::vector<double> base_p50_ms, p50_ms;  // per shape, measured interleaved
  double speedup = 0;                       // the smallest base / pruned ratio over the shapes
};

struct PruneReport {
  std::filesystem::path out_dir;
  nlohmann::json keep;    // the keep spec applied
  std::string selection;  // "keep", "keep-ratio", "target-speedup"
  std::optional<double> keep_ratio;
  int64_t parameters_before = 0, parameters_after = 0;
  std::vector<int64_t> heads, ffn;  // per layer of the result
  // sum |h_pruned - h_base|^2 / sum |h_base|^2 on the held-out calibration texts.
  double reconstruction_before_refit = 0, reconstruction_after_refit = 0;
  double held_out_cosine = 0;  // mean cosine of the pooled embeddings, pruned vs base
  int64_t fit_texts = 0, held_out_texts = 0;
  std::vector<runtime::BenchCell> shapes;
  std::vector<PruneCandidate> candidates;  // those measured, in order
  std::optional<size_t> chosen;            // index into candidates
  double seconds = 0;
  nlohmann::json to_json() const;
};

// (stage, done, total).
using PruneProgress = std::function<void(const std::string&, size_t, size_t)>;

// kNotFound (unknown model, missing calibration or keep file); kInvalidInput (an empty
// calibration file, a bad keep spec, ratios or target out of range, no candidate reaching the
// target, an existing or unusable --out); kUnsupported (a family or layout pruning does not
// know, a quantized model); kUnavailable when writing fails. Nothing is left at `out` then.
PruneReport prune_model(const std::string& model, const std::filesystem::path& out,
                        const PruneOptions& options, const PruneProgress& progress = {});

}  // namespace ember::prune
