#include "prune/gram.h"

#include <algorithm>

#include "core/error.h"
#include "core/parallel.h"
#include "kernels/cpu/kernels.h"

namespace ember::prune {
namespace {

constexpr int64_t kBlock = 64;  // rows of the product per single-threaded oneDNN call

}  // namespace

std::vector<float> transposed(const Rows& x) {
  const int64_t w = x.width();
  std::vector<float> t(static_cast<size_t>(w * x.rows));
  for (int64_t r = 0; r < x.rows; ++r) {
    const float* row = x.data + r * x.ld;
    for (int64_t c = 0; c < x.cols; ++c) t[static_cast<size_t>(c * x.rows + r)] = row[c];
  }
  if (x.ones) std::fill(t.begin() + x.cols * x.rows, t.end(), 1.0f);
  return t;
}

void add_gram(const std::vector<float>& xt, int64_t width, int64_t rows, Eigen::MatrixXd& g) {
  EMBER_CHECK(
      g.rows() == width && g.cols() == width && static_cast<int64_t>(xt.size()) == width * rows,
      ErrorKind::kInternal, "gram: ", width, " inputs for a ", g.rows(), "x", g.cols(),
      " accumulator");
  if (rows == 0) return;
  std::vector<float> out(static_cast<size_t>(width * width));
  const int64_t blocks = (width + kBlock - 1) / kBlock;
  // Block row a..b of the lower triangle needs columns 0..b: the last blocks cost most, so
  // they go first.
  parallel_for(blocks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; ++c) {
      const int64_t a = (blocks - 1 - c) * kBlock, b = std::min(width, a + kBlock);
      kernels::sgemm_nt_f32_dnnl(b - a, b, rows, xt.data() + a * rows, rows, xt.data(), rows,
                                 out.data() + a * width, width);
    }
  });
  // Row i of the lower triangle is column i of the upper one, contiguous in Eigen's layout.
  double* gd = g.data();
  for (int64_t i = 0; i < width; ++i)
    for (int64_t j = 0; j <= i; ++j) gd[i * width + j] += out[static_cast<size_t>(i * width + j)];
}

void add_cross(const std::vector<float>& xt, int64_t xw, const std::vector<float>& yt, int64_t yw,
               int64_t rows, Eigen::MatrixXd& r) {
  EMBER_CHECK(r.rows() == xw && r.cols() == yw && static_cast<int64_t>(xt.size()) == xw * rows &&
                  static_cast<int64_t>(yt.size()) == yw * rows,
              ErrorKind::kInternal, "gram: a ", xw, "x", yw, " cross product into ", r.rows(), "x",
              r.cols());
  if (rows == 0) return;
  // Y^T X row-major is X^T Y in Eigen's column-major layout.
  std::vector<float> out(static_cast<size_t>(xw * yw));
  const int64_t blocks = (yw + kBlock - 1) / kBlock;
  parallel_for(blocks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; ++c) {
      const int64_t a = c * kBlock, b = std::min(yw, a + kBlock);
      kernels::sgemm_nt_f32_dnnl(b - a, xw, rows, yt.data() + a * rows, rows, xt.data(), rows,
                                 out.data() + a * xw, xw);
    }
  });
  double* rd = r.data();
  for (int64_t e = 0; e < xw * yw; ++e) rd[e] += out[static_cast<size_t>(e)];
}

}  // namespace ember::prune
