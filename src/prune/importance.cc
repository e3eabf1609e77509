#include "prune/importance.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.h"
#include "prune/eigen_views.h"

namespace ember::prune {

Importance measure_importance(LayerRunner& model, const Checkpoint& checkpoint,
                              const std::vector<model::Batch>& batches) {
  const auto& spec = model.spec();
  const size_t n = spec.layers.size();
  const int64_t h = spec.hidden_size;
  Importance imp;
  imp.heads.resize(n);
  imp.ffn.resize(n);
  imp.layer_energy.assign(n, 0.0);
  // |W_2[:, j]|^2 of every FFN unit, W_o of every layer.
  std::vector<Eigen::VectorXd> ffn_norms(n);
  std::vector<RowMatF> wo(n);
  for (size_t i = 0; i < n; ++i) {
    const auto& ls = spec.layers[i];
    imp.heads[i].assign(static_cast<size_t>(ls.attn.heads), 0.0);
    imp.ffn[i].assign(static_cast<size_t>(ls.ffn.width), 0.0);
    const Tensor w2 =
        checkpoint.get(checkpoint.names().tensor(i, checkpoint.names().ffn_out, "weight"));
    ffn_norms[i] = map_rows(w2.f32(), h, ls.ffn.width).cast<double>().colwise().squaredNorm();
    const Tensor o = checkpoint.get(checkpoint.names().tensor(i, checkpoint.names().o, "weight"));
    wo[i] = map_rows(o.f32(), h, ls.attn.q_width());
  }
  size_t layer = 0;
  const model::LayerTap tap = [&](model::TapPoint p, const ops::View& v) {
    const auto& as = spec.layers[layer].attn;
    if (p == model::TapPoint::kAttnContext) {
      const ViewMap ctx = map_view(v);
      for (int64_t head = 0; head < as.heads; ++head) {
        const int64_t c0 = head * as.head_dim;
        const RowMatF part =
            ctx.middleCols(c0, as.head_dim) * wo[layer].middleCols(c0, as.head_dim).transpose();
        imp.heads[layer][head] += static_cast<double>(part.squaredNorm());
      }
    } else if (p == model::TapPoint::kFfnActivation) {
      const Eigen::VectorXd sq = map_view(v).cast<double>().colwise().squaredNorm();
      for (int64_t j = 0; j < v.cols; ++j) imp.ffn[layer][j] += sq[j] * ffn_norms[layer][j];
    } else if (p == model::TapPoint::kAttnOutput || p == model::TapPoint::kFfnOutput) {
      imp.layer_energy[layer] += static_cast<double>(map_view(v).squaredNorm());
    }
  };
  for (const auto& batch : batches) {
    std::vector<float> x = model.embed(batch);
    for (layer = 0; layer < n; ++layer) model.layer(layer, batch, x, &tap);
  }
  return imp;
}

// Ties (and equal scores) go to the lower index, so the choice is deterministic.
std::vector<int64_t> top(const std::vector<double>& scores, int64_t keep) {
  std::vector<int64_t> order(scores.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return scores[a] > scores[b]; });
  order.resize(static_cast<size_t>(keep));
  std::sort(order.begin(), order.end());
  return order;
}

namespace {

int64_t count(double ratio, size_t n) {
  const auto k = static_cast<int64_t>(std::lround(ratio * static_cast<double>(n)));
  return std::clamp<int64_t>(k, 1, static_cast<int64_t>(n));
}

// Per layer, the indices kept when `ratio` of all parts is kept over the whole model: one per
// layer first (the layer's best), then the best shares of layer energy wherever they are.
std::vector<std::vector<int64_t>> top_global(const std::vector<std::vector<double>>& scores,
                                             const std::vector<double>& energy, double ratio) {
  struct Part {
    double share;
    size_t layer;
    int64_t index;
  };
  std::vector<Part> parts;
  std::vector<std::vector<int64_t>> kept(scores.size());
  size_t total = 0;
  for (size_t i = 0; i < scores.size(); ++i) {
    const double e = energy[i] > 0 ? energy[i] : 1.0;
    const auto best = top(scores[i], 1).front();
    kept[i].push_back(best);
    for (size_t j = 0; j < scores[i].size(); ++j)
      if (static_cast<int64_t>(j) != best)
        parts.push_back({scores[i][j] / e, i, static_cast<int64_t>(j)});
    total += scores[i].size();
  }
  const auto want = static_cast<size_t>(count(ratio, total));
  const size_t more = want > scores.size() ? want - scores.size() : 0;
  std::stable_sort(parts.begin(), parts.end(),
                   [](const Part& a, const Part& b) { return a.share > b.share; });
  for (size_t p = 0; p < more && p < parts.size(); ++p)
    kept[parts[p].layer].push_back(parts[p].index);
  for (auto& k : kept) std::sort(k.begin(), k.end());
  return kept;
}

}  // namespace

KeepSpec keep_top(const Importance& imp, double head_ratio, double ffn_ratio,
                  Allocation allocation) {
  EMBER_CHECK(head_ratio > 0 && head_ratio <= 1 && ffn_ratio > 0 && ffn_ratio <= 1,
              ErrorKind::kInvalidInput, "keep ratios must be in (0, 1]: heads ", head_ratio,
              ", ffn ", ffn_ratio);
  KeepSpec k;
  if (allocation == Allocation::kGlobal) {
    const auto heads = top_global(imp.heads, imp.layer_energy, head_ratio);
    const auto ffn = top_global(imp.ffn, imp.layer_energy, ffn_ratio);
    for (size_t i = 0; i < imp.heads.size(); ++i) k.layers.push_back({false, heads[i], ffn[i]});
    return k;
  }
  for (size_t i = 0; i < imp.heads.size(); ++i) {
    LayerKeep lk;
    const auto& hs = imp.heads[i];
    lk.heads = top(hs, count(head_ratio, hs.size()));
    lk.ffn = top(imp.ffn[i], count(ffn_ratio, imp.ffn[i].size()));
    k.layers.push_back(std::move(lk));
  }
  return k;
}

}  // namespace ember::prune
