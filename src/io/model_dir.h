// One place resolves what a user typed (--model) into the files of a model.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "io/checkpoint.h"

namespace ember::io {

struct ModelFiles {
  std::filesystem::path dir;
  std::optional<std::filesystem::path> config;       // config.json
  std::optional<std::filesystem::path> safetensors;  // model.safetensors
  // The weights to load, from any framework (io/checkpoint.h); set whenever safetensors is.
  std::optional<Checkpoint> checkpoint;
  std::optional<std::filesystem::path> onnx;       // model.onnx or the one *.onnx file
  std::optional<std::filesystem::path> tokenizer;  // tokenizer.json
};

// $EMBER_MODEL_CACHE, else $XDG_CACHE_HOME/ember/models, else ~/.cache/ember/models.
std::filesystem::path model_cache_dir();

// `name_or_path` is a directory, or a name in the cache, matched case-insensitively with or
// without its organisation ("all-MiniLM-L6-v2", "sentence-transformers/all-minilm-l6-v2").
// Throws kNotFound listing the cached names when nothing matches, kInvalidInput when the
// directory has no weights.
ModelFiles resolve_model(const std::string& name_or_path);

std::vector<std::string> cached_model_names();

// The files of a model directory that are not its weights (tokenizer, config, pooling and
// sentence-transformers files), relative to `dir` and sorted: what a tool that writes a model
// made from another copies beside its new weights. Skipped: weights of every framework and
// their shard indexes (*.index.json), the cache's SOURCE stamp, hidden files, and the onnx/
// and openvino/ export directories.
std::vector<std::filesystem::path> side_files(const std::filesystem::path& dir);

}  // namespace ember::io
