// `ember serve` as a function: load the model, start the batcher and the HTTP server, print
// one JSON "listening" line on stdout, serve until SIGTERM / SIGINT / SIGHUP, drain, print a
// JSON "stopped" line, return 0; or kExitDrainCut when the drain was cut short (a second
// signal, or --drain-timeout) and some requests were answered 503 instead.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ember/ember.h"

namespace ember::serve {

inline constexpr int kExitDrainCut = 6;

struct ServeOptions {
  // --model NAME_OR_PATH or ALIAS=PATH, repeatable: the first is the default model (loaded at
  // start); none and no --model-repository: all-MiniLM-L6-v2.
  std::vector<std::string> models;
  std::string model_repository;   // each subdirectory a model, named by its directory
  bool preload = false;           // load every model at start (default: the first only)
  std::vector<std::string> pins;  // never unloaded for another model
  int64_t memory_budget = 0;      // bytes the loaded models may hold together; 0: see docs/serve.md
  int64_t model_load_wait_ms = 2000;  // a request's wait for its model's load before 503
  bool allow_model_control = false;   // POST /v2/repository/models/{m}/load, /unload
  int compute_slots = 2;              // batches (of different models) computing at once
  std::string host = "127.0.0.1";
  int port = 8080;
  int grpc_port = 8001;  // KServe v2 gRPC (Triton's default port); 0: off
  // Backend, compute threads and their tuning (--threads, --spin-us, ...). Truncation and
  // normalization are per request in the server, not load options.
  ember::LoadOptions load;
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
  // TEI's --default-prompt-name / --default-prompt: the prompt of requests that name none
  // (unset: the model's default_prompt_name, if any).
  std::optional<std::string> default_prompt_name;
  std::optional<std::string> default_prompt;
  double drain_timeout_s = 25;  // the drain's bound; 0: wait for every request
  // HTTP connections at once; 0: from the descriptor limit, and at most what 1/16 of the memory
  // budget holds at kConnectionBytes each.
  int64_t max_connections = 0;
  bool cache_header = false;  // x-cache on answers (tells whether others sent the same text)
  int64_t request_timeout_ms = 30000;  // queue deadline before compute; 0: none
  int64_t cache_entries = 10000;       // result cache bound in entries; 0 disables it
  int64_t cache_bytes = 256 << 20;     // and in bytes
  // A request that finds the batcher idle runs on its I/O thread (no scheduler hand-off).
  bool inline_idle_batch = true;

  // Memory (docs/security.md): the whole process's budget, 0: half of what the machine (or
  // the cgroup) has available at start. What the model, the compute workspace, the cache and
  // the connections leave of it is what requests in flight may hold together.
  int64_t max_memory = 0;
  int64_t max_tokenize_bytes = 256 << 10;  // text per /tokenize request
  int64_t max_response_bytes = 64 << 20;   // /embed_all's JSON answer
  // Requests with bodies this large (and /embed_all) run on the large-request threads.
  int64_t large_request_bytes = 16 << 10;
  int large_request_threads = 1;
  int grpc_max_threads = 64;  // gRPC handler threads (RESOURCE_EXHAUSTED beyond)
  int malloc_arena_max = 2;   // glibc malloc arenas; 0: glibc's default (8 per core)
  int64_t malloc_mmap_threshold = 256 << 10;  // blocks this large are returned on free
  int64_t malloc_trim_interval_ms = 1000;     // trim after large requests, at most this often
};

int run_server(const ServeOptions& options);

}  // namespace ember::serve
