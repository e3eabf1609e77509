#include "serve/router.h"

#include "serve/errors.h"

namespace ember::serve {
namespace {

// Compares without an early exit, so response times do not reveal how much of a key matched.
bool same_secret(const std::string& a, const std::string& b) {
  unsigned diff = a.size() == b.size() ? 0u : 1u;
  for (size_t i = 0; i < a.size(); ++i) diff |= unsigned(a[i] ^ (i < b.size() ? b[i] : 0));
  return diff == 0;
}

}  // namespace

void Router::add(const std::string& method, const std::string& path, Handler handler,
                 bool needs_auth) {
  routes_[path][method] = Route{std::move(handler), needs_auth};
}

bool Router::is_public(const Request& req) const {
  const auto path_it = routes_.find(req.path);
  if (path_it == routes_.end()) return false;
  const auto m = path_it->second.find(req.method);
  return m != path_it->second.end() && !m->second.needs_auth;
}

void Router::dispatch(const Request& req, Reply reply) const {
  const auto path_it = routes_.find(req.path);
  const std::string label = path_it == routes_.end() ? "unmatched" : req.path;
  // Every answer is counted under its route, whichever thread it comes from.
  // /v1 routes answer errors in OpenAI's shape (errors.cc), whatever raised them.
  const bool openai = req.path.rfind("/v1/", 0) == 0;
  Reply counted = [this, label, openai, received = req.received,
                   reply = std::move(reply)](Response r) {
    metrics_.count_request(label, r.status, ms_between(received, Clock::now()) / 1000.0);
    reply(openai ? openai_error(std::move(r)) : std::move(r));
  };
  try {
    // With an API key, a request without it learns nothing of the routes (nor of the model
    // names in /v2/models/...): 401 before 404 / 405, on every route but the public ones.
    if (!api_key_.empty() && !is_public(req) &&
        !same_secret(req.authorization, "Bearer " + api_key_))
      throw HttpError(401, error_type::kValidation,
                      "missing or wrong API key (Authorization: Bearer)");
    if (path_it == routes_.end())
      throw HttpError(404, error_type::kValidation, "no route " + req.path);
    const auto m = path_it->second.find(req.method);
    if (m == path_it->second.end())
      throw HttpError(405, error_type::kValidation, req.method + " is not allowed on " + req.path);
    if (draining_) throw HttpError(503, error_type::kUnhealthy, "the server is shutting down");
    m->second.handler(req, counted);
  } catch (...) {
    // The handler throws only before it handed `counted` on, so the reply is still ours.
    counted(error_response(std::current_exception()));
  }
}

}  // namespace ember::serve
