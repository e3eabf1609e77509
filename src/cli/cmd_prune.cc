// ember prune: a dense, smaller model directory from a float one (prune/prune_model.h).
#include <unistd.h>

#include <cstdio>
#include <iostream>

#include "cli/commands.h"
#include "cli/signals.h"
#include "prune/prune_model.h"

namespace ember::cli {
namespace {

struct PruneFlags {
  std::string model = "all-MiniLM-L6-v2";
  std::string out, calibration, keep, labels, shapes = "1x128";
  std::optional<double> keep_ratio, head_ratio, cost_ratio, target_speedup, max_loss;
  std::string front;
  bool no_int8 = false;
  std::string allocation = "uniform", ranking = "surgeon";
  bool no_refit = false;
  bool no_refit_inputs = false;
  std::string profile = "output";
  prune::PruneOptions options;
};

int run_prune(PruneFlags& f) {
  leave_nothing_behind_on_signals();
  prune::PruneOptions& o = f.options;
  o.calibration = f.calibration;
  if (!f.keep.empty()) o.keep = f.keep;
  if (!f.labels.empty()) o.labels = f.labels;
  o.keep_ratio = f.keep_ratio;
  o.head_ratio = f.head_ratio;
  o.target_speedup = f.target_speedup;
  o.cost_ratio = f.cost_ratio;
  o.max_loss = f.max_loss;
  if (!f.front.empty()) o.front_dir = f.front;
  o.search.int8 = !f.no_int8;
  o.shapes = runtime::parse_bench_grid(f.shapes);
  o.refit = !f.no_refit;
  o.refit_options.inputs = !f.no_refit_inputs;
  o.output_profile = f.profile == "output";
  o.ranking = f.ranking == "importance" ? prune::Ranking::kImportance : prune::Ranking::kSurgeon;
  o.allocation =
      f.allocation == "global" ? prune::Allocation::kGlobal : prune::Allocation::kUniform;
  // A progress line on a terminal only; piped output stays the JSON summary alone.
  const bool tty = ::isatty(STDERR_FILENO) != 0;
  auto progress = [](const std::string& stage, size_t done, size_t total) {
    if (stage == "done") {
      std::fprintf(stderr, "\r\033[K");
      return;
    }
    std::fprintf(stderr, "\r\033[K[%s %zu/%zu]", stage.c_str(), done, total);
    std::fflush(stderr);
  };
  const auto r =
      tty ? prune::prune_model(f.model, f.out, o, progress) : prune::prune_model(f.model, f.out, o);
  nlohmann::json j = r.to_json();
  j["model"] = f.model;
  std::cout << j.dump(2) << "\n";
  return 0;
}

}  // namespace

Runner add_prune(CLI::App& app) {
  auto f = std::make_shared<PruneFlags>();
  app.add_option("-m,--model", f->model, "Model directory or cache name (float weights)")
      ->capture_default_str();
  app.add_option("-o,--out", f->out,
                 "Output directory for the pruned model (written complete or not at all; must not "
                 "exist unless --force)")
      ->required();
  app.add_option("--calibration", f->calibration,
                 "Unlabeled texts, one per line (*.jsonl / *.json: JSON lines, a string or "
                 "{\"text\": ...}); default: the VADER tweets, product reviews and news sentences "
                 "of Ember's data cache (scripts/fetch_data.sh)");
  app.add_option("--labels", f->labels,
                 "A sequence classifier's label of each calibration text, one per line (a name of "
                 "its id2label or a class index): label accuracy in the report, and the search's "
                 "loss is the drop in it");
  app.add_option("--keep", f->keep,
                 "Keep spec JSON: per layer the heads and FFN units kept (indices, or counts for "
                 "the prune to choose), or drop (docs/pruning.md)");
  app.add_option("--keep-ratio", f->keep_ratio,
                 "Fraction of heads and FFN units each layer keeps, most important first");
  app.add_option("--head-ratio", f->head_ratio,
                 "With --keep-ratio: the fraction of heads each layer keeps (--keep-ratio then "
                 "applies to FFN units)");
  app.add_option("--cost-ratio", f->cost_ratio,
                 "Estimated compute kept, spread over the layers (heads, FFN units, whole layers) "
                 "by the error each part leaves");
  app.add_option("--target-speedup", f->target_speedup,
                 "Search: the most faithful candidate whose measured latency is this many times "
                 "lower at every --shapes cell");
  app.add_option("--max-loss", f->max_loss,
                 "Search: the fastest candidate whose loss (1 - held-out cosine to the base) is "
                 "at most this");
  app.add_option("--budget", f->options.search.budget, "Search: float candidates measured")
      ->capture_default_str();
  app.add_option("--search-texts", f->options.search_texts,
                 "Search: calibration texts each candidate is fitted on (the chosen point is then "
                 "fitted again on all --max-texts)")
      ->capture_default_str();
  app.add_option("--min-cost", f->options.search.min_cost,
                 "Search: estimated compute of the most pruned candidate")
      ->capture_default_str();
  app.add_flag("--no-int8", f->no_int8, "Search: leave out the int8 copy of every candidate");
  app.add_option("--front", f->front,
                 "Search: directory for front.json/.csv/.svg (default: the output directory)");
  app.add_option("--allocation", f->allocation,
                 "--keep-ratio's spread: uniform, the same share of every layer; global, the share "
                 "over the whole model, by each part's share of its layer's output energy")
      ->check(CLI::IsMember({"uniform", "global"}))
      ->capture_default_str();
  app.add_option("--profile", f->profile,
                 "--cost-ratio and the search spread the cost over the layers by each part's "
                 "error at the model's output on the held-out texts (output) or at its own "
                 "layer (layer)")
      ->check(CLI::IsMember({"output", "layer"}))
      ->capture_default_str();
  app.add_option("--ranking", f->ranking,
                 "surgeon: each layer's parts chosen by the error left after the re-fit; "
                 "importance: by their output energy in the unpruned model")
      ->check(CLI::IsMember({"surgeon", "importance"}))
      ->capture_default_str();
  app.add_option("--shapes", f->shapes, "Batch x length cells the latency is measured at")
      ->capture_default_str();
  app.add_option("--bench-reps", f->options.bench_reps, "Timed runs per candidate and cell")
      ->capture_default_str();
  app.add_flag("--no-refit", f->no_refit,
               "Slice only: skip the least-squares re-fit of the kept output projections");
  app.add_option("--ridge", f->options.refit_options.ridge,
                 "Pull of the re-fit toward the sliced weights (x mean diagonal)")
      ->capture_default_str();
  app.add_flag("--no-refit-inputs", f->no_refit_inputs,
               "Re-fit only the output projections, not Q, K, V and the FFN's intermediate rows");
  app.add_option("--input-ridge", f->options.refit_options.input_ridge,
                 "Pull of the input projections' re-fit toward the unpruned weights "
                 "(x mean diagonal)")
      ->capture_default_str();
  app.add_option("--max-texts", f->options.calibration_options.max_texts,
                 "Calibration texts used (a seeded sample of the file)")
      ->capture_default_str();
  app.add_option("--seed", f->options.calibration_options.seed,
                 "Seed of the calibration sample and its held-out split")
      ->capture_default_str();
  app.add_option("--threads", f->options.threads, "Compute threads (0: all cores)")
      ->capture_default_str();
  app.add_flag("--force", f->options.force,
               "Replace an existing --out directory, once the new model is complete");
  return [f] { return run_prune(*f); };
}

}  // namespace ember::cli
