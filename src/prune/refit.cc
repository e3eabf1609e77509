#include "prune/refit.h"

#include <memory>

#include "core/error.h"
#include "prune/eigen_views.h"
#include "prune/layer_runner.h"

namespace ember::prune {
namespace {

// The normal equations of min |[X 1] W - Y|^2, accumulated batch by batch.
class NormalEquations {
 public:
  NormalEquations(int64_t inputs, int64_t outputs)
      : g_(Eigen::MatrixXd::Zero(inputs + 1, inputs + 1)),
        r_(Eigen::MatrixXd::Zero(inputs + 1, outputs)) {}

  void add(const ops::View& x, const RowMatF& y) {
    Eigen::MatrixXd xa(x.rows, x.cols + 1);
    xa.leftCols(x.cols) = map_view(x).cast<double>();
    xa.col(x.cols).setOnes();
    g_.selfadjointView<Eigen::Lower>().rankUpdate(xa.transpose());
    r_.noalias() += xa.transpose() * y.cast<double>();
  }

  // [W^T; b^T], (inputs + 1) x outputs, pulled toward w0 (same layout).
  Eigen::MatrixXd solve(const Eigen::MatrixXd& w0, double ridge) const {
    Eigen::MatrixXd g = g_.selfadjointView<Eigen::Lower>();
    const double lambda = ridge * g.diagonal().mean() + 1e-12;
    g.diagonal().array() += lambda;
    Eigen::LDLT<Eigen::MatrixXd> ldlt(g);
    EMBER_CHECK(ldlt.info() == Eigen::Success, ErrorKind::kInternal,
                "least-squares re-fit: the normal matrix could not be factored");
    Eigen::MatrixXd w = ldlt.solve(r_ + lambda * w0);
    EMBER_CHECK(w.allFinite(), ErrorKind::kInternal,
                "least-squares re-fit gave non-finite weights");
    return w;
  }

 private:
  Eigen::MatrixXd g_, r_;
};

// [W^T; b^T] of a Linear [out, in] with bias [out].
Eigen::MatrixXd stacked(const Checkpoint& c, const std::string& weight, const std::string& bias) {
  const Tensor w = c.get(weight), b = c.get(bias);
  const int64_t out = w.shape[0], in = w.shape[1];
  Eigen::MatrixXd s(in + 1, out);
  s.topRows(in) = map_rows(w.f32(), out, in).cast<double>().transpose();
  s.row(in) = map_rows(b.f32(), 1, out).cast<double>();
  return s;
}

void unstack(const Eigen::MatrixXd& s, Checkpoint& c, const std::string& weight,
             const std::string& bias) {
  const int64_t in = s.rows() - 1, out = s.cols();
  std::vector<float> w(static_cast<size_t>(out * in)), b(static_cast<size_t>(out));
  for (int64_t o = 0; o < out; ++o) {
    for (int64_t i = 0; i < in; ++i) w[o * in + i] = static_cast<float>(s(i, o));
    b[o] = static_cast<float>(s(in, o));
  }
  c.set(weight, Shape{out, in}, std::move(w));
  c.set(bias, Shape{out}, std::move(b));
}

RowMatF difference(const std::vector<float>& a, const std::vector<float>& b, int64_t cols) {
  const int64_t rows = static_cast<int64_t>(a.size()) / cols;
  return map_rows(a.data(), rows, cols) - map_rows(b.data(), rows, cols);
}

}  // namespace

void refit(const Checkpoint& base, Checkpoint& pruned, const KeepSpec& keep,
           const std::vector<model::Batch>& batches, ops::Backend& backend,
           const RefitOptions& options, const RefitProgress& progress) {
  EMBER_CHECK(options.ridge >= 0, ErrorKind::kInvalidInput, "--ridge must not be negative");
  LayerRunner base_run(base, backend);
  auto pruned_run = std::make_unique<LayerRunner>(pruned, backend);
  const int64_t h = base_run.hidden();
  const size_t nb = batches.size(), layers = keep.layers.size();
  std::vector<std::vector<float>> xb(nb), xp(nb), s_attn(nb), s_ffn(nb);
  for (size_t b = 0; b < nb; ++b) xp[b] = xb[b] = base_run.embed(batches[b]);
  const EncoderNames& names = pruned.names();
  size_t j = 0;  // the pruned model's index of source layer i
  for (size_t i = 0; i < layers; ++i) {
    if (progress) progress(i, layers, "layer " + std::to_string(i));
    // The unpruned layer: its pre-norm sums, and its output as the next layer's input.
    for (size_t b = 0; b < nb; ++b) {
      std::vector<float> attn_out, state, ffn_out;
      const model::LayerTap tap = [&](model::TapPoint p, const ops::View& v) {
        if (p == model::TapPoint::kAttnOutput) attn_out = to_host(v);
        if (p == model::TapPoint::kAttnState) state = to_host(v);
        if (p == model::TapPoint::kFfnOutput) ffn_out = to_host(v);
      };
      s_attn[b] = xb[b];
      base_run.layer(i, batches[b], xb[b], &tap);
      for (size_t e = 0; e < s_attn[b].size(); ++e) s_attn[b][e] += attn_out[e];
      s_ffn[b] = std::move(state);
      for (size_t e = 0; e < s_ffn[b].size(); ++e) s_ffn[b][e] += ffn_out[e];
    }
    if (keep.layers[i].drop) continue;

    // The attention's output projection.
    const std::string ow = names.tensor(j, names.o, "weight"),
                      ob = names.tensor(j, names.o, "bias");
    NormalEquations attn(pruned.get(ow).shape[1], h);
    for (size_t b = 0; b < nb; ++b) {
      std::vector<float> x = xp[b];
      const RowMatF y = difference(s_attn[b], xp[b], h);
      const model::LayerTap tap = [&](model::TapPoint p, const ops::View& v) {
        if (p == model::TapPoint::kAttnContext) attn.add(v, y);
      };
      pruned_run->layer(j, batches[b], x, &tap);
    }
    unstack(attn.solve(stacked(pruned, ow, ob), options.ridge), pruned, ow, ob);
    pruned_run = std::make_unique<LayerRunner>(pruned, backend);

    // The FFN's output projection, on the state the re-fitted attention gives.
    const std::string fw = names.tensor(j, names.ffn_out, "weight"),
                      fb = names.tensor(j, names.ffn_out, "bias");
    NormalEquations ffn(pruned.get(fw).shape[1], h);
    for (size_t b = 0; b < nb; ++b) {
      std::vector<float> x = xp[b], state;
      const model::LayerTap tap = [&](model::TapPoint p, const ops::View& v) {
        if (p == model::TapPoint::kAttnState) state = to_host(v);
        if (p == model::TapPoint::kFfnActivation) ffn.add(v, difference(s_ffn[b], state, h));
      };
      pruned_run->layer(j, batches[b], x, &tap);
    }
    unstack(ffn.solve(stacked(pruned, fw, fb), options.ridge), pruned, fw, fb);
    pruned_run = std::make_unique<LayerRunner>(pruned, backend);

    for (size_t b = 0; b < nb; ++b) pruned_run->layer(j, batches[b], xp[b]);
    ++j;
  }
  if (progress) progress(layers, layers, "");
}

double reconstruction_error(const Checkpoint& base, const Checkpoint& pruned,
                            const std::vector<model::Batch>& batches, ops::Backend& backend) {
  LayerRunner b(base, backend), p(pruned, backend);
  double err = 0, norm = 0;
  for (const auto& batch : batches) {
    const auto hb = b.forward(batch), hp = p.forward(batch);
    for (size_t e = 0; e < hb.size(); ++e) {
      const double d = static_cast<double>(hp[e]) - hb[e];
      err += d * d;
      norm += static_cast<double>(hb[e]) * hb[e];
    }
  }
  return norm > 0 ? err / norm : 0.0;
}

}  // namespace ember::prune
