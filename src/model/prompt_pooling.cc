#include "model/prompt_pooling.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace ember::model {

int64_t prompt_length(const std::vector<uint8_t>& special_tokens_mask) {
  auto n = static_cast<int64_t>(special_tokens_mask.size());
  if (n > 0 && special_tokens_mask.back()) --n;
  return n;
}

std::vector<float> pool_after_prompt(const float* hidden, int64_t tokens, int64_t hidden_size,
                                     int64_t from, io::PoolingMode mode, bool normalize) {
  from = std::clamp<int64_t>(from, 0, tokens);
  const int64_t kept = tokens - from;
  std::vector<float> out(static_cast<size_t>(hidden_size), 0.0f);
  const auto row = [&](int64_t t) { return hidden + t * hidden_size; };
  switch (mode) {
    case io::PoolingMode::kCls:
    case io::PoolingMode::kLastToken: {
      int64_t t = mode == io::PoolingMode::kCls ? from : tokens - 1;
      if (kept == 0) t = 0;  // an all-zero mask: argmax picks position 0
      if (tokens > 0) std::copy(row(t), row(t) + hidden_size, out.begin());
      break;
    }
    case io::PoolingMode::kMax:
      std::fill(out.begin(), out.end(), -std::numeric_limits<float>::infinity());
      for (int64_t t = from; t < tokens; ++t)
        for (int64_t k = 0; k < hidden_size; ++k) out[k] = std::max(out[k], row(t)[k]);
      break;
    case io::PoolingMode::kMean:
    case io::PoolingMode::kMeanSqrtLen: {
      std::vector<double> sum(static_cast<size_t>(hidden_size), 0.0);
      for (int64_t t = from; t < tokens; ++t)
        for (int64_t k = 0; k < hidden_size; ++k) sum[k] += row(t)[k];
      // sentence-transformers clamps the token count at 1e-9.
      const double n = std::max<double>(static_cast<double>(kept), 1e-9);
      const double d = mode == io::PoolingMode::kMean ? n : std::sqrt(n);
      for (int64_t k = 0; k < hidden_size; ++k) out[k] = static_cast<float>(sum[k] / d);
      break;
    }
  }
  if (normalize) {
    double ss = 0;
    for (const float x : out) ss += static_cast<double>(x) * x;
    const double scale = 1.0 / std::max(std::sqrt(ss), 1e-12);
    for (float& x : out) x = static_cast<float>(x * scale);
  }
  return out;
}

}  // namespace ember::model
