// Errors are values with a kind. Library code throws ember::Error (include/ember/error.h);
// boundaries (CLI main, server handlers) catch it and map the kind to an exit code or an HTTP
// status, in one place. Here: the helpers that build and throw them.
#pragma once

#include <sstream>
#include <string>

#include "ember/error.h"  // ErrorKind and Error are part of the public API

namespace ember {

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
