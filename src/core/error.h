// Errors are values with a kind. Library code throws ember::Error; boundaries (CLI main,
// server handlers) catch it and map the kind to an exit code or an HTTP status, in one place.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>

namespace ember {

enum class ErrorKind {
  kInvalidInput,  // the caller's data is wrong: bad file, bad JSON, bad flag, bad UTF-8
  kNotFound,      // a model, file or tensor that does not exist
  kUnsupported,   // valid but not handled: unknown architecture, tokenizer component, dtype
  kOverloaded,    // a queue or limit is full; retry later
  kUnavailable,   // shutting down or not ready
  kInternal,      // a bug in Ember
};

std::string_view error_kind_name(ErrorKind kind);

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  ErrorKind kind() const noexcept { return kind_; }

 private:
  ErrorKind kind_;
};

// cat("a", 1, 'b') -> "a1b": message building without <format> (not in g++ 12).
template <typename... Args>
std::string cat(const Args&... args) {
  std::ostringstream out;
  (out << ... << args);
  return out.str();
}

template <typename... Args>
[[noreturn]] void fail(ErrorKind kind, const Args&... args) {
  throw Error(kind, cat(args...));
}

#define EMBER_CHECK(cond, kind, ...)               \
  do {                                             \
    if (!(cond)) ::ember::fail(kind, __VA_ARGS__); \
  } while (0)

}  // namespace ember
