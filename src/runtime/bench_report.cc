#include "runtime/bench_report.h"

#include <cstdio>
#include <fstream>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace ember::runtime {
namespace {

std::string fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f", digits, v);
  return buf;
}

// Three significant-ish digits for ms, whole numbers for rates.
std::string ms(double v) {
  return fixed(v, v < 10 ? 3 : v < 100 ? 2 : 1);
}

}  // namespace

std::string bench_to_json(const BenchReport& r) {
  nlohmann::json models = nlohmann::json::array();
  for (const auto& m : r.models)
    models.push_back({{"name", m.name},
                      {"dir", m.dir},
                      {"model_type", m.model_type},
                      {"parameters", m.parameters},
                      {"max_length", m.max_length},
                      {"output", m.output},
                      {"load_ms", m.load_ms}});
  nlohmann::json results = nlohmann::json::array();
  for (const auto& x : r.results)
    results.push_back({{"model", r.models[x.model].name},
                       {"batch", x.cell.batch},
                       {"length", x.cell.length},
                       {"reps", x.reps},
                       {"p50_ms", x.p50_ms},
                       {"p95_ms", x.p95_ms},
                       {"p99_ms", x.p99_ms},
                       {"mean_ms", x.mean_ms},
                       {"min_ms", x.min_ms},
                       {"max_ms", x.max_ms},
                       {"tokens_per_s", x.tokens_per_s},
                       {"sequences_per_s", x.sequences_per_s}});
  const nlohmann::json j = {
      {"machine", {{"cpu", r.cpu}, {"isa", r.isa}, {"threads", r.threads}}},
      {"settings",
       {{"warmup", r.warmup}, {"reps", r.reps}, {"min_time_s", r.min_time_s}, {"seed", r.seed}}},
      {"peak_rss_mb", static_cast<double>(r.peak_rss_kb) / 1024.0},
      {"models", models},
      {"results", results},
  };
  return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

std::string bench_to_csv(const BenchReport& r) {
  std::string out =
      "model,batch,length,reps,p50_ms,p95_ms,p99_ms,mean_ms,min_ms,max_ms,tokens_per_s,"
      "sequences_per_s\n";
  for (const auto& x : r.results) {
    // Model names are paths or cache names; quote them in case of commas.
    std::string name = r.models[x.model].name, quoted = "\"";
    for (char ch : name) quoted += ch == '"' ? std::string("\"\"") : std::string(1, ch);
    quoted += '"';
    out += cat(quoted, ',', x.cell.batch, ',', x.cell.length, ',', x.reps, ',', fixed(x.p50_ms, 6),
               ',', fixed(x.p95_ms, 6), ',', fixed(x.p99_ms, 6), ',', fixed(x.mean_ms, 6), ',',
               fixed(x.min_ms, 6), ',', fixed(x.max_ms, 6), ',', fixed(x.tokens_per_s, 3), ',',
               fixed(x.sequences_per_s, 4), '\n');
  }
  return out;
}

std::string bench_to_markdown(const BenchReport& r) {
  std::string out = cat("CPU: ", r.cpu, "; ISA: ", r.isa, "; threads: ", r.threads, "; warmup ",
                        r.warmup, ", reps >= ", r.reps);
  if (r.min_time_s > 0) out += cat(", >= ", r.min_time_s, " s per cell");
  out += cat("; peak RSS ", fixed(static_cast<double>(r.peak_rss_kb) / 1024.0, 0), " MB\n\n");
  out += "| batch x length |";
  std::string rule = "|---|";
  for (const auto& m : r.models) {
    out += cat(" ", m.name, " p50 ms | p95 ms | p99 ms | tokens/s |");
    rule += "---:|---:|---:|---:|";
  }
  out += "\n" + rule + "\n";
  const size_t nm = r.models.size();
  for (size_t i = 0; i + nm <= r.results.size(); i += nm) {
    const auto& c = r.results[i].cell;
    out += cat("| ", c.batch, "x", c.length, " |");
    for (size_t m = 0; m < nm; ++m) {
      const auto& x = r.results[i + m];
      out += cat(" ", ms(x.p50_ms), " | ", ms(x.p95_ms), " | ", ms(x.p99_ms), " | ",
                 fixed(x.tokens_per_s, 0), " |");
    }
    out += "\n";
  }
  return out;
}

void write_text_file(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary);
  EMBER_CHECK(f.good(), ErrorKind::kInvalidInput, "cannot write '", path, "'");
  f << text;
  f.flush();
  EMBER_CHECK(f.good(), ErrorKind::kInvalidInput, "error writing '", path, "'");
}

}  // namespace ember::runtime
