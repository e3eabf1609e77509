// The surgeon (prune/surgeon.h) against a direct least-squares solve: removing inputs from the
// fit leaves exactly the fit on the inputs kept, each removal's reported cost is the rise of
// the error it causes, and the cheapest choice is the cheapest. The allocation
// (prune/allocation.h) stays within the cost asked and prunes more for less.
#include <gtest/gtest.h>

#include <random>

#include "prune/allocation.h"
#include "prune/surgeon.h"

namespace ember {
namespace {

struct Problem {
  Eigen::MatrixXd x, y;  // x with a column of ones last
  Eigen::MatrixXd g() const { return x.transpose() * x; }
  Eigen::MatrixXd r() const { return x.transpose() * y; }
  double yy() const { return y.squaredNorm(); }
};

Problem problem(int64_t rows, int64_t inputs, int64_t outputs, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> n(0, 1);
  Problem p;
  p.x.resize(rows, inputs + 1);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < inputs; ++c) p.x(r, c) = n(rng) * (1 + c % 3);
  p.x.col(inputs).setOnes();
  Eigen::MatrixXd w(inputs + 1, outputs);
  for (int64_t r = 0; r < w.rows(); ++r)
    for (int64_t c = 0; c < outputs; ++c) w(r, c) = n(rng) / (1 + r % 5);
  p.y = p.x * w;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < outputs; ++c) p.y(r, c) += 0.3 * n(rng);
  return p;
}

TEST(Surgeon, RemovingInputsLeavesTheFitOnTheKeptOnes) {
  const int64_t group = 4, inputs = 24, outputs = 5;
  const Problem p = problem(400, inputs, outputs, 1);
  const Eigen::MatrixXd w0 = Eigen::MatrixXd::Zero(inputs + 1, outputs);
  prune::Surgeon s(p.g(), p.r(), p.yy(), w0, 0.0, group);
  ASSERT_EQ(s.parts(), inputs / group);
  s.remove(1);
  // Two more together: the cheapest alone, removed jointly.
  prune::Surgeon t = s;
  const double rise = s.remove_cheapest(2);
  EXPECT_GT(rise, 0);
  EXPECT_EQ(s.kept().size(), 3u);

  // The direct solve on the kept columns (and the bias).
  std::vector<int64_t> cols;
  for (const int64_t part : s.kept())
    for (int64_t e = 0; e < group; ++e) cols.push_back(part * group + e);
  cols.push_back(inputs);
  Eigen::MatrixXd xk(p.x.rows(), static_cast<int64_t>(cols.size()));
  for (size_t c = 0; c < cols.size(); ++c) xk.col(static_cast<int64_t>(c)) = p.x.col(cols[c]);
  const Eigen::MatrixXd direct = xk.colPivHouseholderQr().solve(p.y);
  for (size_t c = 0; c < cols.size(); ++c)
    for (int64_t o = 0; o < outputs; ++o)
      EXPECT_NEAR(s.weights()(cols[c], o), direct(static_cast<int64_t>(c), o), 1e-8);
  for (int64_t part = 0; part < s.parts(); ++part)
    if (s.removed(part)) {
      EXPECT_EQ(s.weights().middleRows(part * group, group).norm(), 0.0);
    }
  const double direct_error = (xk * direct - p.y).squaredNorm() / p.yy();
  EXPECT_NEAR(s.relative_error(s.weights()), direct_error, 1e-9);
  EXPECT_NEAR(s.relative_error(s.weights()) - t.relative_error(t.weights()), rise / p.yy(), 1e-9);
}

TEST(Surgeon, ReportsEachRemovalsCostAndRemovesTheCheapest) {
  const int64_t inputs = 16, outputs = 3;
  const Problem p = problem(300, inputs, outputs, 2);
  const Eigen::MatrixXd w0 = Eigen::MatrixXd::Zero(inputs + 1, outputs);
  prune::Surgeon s(p.g(), p.r(), p.yy(), w0, 0.0, 1);
  double e = s.relative_error(s.weights());
  while (s.kept().size() > 4) {
    // The cheapest, tried against every other choice on a copy.
    const int64_t pick = s.cheapest();
    for (const int64_t other : s.kept()) {
      prune::Surgeon t = s;
      t.remove(other);
      prune::Surgeon u = s;
      u.remove(pick);
      EXPECT_LE(u.relative_error(u.weights()), t.relative_error(t.weights()) + 1e-12);
    }
    const double cost = s.remove(pick);
    const double after = s.relative_error(s.weights());
    EXPECT_NEAR(after - e, cost / p.yy(), 1e-9);
    EXPECT_GE(after, e - 1e-12);
    e = after;
  }
}

TEST(Allocation, StaysWithinTheCostAndPrunesMoreForLess) {
  model::ModelSpec spec;
  spec.hidden_size = 32;
  std::vector<prune::LayerCurve> curves(3);
  for (size_t i = 0; i < 3; ++i) {
    model::LayerSpec l;
    l.attn.heads = 4;
    l.attn.head_dim = 8;
    l.ffn.width = 64;
    spec.layers.push_back(l);
    // Errors falling with what is kept; the later layers matter less.
    for (int64_t k = 0; k <= 4; ++k) curves[i].heads.push_back((4.0 - k) / 4 / (1 + i));
    for (int64_t k = 0; k <= 64; ++k) curves[i].ffn.push_back((64.0 - k) / 64 / (1 + i));
  }
  const auto cost = prune::CostModel::of(spec, {{1, 16}});
  double last_error = -1;
  int64_t last_kept = 1 << 30;
  for (const double f : {0.9, 0.7, 0.5, 0.3}) {
    const auto plan = prune::allocate(curves, spec, cost, f);
    EXPECT_LE(cost.cost(plan, spec), f + 1e-12);
    int64_t kept = 0;
    for (const auto& p : plan) kept += p.drop ? 0 : p.head_count * 100 + p.ffn_count;
    EXPECT_LT(kept, last_kept);
    const double e = prune::estimated_error(curves, plan);
    EXPECT_GT(e, last_error);
    last_error = e;
    last_kept = kept;
  }
}

}  // namespace
}  // namespace ember
