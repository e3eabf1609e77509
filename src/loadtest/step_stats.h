// One load step's outcome (a user count or an offered rate) and the reports built from the
// steps: CSV (one row per step), JSON, and a Markdown table for the terminal.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "loadtest/http_client.h"

namespace ember::loadtest {

struct StepStats {
  std::string mode;  // "closed" (level = users) or "open" (level = offered req/s)
  double level = 0;
  double seconds = 0;    // measured window
  int64_t requests = 0;  // answered or failed within the window
  int64_t inputs = 0;    // inputs of the 2xx answers
  int64_t ok = 0, status_4xx = 0, status_429 = 0, status_5xx = 0, transport = 0;
  int64_t cache_hits = 0;
  double rps = 0, inputs_per_s = 0;           // 2xx answers per second
  double p50 = 0, p95 = 0, p99 = 0, max = 0;  // latency of 2xx answers, ms
};

// Collects results of one step; latencies of successful answers only.
class StepRecorder {
 public:
  void add(const HttpResult& r, int inputs_per_request);
  StepStats finish(std::string mode, double level, double seconds);

 private:
  StepStats s_;
  std::vector<double> latencies_;
};

// Linear-interpolated percentile (q in [0, 1]) of unsorted values; 0 for none.
double percentile(std::vector<double> values, double q);

std::string steps_to_csv(const std::vector<StepStats>& steps);
std::string steps_to_markdown(const std::vector<StepStats>& steps);

}  // namespace ember::loadtest
