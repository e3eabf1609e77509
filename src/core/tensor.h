// A Tensor is a non-owning, dense, row-major view: dtype, shape and a pointer. Owners are
// the mmap of a weights file, an AlignedBuffer, or the caller's memory.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <string>

#include "core/dtype.h"
#include "core/error.h"

namespace ember {

class Shape {
 public:
  static constexpr int kMaxRank = 4;
  Shape() = default;
  Shape(std::initializer_list<int64_t> dims);
  int rank() const { return rank_; }
  int64_t operator[](int i) const { return dims_[i]; }
  int64_t numel() const;
  bool operator==(const Shape& other) const;
  std::string str() const;  // "[2, 384]"

 private:
  std::array<int64_t, kMaxRank> dims_{};
  int rank_ = 0;
};

struct Tensor {
  DType dtype = DType::kF32;
  Shape shape;
  const void* data = nullptr;

  int64_t numel() const { return shape.numel(); }
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype); }
  const float* f32() const {
    EMBER_CHECK(dtype == DType::kF32, ErrorKind::kInternal, "tensor is ", dtype_name(dtype),
                ", not F32");
    return static_cast<const float*>(data);
  }
};

}  // namespace ember
