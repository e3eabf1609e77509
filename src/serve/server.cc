#include "serve/server.h"

#include <iostream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "serve/batcher.h"
#include "serve/http_server.h"
#include "serve/metrics.h"
#include "serve/router.h"
#include "serve/routes.h"

namespace ember::serve {

int run_server(const ServeOptions& o) {
  EMBER_CHECK(o.port >= 0 && o.port <= 65535, ErrorKind::kInvalidInput, "--port ", o.port,
              " is not a TCP port");
  runtime::EngineOptions eo;
  eo.threads = o.threads;
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
  TokenBudgetBatcher batcher(
      bo, [&engine](const model::Batch& b) { return engine->run(b, runtime::kPooled); }, &metrics);
  metrics.add_gauge("ember_queue_depth", "Requests waiting for a batch",
                    [&batcher] { return static_cast<double>(batcher.queue_depth()); });
  metrics.add_gauge("ember_batcher_pending_requests", "Requests queued or computing",
                    [&batcher] { return static_cast<double>(batcher.pending_jobs()); });

  ServeLimits limits;
  limits.max_inputs_per_request = static_cast<size_t>(o.max_inputs_per_request);
  limits.request_timeout_ms = o.request_timeout_ms;
  limits.max_batch_tokens = o.max_batch_tokens;
  limits.max_batch_requests = o.max_batch_requests;
  limits.max_queue = static_cast<size_t>(o.max_queue);
  limits.http_threads = o.http_threads;
  const ServeContext ctx{*engine, batcher, metrics, limits, o.model};

  Router router(metrics, o.api_key);
  add_tei_routes(router, ctx);
  add_openai_routes(router, ctx);
  router.add("GET", "/metrics", [&metrics](const Request&, Reply reply) {
    reply(Response{200, "text/plain; version=0.0.4", metrics.render(), {}});
  });

  HttpServerOptions ho;
  ho.host = o.host;
  ho.port = static_cast<uint16_t>(o.port);
  ho.threads = o.http_threads;
  ho.max_payload_bytes = static_cast<size_t>(o.max_payload_bytes);
  HttpServer server(ho, router);
  std::cout << nlohmann::json{{"event", "listening"},
                              {"address", o.host},
                              {"port", server.port()},
                              {"model", o.model},
                              {"dimensions", engine->config().hidden_size},
                              {"max_length", engine->info().max_length}}
                   .dump()
            << std::endl;
  server.run();
  batcher.stop();  // every request in flight was answered before run() returned
  std::cout << nlohmann::json{{"event", "stopped"}}.dump() << std::endl;
  return 0;
}

}  // namespace ember::serve
