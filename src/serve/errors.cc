#include "serve/errors.h"

#include <cctype>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace ember::serve {
namespace {

struct StatusAndType {
  int status;
  std::string_view type;
};

// ErrorKind -> HTTP, following TEI: validation 422, overloaded 429, backend 424.
StatusAndType classify(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kInvalidInput:
      return {422, error_type::kValidation};
    case ErrorKind::kNotFound:
      return {404, error_type::kValidation};
    case ErrorKind::kUnsupported:  // also /predict or /rerank on a model without the head
      return {424, error_type::kBackend};
    case ErrorKind::kOverloaded:
      return {429, error_type::kOverloaded};
    case ErrorKind::kUnavailable:
      return {503, error_type::kUnhealthy};
    case ErrorKind::kInternal:
      return {500, error_type::kBackend};
  }
  return {500, error_type::kBackend};
}

// OpenAI's error "type" by status (its SDKs pick the exception class by status alone).
std::string_view openai_type(int status) {
  if (status == 401) return "authentication_error";
  if (status == 429) return "rate_limit_error";
  if (status >= 500) return "server_error";
  return "invalid_request_error";
}

}  // namespace

Response openai_error(Response r) noexcept {
  if (r.status < 400) return r;
  try {
    const auto tei = nlohmann::json::parse(r.body, nullptr, /*allow_exceptions=*/false);
    std::string message = r.body, code = "error";
    if (tei.is_object() && tei.contains("error") && tei["error"].is_string()) {
      message = tei["error"].get<std::string>();
      if (tei.contains("error_type") && tei["error_type"].is_string())
        code = tei["error_type"].get<std::string>();
    }
    for (auto& ch : code) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (r.status == 401) code = "invalid_api_key";
    const nlohmann::json body = {{"error",
                                  {{"message", message},
                                   {"type", openai_type(r.status)},
                                   {"param", nullptr},
                                   {"code", code}}}};
    r.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  } catch (...) {
    // Out of memory while re-shaping: keep the TEI body, which is still an error.
  }
  return r;
}

Response error_response(int status, std::string_view type, std::string_view message) {
  Response r;
  r.status = status;
  const nlohmann::json body = {{"error", message}, {"error_type", type}};
  r.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return r;
}

Response error_response(std::exception_ptr error) noexcept {
  try {
    try {
      std::rethrow_exception(error);
    } catch (const HttpError& e) {
      Response r = error_response(e.status(), e.type(), e.what());
      if (e.retry_after_s() > 0)
        r.headers.emplace_back("Retry-After", std::to_string(e.retry_after_s()));
      return r;
    } catch (const Error& e) {
      const auto st = classify(e.kind());
      return error_response(st.status, st.type, e.what());
    } catch (const nlohmann::json::parse_error& e) {
      return error_response(400, error_type::kValidation, cat("malformed JSON: ", e.what()));
    } catch (const nlohmann::json::exception& e) {
      // A well-formed document of the wrong shape, as axum's Json extractor answers it.
      return error_response(422, error_type::kValidation, e.what());
    } catch (const std::bad_alloc&) {
      return error_response(503, error_type::kBackend, "out of memory");
    } catch (const std::exception& e) {
      return error_response(500, error_type::kBackend, e.what());
    } catch (...) {
      return error_response(500, error_type::kBackend, "unknown error");
    }
  } catch (...) {
    Response r;  // building the body itself failed (out of memory): a bare status
    r.status = 500;
    return r;
  }
}

}  // namespace ember::serve
