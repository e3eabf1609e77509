// Method + path -> handler, with the cross-cutting rules applied once: bearer auth (every
// route but the health ones, checked first so that an unauthenticated client cannot tell an
// existing route from a missing one), 404 / 405, 503 while draining, per-route metrics, and
// the exception boundary (a throwing handler becomes an error response, never a crash).
#pragma once

#include <atomic>
#include <map>
#include <string>
#include <utility>

#include "serve/http_types.h"
#include "serve/metrics.h"

namespace ember::serve {

class Router {
 public:
  Router(Metrics& metrics, std::string api_key) : metrics_(metrics), api_key_(std::move(api_key)) {}

  void add(const std::string& method, const std::string& path, Handler handler,
           bool needs_auth = true);
  // Calls reply exactly once, possibly later and from another thread.
  void dispatch(const Request& req, Reply reply) const;
  void set_draining() { draining_ = true; }
  bool draining() const { return draining_; }

 private:
  // A route registered with needs_auth = false (method and path both match).
  bool is_public(const Request& req) const;

  struct Route {
    Handler handler;
    bool needs_auth = true;
  };
  Metrics& metrics_;
  const std::string api_key_;
  std::map<std::string, std::map<std::string, Route>> routes_;  // path -> method -> route
  std::atomic<bool> draining_{false};
};

}  // namespace ember::serve
