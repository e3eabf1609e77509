#include "prune/input_fit.h"

#include <algorithm>

#include "core/error.h"
#include "prune/eigen_views.h"

namespace ember::prune {

InputFit::InputFit(int64_t hidden)
    : hidden_(hidden),
      pp_(Eigen::MatrixXd::Zero(hidden + 1, hidden + 1)),
      pu_(Eigen::MatrixXd::Zero(hidden + 1, hidden + 1)),
      uu_(Eigen::MatrixXd::Zero(hidden + 1, hidden + 1)) {}

void InputFit::add(const std::vector<float>& pruned, const std::vector<float>& unpruned) {
  EMBER_CHECK(pruned.size() == unpruned.size() && pruned.size() % hidden_ == 0,
              ErrorKind::kInternal, "input fit: states of ", pruned.size(), " and ",
              unpruned.size(), " values");
  const int64_t rows = static_cast<int64_t>(pruned.size()) / hidden_;
  Eigen::MatrixXd p(rows, hidden_ + 1), u(rows, hidden_ + 1);
  p.leftCols(hidden_) = map_rows(pruned.data(), rows, hidden_).cast<double>();
  u.leftCols(hidden_) = map_rows(unpruned.data(), rows, hidden_).cast<double>();
  p.col(hidden_).setOnes();
  u.col(hidden_).setOnes();
  pp_.noalias() += p.transpose() * p;
  pu_.noalias() += p.transpose() * u;
  uu_.noalias() += u.transpose() * u;
}

Eigen::MatrixXd InputFit::fit(const Eigen::MatrixXd& w0, double ridge) const {
  EMBER_CHECK(w0.rows() == hidden_ + 1, ErrorKind::kInternal, "input fit: weights of ", w0.rows(),
              " rows for ", hidden_, " inputs");
  const double lambda = ridge * pp_.diagonal().mean() + 1e-12;
  Eigen::MatrixXd h = pp_;
  h.diagonal().array() += lambda;
  const Eigen::LDLT<Eigen::MatrixXd> ldlt(h);
  EMBER_CHECK(ldlt.info() == Eigen::Success, ErrorKind::kInternal,
              "input fit: the normal matrix cannot be factored");
  return ldlt.solve(pu_ * w0 + lambda * w0);
}

double InputFit::relative_error(const Eigen::MatrixXd& w, const Eigen::MatrixXd& w0) const {
  // |P W - U W0|^2 = tr(W^T PP W) - 2 tr(W^T PU W0) + tr(W0^T UU W0).
  const double yy = (w0.transpose() * uu_ * w0).trace();
  const double e = (w.transpose() * pp_ * w).trace() - 2 * (w.transpose() * pu_ * w0).trace() + yy;
  return yy > 0 ? std::max(0.0, e) / yy : 0.0;
}

}  // namespace ember::prune
