// libFuzzer: the KServe v2 infer-request parser (serve/kserve_request.cc) on arbitrary bytes,
// with and without the binary tensor data extension. The first two bytes pick the
// Inference-Header-Content-Length (or none); only the parser's HttpError (a 400) and
// nlohmann's parse errors (also a 400, errors.cc) may escape. A request that parses must
// hold the invariants the inference path relies on: every BYTES tensor has exactly as many
// elements as its shape says, and re-encoding its elements gives bytes that decode the same.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "serve/errors.h"
#include "serve/kserve_request.h"

namespace ks = ember::serve::kserve;

namespace {

std::string encode(const std::vector<std::string>& elements) {
  std::string out;
  for (const auto& e : elements) {
    const auto n = static_cast<uint32_t>(e.size());
    for (int b = 0; b < 4; ++b) out += static_cast<char>((n >> (8 * b)) & 0xff);
    out += e;
  }
  return out;
}

void check(const ks::InferRequest& req) {
  for (const auto& in : req.inputs) {
    if (in.datatype != "BYTES") continue;
    if (static_cast<int64_t>(in.texts.size()) != ks::element_count(in.shape, in.name)) abort();
    if (ks::decode_bytes_elements(encode(in.texts), in.name) != in.texts) abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const unsigned selector = data[0] | unsigned(data[1]) << 8;
  const std::string_view body(reinterpret_cast<const char*>(data + 2), size - 2);
  try {
    std::optional<size_t> header_length;
    if (selector != 0xffff)
      header_length = ks::parse_header_length(std::to_string(selector), body.size());
    check(ks::parse_http_infer(body, header_length));
  } catch (const ember::serve::HttpError& e) {
    if (e.status() != 400) abort();
  } catch (const nlohmann::json::parse_error&) {
  }
  try {
    (void)ks::decode_bytes_elements(body, "fuzz");
  } catch (const ember::serve::HttpError&) {
  }
  return 0;
}
