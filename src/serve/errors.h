// The one place that turns errors into HTTP statuses and TEI error bodies
// ({"error": ..., "error_type": ...}). Handlers throw; the router and the batcher's
// completions call error_response() at the boundary.
#pragma once

#include <exception>
#include <stdexcept>
#include <string>
#include <string_view>

#include "serve/http_types.h"

namespace ember::serve {

// TEI's ErrorType values, as its OpenAPI schema spells them.
namespace error_type {
inline constexpr std::string_view kUnhealthy = "Unhealthy";
inline constexpr std::string_view kBackend = "Backend";
inline constexpr std::string_view kOverloaded = "Overloaded";
inline constexpr std::string_view kValidation = "Validation";
inline constexpr std::string_view kTokenizer = "Tokenizer";
inline constexpr std::string_view kEmpty = "Empty";
// A request naming a model the server does not serve (OpenAI's code for it).
inline constexpr std::string_view kModelNotFound = "model_not_found";
}  // namespace error_type

// nginx's status for "client closed request": a request dropped because its client left
// (nobody reads it; it keeps such drops out of the 5xx counts).
inline constexpr int kClientClosedRequest = 499;

// An error whose HTTP status is decided by the protocol, not by an ErrorKind: 400 malformed
// JSON, 401, 404, 405, 413.
class HttpError : public std::runtime_error {
 public:
  HttpError(int status, std::string_view type, const std::string& message, int retry_after_s = 0)
      : std::runtime_error(message), status_(status), type_(type), retry_after_s_(retry_after_s) {}
  int status() const noexcept { return status_; }
  std::string_view type() const noexcept { return type_; }
  int retry_after_s() const noexcept { return retry_after_s_; }  // > 0: a Retry-After header

 private:
  int status_;
  std::string_view type_;
  int retry_after_s_;
};

Response error_response(int status, std::string_view type, std::string_view message);

// OpenAI's error shape for /v1 routes: a TEI error response (status >= 400, body
// {"error", "error_type"}) becomes {"error": {"message", "type", "param": null, "code"}} with
// the same status; anything else is returned unchanged. Never throws.
Response openai_error(Response r) noexcept;

// Maps the exception in flight (HttpError, ember::Error, nlohmann::json errors, anything
// else) to a response. Never throws.
Response error_response(std::exception_ptr error) noexcept;

}  // namespace ember::serve
