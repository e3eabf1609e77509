// ember serve: the HTTP and gRPC server (TEI, OpenAI, KServe APIs) on one model or several.
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
  app.add_option("-m,--model", o->models,
                 "Model directory or name in the model cache, or ALIAS=PATH; repeatable: the first "
                 "is the default model, loaded at start (default: all-MiniLM-L6-v2)");
  app.add_option("--model-repository", o->model_repository,
                 "A directory whose subdirectories are models, each named by its directory "
                 "(loaded on first use)");
  app.add_flag("--preload", o->preload, "Load every model at start, not only the first");
  app.add_option("--pin", o->pins, "A model never unloaded to make room for another (repeatable)");
  app.add_option("--memory-budget", o->memory_budget,
                 "Bytes the loaded models may hold together (suffixes: 512M, 2G); the least "
                 "recently used idle model is unloaded to make room (0: with one model, what it "
                 "holds; with several, half of what --max-memory leaves after the process)")
      ->capture_default_str()
      ->transform(CLI::AsSizeValue(false));
  app.add_option("--model-load-wait-ms", o->model_load_wait_ms,
                 "How long a request waits for its model to load before 503 with Retry-After")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--compute-slots", o->compute_slots,
                 "Batches of different models computing at once (each on its model's compute "
                 "threads); models take turns, first come first served, for the slots. With "
                 "several models and no --threads, each model computes on cores / N threads")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
  app.add_flag("--allow-model-control", o->allow_model_control,
               "Allow POST /v2/repository/models/{name}/load and /unload (behind --api-key)");
  app.add_option("--host", o->host, "Address to listen on")->capture_default_str();
  app.add_option("-p,--port", o->port, "TCP port (0: any free port, printed on start)")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  app.add_option("--grpc-port", o->grpc_port, "KServe v2 gRPC port (0: no gRPC)")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  add_compute_flags(app, o->load);
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
      ->transform(CLI::AsSizeValue(false))
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
  auto* prompt_name = app.add_option(
      "--default-prompt-name", o->default_prompt_name,
      "The sentence-transformers prompt of requests that name none, as TEI's flag (default: "
      "the model's default_prompt_name, if any)");
  app.add_option("--default-prompt", o->default_prompt,
                 "A default prompt's text itself, as TEI's flag")
      ->excludes(prompt_name);
  app.add_option("--drain-timeout", o->drain_timeout_s,
                 "Seconds the drain after SIGTERM/SIGINT/SIGHUP may take before the requests "
                 "still waiting get 503 (0: no limit; a second signal cuts it at once)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--max-connections", o->max_connections,
                 "HTTP connections open at once (0: the descriptor limit less a reserve, at most "
                 "what 1/16 of --max-memory holds at 16 KiB each)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_flag("--cache-header", o->cache_header,
               "Send x-cache (hit/miss/partial) on answers; it tells a client whether anyone "
               "sent the same input before");
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
      ->transform(CLI::AsSizeValue(false))
      ->check(CLI::NonNegativeNumber);
  app.add_flag("--inline-idle-batch,!--no-inline-idle-batch", o->inline_idle_batch,
               "Run a request that finds the batcher idle on its I/O thread, without the "
               "hand-off to the scheduler thread and back")
      ->capture_default_str();
  // Memory and hostile clients (docs/security.md).
  app.add_option("--max-memory", o->max_memory,
                 "Bytes the whole process may use: a request that would take it further is "
                 "refused (429; 413 if it could never fit) (0: half of MemAvailable, or of the "
                 "cgroup's limit, at start; suffixes: 512M, 2G)")
      ->capture_default_str()
      ->transform(CLI::AsSizeValue(false))
      ->check(CLI::NonNegativeNumber);
  app.add_option("--max-tokenize-bytes", o->max_tokenize_bytes,
                 "Bytes of text one /tokenize request may send (413 above)")
      ->capture_default_str()
      ->transform(CLI::AsSizeValue(false))
      ->check(CLI::PositiveNumber);
  app.add_option("--max-response-bytes", o->max_response_bytes,
                 "Bytes of JSON one /embed_all answer may hold (413 above)")
      ->capture_default_str()
      ->transform(CLI::AsSizeValue(false))
      ->check(CLI::PositiveNumber);
  app.add_option("--large-request-bytes", o->large_request_bytes,
                 "Requests with bodies (gRPC messages) this large, and /embed_all, are parsed, "
                 "tokenized and answered on the large-request threads, not on an I/O thread")
      ->capture_default_str()
      ->transform(CLI::AsSizeValue(false))
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
      ->transform(CLI::AsSizeValue(false))
      ->check(CLI::NonNegativeNumber);
  app.add_option("--malloc-trim-interval-ms", o->malloc_trim_interval_ms,
                 "Give freed memory back to the system (malloc_trim) after large requests, at "
                 "most this often (0: never)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
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
