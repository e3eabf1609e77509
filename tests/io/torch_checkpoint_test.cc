// pytorch_model.bin: the restricted pickle reader and the zip container. A hostile pickle is
// refused and runs nothing; corrupt archives, wrong storage sizes, offsets past the end,
// unknown storage types and huge shapes are typed errors.
#include <gtest/gtest.h>

#include <zip.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "io/checkpoint.h"
#include "io/model_dir.h"
#include "io/torch_checkpoint.h"
#include "io/torch_pickle.h"
#include "io_test_util.h"

namespace ember::io {
namespace {
namespace fs = std::filesystem;
using testing::TempDir;

const fs::path kCheckpoints = fs::path(EMBER_SOURCE_DIR) / "tests/fixtures/checkpoints";

std::string int_op(int64_t v) {
  std::string s;
  if (v >= INT32_MIN && v <= INT32_MAX) {
    s += 'J';
    for (int k = 0; k < 4; ++k) s += static_cast<char>((static_cast<uint64_t>(v) >> (8 * k)) & 255);
  } else {
    s += "\x8a\x08";
    for (int k = 0; k < 8; ++k) s += static_cast<char>((static_cast<uint64_t>(v) >> (8 * k)) & 255);
  }
  return s;
}

std::string str_op(const std::string& v) {
  return "X" + int_op(static_cast<int64_t>(v.size())).substr(1) + v;
}

// Protocol-2 bytes of {name: _rebuild_tensor_v2(<storage key "0">, offset, sizes, strides, False,
// OrderedDict())}, as torch.save writes them (without the memo).
std::string tensor_pickle(const std::string& storage_type, int64_t numel, int64_t offset,
                          const std::vector<int64_t>& sizes, const std::vector<int64_t>& strides,
                          const std::string& name = "w") {
  std::string p = "\x80\x02}(" + str_op(name) + "ctorch._utils\n_rebuild_tensor_v2\n((" +
                  str_op("storage") + "c" + storage_type + "\n" + str_op("0") + str_op("cpu") +
                  int_op(numel) + "tQ" + int_op(offset) + "(";
  for (int64_t s : sizes) p += int_op(s);
  p += "t(";
  for (int64_t s : strides) p += int_op(s);
  p += "t\x89"
       "ccollections\nOrderedDict\n)RtRu.";
  return p;
}

std::span<const uint8_t> bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

void expect_error(const std::string& pickle, ErrorKind kind, const std::string& needle) {
  try {
    parse_torch_pickle(bytes(pickle), "test.pkl");
    ADD_FAILURE() << "no error; expected one mentioning " << needle;
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), kind) << e.what();
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

// A stored zip of the given members (minizip's writer).
void write_zip(const fs::path& path, const std::vector<std::pair<std::string, std::string>>& m) {
  zipFile z = zipOpen64(path.c_str(), APPEND_STATUS_CREATE);
  ASSERT_NE(z, nullptr);
  for (const auto& [name, data] : m) {
    zip_fileinfo info{};
    ASSERT_EQ(
        zipOpenNewFileInZip64(z, name.c_str(), &info, nullptr, 0, nullptr, 0, nullptr, 0, 0, 0),
        ZIP_OK);
    ASSERT_EQ(zipWriteInFileInZip(z, data.data(), static_cast<unsigned>(data.size())), ZIP_OK);
    ASSERT_EQ(zipCloseFileInZip(z), ZIP_OK);
  }
  ASSERT_EQ(zipClose(z, nullptr), ZIP_OK);
}

std::string floats(const std::vector<float>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
}

ErrorKind load_error(const fs::path& path, std::string& message) {
  try {
    load_checkpoint(Checkpoint{
        path.extension() == ".json" ? CheckpointFormat::kTorchSharded : CheckpointFormat::kTorch,
        path});
  } catch (const Error& e) {
    message = e.what();
    return e.kind();
  }
  message = "no error";
  return ErrorKind::kInternal;
}

TEST(TorchPickle, ReadsAStateDictItBuilds) {
  const auto p = parse_torch_pickle(
      bytes(tensor_pickle("torch\nFloatStorage", 12, 2, {2, 5}, {5, 1})), "test.pkl");
  ASSERT_EQ(p.tensors.size(), 1u);
  const auto& t = p.tensors.at("w");
  EXPECT_EQ(t.storage_key, "0");
  EXPECT_EQ(t.dtype, DType::kF32);
  EXPECT_EQ(t.storage_offset, 2);
  EXPECT_EQ(t.shape, (std::vector<int64_t>{2, 5}));
  EXPECT_EQ(p.storages.at("0").numel, 12);
}

TEST(TorchPickle, MaliciousFixtureIsRefusedAndRunsNothing) {
  const fs::path marker = "/tmp/ember-malicious-pickle-ran";
  fs::remove(marker);
  std::string message;
  EXPECT_EQ(load_error(kCheckpoints / "malicious" / "pytorch_model.bin", message),
            ErrorKind::kUnsupported);
  EXPECT_NE(message.find("refused global 'posix.system'"), std::string::npos) << message;
  EXPECT_FALSE(fs::exists(marker));
}

TEST(TorchPickle, RefusesEveryOtherGlobalAndObjectOpcode) {
  expect_error(
      "\x80\x02"
      "cbuiltins\neval\n.",
      ErrorKind::kUnsupported, "'builtins.eval'");
  expect_error("\x80\x02" + str_op("os") + str_op("system") + "\x93.", ErrorKind::kUnsupported,
               "'os.system'");
  expect_error(tensor_pickle("torch\nQInt8Storage", 4, 0, {4}, {1}), ErrorKind::kUnsupported,
               "torch.QInt8Storage");
  expect_error("\x80\x02)\x81.", ErrorKind::kInvalidInput, "opcode 0x81");  // NEWOBJ
  expect_error("\x80\x02(i\n.", ErrorKind::kInvalidInput, "opcode 0x69");   // INST
}

TEST(TorchPickle, TensorsMustFitTheirStorage) {
  expect_error(tensor_pickle("torch\nFloatStorage", 6, 5, {2, 3}, {3, 1}), ErrorKind::kInvalidInput,
               "runs past its storage");
  expect_error(tensor_pickle("torch\nFloatStorage", 6, 0, {int64_t{1} << 40, int64_t{1} << 40},
                             {int64_t{1} << 40, 1}),
               ErrorKind::kInvalidInput, "overflows");
  expect_error(tensor_pickle("torch\nFloatStorage", 6, 0, {-2, 3}, {3, 1}),
               ErrorKind::kInvalidInput, "negative size");
  expect_error(tensor_pickle("torch\nFloatStorage", 64, 0, {2, 2, 2, 2, 2}, {16, 8, 4, 2, 1}),
               ErrorKind::kUnsupported, "rank 5");
  expect_error(tensor_pickle("torch\nFloatStorage", 6, 0, {2, 3}, {1, 2}), ErrorKind::kUnsupported,
               "row-major");
}

TEST(TorchPickle, MalformedPicklesAreTypedErrors) {
  const std::string good = tensor_pickle("torch\nFloatStorage", 6, 0, {2, 3}, {3, 1});
  for (size_t n = 0; n < good.size(); ++n) {
    try {
      parse_torch_pickle(bytes(good.substr(0, n)), "cut.pkl");
      ADD_FAILURE() << "a pickle cut at " << n << " bytes parsed";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kInvalidInput) << e.what();
    }
  }
  expect_error(
      "\x80\x02"
      "0.",
      ErrorKind::kInvalidInput, "stack underflow");
  expect_error("\x80\x02h\x07.", ErrorKind::kInvalidInput, "memo index 7");
  expect_error(
      "\x80\x02"
      "K\x01.",
      ErrorKind::kUnsupported, "not a state dict");
  expect_error("\x80\x02}" + str_op("k") + "K\x01s.", ErrorKind::kUnsupported,
               "'k' is not a tensor");
}

TEST(TorchCheckpoint, StorageSizeMustMatchThePickle) {
  TempDir dir;
  const fs::path path = dir.path() / "pytorch_model.bin";
  write_zip(path, {{"archive/data.pkl", tensor_pickle("torch\nFloatStorage", 6, 0, {2, 3}, {3, 1})},
                   {"archive/byteorder", "little"},
                   {"archive/data/0", floats({1, 2, 3, 4, 5})}});
  std::string message;
  EXPECT_EQ(load_error(path, message), ErrorKind::kInvalidInput);
  EXPECT_NE(message.find("storage '0' has 20 bytes"), std::string::npos) << message;
}

TEST(TorchCheckpoint, LoadsAHandWrittenArchive) {
  TempDir dir;
  const fs::path path = dir.path() / "pytorch_model.bin";
  write_zip(path, {{"archive/data.pkl", tensor_pickle("torch\nFloatStorage", 7, 1, {2, 3}, {3, 1})},
                   {"archive/byteorder", "little"},
                   {"archive/data/0", floats({9, 1, 2, 3, 4, 5, 6})}});
  const WeightStore store = load_torch_checkpoint(path);
  const Tensor t = store.get("w", Shape{2, 3});
  EXPECT_EQ(t.f32()[0], 1.0f);
  EXPECT_EQ(t.f32()[5], 6.0f);
}

TEST(TorchCheckpoint, MissingStorageAndBigEndianAreRefused) {
  TempDir dir;
  const fs::path path = dir.path() / "pytorch_model.bin";
  write_zip(path,
            {{"archive/data.pkl", tensor_pickle("torch\nFloatStorage", 6, 0, {2, 3}, {3, 1})}});
  std::string message;
  EXPECT_EQ(load_error(path, message), ErrorKind::kInvalidInput);
  EXPECT_NE(message.find("archive/data/0"), std::string::npos) << message;
  fs::remove(path);
  write_zip(path, {{"archive/data.pkl", tensor_pickle("torch\nFloatStorage", 6, 0, {2, 3}, {3, 1})},
                   {"archive/byteorder", "big"}});
  EXPECT_EQ(load_error(path, message), ErrorKind::kUnsupported);
}

TEST(TorchCheckpoint, TruncatedArchivesAreTypedErrors) {
  TempDir dir;
  const fs::path src = kCheckpoints / "tiny-bert-st6" / "pytorch" / "pytorch_model.bin";
  std::ifstream in(src, std::ios::binary);
  const std::string all((std::istreambuf_iterator<char>(in)), {});
  const fs::path path = dir.path() / "pytorch_model.bin";
  for (size_t keep : {size_t{0}, size_t{10}, all.size() / 3, all.size() - 30}) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << all.substr(0, keep);
    std::string message;
    EXPECT_EQ(load_error(path, message), ErrorKind::kInvalidInput) << keep << ": " << message;
  }
}

TEST(TorchCheckpoint, LegacyFormatIsUnsupported) {
  TempDir dir;
  const fs::path path = dir.path() / "pytorch_model.bin";
  std::ofstream(path, std::ios::binary) << "\x80\x02\x8a\x0a";
  std::string message;
  EXPECT_EQ(load_error(path, message), ErrorKind::kUnsupported);
  EXPECT_NE(message.find("legacy"), std::string::npos) << message;
}

TEST(ShardedCheckpoint, IndexMustNameShardsBesideIt) {
  TempDir dir;
  const fs::path index = dir.path() / "pytorch_model.bin.index.json";
  std::ofstream(index) << R"({"weight_map": {"w": "../../etc/passwd.bin"}})";
  std::string message;
  EXPECT_EQ(load_error(index, message), ErrorKind::kInvalidInput);
  EXPECT_NE(message.find("not a plain file name"), std::string::npos) << message;

  fs::copy_file(kCheckpoints / "tiny-bert-st6" / "pytorch" / "pytorch_model.bin",
                dir.path() / "shard.bin");
  std::ofstream(index, std::ios::trunc) << R"({"weight_map": {"nope": "shard.bin"}})";
  EXPECT_EQ(load_error(index, message), ErrorKind::kInvalidInput);
  EXPECT_NE(message.find("'nope' is not in its shard"), std::string::npos) << message;
  std::ofstream(index, std::ios::trunc) << R"({"weight_map": []})";
  EXPECT_EQ(load_error(index, message), ErrorKind::kInvalidInput);
}

TEST(ShardedCheckpoint, ShardsLoadAsOneStore) {
  const WeightStore sharded = load_sharded(kCheckpoints / "tiny-bert-st6" / "pytorch-sharded" /
                                           "pytorch_model.bin.index.json");
  const WeightStore single =
      load_torch_checkpoint(kCheckpoints / "tiny-bert-st6" / "pytorch" / "pytorch_model.bin");
  const WeightStore st = load_sharded(kCheckpoints / "tiny-bert-st6" / "safetensors-sharded" /
                                      "model.safetensors.index.json");
  EXPECT_EQ(sharded.names(), single.names());
  EXPECT_EQ(sharded.parameter_count(), single.parameter_count());
  EXPECT_EQ(st.parameter_count(), single.parameter_count());
  for (const auto& name : single.names()) {
    const Tensor a = single.get_raw(name), b = sharded.get_raw(name);
    ASSERT_EQ(a.nbytes(), b.nbytes()) << name;
    EXPECT_EQ(std::memcmp(a.data, b.data, a.nbytes()), 0) << name;
  }
}

TEST(ModelDir, FindsEveryCheckpointFormat) {
  TempDir dir;
  std::ofstream(dir.path() / "config.json") << "{}";
  EXPECT_THROW(resolve_model(dir.path().string()), Error);
  std::ofstream(dir.path() / "tf_model.h5") << "x";
  EXPECT_EQ(resolve_model(dir.path().string()).checkpoint->format, CheckpointFormat::kKerasH5);
  std::ofstream(dir.path() / "pytorch_model.bin") << "x";
  EXPECT_EQ(resolve_model(dir.path().string()).checkpoint->format, CheckpointFormat::kTorch);
  std::ofstream(dir.path() / "model.safetensors.index.json") << "x";
  EXPECT_EQ(resolve_model(dir.path().string()).checkpoint->format,
            CheckpointFormat::kSafetensorsSharded);
}

}  // namespace
}  // namespace ember::io
