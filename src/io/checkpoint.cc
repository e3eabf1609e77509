#include "io/checkpoint.h"

#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/keras_h5.h"
#include "io/torch_checkpoint.h"

namespace fs = std::filesystem;

namespace ember::io {
namespace {

constexpr std::pair<const char*, CheckpointFormat> kFiles[] = {
    {"model.safetensors", CheckpointFormat::kSafetensors},
    {"model.safetensors.index.json", CheckpointFormat::kSafetensorsSharded},
    {"pytorch_model.bin", CheckpointFormat::kTorch},
    {"pytorch_model.bin.index.json", CheckpointFormat::kTorchSharded},
    {"tf_model.h5", CheckpointFormat::kKerasH5},
};

// Index files are small; a huge one is not an index.
constexpr std::uintmax_t kMaxIndexBytes = 64ull << 20;

nlohmann::json read_index(const fs::path& index) {
  std::error_code ec;
  const auto size = fs::file_size(index, ec);
  if (ec) fail(ErrorKind::kNotFound, index.string(), ": cannot read the shard index");
  if (size > kMaxIndexBytes)
    fail(ErrorKind::kInvalidInput, index.string(), ": shard index of ", size,
         " bytes is too large");
  std::ifstream in(index, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  nlohmann::json j = nlohmann::json::parse(text.str(), nullptr, false);
  if (j.is_discarded() || !j.is_object())
    fail(ErrorKind::kInvalidInput, index.string(), ": not a JSON object");
  return j;
}

WeightStore load_shard(const fs::path& shard) {
  if (shard.extension() == ".safetensors") return WeightStore::from_safetensors(shard);
  if (shard.extension() == ".bin") return load_torch_checkpoint(shard);
  fail(ErrorKind::kUnsupported, shard.string(), ": shard is neither .safetensors nor .bin");
}

}  // namespace

const char* checkpoint_format_name(CheckpointFormat format) {
  switch (format) {
    case CheckpointFormat::kSafetensors:
      return "safetensors";
    case CheckpointFormat::kSafetensorsSharded:
      return "safetensors-sharded";
    case CheckpointFormat::kTorch:
      return "pytorch";
    case CheckpointFormat::kTorchSharded:
      return "pytorch-sharded";
    case CheckpointFormat::kKerasH5:
      return "keras-h5";
  }
  return "unknown";
}

std::optional<Checkpoint> find_checkpoint(const fs::path& dir) {
  for (const auto& [name, format] : kFiles) {
    std::error_code ec;
    if (fs::is_regular_file(dir / name, ec)) return Checkpoint{format, dir / name};
  }
  return std::nullopt;
}

WeightStore load_checkpoint(const Checkpoint& checkpoint) {
  switch (checkpoint.format) {
    case CheckpointFormat::kSafetensors:
      return WeightStore::from_safetensors(checkpoint.path);
    case CheckpointFormat::kSafetensorsSharded:
    case CheckpointFormat::kTorchSharded:
      return load_sharded(checkpoint.path);
    case CheckpointFormat::kTorch:
      return load_torch_checkpoint(checkpoint.path);
    case CheckpointFormat::kKerasH5:
      return load_keras_h5(checkpoint.path);
  }
  fail(ErrorKind::kInternal, "unknown checkpoint format");
}

WeightStore load_sharded(const fs::path& index) {
  const std::string origin = index.string();
  const nlohmann::json j = read_index(index);
  const auto map = j.find("weight_map");
  if (map == j.end() || !map->is_object())
    fail(ErrorKind::kInvalidInput, origin, ": 'weight_map' must be an object");
  std::map<std::string, std::set<std::string>> by_shard;
  for (const auto& [tensor, shard] : map->items()) {
    if (!shard.is_string())
      fail(ErrorKind::kInvalidInput, origin, ": shard of '", tensor, "' must be a file name");
    const std::string& file = shard.get_ref<const std::string&>();
    // A plain file name beside the index: never a path out of the model directory.
    if (file.empty() || file.find('/') != std::string::npos ||
        file.find('\\') != std::string::npos || file == "." || file == "..")
      fail(ErrorKind::kInvalidInput, origin, ": shard '", file, "' of tensor '", tensor,
           "' is not a plain file name");
    by_shard[file].insert(tensor);
  }
  if (by_shard.empty()) fail(ErrorKind::kInvalidInput, origin, ": 'weight_map' is empty");

  WeightStore store;
  store.set_origin(origin);
  for (const auto& [file, tensors] : by_shard) {
    const fs::path path = index.parent_path() / file;
    auto shard = std::make_shared<WeightStore>(load_shard(path));
    for (const std::string& tensor : tensors)
      if (!shard->has(tensor))
        fail(ErrorKind::kInvalidInput, origin, ": tensor '", tensor, "' is not in its shard ",
             file);
    for (const std::string& name : shard->names()) {
      if (store.has(name))
        fail(ErrorKind::kInvalidInput, origin, ": tensor '", name, "' is in two shards");
      store.add_tensor(name, shard->get_raw(name));
    }
    store.keep_shard(shard);  // the views point into the shard's mapping or buffers
  }
  return store;
}

}  // namespace ember::io
