// KServe v2 gRPC (inference.GRPCInferenceService: ServerLive, ServerReady, ModelReady,
// ServerMetadata, ModelMetadata, ModelInfer, and Triton's RepositoryIndex, RepositoryModelLoad,
// RepositoryModelUnload with HTTP's rules, serve/model_control.h) on its own port, beside the HTTP
// server. It shares the ServeContext (engine, batcher, cache, metrics, memory budget, large-request
// pool) with the HTTP routes, the router's draining flag (UNAVAILABLE once SIGTERM arrived) and the
// API key ("authorization: Bearer" metadata). Errors go through errors.cc's one map to an HTTP
// status, then to a gRPC code. gRPC's own headers stay in grpc_server.cc.
//
// Limits as HTTP's: a ModelInfer reserves its memory in the budget before it is tokenized
// (RESOURCE_EXHAUSTED when it does not fit), large messages are tokenized on the large-request
// pool (so tokenization runs on at most that many threads, plus the handler threads for small
// ones), a call whose deadline has passed or that the client cancelled is not computed, and
// handler threads are bounded (max_threads).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "serve/routes.h"
#include "serve/served_model.h"

namespace ember::serve {

struct GrpcServerOptions {
  std::string host = "127.0.0.1";
  int port = 8001;  // 0: off (the caller does not construct the server)
  size_t max_message_bytes = 2 << 20;
  std::string api_key;
  int max_threads = 64;  // handler threads; calls beyond get RESOURCE_EXHAUSTED from gRPC
  bool allow_model_control = false;  // RepositoryModelLoad / Unload (PERMISSION_DENIED off)
};

class GrpcServer {
 public:
  // Binds and starts serving (throws ember::Error kUnavailable if the port cannot be used).
  GrpcServer(const GrpcServerOptions& options, const ServedModels& models, const Router& router);
  ~GrpcServer();
  int port() const;
  // Waits for the RPCs in flight (at most `grace`; then they are cancelled), then stops.
  // Idempotent.
  void shutdown(std::chrono::milliseconds grace = std::chrono::seconds(30));

  struct State;

 private:
  std::unique_ptr<State> state_;
};

// The gRPC code for an HTTP status of errors.cc (400 -> INVALID_ARGUMENT, 404 -> NOT_FOUND,
// 429 -> RESOURCE_EXHAUSTED, 503 -> UNAVAILABLE, ...), as an int (grpc::StatusCode).
int grpc_code_for_http_status(int status);

}  // namespace ember::serve
