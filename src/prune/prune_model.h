// `ember prune`: a dense, smaller model directory from a float one (docs/pruning.md). What is
// kept comes from an explicit keep spec (--keep), from keep ratios per layer (--keep-ratio), from
// a compute budget spread over the layers by the surgeon's profile (--cost-ratio), or from the
// search's Pareto front of measured latency against fidelity (--target-speedup, --max-loss;
// search.h). The kept output projections are re-fitted by least squares, the parts within each
// layer chosen by the error they leave (refit.h), unless refit is off. The directory (weights,
// config with pruned_heads, tokenizer and pooling files, prune.json: the keep spec, the
// measurements and the choice; front.json/.csv/.svg after a search) is written by
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
#include "prune/search.h"
#include "runtime/bench_runner.h"

namespace ember::prune {

// How the parts of each layer are chosen: kSurgeon, by the error their removal leaves after the
// least-squares re-fit (refit.h; the importance ranking then only sets each layer's counts);
// kImportance, by the importance ranking alone (importance.h). Without the re-fit, always the
// ranking.
enum class Ranking { kSurgeon, kImportance };

struct PruneOptions {
  std::filesystem::path calibration;  // texts, one per line or JSON lines
  // A sequence classifier's label of each calibration text (calibration.h read_labels).
  std::optional<std::filesystem::path> labels;
  std::optional<std::filesystem::path> keep;  // an explicit keep spec (keep_spec.h)
  std::optional<double> keep_ratio;           // heads and FFN units kept per layer, in (0, 1]
  std::optional<double> head_ratio;           // heads kept per layer (default keep_ratio)
  // The estimated compute kept, in (0, 1], spread over the layers by the profile (allocation.h).
  std::optional<double> cost_ratio;
  // The search (search.h): the most faithful point at least this much faster (> 1) ...
  std::optional<double> target_speedup;
  // ... or the fastest whose loss (1 - held-out cosine to the base) is at most this.
  std::optional<double> max_loss;
  std::optional<std::filesystem::path> front_dir;  // the front's files; default: in the output
  SearchOptions search;                            // budget, min_cost, int8
  // The search fits its candidates on the first this many calibration texts of the fit part;
  // the chosen point is then fitted again, its counts kept, on all of them.
  int64_t search_texts = 512;
  std::vector<runtime::BenchCell> shapes{{1, 128}};
  Allocation allocation = Allocation::kUniform;  // of --keep-ratio
  // --cost-ratio and the search: the profile's curves rescaled to the error at the model's
  // output on the held-out calibration texts (allocation.h), or left as each layer's own.
  bool output_profile = true;
  Ranking ranking = Ranking::kSurgeon;
  int bench_reps = 10;
  bool refit = true;
  RefitOptions refit_options;
  CalibrationOptions calibration_options;
  int threads = 0;  // compute threads (calibration and bench); 0: all cores
  bool force = false;
};

struct PruneReport {
  std::filesystem::path out_dir;
  nlohmann::json keep;    // the keep spec applied
  std::string selection;  // "keep", "keep-ratio", "cost-ratio", "target-speedup", "max-loss"
  std::optional<double> keep_ratio, cost_ratio;
  int64_t parameters_before = 0, parameters_after = 0;
  std::vector<int64_t> heads, ffn;  // per layer of the result
  // sum |h_pruned - h_base|^2 / sum |h_base|^2 on the held-out calibration texts.
  double reconstruction_before_refit = 0, reconstruction_after_refit = 0;
  // Per kept layer, the relative errors of the attention and FFN fits on the calibration text
  // (refit.h LayerFit: unpruned weights, sliced, fitted).
  nlohmann::json layer_fits = nlohmann::json::array();
  // Of the pooled embeddings on the held-out calibration texts, against the base: mean cosine
  // and 10-nearest-neighbour overlap.
  double held_out_cosine = 0, held_out_overlap = 0;
  int64_t fit_texts = 0, held_out_texts = 0;
  std::vector<runtime::BenchCell> shapes;
  // With labels: the base's and the result's label accuracy on the held-out calibration texts
  // and on all of them (the fit uses no labels).
  struct LabelAccuracy {
    int64_t held_out_texts = 0, texts = 0;
    double base_held_out = 0, held_out = 0, base_all = 0, all = 0;
  };
  std::optional<LabelAccuracy> label_accuracy;
  nlohmann::json front = nlohmann::json::array();  // the search's points (FrontPoint::to_json)
  std::optional<std::string> chosen;               // the chosen point's name
  double seconds = 0;
  nlohmann::json to_json() const;
};

// (stage, done, total).
using PruneProgress = std::function<void(const std::string&, size_t, size_t)>;

// kNotFound (unknown model, missing calibration, keep or labels file); kInvalidInput (an empty
// calibration file, a bad keep spec, ratios or target out of range, no candidate reaching the
// target, an existing or unusable --out, labels for a model without a sequence-classification
// head, an unknown label or a label count that differs from the texts'); kUnsupported (a family or
// layout pruning does not know, a quantized model); kUnavailable when writing fails. Nothing is
// left at `out` then.
PruneReport prune_model(const std::string& model, const std::filesystem::path& out,
                        const PruneOptions& options, const PruneProgress& progress = {});

}  // namespace ember::prune
