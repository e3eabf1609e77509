// sentence-transformers metadata, on the real all-MiniLM-L6-v2 files and on bad variants.
#include "io/sentence_transformers.h"

#include <gtest/gtest.h>

#include "io/io_test_util.h"

namespace ember::io {
namespace {

using testing::expect_error;

const std::filesystem::path kMeta =
    std::filesystem::path(EMBER_SOURCE_DIR) / "tests/fixtures/models/all-MiniLM-L6-v2-meta";

// A copy of the fixture that a test may break.
class SentenceTransformersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::filesystem::copy(kMeta, dir_.path(), std::filesystem::copy_options::recursive);
  }
  void set(const std::string& rel, const std::string& text) {
    testing::write_file(dir_.path() / rel, text);
  }
  testing::TempDir dir_;
};

TEST(SentenceTransformers, RealAllMiniLmMetadata) {
  const auto st = load_sentence_transformers(kMeta);
  ASSERT_TRUE(st.has_value());
  EXPECT_EQ(st->pooling, PoolingMode::kMean);
  EXPECT_TRUE(st->normalize);  // 2_Normalize is listed though the directory is absent
  EXPECT_EQ(st->max_seq_length, 256);
  EXPECT_EQ(st->do_lower_case, false);
  EXPECT_FALSE(std::filesystem::exists(kMeta / "2_Normalize"));
}

TEST(SentenceTransformers, NoModulesJsonIsNotSentenceTransformers) {
  testing::TempDir dir;
  EXPECT_FALSE(load_sentence_transformers(dir.path()).has_value());
}

TEST_F(SentenceTransformersTest, TwoPoolingModesAreUnsupported) {
  set("1_Pooling/config.json",
      R"({"pooling_mode_cls_token": true, "pooling_mode_mean_tokens": true})");
  expect_error([&] { load_sentence_transformers(dir_.path()); }, ErrorKind::kUnsupported,
               "exactly one pooling_mode_* must be true, found 2 (pooling_mode_cls_token, "
               "pooling_mode_mean_tokens)");
}

TEST_F(SentenceTransformersTest, NoPoolingModeIsUnsupported) {
  set("1_Pooling/config.json", R"({"word_embedding_dimension": 384})");
  expect_error([&] { load_sentence_transformers(dir_.path()); }, ErrorKind::kUnsupported,
               "found 0");
}

TEST_F(SentenceTransformersTest, EachPoolingMode) {
  const std::pair<const char*, PoolingMode> modes[] = {
      {"pooling_mode_cls_token", PoolingMode::kCls},
      {"pooling_mode_max_tokens", PoolingMode::kMax},
      {"pooling_mode_mean_sqrt_len_tokens", PoolingMode::kMeanSqrtLen},
      {"pooling_mode_lasttoken", PoolingMode::kLastToken}};
  for (const auto& [key, mode] : modes) {
    set("1_Pooling/config.json", std::string("{\"") + key + "\": true}");
    EXPECT_EQ(load_sentence_transformers(dir_.path())->pooling, mode) << key;
  }
  EXPECT_STREQ(pooling_mode_name(PoolingMode::kMeanSqrtLen), "mean_sqrt_len");
}

// The layout sentence-transformers 6.x writes: module types under sentence_transformers.base /
// sentence_transformer.modules, and the mode by name.
TEST_F(SentenceTransformersTest, CurrentLayoutNamesTheMode) {
  set("modules.json", R"([
    {"idx": 0, "name": "0", "path": "",
     "type": "sentence_transformers.base.modules.transformer.Transformer"},
    {"idx": 1, "name": "1", "path": "1_Pooling",
     "type": "sentence_transformers.sentence_transformer.modules.pooling.Pooling"},
    {"idx": 2, "name": "2", "path": "2_Normalize",
     "type": "sentence_transformers.base.modules.normalize.Normalize"}])");
  const std::pair<const char*, PoolingMode> modes[] = {
      {"\"cls\"", PoolingMode::kCls},
      {"\"mean\"", PoolingMode::kMean},
      {"\"max\"", PoolingMode::kMax},
      {"\"mean_sqrt_len_tokens\"", PoolingMode::kMeanSqrtLen},
      {"\"lasttoken\"", PoolingMode::kLastToken},
      {"[\"cls\"]", PoolingMode::kCls}};
  for (const auto& [value, mode] : modes) {
    set("1_Pooling/config.json", std::string(R"({"embedding_dimension": 384, "pooling_mode": )") +
                                     value + R"(, "include_prompt": true})");
    const auto st = load_sentence_transformers(dir_.path());
    EXPECT_EQ(st->pooling, mode) << value;
    EXPECT_TRUE(st->normalize);
  }
  // The name wins over classic flags, as in sentence-transformers.
  set("1_Pooling/config.json", R"({"pooling_mode": "max", "pooling_mode_mean_tokens": true})");
  EXPECT_EQ(load_sentence_transformers(dir_.path())->pooling, PoolingMode::kMax);
  set("1_Pooling/config.json", R"({"pooling_mode": "weightedmean"})");
  expect_error([&] { load_sentence_transformers(dir_.path()); }, ErrorKind::kUnsupported,
               "pooling_mode 'weightedmean' is not supported");
  set("1_Pooling/config.json", R"({"pooling_mode": ["cls", "mean"]})");
  expect_error([&] { load_sentence_transformers(dir_.path()); }, ErrorKind::kUnsupported,
               "concatenates 2 modes");
  set("1_Pooling/config.json", R"({"pooling_mode": 3})");
  expect_error([&] { load_sentence_transformers(dir_.path()); }, ErrorKind::kInvalidInput,
               "'pooling_mode' must be a string");
}

TEST_F(SentenceTransformersTest, NonBooleanPoolingFlagIsInvalid) {
  set("1_Pooling/config.json", R"({"pooling_mode_mean_tokens": 1})");
  expect_error([&] { load_sentence_transformers(dir_.path()); }, ErrorKind::kInvalidInput,
               "'pooling_mode_mean_tokens' must be true or false");
}

TEST_F(SentenceTransformersTest, DenseModuleIsUnsupported) {
  set("modules.json", R"([
    {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
    {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    {"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"}])");
  expect_error([&] { load_sentence_transformers(dir_.path()); }, ErrorKind::kUnsupported,
               "module 'sentence_transformers.models.Dense' (2_Dense) is not supported");
}

TEST_F(SentenceTransformersTest, ShortTypeNamesMatchTheClass) {
  set("modules.json", R"([{"idx": 0, "name": "0", "path": "", "type": "models.Transformer"},
    {"idx": 1, "name": "1", "path": "1_Pooling", "type": "Pooling"}])");
  const auto st = load_sentence_transformers(dir_.path());
  EXPECT_EQ(st->pooling, PoolingMode::kMean);
  EXPECT_FALSE(st->normalize);
}

TEST_F(SentenceTransformersTest, MalformedFiles) {
  set("modules.json", R"({"not": "a list"})");
  expect_error([&] { load_sentence_transformers(dir_.path()); }, ErrorKind::kInvalidInput,
               "must be a list of modules");
  set("modules.json", R"([{"idx": 0, "path": ""}])");
  expect_error([&] { load_sentence_transformers(dir_.path()); }, ErrorKind::kInvalidInput,
               "(module 0): missing required key 'type'");
  set("modules.json", R"([{"type": "Pooling", "path": "../../etc"}])");
  expect_error([&] { load_sentence_transformers(dir_.path()); }, ErrorKind::kInvalidInput,
               "leaves the model directory");
  set("modules.json", R"([{"type": "Transformer", "path": ""}, {"type": "Pooling", "path": "P"}])");
  expect_error([&] { load_sentence_transformers(dir_.path()); }, ErrorKind::kInvalidInput,
               "has no config.json");
  set("modules.json", R"([{"type": "Transformer", "path": ""}])");
  expect_error([&] { load_sentence_transformers(dir_.path()); }, ErrorKind::kUnsupported,
               "no sentence_transformers.models.Pooling module");
}

TEST_F(SentenceTransformersTest, SentenceBertConfigTypes) {
  set("sentence_bert_config.json", R"({"max_seq_length": 0})");
  expect_error([&] { load_sentence_transformers(dir_.path()); }, ErrorKind::kInvalidInput,
               "'max_seq_length' must be a positive integer");
  std::filesystem::remove(dir_.path() / "sentence_bert_config.json");
  const auto st = load_sentence_transformers(dir_.path());
  EXPECT_FALSE(st->max_seq_length.has_value());
  EXPECT_FALSE(st->do_lower_case.has_value());
}

}  // namespace
}  // namespace ember::io
