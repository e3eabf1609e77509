// model.safetensors: an 8-byte little-endian header length, a JSON header
// {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}}, then the data.
// Every field is validated: offsets inside the file, begin <= end, end - begin equal to
// numel * dtype size, no overlapping tensors, known dtypes, header length sane.
// Errors: kInvalidInput "<file>: tensor 'name': <what>" (or "<file>: <what>" for the header);
// kUnsupported for valid safetensors that Ember cannot hold (U32, F8_*, rank > 4). Views keep
// the file's dtype and may be unaligned for it; WeightStore converts and aligns.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "io/mapped_file.h"

namespace ember::io {

class SafetensorsFile {
 public:
  static SafetensorsFile open(const std::filesystem::path& path);  // mmap + parse
  // Parses a buffer the caller keeps alive (tests and fuzzing). `origin` names it in errors.
  static SafetensorsFile parse(std::span<const uint8_t> bytes, const std::string& origin);

  bool has(const std::string& name) const { return tensors_.count(name) != 0; }
  // Throws Error(kNotFound) naming the tensor and the file.
  const Tensor& get(const std::string& name) const;
  const std::map<std::string, Tensor>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const std::string& origin() const { return origin_; }
  // The mapping behind the views (null for parse()); holders of views keep it alive.
  std::shared_ptr<const MappedFile> mapping() const { return file_; }

 private:
  std::shared_ptr<MappedFile> file_;  // keeps the mapping alive for the views
  std::map<std::string, Tensor> tensors_;
  std::map<std::string, std::string> metadata_;
  std::string origin_;
};

}  // namespace ember::io
