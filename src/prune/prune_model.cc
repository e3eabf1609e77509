#include "prune/prune_model.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <fstream>
#include <sstream>
#include <system_error>

#include <Eigen/Core>

#include "backends/cpu/cpu_backend.h"
#include "core/error.h"
#include "io/model_dir.h"
#include "io/model_dir_writer.h"
#include "prune/checkpoint.h"
#include "prune/importance.h"
#include "prune/keep_spec.h"

namespace ember::prune {
namespace fs = std::filesystem;

namespace {

// Everything of a model directory but its weights, config.json and the cache's SOURCE stamp:
// tokenizer, pooling and sentence-transformers files (relative paths).
std::vector<fs::path> side_files(const fs::path& dir) {
  std::vector<fs::path> out;
  for (auto it = fs::recursive_directory_iterator(dir); it != fs::recursive_directory_iterator();
       ++it) {
    const fs::path rel = fs::relative(it->path(), dir);
    const std::string name = rel.filename().string();
    if (it->is_directory()) {
      if (name == "onnx" || name == "openvino" || name.starts_with("."))
        it.disable_recursion_pending();
      continue;
    }
    const std::string ext = rel.extension().string();
    static const char* kSkip[] = {".safetensors", ".bin", ".onnx", ".h5",   ".msgpack",
                                  ".ot",          ".pt",  ".pth",  ".ckpt", ".onnx_data"};
    if (!it->is_regular_file() || name.starts_with(".") || rel == "SOURCE" ||
        rel == "config.json" || rel == "prune.json" ||
        std::any_of(std::begin(kSkip), std::end(kSkip), [&](const char* e) { return ext == e; }))
      continue;
    out.push_back(rel);
  }
  std::sort(out.begin(), out.end());
  return out;
}

// A scratch directory for the candidates that are benchmarked, removed on the way out.
class ScratchDir {
 public:
  ScratchDir() {
    static std::atomic<int> counter{0};
    path_ = fs::temp_directory_path() /
            ("ember-prune-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::error_code ec;
    fs::remove_all(path_, ec);
    fs::create_directories(path_, ec);
    EMBER_CHECK(!ec, ErrorKind::kUnavailable, "cannot create ", path_.string(), ": ", ec.message());
  }
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

void write_model(const Checkpoint& c, const fs::path& source, const fs::path& dir) {
  fs::create_directories(dir);
  c.write(dir);
  for (const auto& rel : side_files(source)) {
    fs::create_directories((dir / rel).parent_path());
    fs::copy_file(source / rel, dir / rel);
  }
}

double mean_pooled_cosine(const runtime::Engine& a, const runtime::Engine& b,
                          const std::vector<model::Batch>& batches) {
  double sum = 0;
  int64_t n = 0;
  for (const auto& batch : batches) {
    const auto ra = a.run(batch, runtime::kPooled), rb = b.run(batch, runtime::kPooled);
    const int64_t h = ra.hidden_size;
    for (int64_t s = 0; s < batch.size(); ++s) {
      double dot = 0, na = 0, nb = 0;
      for (int64_t e = 0; e < h; ++e) {
        const double x = ra.pooled[s * h + e], y = rb.pooled[s * h + e];
        dot += x * y;
        na += x * x;
        nb += y * y;
      }
      sum += na > 0 && nb > 0 ? dot / std::sqrt(na * nb) : 0.0;
      ++n;
    }
  }
  return n > 0 ? sum / static_cast<double>(n) : 0.0;
}

std::string shapes_str(const std::vector<runtime::BenchCell>& shapes) {
  std::ostringstream s;
  for (size_t i = 0; i < shapes.size(); ++i)
    s << (i ? "," : "") << shapes[i].batch << "x" << shapes[i].length;
  return s.str();
}

// Measures the candidates of the ranking least pruned first, each interleaved with the base
// model, until one is at least `target` times faster at every shape.
std::optional<size_t> search_speedup(const Checkpoint& base, const fs::path& source,
                                     const Importance& importance, bool same_heads,
                                     const PruneOptions& o, PruneReport& report,
                                     const PruneProgress& progress) {
  ScratchDir scratch;
  runtime::BenchOptions bo;
  bo.cells = o.shapes;
  bo.engine.threads = o.threads;
  bo.warmup = 2;
  bo.reps = o.bench_reps;
  for (size_t c = 0; c < o.candidate_ratios.size(); ++c) {
    const double r = o.candidate_ratios[c];
    if (progress) progress("bench", c, o.candidate_ratios.size());
    const fs::path dir = scratch.path() / ("keep-" + std::to_string(c));
    write_model(base.prune(keep_top(importance, r, r, same_heads, o.allocation)), source, dir);
    bo.models = {source.string(), dir.string()};
    const runtime::BenchReport br = runtime::run_bench(bo);
    PruneCandidate pc;
    pc.keep_ratio = r;
    pc.parameters = br.models[1].parameters;
    pc.speedup = 1e300;
    for (size_t s = 0; s < o.shapes.size(); ++s) {
      double b = 0, p = 0;
      for (const auto& res : br.results)
        if (res.cell.batch == o.shapes[s].batch && res.cell.length == o.shapes[s].length)
          (res.model == 0 ? b : p) = res.p50_ms;
      pc.base_p50_ms.push_back(b);
      pc.p50_ms.push_back(p);
      pc.speedup = std::min(pc.speedup, p > 0 ? b / p : 0.0);
    }
    report.candidates.push_back(pc);
    fs::remove_all(dir);
    if (pc.speedup >= *o.target_speedup) return report.candidates.size() - 1;
  }
  return std::nullopt;
}

}  // namespace

nlohmann::json PruneReport::to_json() const {
  nlohmann::json cands = nlohmann::json::array();
  for (const auto& c : candidates)
    cands.push_back({{"keep_ratio", c.keep_ratio},
                     {"parameters", c.parameters},
                     {"base_p50_ms", c.base_p50_ms},
                     {"p50_ms", c.p50_ms},
                     {"speedup", c.speedup}});
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
                      {"candidates", cands},
                      {"seconds", seconds},
                      {"keep", keep}};
  j["keep_ratio"] = keep_ratio ? nlohmann::json(*keep_ratio) : nlohmann::json(nullptr);
  j["chosen"] = chosen ? nlohmann::json(*chosen) : nlohmann::json(nullptr);
  return j;
}

PruneReport prune_model(const std::string& model, const fs::path& out, const PruneOptions& o,
                        const PruneProgress& progress) {
  const auto start = std::chrono::steady_clock::now();
  const int modes = (o.keep ? 1 : 0) + (o.keep_ratio ? 1 : 0) + (o.target_speedup ? 1 : 0);
  EMBER_CHECK(modes == 1, ErrorKind::kInvalidInput,
              "give exactly one of --keep, --keep-ratio and --target-speedup");
  EMBER_CHECK(!o.keep_ratio || (*o.keep_ratio > 0 && *o.keep_ratio <= 1), ErrorKind::kInvalidInput,
              "--keep-ratio ", o.keep_ratio.value_or(0), " is not in (0, 1]");
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
  const std::vector<std::string> texts = read_texts(o.calibration);
  const Checkpoint base = Checkpoint::load(*files.config, *files.safetensors);

  runtime::EngineOptions eo;
  eo.threads = o.threads;
  const auto base_engine = runtime::Engine::load(files.dir.string(), eo);
  const model::ModelSpec& spec = base_engine->spec();
  const Calibration cal = make_calibration(texts, *base_engine, o.calibration_options);
  // The re-fit's products run on Eigen's OpenMP threads: as many as the engine's.
  if (o.threads > 0) Eigen::setNbThreads(o.threads);
  cpu::CpuBackendOptions co;
  co.pool.threads = o.threads;
  cpu::CpuBackend backend(co);

  PruneReport report;
  report.out_dir = writer.out();
  report.shapes = o.shapes;
  report.fit_texts = cal.fit_texts;
  report.held_out_texts = cal.held_out_texts;
  report.parameters_before = base_engine->info().parameters;
  const bool same_heads = !base.names().relative_bias.empty();

  KeepSpec keep;
  if (o.keep) {
    keep = KeepSpec::load(o.keep->string(), spec);
    report.selection = "keep";
  } else {
    if (progress) progress("importance", 0, 1);
    LayerRunner runner(base, backend);
    const Importance importance = measure_importance(runner, base, cal.fit);
    if (o.keep_ratio) {
      keep = keep_top(importance, *o.keep_ratio, *o.keep_ratio, same_heads, o.allocation);
      report.selection = "keep-ratio";
      report.keep_ratio = o.keep_ratio;
    } else {
      report.selection = "target-speedup";
      report.chosen = search_speedup(base, files.dir, importance, same_heads, o, report, progress);
      if (!report.chosen) {
        double best = 0;
        for (const auto& c : report.candidates) best = std::max(best, c.speedup);
        fail(ErrorKind::kInvalidInput, "no candidate reaches --target-speedup ", *o.target_speedup,
             " at ", shapes_str(o.shapes), ": the best measured was ", best, " (keep ratio ",
             o.candidate_ratios.back(), " and above)");
      }
      report.keep_ratio = report.candidates[*report.chosen].keep_ratio;
      keep = keep_top(importance, *report.keep_ratio, *report.keep_ratio, same_heads, o.allocation);
    }
  }
  report.keep = keep.to_json();
  const KeptShape shape = kept_shape(keep);
  report.heads = shape.heads;
  report.ffn = shape.ffn;

  Checkpoint pruned = base.prune(keep);
  report.reconstruction_before_refit = reconstruction_error(base, pruned, cal.held_out, backend);
  report.reconstruction_after_refit = report.reconstruction_before_refit;
  if (o.refit) {
    auto step = [&](size_t done, size_t total, const std::string&) {
      if (progress) progress("refit", done, total);
    };
    refit(base, pruned, keep, cal.fit, backend, o.refit_options, step);
    report.reconstruction_after_refit = reconstruction_error(base, pruned, cal.held_out, backend);
  }

  if (progress) progress("write", 0, 1);
  try {
    pruned.write(writer.staging());
    for (const auto& rel : side_files(files.dir)) writer.copy_file(files.dir / rel, rel);
    // The result must load as any model does; its embeddings are compared with the base's.
    const auto check = runtime::Engine::load(writer.staging().string(), eo);
    report.parameters_after = check->info().parameters;
    report.held_out_cosine = mean_pooled_cosine(*base_engine, *check, cal.held_out);
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
