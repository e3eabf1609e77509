// The KServe v2 infer-request parser (serve/kserve_request.cc) alone: JSON and binary tensor
// data bodies as tritonclient builds them, random round trips, and malformed bodies (every
// truncation of a valid binary request, wrong lengths) that must be 400s, never crashes.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "serve/errors.h"
#include "serve/kserve_request.h"

namespace ember::serve::kserve {
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

int status_of(std::string_view body, std::optional<size_t> header_length) {
  try {
    parse_http_infer(body, header_length);
    return 200;
  } catch (const HttpError& e) {
    return e.status();
  } catch (const nlohmann::json::parse_error&) {
    return 400;
  }
}

TEST(KserveRequest, JsonBytesInputOutputsAndParameters) {
  const auto req = parse_http_infer(
      R"({"id":"r1","inputs":[{"name":"text","shape":[2,1],"datatype":"BYTES",
          "data":[["a"],["b c"]]}],"outputs":[{"name":"embedding","parameters":{"binary_data":true}}],
          "parameters":{"normalize":false}})",
      std::nullopt);
  EXPECT_EQ(req.id, "r1");
  ASSERT_EQ(req.inputs.size(), 1u);
  EXPECT_EQ(req.inputs[0].texts, (std::vector<std::string>{"a", "b c"}));
  EXPECT_EQ(req.inputs[0].shape, (std::vector<int64_t>{2, 1}));
  ASSERT_EQ(req.outputs.size(), 1u);
  EXPECT_TRUE(req.outputs[0].binary);
  EXPECT_EQ(req.parameters["normalize"], false);
}

TEST(KserveRequest, RandomBinaryRoundTrips) {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 200; ++trial) {
    std::vector<std::string> texts(rng() % 6 + 1);
    for (auto& t : texts) {
      t.resize(rng() % 40);
      for (auto& c : t) c = static_cast<char>(rng() % 256);  // any bytes, NULs included
    }
    const auto raw = encode(texts);
    const std::string header =
        R"({"inputs":[{"name":"text","datatype":"BYTES","shape":[)" + std::to_string(texts.size()) +
        R"(],"parameters":{"binary_data_size":)" + std::to_string(raw.size()) +
        R"(}}],"parameters":{"binary_data_output":true}})";
    const auto req = parse_http_infer(header + raw, header.size());
    ASSERT_EQ(req.inputs.size(), 1u);
    EXPECT_EQ(req.inputs[0].texts, texts);
    EXPECT_TRUE(req.binary_data_output);
    EXPECT_EQ(decode_bytes_elements(raw, "x"), texts);
  }
}

TEST(KserveRequest, EveryTruncationOfABinaryRequestIs400) {
  const auto raw = encode({"hello", "", "w\xc3\xb6rld"});
  const std::string header =
      R"({"inputs":[{"name":"text","datatype":"BYTES","shape":[3],"parameters":{"binary_data_size":)" +
      std::to_string(raw.size()) + "}}]}";
  const std::string body = header + raw;
  ASSERT_EQ(status_of(body, header.size()), 200);
  for (size_t cut = 0; cut < body.size(); ++cut) {
    const std::string_view part(body.data(), cut);
    EXPECT_EQ(status_of(part, std::min(header.size(), cut)), 400) << cut;
  }
  EXPECT_EQ(status_of(body + "x", header.size()), 400);  // bytes after the last tensor
}

TEST(KserveRequest, MalformedRequestsAre400) {
  const std::vector<std::string> bad = {
      "[]",
      "{}",
      R"({"inputs":[]})",
      R"({"inputs":[{"name":"text","datatype":"BYTES","shape":[2],"data":["one"]}]})",
      R"({"inputs":[{"name":"text","datatype":"BYTES","shape":[-1],"data":[]}]})",
      R"({"inputs":[{"name":"text","datatype":"BYTES","shape":[1],"data":[5]}]})",
      R"({"inputs":[{"name":7,"datatype":"BYTES","shape":[1],"data":["a"]}]})",
      R"({"inputs":[{"name":"text","datatype":"BYTES","shape":"1","data":["a"]}]})",
      R"({"inputs":[{"name":"text","datatype":"BYTES","shape":[1]}]})",
      R"({"inputs":[{"name":"text","datatype":"FP32","shape":[3],"data":[1,2]}]})",
      R"({"inputs":[{"name":"text","datatype":"BYTES","shape":[1],"data":["a"]}],"id":3})",
      R"({"inputs":[{"name":"text","datatype":"BYTES","shape":[1],"data":["a"]}],"outputs":{}})",
      R"({"inputs":[{"name":"text","datatype":"BYTES","shape":[1],"parameters":{"binary_data_size":4}}]})",
      R"({"inputs":[{"name":"text","datatype":"BYTES","shape":[4611686018427387904,4]}],"data":[]})",
      R"({"inputs": [)",
      R"({"inputs":[], "id": 22E222229222222222222222})",  // nlohmann: number overflow
  };
  for (const auto& b : bad) EXPECT_EQ(status_of(b, std::nullopt), 400) << b;
  EXPECT_THROW(parse_header_length("12a", 100), HttpError);
  EXPECT_THROW(parse_header_length("101", 100), HttpError);
  EXPECT_EQ(parse_header_length("100", 100), 100u);
  // An element length that runs past the end.
  EXPECT_THROW(decode_bytes_elements(std::string("\x09\x00\x00\x00"
                                                 "abc",
                                                 7),
                                     "x"),
               HttpError);
  EXPECT_THROW(decode_bytes_elements(std::string("\x01\x00", 2), "x"), HttpError);
}

}  // namespace
}  // namespace ember::serve::kserve
