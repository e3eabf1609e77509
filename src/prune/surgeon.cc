#include "prune/surgeon.h"

#include <algorithm>
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

double Surgeon::remove_cheapest(int64_t count) {
  if (count == 1) return remove(cheapest());
  std::vector<int64_t> left = kept();
  EMBER_CHECK(count >= 1 && count <= static_cast<int64_t>(left.size()), ErrorKind::kInternal,
              "surgeon: cannot remove ", count, " of ", left.size());
  std::vector<double> cost(static_cast<size_t>(parts()), 0.0);
  for (const int64_t p : left)
    cost[static_cast<size_t>(p)] = cost_of(w_, hinv_, p * group_, group_);
  // The cheapest alone, ties to the lower index.
  std::stable_sort(left.begin(), left.end(), [&](int64_t a, int64_t b) {
    return cost[static_cast<size_t>(a)] < cost[static_cast<size_t>(b)];
  });
  left.resize(static_cast<size_t>(count));
  std::vector<int64_t> idx;
  for (const int64_t p : left)
    for (int64_t e = 0; e < group_; ++e) idx.push_back(p * group_ + e);
  const auto m = static_cast<int64_t>(idx.size());
  Eigen::MatrixXd u(hinv_.rows(), m), uq(m, m), wq(m, w_.cols());
  for (int64_t c = 0; c < m; ++c) {
    u.col(c) = hinv_.col(idx[c]);
    wq.row(c) = w_.row(idx[c]);
    for (int64_t r = 0; r < m; ++r) uq(r, c) = hinv_(idx[r], idx[c]);
  }
  const Eigen::LDLT<Eigen::MatrixXd> ldlt(uq);
  const Eigen::MatrixXd solved = ldlt.solve(wq);
  const double rise = (wq.cwiseProduct(solved)).sum();
  w_.noalias() -= u * solved;
  hinv_.noalias() -= u * ldlt.solve(Eigen::MatrixXd(u.transpose()));
  for (const int64_t i : idx) {
    w_.row(i).setZero();
    hinv_.row(i).setZero();
    hinv_.col(i).setZero();
  }
  for (const int64_t p : left) removed_[static_cast<size_t>(p)] = 1;
  return rise;
}

int64_t Surgeon::step(int64_t left, int64_t keep) {
  return std::clamp<int64_t>(left < 64 ? 1 : left / 32, 1, std::max<int64_t>(1, left - keep));
}

void Surgeon::remove_down_to(int64_t keep) {
  for (int64_t left = static_cast<int64_t>(kept().size()); left > keep;) {
    const int64_t n = step(left, keep);
    remove_cheapest(n);
    left -= n;
  }
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
