#include "serve/server.h"

#include <chrono>
#include <filesystem>
#include <iostream>
#include <optional>
#include <system_error>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "serve/batcher.h"
#include "serve/grpc_server.h"
#include "serve/http_server.h"
#include "serve/metrics.h"
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

}  // namespace

int run_server(const ServeOptions& o) {
  EMBER_CHECK(o.port >= 0 && o.port <= 65535, ErrorKind::kInvalidInput, "--port ", o.port,
              " is not a TCP port");
  runtime::EngineOptions eo = o.engine;
  eo.truncate = false;   // truncation is per request (inputs.cc), not the tokenizer's
  eo.normalize = false;  // normalization is per request too
  const auto engine = runtime::Engine::load(o.model, eo);
  EMBER_CHECK(engine->has_tokenizer(), ErrorKind::kUnsupported, "model '", o.model,
              "' has no tokenizer.json; ember serve needs one");

  Metrics metrics;
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
  if (engine->spec().head == model::HeadKind::kSequenceClassification &&
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
  ServeContext ctx{*engine, batcher,           metrics, limits, public_model_name(o),
                   &cache,  {nullptr, nullptr}};
  for (int side = 0; side < 2; ++side)
    if (pair_tok[side]) ctx.pair_truncating[side] = &*pair_tok[side];

  Router router(metrics, o.api_key);
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
  ho.drain_timeout = std::chrono::milliseconds(static_cast<int64_t>(o.drain_timeout_s * 1000));
  ho.max_connections = static_cast<size_t>(o.max_connections);
  ho.cache_header = o.cache_header;
  HttpServer server(ho, router);
  std::optional<GrpcServer> grpc;  // KServe v2 gRPC: same batcher, drains with HTTP
  if (o.grpc_port != 0) {
    GrpcServerOptions go;
    go.host = o.host;
    go.port = o.grpc_port;
    go.max_message_bytes = static_cast<size_t>(o.max_payload_bytes);
    go.api_key = o.api_key;
    grpc.emplace(go, ctx, router);
  }
  nlohmann::json listening = {{"event", "listening"},
                              {"address", o.host},
                              {"port", server.port()},
                              {"model", o.model},
                              {"dimensions", engine->spec().hidden_size},
                              {"max_length", engine->info().max_length}};
  if (grpc) listening["grpc_port"] = grpc->port();
  std::cout << listening.dump() << std::endl;
  const DrainOutcome drained = server.run();
  // New RPCs got UNAVAILABLE since the drain began; a cut drain cancels those in flight.
  if (grpc) grpc->shutdown(drained.complete ? std::chrono::seconds(30) : std::chrono::seconds(0));
  // Every HTTP request was answered before run() returned; after a cut, those still queued
  // are dropped unrun (their clients are marked gone).
  batcher.stop();
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
