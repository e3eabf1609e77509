// HTTP/1.1 over Boost.Beast: one asynchronous session per connection (keep-alive, no thread
// per connection). N I/O threads each run an io_context of their own; the thread that calls
// run() accepts, placing each connection on the I/O thread with the fewest that is not
// computing a batch inline (serve/inline_gate.h), and handles signals and drain. Sessions
// parse, hand the request to the Router, and write the reply whenever it comes back.
//
// Signals (docs/security.md): SIGTERM, SIGINT and SIGHUP drain: stop accepting, answer 503 to
// new requests on open connections, finish in-flight ones. A second one of them during the
// drain, or the drain outlasting drain_timeout, cuts it short: every request still waiting
// for its answer gets 503 at once (the batcher drops it before compute), idle connections are
// closed, and run() returns with complete = false. (SIGPIPE and SIGUSR1/2 are ignored by
// `ember serve`, cli/cmd_serve.cc.)
//
// Descriptors: at most max_connections connections are open at once; at that limit the
// acceptor closes connections that wait for a request (those that never sent one first, then
// the longest idle) and pauses, and at EMFILE/ENFILE it refuses pending connections with a
// reserved descriptor and pauses (serve/descriptor_reserve.h), so it never spins and open
// connections keep being served.
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
  std::chrono::seconds idle_timeout{60};       // for a request's headers and body to arrive
  MemoryBudget* budget = nullptr;              // request bodies are reserved in it; null: not
  std::chrono::milliseconds drain_timeout{0};  // 0: the drain waits for every request
  size_t max_connections = 0;                  // 0: default_max_connections()
  bool cache_header = false;                   // send x-cache (hit / miss / partial)
};

// How run() ended.
struct DrainOutcome {
  bool complete = true;  // every request was answered (false: cut short)
  int signal = 0;        // the signal that cut it short (0: none, or drain_timeout)
  int unanswered = 0;    // requests answered 503 when it was cut short
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
  // Serves until a signal (or drain()), then drains as above.
  DrainOutcome run();
  void drain();  // thread-safe

  struct State;

 private:
  std::unique_ptr<State> state_;
};

}  // namespace ember::serve
