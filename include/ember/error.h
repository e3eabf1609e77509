// Ember's errors: one exception type with a kind. Every call of the library throws ember::Error
// (never aborts); the kind says what went wrong, the message names the file, key, value or
// input that did.
#pragma once

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

// "invalid_input", "not_found", "unsupported", "overloaded", "unavailable", "internal".
std::string_view error_kind_name(ErrorKind kind);

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  ErrorKind kind() const noexcept { return kind_; }

 private:
  ErrorKind kind_;
};

}  // namespace ember
