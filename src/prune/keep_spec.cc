#include "prune/keep_spec.h"

#include <algorithm>

#include "core/error.h"
#include "io/json_config.h"

namespace ember::prune {

int64_t KeepSpec::kept_layers() const {
  int64_t n = 0;
  for (const auto& l : layers) n += l.drop ? 0 : 1;
  return n;
}

namespace {

std::vector<int64_t> iota(int64_t n) {
  std::vector<int64_t> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = i;
  return v;
}

// The indices a layer keeps; with `count` (not null), an integer is taken as a count instead.
std::vector<int64_t> read_indices(const nlohmann::json& layer, const char* key, int64_t limit,
                                  const std::string& where, int64_t* count = nullptr) {
  if (!layer.contains(key)) return iota(limit);
  const auto& a = layer[key];
  if (count && a.is_number_integer()) {
    *count = a.get<int64_t>();
    EMBER_CHECK(*count >= 1 && *count <= limit, ErrorKind::kInvalidInput, where, ": keeps ", *count,
                " ", key, "; the layer has ", limit, " (drop the layer to keep none)");
    return {};
  }
  EMBER_CHECK(a.is_array(), ErrorKind::kInvalidInput, where, ": '", key,
              count ? "' must be a list of indices or a count" : "' must be a list of indices");
  std::vector<int64_t> out;
  for (const auto& v : a) {
    EMBER_CHECK(v.is_number_integer(), ErrorKind::kInvalidInput, where, ": '", key,
                "' holds a non-integer");
    const int64_t i = v.get<int64_t>();
    EMBER_CHECK(i >= 0 && i < limit, ErrorKind::kInvalidInput, where, ": ", key, " index ", i,
                " is outside [0, ", limit, ")");
    EMBER_CHECK(out.empty() || i > out.back(), ErrorKind::kInvalidInput, where, ": ", key,
                " indices must ascend without repeats (", i, " after ",
                out.empty() ? 0 : out.back(), ")");
    out.push_back(i);
  }
  EMBER_CHECK(!out.empty(), ErrorKind::kInvalidInput, where, ": '", key,
              "' keeps nothing; drop the layer instead (\"drop\": true)");
  return out;
}

}  // namespace

KeepSpec KeepSpec::all(const model::ModelSpec& spec) {
  KeepSpec k;
  for (const auto& l : spec.layers)
    k.layers.push_back({false, iota(l.attn.heads), iota(l.ffn.width)});
  return k;
}

namespace {

std::vector<LayerPlan> parse_plan(const nlohmann::json& j, const model::ModelSpec& spec,
                                  const std::string& origin, bool counts) {
  EMBER_CHECK(j.is_object() && j.contains("layers") && j["layers"].is_array(),
              ErrorKind::kInvalidInput, origin, ": a keep spec is {\"layers\": [...]}");
  const auto& layers = j["layers"];
  EMBER_CHECK(layers.size() == spec.layers.size(), ErrorKind::kInvalidInput, origin, ": ",
              layers.size(), " layers listed; the model has ", spec.layers.size());
  std::vector<LayerPlan> plan;
  for (size_t i = 0; i < layers.size(); ++i) {
    const auto& l = layers[i];
    const std::string where = origin + ": layer " + std::to_string(i);
    EMBER_CHECK(l.is_object(), ErrorKind::kInvalidInput, where, " must be an object");
    LayerPlan lp;
    if (l.contains("drop")) {
      EMBER_CHECK(l["drop"].is_boolean(), ErrorKind::kInvalidInput, where,
                  ": 'drop' must be true or false");
      lp.drop = l["drop"].get<bool>();
    }
    if (!lp.drop) {
      lp.heads = read_indices(l, "heads", spec.layers[i].attn.heads, where,
                              counts ? &lp.head_count : nullptr);
      lp.ffn =
          read_indices(l, "ffn", spec.layers[i].ffn.width, where, counts ? &lp.ffn_count : nullptr);
    }
    plan.push_back(std::move(lp));
  }
  const bool kept = std::any_of(plan.begin(), plan.end(), [](const auto& p) { return !p.drop; });
  EMBER_CHECK(kept, ErrorKind::kInvalidInput, origin, ": every layer is dropped");
  return plan;
}

}  // namespace

std::vector<LayerPlan> plan_from_json(const nlohmann::json& j, const model::ModelSpec& spec,
                                      const std::string& origin) {
  return parse_plan(j, spec, origin, true);
}

std::vector<LayerPlan> load_plan(const std::string& path, const model::ModelSpec& spec) {
  return plan_from_json(io::parse_json(io::read_text_file(path), path), spec, path);
}

bool has_counts(const std::vector<LayerPlan>& plan) {
  return std::any_of(plan.begin(), plan.end(), [](const LayerPlan& p) {
    return !p.drop && (p.heads.empty() || p.ffn.empty());
  });
}

std::vector<LayerPlan> plan_of(const KeepSpec& keep) {
  std::vector<LayerPlan> plan;
  for (const auto& l : keep.layers) plan.push_back({l.drop, l.heads, l.ffn, 0, 0});
  return plan;
}

KeepSpec KeepSpec::from_json(const nlohmann::json& j, const model::ModelSpec& spec,
                             const std::string& origin) {
  KeepSpec k;
  for (auto& p : parse_plan(j, spec, origin, false))
    k.layers.push_back({p.drop, std::move(p.heads), std::move(p.ffn)});
  return k;
}

KeepSpec KeepSpec::load(const std::string& path, const model::ModelSpec& spec) {
  return from_json(io::parse_json(io::read_text_file(path), path), spec, path);
}

nlohmann::json KeepSpec::to_json() const {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& l : layers) {
    if (l.drop)
      out.push_back({{"drop", true}});
    else
      out.push_back({{"heads", l.heads}, {"ffn", l.ffn}});
  }
  return {{"layers", out}};
}

KeptShape kept_shape(const KeepSpec& keep) {
  KeptShape s;
  for (const auto& l : keep.layers) {
    if (l.drop) continue;
    s.heads.push_back(static_cast<int64_t>(l.heads.size()));
    s.ffn.push_back(static_cast<int64_t>(l.ffn.size()));
  }
  return s;
}

}  // namespace ember::prune
