#include "model/label_scores.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/error.h"

namespace ember::model {

void label_scores(const float* logits, int64_t n, float* out) {
  EMBER_CHECK(n > 0, ErrorKind::kInternal, "label_scores: no labels");
  if (n == 1) {
    out[0] = static_cast<float>(1.0 / (1.0 + std::exp(-static_cast<double>(logits[0]))));
    return;
  }
  const double max = *std::max_element(logits, logits + n);
  std::vector<double> e(static_cast<size_t>(n));
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += (e[i] = std::exp(static_cast<double>(logits[i]) - max));
  for (int64_t i = 0; i < n; ++i) out[i] = static_cast<float>(e[i] / sum);
}

}  // namespace ember::model
