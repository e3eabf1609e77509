#include "prune/prune_model.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <sstream>
#include <system_error>

#include <Eigen/Core>

#include "backends/cpu/cpu_backend.h"
#include "core/error.h"
#include "core/thread_pool.h"
#include "ember/ember.h"
#include "io/model_dir.h"
#include "io/model_dir_writer.h"
#include "prune/checkpoint.h"
#include "prune/importance.h"
#include "prune/keep_spec.h"
#include "prune/model_files.h"
#include "prune/quality.h"
#include "prune/search.h"

namespace ember::prune {
namespace fs = std::filesystem;

namespace {

std::vector<float> pooled_embeddings(const runtime::Engine& e,
                                     const std::vector<model::Batch>& batches) {
  std::vector<float> out;
  for (const auto& b : batches) {
    const auto r = e.run(b, runtime::kPooled);
    out.insert(out.end(), r.pooled.begin(), r.pooled.end());
  }
  return out;
}

std::string shapes_str(const std::vector<runtime::BenchCell>& shapes) {
  std::ostringstream s;
  for (size_t i = 0; i < shapes.size(); ++i)
    s << (i ? "," : "") << shapes[i].batch << "x" << shapes[i].length;
  return s.str();
}

}  // namespace

nlohmann::json PruneReport::to_json() const {
  nlohmann::json j = {{"out", out_dir.string()},
                      {"selection", selection},
                      {"parameters_before", parameters_before},
                      {"parameters_after", parameters_after},
                      {"heads", heads},
                      {"ffn", ffn},
                      {"reconstruction_error",
                       {{"before_refit", reconstruction_before_refit},
                        {"after_refit", reconstruction_after_refit}}},
                      {"held_out_cosine", held_out_cosine},
                      {"fit_texts", fit_texts},
                      {"held_out_texts", held_out_texts},
                      {"shapes", shapes_str(shapes)},
                      {"held_out_neighbour_overlap", held_out_overlap},
                      {"front", front},
                      {"seconds", seconds},
                      {"layer_fits", layer_fits},
                      {"keep", keep}};
  j["keep_ratio"] = keep_ratio ? nlohmann::json(*keep_ratio) : nlohmann::json(nullptr);
  j["chosen"] = chosen ? nlohmann::json(*chosen) : nlohmann::json(nullptr);
  j["cost_ratio"] = cost_ratio ? nlohmann::json(*cost_ratio) : nlohmann::json(nullptr);
  j["label_accuracy"] = nullptr;
  if (label_accuracy) {
    const auto& a = *label_accuracy;
    j["label_accuracy"] = {
        {"held_out",
         {{"texts", a.held_out_texts}, {"base", a.base_held_out}, {"pruned", a.held_out}}},
        {"all", {{"texts", a.texts}, {"base", a.base_all}, {"pruned", a.all}}}};
  }
  return j;
}

PruneReport prune_model(const std::string& model, const fs::path& out, const PruneOptions& o,
                        const PruneProgress& progress) {
  const auto start = std::chrono::steady_clock::now();
  const int modes = (o.keep ? 1 : 0) + (o.keep_ratio ? 1 : 0) + (o.cost_ratio ? 1 : 0) +
                    (o.target_speedup || o.max_loss ? 1 : 0);
  EMBER_CHECK(modes == 1, ErrorKind::kInvalidInput,
              "give exactly one of --keep, --keep-ratio, --cost-ratio and --target-speedup / "
              "--max-loss");
  EMBER_CHECK(!(o.target_speedup && o.max_loss), ErrorKind::kInvalidInput,
              "give --target-speedup or --max-loss, not both");
  EMBER_CHECK(!o.cost_ratio || (*o.cost_ratio > 0 && *o.cost_ratio <= 1), ErrorKind::kInvalidInput,
              "--cost-ratio ", o.cost_ratio.value_or(0), " is not in (0, 1]");
  EMBER_CHECK(!o.max_loss || (std::isfinite(*o.max_loss) && *o.max_loss >= 0),
              ErrorKind::kInvalidInput, "--max-loss ", o.max_loss.value_or(0),
              " must be 0 or more");
  EMBER_CHECK(!o.keep_ratio || (*o.keep_ratio > 0 && *o.keep_ratio <= 1), ErrorKind::kInvalidInput,
              "--keep-ratio ", o.keep_ratio.value_or(0), " is not in (0, 1]");
  EMBER_CHECK(!o.head_ratio || (o.keep_ratio && *o.head_ratio > 0 && *o.head_ratio <= 1),
              ErrorKind::kInvalidInput, "--head-ratio ", o.head_ratio.value_or(0),
              " must be in (0, 1] and goes with --keep-ratio");
  EMBER_CHECK(!o.target_speedup || (std::isfinite(*o.target_speedup) && *o.target_speedup > 1),
              ErrorKind::kInvalidInput, "--target-speedup ", o.target_speedup.value_or(0),
              " must be above 1");
  EMBER_CHECK(!o.shapes.empty() && o.bench_reps > 0, ErrorKind::kInvalidInput,
              "--shapes and --bench-reps must not be empty or zero");

  const io::ModelFiles files = io::resolve_model(model);
  EMBER_CHECK(files.safetensors.has_value() && files.config.has_value(), ErrorKind::kUnsupported,
              files.dir.string(),
              ": prune needs model.safetensors and config.json (ONNX models are not supported)");
  // A bad --out is refused before any work; the result appears there complete or not at all.
  io::ModelDirWriter writer(out, files.dir, {o.force});
  const std::vector<std::string> texts =
      o.calibration.empty() ? default_texts() : read_texts(o.calibration);
  const Checkpoint base = Checkpoint::load(*files.config, *files.safetensors);

  runtime::EngineOptions eo;
  eo.threads = o.threads;
  const auto base_engine = runtime::Engine::load(files.dir.string(), eo);
  const model::ModelSpec& spec = base_engine->spec();
  std::vector<int> labels;
  if (o.labels) {
    EMBER_CHECK(!o.calibration.empty(), ErrorKind::kInvalidInput,
                "--labels goes with --calibration (a label for each of its texts)");
    EMBER_CHECK(spec.head == model::HeadKind::kSequenceClassification, ErrorKind::kInvalidInput,
                "--labels needs a sequence-classification model; ", files.dir.string(),
                " has no sequence-classification head");
    labels = read_labels(*o.labels, spec.labels, texts.size());
  }
  const Calibration cal = make_calibration(texts, *base_engine, o.calibration_options, labels);
  // The re-fit's products run on Eigen's OpenMP threads: as many as the engine's.
  if (o.threads > 0) Eigen::setNbThreads(o.threads);
  cpu::CpuBackendOptions co;
  co.pool.threads = o.threads;
  cpu::CpuBackend backend(co);
  // The fits' products (gram.h) run on the backend's threads.
  const PoolScope pool_scope(backend.pool());

  PruneReport report;
  report.out_dir = writer.out();
  report.shapes = o.shapes;
  report.fit_texts = cal.fit_texts;
  report.held_out_texts = cal.held_out_texts;
  report.parameters_before = base_engine->info().parameters;

  KeepSpec keep;
  std::vector<LayerPlan> plan;
  std::vector<FrontPoint> front;
  std::unique_ptr<ScratchDir> scratch;
  std::vector<model::Batch> search_fit;  // the search's share of the fit texts
  const FrontPoint* chosen = nullptr;
  // A keep spec of indices is applied as it is; one with counts leaves the choice to the
  // surgeon (or the importance ranking), as --keep-ratio does.
  std::vector<LayerPlan> asked;
  if (o.keep) {
    asked = load_plan(o.keep->string(), spec);
    report.selection = "keep";
  }
  if (o.keep && !has_counts(asked)) {
    plan = asked;
    for (const auto& p : plan) keep.layers.push_back({p.drop, p.heads, p.ffn});
  } else {
    if (progress) progress("importance", 0, 1);
    LayerRunner runner(base, backend);
    const Importance importance = measure_importance(runner, base, cal.fit);
    if (o.keep) {
      plan = asked;
      const bool surgeon = o.refit && o.ranking == Ranking::kSurgeon;
      for (size_t i = 0; i < plan.size(); ++i) {
        auto& p = plan[i];
        if (p.drop) continue;
        if (p.heads.empty() && !surgeon) p.heads = top(importance.heads[i], p.head_count);
        if (p.ffn.empty() && !surgeon) p.ffn = top(importance.ffn[i], p.ffn_count);
      }
      for (const auto& p : plan) keep.layers.push_back({p.drop, p.heads, p.ffn});
    } else if (o.keep_ratio) {
      keep =
          keep_top(importance, o.head_ratio.value_or(*o.keep_ratio), *o.keep_ratio, o.allocation);
      report.selection = "keep-ratio";
      report.keep_ratio = o.keep_ratio;
      plan = plan_of(keep);
      // The surgeon chooses the parts within each layer's counts unless the ranking is asked
      // for.
      if (o.refit && o.ranking == Ranking::kSurgeon)
        for (auto& p : plan) {
          p.head_count = static_cast<int64_t>(p.heads.size());
          p.ffn_count = static_cast<int64_t>(p.ffn.size());
          p.heads.clear();
          p.ffn.clear();
        }
    } else {
      EMBER_CHECK(o.refit, ErrorKind::kInvalidInput,
                  "--cost-ratio, --target-speedup and --max-loss re-fit: drop --no-refit");
      if (progress) progress("profile", 0, 1);
      // The output profile scores on up to 256 held-out texts (8 batches): enough to rank
      // the layers, and its cost does not grow with --max-texts.
      std::vector<model::Batch> scoring;
      if (o.output_profile)
        scoring.assign(cal.held_out.begin(),
                       cal.held_out.begin() +
                           static_cast<std::ptrdiff_t>(std::min<size_t>(8, cal.held_out.size())));
      const auto curves = profile_layers(base, cal.fit, backend, o.refit_options.ridge, scoring);
      if (o.cost_ratio) {
        report.selection = "cost-ratio";
        report.cost_ratio = o.cost_ratio;
        plan = allocate(curves, spec, CostModel::of(spec, o.shapes), *o.cost_ratio);
      } else {
        report.selection = o.target_speedup ? "target-speedup" : "max-loss";
        SearchOptions so = o.search;
        so.shapes = o.shapes;
        so.bench_reps = o.bench_reps;
        so.refit = o.refit_options;
        so.engine = eo;
        so.held_out_labels = cal.held_out_labels;
        scratch = std::make_unique<ScratchDir>();
        auto step = [&](const std::string& stage, size_t done, size_t total) {
          if (progress) progress(stage, done, total);
        };
        EMBER_CHECK(o.search_texts > 0, ErrorKind::kInvalidInput,
                    "--search-texts must be positive");
        const auto search_batches =
            static_cast<size_t>((o.search_texts + o.calibration_options.batch_sequences - 1) /
                                o.calibration_options.batch_sequences);
        search_fit.assign(cal.fit.begin(), cal.fit.begin() + static_cast<std::ptrdiff_t>(std::min(
                                                                 search_batches, cal.fit.size())));
        front = search_front(base, files.dir, curves, search_fit, cal.held_out, backend, so,
                             scratch->path(), step);
        const auto pick = choose_point(front, o.target_speedup, o.max_loss);
        if (pick) {
          chosen = &front[*pick];
          report.chosen = chosen->name;
        }
        for (const auto& p : front) report.front.push_back(p.to_json());
        if (!chosen) {
          // The front is still worth having when nothing qualifies.
          if (o.front_dir) write_front(*o.front_dir, front, std::nullopt, o.shapes);
          double best_speedup = 0, best_loss = 1e300;
          for (const auto& p : front)
            if (p.name != "base") {
              best_speedup = std::max(best_speedup, p.speedup);
              best_loss = std::min(best_loss, p.loss);
            }
          if (o.target_speedup)
            fail(ErrorKind::kInvalidInput, "no candidate reaches --target-speedup ",
                 *o.target_speedup, " at ", shapes_str(o.shapes), ": the fastest measured was ",
                 best_speedup, "x (", o.search.budget, " candidates down to --min-cost ",
                 o.search.min_cost, ")");
          fail(ErrorKind::kInvalidInput, "no candidate is within --max-loss ", *o.max_loss,
               ": the smallest loss measured was ", best_loss);
        }
        keep = KeepSpec::from_json(chosen->keep, spec, "the chosen candidate");
      }
    }
  }

  Checkpoint pruned;
  // The chosen point again, on every fit text when the search saw fewer: the same counts per
  // layer (the same speed), the parts chosen and fitted on more text.
  std::filesystem::path chosen_dir = chosen ? chosen->dir : std::filesystem::path();
  if (chosen && search_fit.size() < cal.fit.size()) {
    plan.clear();
    for (const auto& l : keep.layers) {
      LayerPlan p;
      p.drop = l.drop;
      p.head_count = static_cast<int64_t>(l.heads.size());
      p.ffn_count = static_cast<int64_t>(l.ffn.size());
      plan.push_back(std::move(p));
    }
    auto step = [&](size_t done, size_t total, const std::string&) {
      if (progress) progress("refit", done, total);
    };
    RefitResult fit = select_and_refit(base, plan, cal.fit, backend, o.refit_options, step);
    keep = fit.keep;
    report.layer_fits = fit.layers_json();
    report.reconstruction_before_refit =
        reconstruction_error(base, base.prune(keep), cal.held_out, backend);
    report.reconstruction_after_refit =
        reconstruction_error(base, fit.pruned, cal.held_out, backend);
    chosen_dir = scratch->path() / "chosen";
    write_model(fit.pruned, files.dir, chosen_dir);
    if (chosen->int8) {
      quantize(chosen_dir.string(), (scratch->path() / "chosen-int8").string());
      chosen_dir = scratch->path() / "chosen-int8";
    }
  } else if (chosen) {
    report.reconstruction_before_refit = chosen->reconstruction_before;
    report.reconstruction_after_refit = chosen->reconstruction_after;
    report.layer_fits = chosen->layer_fits;
  } else if (o.refit) {
    auto step = [&](size_t done, size_t total, const std::string&) {
      if (progress) progress("refit", done, total);
    };
    RefitResult fit = select_and_refit(base, plan, cal.fit, backend, o.refit_options, step);
    keep = fit.keep;
    pruned = std::move(fit.pruned);
    report.layer_fits = fit.layers_json();
    report.reconstruction_before_refit =
        reconstruction_error(base, base.prune(keep), cal.held_out, backend);
    report.reconstruction_after_refit = reconstruction_error(base, pruned, cal.held_out, backend);
  } else {
    pruned = base.prune(keep);
    report.reconstruction_before_refit = reconstruction_error(base, pruned, cal.held_out, backend);
    report.reconstruction_after_refit = report.reconstruction_before_refit;
  }
  report.keep = keep.to_json();
  const KeptShape shape = kept_shape(keep);
  report.heads = shape.heads;
  report.ffn = shape.ffn;

  if (progress) progress("write", 0, 1);
  try {
    if (chosen) {
      for (const auto& rel : all_files(chosen_dir))
        if (rel != "prune.json") writer.copy_file(chosen_dir / rel, rel);
    } else {
      pruned.write(writer.staging());
      for (const auto& rel : side_files(files.dir)) writer.copy_file(files.dir / rel, rel);
    }
    if (!front.empty()) {
      const std::optional<size_t> pick = static_cast<size_t>(chosen - front.data());
      write_front(o.front_dir.value_or(writer.staging()), front, pick, o.shapes);
    }
    // The result must load as any model does; its embeddings are compared with the base's.
    const auto check = runtime::Engine::load(writer.staging().string(), eo);
    report.parameters_after = check->info().parameters;
    const Fidelity fid =
        compare_embeddings(pooled_embeddings(*base_engine, cal.held_out),
                           pooled_embeddings(*check, cal.held_out), spec.hidden_size, 10);
    report.held_out_cosine = fid.mean_cosine;
    report.held_out_overlap = fid.neighbour_overlap;
    if (!labels.empty()) {
      PruneReport::LabelAccuracy a;
      a.held_out_texts = cal.held_out_texts;
      a.texts = cal.fit_texts + cal.held_out_texts;
      a.base_held_out = label_accuracy(*base_engine, cal.held_out, cal.held_out_labels);
      a.held_out = label_accuracy(*check, cal.held_out, cal.held_out_labels);
      // Over all texts: the fit part's and the held-out part's, by their sizes.
      const auto all = [&](const runtime::Engine& e, double held) {
        const double fit = label_accuracy(e, cal.fit, cal.fit_labels);
        return (fit * static_cast<double>(cal.fit_texts) +
                held * static_cast<double>(cal.held_out_texts)) /
               static_cast<double>(a.texts);
      };
      a.base_all = all(*base_engine, a.base_held_out);
      a.all = all(*check, a.held_out);
      report.label_accuracy = a;
    }
    report.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::ofstream f(writer.staging() / "prune.json");
    f << report.to_json().dump(2) << "\n";
    f.close();
    EMBER_CHECK(f.good(), ErrorKind::kUnavailable, "cannot write prune.json");
    writer.commit();
  } catch (const Error& e) {
    std::error_code ec;
    fail(e.kind(), e.what(), " (", writer.out().string(),
         fs::exists(writer.out(), ec) ? " is left as it was)" : " was not created)");
  }
  if (progress) progress("done", 1, 1);
  return report;
}

}  // namespace ember::prune
