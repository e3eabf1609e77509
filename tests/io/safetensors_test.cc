// SafetensorsFile: valid files parse into views of the bytes; every lie in the header is an
// ember::Error(kInvalidInput) naming the file and the tensor.
#include "io/safetensors.h"

#include <cstring>

#include <gtest/gtest.h>

#include "io/io_test_util.h"

namespace ember::io {
namespace {

using testing::bytes_of;
using testing::expect_error;
using testing::safetensors_bytes;

// Views may be unaligned for their dtype (see safetensors.h): read through memcpy.
float f32_at(const Tensor& t, size_t i) {
  float v;
  std::memcpy(&v, static_cast<const uint8_t*>(t.data) + 4 * i, 4);
  return v;
}

SafetensorsFile parse_str(const std::string& bytes) {
  return SafetensorsFile::parse({reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()},
                                "t.safetensors");
}

TEST(Safetensors, ParsesValidFileWithMetadata) {
  const std::string data = bytes_of(std::vector<float>{1.f, 2.f, 3.f, 4.f, 5.f, 6.f}) +
                           bytes_of(std::vector<uint16_t>{0x3c00, 0xc000});
  const std::string bytes =
      safetensors_bytes(R"({"__metadata__":{"format":"pt"},)"
                        R"("a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},)"
                        R"("b":{"dtype":"F16","shape":[2],"data_offsets":[24,28]}})",
                        data);
  const SafetensorsFile st = parse_str(bytes);
  ASSERT_EQ(st.tensors().size(), 2u);
  EXPECT_EQ(st.metadata().at("format"), "pt");
  const Tensor& a = st.get("a");
  EXPECT_EQ(a.dtype, DType::kF32);
  EXPECT_EQ(a.shape, (Shape{2, 3}));
  EXPECT_EQ(f32_at(a, 5), 6.f);
  // The view points into the caller's bytes: zero copy.
  EXPECT_EQ(static_cast<const void*>(a.data), bytes.data() + bytes.size() - data.size());
  EXPECT_EQ(st.get("b").dtype, DType::kF16);
  EXPECT_EQ(st.get("b").shape, (Shape{2}));
}

TEST(Safetensors, ScalarAndEmptyTensors) {
  const std::string bytes =
      safetensors_bytes(R"({"s":{"dtype":"F32","shape":[],"data_offsets":[0,4]},)"
                        R"("e":{"dtype":"F32","shape":[0,5],"data_offsets":[4,4]}})",
                        bytes_of(std::vector<float>{7.f}));
  const SafetensorsFile st = parse_str(bytes);
  EXPECT_EQ(st.get("s").numel(), 1);
  EXPECT_EQ(st.get("e").numel(), 0);
}

TEST(Safetensors, MissingTensorIsNotFound) {
  const SafetensorsFile st = parse_str(safetensors_bytes("{}", ""));
  expect_error([&] { st.get("x"); }, ErrorKind::kNotFound, "t.safetensors: missing tensor 'x'");
}

TEST(Safetensors, EmptyAndTruncatedFiles) {
  expect_error([] { parse_str(""); }, ErrorKind::kInvalidInput, "too short (0 bytes)");
  expect_error([] { parse_str("abc"); }, ErrorKind::kInvalidInput, "too short (3 bytes)");
  // The data section ends before the tensor does.
  const std::string full =
      safetensors_bytes(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})",
                        bytes_of(std::vector<float>{1, 2, 3, 4}));
  expect_error([&] { parse_str(full.substr(0, full.size() - 4)); }, ErrorKind::kInvalidInput,
               "tensor 'a': data_offsets [0, 16] are outside the data section of 12 bytes");
}

TEST(Safetensors, HeaderLengthPastEndOrAbsurd) {
  std::string bytes = safetensors_bytes("{}", "");
  bytes[0] = 100;  // claims a 100-byte header in a 10-byte file
  expect_error([&] { parse_str(bytes); }, ErrorKind::kInvalidInput,
               "header length 100 runs past the end of the file");
  std::string huge(16, ' ');
  huge[7] = 0x7f;  // ~9e18 bytes
  expect_error([&] { parse_str(huge); }, ErrorKind::kInvalidInput, "exceeds the limit");
}

TEST(Safetensors, HeaderMustBeJsonObject) {
  expect_error([] { parse_str(safetensors_bytes("{not json", "")); }, ErrorKind::kInvalidInput,
               "header is not valid JSON");
  expect_error([] { parse_str(safetensors_bytes("[1,2]", "")); }, ErrorKind::kInvalidInput,
               "header must be a JSON object");
  expect_error([] { parse_str(safetensors_bytes(R"({"a":3})", "")); }, ErrorKind::kInvalidInput,
               "tensor 'a': entry must be an object");
  expect_error([] { parse_str(safetensors_bytes(R"({"__metadata__":{"k":1}})", "")); },
               ErrorKind::kInvalidInput, "__metadata__ value for 'k' must be a string");
}

TEST(Safetensors, UnknownDtype) {
  expect_error(
      [] {
        parse_str(
            safetensors_bytes(R"({"a":{"dtype":"Q4","shape":[1],"data_offsets":[0,1]}})", "x"));
      },
      ErrorKind::kInvalidInput, "t.safetensors: tensor 'a': unknown dtype 'Q4'");
  expect_error(
      [] {
        parse_str(
            safetensors_bytes(R"({"a":{"dtype":"U32","shape":[1],"data_offsets":[0,4]}})", "xxxx"));
      },
      ErrorKind::kUnsupported, "dtype U32 is not supported");
}

TEST(Safetensors, BadShapes) {
  for (const char* shape : {R"("3")", "[-1]", "[1.5]", R"(["2"])", "[1e2]"}) {
    const std::string header =
        std::string(R"({"a":{"dtype":"F32","shape":)") + shape + R"(,"data_offsets":[0,4]}})";
    expect_error([&] { parse_str(safetensors_bytes(header, "xxxx")); }, ErrorKind::kInvalidInput,
                 "tensor 'a': 'shape' must be a list of non-negative integers");
  }
  // 2^32 * 2^32 elements overflows int64.
  expect_error(
      [] {
        parse_str(safetensors_bytes(
            R"({"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}})",
            "xxxx"));
      },
      ErrorKind::kInvalidInput, "tensor 'a': number of elements overflows");
}

TEST(Safetensors, OffsetsLie) {
  const std::string data = bytes_of(std::vector<float>{1, 2, 3, 4});
  // end before begin
  expect_error(
      [&] {
        parse_str(
            safetensors_bytes(R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[8,4]}})", data));
      },
      ErrorKind::kInvalidInput, "tensor 'a': data_offsets [8, 4]: begin is after end");
  // not a pair
  expect_error(
      [&] {
        parse_str(
            safetensors_bytes(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0]}})", data));
      },
      ErrorKind::kInvalidInput, "tensor 'a': 'data_offsets' must be [begin, end]");
  // past the end of the data
  expect_error(
      [&] {
        parse_str(
            safetensors_bytes(R"({"a":{"dtype":"F32","shape":[8],"data_offsets":[0,32]}})", data));
      },
      ErrorKind::kInvalidInput, "outside the data section of 16 bytes");
  // wrong byte length for the shape: 3 floats need 12 bytes, not 16
  expect_error(
      [&] {
        parse_str(
            safetensors_bytes(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,16]}})", data));
      },
      ErrorKind::kInvalidInput,
      "tensor 'a': data_offsets cover 16 bytes, but shape [3] of F32 needs 12");
}

TEST(Safetensors, OverlappingTensors) {
  const std::string data = bytes_of(std::vector<float>{1, 2, 3, 4});
  expect_error(
      [&] {
        parse_str(safetensors_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                    R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                                    data));
      },
      ErrorKind::kInvalidInput, "tensor 'b': data overlaps tensor 'a'");
  // Adjacent tensors and an empty tensor inside another one are fine.
  EXPECT_NO_THROW(
      parse_str(safetensors_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                  R"("b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]},)"
                                  R"("c":{"dtype":"F32","shape":[0],"data_offsets":[4,4]}})",
                                  data)));
}

TEST(Safetensors, OpenMapsTheFile) {
  testing::TempDir dir;
  const auto path = dir.path() / "m.safetensors";
  testing::write_file(path,
                      safetensors_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
                                        bytes_of(std::vector<float>{1.5f, -2.f})));
  const SafetensorsFile st = SafetensorsFile::open(path);
  EXPECT_EQ(st.origin(), path.string());
  EXPECT_NE(st.mapping(), nullptr);
  EXPECT_EQ(f32_at(st.get("a"), 1), -2.f);
  expect_error([&] { SafetensorsFile::open(dir.path() / "nope.safetensors"); },
               ErrorKind::kNotFound, "no such file");
}

}  // namespace
}  // namespace ember::io
