// HTTP/1.1 over Boost.Beast: one asynchronous session per connection (keep-alive, no thread
// per connection). N I/O threads each run an io_context of their own; the thread that calls
// run() accepts, placing each connection on the I/O thread with the fewest that is not
// computing a batch inline (serve/inline_gate.h), and handles signals and drain. Sessions
// parse, hand the request to the Router, and write the reply whenever it comes back.
// SIGTERM / SIGINT drain: stop accepting, answer 503 to new requests on open connections,
// finish in-flight ones.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "serve/memory_budget.h"
#include "serve/router.h"

namespace ember::serve {

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;  // 0: any free port (see port())
  int threads = 2;       // I/O threads (the acceptor's is extra)
  size_t max_payload_bytes = 2 << 20;
  std::chrono::seconds idle_timeout{60};  // for a request's headers and body to arrive
  MemoryBudget* budget = nullptr;         // request bodies are reserved in it; null: not
  int64_t max_connections = 4096;         // more are closed at once
};

// What one open connection holds at most between requests (its read buffer, the parser, the
// session), measured at ~10 KiB resident: the server sets this much aside per allowed one.
inline constexpr int64_t kConnectionBytes = 16 << 10;

class HttpServer {
 public:
  // Binds and listens (throws ember::Error kUnavailable if the address cannot be used).
  HttpServer(const HttpServerOptions& options, Router& router);
  ~HttpServer();
  uint16_t port() const;
  // Serves until SIGTERM / SIGINT (or drain()) and every in-flight request has been answered.
  void run();
  void drain();  // thread-safe

  struct State;

 private:
  std::unique_ptr<State> state_;
};

}  // namespace ember::serve
