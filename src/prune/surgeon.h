// The least-squares fit of one linear projection and the removal of its inputs in groups
// (structured Optimal Brain Surgeon): the fit with every input present, then, group by group,
// the removal that raises the error least, the remaining weights re-solved exactly each time.
//
// The quadratic is E(W) = |X W - Y|^2 + lambda |W - W0|^2 over W = [W^T; b^T] ((inputs + 1) x
// outputs, the bias last, never removed), given by its normal equations G = X^T X, R = X^T Y and
// |Y|^2 (X with a column of ones). With H = G + lambda I, removing the inputs Q from the optimum
// raises E by tr(W_Q^T [H^-1]_QQ^-1 W_Q) and moves the rest by -[H^-1]_:Q [H^-1]_QQ^-1 W_Q.
#pragma once

#include <cstdint>
#include <vector>

#include <Eigen/Dense>

namespace ember::prune {

class Surgeon {
 public:
  // `group`: inputs per removable part (a head's width, or 1 for FFN units); inputs must be a
  // multiple of it. kInternal if H cannot be factored.
  Surgeon(const Eigen::MatrixXd& g, const Eigen::MatrixXd& r, double yy, const Eigen::MatrixXd& w0,
          double ridge, int64_t group);

  int64_t parts() const { return static_cast<int64_t>(removed_.size()); }
  bool removed(int64_t part) const { return removed_[static_cast<size_t>(part)] != 0; }
  // The part whose removal raises E least (the lowest index on ties).
  int64_t cheapest() const;
  // Removes `part`; returns how much E rose (its cost, in E's units).
  double remove(int64_t part);
  // Removes the `count` parts that are cheapest on their own, together (their joint removal is
  // exact; only the choice is made once for all of them); returns how much E rose.
  double remove_cheapest(int64_t count);
  // Removes parts, cheapest first, until `keep` are left: in steps of 1/32 of those left (one at
  // a time once fewer than 64 are left), which keeps a 1,536-unit FFN to a few dozen steps.
  void remove_down_to(int64_t keep);
  // How many remove_down_to removes next when `left` are left and `keep` are to stay.
  static int64_t step(int64_t left, int64_t keep);
  // The parts left, ascending.
  std::vector<int64_t> kept() const;

  // The current weights, [W^T; b^T] (rows of removed inputs are zero).
  const Eigen::MatrixXd& weights() const { return w_; }
  // |X W - Y|^2 / |Y|^2, without the ridge term, of any W of the same layout.
  double relative_error(const Eigen::MatrixXd& w) const;

 private:
  // Removes the inputs at positions `pos` (ascending) of the active set: the rest of the weights
  // and of H^-1 move by the surgeon's step, and the removed rows and columns go.
  double remove_positions(const std::vector<int64_t>& pos);

  Eigen::MatrixXd g_, r_;  // the normal equations, over every input (relative_error)
  // H^-1 and the weights over the inputs left (active_, ascending, the bias last): removed
  // inputs leave the matrices, so each step costs the square of what is left.
  Eigen::MatrixXd hinv_, wa_;
  std::vector<int64_t> active_;
  Eigen::MatrixXd w_;  // the weights in the full layout, zero rows for removed inputs
  double yy_ = 0;
  int64_t group_ = 1;
  std::vector<char> removed_;
};

}  // namespace ember::prune
