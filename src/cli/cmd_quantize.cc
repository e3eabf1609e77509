// ember quantize: an int8 or bf16 model directory from a float one (runtime/quantize_model.h).
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>

#include "cli/commands.h"
#include "cli/signals.h"
#include "prune/calibration.h"
#include "runtime/engine.h"
#include "runtime/quantize_model.h"

namespace ember::cli {
namespace {

struct QuantizeFlags {
  std::string model = "all-MiniLM-L6-v2";
  std::string out;
  std::string dtype = "int8";
  bool reduce_range = false;
  bool full_range_weights = false;
  bool force = false;
  bool no_smooth = false;
  double smooth_alpha = 0.5;
  std::string calibration;
  int64_t max_texts = 512;
  uint64_t seed = 0;
  int threads = 0;
  std::vector<std::string> keep_fp32;
};

// The calibration texts, tokenized by the source model's own rule into packed batches.
std::vector<model::Batch> calibration_batches(const QuantizeFlags& f) {
  const auto texts = prune::read_texts(f.calibration);
  runtime::EngineOptions eo;
  eo.threads = f.threads;
  const auto engine = runtime::Engine::load(f.model, eo);
  prune::CalibrationOptions co;
  co.max_texts = f.max_texts;
  co.held_out_fraction = 0.0;
  co.seed = f.seed;
  prune::Calibration cal = prune::make_calibration(texts, *engine, co);
  std::vector<model::Batch> batches = std::move(cal.fit);
  for (auto& b : cal.held_out) batches.push_back(std::move(b));
  return batches;
}

int run_quantize(const QuantizeFlags& f) {
  leave_nothing_behind_on_signals();
  runtime::QuantizeOptions o;
  o.dtype = f.dtype;
  if (f.reduce_range) o.reduce_range = true;
  if (f.full_range_weights) o.reduce_range = false;
  o.force = f.force;
  o.smooth = !f.no_smooth;
  o.smooth_alpha = f.smooth_alpha;
  o.seed = f.seed;
  o.threads = f.threads;
  for (const std::string& spec : f.keep_fp32)
    o.keep_fp32 += (o.keep_fp32.empty() ? "" : ",") + spec;
  if (f.dtype == "int8" && !f.calibration.empty()) o.calibration = calibration_batches(f);
  // Progress on a terminal only; piped output stays the summary alone.
  const bool tty = ::isatty(STDERR_FILENO) != 0;
  const auto start = std::chrono::steady_clock::now();
  auto progress = [&](size_t done, size_t total, const std::string& name) {
    if (done == total) {
      std::fprintf(stderr, "\r\033[K");
      return;
    }
    std::fprintf(stderr, "\r\033[K[%zu/%zu] %s", done + 1, total, name.c_str());
    std::fflush(stderr);
  };
  const auto r = tty ? runtime::quantize_model(f.model, f.out, o, progress)
                     : runtime::quantize_model(f.model, f.out, o);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  nlohmann::json out = {
      {"model", f.model},
      {"out", r.out_dir.string()},
      {"scheme", f.dtype == "bf16" ? "bf16" : "int8-dynamic"},
      {"reduce_range", f.dtype == "int8" && !f.full_range_weights},
      {"tensors_quantized", r.tensors_quantized},
      {"tensors_kept", r.tensors_kept},
      {"tensors_smoothed", r.tensors_smoothed},
      {"calibration", r.tensors_smoothed == 0 && r.sensitivity.empty() ? "none"
                      : f.calibration.empty()                          ? "random-ids"
                                                                       : f.calibration},
      {"bytes_in", r.bytes_in},
      {"bytes_out", r.bytes_out},
      {"max_abs_weight_error", r.max_abs_error},
      {"files_copied", r.files_copied},
      {"fp32_linears", r.fp32_linears},
      {"seconds", s},
  };
  if (!r.sensitivity.empty()) {
    // auto:N: every Linear's score (mean 1 - cosine with it alone in int8), worst first.
    nlohmann::json scores = nlohmann::json::array();
    for (const auto& [name, score] : r.sensitivity)
      scores.push_back({{"linear", name}, {"score", score}});
    out["sensitivity"] = scores;
  }
  std::cout << out.dump(2) << "\n";
  return 0;
}

}  // namespace

Runner add_quantize(CLI::App& app) {
  auto f = std::make_shared<QuantizeFlags>();
  app.add_option("-m,--model", f->model, "Model directory or cache name (float weights)")
      ->capture_default_str();
  app.add_option("-o,--out", f->out,
                 "Output directory for the new model (written complete or not at all; must not "
                 "exist unless --force)")
      ->required();
  app.add_option("--dtype", f->dtype,
                 "int8 (dynamic quantization) or bf16 (the encoder layers' Linear weights)")
      ->capture_default_str()
      ->check(CLI::IsMember({"int8", "bf16"}));
  app.add_flag("--force", f->force,
               "Replace an existing --out directory, once the new model is complete");
  auto* rr = app.add_flag("--reduce-range", f->reduce_range,
                          "int8: 7-bit weights and 8-bit activations (the default)");
  app.add_flag("--full-range-weights", f->full_range_weights,
               "int8: 8-bit weights and 7-bit activations instead (less exact on the models "
               "measured, docs/quantization.md)")
      ->excludes(rr);
  auto* ns = app.add_flag("--no-smooth", f->no_smooth,
                          "int8: no per-input-channel smoothing (docs/quantization.md)");
  app.add_option("--smooth-alpha", f->smooth_alpha,
                 "int8: smoothing exponent in [0, 1]: s_j = max|x_j|^a / max|w_:,j|^(1-a)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0))
      ->excludes(ns);
  app.add_option("--calibration", f->calibration,
                 "int8: texts (one per line, or JSON lines) whose activations set the smoothing "
                 "and rank --keep-fp32 auto:N; default: random token ids")
      ->check(CLI::ExistingFile);
  app.add_option("--keep-fp32", f->keep_fp32,
                 "int8: encoder Linears to keep in fp32, comma-separated: a kind (qkv, "
                 "attn_out, ffn_in, ffn_out) in every layer, layer.N, layer.N.KIND, or auto:N "
                 "(the N most sensitive on the calibration inputs; docs/quantization.md)")
      ->type_name("SPEC");
  app.add_option("--max-texts", f->max_texts, "Calibration texts used at most (seeded sample)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--seed", f->seed, "Seed of the calibration sample or the random ids")
      ->capture_default_str();
  app.add_option("--threads", f->threads, "Compute threads of the calibration pass (0: all)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  return [f] { return run_quantize(*f); };
}

}  // namespace ember::cli
