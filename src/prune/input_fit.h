// The re-fit of a layer's input projections (Q, K and V of its heads, the FFN's intermediate
// rows): after pruning, a layer's input drifts from the unpruned model's, and its attention
// scores and FFN activations with it, which re-fitting only the output projections cannot undo.
// Each input projection P (weights W0, bias b0) is fitted so that, on the pruned model's input
// p_t, it gives the unpruned model's values on the unpruned input u_t:
//
//   E(W) = sum_t | [p_t 1] W - [u_t 1] W0 |^2  +  lambda |W - W0|^2      (W = [W^T; b^T])
//
// lambda = ridge * mean diagonal of sum [p 1]^T [p 1]. The target is linear in u, so one pass
// over the calibration text (the Gram matrices of [p 1] and [u 1] and their cross product, all
// (hidden + 1)^2) serves every projection reading the same input; each output is independent,
// so fitting every head or unit and keeping some equals fitting the kept ones alone.
#pragma once

#include <cstdint>
#include <vector>

#include <Eigen/Dense>

namespace ember::prune {

class InputFit {
 public:
  explicit InputFit(int64_t hidden);

  // One batch: the pruned and the unpruned model's input to the same projections, [rows, hidden]
  // row-major each.
  void add(const std::vector<float>& pruned, const std::vector<float>& unpruned);

  // The fitted [W^T; b^T] for a projection whose unpruned weights are `w0` ((hidden + 1) x out).
  Eigen::MatrixXd fit(const Eigen::MatrixXd& w0, double ridge) const;
  // E(w) / sum_t |[u_t 1] W0|^2 without the ridge term: the projection's relative error on the
  // calibration text with weights `w` (`w0` itself: the error of the drifted input alone).
  double relative_error(const Eigen::MatrixXd& w, const Eigen::MatrixXd& w0) const;

 private:
  int64_t hidden_;
  // sum [p 1]^T [p 1] and [u 1]^T [u 1] (upper triangles), [p 1]^T [u 1].
  Eigen::MatrixXd pp_, pu_, uu_;
};

}  // namespace ember::prune
