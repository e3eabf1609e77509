// What a route sees of HTTP: a parsed request, a response value, and a one-shot reply that
// may be called from any thread (the session posts it back onto its own I/O thread).
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "serve/memory_budget.h"

namespace ember::serve {

using Clock = std::chrono::steady_clock;

// Per-request stage times in milliseconds, sent as x-*-time headers (TEI's names).
struct Timings {
  double tokenization_ms = 0;
  double queue_ms = 0;
  double inference_ms = 0;
  int64_t tokens = 0;
};

struct Request {
  std::string method;  // "GET", "POST", ...
  std::string path;    // target without the query string
  std::string body;
  std::string authorization;
  std::string inference_header_content_length;  // KServe binary tensor data; "": absent
  std::string query;                            // the target's query string, without '?'
  std::string model_header;  // X-Ember-Model: the model a TEI request names; "": none
  // Set by the route to the model that answers, read when the answer is counted (metrics).
  std::shared_ptr<std::string> model_label;
  Clock::time_point received;
  // Set (by the connection) once the client has closed or reset the connection: the batcher
  // drops a request whose client is gone before it costs compute. Null: never set.
  std::shared_ptr<const std::atomic<bool>> client_gone;
  // The client's own deadline (gRPC): a request still queued then is dropped, not computed.
  Clock::time_point client_deadline = Clock::time_point::max();
  // Runs fn on this request's connection's I/O thread: completions from the
  // batcher thread use it so that response formatting never runs on the scheduler.
  std::function<void(std::function<void()>)> post;
  // The request's share of the memory budget, held until its answer is written; routes
  // resize it to what they are about to need (request_cost.h). Null: not accounted.
  MemoryBudget::Hold memory;
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  Timings timings;
  std::string cache;  // x-cache: "hit", "miss" or "partial"; empty: no header
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers (KServe binary)
};

using Reply = std::function<void(Response)>;
using Handler = std::function<void(const Request&, Reply)>;

inline double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

}  // namespace ember::serve
