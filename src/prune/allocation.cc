#include "prune/allocation.h"

#include <algorithm>
#include <limits>
#include <string>

#include "core/error.h"
#include "prune/eigen_views.h"
#include "prune/keep_spec.h"
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

// The surgeon's weights when `kept` parts were left.
struct Snapshot {
  int64_t kept = 0;
  std::vector<int64_t> parts;
  Eigen::MatrixXd w;
};

// The relative error at every count kept, n..0, removing the cheapest part each time; the
// weights at the first step at or below each count of `grid` (descending) into `snaps`.
std::vector<double> curve(const Accumulator& a, const Eigen::MatrixXd& w0, double ridge,
                          int64_t group, const std::vector<int64_t>& grid = {},
                          std::vector<Snapshot>* snaps = nullptr) {
  Surgeon s(a.eq.full(), a.eq.r, a.eq.yy, w0, ridge, group);
  const double scale = a.energy > 0 ? 1.0 / a.energy : 0.0;
  std::vector<double> out(static_cast<size_t>(s.parts()) + 1);
  double e = s.relative_error(s.weights()) * a.eq.yy;
  out.back() = e * scale;
  size_t next = 0;
  // Between the surgeon's steps, the error is interpolated linearly.
  for (int64_t kept = s.parts(); kept > 0;) {
    const int64_t n = Surgeon::step(kept, 0);
    const double before = e;
    e += s.remove_cheapest(n);
    for (int64_t k = 1; k <= n; ++k)
      out[static_cast<size_t>(kept - k)] =
          (before + (e - before) * static_cast<double>(k) / static_cast<double>(n)) * scale;
    kept -= n;
    if (snaps && next < grid.size() && kept <= grid[next] && kept > 0) {
      snaps->push_back({kept, s.kept(), s.weights()});
      while (next < grid.size() && kept <= grid[next]) ++next;
    }
  }
  return out;
}

// Counts at 3/4, 1/2 and 1/4 of n (distinct, at least 1), descending.
std::vector<int64_t> grid_of(int64_t n) {
  std::vector<int64_t> g;
  for (const int q : {3, 2, 1}) {
    const int64_t k = std::max<int64_t>(1, n * q / 4);
    if (k < n && (g.empty() || k < g.back())) g.push_back(k);
  }
  return g;
}

// The projection `w` ([W^T; b^T], rows of removed inputs zero) of its kept parts, as a Linear.
void set_projection(Checkpoint& c, const std::string& weight, const std::string& bias,
                    const Eigen::MatrixXd& w, const std::vector<int64_t>& parts, int64_t group) {
  const int64_t out = w.cols(), in = static_cast<int64_t>(parts.size()) * group;
  std::vector<float> wt(static_cast<size_t>(out * in)), b(static_cast<size_t>(out));
  for (int64_t o = 0; o < out; ++o) {
    int64_t col = 0;
    for (const int64_t p : parts)
      for (int64_t e = 0; e < group; ++e)
        wt[o * in + col++] = static_cast<float>(w(p * group + e, o));
    b[o] = static_cast<float>(w(w.rows() - 1, o));
  }
  c.set(weight, Shape{out, in}, std::move(wt));
  c.set(bias, Shape{out}, std::move(b));
}

// Each sequence's mean last hidden state, normalized, as rows.
Eigen::MatrixXd pooled_rows(const std::vector<std::vector<float>>& hidden,
                            const std::vector<model::Batch>& eval) {
  int64_t rows = 0;
  for (const auto& b : eval) rows += b.size();
  const auto h = static_cast<int64_t>(hidden.front().size()) / eval.front().num_tokens();
  Eigen::MatrixXd out(rows, h);
  int64_t r = 0;
  for (size_t b = 0; b < eval.size(); ++b)
    for (int64_t s = 0; s < eval[b].size(); ++s, ++r) {
      const auto x = map_rows(hidden[b].data() + eval[b].seq_begin(s) * h, eval[b].seq_len(s), h);
      out.row(r) = x.cast<double>().colwise().mean();
      out.row(r).normalize();
    }
  return out;
}

// How far `c`, run from layer `from` on the unpruned model's states there (states[layer][batch]),
// moves the cosine similarities between the sentences of `eval` (mean-pooled last hidden
// states): |S - S_base|^2 / |S_base - I|^2 over the similarity matrices, what the order of each
// sentence's neighbours depends on.
double output_error(const Checkpoint& c, size_t from, const std::vector<model::Batch>& eval,
                    const std::vector<std::vector<std::vector<float>>>& states,
                    ops::Backend& backend) {
  LayerRunner run(c, backend);
  std::vector<std::vector<float>> out(eval.size());
  for (size_t b = 0; b < eval.size(); ++b) {
    out[b] = states[from][b];
    for (size_t i = from; i < run.layers(); ++i) run.layer(i, eval[b], out[b]);
  }
  const Eigen::MatrixXd p = pooled_rows(out, eval), q = pooled_rows(states.back(), eval);
  const Eigen::MatrixXd sq = q * q.transpose();
  const double norm = (sq - Eigen::MatrixXd::Identity(sq.rows(), sq.cols())).squaredNorm();
  return norm > 0 ? (p * p.transpose() - sq).squaredNorm() / norm : 0.0;
}

// `local` rescaled to pass through the output errors measured at the snapshots' counts (and 0
// with every part kept): linear in the local error between them, proportional below the last.
std::vector<double> rescaled(const std::vector<double>& local, const std::vector<Snapshot>& snaps,
                             const std::vector<double>& measured) {
  const auto n = static_cast<int64_t>(local.size()) - 1;
  std::vector<std::pair<int64_t, double>> anchors{{n, 0.0}};
  for (size_t k = 0; k < snaps.size(); ++k) anchors.push_back({snaps[k].kept, measured[k]});
  std::vector<double> out(local.size());
  for (int64_t k = n; k >= 0; --k) {
    size_t a = 0;
    while (a + 1 < anchors.size() && anchors[a + 1].first >= k) ++a;
    const auto lk = local[static_cast<size_t>(k)];
    if (a + 1 < anchors.size()) {
      const auto [k0, o0] = anchors[a];
      const auto [k1, o1] = anchors[a + 1];
      const double l0 = local[static_cast<size_t>(k0)], l1 = local[static_cast<size_t>(k1)];
      const double t = l1 > l0 ? (lk - l0) / (l1 - l0) : static_cast<double>(k0 - k) / (k0 - k1);
      out[static_cast<size_t>(k)] = o0 + std::clamp(t, 0.0, 1.0) * (o1 - o0);
    } else {
      const auto [k0, o0] = anchors[a];
      const double l0 = local[static_cast<size_t>(k0)];
      out[static_cast<size_t>(k)] = l0 > 0 ? o0 * std::max(1.0, lk / l0) : o0;
    }
  }
  return out;
}

}  // namespace

std::vector<LayerCurve> profile_layers(const Checkpoint& base,
                                       const std::vector<model::Batch>& batches,
                                       ops::Backend& backend, double ridge,
                                       const std::vector<model::Batch>& output_eval) {
  LayerRunner run(base, backend);
  const auto& spec = run.spec();
  const EncoderNames& names = base.names();
  const size_t layers = spec.layers.size();
  std::vector<std::vector<float>> x(batches.size());
  for (size_t b = 0; b < batches.size(); ++b) x[b] = run.embed(batches[b]);
  // The unpruned model's states on the output-scoring texts: the input of every layer, and the
  // last hidden state.
  std::vector<std::vector<std::vector<float>>> states(layers + 1);
  for (size_t b = 0; b < output_eval.size(); ++b) {
    std::vector<float> s = run.embed(output_eval[b]);
    for (size_t i = 0; i < layers; ++i) {
      states[i].push_back(s);
      run.layer(i, output_eval[b], s);
    }
    states[layers].push_back(std::move(s));
  }
  const bool at_output = !output_eval.empty();
  std::vector<LayerCurve> curves;
  for (size_t i = 0; i < layers; ++i) {
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
    const Eigen::MatrixXd wo =
        stacked(base, names.tensor(i, names.o, "weight"), names.tensor(i, names.o, "bias"));
    const Eigen::MatrixXd w2 = stacked(base, names.tensor(i, names.ffn_out, "weight"),
                                       names.tensor(i, names.ffn_out, "bias"));
    std::vector<Snapshot> head_snaps, ffn_snaps;
    LayerCurve c;
    c.heads = curve(attn, wo, ridge, ls.attn.head_dim, grid_of(ls.attn.heads),
                    at_output ? &head_snaps : nullptr);
    c.ffn = curve(ffn, w2, ridge, 1, grid_of(ls.ffn.width), at_output ? &ffn_snaps : nullptr);
    // At the output: the model with only this layer's heads (units) cut to each snapshot's, its
    // projection as the surgeon left it, run on held texts to the last hidden state.
    const auto measure = [&](const std::vector<Snapshot>& snaps, bool heads) {
      std::vector<double> m;
      for (const auto& sn : snaps) {
        KeepSpec k = KeepSpec::all(spec);
        (heads ? k.layers[i].heads : k.layers[i].ffn) = sn.parts;
        Checkpoint cut = base.prune(k);
        const std::string& proj = heads ? names.o : names.ffn_out;
        set_projection(cut, names.tensor(i, proj, "weight"), names.tensor(i, proj, "bias"), sn.w,
                       sn.parts, heads ? ls.attn.head_dim : 1);
        m.push_back(output_error(cut, i, output_eval, states, backend));
      }
      return m;
    };
    if (at_output) c.heads = rescaled(c.heads, head_snaps, measure(head_snaps, true));
    if (at_output) c.ffn = rescaled(c.ffn, ffn_snaps, measure(ffn_snaps, false));
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
                                const CostModel& cost, double fraction) {
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
    for (size_t i = 0; i < n; ++i) {
      if (plan[i].drop) continue;
      if (plan[i].head_count > 1) {
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
