// The products the least-squares fits accumulate over the calibration text, X^T X and X^T Y of
// a batch's activations: most of a prune's time. Eigen's double products run at the SSE2 width
// the portable build gives them; these run in float through oneDNN's sgemm (dispatched to the
// CPU's widest ISA at run time) on the calling thread's compute pool, one batch at a time, and
// are added to double accumulators, so only one batch's sum (a few thousand tokens) is rounded
// in float.
#pragma once

#include <cstdint>
#include <vector>

#include <Eigen/Dense>

namespace ember::prune {

// Row-major float rows, `ld` apart; `ones` appends a column of ones (a bias input).
struct Rows {
  const float* data = nullptr;
  int64_t rows = 0, cols = 0, ld = 0;
  bool ones = false;
  int64_t width() const { return cols + (ones ? 1 : 0); }
};

// The rows transposed, [width][rows], so that the products below read both operands along
// the token dimension (oneDNN's fast "NT" layout).
std::vector<float> transposed(const Rows& x);

// g += X^T X (its upper triangle; xt = X^T, [width][rows], as `transposed` gives it).
void add_gram(const std::vector<float>& xt, int64_t width, int64_t rows, Eigen::MatrixXd& g);
// r += X^T Y (xt [xw][rows], yt [yw][rows]).
void add_cross(const std::vector<float>& xt, int64_t xw, const std::vector<float>& yt, int64_t yw,
               int64_t rows, Eigen::MatrixXd& r);

}  // namespace ember::prune
