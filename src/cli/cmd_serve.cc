// ember serve: the HTTP server (TEI and OpenAI embeddings APIs) on one model.
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <iterator>

#include "cli/commands.h"
#include "core/error.h"
#include "serve/server.h"

namespace ember::cli {
namespace {

struct KeySources {
  std::string file;  // --api-key-file
};

// The API key from --api-key, --api-key-file or $EMBER_API_KEY (one at most; the flags are
// exclusive, and the variable is read only when neither is given). A file's surrounding
// whitespace (the newline `echo` writes) is not part of the key.
std::string resolve_api_key(const std::string& flag, const KeySources& sources) {
  auto trimmed = [](std::string k) {
    const auto first = k.find_first_not_of(" \t\r\n");
    if (first == std::string::npos) return std::string();
    return k.substr(first, k.find_last_not_of(" \t\r\n") - first + 1);
  };
  if (!flag.empty()) return flag;
  if (!sources.file.empty()) {
    std::ifstream in(sources.file, std::ios::binary);
    EMBER_CHECK(in.good(), ErrorKind::kNotFound, "--api-key-file ", sources.file,
                ": cannot be read");
    const std::string key = trimmed(std::string(std::istreambuf_iterator<char>(in), {}));
    EMBER_CHECK(!key.empty(), ErrorKind::kInvalidInput, "--api-key-file ", sources.file,
                " is empty");
    return key;
  }
  if (const char* env = std::getenv("EMBER_API_KEY")) {
    const std::string key = trimmed(env);
    EMBER_CHECK(!key.empty(), ErrorKind::kInvalidInput,
                "EMBER_API_KEY is set but empty (unset it to serve without a key)");
    return key;
  }
  return {};
}

}  // namespace

Runner add_serve(CLI::App& app) {
  auto o = std::make_shared<serve::ServeOptions>();
  auto keys = std::make_shared<KeySources>();
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
  auto* key = app.add_option("--api-key", o->api_key,
                             "Require 'Authorization: Bearer KEY' on every route but health "
                             "(visible in ps: prefer --api-key-file or $EMBER_API_KEY)");
  app.add_option("--api-key-file", keys->file,
                 "Read the API key from this file (surrounding whitespace stripped)")
      ->excludes(key);
  app.add_option("--served-model-name", o->served_model_name,
                 "The model's name in answers and routes (default: the model directory's name, "
                 "or the cache name as given)");
  app.add_option("--drain-timeout", o->drain_timeout_s,
                 "Seconds the drain after SIGTERM/SIGINT/SIGHUP may take before the requests "
                 "still waiting get 503 (0: no limit; a second signal cuts it at once)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--max-connections", o->max_connections,
                 "HTTP connections open at once (0: the descriptor limit less a reserve)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_flag("--cache-header", o->cache_header,
               "Send x-cache (hit/miss/partial) on answers; it tells a client whether anyone "
               "sent the same input before");
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
  return [o, keys] {
    o->api_key = resolve_api_key(o->api_key, *keys);
    // A peer closing a socket must not kill the server (Asio and gRPC also avoid SIGPIPE per
    // write); SIGUSR1/2 have no meaning here and would otherwise end the process.
    std::signal(SIGPIPE, SIG_IGN);
    std::signal(SIGUSR1, SIG_IGN);
    std::signal(SIGUSR2, SIG_IGN);
    return serve::run_server(*o);
  };
}

}  // namespace ember::cli
