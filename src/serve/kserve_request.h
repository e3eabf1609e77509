// KServe v2 inference requests, independent of the transport: the tensors of
// POST /v2/models/{m}/infer (JSON, or JSON + binary tensor data) and of gRPC ModelInfer are
// both turned into an InferRequest here or in grpc_service.cc. Only the parsing: no engine,
// no tokenizer, so the fuzz target (fuzz/kserve_infer.cc) links it alone. Every malformed
// request is an HttpError(400) naming the field or byte that is wrong.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace ember::serve::kserve {

struct InputTensor {
  std::string name;
  std::string datatype;  // "BYTES", "FP32", ...
  std::vector<int64_t> shape;
  std::vector<std::string> texts;  // the elements of a BYTES tensor, row-major
};

struct RequestedOutput {
  std::string name;
  bool binary = false;  // "parameters": {"binary_data": true}
};

struct InferRequest {
  std::string id;
  std::vector<InputTensor> inputs;
  std::vector<RequestedOutput> outputs;                  // empty: every output of the model
  nlohmann::json parameters = nlohmann::json::object();  // request-level, as sent
  bool binary_data_output = false;  // every output in the binary section unless named
};

// Product of the dimensions; 400 for a negative dimension or an overflowing product.
int64_t element_count(const std::vector<int64_t>& shape, std::string_view what);

// The binary form of a BYTES tensor: per element a 4-byte little-endian length, then that
// many bytes. 400 if the lengths do not add up to raw.size() exactly.
std::vector<std::string> decode_bytes_elements(std::string_view raw, std::string_view what);

// "Inference-Header-Content-Length": a decimal byte count not larger than body_size.
size_t parse_header_length(std::string_view value, size_t body_size);

// The body of POST .../infer. header_length: the JSON part's length when the request uses the
// binary tensor data extension (then the input tensors with "binary_data_size" are read, in
// order, from the bytes after it, which they must cover exactly).
InferRequest parse_http_infer(std::string_view body, std::optional<size_t> header_length);

}  // namespace ember::serve::kserve
