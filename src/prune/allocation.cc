#include "prune/allocation.h"

#include <algorithm>
#include <limits>

#include "core/error.h"
#include "prune/eigen_views.h"
#include "prune/layer_runner.h"
#include "prune/least_squares.h"
#include "prune/surgeon.h"

namespace ember::prune {
namespace {

// The normal equations of an output projection and the centered energy of the pre-norm sum.
struct Accumulator {
  Accumulator(int64_t inputs, int64_t outputs) : eq(inputs, outputs) {}
  void add(const ops::View& x, const ops::View& y, const std::vector<float>& sum) {
    eq.add(x, RowMatF(map_view(y)));
    Eigen::MatrixXd s = map_rows(sum.data(), y.rows, y.cols).cast<double>();
    s.colwise() -= s.rowwise().mean();
    energy += s.squaredNorm();
  }
  NormalEquations eq;
  double energy = 0;
};

// The relative error at every count kept, n..0, removing the cheapest part each time.
std::vector<double> curve(const Accumulator& a, const Eigen::MatrixXd& w0, double ridge,
                          int64_t group) {
  Surgeon s(a.eq.full(), a.eq.r, a.eq.yy, w0, ridge, group);
  const double scale = a.energy > 0 ? 1.0 / a.energy : 0.0;
  std::vector<double> out(static_cast<size_t>(s.parts()) + 1);
  double e = s.relative_error(s.weights()) * a.eq.yy;
  out.back() = e * scale;
  // Between the surgeon's steps, the error is interpolated linearly.
  for (int64_t kept = s.parts(); kept > 0;) {
    const int64_t n = Surgeon::step(kept, 0);
    const double before = e;
    e += s.remove_cheapest(n);
    for (int64_t k = 1; k <= n; ++k)
      out[static_cast<size_t>(kept - k)] =
          (before + (e - before) * static_cast<double>(k) / static_cast<double>(n)) * scale;
    kept -= n;
  }
  return out;
}

}  // namespace

std::vector<LayerCurve> profile_layers(const Checkpoint& base,
                                       const std::vector<model::Batch>& batches,
                                       ops::Backend& backend, double ridge) {
  LayerRunner run(base, backend);
  const auto& spec = run.spec();
  const EncoderNames& names = base.names();
  std::vector<std::vector<float>> x(batches.size());
  for (size_t b = 0; b < batches.size(); ++b) x[b] = run.embed(batches[b]);
  std::vector<LayerCurve> curves;
  for (size_t i = 0; i < spec.layers.size(); ++i) {
    const auto& ls = spec.layers[i];
    Accumulator attn(ls.attn.q_width(), spec.hidden_size), ffn(ls.ffn.width, spec.hidden_size);
    for (size_t b = 0; b < batches.size(); ++b) {
      std::vector<float> residual = x[b], ctx, act;
      const model::LayerTap tap = [&](model::TapPoint p, const ops::View& v) {
        if (p == model::TapPoint::kAttnContext) ctx = to_host(v);
        if (p == model::TapPoint::kFfnActivation) act = to_host(v);
        if (p == model::TapPoint::kAttnOutput || p == model::TapPoint::kFfnOutput) {
          std::vector<float> sum = to_host(v);
          for (size_t e = 0; e < sum.size(); ++e) sum[e] += residual[e];
          const std::vector<float>& in = p == model::TapPoint::kAttnOutput ? ctx : act;
          const int64_t cols = static_cast<int64_t>(in.size()) / v.rows;
          const ops::View xin{const_cast<float*>(in.data()), v.rows, cols, cols};
          (p == model::TapPoint::kAttnOutput ? attn : ffn).add(xin, v, sum);
        }
        if (p == model::TapPoint::kAttnState) residual = to_host(v);
      };
      run.layer(i, batches[b], x[b], &tap);
    }
    LayerCurve c;
    c.heads = curve(
        attn, stacked(base, names.tensor(i, names.o, "weight"), names.tensor(i, names.o, "bias")),
        ridge, ls.attn.head_dim);
    c.ffn = curve(ffn,
                  stacked(base, names.tensor(i, names.ffn_out, "weight"),
                          names.tensor(i, names.ffn_out, "bias")),
                  ridge, 1);
    curves.push_back(std::move(c));
  }
  return curves;
}

CostModel CostModel::of(const model::ModelSpec& spec,
                        const std::vector<runtime::BenchCell>& shapes) {
  CostModel m;
  const auto d = static_cast<double>(spec.hidden_size);
  for (const auto& s : shapes) {
    const auto t = static_cast<double>(s.batch * s.length), len = static_cast<double>(s.length);
    const auto& l0 = spec.layers.front();
    const auto hd = static_cast<double>(l0.attn.head_dim);
    // Q, K, V and output projections, scores and context per head; two products per unit;
    // norms, residual adds and biases per layer; embeddings and pooling once.
    const double head = t * (4 * d * hd + 2 * len * hd), unit = t * 2 * d, layer = t * d * 16,
                 fixed = t * d * 8;
    double total = fixed;
    for (const auto& l : spec.layers)
      total += static_cast<double>(l.attn.heads) * head + static_cast<double>(l.ffn.width) * unit +
               layer;
    m.head += head / total;
    m.unit += unit / total;
    m.layer += layer / total;
    m.fixed += fixed / total;
  }
  const auto n = static_cast<double>(shapes.size());
  m.head /= n;
  m.unit /= n;
  m.layer /= n;
  m.fixed /= n;
  return m;
}

double CostModel::cost(const std::vector<LayerPlan>& plan, const model::ModelSpec&) const {
  double c = fixed;
  for (const auto& p : plan)
    if (!p.drop)
      c += head * static_cast<double>(p.head_count) + unit * static_cast<double>(p.ffn_count) +
           layer;
  return c;
}

double estimated_error(const std::vector<LayerCurve>& curves, const std::vector<LayerPlan>& plan) {
  double e = 0;
  for (size_t i = 0; i < plan.size(); ++i)
    e += plan[i].drop ? curves[i].heads.front() + curves[i].ffn.front()
                      : curves[i].heads[static_cast<size_t>(plan[i].head_count)] +
                            curves[i].ffn[static_cast<size_t>(plan[i].ffn_count)];
  return e;
}

std::vector<LayerPlan> allocate(const std::vector<LayerCurve>& curves, const model::ModelSpec& spec,
                                const CostModel& cost, double fraction, bool same_heads) {
  EMBER_CHECK(fraction > 0 && fraction <= 1, ErrorKind::kInvalidInput, "cost fraction ", fraction,
              " is not in (0, 1]");
  const size_t n = curves.size();
  std::vector<LayerPlan> plan(n);
  for (size_t i = 0; i < n; ++i) {
    plan[i].head_count = static_cast<int64_t>(curves[i].heads.size()) - 1;
    plan[i].ffn_count = static_cast<int64_t>(curves[i].ffn.size()) - 1;
  }
  const int64_t width = spec.layers.front().ffn.width;
  const int64_t block = std::max<int64_t>(1, width / 64);
  const auto err = [&](size_t i, const LayerPlan& p) { return estimated_error({curves[i]}, {p}); };
  while (cost.cost(plan, spec) > fraction) {
    double best = std::numeric_limits<double>::infinity();
    std::vector<std::pair<size_t, LayerPlan>> move;
    const auto consider = [&](std::vector<std::pair<size_t, LayerPlan>> m, double saved) {
      if (saved <= 0) return;
      double added = 0;
      for (const auto& [i, p] : m) added += err(i, p) - err(i, plan[i]);
      const double ratio = added / saved;
      if (ratio < best) {
        best = ratio;
        move = std::move(m);
      }
    };
    size_t kept = 0;
    for (const auto& p : plan) kept += p.drop ? 0 : 1;
    if (same_heads) {
      std::vector<std::pair<size_t, LayerPlan>> m;
      for (size_t i = 0; i < n; ++i)
        if (!plan[i].drop && plan[i].head_count > 1) {
          LayerPlan p = plan[i];
          --p.head_count;
          m.push_back({i, p});
        }
      if (m.size() == kept) consider(m, cost.head * static_cast<double>(m.size()));
    }
    for (size_t i = 0; i < n; ++i) {
      if (plan[i].drop) continue;
      if (!same_heads && plan[i].head_count > 1) {
        LayerPlan p = plan[i];
        --p.head_count;
        consider({{i, p}}, cost.head);
      }
      if (plan[i].ffn_count > 1) {
        LayerPlan p = plan[i];
        const int64_t by = std::min(block, p.ffn_count - 1);
        p.ffn_count -= by;
        consider({{i, p}}, cost.unit * static_cast<double>(by));
      }
      if (kept > 1) {
        LayerPlan p = plan[i];
        p.drop = true;
        consider({{i, p}}, cost.head * static_cast<double>(plan[i].head_count) +
                               cost.unit * static_cast<double>(plan[i].ffn_count) + cost.layer);
      }
    }
    EMBER_CHECK(!move.empty(), ErrorKind::kInvalidInput, "no plan costs ", fraction,
                " of the model or less");
    for (auto& [i, p] : move) plan[i] = p;
  }
  return plan;
}

}  // namespace ember::prune
