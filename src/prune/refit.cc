#include "prune/refit.h"

#include <map>
#include <memory>

#include "core/error.h"
#include "prune/eigen_views.h"
#include "prune/input_fit.h"
#include "prune/layer_runner.h"
#include "prune/least_squares.h"
#include "prune/surgeon.h"

namespace ember::prune {
namespace {

// The rows of `s` of the kept parts (`group` inputs each) and the bias row.
Eigen::MatrixXd kept_rows(const Eigen::MatrixXd& s, const std::vector<int64_t>& parts,
                          int64_t group) {
  const int64_t in = s.rows() - 1;
  Eigen::MatrixXd out(static_cast<int64_t>(parts.size()) * group + 1, s.cols());
  int64_t row = 0;
  for (const int64_t p : parts)
    for (int64_t e = 0; e < group; ++e) out.row(row++) = s.row(p * group + e);
  out.row(row) = s.row(in);
  return out;
}

// A zeroed copy of `s` but for the kept parts' rows and the bias.
Eigen::MatrixXd masked(const Eigen::MatrixXd& s, const std::vector<int64_t>& parts, int64_t group) {
  Eigen::MatrixXd out = Eigen::MatrixXd::Zero(s.rows(), s.cols());
  for (const int64_t p : parts) out.middleRows(p * group, group) = s.middleRows(p * group, group);
  out.row(s.rows() - 1) = s.row(s.rows() - 1);
  return out;
}

// The columns of `s` ([W^T; b^T] of a projection) of the kept parts' outputs.
Eigen::MatrixXd kept_cols(const Eigen::MatrixXd& s, const std::vector<int64_t>& parts,
                          int64_t group) {
  Eigen::MatrixXd out(s.rows(), static_cast<int64_t>(parts.size()) * group);
  int64_t col = 0;
  for (const int64_t p : parts) {
    out.middleCols(col, group) = s.middleCols(p * group, group);
    col += group;
  }
  return out;
}

struct Fitted {
  Shape shape;
  std::vector<float> data;
};

void unstack(const Eigen::MatrixXd& s, std::map<std::string, Fitted>& out,
             const std::string& weight, const std::string& bias) {
  const int64_t in = s.rows() - 1, n = s.cols();
  std::vector<float> w(static_cast<size_t>(n * in)), b(static_cast<size_t>(n));
  for (int64_t o = 0; o < n; ++o) {
    for (int64_t i = 0; i < in; ++i) w[o * in + i] = static_cast<float>(s(i, o));
    b[o] = static_cast<float>(s(in, o));
  }
  out[weight] = {Shape{n, in}, std::move(w)};
  out[bias] = {Shape{n}, std::move(b)};
}

RowMatF difference(const std::vector<float>& a, const std::vector<float>& b, int64_t cols) {
  const int64_t rows = static_cast<int64_t>(a.size()) / cols;
  return map_rows(a.data(), rows, cols) - map_rows(b.data(), rows, cols);
}

// Removes the parts a plan does not keep, or the cheapest down to its count.
void operate(Surgeon& s, const std::vector<int64_t>& keep, int64_t count, size_t layer) {
  const char* what = "FFN units";
  if (keep.empty()) {
    EMBER_CHECK(count >= 1 && count <= s.parts(), ErrorKind::kInvalidInput, "layer ", layer,
                ": cannot keep ", count, " of ", s.parts(), " ", what);
    s.remove_down_to(count);
    return;
  }
  std::vector<char> kept(static_cast<size_t>(s.parts()), 0);
  for (const int64_t p : keep) {
    EMBER_CHECK(p >= 0 && p < s.parts(), ErrorKind::kInvalidInput, "layer ", layer, ": ", what, " ",
                p, " out of range");
    kept[static_cast<size_t>(p)] = 1;
  }
  for (int64_t p = 0; p < s.parts(); ++p)
    if (!kept[static_cast<size_t>(p)]) s.remove(p);
}

}  // namespace

nlohmann::json RefitResult::layers_json() const {
  nlohmann::json j = nlohmann::json::array();
  for (const auto& l : layers)
    j.push_back({{"attn", {l.attn_unpruned, l.attn_sliced, l.attn_fitted}},
                 {"ffn", {l.ffn_unpruned, l.ffn_sliced, l.ffn_fitted}},
                 {"qkv", {l.qkv_unpruned, l.qkv_fitted}},
                 {"ffn_in", {l.ffn_in_unpruned, l.ffn_in_fitted}}});
  return j;
}

RefitResult select_and_refit(const Checkpoint& base, const std::vector<LayerPlan>& plan,
                             const std::vector<model::Batch>& batches, ops::Backend& backend,
                             const RefitOptions& options, const RefitProgress& progress) {
  EMBER_CHECK(options.ridge >= 0, ErrorKind::kInvalidInput, "--ridge must not be negative");
  EMBER_CHECK(options.input_ridge >= 0, ErrorKind::kInvalidInput,
              "--input-ridge must not be negative");
  LayerRunner base_run(base, backend);
  const model::ModelSpec& spec = base_run.spec();
  const size_t layers = spec.layers.size();
  EMBER_CHECK(plan.size() == layers, ErrorKind::kInvalidInput, "the plan lists ", plan.size(),
              " layers; the model has ", layers);
  const int64_t h = base_run.hidden();
  const EncoderNames& names = base.names();

  // The result so far: layers before the current one as decided, the rest whole; the fitted
  // projections (by their names in the pruned model) laid over the slices.
  RefitResult res;
  res.keep = KeepSpec::all(spec);
  // Heads named by the plan are sliced from the start.
  for (size_t i = 0; i < layers && i < plan.size(); ++i)
    if (!plan[i].heads.empty()) res.keep.layers[i].heads = plan[i].heads;
  std::map<std::string, Fitted> fitted;
  auto build = [&] {
    Checkpoint c = base.prune(res.keep);
    for (const auto& [name, t] : fitted) c.set(name, t.shape, t.data);
    return c;
  };
  res.pruned = build();
  auto runner = std::make_unique<LayerRunner>(res.pruned, backend);
  auto rebuild = [&] {
    res.pruned = build();
    runner = std::make_unique<LayerRunner>(res.pruned, backend);
  };

  const size_t nb = batches.size();
  std::vector<std::vector<float>> xb(nb), xp(nb), s_attn(nb), s_ffn(nb), u_ffn(nb);
  for (size_t b = 0; b < nb; ++b) xp[b] = xb[b] = base_run.embed(batches[b]);
  size_t j = 0;  // the pruned model's index of source layer i
  for (size_t i = 0; i < layers; ++i) {
    if (progress) progress(i, layers, "layer " + std::to_string(i));
    const bool fit_inputs = options.inputs && !plan[i].drop;
    InputFit qkv_in(h), ffn_in(h);
    if (fit_inputs)
      for (size_t b = 0; b < nb; ++b) qkv_in.add(xp[b], xb[b]);
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
      if (fit_inputs) u_ffn[b] = state;
      s_ffn[b] = std::move(state);
      for (size_t e = 0; e < s_ffn[b].size(); ++e) s_ffn[b][e] += ffn_out[e];
    }
    if (plan[i].drop) {
      res.keep.layers[i].drop = true;
      rebuild();
      continue;
    }
    const auto& ls = spec.layers[i];
    LayerFit fit;

    // The attention's output projection, every head present (but those the plan has already
    // left out), on the pruned model's input.
    const std::vector<int64_t> present = res.keep.layers[i].heads;
    const int64_t hd = ls.attn.head_dim;
    // Q, K and V of every head, re-fitted to the unpruned values first (input_fit.h).
    std::map<std::string, Eigen::MatrixXd> qkv;
    if (fit_inputs) {
      for (const std::string* p : {&names.q, &names.k, &names.v}) {
        const Eigen::MatrixXd w0 =
            stacked(base, names.tensor(i, *p, "weight"), names.tensor(i, *p, "bias"));
        Eigen::MatrixXd w = qkv_in.fit(w0, options.input_ridge);
        fit.qkv_unpruned += qkv_in.relative_error(w0, w0) / 3;
        fit.qkv_fitted += qkv_in.relative_error(w, w0) / 3;
        unstack(kept_cols(w, present, hd), fitted, names.tensor(j, *p, "weight"),
                names.tensor(j, *p, "bias"));
        qkv[*p] = std::move(w);
      }
      rebuild();
    }
    NormalEquations attn(static_cast<int64_t>(present.size()) * hd, h);
    for (size_t b = 0; b < nb; ++b) {
      std::vector<float> x = xp[b];
      const RowMatF y = difference(s_attn[b], xp[b], h);
      const model::LayerTap tap = [&](model::TapPoint p, const ops::View& v) {
        if (p == model::TapPoint::kAttnContext) attn.add(v, y);
      };
      runner->layer(j, batches[b], x, &tap);
    }
    const Eigen::MatrixXd wo = kept_rows(
        stacked(base, names.tensor(i, names.o, "weight"), names.tensor(i, names.o, "bias")),
        present, hd);
    Surgeon sa(attn.full(), attn.r, attn.yy, wo, options.ridge, hd);
    fit.attn_unpruned = sa.relative_error(wo);
    if (plan[i].heads.empty()) {
      EMBER_CHECK(plan[i].head_count >= 1 && plan[i].head_count <= sa.parts(),
                  ErrorKind::kInvalidInput, "layer ", i, ": cannot keep ", plan[i].head_count,
                  " of ", sa.parts(), " heads");
      sa.remove_down_to(plan[i].head_count);
    }
    res.keep.layers[i].heads.clear();
    for (const int64_t p : sa.kept()) res.keep.layers[i].heads.push_back(present[p]);
    fit.attn_sliced = sa.relative_error(masked(wo, sa.kept(), hd));
    fit.attn_fitted = sa.relative_error(sa.weights());
    unstack(kept_rows(sa.weights(), sa.kept(), hd), fitted, names.tensor(j, names.o, "weight"),
            names.tensor(j, names.o, "bias"));
    for (const auto& [p, w] : qkv)
      unstack(kept_cols(w, res.keep.layers[i].heads, hd), fitted, names.tensor(j, p, "weight"),
              names.tensor(j, p, "bias"));
    rebuild();

    // The FFN's intermediate rows of every unit, re-fitted to the unpruned pre-activations on
    // the state the pruned attention gives.
    Eigen::MatrixXd w1;
    if (fit_inputs) {
      for (size_t b = 0; b < nb; ++b) {
        std::vector<float> x = xp[b], state;
        const model::LayerTap tap = [&](model::TapPoint p, const ops::View& v) {
          if (p == model::TapPoint::kAttnState) state = to_host(v);
        };
        runner->layer(j, batches[b], x, &tap);
        ffn_in.add(state, u_ffn[b]);
      }
      const Eigen::MatrixXd w0 = stacked(base, names.tensor(i, names.ffn_in, "weight"),
                                         names.tensor(i, names.ffn_in, "bias"));
      w1 = ffn_in.fit(w0, options.input_ridge);
      fit.ffn_in_unpruned = ffn_in.relative_error(w0, w0);
      fit.ffn_in_fitted = ffn_in.relative_error(w1, w0);
      unstack(w1, fitted, names.tensor(j, names.ffn_in, "weight"),
              names.tensor(j, names.ffn_in, "bias"));
      rebuild();
    }

    // The FFN's output projection, every unit present, on the state the pruned attention gives.
    NormalEquations ffn(ls.ffn.width, h);
    for (size_t b = 0; b < nb; ++b) {
      std::vector<float> x = xp[b], state;
      const model::LayerTap tap = [&](model::TapPoint p, const ops::View& v) {
        if (p == model::TapPoint::kAttnState) state = to_host(v);
        if (p == model::TapPoint::kFfnActivation) ffn.add(v, difference(s_ffn[b], state, h));
      };
      runner->layer(j, batches[b], x, &tap);
    }
    const Eigen::MatrixXd w2 = stacked(base, names.tensor(i, names.ffn_out, "weight"),
                                       names.tensor(i, names.ffn_out, "bias"));
    Surgeon sf(ffn.full(), ffn.r, ffn.yy, w2, options.ridge, 1);
    fit.ffn_unpruned = sf.relative_error(w2);
    operate(sf, plan[i].ffn, plan[i].ffn_count, i);
    res.keep.layers[i].ffn = sf.kept();
    fit.ffn_sliced = sf.relative_error(masked(w2, sf.kept(), 1));
    fit.ffn_fitted = sf.relative_error(sf.weights());
    unstack(kept_rows(sf.weights(), sf.kept(), 1), fitted, names.tensor(j, names.ffn_out, "weight"),
            names.tensor(j, names.ffn_out, "bias"));
    if (fit_inputs)
      unstack(kept_cols(w1, sf.kept(), 1), fitted, names.tensor(j, names.ffn_in, "weight"),
              names.tensor(j, names.ffn_in, "bias"));
    rebuild();

    for (size_t b = 0; b < nb; ++b) runner->layer(j, batches[b], xp[b]);
    res.layers.push_back(fit);
    ++j;
  }
  EMBER_CHECK(res.keep.kept_layers() > 0, ErrorKind::kInvalidInput,
              "not every layer can be dropped");
  if (progress) progress(layers, layers, "");
  return res;
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
