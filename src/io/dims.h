// Shape from a run-time list of dimensions (core's Shape is built from an initializer list).
#pragma once

#include <cstdint>
#include <span>

#include "core/tensor.h"

namespace ember::io {

// Throws kUnsupported when the rank exceeds Shape::kMaxRank.
inline Shape shape_from_dims(std::span<const int64_t> d) {
  switch (d.size()) {
    case 0:
      return Shape{};
    case 1:
      return Shape{d[0]};
    case 2:
      return Shape{d[0], d[1]};
    case 3:
      return Shape{d[0], d[1], d[2]};
    case 4:
      return Shape{d[0], d[1], d[2], d[3]};
    default:
      fail(ErrorKind::kUnsupported, "rank ", d.size(), " exceeds the maximum of ", Shape::kMaxRank);
  }
}

}  // namespace ember::io
