// sentence-transformers prompts: the fixtures sentence-transformers saved itself, and bad files.
#include "io/prompts.h"

#include <gtest/gtest.h>

#include "io/io_test_util.h"

namespace ember::io {
namespace {

using testing::expect_error;

const std::filesystem::path kModels =
    std::filesystem::path(EMBER_SOURCE_DIR) / "tests/fixtures/models";

TEST(Prompts, FixturesSavedBySentenceTransformers) {
  const auto c = load_prompt_config(kModels / "tiny-bert-prompts");
  EXPECT_EQ(c.prompts.at("query"), "query: ");
  EXPECT_EQ(c.prompts.at("passage"), "passage: ");
  EXPECT_EQ(c.default_name, "query");
  EXPECT_TRUE(c.include_prompt);
  EXPECT_EQ(c.text_for(std::nullopt), "query: ");
  EXPECT_EQ(c.text_for("passage"), "passage: ");
  const auto noinc = load_prompt_config(kModels / "tiny-bert-prompts-noinc");
  EXPECT_FALSE(noinc.default_name.has_value());
  EXPECT_FALSE(noinc.include_prompt);
  EXPECT_EQ(noinc.text_for(std::nullopt), "");
}

TEST(Prompts, UnknownNameNamesThePrompts) {
  const auto c = load_prompt_config(kModels / "tiny-bert-prompts");
  expect_error([&] { (void)c.text_for("nope"); }, ErrorKind::kInvalidInput, "passage, query");
  const PromptConfig none;
  expect_error([&] { (void)none.text_for("query"); }, ErrorKind::kInvalidInput, "defines none");
}

TEST(Prompts, NoFilesNoPrompts) {
  const auto c = load_prompt_config(kModels / "tiny-bert-seqcls");
  EXPECT_TRUE(c.prompts.empty());
  EXPECT_TRUE(c.include_prompt);
  EXPECT_EQ(c.text_for(std::nullopt), "");
}

TEST(Prompts, MalformedConfigsAreTyped) {
  expect_error([] { parse_prompt_config(R"({"prompts": ["a"]})", "x.json"); },
               ErrorKind::kInvalidInput, "'prompts'");
  expect_error([] { parse_prompt_config(R"({"prompts": {"q": 1}})", "x.json"); },
               ErrorKind::kInvalidInput, "prompts['q']");
  expect_error(
      [] {
        parse_prompt_config(R"({"prompts": {"q": "q: "}, "default_prompt_name": "p"})", "x.json");
      },
      ErrorKind::kInvalidInput, "not one of its prompts");
  expect_error([] { parse_prompt_config("{nope", "x.json"); }, ErrorKind::kInvalidInput, "x.json");
  const auto c = parse_prompt_config(R"({"prompts": null, "default_prompt_name": null})", "x.json");
  EXPECT_TRUE(c.prompts.empty());
}

}  // namespace
}  // namespace ember::io
