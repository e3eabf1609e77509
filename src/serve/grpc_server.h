// KServe v2 gRPC (inference.GRPCInferenceService: ServerLive, ServerReady, ModelReady,
// ServerMetadata, ModelMetadata, ModelInfer) on its own port, beside the HTTP server. It shares
// the ServeContext (engine, batcher, cache, metrics) with the HTTP routes, the router's
// draining flag (UNAVAILABLE once SIGTERM arrived) and the API key ("authorization: Bearer"
// metadata). Errors go through errors.cc's one map to an HTTP status, then to a gRPC code.
// gRPC's own headers stay in grpc_server.cc.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "serve/routes.h"

namespace ember::serve {

struct GrpcServerOptions {
  std::string host = "127.0.0.1";
  int port = 8001;  // 0: off (the caller does not construct the server)
  size_t max_message_bytes = 2 << 20;
  std::string api_key;
};

class GrpcServer {
 public:
  // Binds and starts serving (throws ember::Error kUnavailable if the port cannot be used).
  GrpcServer(const GrpcServerOptions& options, const ServeContext& ctx, const Router& router);
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
