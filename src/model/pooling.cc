#include "model/pooling.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "core/error.h"

namespace ember::model {

void pool(const float* hidden, int64_t h, const Batch& batch, io::PoolingMode mode, bool normalize,
          float* out) {
  std::vector<double> acc(static_cast<size_t>(h));
  for (int64_t s = 0; s < batch.size(); ++s) {
    const int64_t begin = batch.seq_begin(s), len = batch.seq_len(s);
    const float* rows = hidden + begin * h;
    float* o = out + s * h;
    switch (mode) {
      case io::PoolingMode::kCls:
        std::copy(rows, rows + h, o);
        break;
      case io::PoolingMode::kLastToken:
        std::copy(rows + (len - 1) * h, rows + len * h, o);
        break;
      case io::PoolingMode::kMax:
        std::fill(o, o + h, -std::numeric_limits<float>::infinity());
        for (int64_t t = 0; t < len; ++t)
          for (int64_t i = 0; i < h; ++i) o[i] = std::max(o[i], rows[t * h + i]);
        break;
      case io::PoolingMode::kMean:
      case io::PoolingMode::kMeanSqrtLen: {
        std::fill(acc.begin(), acc.end(), 0.0);
        for (int64_t t = 0; t < len; ++t)
          for (int64_t i = 0; i < h; ++i) acc[i] += rows[t * h + i];
        const double div = mode == io::PoolingMode::kMean ? static_cast<double>(len)
                                                          : std::sqrt(static_cast<double>(len));
        for (int64_t i = 0; i < h; ++i) o[i] = static_cast<float>(acc[i] / div);
        break;
      }
    }
    if (normalize) {
      double norm = 0;
      for (int64_t i = 0; i < h; ++i) norm += static_cast<double>(o[i]) * o[i];
      const double inv = 1.0 / std::max(std::sqrt(norm), 1e-12);
      for (int64_t i = 0; i < h; ++i) o[i] = static_cast<float>(o[i] * inv);
    }
  }
}

}  // namespace ember::model
