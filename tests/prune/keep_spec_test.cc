// Keep specs and the choice of parts from importance scores: parsing checks each index against
// the model, and both allocations keep the most important parts (at least one per layer).
#include <gtest/gtest.h>

#include "core/error.h"
#include "prune/importance.h"
#include "prune/keep_spec.h"

namespace ember::prune {
namespace {

model::ModelSpec two_layers() {
  model::ModelSpec s;
  s.layers.resize(2);
  for (auto& l : s.layers) {
    l.attn.heads = 4;
    l.ffn.width = 6;
  }
  return s;
}

ErrorKind kind_of(const char* json) {
  try {
    KeepSpec::from_json(nlohmann::json::parse(json), two_layers(), "spec");
  } catch (const Error& e) {
    return e.kind();
  }
  return ErrorKind::kInternal;
}

TEST(KeepSpec, ParsesAndRoundTrips) {
  const auto k = KeepSpec::from_json(
      nlohmann::json::parse(R"({"layers": [{"heads": [0, 3], "ffn": [1]}, {"drop": true}]})"),
      two_layers(), "spec");
  EXPECT_EQ(k.kept_layers(), 1);
  EXPECT_EQ(k.layers[0].heads, (std::vector<int64_t>{0, 3}));
  EXPECT_TRUE(k.layers[1].drop);
  const auto again = KeepSpec::from_json(k.to_json(), two_layers(), "again");
  EXPECT_EQ(again.to_json(), k.to_json());
  // Absent lists keep everything.
  const auto all =
      KeepSpec::from_json(nlohmann::json::parse(R"({"layers": [{}, {}]})"), two_layers(), "spec");
  EXPECT_EQ(all.to_json(), KeepSpec::all(two_layers()).to_json());
}

TEST(KeepSpec, RefusesWhatTheModelCannotBe) {
  EXPECT_EQ(kind_of(R"({"layers": [{}]})"), ErrorKind::kInvalidInput);  // layer count
  EXPECT_EQ(kind_of(R"({"layers": [{"heads": [4]}, {}]})"), ErrorKind::kInvalidInput);
  EXPECT_EQ(kind_of(R"({"layers": [{"heads": [2, 1]}, {}]})"), ErrorKind::kInvalidInput);
  EXPECT_EQ(kind_of(R"({"layers": [{"heads": [1, 1]}, {}]})"), ErrorKind::kInvalidInput);
  EXPECT_EQ(kind_of(R"({"layers": [{"ffn": []}, {}]})"), ErrorKind::kInvalidInput);
  EXPECT_EQ(kind_of(R"({"layers": [{"drop": true}, {"drop": true}]})"), ErrorKind::kInvalidInput);
  EXPECT_EQ(kind_of(R"({"layers": [{"heads": "all"}, {}]})"), ErrorKind::kInvalidInput);
  EXPECT_EQ(kind_of(R"([1, 2])"), ErrorKind::kInvalidInput);
}

Importance scores() {
  Importance imp;
  // Layer 0 carries most of its energy in heads 2 and 0; layer 1 spreads it evenly.
  imp.heads = {{3, 0.5, 6, 0.5}, {1, 1, 1, 1}};
  imp.ffn = {{1, 2, 3, 4, 5, 6}, {6, 5, 4, 3, 2, 1}};
  imp.layer_energy = {10, 4};
  return imp;
}

TEST(KeepTop, UniformKeepsTheBestOfEveryLayer) {
  const auto k = keep_top(scores(), 0.5, 0.5);
  EXPECT_EQ(k.layers[0].heads, (std::vector<int64_t>{0, 2}));
  EXPECT_EQ(k.layers[1].heads, (std::vector<int64_t>{0, 1}));  // ties: the lower index
  EXPECT_EQ(k.layers[0].ffn, (std::vector<int64_t>{3, 4, 5}));
  EXPECT_EQ(k.layers[1].ffn, (std::vector<int64_t>{0, 1, 2}));
  // A tiny ratio still keeps one of each.
  const auto one = keep_top(scores(), 0.01, 0.01);
  EXPECT_EQ(one.layers[0].heads.size(), 1u);
  EXPECT_EQ(one.layers[1].ffn.size(), 1u);
}

TEST(KeepTop, GlobalSpreadsByShareOfLayerEnergy) {
  const auto k = keep_top(scores(), 0.5, 0.5, Allocation::kGlobal);
  // 4 of 8 heads: each layer's best first (0:2, 1:0), then the largest shares: layer 0's head
  // 0 (0.3), then layer 1's 0.25 heads (1 first).
  EXPECT_EQ(k.layers[0].heads, (std::vector<int64_t>{0, 2}));
  EXPECT_EQ(k.layers[1].heads, (std::vector<int64_t>{0, 1}));
  // 6 of 12 units: the best of each (0:5 at 0.6, 1:0 at 1.5), then 1.25, 1.0 and 0.75 of layer
  // 1, then the tie at 0.5 goes to the earlier layer (0:4 before 1:4).
  EXPECT_EQ(k.layers[0].ffn, (std::vector<int64_t>{4, 5}));
  EXPECT_EQ(k.layers[1].ffn, (std::vector<int64_t>{0, 1, 2, 3}));
}

}  // namespace
}  // namespace ember::prune
