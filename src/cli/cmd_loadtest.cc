// ember loadtest URL: closed-loop user sweeps, open-loop rates and single-request latency
// against a running server (src/loadtest). A Markdown table on stdout; --csv/--json/--svg
// write files. Progress is one updating line on stderr when stderr is a terminal.
#include <unistd.h>

#include <cstdio>
#include <iostream>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "core/error.h"
#include "loadtest/driver.h"
#include "loadtest/svg_chart.h"
#include "runtime/bench_report.h"

namespace ember::cli {
namespace {

struct LoadtestFlags {
  std::string url;
  std::string users, rates, single;
  double duration = 10, warmup = 2;
  std::string texts, route = "/embed", body, api_key;
  int batch = 1;
  double repeat = 0;
  int reps = 200, single_warmup = 20;
  int64_t timeout_ms = 30000;
  int max_connections = 1024;
  bool fixed_arrivals = false;
  uint64_t seed = 1;
  std::string csv, json, svg, svg_rate;
};

std::vector<double> parse_list(const std::string& text, const char* flag) {
  std::vector<double> out;
  size_t at = 0;
  while (at <= text.size()) {
    const auto comma = text.find(',', at);
    const std::string item = text.substr(at, comma == std::string::npos ? comma : comma - at);
    char* end = nullptr;
    const double v = std::strtod(item.c_str(), &end);
    EMBER_CHECK(!item.empty() && end && *end == '\0' && v > 0, ErrorKind::kInvalidInput, flag,
                ": '", item, "' is not a positive number (expected e.g. 1,2,4)");
    out.push_back(v);
    if (comma == std::string::npos) break;
    at = comma + 1;
  }
  return out;
}

nlohmann::json step_json(const loadtest::StepStats& s) {
  return {{"mode", s.mode},
          {"level", s.level},
          {"seconds", s.seconds},
          {"requests", s.requests},
          {"ok", s.ok},
          {"errors_4xx", s.status_4xx},
          {"errors_429", s.status_429},
          {"errors_5xx", s.status_5xx},
          {"errors_transport", s.transport},
          {"cache_hits", s.cache_hits},
          {"throughput_rps", s.rps},
          {"throughput_inputs_per_s", s.inputs_per_s},
          {"p50_ms", s.p50},
          {"p95_ms", s.p95},
          {"p99_ms", s.p99},
          {"max_ms", s.max}};
}

// Latency p50/p95/p99 (left) and throughput (right) against the steps of one mode.
std::string chart(const std::vector<loadtest::StepStats>& steps, const std::string& mode,
                  const std::string& title, const std::string& x_label) {
  loadtest::ChartSpec c;
  c.title = title;
  c.x_label = x_label;
  c.left_label = "latency (ms)";
  c.right_label = "throughput (requests/s)";
  loadtest::Series p50{"p50", "#1f77b4", {}}, p95{"p95", "#ff7f0e", {}}, p99{"p99", "#d62728", {}},
      rps{"req/s", "#2ca02c", {}, true, true};
  for (const auto& s : steps) {
    if (s.mode != mode) continue;
    c.x.push_back(s.level);
    p50.y.push_back(s.p50);
    p95.y.push_back(s.p95);
    p99.y.push_back(s.p99);
    rps.y.push_back(s.rps);
  }
  c.series = {p50, p95, p99, rps};
  return loadtest::render_svg(c);
}

int run_loadtest(const LoadtestFlags& f) {
  loadtest::DriverOptions o;
  o.url = loadtest::parse_url(f.url);
  o.api_key = f.api_key;
  EMBER_CHECK(f.timeout_ms > 0, ErrorKind::kInvalidInput, "--timeout-ms must be positive");
  EMBER_CHECK(f.duration > 0 && f.warmup >= 0, ErrorKind::kInvalidInput,
              "--duration must be positive and --warmup not negative");
  EMBER_CHECK(!f.route.empty() && f.route.front() == '/', ErrorKind::kInvalidInput, "--route '",
              f.route, "' must start with '/'");
  o.timeout = std::chrono::milliseconds(f.timeout_ms);
  o.max_connections = f.max_connections;
  o.poisson = !f.fixed_arrivals;
  o.seed = f.seed;
  const bool none = f.users.empty() && f.rates.empty() && f.single.empty();
  const auto users = parse_list(none              ? "1,2,4,8,16,32,64"
                                : f.users.empty() ? "1"
                                                  : f.users,
                                "--users");
  const auto rates = f.rates.empty() ? std::vector<double>{} : parse_list(f.rates, "--rates");
  const auto singles = f.single.empty() ? std::vector<double>{} : parse_list(f.single, "--single");
  const bool run_users = none || !f.users.empty();

  // Reachable at all? A typed error now beats a sweep of transport errors.
  loadtest::RequestSpec health;
  health.method = "GET";
  health.target = o.url.prefix + "/health";
  const auto h = loadtest::fetch_once(o.url, health, o.timeout);
  EMBER_CHECK(h.status != 0, ErrorKind::kUnavailable, "cannot reach ", f.url, ": ", h.error);

  const auto texts = loadtest::load_texts(f.texts);
  loadtest::WorkloadOptions wo;
  wo.route = f.route;
  wo.batch = f.batch;
  wo.repeat = f.repeat;
  wo.body_template = f.body;
  wo.seed = f.seed;
  loadtest::Workload workload(texts, wo);
  loadtest::Driver driver(o, workload);

  const bool tty = ::isatty(STDERR_FILENO) != 0;
  std::string label;
  auto progress = [&](double s, int64_t n) {
    std::fprintf(stderr, "\r\033[K%s  %.0f s  %lld answers", label.c_str(), s,
                 static_cast<long long>(n));
    std::fflush(stderr);
  };
  const loadtest::Progress p = tty ? loadtest::Progress(progress) : loadtest::Progress();
  std::vector<loadtest::StepStats> steps;
  if (run_users)
    for (const double u : users) {
      label = "users " + std::to_string(static_cast<int>(u));
      steps.push_back(driver.closed(static_cast<int>(u), f.warmup, f.duration, p));
    }
  for (const double r : rates) {
    label = "rate " + std::to_string(r) + "/s";
    steps.push_back(driver.open(r, f.warmup, f.duration, p));
  }
  std::vector<loadtest::SingleStats> single;
  for (const double t : singles) {
    if (tty) std::fprintf(stderr, "\r\033[Ksingle %d tokens x %d reps", int(t), f.reps);
    single.push_back(loadtest::run_single(o, texts, static_cast<int>(t), f.single_warmup, f.reps));
  }
  if (tty) std::fprintf(stderr, "\r\033[K");

  if (!steps.empty()) std::cout << loadtest::steps_to_markdown(steps);
  if (!single.empty())
    std::cout << (steps.empty() ? "" : "\n") << loadtest::single_to_markdown(single);
  if (!f.csv.empty()) runtime::write_text_file(f.csv, loadtest::steps_to_csv(steps));
  if (!f.svg.empty())
    runtime::write_text_file(
        f.svg, chart(steps, "closed", "ember loadtest: closed loop, " + f.route, "users"));
  if (!f.svg_rate.empty())
    runtime::write_text_file(
        f.svg_rate,
        chart(steps, "open", "ember loadtest: open loop, " + f.route, "offered requests/s"));
  if (!f.json.empty()) {
    nlohmann::json j = {{"url", f.url},
                        {"route", f.route},
                        {"batch", f.batch},
                        {"repeat", f.repeat},
                        {"duration_s", f.duration},
                        {"warmup_s", f.warmup},
                        {"steps", nlohmann::json::array()},
                        {"single", nlohmann::json::array()}};
    for (const auto& s : steps) j["steps"].push_back(step_json(s));
    for (const auto& s : single)
      j["single"].push_back({{"tokens", s.tokens},
                             {"reps", s.reps},
                             {"errors", s.errors},
                             {"cache_hits", s.cache_hits},
                             {"e2e_p50_ms", s.e2e_p50},
                             {"e2e_p95_ms", s.e2e_p95},
                             {"server_total_p50_ms", s.server_total_p50},
                             {"inference_p50_ms", s.inference_p50},
                             {"inference_p95_ms", s.inference_p95},
                             {"overhead_p50_ms", s.overhead_p50},
                             {"server_other_p50_ms", s.server_other_p50},
                             {"outside_server_p50_ms", s.outside_server_p50}});
    runtime::write_text_file(f.json, j.dump(2) + "\n");
  }
  return 0;
}

}  // namespace

Runner add_loadtest(CLI::App& app) {
  auto f = std::make_shared<LoadtestFlags>();
  app.add_option("url", f->url, "Server base URL, e.g. http://127.0.0.1:8080")->required();
  app.add_option("--users", f->users,
                 "Closed loop: concurrent users per step, comma-separated (default 1,2,4,...,64 "
                 "when no mode is given)");
  app.add_option("--rates", f->rates, "Open loop: offered requests/s per step, comma-separated");
  app.add_option("--single", f->single,
                 "Single-request latency at batch 1 for inputs of exactly these token counts");
  app.add_option("--duration", f->duration, "Measured seconds per step")->capture_default_str();
  app.add_option("--warmup", f->warmup, "Unmeasured seconds before each step")
      ->capture_default_str();
  app.add_option("--texts", f->texts,
                 "Text file, one text per line (default bench/serve/texts.txt)");
  app.add_option("--route", f->route, "Route to load: /embed, /v1/embeddings, or any with --body")
      ->capture_default_str();
  app.add_option("--body", f->body, "Body template; {{inputs}} becomes a JSON list of texts");
  app.add_option("--batch", f->batch, "Inputs per request")->capture_default_str();
  app.add_option("--repeat", f->repeat,
                 "Share of inputs repeated from the last 512 (exercises a result cache)")
      ->capture_default_str();
  app.add_option("--api-key", f->api_key, "Sent as Authorization: Bearer KEY");
  app.add_option("--reps", f->reps, "--single: timed requests per length")->capture_default_str();
  app.add_option("--single-warmup", f->single_warmup, "--single: untimed requests per length")
      ->capture_default_str();
  app.add_option("--timeout-ms", f->timeout_ms, "Per-request timeout")->capture_default_str();
  app.add_option("--max-connections", f->max_connections,
                 "Open loop: connections at most (later requests wait, and that counts)")
      ->capture_default_str();
  app.add_flag("--fixed-arrivals", f->fixed_arrivals, "Open loop: fixed gaps instead of Poisson");
  app.add_option("--seed", f->seed, "Seed of text choice and arrivals")->capture_default_str();
  app.add_option("--csv", f->csv, "Write one CSV row per step");
  app.add_option("--json", f->json, "Write all results as JSON");
  app.add_option("--svg", f->svg, "Write the chart against users (closed loop)");
  app.add_option("--svg-rate", f->svg_rate, "Write the chart against offered rate (open loop)");
  return [f] { return run_loadtest(*f); };
}

}  // namespace ember::cli
