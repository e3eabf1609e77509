// Method + path -> handler, with the cross-cutting rules applied once: bearer auth (every
// route but the health ones, checked first so that an unauthenticated client cannot tell an
// existing route from a missing one), 404 / 405, 503 while draining, per-route metrics, the
// exception boundary (a throwing handler becomes an error response, never a crash), the
// memory the parsed body takes (request_cost.h), and where a handler runs: requests with
// large bodies, and heavy routes, on the LargeRequestPool instead of the connection's I/O
// thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>

#include "serve/http_types.h"
#include "serve/metrics.h"

namespace ember::serve {

class LargeRequestPool;

class Router {
 public:
  Router(Metrics& metrics, std::string api_key) : metrics_(metrics), api_key_(std::move(api_key)) {}

  // heavy: the handler always runs on the large-request pool (its answer can be large).
  void add(const std::string& method, const std::string& path, Handler handler,
           bool needs_auth = true, bool heavy = false);
  // Handlers of requests with bodies of at least large_body_bytes (and of heavy routes) run
  // on `pool`, and their completions too; one that waited there past `queue_timeout_ms` (0:
  // no limit) since it was received is answered 429 without running.
  void set_large_request_pool(LargeRequestPool* pool, size_t large_body_bytes,
                              int64_t queue_timeout_ms);
  // The checks that need only the request line and headers (route, method, draining, API
  // key): an answer when they refuse, so that a refused request's body is never read.
  std::optional<Response> refuse_before_body(const Request& head) const;
  // Calls reply exactly once, possibly later and from another thread.
  void dispatch(Request req, Reply reply) const;
  void set_draining() { draining_ = true; }
  bool draining() const { return draining_; }

 private:
  // A route registered with needs_auth = false (method and path both match).
  bool is_public(const Request& req) const;

  struct Route {
    Handler handler;
    bool needs_auth = true;
    bool heavy = false;
  };
  // The route for req after the header checks; throws HttpError 404 / 405 / 503 / 401.
  const Route& checked_route(const Request& req) const;
  Reply counted_reply(const Request& req, Reply reply) const;
  void run(const Route& route, const Request& req, const Reply& reply) const;

  Metrics& metrics_;
  const std::string api_key_;
  std::map<std::string, std::map<std::string, Route>> routes_;  // path -> method -> route
  std::atomic<bool> draining_{false};
  LargeRequestPool* pool_ = nullptr;
  size_t large_body_bytes_ = SIZE_MAX;
  int64_t queue_timeout_ms_ = 0;
};

}  // namespace ember::serve
