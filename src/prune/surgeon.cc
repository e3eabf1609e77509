#include "prune/surgeon.h"

#include <limits>

#include "core/error.h"

namespace ember::prune {

namespace {

double cost_of(const Eigen::MatrixXd& w, const Eigen::MatrixXd& hinv, int64_t k, int64_t group) {
  if (group == 1) return w.row(k).squaredNorm() / hinv(k, k);
  const Eigen::MatrixXd wq = w.middleRows(k, group);
  return (wq.transpose() * hinv.block(k, k, group, group).ldlt().solve(wq)).trace();
}

}  // namespace

Surgeon::Surgeon(const Eigen::MatrixXd& g, const Eigen::MatrixXd& r, double yy,
                 const Eigen::MatrixXd& w0, double ridge, int64_t group)
    : g_(g), r_(r), yy_(yy), group_(group) {
  const int64_t inputs = g.rows() - 1;
  EMBER_CHECK(group > 0 && inputs % group == 0, ErrorKind::kInternal, "surgeon: ", inputs,
              " inputs in groups of ", group);
  removed_.assign(static_cast<size_t>(inputs / group), 0);
  Eigen::MatrixXd h = g;
  const double lambda = ridge * g.diagonal().mean() + 1e-12;
  h.diagonal().array() += lambda;
  const Eigen::LDLT<Eigen::MatrixXd> ldlt(h);
  EMBER_CHECK(ldlt.info() == Eigen::Success, ErrorKind::kInternal,
              "least-squares re-fit: the normal matrix could not be factored");
  hinv_ = ldlt.solve(Eigen::MatrixXd::Identity(h.rows(), h.cols()));
  w_ = hinv_ * (r + lambda * w0);
  EMBER_CHECK(w_.allFinite() && hinv_.allFinite(), ErrorKind::kInternal,
              "least-squares re-fit gave non-finite weights");
}

int64_t Surgeon::cheapest() const {
  int64_t best = -1;
  double best_cost = std::numeric_limits<double>::infinity();
  for (int64_t p = 0; p < parts(); ++p) {
    if (removed(p)) continue;
    const double cost = cost_of(w_, hinv_, p * group_, group_);
    if (cost < best_cost) {
      best_cost = cost;
      best = p;
    }
  }
  return best;
}

double Surgeon::remove(int64_t part) {
  EMBER_CHECK(part >= 0 && part < parts() && !removed(part), ErrorKind::kInternal, "surgeon: part ",
              part, " cannot be removed");
  const int64_t k = part * group_;
  const double cost = cost_of(w_, hinv_, k, group_);
  if (group_ == 1) {
    const double c = hinv_(k, k);
    const Eigen::VectorXd u = hinv_.col(k);
    const Eigen::RowVectorXd wk = w_.row(k);
    w_.noalias() -= (u / c) * wk;
    hinv_.noalias() -= (u / c) * u.transpose();
  } else {
    const Eigen::MatrixXd u = hinv_.middleCols(k, group_);
    const Eigen::LDLT<Eigen::MatrixXd> m(u.middleRows(k, group_));
    const Eigen::MatrixXd wq = w_.middleRows(k, group_);
    w_.noalias() -= u * m.solve(wq);
    hinv_.noalias() -= u * m.solve(u.transpose());
  }
  // Exactly zero where rounding leaves a trace.
  w_.middleRows(k, group_).setZero();
  hinv_.middleRows(k, group_).setZero();
  hinv_.middleCols(k, group_).setZero();
  removed_[static_cast<size_t>(part)] = 1;
  return cost;
}

void Surgeon::remove_down_to(int64_t keep) {
  int64_t left = static_cast<int64_t>(kept().size());
  for (; left > keep; --left) remove(cheapest());
}

std::vector<int64_t> Surgeon::kept() const {
  std::vector<int64_t> out;
  for (int64_t p = 0; p < parts(); ++p)
    if (!removed(p)) out.push_back(p);
  return out;
}

double Surgeon::relative_error(const Eigen::MatrixXd& w) const {
  const double e = (w.cwiseProduct(g_ * w)).sum() - 2.0 * (w.cwiseProduct(r_)).sum() + yy_;
  return yy_ > 0 ? e / yy_ : 0.0;
}

}  // namespace ember::prune
