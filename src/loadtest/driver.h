// The load drivers. Closed loop: N users, each sends a request, waits for the answer, sends
// the next. Open loop: requests at scheduled times (Poisson or fixed gaps) whatever the server
// does, latency counted from the scheduled time (no coordinated omission), more connections
// opened as needed. Single: one request at a time with inputs of exactly N tokens.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "loadtest/http_client.h"
#include "loadtest/step_stats.h"
#include "loadtest/workload.h"

namespace ember::loadtest {

struct DriverOptions {
  Url url;
  std::string api_key;
  std::chrono::milliseconds timeout{30000};  // per request
  int max_connections = 1024;                // open loop: beyond this, requests wait (late)
  bool poisson = true;                       // open loop arrivals; false: fixed gaps
  uint64_t seed = 1;
};

// Called about once a second during a step with the step's running counts.
using Progress = std::function<void(double elapsed_s, int64_t answered)>;

class Driver {
 public:
  Driver(DriverOptions options, Workload& workload);
  StepStats closed(int users, double warmup_s, double duration_s, const Progress& progress = {});
  StepStats open(double rate, double warmup_s, double duration_s, const Progress& progress = {});

 private:
  std::shared_ptr<const RequestSpec> next_spec();
  DriverOptions options_;
  Workload& workload_;
  uint64_t step_ = 0;
};

struct SingleStats {
  int tokens = 0;
  int reps = 0;
  int64_t errors = 0, cache_hits = 0;
  double e2e_p50 = 0, e2e_p95 = 0;                 // client-side, ms
  double server_total_p50 = 0, inference_p50 = 0;  // Server-Timing, ms
  double inference_p95 = 0;
  double overhead_p50 = 0;  // median of (end-to-end - inference) per request
  // The overhead's two parts, medians per request: the server's own work outside inference
  // (Server-Timing total - inference) and what the server's clock does not see (end-to-end -
  // total: the client, loopback, the server's read before and write after its timing).
  double server_other_p50 = 0, outside_server_p50 = 0;
};

// Sequential POST /embed with token-id inputs of exactly `tokens` ids (special tokens
// included), each rep a different window of real text so a result cache cannot answer it.
// The ids come from the server's own /tokenize of the texts. kUnavailable / kInvalidInput if
// the server cannot be asked.
SingleStats run_single(const DriverOptions& options, const std::vector<std::string>& texts,
                       int tokens, int warmup, int reps);

std::string single_to_markdown(const std::vector<SingleStats>& rows);

}  // namespace ember::loadtest
