// The HTTP status -> gRPC code map of the KServe gRPC service (grpc_server.cc): every status
// errors.cc can produce has the code Triton's clients expect for it.
#include <gtest/gtest.h>

#include <grpcpp/support/status_code_enum.h>

#include "serve/grpc_server.h"

namespace ember::serve {
namespace {

TEST(GrpcStatus, ErrorsMapToTheCodesClientsExpect) {
  EXPECT_EQ(grpc_code_for_http_status(200), grpc::StatusCode::OK);
  for (const int s : {400, 413, 422})
    EXPECT_EQ(grpc_code_for_http_status(s), grpc::StatusCode::INVALID_ARGUMENT) << s;
  EXPECT_EQ(grpc_code_for_http_status(401), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(grpc_code_for_http_status(403), grpc::StatusCode::PERMISSION_DENIED);  // no control
  EXPECT_EQ(grpc_code_for_http_status(404), grpc::StatusCode::NOT_FOUND);
  // An unload while requests hold the model (HTTP 409): not until the system's state changes.
  EXPECT_EQ(grpc_code_for_http_status(409), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(grpc_code_for_http_status(507), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(grpc_code_for_http_status(424), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(grpc_code_for_http_status(429), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(grpc_code_for_http_status(503), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(grpc_code_for_http_status(500), grpc::StatusCode::INTERNAL);
}

}  // namespace
}  // namespace ember::serve
