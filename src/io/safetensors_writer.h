// Writes a model.safetensors: the header (optional "__metadata__" string map), padded so that
// the data starts 64-byte aligned, then the tensors back to back, widest dtype first, so that
// a reader can use F32 views in place.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace ember::io {

struct TensorToWrite {
  std::string name;
  Tensor tensor;  // dtype, shape and data; the caller keeps the data alive until write()
};

// Creates `path`, which must not exist (not even as a link). Throws kInvalidInput on a
// duplicate name, kUnavailable naming the path and the system's reason when the file cannot be
// created or written (it exists, a full disk, a file-size limit); a partial file may remain,
// which is why tools write into a ModelDirWriter's staging directory.
void write_safetensors(const std::filesystem::path& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata);

}  // namespace ember::io
