#include "prune/search.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "ember/ember.h"
#include "prune/model_files.h"
#include "prune/quality.h"

namespace ember::prune {
namespace fs = std::filesystem;

namespace {

std::vector<float> pooled(const runtime::Engine& e, const std::vector<model::Batch>& batches) {
  std::vector<float> out;
  for (const auto& b : batches) {
    const auto r = e.run(b, runtime::kPooled);
    out.insert(out.end(), r.pooled.begin(), r.pooled.end());
  }
  return out;
}

std::string fmt(double v, const char* f = "%.4g") {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

}  // namespace

nlohmann::json FrontPoint::to_json() const {
  nlohmann::json j = {
      {"name", name},
      {"int8", int8},
      {"cost_fraction", cost_fraction},
      {"heads", heads},
      {"ffn", ffn},
      {"parameters", parameters},
      {"base_p50_ms", base_p50_ms},
      {"p50_ms", p50_ms},
      {"speedup", speedup},
      {"cosine", cosine},
      {"neighbour_overlap", overlap},
      {"loss", loss},
      {"pareto", pareto},
      {"reconstruction_error",
       {{"before_refit", reconstruction_before}, {"after_refit", reconstruction_after}}},
      {"keep", keep}};
  j["label_accuracy"] = label_accuracy ? nlohmann::json(*label_accuracy) : nlohmann::json(nullptr);
  return j;
}

std::vector<FrontPoint> search_front(const Checkpoint& base, const fs::path& source,
                                     const std::vector<LayerCurve>& curves,
                                     const std::vector<model::Batch>& fit,
                                     const std::vector<model::Batch>& held_out,
                                     ops::Backend& backend, const SearchOptions& o,
                                     const fs::path& scratch, const SearchProgress& progress) {
  EMBER_CHECK(o.budget >= 1 && o.min_cost > 0 && o.min_cost < 1, ErrorKind::kInvalidInput,
              "--budget must be at least 1 and --min-cost in (0, 1)");
  const auto base_engine = runtime::Engine::load(source.string(), o.engine);
  const model::ModelSpec& spec = base_engine->spec();
  const int64_t dim = spec.hidden_size;
  const std::vector<float> base_emb = pooled(*base_engine, held_out);
  const bool labelled = !o.held_out_labels.empty();
  const double base_accuracy =
      labelled ? label_accuracy(*base_engine, held_out, o.held_out_labels) : 0.0;
  const CostModel cost = CostModel::of(spec, o.shapes);

  std::vector<FrontPoint> points(1);
  points[0].name = "base";
  if (labelled) points[0].label_accuracy = base_accuracy;
  points[0].parameters = base_engine->info().parameters;
  points[0].keep = KeepSpec::all(spec).to_json();
  for (const auto& l : spec.layers) {
    points[0].heads.push_back(l.attn.heads);
    points[0].ffn.push_back(l.ffn.width);
  }
  runtime::BenchOptions bo;
  bo.cells = o.shapes;
  bo.engine = o.engine;
  bo.warmup = 2;
  bo.reps = o.bench_reps;

  for (int c = 0; c < o.budget; ++c) {
    // Evenly from the least pruned (0.9 of the cost) to the most (min_cost).
    const double f = o.budget == 1
                         ? o.min_cost
                         : 0.9 - (0.9 - o.min_cost) * c / static_cast<double>(o.budget - 1);
    if (progress) progress("candidate", static_cast<size_t>(c), static_cast<size_t>(o.budget));
    std::vector<LayerPlan> plan = allocate(curves, spec, cost, f);
    const RefitResult r = select_and_refit(base, plan, fit, backend, o.refit);
    FrontPoint p;
    p.name = "c" + std::to_string(c);
    p.cost_fraction = f;
    p.keep = r.keep.to_json();
    const KeptShape shape = kept_shape(r.keep);
    p.heads = shape.heads;
    p.ffn = shape.ffn;
    p.dir = scratch / p.name;
    p.layer_fits = r.layers_json();
    p.reconstruction_before = reconstruction_error(base, base.prune(r.keep), held_out, backend);
    p.reconstruction_after = reconstruction_error(base, r.pruned, held_out, backend);
    write_model(r.pruned, source, p.dir);
    std::vector<FrontPoint> group{p};
    if (o.int8) {
      FrontPoint q = p;
      q.name += "-int8";
      q.int8 = true;
      q.dir = scratch / q.name;
      quantize(p.dir.string(), q.dir.string());
      group.push_back(q);
    }
    bo.models = {source.string()};
    for (const auto& g : group) bo.models.push_back(g.dir.string());
    const runtime::BenchReport br = runtime::run_bench(bo);
    for (size_t m = 0; m < group.size(); ++m) {
      FrontPoint& g = group[m];
      g.parameters = br.models[m + 1].parameters;
      g.speedup = 1e300;
      for (const auto& cell : o.shapes) {
        double b = 0, t = 0;
        for (const auto& res : br.results)
          if (res.cell.batch == cell.batch && res.cell.length == cell.length) {
            if (res.model == 0) b = res.p50_ms;
            if (res.model == m + 1) t = res.p50_ms;
          }
        g.base_p50_ms.push_back(b);
        g.p50_ms.push_back(t);
        g.speedup = std::min(g.speedup, t > 0 ? b / t : 0.0);
      }
      const auto engine = runtime::Engine::load(g.dir.string(), o.engine);
      const Fidelity fid = compare_embeddings(base_emb, pooled(*engine, held_out), dim, 10);
      g.cosine = fid.mean_cosine;
      g.overlap = fid.neighbour_overlap;
      g.loss = 1 - g.cosine;
      if (labelled) {
        g.label_accuracy = label_accuracy(*engine, held_out, o.held_out_labels);
        g.loss = base_accuracy - *g.label_accuracy;
      }
      points.push_back(g);
    }
    // The base's own latencies: those of its first interleaved run.
    if (points[0].p50_ms.empty()) points[0].p50_ms = points[0].base_p50_ms = group[0].base_p50_ms;
  }
  // Pareto: no other point is at least as fast and as faithful, and better in one.
  for (auto& p : points) {
    p.pareto = true;
    for (const auto& q : points)
      if (&q != &p && q.speedup >= p.speedup && q.loss <= p.loss &&
          (q.speedup > p.speedup || q.loss < p.loss))
        p.pareto = false;
  }
  return points;
}

std::optional<size_t> choose_point(const std::vector<FrontPoint>& points,
                                   std::optional<double> target_speedup,
                                   std::optional<double> max_loss) {
  std::optional<size_t> best;
  for (size_t i = 0; i < points.size(); ++i) {
    const FrontPoint& p = points[i];
    if (p.name == "base") continue;
    if (target_speedup && p.speedup >= *target_speedup &&
        (!best || p.loss < points[*best].loss ||
         (p.loss == points[*best].loss && p.cosine > points[*best].cosine)))
      best = i;
    if (max_loss && p.loss <= *max_loss && (!best || p.speedup > points[*best].speedup)) best = i;
  }
  return best;
}

void write_front(const fs::path& dir, const std::vector<FrontPoint>& points,
                 std::optional<size_t> chosen, const std::vector<runtime::BenchCell>& shapes) {
  fs::create_directories(dir);
  nlohmann::json j = {{"shapes", nlohmann::json::array()}, {"points", nlohmann::json::array()}};
  for (const auto& s : shapes)
    j["shapes"].push_back(std::to_string(s.batch) + "x" + std::to_string(s.length));
  for (const auto& p : points) j["points"].push_back(p.to_json());
  j["chosen"] = chosen ? nlohmann::json(points[*chosen].name) : nlohmann::json(nullptr);
  std::ofstream(dir / "front.json") << j.dump(2) << "\n";

  std::ofstream csv(dir / "front.csv");
  csv << "name,int8,cost_fraction,parameters,speedup,cosine,neighbour_overlap,label_accuracy,loss,"
         "pareto,chosen";
  for (const auto& s : shapes)
    csv << ",base_p50_ms_" << s.batch << "x" << s.length << ",p50_ms_" << s.batch << "x"
        << s.length;
  csv << "\n";
  for (size_t i = 0; i < points.size(); ++i) {
    const auto& p = points[i];
    csv << p.name << "," << (p.int8 ? 1 : 0) << "," << fmt(p.cost_fraction) << "," << p.parameters
        << "," << fmt(p.speedup) << "," << fmt(p.cosine, "%.5f") << "," << fmt(p.overlap, "%.4f")
        << "," << (p.label_accuracy ? fmt(*p.label_accuracy, "%.4f") : "") << ","
        << fmt(p.loss, "%.5f") << "," << (p.pareto ? 1 : 0) << ","
        << (chosen && *chosen == i ? 1 : 0);
    for (size_t s = 0; s < p.p50_ms.size(); ++s)
      csv << "," << fmt(p.base_p50_ms[s]) << "," << fmt(p.p50_ms[s]);
    csv << "\n";
  }

  // Relative latency (1 / speedup) against fidelity (cosine to the base).
  const double w = 640, h = 420, l = 70, r = 20, t = 40, b = 60;
  double xmax = 1.05, ymin = 1;
  for (const auto& p : points) {
    xmax = std::max(xmax, 1 / std::max(p.speedup, 1e-9));
    ymin = std::min(ymin, p.cosine);
  }
  ymin = std::max(0.0, std::floor(ymin * 20 - 1) / 20);
  const auto X = [&](double speedup) { return l + (1 / speedup) / xmax * (w - l - r); };
  const auto Y = [&](double cos) { return t + (1 - cos) / (1 - ymin) * (h - t - b); };
  std::ostringstream svg;
  svg << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << w << "\" height=\"" << h
      << "\" font-family=\"sans-serif\" font-size=\"12\">\n"
      << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      << "<text x=\"" << w / 2 << "\" y=\"20\" text-anchor=\"middle\">Pruning front: latency vs "
      << "fidelity (p50 relative to the base, slowest of the shapes)</text>\n"
      << "<line x1=\"" << l << "\" y1=\"" << h - b << "\" x2=\"" << w - r << "\" y2=\"" << h - b
      << "\" stroke=\"black\"/>\n<line x1=\"" << l << "\" y1=\"" << t << "\" x2=\"" << l
      << "\" y2=\"" << h - b << "\" stroke=\"black\"/>\n";
  for (int k = 0; k <= 5; ++k) {
    const double xv = xmax * k / 5, yv = ymin + (1 - ymin) * k / 5;
    const double px = l + xv / xmax * (w - l - r), py = Y(yv);
    svg << "<text x=\"" << px << "\" y=\"" << h - b + 16 << "\" text-anchor=\"middle\">"
        << fmt(xv, "%.2f") << "</text>\n<text x=\"" << l - 6 << "\" y=\"" << py + 4
        << "\" text-anchor=\"end\">" << fmt(yv, "%.3f") << "</text>\n";
  }
  svg << "<text x=\"" << (l + w - r) / 2 << "\" y=\"" << h - 20
      << "\" text-anchor=\"middle\">latency relative to the base (lower is faster)</text>\n"
      << "<text x=\"16\" y=\"" << (t + h - b) / 2 << "\" transform=\"rotate(-90 16 "
      << (t + h - b) / 2 << ")\" text-anchor=\"middle\">cosine to the base (held-out)</text>\n";
  std::vector<const FrontPoint*> front;
  for (const auto& p : points)
    if (p.pareto) front.push_back(&p);
  std::sort(front.begin(), front.end(),
            [](const FrontPoint* a, const FrontPoint* c) { return a->speedup > c->speedup; });
  svg << "<polyline fill=\"none\" stroke=\"#1f77b4\" points=\"";
  for (const auto* p : front) svg << X(p->speedup) << "," << Y(p->cosine) << " ";
  svg << "\"/>\n";
  for (size_t i = 0; i < points.size(); ++i) {
    const auto& p = points[i];
    const char* colour = p.name == "base" ? "black" : p.int8 ? "#ff7f0e" : "#1f77b4";
    svg << "<circle cx=\"" << X(p.speedup) << "\" cy=\"" << Y(p.cosine) << "\" r=\"4\" fill=\""
        << colour << "\"><title>" << p.name << ": " << fmt(p.speedup, "%.2f") << "x, cosine "
        << fmt(p.cosine, "%.4f") << "</title></circle>\n";
    if (p.name == "base" || (chosen && *chosen == i))
      svg << "<circle cx=\"" << X(p.speedup) << "\" cy=\"" << Y(p.cosine)
          << "\" r=\"9\" fill=\"none\" stroke=\"" << (p.name == "base" ? "black" : "red")
          << "\" stroke-width=\"2\"/>\n<text x=\"" << X(p.speedup) + 12 << "\" y=\""
          << Y(p.cosine) - 8 << "\">" << (p.name == "base" ? "base" : "chosen: " + p.name)
          << "</text>\n";
  }
  svg << "<text x=\"" << w - r - 150 << "\" y=\"" << t + 10
      << "\" fill=\"#1f77b4\">&#9679; fp32</text><text x=\"" << w - r - 80 << "\" y=\"" << t + 10
      << "\" fill=\"#ff7f0e\">&#9679; int8</text>\n</svg>\n";
  std::ofstream(dir / "front.svg") << svg.str();
}

}  // namespace ember::prune
