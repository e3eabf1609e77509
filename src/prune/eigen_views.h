// Eigen maps of backend views and host buffers (row-major, as the engine lays them out).
#pragma once

#include <Eigen/Dense>

#include "ops/types.h"

namespace ember::prune {

using RowMatF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using ViewMap = Eigen::Map<const RowMatF, 0, Eigen::OuterStride<>>;

inline ViewMap map_view(const ops::View& v) {
  return ViewMap(v.data, v.rows, v.cols, Eigen::OuterStride<>(v.ld));
}
inline ViewMap map_rows(const float* data, int64_t rows, int64_t cols) {
  return ViewMap(data, rows, cols, Eigen::OuterStride<>(cols));
}

}  // namespace ember::prune
