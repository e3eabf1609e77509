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
  add_compute_flags(app, o->engine);
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
                 "Drop a request still queued after this long (0: never)")
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
  return [o] { return serve::run_server(*o); };
}

}  // namespace ember::cli
