// WeightStore over safetensors: F32 in place, F16/BF16/F64 widened exactly, BF16 handed out
// in place by get_bf16() and F16/F32 rounded for it, integer tensors refused by get(),
// misaligned F32 copied, errors naming tensor, shapes and file.
#include "io/weight_store.h"

#include <cmath>

#include <gtest/gtest.h>

#include "io/io_test_util.h"

namespace ember::io {
namespace {

using testing::bytes_of;
using testing::expect_error;
using testing::safetensors_bytes;

class WeightStoreTest : public ::testing::Test {
 protected:
  std::filesystem::path write(const std::string& header, const std::string& data) {
    const auto path = dir_.path() / "model.safetensors";
    testing::write_file(path, safetensors_bytes(header, data));
    return path;
  }
  testing::TempDir dir_;
};

TEST_F(WeightStoreTest, WidensF16AndBF16Exactly) {
  // F16: 1.0, -2.0, 65504 (max), 2^-24 (smallest subnormal); BF16: 1.0, -0.5, 3.0e38ish, pi-ish
  const std::vector<uint16_t> f16 = {0x3c00, 0xc000, 0x7bff, 0x0001};
  const std::vector<uint16_t> bf16 = {0x3f80, 0xbf00, 0x7f7f, 0x4049};
  const auto path = write(R"({"h":{"dtype":"F16","shape":[2,2],"data_offsets":[0,8]},)"
                          R"("b":{"dtype":"BF16","shape":[4],"data_offsets":[8,16]},)"
                          R"("d":{"dtype":"F64","shape":[1],"data_offsets":[16,24]}})",
                          bytes_of(f16) + bytes_of(bf16) + bytes_of(std::vector<double>{0.25}));
  const WeightStore store = WeightStore::from_safetensors(path);
  const Tensor h = store.get("h", Shape{2, 2});
  EXPECT_EQ(h.dtype, DType::kF32);
  EXPECT_EQ(h.f32()[0], 1.0f);
  EXPECT_EQ(h.f32()[1], -2.0f);
  EXPECT_EQ(h.f32()[2], 65504.0f);
  EXPECT_EQ(h.f32()[3], std::ldexp(1.0f, -24));
  const Tensor b = store.get("b", Shape{4});
  EXPECT_EQ(b.f32()[0], 1.0f);
  EXPECT_EQ(b.f32()[1], -0.5f);
  EXPECT_EQ(b.f32()[2], std::ldexp(255.0f / 128.0f, 127));  // 0x7f7f: 1.9921875 * 2^127
  EXPECT_EQ(b.f32()[3], 3.140625f);
  EXPECT_EQ(store.get("d").f32()[0], 0.25f);
  // Widened data is owned and aligned for SIMD loads.
  EXPECT_EQ(reinterpret_cast<uintptr_t>(h.data) % 64, 0u);
}

TEST_F(WeightStoreTest, Bf16ViewsAreInPlaceOrRoundedOnce) {
  // F16: 1.0, 1 + 2^-10 (below half a bf16 step: 1.0), -2.0, 65504; BF16: as stored;
  // F32: 1 + 3 * 2^-8 (a tie, rounds up to 1 + 2^-6).
  const std::vector<uint16_t> f16 = {0x3c00, 0x3c01, 0xc000, 0x7bff};
  const std::vector<uint16_t> bf16 = {0x3f80, 0xbf00};
  const std::vector<float> f32 = {1.0f + 3 * 0x1p-8f};
  std::string header = R"({"h":{"dtype":"F16","shape":[2,2],"data_offsets":[0,8]},)"
                       R"("b":{"dtype":"BF16","shape":[1,2],"data_offsets":[8,12]},)"
                       R"("f":{"dtype":"F32","shape":[1,1],"data_offsets":[12,16]}})";
  header.resize((header.size() + 7) / 8 * 8, ' ');  // data 8-byte aligned in the mapping
  const auto path = write(header, bytes_of(f16) + bytes_of(bf16) + bytes_of(f32));
  WeightStore store = WeightStore::from_safetensors(path);
  EXPECT_TRUE(store.has_half_matrices());
  EXPECT_EQ(store.linear_dtype(), DType::kF32);
  store.set_linear_dtype(DType::kBF16);
  EXPECT_EQ(store.linear_dtype(), DType::kBF16);
  // BF16: the mapped bytes themselves, not a copy.
  EXPECT_EQ(store.get_bf16("b", Shape{1, 2}), store.get_raw("b").data);
  EXPECT_EQ(store.get_raw("b").dtype, DType::kBF16);  // kept as stored
  const uint16_t* h = store.get_bf16("h", Shape{2, 2});
  EXPECT_EQ(h[0], 0x3f80);
  EXPECT_EQ(h[1], 0x3f80);
  EXPECT_EQ(h[2], 0xc000);
  EXPECT_EQ(h[3], 0x4780);                         // 65504 rounds up to 65536
  EXPECT_EQ(h, store.get_bf16("h", Shape{2, 2}));  // converted once
  EXPECT_EQ(store.get_bf16("f", Shape{1, 1})[0], 0x3f82);
  // A conversion is freed (f's 2 bytes); the others and in-place BF16 stay.
  EXPECT_EQ(store.release_conversion(store.get_bf16("f", Shape{1, 1})), 2);
  EXPECT_EQ(store.release_conversion(store.get_raw("b").data), 0);
  EXPECT_EQ(store.get_bf16("h", Shape{2, 2}), h);
  EXPECT_EQ(h[3], 0x4780);
  EXPECT_EQ(store.get_bf16("b", Shape{1, 2}), store.get_raw("b").data);
  EXPECT_EQ(store.get_bf16("f", Shape{1, 1})[0], 0x3f82);  // converted again when asked
  // get() still widens exactly, on demand.
  EXPECT_EQ(store.get("h").f32()[1], 1.0f + 0x1p-10f);
  expect_error([&] { store.get_bf16("h", Shape{4}); }, ErrorKind::kInvalidInput, "'h'");
  expect_error([&] { store.get_bf16("nope", Shape{1}); }, ErrorKind::kNotFound, "'nope'");
  expect_error([&] { store.set_linear_dtype(DType::kF16); }, ErrorKind::kInternal, "F16");
}

// What a model copied (the parts of a fused projection) is handed back: pages of the file
// mapping are paged out (the values stay readable, from the file), conversions freed (and made
// again when asked); owned memory is never paged out, a pointer that is no conversion never
// freed.
TEST_F(WeightStoreTest, CopiedTensorsAreHandedBack) {
  std::vector<float> big(4 * 1024);  // 16 KiB: at least 3 whole pages in the mapping
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<float>(i);
  const std::vector<uint16_t> f16 = {0x3c00, 0xc000};
  std::string header = R"({"big":{"dtype":"F32","shape":[4096],"data_offsets":[0,16384]},)"
                       R"("h":{"dtype":"F16","shape":[2],"data_offsets":[16384,16388]}})";
  header.resize((header.size() + 7) / 8 * 8, ' ');
  WeightStore store = WeightStore::from_safetensors(write(header, bytes_of(big) + bytes_of(f16)));
  const float* mapped = store.get("big").f32();
  const size_t advised = store.page_out_mapped(mapped, big.size() * sizeof(float));
  EXPECT_GE(advised, 3u * 4096);
  EXPECT_LE(advised, big.size() * sizeof(float));
  EXPECT_EQ(mapped[4095], 4095.0f);  // read again from the file
  EXPECT_EQ(store.release_conversion(mapped), 0);

  const float* widened = store.get("h").f32();
  EXPECT_EQ(store.page_out_mapped(widened, 2 * sizeof(float)), 0u);  // owned, not mapped
  EXPECT_EQ(store.release_conversion(widened), 2 * static_cast<int64_t>(sizeof(float)));
  EXPECT_EQ(store.release_conversion(widened), 0);
  EXPECT_EQ(store.get("h").f32()[1], -2.0f);  // converted again
  const uint16_t* rounded = store.get_bf16("big", Shape{4096});
  EXPECT_EQ(store.release_conversion(rounded), 4096 * 2);
}

TEST_F(WeightStoreTest, F32IsZeroCopyWhenAlignedAndCopiedWhenNot) {
  // The header is padded to a multiple of 8, so the data section starts 4-byte aligned:
  // tensor "a" at data offset 0 is aligned, tensor "u" at data offset 9 is not.
  std::string header = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                       R"("u":{"dtype":"F32","shape":[1],"data_offsets":[9,13]}})";
  header.resize((header.size() + 7) / 8 * 8, ' ');
  std::string data(13, '\0');
  const float a0 = 3.5f, a1 = -1.25f, u0 = 42.0f;
  std::memcpy(&data[0], &a0, 4);
  std::memcpy(&data[4], &a1, 4);
  std::memcpy(&data[9], &u0, 4);
  const WeightStore store = WeightStore::from_safetensors(write(header, data));
  const Tensor a = store.get("a", Shape{2});
  const Tensor u = store.get("u", Shape{1});
  EXPECT_EQ(a.f32()[1], -1.25f);
  EXPECT_EQ(u.f32()[0], 42.0f);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(u.data) % alignof(float), 0u);
  // "a" is a view into the mapping, whose start is page aligned.
  EXPECT_EQ(reinterpret_cast<uintptr_t>(a.data) % 4096, 8 + header.size());
}

TEST_F(WeightStoreTest, IntegerTensorsAreKeptButNotReturned) {
  const auto path = write(R"({"embeddings.position_ids":{"dtype":"I64","shape":[1,2],)"
                          R"("data_offsets":[0,16]}})",
                          bytes_of(std::vector<int64_t>{0, 1}));
  const WeightStore store = WeightStore::from_safetensors(path);
  EXPECT_TRUE(store.has("embeddings.position_ids"));
  expect_error([&] { store.get("embeddings.position_ids"); }, ErrorKind::kUnsupported,
               "tensor 'embeddings.position_ids' is I64");
}

TEST_F(WeightStoreTest, MissingTensorAndShapeMismatch) {
  const auto path = write(R"({"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}})",
                          bytes_of(std::vector<float>(6, 1.0f)));
  const WeightStore store = WeightStore::from_safetensors(path);
  expect_error([&] { store.get("x", Shape{1}); }, ErrorKind::kNotFound,
               path.string() + ": missing tensor 'x'");
  expect_error(
      [&] {
        store.get("w", Shape{3, 2});
      },
      ErrorKind::kInvalidInput, path.string() + ": tensor 'w' has shape [2, 3], expected [3, 2]");
  EXPECT_EQ(store.names(), std::vector<std::string>{"w"});
}

TEST_F(WeightStoreTest, ViewsOutliveTheStoreCopyTheyCameFrom) {
  WeightStore copy;
  Tensor t;
  {
    const WeightStore store = WeightStore::from_safetensors(
        write(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
              bytes_of(std::vector<float>{9.f})));
    copy = store;  // shares the mapping
    t = copy.get("w");
  }
  EXPECT_EQ(t.f32()[0], 9.f);
}

TEST(WeightStore, AddOwnedAndView) {
  WeightStore store;
  store.set_origin("mem");
  AlignedBuffer<float> buf(3);
  buf[0] = 1, buf[1] = 2, buf[2] = 3;
  store.add_owned("x", Shape{3}, std::move(buf));
  static const float kView[2] = {4, 5};
  store.add_view("v", Tensor{DType::kF32, Shape{2}, kView});
  EXPECT_EQ(store.get("x", Shape{3}).f32()[2], 3.f);
  EXPECT_EQ(store.get("v").f32(), kView);
  expect_error([&] { store.get("y"); }, ErrorKind::kNotFound, "mem: missing tensor 'y'");
}

}  // namespace
}  // namespace ember::io
