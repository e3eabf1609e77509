// The pieces of the least-squares re-fit that the allocation's profile and the re-fit share:
// the normal equations of an output projection, accumulated batch by batch, and a Linear's
// weights and bias stacked as the solve's unknowns.
#pragma once

#include <string>
#include <vector>

#include <Eigen/Dense>

#include "prune/checkpoint.h"
#include "prune/eigen_views.h"
#include "prune/gram.h"

namespace ember::prune {

// The normal equations of min |[X 1] W - Y|^2: g = [X 1]^T [X 1] (upper triangle), r = [X 1]^T Y,
// and yy = |Y|^2; the products in float per batch, summed in double (gram.h).
struct NormalEquations {
  NormalEquations(int64_t inputs, int64_t outputs)
      : g(Eigen::MatrixXd::Zero(inputs + 1, inputs + 1)),
        r(Eigen::MatrixXd::Zero(inputs + 1, outputs)) {}

  // One batch: x [rows, inputs] and y [rows, outputs].
  void add(const ops::View& x, const RowMatF& y) {
    const int64_t rows = x.rows, w = x.cols + 1;
    const std::vector<float> xt = transposed({x.data, rows, x.cols, x.ld, true});
    const std::vector<float> yt = transposed({y.data(), rows, y.cols(), y.cols(), false});
    add_gram(xt, w, rows, g);
    add_cross(xt, w, yt, y.cols(), rows, r);
    yy += y.cast<double>().squaredNorm();
  }
  Eigen::MatrixXd full() const { return g.selfadjointView<Eigen::Upper>(); }

  Eigen::MatrixXd g, r;
  double yy = 0;
};

// [W^T; b^T] of a Linear [out, in] with bias [out].
inline Eigen::MatrixXd stacked(const Checkpoint& c, const std::string& weight,
                               const std::string& bias) {
  const Tensor w = c.get(weight), b = c.get(bias);
  const int64_t out = w.shape[0], in = w.shape[1];
  Eigen::MatrixXd s(in + 1, out);
  s.topRows(in) = map_rows(w.f32(), out, in).cast<double>().transpose();
  s.row(in) = map_rows(b.f32(), 1, out).cast<double>();
  return s;
}

}  // namespace ember::prune
