// KServe v2 (Triton) inference on the served model, shared by the HTTP routes
// (routes_kserve.cc) and the gRPC service (grpc_server.cc): the model's metadata (tensor
// names, types, shapes), and one request's path through tokenization, the result cache and
// the batcher, exactly as /embed's (embed_async / infer_async), so that KServe requests batch
// with TEI and OpenAI ones.
//
// Tensors: input "text" (BYTES, shape [-1] or [-1, 1]); outputs "embedding" (FP32 [-1, dim],
// L2-normalized unless the request parameter "normalize" is false) for embedding models, or
// "logits" and "probabilities" (FP32 [-1, labels]) for sequence classifiers.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "serve/kserve_request.h"
#include "serve/routes.h"

namespace ember::serve::kserve {

inline constexpr std::string_view kServerName = "ember";
inline constexpr std::string_view kServerVersion = "0.1.0";
inline constexpr std::string_view kModelVersion = "1";  // the one version of the one model
inline constexpr std::string_view kPlatform = "ember";
inline constexpr std::string_view kTextInput = "text";
const std::vector<std::string>& server_extensions();

struct TensorMeta {
  std::string name, datatype;
  std::vector<int64_t> shape;  // -1: any size
};

struct ModelMeta {
  std::string name;
  std::vector<TensorMeta> inputs, outputs;
};

// The served model's KServe name: the last component of --model (a cache name or a path).
std::string model_name(const ServeContext& ctx);
// The names a request may use: model_name(), and --model itself when it differs.
std::vector<std::string> model_aliases(const ServeContext& ctx);
ModelMeta model_metadata(const ServeContext& ctx);
// 404 (ErrorKind::kNotFound) unless name is served and version is "" or "1".
void check_model(const ServeContext& ctx, std::string_view name, std::string_view version);

struct OutputTensor {
  std::string name;
  std::vector<int64_t> shape;
  const float* data = nullptr;  // FP32, row-major, element_count(shape) values
  bool binary = false;          // asked for in the binary section (HTTP only)
};
using FormatOutputs = std::function<Response(const std::vector<OutputTensor>&)>;

// Checks the request against the model (400: wrong input name, datatype, shape, unknown
// output; 413: more texts than --max-inputs-per-request; 422: bad parameters), tokenizes on
// this thread, and replies once: format(outputs) on success, an error response otherwise.
// Request parameters: "normalize" (default true), "dimensions", "truncate" (default false),
// "truncation_direction", as /embed takes them.
void infer(const ServeContext& ctx, const Request& transport, Reply reply,
           const InferRequest& request, FormatOutputs format);

}  // namespace ember::serve::kserve
