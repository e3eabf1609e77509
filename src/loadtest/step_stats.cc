#include "loadtest/step_stats.h"

#include <algorithm>
#include <cstdio>

namespace ember::loadtest {

void StepRecorder::add(const HttpResult& r, int inputs_per_request) {
  ++s_.requests;
  if (r.status == 0) {
    ++s_.transport;
  } else if (r.status == 429) {
    ++s_.status_429;
  } else if (r.status >= 500) {
    ++s_.status_5xx;
  } else if (r.status >= 400) {
    ++s_.status_4xx;
  } else {
    ++s_.ok;
    s_.inputs += inputs_per_request;
    if (r.cache_hit) ++s_.cache_hits;
    latencies_.push_back(r.latency_ms);
  }
}

double percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const double pos = q * static_cast<double>(v.size() - 1);
  const auto lo = static_cast<size_t>(pos);
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (pos - static_cast<double>(lo));
}

StepStats StepRecorder::finish(std::string mode, double level, double seconds) {
  StepStats s = s_;
  s.mode = std::move(mode);
  s.level = level;
  s.seconds = seconds;
  s.rps = seconds > 0 ? static_cast<double>(s.ok) / seconds : 0;
  s.inputs_per_s = seconds > 0 ? static_cast<double>(s.inputs) / seconds : 0;
  s.p50 = percentile(latencies_, 0.50);
  s.p95 = percentile(latencies_, 0.95);
  s.p99 = percentile(latencies_, 0.99);
  s.max = latencies_.empty() ? 0 : *std::max_element(latencies_.begin(), latencies_.end());
  return s;
}

std::string steps_to_csv(const std::vector<StepStats>& steps) {
  std::string out =
      "mode,level,seconds,requests,ok,errors_4xx,errors_429,errors_5xx,errors_transport,"
      "cache_hits,throughput_rps,throughput_inputs_per_s,p50_ms,p95_ms,p99_ms,max_ms\n";
  char line[512];
  for (const auto& s : steps) {
    std::snprintf(line, sizeof(line),
                  "%s,%g,%.3f,%lld,%lld,%lld,%lld,%lld,%lld,%lld,%.2f,%.2f,%.3f,%.3f,%.3f,%.3f\n",
                  s.mode.c_str(), s.level, s.seconds, static_cast<long long>(s.requests),
                  static_cast<long long>(s.ok), static_cast<long long>(s.status_4xx),
                  static_cast<long long>(s.status_429), static_cast<long long>(s.status_5xx),
                  static_cast<long long>(s.transport), static_cast<long long>(s.cache_hits), s.rps,
                  s.inputs_per_s, s.p50, s.p95, s.p99, s.max);
    out += line;
  }
  return out;
}

std::string steps_to_markdown(const std::vector<StepStats>& steps) {
  std::string out =
      "| mode | level | req/s | inputs/s | p50 ms | p95 ms | p99 ms | max ms | ok | 429 | 4xx | "
      "5xx | net |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|\n";
  char line[512];
  for (const auto& s : steps) {
    std::snprintf(line, sizeof(line),
                  "| %s | %g | %.1f | %.1f | %.2f | %.2f | %.2f | %.2f | %lld | %lld | %lld | %lld "
                  "| %lld |\n",
                  s.mode.c_str(), s.level, s.rps, s.inputs_per_s, s.p50, s.p95, s.p99, s.max,
                  static_cast<long long>(s.ok), static_cast<long long>(s.status_429),
                  static_cast<long long>(s.status_4xx), static_cast<long long>(s.status_5xx),
                  static_cast<long long>(s.transport));
    out += line;
  }
  return out;
}

}  // namespace ember::loadtest
