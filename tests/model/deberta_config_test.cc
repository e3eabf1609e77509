// DeBERTa-v2/v3 configurations: what the tiny fixtures' configs become in the model description,
// and the variants Ember refuses (the convolution layer, separate position projections,
// DeBERTa v1, unknown position terms, impossible buckets) with a typed error naming them.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "runtime/engine.h"

namespace ember {
namespace {
namespace fs = std::filesystem;

const fs::path kFixtures = fs::path(EMBER_SOURCE_DIR) / "tests/fixtures/models";

TEST(DebertaConfig, V3FixturesBecomeDisentangledLayers) {
  const auto base = runtime::Engine::load((kFixtures / "tiny-deberta-v3").string());
  const model::ModelSpec& s = base->spec();
  EXPECT_EQ(s.model_type, "deberta-v2");
  ASSERT_TRUE(s.disentangled.has_value());
  EXPECT_EQ(s.disentangled->buckets, 16);
  EXPECT_EQ(s.disentangled->max_relative, 512);  // max_relative_positions -1
  EXPECT_EQ(s.disentangled->span(), 16);
  EXPECT_TRUE(s.disentangled->c2p && s.disentangled->p2c && s.disentangled->norm);
  EXPECT_EQ(s.embeddings.positions, model::PositionScheme::kNone);  // position_biased_input
  EXPECT_EQ(s.embeddings.type_vocab_size, 0);
  EXPECT_FALSE(s.embeddings.project);
  // 1 / sqrt(head_dim * 3): content plus two position terms.
  EXPECT_FLOAT_EQ(s.layers[0].attn.scale, 1.0f / std::sqrt(8.0f * 3.0f));
  EXPECT_EQ(s.head, model::HeadKind::kNone);

  const auto nli = runtime::Engine::load((kFixtures / "tiny-deberta-v3-nli").string());
  EXPECT_EQ(nli->spec().head, model::HeadKind::kSequenceClassification);
  EXPECT_EQ(nli->spec().head_act, ops::Activation::kGeluErf);  // pooler_hidden_act
  EXPECT_EQ(nli->spec().labels,
            (std::vector<std::string>{"contradiction", "entailment", "neutral"}));
  EXPECT_EQ(nli->spec().disentangled->max_relative, 64);

  const auto reranker = runtime::Engine::load((kFixtures / "tiny-deberta-v3-reranker").string());
  EXPECT_EQ(reranker->spec().disentangled->buckets, 0);
  EXPECT_EQ(reranker->spec().disentangled->span(), 24);
  EXPECT_TRUE(reranker->spec().embeddings.project);
  EXPECT_EQ(reranker->spec().embeddings.dim, 16);
  EXPECT_EQ(reranker->spec().labels.size(), 1u);
}

// DeBERTa's log buckets (make_log_bucket_position) at deberta-v3-base's settings: exact up to
// half the buckets, then logarithmic up to bucket 255 at distance 511, clamped beyond.
TEST(DebertaConfig, LogBucketsOfDebertaV3Base) {
  model::DisentangledSpec d;
  d.buckets = 256;
  d.max_relative = 512;
  EXPECT_EQ(d.table_row(0), 256);
  EXPECT_EQ(d.table_row(5), 261);
  EXPECT_EQ(d.table_row(-128), 128);
  EXPECT_EQ(d.table_row(129), 256 + 129);  // ceil(log(129/128) / log(511/128) * 127) = 1
  EXPECT_EQ(d.table_row(511), 256 + 255);
  EXPECT_EQ(d.table_row(-511), 1);
  EXPECT_EQ(d.table_row(5000), 511);  // clamped to the table
  EXPECT_EQ(d.table_row(-5000), 0);
  for (int64_t dist = -600; dist < 600; ++dist)
    EXPECT_LE(d.table_row(dist), d.table_row(dist + 1)) << dist;
  model::DisentangledSpec raw;  // no buckets: the distance itself, clamped
  raw.max_relative = 24;
  EXPECT_EQ(raw.table_row(-3), 21);
  EXPECT_EQ(raw.table_row(30), 47);
  EXPECT_EQ(raw.table_row(-30), 0);
}

class DebertaVariant : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           cat("ember-deberta-", ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::copy(kFixtures / "tiny-deberta-v3-nli", dir_, fs::copy_options::recursive);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Edits config.json, loads, and returns the error (fails the test when loading succeeds).
  Error load_error(const std::function<void(nlohmann::json&)>& edit) {
    nlohmann::json j = nlohmann::json::parse(std::ifstream(dir_ / "config.json"));
    edit(j);
    std::ofstream(dir_ / "config.json") << j.dump(2);
    try {
      runtime::Engine::load(dir_.string());
    } catch (const Error& e) {
      return e;
    }
    ADD_FAILURE() << "loading " << dir_ << " succeeded";
    return Error(ErrorKind::kInternal, "");
  }
  static void expect(const Error& e, ErrorKind kind, const std::string& names) {
    EXPECT_EQ(e.kind(), kind) << e.what();
    EXPECT_NE(std::string(e.what()).find(names), std::string::npos) << e.what();
  }

  fs::path dir_;
};

TEST_F(DebertaVariant, ConvolutionLayerIsUnsupported) {
  expect(load_error([](auto& j) { j["conv_kernel_size"] = 3; }), ErrorKind::kUnsupported,
         "conv_kernel_size");
}

TEST_F(DebertaVariant, SeparatePositionProjectionsAreUnsupported) {
  expect(load_error([](auto& j) { j["share_att_key"] = false; }), ErrorKind::kUnsupported,
         "share_att_key");
}

TEST_F(DebertaVariant, DebertaV1IsUnsupported) {
  expect(load_error([](auto& j) { j["model_type"] = "deberta"; }), ErrorKind::kUnsupported,
         "'deberta'");
}

TEST_F(DebertaVariant, UnknownPositionTermIsUnsupported) {
  expect(load_error([](auto& j) { j["pos_att_type"] = "p2c|p2p"; }), ErrorKind::kUnsupported,
         "p2p");
}

TEST_F(DebertaVariant, BucketsBeyondTheRelativeRangeAreInvalid) {
  expect(load_error([](auto& j) { j["max_relative_positions"] = 8; }), ErrorKind::kInvalidInput,
         "position_buckets");
}

TEST_F(DebertaVariant, RelativeTableOfAnotherSizeIsInvalid) {
  expect(load_error([](auto& j) { j["position_buckets"] = 32; }), ErrorKind::kInvalidInput,
         "rel_embeddings");
}

TEST_F(DebertaVariant, PoolerOfAnotherWidthIsUnsupported) {
  expect(load_error([](auto& j) { j["pooler_hidden_size"] = 64; }), ErrorKind::kUnsupported,
         "pooler_hidden_size");
}

}  // namespace
}  // namespace ember
