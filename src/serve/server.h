// `ember serve` as a function: load the model, start the batcher and the HTTP server, print
// one JSON "listening" line on stdout, serve until SIGTERM / SIGINT / SIGHUP, drain, print a
// JSON "stopped" line, return 0; or kExitDrainCut when the drain was cut short (a second
// signal, or --drain-timeout) and some requests were answered 503 instead.
#pragma once

#include <cstdint>
#include <string>

#include "runtime/engine.h"

namespace ember::serve {

inline constexpr int kExitDrainCut = 6;

struct ServeOptions {
  std::string model = "all-MiniLM-L6-v2";
  std::string host = "127.0.0.1";
  int port = 8080;
  int grpc_port = 8001;  // KServe v2 gRPC (Triton's default port); 0: off
  // Backend, compute threads and their tuning (--threads, --spin-us, ...). Truncation and
  // normalization are per request in the server, not engine options.
  runtime::EngineOptions engine;
  int http_threads = 2;
  int64_t max_batch_tokens = 16384;
  int64_t max_batch_requests = 64;
  int64_t max_queue = 256;
  int64_t max_payload_bytes = 2 << 20;
  int64_t max_inputs_per_request = 512;
  std::string api_key;
  // The model's name in answers (/info, /v1/models, responses, KServe); empty: the model
  // directory's name, or the cache name as given. Never a filesystem path.
  std::string served_model_name;
  double drain_timeout_s = 25;  // the drain's bound; 0: wait for every request
  int64_t max_connections = 0;  // HTTP connections at once; 0: from the descriptor limit
  bool cache_header = false;    // x-cache on answers (tells whether others sent the same text)
  int64_t request_timeout_ms = 0;
  int64_t cache_entries = 10000;    // result cache bound in entries; 0 disables it
  int64_t cache_bytes = 256 << 20;  // and in bytes
  // A request that finds the batcher idle runs on its I/O thread (no scheduler hand-off).
  bool inline_idle_batch = true;
};

int run_server(const ServeOptions& options);

}  // namespace ember::serve
