// ember bench: latency of models over a grid of batch x sequence length (runtime/bench_*).
// Prints a Markdown table on stdout; --json/--csv/--markdown write files. Progress is one
// updating line on stderr when stderr is a terminal, nothing otherwise.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>

#include "cli/bench_stdin.h"
#include "cli/commands.h"
#include "core/error.h"
#include "runtime/bench_report.h"
#include "runtime/bench_runner.h"

namespace ember::cli {
namespace {

struct BenchFlags {
  std::vector<std::string> models{"all-MiniLM-L6-v2"};
  std::string batches = "1,2,4,8";
  std::string lengths = "8,16,32,64,128,256,512";
  std::string grid;
  runtime::EngineOptions engine;  // compute flags
  int warmup = 3;
  int reps = 20;
  double min_time = 0;
  bool position_limit = false;
  bool serve_stdin = false;
  uint64_t seed = 42;
  std::string json, csv, markdown;
  CLI::Option* reps_opt = nullptr;
  CLI::Option* lists_opt[2] = {nullptr, nullptr};
};

// --serve-stdin: load one model, then time what the requests on stdin ask (bench_stdin.h).
int run_bench_serve(const BenchFlags& f) {
  EMBER_CHECK(f.models.size() == 1, ErrorKind::kInvalidInput,
              "--serve-stdin takes exactly one --model");
  const runtime::EngineOptions& eo = f.engine;
  const auto t0 = std::chrono::steady_clock::now();
  const auto engine = runtime::Engine::load(f.models[0], eo);
  const double load_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  return serve_bench_requests(*engine, std::cin, std::cout, load_ms);
}

int run_bench_cmd(const BenchFlags& f) {
  if (f.serve_stdin) return run_bench_serve(f);
  const bool lists_given = f.lists_opt[0]->count() > 0 || f.lists_opt[1]->count() > 0;
  EMBER_CHECK(f.grid.empty() || !lists_given, ErrorKind::kInvalidInput,
              "--grid cannot be combined with --batches/--lengths");
  runtime::BenchOptions o;
  o.models = f.models;
  o.cells = f.grid.empty()
                ? runtime::cross_grid(runtime::parse_positive_list(f.batches, "--batches"),
                                      runtime::parse_positive_list(f.lengths, "--lengths"))
                : runtime::parse_bench_grid(f.grid);
  o.engine = f.engine;
  o.warmup = f.warmup;
  // With --min-time alone, time decides; a few reps still give every percentile some data.
  o.reps = f.min_time > 0 && f.reps_opt->count() == 0 ? 5 : f.reps;
  o.min_time_s = f.min_time;
  o.position_limit = f.position_limit;
  o.seed = f.seed;

  const bool tty = ::isatty(STDERR_FILENO) != 0;
  const auto start = std::chrono::steady_clock::now();
  auto progress = [&](size_t done, size_t total, const runtime::BenchCell& cell) {
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (done == total) {
      std::fprintf(stderr, "\r\033[K%zu cells x %zu models in %.1f s\n", total, o.models.size(), s);
      return;
    }
    std::fprintf(stderr, "\r\033[K[%zu/%zu] %lldx%lld  %.1f s", done + 1, total,
                 static_cast<long long>(cell.batch), static_cast<long long>(cell.length), s);
    std::fflush(stderr);
  };
  const runtime::BenchReport report = tty ? runtime::run_bench(o, progress) : runtime::run_bench(o);

  if (!f.json.empty()) runtime::write_text_file(f.json, runtime::bench_to_json(report));
  if (!f.csv.empty()) runtime::write_text_file(f.csv, runtime::bench_to_csv(report));
  const std::string md = runtime::bench_to_markdown(report);
  if (!f.markdown.empty()) runtime::write_text_file(f.markdown, md);
  std::cout << md;
  return 0;
}

}  // namespace

Runner add_bench(CLI::App& app) {
  auto f = std::make_shared<BenchFlags>();
  app.add_option("-m,--model", f->models,
                 "Model directory or cache name; repeat to measure several, interleaved")
      ->capture_default_str();
  f->lists_opt[0] = app.add_option("--batches", f->batches, "Batch sizes, comma-separated")
                        ->capture_default_str();
  f->lists_opt[1] =
      app.add_option("--lengths", f->lengths, "Tokens per sequence (special tokens included)")
          ->capture_default_str();
  app.add_option("--grid", f->grid, "Explicit cells BATCHxLENGTH, e.g. 1x16,8x128");
  add_compute_flags(app, f->engine);
  app.add_option("--warmup", f->warmup, "Untimed runs per model and cell")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  f->reps_opt = app.add_option("--reps", f->reps, "Timed runs per model and cell (at least)")
                    ->check(CLI::PositiveNumber)
                    ->capture_default_str();
  app.add_option("--min-time", f->min_time, "Seconds per model and cell (at least)")
      ->check(CLI::NonNegativeNumber);
  app.add_flag("--position-limit", f->position_limit,
               "Allow lengths up to the position embeddings, beyond the model's max_length");
  app.add_flag("--serve-stdin", f->serve_stdin,
               "Load one model, then time requests read from stdin (for bench/compare/)");
  app.add_option("--seed", f->seed, "Seed of the synthetic token ids")->capture_default_str();
  app.add_option("--json", f->json, "Write all results as JSON");
  app.add_option("--csv", f->csv, "Write one CSV row per model and cell");
  app.add_option("--markdown", f->markdown, "Write the Markdown table");
  return [f] { return run_bench_cmd(*f); };
}

}  // namespace ember::cli
