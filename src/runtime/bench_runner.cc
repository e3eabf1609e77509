#include "runtime/bench_runner.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <fstream>
#include <memory>
#include <random>

#include "core/cpu_features.h"
#include "core/error.h"
#include "core/parallel.h"

namespace ember::runtime {
namespace {

using Clock = std::chrono::steady_clock;

int64_t parse_positive(std::string_view s, std::string_view what) {
  int64_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  EMBER_CHECK(ec == std::errc() && end == s.data() + s.size() && v > 0, ErrorKind::kInvalidInput,
              what, ": '", s, "' is not a positive integer");
  return v;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  size_t begin = 0;
  while (true) {
    const size_t end = s.find(sep, begin);
    parts.push_back(s.substr(begin, end == std::string_view::npos ? end : end - begin));
    if (end == std::string_view::npos) return parts;
    begin = end + 1;
  }
}

std::string cell_name(const BenchCell& c) {
  return cat(c.batch, "x", c.length);
}

// The special tokens the tokenizer puts before and after one sequence's text.
struct Framing {
  std::vector<int32_t> prefix, suffix;
};

Framing framing(const Engine& engine) {
  Framing f;
  if (!engine.has_tokenizer()) return f;
  const tok::Encoding enc = engine.tokenizer().encode("hello");
  const auto& special = enc.special_tokens_mask;
  size_t first = 0;
  while (first < enc.ids.size() && first < special.size() && special[first]) ++first;
  size_t last = enc.ids.size();
  while (last > first && last <= special.size() && special[last - 1]) --last;
  f.prefix.assign(enc.ids.begin(), enc.ids.begin() + static_cast<ptrdiff_t>(first));
  f.suffix.assign(enc.ids.begin() + static_cast<ptrdiff_t>(last), enc.ids.end());
  return f;
}

unsigned outputs_for(const Engine& engine) {
  switch (engine.spec().head) {
    case model::HeadKind::kSequenceClassification:
      return kSeqLogits;
    case model::HeadKind::kTokenClassification:
      return kTokenLogits;
    case model::HeadKind::kMaskedLm:
      return engine.info().splade ? kSparse : kHidden;
    case model::HeadKind::kNone:
      break;
  }
  return kPooled;
}

const char* output_name(unsigned outputs) {
  if (outputs == kSeqLogits) return "seq_logits";
  if (outputs == kTokenLogits) return "token_logits";
  return "pooled";
}

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

BenchResult summarize(size_t model, const BenchCell& cell, std::vector<double> ms) {
  std::sort(ms.begin(), ms.end());
  BenchResult r;
  r.model = model;
  r.cell = cell;
  r.reps = static_cast<int>(ms.size());
  r.p50_ms = percentile_sorted(ms, 0.50);
  r.p95_ms = percentile_sorted(ms, 0.95);
  r.p99_ms = percentile_sorted(ms, 0.99);
  double sum = 0;
  for (double v : ms) sum += v;
  r.mean_ms = sum / static_cast<double>(ms.size());
  r.min_ms = ms.front();
  r.max_ms = ms.back();
  r.tokens_per_s = static_cast<double>(cell.batch * cell.length) / (r.p50_ms / 1000.0);
  r.sequences_per_s = static_cast<double>(cell.batch) / (r.p50_ms / 1000.0);
  return r;
}

}  // namespace

std::vector<int64_t> parse_positive_list(std::string_view list, std::string_view what) {
  std::vector<int64_t> values;
  for (std::string_view item : split(list, ',')) values.push_back(parse_positive(item, what));
  return values;
}

std::vector<BenchCell> parse_bench_grid(std::string_view grid) {
  std::vector<BenchCell> cells;
  for (std::string_view item : split(grid, ',')) {
    const size_t x = item.find('x');
    EMBER_CHECK(x != std::string_view::npos, ErrorKind::kInvalidInput, "--grid: cell '", item,
                "' is not BATCHxLENGTH (e.g. 8x128)");
    cells.push_back({parse_positive(item.substr(0, x), "--grid batch"),
                     parse_positive(item.substr(x + 1), "--grid length")});
  }
  return cells;
}

std::vector<BenchCell> cross_grid(const std::vector<int64_t>& batches,
                                  const std::vector<int64_t>& lengths) {
  std::vector<BenchCell> cells;
  for (int64_t b : batches)
    for (int64_t l : lengths) cells.push_back({b, l});
  return cells;
}

double percentile_sorted(const std::vector<double>& sorted, double p) {
  const double idx = p * static_cast<double>(sorted.size() - 1);
  const size_t lo = static_cast<size_t>(idx);
  const size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (idx - static_cast<double>(lo));
}

int64_t peak_rss_kb() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stoll(line.substr(6));
  return 0;
}

std::string cpu_model_name() {
  std::ifstream info("/proc/cpuinfo");
  std::string line;
  while (std::getline(info, line)) {
    if (line.rfind("model name", 0) != 0) continue;
    const size_t colon = line.find(':');
    if (colon != std::string::npos) return line.substr(line.find_first_not_of(' ', colon + 1));
  }
  return "unknown";
}

model::Batch synthetic_batch(const Engine& engine, const BenchCell& cell, uint64_t seed) {
  const Framing f = framing(engine);
  const int64_t specials = static_cast<int64_t>(f.prefix.size() + f.suffix.size());
  EMBER_CHECK(cell.length >= specials, ErrorKind::kInvalidInput, "cell ", cell_name(cell),
              ": length ", cell.length, " is shorter than the ", specials,
              " special tokens of model '", engine.info().name, "'");
  // Ids below 1000 are special and [unused] tokens in BERT vocabularies; real words are above.
  int64_t vocab = engine.spec().vocab_size();
  if (engine.has_tokenizer())
    vocab = std::min<int64_t>(vocab, static_cast<int64_t>(engine.tokenizer().vocab_size()));
  const int64_t lo = std::min<int64_t>(1000, vocab / 2);
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int32_t> id(static_cast<int32_t>(lo),
                                            static_cast<int32_t>(vocab - 1));
  model::Batch batch;
  std::vector<int32_t> ids;
  for (int64_t s = 0; s < cell.batch; ++s) {
    ids.assign(f.prefix.begin(), f.prefix.end());
    for (int64_t i = specials; i < cell.length; ++i) ids.push_back(id(rng));
    ids.insert(ids.end(), f.suffix.begin(), f.suffix.end());
    batch.add(ids);
  }
  return batch;
}

BenchReport run_bench(const BenchOptions& o, const BenchProgress& progress) {
  EMBER_CHECK(!o.models.empty(), ErrorKind::kInvalidInput, "no model to measure");
  EMBER_CHECK(!o.cells.empty(), ErrorKind::kInvalidInput, "no cell to measure");
  EMBER_CHECK(o.reps >= 1, ErrorKind::kInvalidInput, "--reps must be at least 1");
  EMBER_CHECK(o.warmup >= 0, ErrorKind::kInvalidInput, "--warmup must not be negative");
  EMBER_CHECK(o.min_time_s >= 0, ErrorKind::kInvalidInput, "--min-time must not be negative");

  BenchReport report;
  std::vector<std::unique_ptr<Engine>> engines;
  std::vector<unsigned> outputs;
  const EngineOptions& eo = o.engine;
  for (const std::string& name : o.models) {
    const auto t0 = Clock::now();
    engines.push_back(Engine::load(name, eo));
    const Engine& e = *engines.back();
    BenchModel m;
    m.load_ms = ms_since(t0);
    m.name = name;
    m.dir = e.info().dir;
    m.model_type = e.spec().model_type;
    m.parameters = e.info().parameters;
    m.max_length = o.position_limit ? e.spec().max_tokens() : e.info().max_length;
    outputs.push_back(outputs_for(e));
    m.output = output_name(outputs.back());
    report.models.push_back(m);
  }
  // Every cell is checked (and its inputs made) before anything is timed.
  std::vector<std::vector<model::Batch>> batches(o.cells.size());
  for (size_t c = 0; c < o.cells.size(); ++c) {
    for (size_t m = 0; m < engines.size(); ++m) {
      const BenchCell& cell = o.cells[c];
      EMBER_CHECK(cell.length <= report.models[m].max_length, ErrorKind::kInvalidInput, "cell ",
                  cell_name(cell), ": length ", cell.length, " exceeds model '", o.models[m],
                  "' max_length ", report.models[m].max_length,
                  o.position_limit ? " (its position embeddings)"
                                   : " (--position-limit measures up to its position embeddings)");
      batches[c].push_back(synthetic_batch(*engines[m], cell, o.seed + c));
    }
  }

  const size_t nm = engines.size();
  for (size_t c = 0; c < o.cells.size(); ++c) {
    if (progress) progress(c, o.cells.size(), o.cells[c]);
    for (int w = 0; w < o.warmup; ++w)
      for (size_t m = 0; m < nm; ++m) engines[m]->run(batches[c][m], outputs[m]);
    std::vector<std::vector<double>> ms(nm);
    std::vector<double> spent(nm, 0.0);
    for (int r = 0;; ++r) {
      const bool done =
          r >= o.reps && *std::min_element(spent.begin(), spent.end()) >= o.min_time_s * 1000.0;
      if (done) break;
      for (size_t k = 0; k < nm; ++k) {
        const size_t m = r % 2 ? nm - 1 - k : k;  // alternate the order: no model always first
        const auto t0 = Clock::now();
        engines[m]->run(batches[c][m], outputs[m]);
        const double t = ms_since(t0);
        ms[m].push_back(t);
        spent[m] += t;
      }
    }
    for (size_t m = 0; m < nm; ++m) report.results.push_back(summarize(m, o.cells[c], ms[m]));
  }
  if (progress && !o.cells.empty()) progress(o.cells.size(), o.cells.size(), o.cells.back());

  report.cpu = cpu_model_name();
  report.isa = std::string(isa_name(active_isa()));
  report.threads = engines.empty() ? 0 : engines.front()->info().threads;
  report.warmup = o.warmup;
  report.reps = o.reps;
  report.min_time_s = o.min_time_s;
  report.seed = o.seed;
  report.peak_rss_kb = peak_rss_kb();
  return report;
}

}  // namespace ember::runtime
