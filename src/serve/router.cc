#include "serve/router.h"

#include <memory>

#include "serve/errors.h"
#include "serve/large_request_pool.h"
#include "serve/request_cost.h"

namespace ember::serve {
namespace {

// Compares without an early exit, so response times do not reveal how much of a key matched.
bool same_secret(const std::string& a, const std::string& b) {
  unsigned diff = a.size() == b.size() ? 0u : 1u;
  for (size_t i = 0; i < a.size(); ++i) diff |= unsigned(a[i] ^ (i < b.size() ? b[i] : 0));
  return diff == 0;
}

// OpenAI's routes answer errors in OpenAI's shape: /v1/..., and /embeddings (TEI serves its
// OpenAI route there too, for clients whose base URL has no /v1).
bool is_openai_path(const std::string& path) {
  return path.rfind("/v1/", 0) == 0 || path == "/embeddings";
}

}  // namespace

void Router::add(const std::string& method, const std::string& path, Handler handler,
                 bool needs_auth, bool heavy) {
  routes_[path][method] = Route{std::move(handler), needs_auth, heavy};
}

void Router::set_large_request_pool(LargeRequestPool* pool, size_t large_body_bytes,
                                    int64_t queue_timeout_ms) {
  pool_ = pool;
  large_body_bytes_ = large_body_bytes;
  queue_timeout_ms_ = queue_timeout_ms;
}

bool Router::is_public(const Request& req) const {
  const auto path_it = routes_.find(req.path);
  if (path_it == routes_.end()) return false;
  const auto m = path_it->second.find(req.method);
  return m != path_it->second.end() && !m->second.needs_auth;
}

const Router::Route& Router::checked_route(const Request& req) const {
  // With an API key, a request without it learns nothing of the routes (nor of the model
  // names in /v2/models/...): 401 before 404 / 405, on every route but the public ones.
  if (!api_key_.empty() && !is_public(req) && !same_secret(req.authorization, "Bearer " + api_key_))
    throw HttpError(401, error_type::kValidation,
                    "missing or wrong API key (Authorization: Bearer)");
  const auto path_it = routes_.find(req.path);
  if (path_it == routes_.end())
    throw HttpError(404, error_type::kValidation, "no route " + req.path);
  const auto m = path_it->second.find(req.method);
  if (m == path_it->second.end())
    throw HttpError(405, error_type::kValidation, req.method + " is not allowed on " + req.path);
  if (draining_) throw HttpError(503, error_type::kUnhealthy, "the server is shutting down");
  return m->second;
}

// Every answer is counted under its route, whichever thread it comes from. OpenAI's routes
// answer errors in OpenAI's shape (errors.cc), whatever raised them.
Reply Router::counted_reply(const Request& req, Reply reply) const {
  const auto path_it = routes_.find(req.path);
  const std::string label = path_it != routes_.end() ? req.path : "unmatched";
  // RFC 9110: a 405 names the methods the route takes.
  std::string allow;
  if (path_it != routes_.end())
    for (const auto& [method, route] : path_it->second)
      allow += (allow.empty() ? "" : ", ") + method;
  const bool openai = is_openai_path(req.path);
  return [this, label, openai, allow = std::move(allow), received = req.received,
          tei_method = tei_request_method(req.body), model = req.model_label,
          reply = std::move(reply)](Response r) {
    metrics_.count_request(label, r.status, ms_between(received, Clock::now()) / 1000.0, tei_method,
                           model ? *model : std::string());
    if (r.status == 405 && !allow.empty()) r.headers.emplace_back("Allow", allow);
    reply(openai ? openai_error(std::move(r)) : std::move(r));
  };
}

std::optional<Response> Router::refuse_before_body(const Request& head) const {
  try {
    checked_route(head);
    return std::nullopt;
  } catch (...) {
    std::optional<Response> out;
    counted_reply(
        head, [&out](Response r) { out = std::move(r); })(error_response(std::current_exception()));
    return out;
  }
}

// The handler throws only before it handed `reply` on, so the reply is still ours then. Once
// it returns, the parsed body is gone: the reservation shrinks to what the request holds on.
void Router::run(const Route& route, const Request& req, const Reply& reply) const {
  try {
    route.handler(req, reply);
  } catch (...) {
    reply(error_response(std::current_exception()));
  }
  if (req.memory) {
    try {
      req.memory->settle();
    } catch (...) {  // shrinking never throws; nothing to answer here in any case
    }
  }
}

void Router::dispatch(Request req, Reply reply) const {
  req.model_label = std::make_shared<std::string>();  // the route names the model it used
  Reply counted = counted_reply(req, std::move(reply));
  const Route* route = nullptr;
  try {
    route = &checked_route(req);
    // The body becomes a JSON tree next: its memory is reserved before it is built.
    if (req.memory) req.memory->resize(parse_cost(req.body.size()), "parsing the request body");
  } catch (...) {
    return counted(error_response(std::current_exception()));
  }
  if (!pool_ || (!route->heavy && req.body.size() < large_body_bytes_))
    return run(*route, req, counted);
  auto shared = std::make_shared<Request>(std::move(req));
  LargeRequestPool* pool = pool_;
  // Completions (answer formatting) run on the pool too, then go back to the connection.
  shared->post = [pool](std::function<void()> fn) { pool->post(std::move(fn)); };
  pool_->post([this, route, shared, counted = std::move(counted)] {
    const Request& r = *shared;
    if (r.client_gone && r.client_gone->load())
      return counted(error_response(kClientClosedRequest, error_type::kValidation,
                                    "the client closed the connection"));
    if (queue_timeout_ms_ > 0 &&
        ms_between(r.received, Clock::now()) > static_cast<double>(queue_timeout_ms_))
      return counted(error_response(429, error_type::kOverloaded,
                                    "the request waited past its deadline for a large-request "
                                    "worker (--request-timeout-ms); retry later"));
    run(*route, r, counted);
  });
}

}  // namespace ember::serve
