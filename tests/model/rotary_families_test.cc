// ModernBERT and Qwen3 beyond their parity fixtures: their configs as the Hub spells them
// (global_attn_every_n_layers, global/local_rope_theta, rope_theta + rope_scaling: the keys that
// transformers 5 rewrites into layer_types and rope_parameters when it saves), ModernBERT's head
// with classifier_pooling "cls" against Hugging Face's logits for it, Qwen3's body under a
// causal-LM checkpoint's "model." prefix, and the variants Ember refuses with a typed error.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/safetensors.h"
#include "io/safetensors_writer.h"
#include "model/reference.h"
#include "runtime/engine.h"

namespace ember {
namespace {
namespace fs = std::filesystem;
using testing::Reference;

constexpr float kTol = 1e-4f;  // as tests/model/parity_test.cc

float max_abs_diff(const std::vector<float>& a, const float* b) {
  float m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::fabs(a[i] - b[i]));
  return m;
}

// A copy of a fixture's model directory whose config.json (and weights) a test rewrites.
class ModelCopy : public ::testing::Test {
 protected:
  void copy(const std::string& fixture) {
    ref_ = std::make_unique<Reference>(Reference::load(fixture));
    dir_ = fs::temp_directory_path() /
           cat("ember-rotary-", ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::copy(ref_->model, dir_, fs::copy_options::recursive);
  }
  void TearDown() override { fs::remove_all(dir_); }

  void edit_config(const std::function<void(nlohmann::json&)>& edit) {
    std::ifstream in(dir_ / "config.json");
    nlohmann::json j = nlohmann::json::parse(in);
    edit(j);
    std::ofstream(dir_ / "config.json") << j.dump(2);
  }
  // Every tensor renamed to prefix + name.
  void prefix_weights(const std::string& prefix) {
    const auto file = io::SafetensorsFile::open(dir_ / "model.safetensors");
    std::vector<io::TensorToWrite> out;
    for (const auto& [name, t] : file.tensors()) out.push_back({prefix + name, t});
    io::write_safetensors(dir_ / "renamed.safetensors", out, {});
    fs::rename(dir_ / "renamed.safetensors", dir_ / "model.safetensors");
  }
  model::Batch batch(size_t i) const {
    model::Batch b;
    b.add(ref_->ints(cat("ids.", i)), ref_->ints(cat("type_ids.", i)));
    return b;
  }
  // The largest |diff| from the reference's hidden states over every input.
  float worst_hidden_diff(const runtime::Engine& e) const {
    float worst = 0;
    for (size_t i = 0; i < ref_->texts.size(); ++i) {
      const auto r = e.run(batch(i), runtime::kHidden);
      const auto expected = ref_->floats(cat("hidden.", i));
      if (r.hidden.size() != expected.size()) return INFINITY;
      worst = std::max(worst, max_abs_diff(r.hidden, expected.data()));
    }
    return worst;
  }
  ErrorKind load_error_kind() const {
    try {
      runtime::Engine::load(dir_.string());
    } catch (const Error& e) {
      return e.kind();
    }
    ADD_FAILURE() << "loading " << dir_ << " succeeded";
    return ErrorKind::kInternal;
  }

  std::unique_ptr<Reference> ref_;
  fs::path dir_;
};

TEST_F(ModelCopy, ModernBertHubConfigKeysGiveTheSameModel) {
  copy("tiny-modernbert-seqcls");
  edit_config([](auto& j) {
    j.erase("layer_types");
    j.erase("rope_parameters");
    j["global_attn_every_n_layers"] = 3;
    j["global_rope_theta"] = 160000.0;
    j["local_rope_theta"] = 10000.0;
  });
  EXPECT_LE(worst_hidden_diff(*runtime::Engine::load(dir_.string())), kTol);

  // The keys are read: a different global layer spacing is a different model.
  edit_config([](auto& j) { j["global_attn_every_n_layers"] = 2; });
  EXPECT_GT(worst_hidden_diff(*runtime::Engine::load(dir_.string())), 100 * kTol);
}

// transformers reads layer_types when a config has both; so does Ember.
TEST_F(ModelCopy, ModernBertLayerTypesWinOverTheEveryNLayersKey) {
  copy("tiny-modernbert-tokcls");
  edit_config([](auto& j) { j["global_attn_every_n_layers"] = 2; });
  EXPECT_LE(worst_hidden_diff(*runtime::Engine::load(dir_.string())), kTol);
}

TEST_F(ModelCopy, ModernBertClsPoolingHeadMatchesHuggingFace) {
  copy("tiny-modernbert-seqcls");
  edit_config([](auto& j) { j["classifier_pooling"] = "cls"; });
  const auto engine = runtime::Engine::load(dir_.string());
  const auto expected = ref_->floats("logits_cls_pooling");
  const auto mean_pooled = ref_->floats("logits");
  const size_t c = engine->spec().labels.size();
  ASSERT_EQ(expected.size(), ref_->texts.size() * c);
  float worst = 0, from_mean = 0;
  for (size_t i = 0; i < ref_->texts.size(); ++i) {
    const auto r = engine->run(batch(i), runtime::kSeqLogits);
    worst = std::max(worst, max_abs_diff(r.seq_logits, expected.data() + i * c));
    from_mean = std::max(from_mean, max_abs_diff(r.seq_logits, mean_pooled.data() + i * c));
  }
  EXPECT_LE(worst, kTol);
  EXPECT_GT(from_mean, 100 * kTol) << "cls and mean pooling gave the same logits";
}

// Qwen3-Embedding's config.json names Qwen3ForCausalLM, with rope_theta and rope_scaling null;
// a causal-LM checkpoint keeps the body under "model.".
TEST_F(ModelCopy, Qwen3HubConfigAndCausalLmPrefix) {
  copy("tiny-qwen3-embedding");
  edit_config([](auto& j) {
    j.erase("layer_types");
    j.erase("rope_parameters");
    j["architectures"] = nlohmann::json::array({"Qwen3ForCausalLM"});
    j["rope_theta"] = 1000000;
    j["rope_scaling"] = nullptr;
  });
  prefix_weights("model.");
  const auto engine = runtime::Engine::load(dir_.string());
  EXPECT_LE(worst_hidden_diff(*engine), kTol);
  const auto pooled = ref_->floats("pooled");
  const int64_t h = engine->spec().hidden_size;
  for (size_t i = 0; i < ref_->texts.size(); ++i)
    EXPECT_LE(max_abs_diff(engine->run(batch(i), runtime::kPooled).pooled, pooled.data() + i * h),
              kTol)
        << "input " << i;

  edit_config([](auto& j) { j["rope_theta"] = 10000; });
  EXPECT_GT(worst_hidden_diff(*runtime::Engine::load(dir_.string())), 100 * kTol);
}

TEST_F(ModelCopy, ModernBertVariantsEmberRefuses) {
  copy("tiny-modernbert-seqcls");
  const nlohmann::json original = [&] {
    std::ifstream in(dir_ / "config.json");
    return nlohmann::json::parse(in);
  }();
  const std::vector<std::pair<std::string, std::function<void(nlohmann::json&)>>> cases = {
      {"scaled rotary",
       [](auto& j) {
         j["rope_scaling"] = {{"rope_type", "linear"}, {"factor", 2.0}};
       }},
      {"yarn on local layers",
       [](auto& j) { j["rope_parameters"]["sliding_attention"]["rope_type"] = "yarn"; }},
      {"unknown layer type", [](auto& j) { j["layer_types"][1] = "chunked_attention"; }},
      {"max head pooling", [](auto& j) { j["classifier_pooling"] = "max"; }},
  };
  for (const auto& [what, edit] : cases) {
    edit_config([&](auto& j) {
      j = original;
      edit(j);
    });
    EXPECT_EQ(load_error_kind(), ErrorKind::kUnsupported) << what;
  }
  edit_config([&](auto& j) {
    j = original;
    j["layer_types"].erase(0);
  });
  EXPECT_EQ(load_error_kind(), ErrorKind::kInvalidInput) << "layer_types one short";
}

TEST_F(ModelCopy, Qwen3VariantsEmberRefuses) {
  copy("tiny-qwen3-embedding");
  const nlohmann::json original = [&] {
    std::ifstream in(dir_ / "config.json");
    return nlohmann::json::parse(in);
  }();
  const std::vector<std::pair<std::string, std::function<void(nlohmann::json&)>>> cases = {
      {"sliding window layer", [](auto& j) { j["layer_types"][2] = "sliding_attention"; }},
      {"use_sliding_window", [](auto& j) { j["use_sliding_window"] = true; }},
      {"yarn", [](auto& j) { j["rope_parameters"]["rope_type"] = "yarn"; }},
      {"classifier",
       [](auto& j) {
         j["architectures"] = nlohmann::json::array({"Qwen3ForSequenceClassification"});
       }},
  };
  for (const auto& [what, edit] : cases) {
    edit_config([&](auto& j) {
      j = original;
      edit(j);
    });
    EXPECT_EQ(load_error_kind(), ErrorKind::kUnsupported) << what;
  }
  // Key/value heads that do not divide the query heads, and a head_dim the weights lack.
  for (const auto& [key, value] : {std::pair{"num_key_value_heads", 3}, {"head_dim", 8}}) {
    edit_config([&](auto& j) {
      j = original;
      j[key] = value;
    });
    EXPECT_EQ(load_error_kind(), ErrorKind::kInvalidInput) << key;
  }
}

}  // namespace
}  // namespace ember
