// Arbitrary bytes as an HTTP request through Beast's parser and Ember's router with every
// TEI and OpenAI route (JSON bodies of /embed, /v1/embeddings, /predict, /rerank, /tokenize,
// /decode, ...) and the real batcher, on a tiny sequence-classification model, without a
// socket. Any uncaught exception, crash, sanitizer report or a reply that never comes is a
// bug; every answer must be a well-formed status with a JSON body for errors.
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>

#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include "ember/ember.h"
#include "serve/errors.h"
#include "serve/metrics.h"
#include "serve/result_cache.h"
#include "serve/router.h"
#include "serve/routes.h"
#include "serve/served_model.h"

namespace http = boost::beast::http;
using namespace ember;
using namespace ember::serve;

namespace {

struct Fixture {
  Metrics metrics;
  std::unique_ptr<ResultCache> cache;
  std::unique_ptr<ServedModels> models;
  std::unique_ptr<Router> router;

  Fixture() {
    ember::LoadOptions lo;
    lo.threads = 1;
    lo.truncate = false;
    lo.normalize = false;
    cache = std::make_unique<ResultCache>(ResultCacheOptions{64, 1 << 20});
    ServingShared shared;
    shared.metrics = &metrics;
    shared.limits.max_inputs_per_request = 16;
    shared.cache = cache.get();
    shared.batcher.max_batch_tokens = 512;
    ServedModelsOptions so;
    so.sources = {{"tiny", EMBER_SOURCE_DIR "/tests/fixtures/models/tiny-bert-seqcls", lo, false}};
    models = std::make_unique<ServedModels>(shared, std::move(so));
    router = std::make_unique<Router>(metrics, "");
    add_tei_routes(*router, *models);
    add_openai_routes(*router, *models);
    add_classify_routes(*router, *models);
  }
};

Fixture& fixture() {
  static Fixture f;
  return f;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto& f = fixture();
  http::request_parser<http::string_body> parser;
  parser.eager(true);
  parser.body_limit(64 << 10);
  boost::beast::error_code ec;
  parser.put(boost::asio::buffer(data, size), ec);
  if (!ec && !parser.is_done()) parser.put_eof(ec);
  if (ec || !parser.is_done()) return 0;  // Beast's answer to this would be 400 (http_server.cc)
  auto& msg = parser.get();
  Request req;
  req.method = std::string(msg.method_string());
  const auto target = msg.target();
  req.path = std::string(target.substr(0, target.find('?')));
  if (const auto q = target.find('?'); q != target.npos)
    req.query = std::string(target.substr(q + 1));
  req.model_header = std::string(msg["X-Ember-Model"]);
  req.body = std::move(msg.body());
  req.received = Clock::now();
  req.post = [](std::function<void()> fn) { fn(); };               // the "strand" is the caller
  auto gone = std::make_shared<std::atomic<bool>>(size % 7 == 0);  // some clients have left
  req.client_gone = gone;

  std::mutex m;
  std::condition_variable cv;
  int replies = 0;
  Response res;
  f.router.get()->dispatch(req, [&](Response r) {
    std::lock_guard lock(m);
    res = std::move(r);
    ++replies;
    cv.notify_one();
  });
  std::unique_lock lock(m);
  cv.wait(lock, [&] { return replies > 0; });
  if (res.status < 200 || res.status > 599) std::abort();
  if (res.status >= 400) {
    const auto body = nlohmann::json::parse(res.body, nullptr, false);
    if (!body.is_object() || !body.contains("error")) std::abort();
  }
  return 0;
}
