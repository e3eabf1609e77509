// What a pruned model keeps of its source: per layer, whether the layer stays, and which
// attention heads and FFN units (indices into the source layer's current heads and units,
// ascending). `ember prune --keep FILE` reads it, and every prune writes the one it applied
// into the output's prune.json, so that a reference implementation can slice the same parts:
//
//   {"layers": [{"heads": [0, 2, 3], "ffn": [0, 5, 9, ...]}, {"drop": true}, ...]}
//
// A layer without "heads" (or "ffn") keeps all of them. Where a plan is read (ember prune
// --keep), "heads" and "ffn" may also be counts ("heads": 9): the prune then chooses which.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/model_spec.h"

namespace ember::prune {

struct LayerKeep {
  bool drop = false;
  std::vector<int64_t> heads;  // ascending, unique, at least one unless dropped
  std::vector<int64_t> ffn;    // ascending, unique, at least one unless dropped
};

struct KeepSpec {
  std::vector<LayerKeep> layers;  // one per source layer

  int64_t kept_layers() const;
  // Everything kept: the spec of an unpruned model.
  static KeepSpec all(const model::ModelSpec& spec);
  // Parses and checks against the source model (kInvalidInput naming the layer and index:
  // an index out of range, repeated or out of order, a layer left with no head or unit, every
  // layer dropped, a layer count that differs from the model's).
  static KeepSpec from_json(const nlohmann::json& j, const model::ModelSpec& spec,
                            const std::string& origin);
  static KeepSpec load(const std::string& path, const model::ModelSpec& spec);
  nlohmann::json to_json() const;
};

// What one layer keeps: the parts named, or (list empty) the count the prune chooses.
struct LayerPlan {
  bool drop = false;
  std::vector<int64_t> heads, ffn;        // explicit, ascending; empty: choose
  int64_t head_count = 0, ffn_count = 0;  // used where the list is empty
};

// The plan that keeps exactly `keep`.
std::vector<LayerPlan> plan_of(const KeepSpec& keep);
// A keep spec whose "heads" and "ffn" may be counts as well as lists (kInvalidInput as
// KeepSpec::from_json, and for a count outside [1, n]).
std::vector<LayerPlan> plan_from_json(const nlohmann::json& j, const model::ModelSpec& spec,
                                      const std::string& origin);
std::vector<LayerPlan> load_plan(const std::string& path, const model::ModelSpec& spec);
// Whether any layer of the plan leaves its parts to be chosen.
bool has_counts(const std::vector<LayerPlan>& plan);

// Counts of what a spec keeps, per kept layer (the shape of the pruned model).
struct KeptShape {
  std::vector<int64_t> heads, ffn;
};
KeptShape kept_shape(const KeepSpec& keep);

}  // namespace ember::prune
