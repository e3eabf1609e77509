// JsonConfig: typed getters whose errors name the file and the key.
#include "io/json_config.h"

#include <gtest/gtest.h>

#include "io/io_test_util.h"

namespace ember::io {
namespace {

using testing::expect_error;

const char* kConfig = R"({
  "hidden_size": 384, "layer_norm_eps": 1e-12, "rope_theta": 10000, "name": "bert",
  "architectures": ["BertModel"], "flag": true, "zero": 0, "neg": -3, "float_int": 12.0,
  "one": 1, "str_bool": "true", "nothing": null, "big": 18446744073709551615,
  "mixed": ["a", 1]
})";

TEST(JsonConfig, TypedGetters) {
  const JsonConfig c = JsonConfig::parse(kConfig, "config.json");
  EXPECT_EQ(c.get_int("hidden_size"), 384);
  EXPECT_EQ(c.get_positive_int("hidden_size"), 384);
  EXPECT_EQ(c.get_int("neg"), -3);
  EXPECT_EQ(c.get_int("absent", 7), 7);
  EXPECT_DOUBLE_EQ(c.get_double("layer_norm_eps"), 1e-12);
  EXPECT_DOUBLE_EQ(c.get_double("rope_theta"), 10000.0);  // integers are numbers too
  EXPECT_TRUE(c.get_bool("flag", false));
  EXPECT_FALSE(c.get_bool("absent", false));
  EXPECT_EQ(c.get_string("name"), "bert");
  EXPECT_EQ(c.get_string("absent", "x"), "x");
  EXPECT_EQ(c.get_string_list("architectures"), std::vector<std::string>{"BertModel"});
  EXPECT_TRUE(c.get_string_list("absent").empty());
  // null counts as absent
  EXPECT_FALSE(c.has("nothing"));
  EXPECT_EQ(c.get_int("nothing", 5), 5);
}

TEST(JsonConfig, TypeErrorsNameFileAndKey) {
  const JsonConfig c = JsonConfig::parse(kConfig, "config.json");
  expect_error([&] { c.get_int("missing"); }, ErrorKind::kInvalidInput,
               "config.json: missing required key 'missing'");
  expect_error([&] { c.get_int("nothing"); }, ErrorKind::kInvalidInput,
               "missing required key 'nothing'");
  expect_error([&] { c.get_int("name"); }, ErrorKind::kInvalidInput,
               "config.json: 'name' must be an integer");
  // 12.0 is rejected: integers are strict (see json_config.h).
  expect_error([&] { c.get_int("float_int"); }, ErrorKind::kInvalidInput,
               "'float_int' must be an integer, got 12.0");
  expect_error([&] { c.get_int("big"); }, ErrorKind::kInvalidInput, "'big' is too large");
  expect_error([&] { c.get_positive_int("zero"); }, ErrorKind::kInvalidInput,
               "config.json: 'zero' must be a positive integer");
  expect_error([&] { c.get_positive_int("neg"); }, ErrorKind::kInvalidInput,
               "'neg' must be a positive integer");
  expect_error([&] { c.get_positive_int("float_int"); }, ErrorKind::kInvalidInput,
               "'float_int' must be a positive integer");
  expect_error([&] { c.get_double("name"); }, ErrorKind::kInvalidInput, "'name' must be a number");
  // Booleans are strict: no 1, no "true".
  expect_error([&] { c.get_bool("one", false); }, ErrorKind::kInvalidInput,
               "'one' must be true or false, got 1");
  expect_error([&] { c.get_bool("str_bool", false); }, ErrorKind::kInvalidInput,
               "'str_bool' must be true or false");
  expect_error([&] { c.get_string("hidden_size"); }, ErrorKind::kInvalidInput,
               "'hidden_size' must be a string");
  expect_error([&] { c.get_string_list("name"); }, ErrorKind::kInvalidInput,
               "'name' must be a list of strings");
  expect_error([&] { c.get_string_list("mixed"); }, ErrorKind::kInvalidInput,
               "'mixed' must be a list of strings");
}

TEST(JsonConfig, ParseErrors) {
  expect_error([] { JsonConfig::parse("{", "c.json"); }, ErrorKind::kInvalidInput,
               "c.json: not valid JSON");
  expect_error([] { JsonConfig::parse("", "c.json"); }, ErrorKind::kInvalidInput,
               "c.json: not valid JSON");
  expect_error([] { JsonConfig::parse("[1]", "c.json"); }, ErrorKind::kInvalidInput,
               "c.json: the top level must be a JSON object");
  expect_error([] { JsonConfig::parse("\"\xff\"", "c.json"); }, ErrorKind::kInvalidInput,
               "not valid JSON");
}

TEST(JsonConfig, LoadFromFile) {
  testing::TempDir dir;
  expect_error([&] { JsonConfig::load(dir.path() / "config.json"); }, ErrorKind::kNotFound,
               "config.json: no such file");
  expect_error([&] { JsonConfig::load(dir.path()); }, ErrorKind::kInvalidInput, "is a directory");
  testing::write_file(dir.path() / "config.json", R"({"vocab_size": 30522})");
  const JsonConfig c = JsonConfig::load(dir.path() / "config.json");
  EXPECT_EQ(c.origin(), (dir.path() / "config.json").string());
  EXPECT_EQ(c.get_positive_int("vocab_size"), 30522);
}

}  // namespace
}  // namespace ember::io
