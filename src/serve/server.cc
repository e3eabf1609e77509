#include "serve/server.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <optional>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "serve/batcher.h"
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

// The most the compute can hold at once: the workspace for the largest batch (--max-batch-tokens,
// or --max-batch-requests sequences of the model's limit if fewer, or one sequence of that
// limit), its outputs (hidden states of every token, pooled rows, logits) and per-thread
// attention scratch.
int64_t compute_bytes(const runtime::Engine& engine, const ServeOptions& o) {
  const auto& c = engine.config();
  const int64_t max_length = engine.info().max_length;
  const int64_t t =
      std::max(std::min(o.max_batch_tokens, o.max_batch_requests * max_length), max_length);
  const int64_t h = c.hidden_size, wide = std::max(c.hidden_size, c.embedding_size);
  const int64_t labels = std::max<int64_t>(1, static_cast<int64_t>(c.labels.size()));
  const int64_t per_token = 4 * (wide + 8 * h + c.intermediate_size + labels) + 32;
  const int64_t per_sequence = 4 * (3 * h + labels);
  return t * per_token + o.max_batch_requests * per_sequence + (16 << 20);
}

// Thread stacks in use, gRPC and allocator overhead, what the estimates above miss.
constexpr int64_t kProcessSlackBytes = 64 << 20;
constexpr int64_t kMinRequestBudgetBytes = 64 << 20;

}  // namespace

int run_server(const ServeOptions& o) {
  EMBER_CHECK(o.port >= 0 && o.port <= 65535, ErrorKind::kInvalidInput, "--port ", o.port,
              " is not a TCP port");
  configure_malloc(o.malloc_arena_max, o.malloc_mmap_threshold);
  const int64_t max_memory = o.max_memory > 0 ? o.max_memory : available_memory_bytes() / 2;
  EMBER_CHECK(max_memory > 0, ErrorKind::kInvalidInput,
              "cannot read the memory available (/proc/meminfo); set --max-memory");
  runtime::EngineOptions eo;
  eo.threads = o.threads;
  eo.truncate = false;   // truncation is per request (inputs.cc), not the tokenizer's
  eo.normalize = false;  // normalization is per request too
  const auto engine = runtime::Engine::load(o.model, eo);
  EMBER_CHECK(engine->has_tokenizer(), ErrorKind::kUnsupported, "model '", o.model,
              "' has no tokenizer.json; ember serve needs one");

  // What requests may hold together: the budget less the process as loaded, the compute's
  // workspace at its largest, the result cache full, and slack.
  const int64_t fixed = resident_bytes() + compute_bytes(*engine, o) +
                        (o.cache_entries > 0 ? o.cache_bytes : 0) +
                        o.max_connections * kConnectionBytes + kProcessSlackBytes;
  EMBER_CHECK(max_memory - fixed >= kMinRequestBudgetBytes, ErrorKind::kInvalidInput,
              "--max-memory ", mib(max_memory), " leaves ", mib(max_memory - fixed),
              " for requests; the model as loaded, its compute workspace for --max-batch-tokens ",
              o.max_batch_tokens, ", the result cache (--cache-bytes), --max-connections ",
              o.max_connections, " and slack take ", mib(fixed), " and requests need at least ",
              mib(kMinRequestBudgetBytes));
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
      bo, [&engine](const model::Batch& b, unsigned outputs) { return engine->run(b, outputs); },
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

  // Sentence pairs sent with "truncate": true are cut longest-first, as the Hugging Face
  // tokenizer does, by a second tokenizer set to the model's limit (one per direction).
  std::optional<tok::Tokenizer> pair_tok[2];
  const auto tokenizer_file = std::filesystem::path(engine->info().dir) / "tokenizer.json";
  if (engine->config().head == model::HeadKind::kSequenceClassification &&
      std::filesystem::exists(tokenizer_file)) {
    for (int side = 0; side < 2; ++side) {
      tok::Truncation t;
      t.max_length = static_cast<size_t>(engine->info().max_length);
      t.direction = side == 0 ? tok::TruncationDirection::kRight : tok::TruncationDirection::kLeft;
      pair_tok[side].emplace(tok::Tokenizer::from_file(tokenizer_file));
      pair_tok[side]->set_truncation(t);
    }
  }

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
  ServeContext ctx{*engine, batcher, metrics, limits, o.model, &cache, {nullptr, nullptr}};
  ctx.budget = &budget;
  LargeRequestPool large_requests(o.large_request_threads);
  ctx.large_requests = &large_requests;
  for (int side = 0; side < 2; ++side)
    if (pair_tok[side]) ctx.pair_truncating[side] = &*pair_tok[side];

  Router router(metrics, o.api_key);
  router.set_large_request_pool(&large_requests, static_cast<size_t>(o.large_request_bytes),
                                o.request_timeout_ms);
  add_tei_routes(router, ctx);
  add_openai_routes(router, ctx);
  add_classify_routes(router, ctx);
  add_kserve_routes(router, ctx);
  router.add("GET", "/metrics", [&metrics](const Request&, Reply reply) {
    reply(Response{200, "text/plain; version=0.0.4", metrics.render(), {}, {}, {}});
  });

  HttpServerOptions ho;
  ho.host = o.host;
  ho.port = static_cast<uint16_t>(o.port);
  ho.threads = o.http_threads;
  ho.max_payload_bytes = static_cast<size_t>(o.max_payload_bytes);
  ho.budget = &budget;
  ho.max_connections = o.max_connections;
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
                              {"dimensions", engine->config().hidden_size},
                              {"max_length", engine->info().max_length},
                              {"max_memory", max_memory},
                              {"request_memory", mo.capacity}};
  if (grpc) listening["grpc_port"] = grpc->port();
  std::cout << listening.dump() << std::endl;
  server.run();
  if (grpc) grpc->shutdown();  // new RPCs got UNAVAILABLE since the drain began
  batcher.stop();              // every request in flight was answered before run() returned
  std::cout << nlohmann::json{{"event", "stopped"}}.dump() << std::endl;
  return 0;
}

}  // namespace ember::serve
