// ember quantize: an int8 or bf16 model directory from a float one (runtime/quantize_model.h).
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>

#include "cli/commands.h"
#include "cli/signals.h"
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
};

int run_quantize(const QuantizeFlags& f) {
  leave_nothing_behind_on_signals();
  runtime::QuantizeOptions o;
  o.dtype = f.dtype;
  if (f.reduce_range) o.reduce_range = true;
  if (f.full_range_weights) o.reduce_range = false;
  o.force = f.force;
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
      {"bytes_in", r.bytes_in},
      {"bytes_out", r.bytes_out},
      {"max_abs_weight_error", r.max_abs_error},
      {"files_copied", r.files_copied},
      {"seconds", s},
  };
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
  return [f] { return run_quantize(*f); };
}

}  // namespace ember::cli
