// A broken model directory gives a typed error naming what is wrong, never a crash.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "runtime/engine.h"

namespace ember {
namespace {
namespace fs = std::filesystem;

const fs::path kTiny = fs::path(EMBER_SOURCE_DIR) / "tests/fixtures/models/tiny-bert-seqcls";

class BrokenModel : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           cat("ember-broken-", ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::copy(kTiny, dir_, fs::copy_options::recursive);
  }
  void TearDown() override { fs::remove_all(dir_); }

  void edit_config(const std::function<void(nlohmann::json&)>& edit) {
    std::ifstream in(dir_ / "config.json");
    nlohmann::json j = nlohmann::json::parse(in);
    edit(j);
    std::ofstream(dir_ / "config.json") << j.dump(2);
  }
  // Loads and returns the error; fails the test if loading succeeds.
  Error load_error() {
    try {
      runtime::Engine::load(dir_.string());
    } catch (const Error& e) {
      return e;
    }
    ADD_FAILURE() << "loading " << dir_ << " succeeded";
    return Error(ErrorKind::kInternal, "");
  }

  fs::path dir_;
};

TEST_F(BrokenModel, IntactCopyLoads) {
  EXPECT_NO_THROW(runtime::Engine::load(dir_.string()));
}

TEST_F(BrokenModel, UnknownArchitecture) {
  edit_config([](auto& j) { j["model_type"] = "gpt2"; });
  const Error e = load_error();
  EXPECT_EQ(e.kind(), ErrorKind::kUnsupported);
  EXPECT_NE(std::string(e.what()).find("gpt2"), std::string::npos) << e.what();
}

// Narrower tensors than the config are a pruned model; wider ones are an error.
TEST_F(BrokenModel, ConfigDisagreesWithWeights) {
  edit_config(
      [](auto& j) { j["intermediate_size"] = j["intermediate_size"].template get<int>() / 2; });
  const Error e = load_error();
  EXPECT_EQ(e.kind(), ErrorKind::kInvalidInput);
  EXPECT_NE(std::string(e.what()).find("intermediate.dense.weight"), std::string::npos) << e.what();
}

TEST_F(BrokenModel, MoreLayersThanWeights) {
  edit_config([](auto& j) { j["num_hidden_layers"] = 7; });
  const Error e = load_error();
  EXPECT_EQ(e.kind(), ErrorKind::kNotFound);
  EXPECT_NE(std::string(e.what()).find("layer.2"), std::string::npos) << e.what();
}

TEST_F(BrokenModel, HeadsDoNotDivideHidden) {
  edit_config([](auto& j) { j["num_attention_heads"] = 5; });
  EXPECT_EQ(load_error().kind(), ErrorKind::kInvalidInput);
}

TEST_F(BrokenModel, WrongTypeInConfig) {
  edit_config([](auto& j) { j["hidden_size"] = "thirty-two"; });
  const Error e = load_error();
  EXPECT_EQ(e.kind(), ErrorKind::kInvalidInput);
  EXPECT_NE(std::string(e.what()).find("hidden_size"), std::string::npos) << e.what();
}

TEST_F(BrokenModel, UnsupportedActivation) {
  edit_config([](auto& j) { j["hidden_act"] = "mish"; });
  EXPECT_EQ(load_error().kind(), ErrorKind::kUnsupported);
}

// Values a config can hold but no model can run with are refused at load, not at the first
// request (a server would otherwise report healthy and fail every inference).
TEST_F(BrokenModel, OutOfRangeValuesAreRefusedAtLoad) {
  for (const auto& [key, value] : {std::pair<const char*, double>{"layer_norm_eps", -1.0},
                                   {"layer_norm_eps", 0.0},
                                   {"layer_norm_eps", 5.0},
                                   {"pad_token_id", 1e6}}) {
    SetUp();
    edit_config([&](auto& j) { j[key] = value; });
    const Error e = load_error();
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidInput) << key << " = " << value << ": " << e.what();
    const std::string what = e.what();
    EXPECT_TRUE(what.find("eps") != std::string::npos ||
                what.find("pad_token_id") != std::string::npos)
        << what;
  }
}

TEST_F(BrokenModel, PrunedHeadsThatTheWeightsDoNotHave) {
  edit_config([](auto& j) { j["pruned_heads"] = {{"1", {0, 2}}}; });
  const Error e = load_error();
  EXPECT_EQ(e.kind(), ErrorKind::kInvalidInput);
  EXPECT_NE(std::string(e.what()).find("layer 1"), std::string::npos) << e.what();
}

TEST_F(BrokenModel, TruncatedWeights) {
  const auto path = dir_ / "model.safetensors";
  fs::resize_file(path, fs::file_size(path) / 2);
  EXPECT_EQ(load_error().kind(), ErrorKind::kInvalidInput);
}

TEST_F(BrokenModel, ConfigNotJson) {
  std::ofstream(dir_ / "config.json") << "{\"model_type\": \"bert\", ";
  EXPECT_EQ(load_error().kind(), ErrorKind::kInvalidInput);
}

TEST_F(BrokenModel, MissingConfig) {
  fs::remove(dir_ / "config.json");
  EXPECT_EQ(load_error().kind(), ErrorKind::kInvalidInput);
}

// A tokenizer that can emit an id past the embedding table is refused at load: one request with
// that token would otherwise fail every request packed beside it.
TEST_F(BrokenModel, TokenizerIdsBeyondTheVocabulary) {
  std::ifstream in(dir_ / "tokenizer.json");
  nlohmann::json tok = nlohmann::json::parse(in);
  in.close();
  const int vocab = static_cast<int>(tok["model"]["vocab"].size());
  tok["added_tokens"].push_back({{"id", vocab + 5},
                                 {"content", "<extra>"},
                                 {"single_word", false},
                                 {"lstrip", false},
                                 {"rstrip", false},
                                 {"normalized", false},
                                 {"special", true}});
  std::ofstream(dir_ / "tokenizer.json") << tok.dump();
  const Error e = load_error();
  EXPECT_EQ(e.kind(), ErrorKind::kInvalidInput);
  EXPECT_NE(std::string(e.what()).find("the tokenizer can emit id"), std::string::npos) << e.what();
}

// bert-base-uncased's own config names BertForMaskedLM; checkpoints saved with it but without
// the masked-LM head are the body, and embed as such.
TEST_F(BrokenModel, MaskedLmConfigWithoutTheHeadIsTheBody) {
  edit_config([](auto& j) { j["architectures"] = {"BertForMaskedLM"}; });
  const auto engine = runtime::Engine::load(dir_.string());
  EXPECT_EQ(engine->spec().head, model::HeadKind::kNone);
  EXPECT_EQ(engine->embed({"still an embedding model"}).front().size(),
            static_cast<size_t>(engine->spec().hidden_size));
}

TEST_F(BrokenModel, MissingWeights) {
  fs::remove(dir_ / "model.safetensors");
  EXPECT_EQ(load_error().kind(), ErrorKind::kInvalidInput);
}

TEST(ModelErrors, UnknownModelNameIsNotFound) {
  try {
    runtime::Engine::load("no-such-model-anywhere");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kNotFound);
  }
}

TEST(ModelErrors, OutOfVocabularyIdIsInvalidInput) {
  const auto engine = runtime::Engine::load(kTiny.string());
  model::Batch b;
  const std::vector<int32_t> ids{2, static_cast<int32_t>(engine->spec().vocab_size()), 3};
  b.add(ids);
  try {
    engine->run(b, runtime::kPooled);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidInput);
  }
  // The engine still works after a bad request.
  model::Batch good;
  good.add(std::vector<int32_t>{2, 5, 3});
  EXPECT_EQ(engine->run(good, runtime::kPooled).pooled.size(),
            static_cast<size_t>(engine->spec().hidden_size));
}

TEST(ModelErrors, TooLongWithoutTruncationIsInvalidInput) {
  runtime::EngineOptions o;
  o.truncate = false;
  o.max_length = 8;
  const auto engine = runtime::Engine::load(kTiny.string(), o);
  EXPECT_NO_THROW(engine->tokenize("one two"));
  try {
    engine->tokenize("one two three four five six seven eight nine ten");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidInput);
  }
}

}  // namespace
}  // namespace ember
