// The fits' products in float (prune/gram.h) against the same products in double: X^T X with
// a column of ones (its upper triangle) and X^T Y, accumulated over batches, from strided rows,
// with sizes that are not multiples of the product's blocks.
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "prune/gram.h"
#include "prune/least_squares.h"

namespace ember {
namespace {

std::vector<float> random_rows(int64_t rows, int64_t ld, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> n(0, 1);
  std::vector<float> v(static_cast<size_t>(rows * ld));
  for (auto& e : v) e = n(rng);
  return v;
}

Eigen::MatrixXd as_double(const std::vector<float>& v, int64_t rows, int64_t cols, int64_t ld,
                          bool ones) {
  Eigen::MatrixXd m(rows, cols + (ones ? 1 : 0));
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) m(r, c) = v[static_cast<size_t>(r * ld + c)];
    if (ones) m(r, cols) = 1;
  }
  return m;
}

TEST(Gram, FloatProductsMatchDoubleOnesOverBatches) {
  const int64_t cols = 131, ld = 140, ycols = 70;
  Eigen::MatrixXd g = Eigen::MatrixXd::Zero(cols + 1, cols + 1);
  Eigen::MatrixXd r = Eigen::MatrixXd::Zero(cols + 1, ycols);
  Eigen::MatrixXd gd = g, rd = r;
  for (const int64_t rows : {257, 3, 1000}) {
    const auto x = random_rows(rows, ld, static_cast<unsigned>(rows));
    const auto y = random_rows(rows, ycols, static_cast<unsigned>(rows + 1));
    const auto xt = prune::transposed({x.data(), rows, cols, ld, true});
    const auto yt = prune::transposed({y.data(), rows, ycols, ycols, false});
    prune::add_gram(xt, cols + 1, rows, g);
    prune::add_cross(xt, cols + 1, yt, ycols, rows, r);
    const Eigen::MatrixXd xd = as_double(x, rows, cols, ld, true);
    gd += xd.transpose() * xd;
    rd += xd.transpose() * as_double(y, rows, ycols, ycols, false);
  }
  const Eigen::MatrixXd full = g.selfadjointView<Eigen::Upper>();
  // Sums of ~1,000 products of unit normals: float rounding leaves ~1e-6 of their scale.
  EXPECT_LT((full - gd).cwiseAbs().maxCoeff(), 1e-5 * gd.diagonal().maxCoeff());
  EXPECT_LT((r - rd).cwiseAbs().maxCoeff(), 1e-4 * rd.cwiseAbs().maxCoeff());
  EXPECT_DOUBLE_EQ(full(cols, cols), 1260.0);  // the ones column: the row count, exactly
}

TEST(Gram, NormalEquationsSumTheBatches) {
  const int64_t inputs = 40, outputs = 9, rows = 77;
  prune::NormalEquations eq(inputs, outputs);
  Eigen::MatrixXd gd = Eigen::MatrixXd::Zero(inputs + 1, inputs + 1);
  Eigen::MatrixXd rd = Eigen::MatrixXd::Zero(inputs + 1, outputs);
  double yy = 0;
  for (unsigned b = 0; b < 2; ++b) {
    auto x = random_rows(rows, inputs, 10 + b);
    const auto yv = random_rows(rows, outputs, 20 + b);
    const prune::RowMatF y = prune::map_rows(yv.data(), rows, outputs);
    eq.add(ops::View{x.data(), rows, inputs, inputs}, y);
    const Eigen::MatrixXd xd = as_double(x, rows, inputs, inputs, true);
    const Eigen::MatrixXd ydd = as_double(yv, rows, outputs, outputs, false);
    gd += xd.transpose() * xd;
    rd += xd.transpose() * ydd;
    yy += ydd.squaredNorm();
  }
  EXPECT_LT((eq.full() - gd).cwiseAbs().maxCoeff(), 1e-3);
  EXPECT_LT((eq.r - rd).cwiseAbs().maxCoeff(), 1e-3);
  EXPECT_NEAR(eq.yy, yy, 1e-6 * yy);
}

}  // namespace
}  // namespace ember
