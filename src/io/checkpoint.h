// The weights file of a model directory, whatever framework wrote it, and loading it into a
// WeightStore under the PyTorch (Hugging Face) tensor names the architectures bind.
// Preference when a directory has several: model.safetensors, model.safetensors.index.json,
// pytorch_model.bin, pytorch_model.bin.index.json, tf_model.h5.
#pragma once

#include <filesystem>
#include <optional>

#include "io/weight_store.h"

namespace ember::io {

enum class CheckpointFormat { kSafetensors, kSafetensorsSharded, kTorch, kTorchSharded, kKerasH5 };

struct Checkpoint {
  CheckpointFormat format = CheckpointFormat::kSafetensors;
  std::filesystem::path path;  // the weights file, or the shard index
};

// "safetensors", "safetensors-sharded", "pytorch", "pytorch-sharded", "keras-h5".
const char* checkpoint_format_name(CheckpointFormat format);

std::optional<Checkpoint> find_checkpoint(const std::filesystem::path& dir);

WeightStore load_checkpoint(const Checkpoint& checkpoint);

// A Hugging Face shard index ({"weight_map": {tensor: shard file}}): each shard is loaded once
// (safetensors or pytorch_model.bin by its extension) from the index's directory. Shard names
// must be plain file names; every tensor of the map must be in the shard it names, and no
// tensor may appear in two shards (kInvalidInput naming the index and the tensor).
WeightStore load_sharded(const std::filesystem::path& index);

}  // namespace ember::io
