#include "serve/server.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <optional>
#include <system_error>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/thread_pool.h"
#include "serve/batcher.h"
#include "serve/descriptor_reserve.h"
#include "serve/grpc_server.h"
#include "serve/http_server.h"
#include "serve/large_request_pool.h"
#include "serve/memory_budget.h"
#include "serve/metrics.h"
#include "serve/model_sources.h"
#include "serve/process_memory.h"
#include "serve/result_cache.h"
#include "serve/router.h"
#include "serve/routes.h"
#include "serve/served_model.h"
#include "serve/server_metrics.h"

namespace ember::serve {
namespace {

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

// The "model" of the listening line: the first --model as given (a single model's, as before),
// or its name when it is ALIAS=PATH or comes from --model-repository: never a path with it.
std::string listed_model(const ModelFlags& flags, const std::string& default_name) {
  if (flags.models.empty() || flags.models.front().rfind(default_name + "=", 0) == 0)
    return default_name;
  return flags.models.front();
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
  ModelFlags flags{o.models, o.model_repository, o.pins, o.served_model_name};
  if (flags.models.empty() && flags.repository.empty()) flags.models.push_back("all-MiniLM-L6-v2");
  // With several models, each model's compute pool gets its share of the cores unless
  // --threads says otherwise: --compute-slots batches compute at once, and pools of all cores
  // each would oversubscribe them (a flood on one model tripled another's p50, docs/serve.md).
  if (lo.threads == 0 && (flags.models.size() > 1 || !flags.repository.empty()))
    lo.threads = std::max(1, hardware_threads() / std::max(1, o.compute_slots));
  std::vector<ModelSource> sources = model_sources(flags, lo);
  const bool several = sources.size() > 1;

  // Memory (docs/serve.md): the process before any model, the models' budget, and what
  // requests may hold together: --max-memory less the process, the models (--memory-budget,
  // or with one model and none given, what it holds as loaded; with several, half of what the
  // process leaves), the result cache full, the connections' buffers, and slack.
  const int64_t max_connections = connection_limit(o, max_memory);
  const int64_t process = resident_bytes() + (o.cache_entries > 0 ? o.cache_bytes : 0) +
                          max_connections * kConnectionBytes + kProcessSlackBytes;
  const int64_t models_budget = o.memory_budget > 0 ? o.memory_budget
                                : several           ? (max_memory - process) / 2
                                                    : 0;
  EMBER_CHECK(!several || models_budget > 0, ErrorKind::kInvalidInput, "--max-memory ",
              mib(max_memory), " leaves no room for models after the process takes ", mib(process));
  RegistryOptions ro;
  ro.budget_bytes = models_budget;
  ro.cost = [&o](const ember::Model& model, int64_t growth) {
    return growth + compute_bytes(model, o);
  };
  ro.max_batch_tokens = o.max_batch_tokens;
  ro.max_batch_inputs = o.max_batch_requests;

  std::optional<MallocTrimmer> trimmer;  // before the budget, which calls it until destroyed
  if (o.malloc_trim_interval_ms > 0)
    trimmer.emplace(std::chrono::milliseconds(o.malloc_trim_interval_ms));
  std::optional<MemoryBudget> budget;  // sized once the default model is loaded
  Metrics metrics;
  ResultCache cache({static_cast<size_t>(o.cache_entries), static_cast<size_t>(o.cache_bytes)});
  LargeRequestPool large_requests(o.large_request_threads);
  ComputeGate gate(o.compute_slots);  // by default one batch at a time, models taking turns

  ServingShared shared;
  shared.metrics = &metrics;
  shared.limits.max_inputs_per_request = static_cast<size_t>(o.max_inputs_per_request);
  shared.limits.request_timeout_ms = o.request_timeout_ms;
  shared.limits.max_batch_tokens = o.max_batch_tokens;
  shared.limits.max_batch_requests = o.max_batch_requests;
  shared.limits.max_queue = static_cast<size_t>(o.max_queue);
  shared.limits.http_threads = o.http_threads;
  shared.limits.max_tokenize_bytes = o.max_tokenize_bytes;
  shared.limits.max_response_bytes = o.max_response_bytes;
  shared.limits.large_request_bytes = o.large_request_bytes;
  shared.limits.max_text_bytes = 4 * o.max_payload_bytes;
  shared.cache = &cache;
  shared.large_requests = &large_requests;
  shared.gate = &gate;
  shared.batcher.max_batch_tokens = o.max_batch_tokens;
  shared.batcher.max_batch_sequences = o.max_batch_requests;
  shared.batcher.max_queue = static_cast<size_t>(o.max_queue);
  // Inline compute holds the I/O thread it runs on: only with a second one to take the new
  // connections and answer /metrics or /health meanwhile (with one, they would wait); and
  // with one model only, since with several it could wait there for another model's turn.
  shared.batcher.run_inline_when_idle = o.inline_idle_batch && o.http_threads >= 2 && !several;
  shared.default_prompt_name = o.default_prompt_name;
  shared.default_prompt = o.default_prompt;
  ServedModelsOptions so;
  so.sources = std::move(sources);
  so.registry = std::move(ro);
  so.load_wait = std::chrono::milliseconds(o.model_load_wait_ms);
  so.preload = o.preload;
  ServedModels models(shared, std::move(so));

  const int64_t models_bytes = models_budget > 0 ? models_budget : models.registry().loaded_bytes();
  const int64_t fixed = process + models_bytes;
  EMBER_CHECK(max_memory - fixed >= kMinRequestBudgetBytes, ErrorKind::kInvalidInput,
              "--max-memory ", mib(max_memory), " leaves ", mib(max_memory - fixed),
              " for requests; the process, ",
              models_budget > 0 ? "the models' budget (--memory-budget)"
                                : "the model as loaded with its compute workspace for "
                                  "--max-batch-tokens",
              ", the result cache (--cache-bytes), ", max_connections,
              " connections (--max-connections) and slack take ", mib(fixed),
              " and requests need at least ", mib(kMinRequestBudgetBytes));
  MemoryBudgetOptions mo;
  mo.capacity = max_memory - fixed;
  mo.max_pending_body_bytes = mo.capacity / 4;
  mo.small_request_bytes = std::min<int64_t>(4 << 20, mo.capacity / 64);
  budget.emplace(mo);
  if (trimmer) budget->on_large_release(8 << 20, [&trimmer] { trimmer->request(); });
  models.set_budget(&*budget);
  add_server_metrics(metrics, *budget, models, cache);

  Router router(metrics, o.api_key);
  router.set_large_request_pool(&large_requests, static_cast<size_t>(o.large_request_bytes),
                                o.request_timeout_ms);
  add_tei_routes(router, models);
  add_openai_routes(router, models);
  add_classify_routes(router, models);
  add_kserve_routes(router, models, o.allow_model_control);
  add_vertex_route(router, models);
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
  ho.budget = &*budget;
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
    go.allow_model_control = o.allow_model_control;
    grpc.emplace(go, models, router);
  }
  const ember::ModelInfo first = models.acquire("").ctx().model.info();
  nlohmann::json listening = {{"event", "listening"},
                              {"address", o.host},
                              {"port", server.port()},
                              {"model", listed_model(flags, models.default_name())},
                              {"dimensions", first.hidden_size},
                              {"max_length", first.max_length},
                              {"models", models.names()},
                              {"compute_threads", first.threads},
                              {"compute_slots", o.compute_slots},
                              {"max_memory", max_memory},
                              {"request_memory", mo.capacity}};
  listening["dtype"] = first.dtype;
  if (!first.dtype_note.empty()) {
    // Why the model runs in another dtype than asked (e.g. bf16 widened to fp32 on a CPU
    // without avx512_bf16): on the listening line for tools, on stderr for people.
    listening["dtype_note"] = first.dtype_note;
    std::cerr << first.dtype_note << std::endl;
  }
  if (grpc) listening["grpc_port"] = grpc->port();
  std::cout << listening.dump() << std::endl;
  const DrainOutcome drained = server.run();
  // New RPCs got UNAVAILABLE since the drain began; a cut drain cancels those in flight.
  if (grpc) grpc->shutdown(drained.complete ? std::chrono::seconds(30) : std::chrono::seconds(0));
  // Every HTTP request was answered before run() returned; after a cut, those still queued
  // are dropped unrun (their clients are marked gone).
  models.stop();
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
