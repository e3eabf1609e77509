#include "serve/server.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <optional>
#include <system_error>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "serve/batcher.h"
#include "serve/descriptor_reserve.h"
#include "serve/grpc_server.h"
#include "serve/http_server.h"
#include "serve/large_request_pool.h"
#include "serve/memory_budget.h"
#include "serve/metrics.h"
#include "serve/process_memory.h"
#include "serve/result_cache.h"
#include "serve/router.h"
#include "serve/routes.h"

namespace ember::serve {
namespace {

// What clients see as the model's name: never the filesystem path it was loaded from.
std::string public_model_name(const ServeOptions& o) {
  namespace fs = std::filesystem;
  if (!o.served_model_name.empty()) return o.served_model_name;
  std::error_code ec;
  if (!fs::exists(o.model, ec)) return o.model;  // a name in the model cache, as given
  fs::path p = fs::absolute(o.model, ec).lexically_normal();
  if (!p.has_filename()) p = p.parent_path();  // "dir/"
  const std::string name = p.filename().string();
  return name.empty() ? "model" : name;
}

// The most the compute can hold at once: the workspace for the largest batch (--max-batch-tokens,
// or --max-batch-requests sequences of the model's limit if fewer, or one sequence of that
// limit), its outputs and per-thread scratch (ember::Model::compute_bytes).
int64_t compute_bytes(const ember::Model& model, const ServeOptions& o) {
  const int64_t max_length = model.info().max_length;
  const int64_t tokens =
      std::max(std::min(o.max_batch_tokens, o.max_batch_requests * max_length), max_length);
  return model.compute_bytes(tokens, o.max_batch_requests);
}

// Thread stacks in use, gRPC and allocator overhead, what the estimates above miss.
constexpr int64_t kProcessSlackBytes = 64 << 20;
constexpr int64_t kMinRequestBudgetBytes = 64 << 20;

// --max-connections, or by default the descriptor limit less a reserve, at most what 1/16 of
// the memory budget holds.
int64_t connection_limit(const ServeOptions& o, int64_t max_memory) {
  if (o.max_connections > 0) return o.max_connections;
  const auto by_descriptors = static_cast<int64_t>(default_max_connections());
  return std::max<int64_t>(1, std::min(by_descriptors, max_memory / 16 / kConnectionBytes));
}

}  // namespace

int run_server(const ServeOptions& o) {
  EMBER_CHECK(o.port >= 0 && o.port <= 65535, ErrorKind::kInvalidInput, "--port ", o.port,
              " is not a TCP port");
  configure_malloc(o.malloc_arena_max, o.malloc_mmap_threshold);
  const int64_t max_memory = o.max_memory > 0 ? o.max_memory : available_memory_bytes() / 2;
  EMBER_CHECK(max_memory > 0, ErrorKind::kInvalidInput,
              "cannot read the memory available (/proc/meminfo); set --max-memory");
  ember::LoadOptions lo = o.load;
  lo.truncate = false;   // truncation is per request (inputs.cc)
  lo.normalize = false;  // normalization is per request too
  const ember::Model model = ember::Model::load(o.model, lo);
  EMBER_CHECK(model.info().has_tokenizer, ErrorKind::kUnsupported, "model '", o.model,
              "' has no tokenizer.json; ember serve needs one");

  // What requests may hold together: the budget less the process as loaded, the compute's
  // workspace at its largest, the result cache full, the connections' buffers, and slack.
  const int64_t max_connections = connection_limit(o, max_memory);
  const int64_t fixed = resident_bytes() + compute_bytes(model, o) +
                        (o.cache_entries > 0 ? o.cache_bytes : 0) +
                        max_connections * kConnectionBytes + kProcessSlackBytes;
  EMBER_CHECK(max_memory - fixed >= kMinRequestBudgetBytes, ErrorKind::kInvalidInput,
              "--max-memory ", mib(max_memory), " leaves ", mib(max_memory - fixed),
              " for requests; the model as loaded, its compute workspace for --max-batch-tokens ",
              o.max_batch_tokens, ", the result cache (--cache-bytes), ", max_connections,
              " connections (--max-connections) and slack take ", mib(fixed),
              " and requests need at least ", mib(kMinRequestBudgetBytes));
  MemoryBudgetOptions mo;
  mo.capacity = max_memory - fixed;
  mo.max_pending_body_bytes = mo.capacity / 4;
  mo.small_request_bytes = std::min<int64_t>(4 << 20, mo.capacity / 64);
  std::optional<MallocTrimmer> trimmer;  // before the budget, which calls it until destroyed
  if (o.malloc_trim_interval_ms > 0)
    trimmer.emplace(std::chrono::milliseconds(o.malloc_trim_interval_ms));
  MemoryBudget budget(mo);
  if (trimmer) budget.on_large_release(8 << 20, [&trimmer] { trimmer->request(); });

  Metrics metrics;
  metrics.add_gauge("ember_memory_budget_bytes", "Bytes requests in flight may hold together",
                    [&budget] { return static_cast<double>(budget.capacity()); });
  metrics.add_gauge("ember_memory_reserved_bytes", "Bytes reserved by requests in flight",
                    [&budget] { return static_cast<double>(budget.in_use()); });
  metrics.add_gauge("ember_memory_reserved_peak_bytes", "Most bytes reserved at once",
                    [&budget] { return static_cast<double>(budget.peak()); });
  metrics.add_counter("ember_memory_refused_total",
                      "Requests refused (429 / 413) because their memory did not fit",
                      [&budget] { return static_cast<double>(budget.refused()); });
  metrics.add_gauge("ember_process_resident_bytes", "Resident memory of the process (VmRSS)",
                    [] { return static_cast<double>(resident_bytes()); });
  metrics.add_gauge("ember_process_resident_peak_bytes", "Peak resident memory (VmHWM)",
                    [] { return static_cast<double>(peak_resident_bytes()); });
  BatcherOptions bo;
  bo.max_batch_tokens = o.max_batch_tokens;
  bo.max_batch_sequences = o.max_batch_requests;
  bo.max_queue = static_cast<size_t>(o.max_queue);
  // Inline compute holds the I/O thread it runs on: only with a second one to take the new
  // connections and answer /metrics or /health meanwhile (with one, they would wait).
  bo.run_inline_when_idle = o.inline_idle_batch && o.http_threads >= 2;
  TokenBudgetBatcher batcher(
      bo, [&model](const ember::Batch& b, unsigned outputs) { return model.run(b, outputs); },
      &metrics);
  metrics.add_gauge("ember_queue_depth", "Requests waiting for a batch",
                    [&batcher] { return static_cast<double>(batcher.queue_depth()); });
  metrics.add_gauge("ember_batcher_pending_requests", "Requests queued or computing",
                    [&batcher] { return static_cast<double>(batcher.pending_jobs()); });
  metrics.add_counter("ember_requests_dropped_disconnected_total",
                      "Requests dropped before compute because the client had disconnected",
                      [&batcher] { return static_cast<double>(batcher.dropped_disconnected()); });
  metrics.add_counter("ember_requests_dropped_deadline_total",
                      "Requests dropped before compute because they waited past their deadline",
                      [&batcher] { return static_cast<double>(batcher.dropped_deadline()); });
  metrics.add_counter("ember_batch_isolation_reruns_total",
                      "Failed batches split and run again so that a failing request fails alone",
                      [&batcher] { return static_cast<double>(batcher.isolation_reruns()); });

  ResultCache cache({static_cast<size_t>(o.cache_entries), static_cast<size_t>(o.cache_bytes)});
  metrics.add_counter("ember_cache_hits_total", "Inputs answered from the result cache",
                      [&cache] { return static_cast<double>(cache.hits()); });
  metrics.add_counter("ember_cache_misses_total", "Inputs looked up and not in the result cache",
                      [&cache] { return static_cast<double>(cache.misses()); });
  metrics.add_gauge("ember_cache_entries", "Entries in the result cache",
                    [&cache] { return static_cast<double>(cache.entries()); });
  metrics.add_gauge("ember_cache_bytes", "Bytes charged to the result cache",
                    [&cache] { return static_cast<double>(cache.bytes()); });

  ServeLimits limits;
  limits.max_inputs_per_request = static_cast<size_t>(o.max_inputs_per_request);
  limits.request_timeout_ms = o.request_timeout_ms;
  limits.max_batch_tokens = o.max_batch_tokens;
  limits.max_batch_requests = o.max_batch_requests;
  limits.max_queue = static_cast<size_t>(o.max_queue);
  limits.http_threads = o.http_threads;
  limits.max_tokenize_bytes = o.max_tokenize_bytes;
  limits.max_response_bytes = o.max_response_bytes;
  limits.large_request_bytes = o.large_request_bytes;
  limits.max_text_bytes = 4 * o.max_payload_bytes;
  ServeContext ctx{model, batcher, metrics, limits, public_model_name(o), &cache};
  ctx.budget = &budget;
  ctx.prompts = Prompts::of(model, o.default_prompt_name, o.default_prompt);
  LargeRequestPool large_requests(o.large_request_threads);
  ctx.large_requests = &large_requests;

  Router router(metrics, o.api_key);
  router.set_large_request_pool(&large_requests, static_cast<size_t>(o.large_request_bytes),
                                o.request_timeout_ms);
  add_tei_routes(router, ctx);
  add_openai_routes(router, ctx);
  add_classify_routes(router, ctx);
  add_kserve_routes(router, ctx);
  add_vertex_route(router, ctx);
  router.add("GET", "/metrics", [&metrics](const Request&, Reply reply) {
    reply(Response{200, "text/plain; version=0.0.4", metrics.render(), {}, {}, {}});
  });

  HttpServerOptions ho;
  ho.host = o.host;
  ho.port = static_cast<uint16_t>(o.port);
  ho.threads = o.http_threads;
  ho.max_payload_bytes = static_cast<size_t>(o.max_payload_bytes);
  ho.drain_timeout = std::chrono::milliseconds(static_cast<int64_t>(o.drain_timeout_s * 1000));
  ho.max_connections = static_cast<size_t>(max_connections);
  ho.budget = &budget;
  ho.cache_header = o.cache_header;
  HttpServer server(ho, router);
  std::optional<GrpcServer> grpc;  // KServe v2 gRPC: same batcher, drains with HTTP
  if (o.grpc_port != 0) {
    GrpcServerOptions go;
    go.host = o.host;
    go.port = o.grpc_port;
    go.max_message_bytes = static_cast<size_t>(o.max_payload_bytes);
    go.api_key = o.api_key;
    go.max_threads = o.grpc_max_threads;
    grpc.emplace(go, ctx, router);
  }
  nlohmann::json listening = {{"event", "listening"},
                              {"address", o.host},
                              {"port", server.port()},
                              {"model", o.model},
                              {"dimensions", model.info().hidden_size},
                              {"max_length", model.info().max_length},
                              {"max_memory", max_memory},
                              {"request_memory", mo.capacity}};
  if (grpc) listening["grpc_port"] = grpc->port();
  std::cout << listening.dump() << std::endl;
  const DrainOutcome drained = server.run();
  // New RPCs got UNAVAILABLE since the drain began; a cut drain cancels those in flight.
  if (grpc) grpc->shutdown(drained.complete ? std::chrono::seconds(30) : std::chrono::seconds(0));
  // Every HTTP request was answered before run() returned; after a cut, those still queued
  // are dropped unrun (their clients are marked gone).
  batcher.stop();
  // Its tasks hold connections: done before the HTTP server (declared after it) is destroyed.
  large_requests.stop();
  nlohmann::json stopped = {{"event", "stopped"}, {"drain", drained.complete ? "complete" : "cut"}};
  if (!drained.complete) {
    stopped["reason"] = drained.signal != 0 ? "signal" : "drain-timeout";
    if (drained.signal != 0) stopped["signal"] = drained.signal;
    stopped["unanswered"] = drained.unanswered;
  }
  std::cout << stopped.dump() << std::endl;
  return drained.complete ? 0 : kExitDrainCut;
}

}  // namespace ember::serve
