#include "io/weight_store.h"

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "core/page_out.h"
#include "io/safetensors.h"

namespace ember::io {
namespace {

// Widens (or narrows, for F64) one floating tensor into owned, aligned F32 memory. Reads go
// through memcpy because safetensors data need not be aligned for its dtype.
AlignedBuffer<float> to_f32(const Tensor& t) {
  const size_t n = static_cast<size_t>(t.numel());
  AlignedBuffer<float> out(n == 0 ? 1 : n);
  const auto* src = static_cast<const uint8_t*>(t.data);
  switch (t.dtype) {
    case DType::kF32:
      if (n) std::memcpy(out.data(), src, n * sizeof(float));
      break;
    case DType::kF16:
    case DType::kBF16:
      for (size_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, src + 2 * i, 2);
        out[i] = t.dtype == DType::kF16 ? half_to_float(h) : bf16_to_float(h);
      }
      break;
    case DType::kF64:
      for (size_t i = 0; i < n; ++i) {
        double d;
        std::memcpy(&d, src + 8 * i, 8);
        out[i] = static_cast<float>(d);
      }
      break;
    default:
      fail(ErrorKind::kInternal, "to_f32 on ", dtype_name(t.dtype));
  }
  return out;
}

bool is_float(DType d) {
  return d == DType::kF32 || d == DType::kF16 || d == DType::kBF16 || d == DType::kF64;
}
bool is_half(DType d) {
  return d == DType::kF16 || d == DType::kBF16;
}

}  // namespace

WeightStore WeightStore::from_safetensors(const std::filesystem::path& path) {
  const SafetensorsFile file = SafetensorsFile::open(path);
  WeightStore store;
  store.origin_ = file.origin();
  store.metadata_ = file.metadata();
  store.keep_mapping(file.mapping());
  for (const auto& [name, t] : file.tensors()) store.add_tensor(name, t);
  return store;
}

void WeightStore::add_tensor(const std::string& name, const Tensor& t) {
  if (tensors_.count(name) != 0)
    fail(ErrorKind::kInvalidInput, origin_, ": tensor '", name, "' appears twice");
  const bool aligned = reinterpret_cast<uintptr_t>(t.data) % alignof(float) == 0;
  if (t.dtype == DType::kF32 && aligned) {
    add_view(name, t);  // zero copy: the view points into the caller's (kept-alive) memory
  } else if (is_half(t.dtype)) {
    tensors_[name] = t;  // widened by get() or rounded by get_bf16(), when asked
  } else if (is_float(t.dtype)) {
    add_owned(name, t.shape, to_f32(t));
  } else {
    // Integer tensors (BERT's embeddings.position_ids) are kept with their dtype so that
    // has()/names() reflect the file, but get() refuses them: models read only F32.
    tensors_[name] = t;
  }
}

bool WeightStore::has(const std::string& name) const {
  return tensors_.count(name) != 0;
}

Tensor WeightStore::widened(const std::string& name, const Tensor& half) const {
  const std::lock_guard<std::mutex> lock(*convert_mutex_);
  auto& buf = widened_[name];
  if (!buf) {
    buf = std::make_shared<AlignedBuffer<float>>(to_f32(half));
    page_out_source(half);
  }
  return Tensor{DType::kF32, half.shape, buf->data()};
}

const uint16_t* WeightStore::get_bf16(const std::string& name, const Shape& expected) const {
  const auto it = tensors_.find(name);
  if (it == tensors_.end()) fail(ErrorKind::kNotFound, origin_, ": missing tensor '", name, "'");
  const Tensor& t = it->second;
  if (!(t.shape == expected))
    fail(ErrorKind::kInvalidInput, origin_, ": tensor '", name, "' has shape ", t.shape.str(),
         ", expected ", expected.str());
  if (t.dtype == DType::kBF16 && reinterpret_cast<uintptr_t>(t.data) % alignof(uint16_t) == 0)
    return static_cast<const uint16_t*>(t.data);
  if (!is_float(t.dtype))
    fail(ErrorKind::kUnsupported, origin_, ": tensor '", name, "' is ", dtype_name(t.dtype),
         ", not a floating-point weight");
  const std::lock_guard<std::mutex> lock(*convert_mutex_);
  auto& buf = bf16_[name];
  if (!buf) {
    const size_t n = static_cast<size_t>(t.numel());
    buf = std::make_shared<AlignedBuffer<uint16_t>>(n == 0 ? 1 : n);
    const auto* src = static_cast<const uint8_t*>(t.data);
    for (size_t i = 0; i < n; ++i) {
      // memcpy: the data need not be aligned for its dtype. Widening F16 is exact.
      if (t.dtype == DType::kBF16) {
        std::memcpy(&(*buf)[i], src + 2 * i, 2);
      } else if (t.dtype == DType::kF16) {
        uint16_t h;
        std::memcpy(&h, src + 2 * i, 2);
        (*buf)[i] = float_to_bf16(half_to_float(h));
      } else {
        float f;
        std::memcpy(&f, src + 4 * i, 4);
        (*buf)[i] = float_to_bf16(f);
      }
    }
    page_out_source(t);
  }
  return buf->data();
}

bool WeightStore::has_half_matrices() const {
  for (const auto& [name, t] : tensors_)
    if (is_half(t.dtype) && t.shape.rank() == 2) return true;
  return false;
}

size_t WeightStore::page_out_mapped(const void* data, size_t bytes) const {
  const auto p = reinterpret_cast<uintptr_t>(data);
  for (const auto& m : mapped_) {
    const auto begin = reinterpret_cast<uintptr_t>(m.data()), end = begin + m.size();
    if (p >= begin && p <= end && bytes <= end - p) return page_out(data, bytes);
  }
  return 0;
}

void WeightStore::page_out_source(const Tensor& converted) const {
  page_out_mapped(converted.data,
                  static_cast<size_t>(converted.numel()) * dtype_size(converted.dtype));
}

bool WeightStore::is_conversion(const void* data) const {
  const std::lock_guard<std::mutex> lock(*convert_mutex_);
  for (const auto& [name, buf] : widened_)
    if (buf->data() == data) return true;
  for (const auto& [name, buf] : bf16_)
    if (buf->data() == data) return true;
  return false;
}

int64_t WeightStore::release_conversion(const void* data) {
  const std::lock_guard<std::mutex> lock(*convert_mutex_);
  for (auto it = widened_.begin(); it != widened_.end(); ++it)
    if (it->second->data() == data) {
      const auto freed = static_cast<int64_t>(it->second->size() * sizeof(float));
      widened_.erase(it);
      return freed;
    }
  for (auto it = bf16_.begin(); it != bf16_.end(); ++it)
    if (it->second->data() == data) {
      const auto freed = static_cast<int64_t>(it->second->size() * sizeof(uint16_t));
      bf16_.erase(it);
      return freed;
    }
  return 0;
}

void WeightStore::keep_mapping(std::shared_ptr<const MappedFile> file) {
  mapped_.push_back(file->bytes());
  owners_.push_back(std::move(file));
}

void WeightStore::keep_shard(std::shared_ptr<const WeightStore> shard) {
  mapped_.insert(mapped_.end(), shard->mapped_.begin(), shard->mapped_.end());
  owners_.push_back(std::move(shard));
}

void WeightStore::set_linear_dtype(DType d) {
  EMBER_CHECK(d == DType::kF32 || d == DType::kBF16, ErrorKind::kInternal,
              "set_linear_dtype: ", dtype_name(d), " is not F32 or BF16");
  linear_dtype_ = d;
}

Tensor WeightStore::get(const std::string& name) const {
  const auto it = tensors_.find(name);
  if (it == tensors_.end()) fail(ErrorKind::kNotFound, origin_, ": missing tensor '", name, "'");
  if (is_half(it->second.dtype)) return widened(name, it->second);
  if (it->second.dtype != DType::kF32)
    fail(ErrorKind::kUnsupported, origin_, ": tensor '", name, "' is ",
         dtype_name(it->second.dtype), ", not a floating-point weight");
  return it->second;
}

Tensor WeightStore::get_raw(const std::string& name) const {
  const auto it = tensors_.find(name);
  if (it == tensors_.end()) fail(ErrorKind::kNotFound, origin_, ": missing tensor '", name, "'");
  return it->second;
}

Tensor WeightStore::get(const std::string& name, const Shape& expected) const {
  Tensor t = get(name);
  if (!(t.shape == expected))
    fail(ErrorKind::kInvalidInput, origin_, ": tensor '", name, "' has shape ", t.shape.str(),
         ", expected ", expected.str());
  return t;
}

std::vector<std::string> WeightStore::names() const {
  std::vector<std::string> out;
  out.reserve(tensors_.size());
  for (const auto& [name, t] : tensors_) out.push_back(name);
  return out;
}

void WeightStore::add_owned(const std::string& name, const Shape& shape,
                            AlignedBuffer<float> data) {
  EMBER_CHECK(data.size() >= static_cast<size_t>(shape.numel()), ErrorKind::kInternal,
              "add_owned('", name, "'): buffer of ", data.size(), " floats for shape ",
              shape.str());
  auto owned = std::make_shared<AlignedBuffer<float>>(std::move(data));
  tensors_[name] = Tensor{DType::kF32, shape, owned->data()};
  owned_.push_back(std::move(owned));
}

void WeightStore::add_view(const std::string& name, const Tensor& f32_tensor) {
  EMBER_CHECK(f32_tensor.dtype == DType::kF32, ErrorKind::kInternal, "add_view('", name,
              "'): tensor is ", dtype_name(f32_tensor.dtype), ", not F32");
  tensors_[name] = f32_tensor;
}

int64_t WeightStore::parameter_count() const {
  const auto int8_weight = [&](const std::string& weight) {
    const auto it = tensors_.find(weight);
    return it != tensors_.end() && it->second.dtype == DType::kI8;
  };
  // The scales of an int8 Linear `<p>.weight`: `<p>.weight_scale` and `<p>.input_scale`.
  const auto int8_scale = [&](const std::string& name) {
    for (const std::string suffix : {"weight_scale", "input_scale"})
      if (name.size() > suffix.size() && name.ends_with(suffix))
        return int8_weight(name.substr(0, name.size() - suffix.size()) + "weight");
    return false;
  };
  int64_t n = 0;
  for (const auto& [name, t] : tensors_)
    if (t.dtype == DType::kI8 || (is_float(t.dtype) && !int8_scale(name))) n += t.numel();
  return n;
}

}  // namespace ember::io
