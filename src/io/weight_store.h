// Named F32 weights, whatever their source: safetensors (F32 used in place; F16/BF16 kept as
// stored and widened on the first get(), so that Linear weights bound as bf16 are never
// widened; F64 narrowed at load), or ONNX initializers mapped to Hugging Face names. Once a
// tensor is converted (widened, or rounded to bf16), its pages in the file mapping are paged
// out: the conversion is what is read from then on (the file, if ever the original is).
// Model code asks for a tensor with the shape it expects and gets a clear error otherwise.
// F32 safetensors data that is not 4-byte aligned in the file is copied. Integer tensors
// (BERT's embeddings.position_ids, I64) are listed by has()/names() but get() refuses them
// with kUnsupported naming the dtype: get() only ever returns F32, get_bf16() bfloat16.
//
// linear_dtype() is the dtype in which the model binds its Linear weights (kF32 or kBF16),
// chosen by whoever loads the model (runtime::Engine from --dtype and the CPU).
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "core/aligned_buffer.h"
#include "core/tensor.h"
#include "io/mapped_file.h"

namespace ember::io {

class WeightStore {
 public:
  static WeightStore from_safetensors(const std::filesystem::path& path);

  bool has(const std::string& name) const;
  // Throws kNotFound (missing) or kInvalidInput (shape differs), naming the tensor, both
  // shapes and origin(). The returned tensor is always F32 and lives as long as the store.
  Tensor get(const std::string& name, const Shape& expected) const;
  Tensor get(const std::string& name) const;  // any shape
  // The tensor as bfloat16 [shape] (bits): BF16 data in place (copied when not 2-byte aligned),
  // F32 and F16 rounded to nearest even into owned memory, once. Errors as get().
  const uint16_t* get_bf16(const std::string& name, const Shape& expected) const;
  // Any dtype (the integer weights of a quantized model); kNotFound when missing.
  Tensor get_raw(const std::string& name) const;
  // The safetensors "__metadata__" map (empty for other sources).
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  std::vector<std::string> names() const;
  // The model's weights: every floating-point value and every int8 weight, so that a model
  // counts the same quantized or not. Integer buffers (position_ids) and an int8 Linear's
  // scales (`<name>.weight_scale`, `<name>.input_scale`) are not counted.
  int64_t parameter_count() const;
  const std::string& origin() const { return origin_; }
  // True when some 2-D floating tensor is stored as BF16 or F16 (a half-precision checkpoint).
  bool has_half_matrices() const;
  DType linear_dtype() const { return linear_dtype_; }
  // The memory of a tensor the model no longer reads (a part of a fused projection, a Linear
  // the backend packed), handed back: page_out_mapped() pages out the whole pages of [data,
  // data + bytes) when they lie in a file mapping the store holds (read again from the file if
  // ever touched; returns the bytes advised, 0 for owned memory); release_conversion() frees
  // the conversion get() or get_bf16() made whose data starts at `data` (pointers to it
  // dangle; a later get() converts again; returns the bytes freed, 0 when `data` is no
  // conversion, which is_conversion() tells beforehand).
  size_t page_out_mapped(const void* data, size_t bytes) const;
  int64_t release_conversion(const void* data);
  bool is_conversion(const void* data) const;
  void set_linear_dtype(DType d);  // kF32 or kBF16, before the model binds its weights

  // Building blocks for importers and tests.
  void add_owned(const std::string& name, const Shape& shape, AlignedBuffer<float> data);
  void add_view(const std::string& name, const Tensor& f32_tensor);  // caller keeps it alive
  // A tensor of any dtype as a checkpoint holds it (caller keeps its memory alive): F32 used in
  // place when aligned, other floating dtypes widened to owned F32, integers kept as they are.
  // kInvalidInput when the name is already present.
  void add_tensor(const std::string& name, const Tensor& t);
  void keep_alive(std::shared_ptr<const void> owner) { owners_.push_back(std::move(owner)); }
  // Keeps a file mapping alive whose bytes the store's tensors point into (page_out_mapped).
  void keep_mapping(std::shared_ptr<const MappedFile> file);
  // Keeps a shard alive whose tensors this store lists, with its mappings.
  void keep_shard(std::shared_ptr<const WeightStore> shard);
  void set_origin(std::string origin) { origin_ = std::move(origin); }
  void set_metadata(std::map<std::string, std::string> m) { metadata_ = std::move(m); }

 private:
  Tensor widened(const std::string& name, const Tensor& half) const;
  void page_out_source(const Tensor& converted) const;

  std::map<std::string, Tensor> tensors_;
  std::vector<std::shared_ptr<AlignedBuffer<float>>> owned_;
  // Conversions made on demand by get() / get_bf16(), once per tensor.
  std::shared_ptr<std::mutex> convert_mutex_ = std::make_shared<std::mutex>();
  mutable std::map<std::string, std::shared_ptr<AlignedBuffer<float>>> widened_;
  mutable std::map<std::string, std::shared_ptr<AlignedBuffer<uint16_t>>> bf16_;
  DType linear_dtype_ = DType::kF32;
  std::vector<std::shared_ptr<const void>> owners_;
  std::vector<std::span<const uint8_t>> mapped_;  // the bytes of the mappings kept alive
  std::string origin_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace ember::io
