// The pieces of the least-squares re-fit that the allocation's profile and the re-fit share:
// the normal equations of an output projection, accumulated batch by batch, and a Linear's
// weights and bias stacked as the solve's unknowns.
#pragma once

#include <string>

#include <Eigen/Dense>

#include "prune/checkpoint.h"
#include "prune/eigen_views.h"

namespace ember::prune {

// The normal equations of min |[X 1] W - Y|^2: g = [X 1]^T [X 1] (lower triangle), r = [X 1]^T Y,
// and yy = |Y|^2.
struct NormalEquations {
  NormalEquations(int64_t inputs, int64_t outputs)
      : g(Eigen::MatrixXd::Zero(inputs + 1, inputs + 1)),
        r(Eigen::MatrixXd::Zero(inputs + 1, outputs)) {}

  // One batch: x [rows, inputs] and y [rows, outputs], any Eigen expression of floats.
  template <class Y>
  void add(const ops::View& x, const Y& y) {
    Eigen::MatrixXd xa(x.rows, x.cols + 1);
    xa.leftCols(x.cols) = map_view(x).cast<double>();
    xa.col(x.cols).setOnes();
    g.selfadjointView<Eigen::Lower>().rankUpdate(xa.transpose());
    const Eigen::MatrixXd yd = y.template cast<double>();
    r.noalias() += xa.transpose() * yd;
    yy += yd.squaredNorm();
  }
  Eigen::MatrixXd full() const { return g.selfadjointView<Eigen::Lower>(); }

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
