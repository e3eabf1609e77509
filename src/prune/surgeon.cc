#include "prune/surgeon.h"

#include <algorithm>
#include <limits>

#include "core/error.h"

namespace ember::prune {

namespace {

// The cost of removing the `group` inputs at position k of the active set.
double cost_of(const Eigen::MatrixXd& w, const Eigen::MatrixXd& hinv, int64_t k, int64_t group) {
  if (group == 1) return w.row(k).squaredNorm() / hinv(k, k);
  const Eigen::MatrixXd wq = w.middleRows(k, group);
  return (wq.transpose() * hinv.block(k, k, group, group).ldlt().solve(wq)).trace();
}

// The rows (and columns, when square) of `m` at `keep` (ascending).
Eigen::MatrixXd without(const Eigen::MatrixXd& m, const std::vector<int64_t>& keep, bool square) {
  const auto n = static_cast<int64_t>(keep.size());
  Eigen::MatrixXd out(n, square ? n : m.cols());
  if (square) {
    for (int64_t c = 0; c < n; ++c)
      for (int64_t r = 0; r < n; ++r) out(r, c) = m(keep[r], keep[c]);
  } else {
    for (int64_t r = 0; r < n; ++r) out.row(r) = m.row(keep[r]);
  }
  return out;
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
  // H is positive definite (a Gram matrix and a positive ridge): Cholesky, blocked.
  const Eigen::LLT<Eigen::MatrixXd> llt(h);
  EMBER_CHECK(llt.info() == Eigen::Success, ErrorKind::kInternal,
              "least-squares re-fit: the normal matrix could not be factored");
  hinv_ = llt.solve(Eigen::MatrixXd::Identity(h.rows(), h.cols()));
  wa_ = hinv_ * (r + lambda * w0);
  EMBER_CHECK(wa_.allFinite() && hinv_.allFinite(), ErrorKind::kInternal,
              "least-squares re-fit gave non-finite weights");
  active_.resize(static_cast<size_t>(inputs + 1));
  for (int64_t i = 0; i <= inputs; ++i) active_[static_cast<size_t>(i)] = i;
  w_ = wa_;
}

int64_t Surgeon::cheapest() const {
  int64_t best = -1;
  double best_cost = std::numeric_limits<double>::infinity();
  int64_t pos = 0;  // parts left are in ascending order in the active set
  for (int64_t p = 0; p < parts(); ++p) {
    if (removed(p)) continue;
    const double cost = cost_of(wa_, hinv_, pos, group_);
    if (cost < best_cost) {
      best_cost = cost;
      best = p;
    }
    pos += group_;
  }
  return best;
}

double Surgeon::remove(int64_t part) {
  EMBER_CHECK(part >= 0 && part < parts() && !removed(part), ErrorKind::kInternal, "surgeon: part ",
              part, " cannot be removed");
  const auto at = std::lower_bound(active_.begin(), active_.end(), part * group_) - active_.begin();
  std::vector<int64_t> pos;
  for (int64_t e = 0; e < group_; ++e) pos.push_back(at + e);
  const double cost = remove_positions(pos);
  removed_[static_cast<size_t>(part)] = 1;
  return cost;
}

double Surgeon::remove_positions(const std::vector<int64_t>& pos) {
  const auto m = static_cast<int64_t>(pos.size()), a = static_cast<int64_t>(active_.size());
  std::vector<int64_t> keep;
  keep.reserve(static_cast<size_t>(a - m));
  for (int64_t i = 0, j = 0; i < a; ++i) {
    if (j < m && pos[static_cast<size_t>(j)] == i)
      ++j;
    else
      keep.push_back(i);
  }
  Eigen::MatrixXd uq(m, m), wq(m, wa_.cols()), u(a - m, m);
  for (int64_t c = 0; c < m; ++c) {
    wq.row(c) = wa_.row(pos[c]);
    for (int64_t r = 0; r < m; ++r) uq(r, c) = hinv_(pos[r], pos[c]);
    for (int64_t r = 0; r < a - m; ++r) u(r, c) = hinv_(keep[r], pos[c]);
  }
  const Eigen::LDLT<Eigen::MatrixXd> ldlt(uq);
  const Eigen::MatrixXd solved = ldlt.solve(wq);
  const double rise = (wq.cwiseProduct(solved)).sum();
  // The step on what is left: w -= [H^-1]_:Q [H^-1]_QQ^-1 w_Q, and H^-1 of the inputs left.
  Eigen::MatrixXd w = without(wa_, keep, false);
  w.noalias() -= u * solved;
  Eigen::MatrixXd hinv = without(hinv_, keep, true);
  hinv.noalias() -= u * ldlt.solve(Eigen::MatrixXd(u.transpose()));
  for (const int64_t p : pos) w_.row(active_[static_cast<size_t>(p)]).setZero();
  std::vector<int64_t> left;
  left.reserve(keep.size());
  for (int64_t r = 0; r < a - m; ++r) {
    left.push_back(active_[static_cast<size_t>(keep[r])]);
    w_.row(left.back()) = w.row(r);
  }
  active_ = std::move(left);
  wa_ = std::move(w);
  hinv_ = std::move(hinv);
  return rise;
}

double Surgeon::remove_cheapest(int64_t count) {
  if (count == 1) return remove(cheapest());
  std::vector<int64_t> left = kept();
  EMBER_CHECK(count >= 1 && count <= static_cast<int64_t>(left.size()), ErrorKind::kInternal,
              "surgeon: cannot remove ", count, " of ", left.size());
  // Parts left lie in ascending order in the active set, group_ positions each.
  std::vector<double> cost(static_cast<size_t>(parts()), 0.0);
  for (size_t i = 0; i < left.size(); ++i)
    cost[static_cast<size_t>(left[i])] =
        cost_of(wa_, hinv_, static_cast<int64_t>(i) * group_, group_);
  std::vector<size_t> order(left.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  // The cheapest alone, ties to the lower index.
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return cost[static_cast<size_t>(left[a])] < cost[static_cast<size_t>(left[b])];
  });
  order.resize(static_cast<size_t>(count));
  std::sort(order.begin(), order.end());
  std::vector<int64_t> pos;
  for (const size_t i : order)
    for (int64_t e = 0; e < group_; ++e) pos.push_back(static_cast<int64_t>(i) * group_ + e);
  const double rise = remove_positions(pos);
  for (const size_t i : order) removed_[static_cast<size_t>(left[i])] = 1;
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
  // Over the rows of w that are not zero: a pruned layout costs the square of what it keeps.
  std::vector<int64_t> rows;
  for (int64_t i = 0; i < w.rows(); ++i)
    if (!w.row(i).isZero(0)) rows.push_back(i);
  double e = yy_;
  if (static_cast<int64_t>(rows.size()) == w.rows()) {
    e += (w.cwiseProduct(g_ * w)).sum() - 2.0 * (w.cwiseProduct(r_)).sum();
  } else {
    const Eigen::MatrixXd wk = without(w, rows, false), gk = without(g_, rows, true);
    e += (wk.cwiseProduct(gk * wk)).sum() - 2.0 * (wk.cwiseProduct(without(r_, rows, false))).sum();
  }
  return yy_ > 0 ? e / yy_ : 0.0;
}

}  // namespace ember::prune
