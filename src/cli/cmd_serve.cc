// ember serve: the HTTP server (TEI and OpenAI embeddings APIs) on one model.
#include "cli/commands.h"
#include "serve/server.h"

namespace ember::cli {

Runner add_serve(CLI::App& app) {
  auto o = std::make_shared<serve::ServeOptions>();
  app.add_option("-m,--model", o->model, "Model directory, or a name in the model cache")
      ->capture_default_str();
  app.add_option("--host", o->host, "Address to listen on")->capture_default_str();
  app.add_option("-p,--port", o->port, "TCP port (0: any free port, printed on start)")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  app.add_option("--grpc-port", o->grpc_port, "KServe v2 gRPC port (0: no gRPC)")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  app.add_option("-t,--threads", o->threads, "Compute threads (0: all cores)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--http-threads", o->http_threads, "HTTP I/O threads (parse, tokenize)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--max-batch-tokens", o->max_batch_tokens, "Tokens per packed batch")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--max-batch-requests", o->max_batch_requests, "Inputs per packed batch")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--max-queue", o->max_queue, "Requests waiting before 429")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--max-payload-bytes", o->max_payload_bytes, "Request body limit (413 above)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--max-inputs-per-request", o->max_inputs_per_request,
                 "Inputs in one request (413 above)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--api-key", o->api_key,
                 "Require 'Authorization: Bearer KEY' on every route but /health");
  app.add_option("--request-timeout-ms", o->request_timeout_ms,
                 "Answer 429 to a request still waiting for compute (or for a large-request "
                 "thread) this long after it arrived (0: never)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--cache-entries", o->cache_entries,
                 "Result cache size in entries, one per input (0: no cache)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--cache-bytes", o->cache_bytes, "Result cache size in bytes (0: no cache)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_flag("--inline-idle-batch,!--no-inline-idle-batch", o->inline_idle_batch,
               "Run a request that finds the batcher idle on its I/O thread, without the "
               "hand-off to the scheduler thread and back")
      ->capture_default_str();
  // Memory and hostile clients (docs/security.md).
  app.add_option("--max-memory", o->max_memory,
                 "Bytes the whole process may use: a request that would take it further is "
                 "refused (429; 413 if it could never fit) (0: half of MemAvailable, or of the "
                 "cgroup's limit, at start)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--max-connections", o->max_connections,
                 "Open HTTP connections; more are closed at once (each is given 16 KiB of the "
                 "memory budget)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--max-tokenize-bytes", o->max_tokenize_bytes,
                 "Bytes of text one /tokenize request may send (413 above)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--max-response-bytes", o->max_response_bytes,
                 "Bytes of JSON one /embed_all answer may hold (413 above)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--large-request-bytes", o->large_request_bytes,
                 "Requests with bodies (gRPC messages) this large, and /embed_all, are parsed, "
                 "tokenized and answered on the large-request threads, not on an I/O thread")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--large-request-threads", o->large_request_threads, "Threads for large requests")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--grpc-max-threads", o->grpc_max_threads,
                 "gRPC handler threads (calls beyond get RESOURCE_EXHAUSTED)")
      ->capture_default_str()
      ->check(CLI::Range(2, 4096));
  app.add_option("--malloc-arena-max", o->malloc_arena_max,
                 "glibc malloc arenas (0: glibc's default, 8 per core)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--malloc-mmap-threshold", o->malloc_mmap_threshold,
                 "Allocations this large get their own mapping, returned to the system on free "
                 "(0: glibc's sliding threshold)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--malloc-trim-interval-ms", o->malloc_trim_interval_ms,
                 "Give freed memory back to the system (malloc_trim) after large requests, at "
                 "most this often (0: never)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  return [o] { return serve::run_server(*o); };
}

}  // namespace ember::cli
