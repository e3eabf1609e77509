#include "prune/input_fit.h"

#include <algorithm>

#include "core/error.h"
#include "prune/gram.h"

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
  const int64_t rows = static_cast<int64_t>(pruned.size()) / hidden_, w = hidden_ + 1;
  const std::vector<float> p = transposed({pruned.data(), rows, hidden_, hidden_, true});
  const std::vector<float> u = transposed({unpruned.data(), rows, hidden_, hidden_, true});
  add_gram(p, w, rows, pp_);
  add_gram(u, w, rows, uu_);
  add_cross(p, w, u, w, rows, pu_);
}

Eigen::MatrixXd InputFit::fit(const Eigen::MatrixXd& w0, double ridge) const {
  EMBER_CHECK(w0.rows() == hidden_ + 1, ErrorKind::kInternal, "input fit: weights of ", w0.rows(),
              " rows for ", hidden_, " inputs");
  const double lambda = ridge * pp_.diagonal().mean() + 1e-12;
  Eigen::MatrixXd h = pp_.selfadjointView<Eigen::Upper>();
  h.diagonal().array() += lambda;
  const Eigen::LDLT<Eigen::MatrixXd> ldlt(h);
  EMBER_CHECK(ldlt.info() == Eigen::Success, ErrorKind::kInternal,
              "input fit: the normal matrix cannot be factored");
  return ldlt.solve(pu_ * w0 + lambda * w0);
}

double InputFit::relative_error(const Eigen::MatrixXd& w, const Eigen::MatrixXd& w0) const {
  // |P W - U W0|^2 = tr(W^T PP W) - 2 tr(W^T PU W0) + tr(W0^T UU W0).
  const Eigen::MatrixXd pp = pp_.selfadjointView<Eigen::Upper>();
  const Eigen::MatrixXd uu = uu_.selfadjointView<Eigen::Upper>();
  const double yy = (w0.transpose() * uu * w0).trace();
  const double e = (w.transpose() * pp * w).trace() - 2 * (w.transpose() * pu_ * w0).trace() + yy;
  return yy > 0 ? std::max(0.0, e) / yy : 0.0;
}

}  // namespace ember::prune
