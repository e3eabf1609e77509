#include "runtime/int8_sensitivity.h"

#include <cmath>
#include <cstring>
#include <limits>

#include "core/error.h"
#include "model/int8_weights.h"
#include "model/workspace.h"

namespace ember::runtime {
namespace {

// The mean over each sequence's tokens of the state [T, H] (host memory), [B, H].
std::vector<double> mean_rows(const ops::View& x, const model::Batch& batch) {
  std::vector<double> out(static_cast<size_t>(batch.size() * x.cols), 0.0);
  for (int64_t s = 0; s < batch.size(); ++s) {
    double* o = out.data() + s * x.cols;
    for (int64_t t = batch.cu_seqlens[s]; t < batch.cu_seqlens[s + 1]; ++t)
      for (int64_t j = 0; j < x.cols; ++j) o[j] += x.data[t * x.ld + j];
  }
  return out;
}

double one_minus_cos(const double* a, const double* b, int64_t n) {
  double ab = 0, aa = 0, bb = 0;
  for (int64_t i = 0; i < n; ++i) {
    ab += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  return aa > 0 && bb > 0 ? 1.0 - ab / std::sqrt(aa * bb) : 0.0;
}

}  // namespace

std::vector<double> int8_sensitivity(const model::Model& fp32,
                                     const std::array<const model::Model*, 4>& int8_kind,
                                     const std::vector<model::Batch>& batches,
                                     ops::Backend& backend) {
  const auto layers = static_cast<int64_t>(fp32.spec().layers.size());
  const int kinds = model::kLinearKindCount;
  const int64_t h = fp32.spec().hidden_size;
  std::vector<double> sum(static_cast<size_t>(layers * kinds), 0.0);
  int64_t sequences = 0;
  model::Workspace ws(backend);
  std::vector<std::vector<float>> inputs(static_cast<size_t>(layers));
  for (const model::Batch& batch : batches) {
    const int64_t t = batch.num_tokens();
    ops::View x = fp32.start(batch, ws);
    for (int64_t l = 0; l < layers; ++l) {
      inputs[l].resize(static_cast<size_t>(t * h));
      backend.to_host(x, inputs[l].data());
      x = fp32.run_layer(static_cast<size_t>(l), batch, ws);
    }
    const std::vector<double> ref = mean_rows(x, batch);
    for (int64_t l = 0; l < layers; ++l)
      for (int k = 0; k < kinds; ++k) {
        if (!int8_kind[k]) continue;
        // The float input of layer l, then that layer with its kind-k Linear in int8.
        x = ws.view(model::Workspace::kX, t, h);
        std::memcpy(x.data, inputs[l].data(), sizeof(float) * static_cast<size_t>(t * h));
        x = int8_kind[k]->run_layer(static_cast<size_t>(l), batch, ws);
        for (int64_t m = l + 1; m < layers; ++m)
          x = fp32.run_layer(static_cast<size_t>(m), batch, ws);
        const std::vector<double> got = mean_rows(x, batch);
        for (int64_t s = 0; s < batch.size(); ++s)
          sum[l * kinds + k] += one_minus_cos(&got[s * h], &ref[s * h], h);
      }
    sequences += batch.size();
  }
  std::vector<double> score(sum.size(), std::numeric_limits<double>::quiet_NaN());
  const auto& w = fp32.weights().layers;
  for (int64_t l = 0; l < layers; ++l) {
    const ops::LinearSource* parts[] = {&w[l].qkv, &w[l].attn_out, &w[l].ffn_in, &w[l].ffn_out};
    for (int k = 0; k < kinds; ++k)
      if (int8_kind[k] && parts[k]->out > 0 && sequences > 0)
        score[l * kinds + k] = sum[l * kinds + k] / static_cast<double>(sequences);
  }
  return score;
}

}  // namespace ember::runtime
