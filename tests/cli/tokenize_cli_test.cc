// `ember tokenize --tokenizer FILE` through the real binary: a tokenizer.json alone (no
// config.json, no weights, an empty model cache) gives the `tokenizers` library's ids and
// offsets (bytes by default, code points with --offsets chars), under the file's truncation,
// --max-length or --no-truncate; bad files exit with typed JSON errors. Expected values come
// from tokenizers 0.23.3 on tests/fixtures/tokenizers/bert-base-uncased.json.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

namespace {
namespace fs = std::filesystem;
using nlohmann::json;

struct CliResult {
  int status = -1;
  std::string out, err;
};

// 'path' for the shell (appended piecewise: g++ 12 warns on chains of + with literals).
std::string quoted(const fs::path& p) {
  std::string s = "'";
  s += p.string();
  s += '\'';
  return s;
}

class TokenizeCli : public ::testing::Test {
 protected:
  void SetUp() override {
    tmp_ = fs::temp_directory_path() / ("ember-tokenize-cli-" + std::to_string(::getpid()));
    fs::remove_all(tmp_);
    fs::create_directories(tmp_ / "home");
    fs::create_directories(tmp_ / "only-tokenizer");
    fs::copy_file(fs::path(EMBER_SOURCE_DIR) / "tests/fixtures/tokenizers/bert-base-uncased.json",
                  tmp_ / "only-tokenizer" / "tokenizer.json");
  }
  void TearDown() override { fs::remove_all(tmp_); }

  // Runs ember with HOME in an empty directory, so no cached model can be found.
  CliResult ember(const std::string& args, const std::string& input = "") {
    std::ofstream(tmp_ / "in") << input;
    std::string cmd = "HOME=";
    cmd += quoted(tmp_ / "home");
    cmd += " " EMBER_BINARY_DIR "/src/cli/ember ";
    cmd += args;
    cmd += " <" + quoted(tmp_ / "in");
    cmd += " >" + quoted(tmp_ / "out");
    cmd += " 2>" + quoted(tmp_ / "err");
    const int raw = std::system(cmd.c_str());
    auto slurp = [](const fs::path& p) {
      std::ifstream f(p);
      return std::string(std::istreambuf_iterator<char>(f), {});
    };
    return {WIFEXITED(raw) ? WEXITSTATUS(raw) : 128 + WTERMSIG(raw), slurp(tmp_ / "out"),
            slurp(tmp_ / "err")};
  }

  std::string file() const { return quoted(tmp_ / "only-tokenizer" / "tokenizer.json"); }

  void expect_error(const CliResult& r, int code, const std::string& type) {
    EXPECT_EQ(r.status, code) << r.out << r.err;
    const json j = json::parse(r.err);  // one JSON line
    EXPECT_EQ(j["error_type"], type) << r.err;
    EXPECT_FALSE(j["error"].get<std::string>().empty());
    EXPECT_EQ(r.out, "");  // nothing half-written
  }

  fs::path tmp_;
};

TEST_F(TokenizeCli, TokenizerAloneGivesTheLibrarysIdsAndByteOffsets) {
  const CliResult r = ember("tokenize --tokenizer " + file() + " 'Héllo wörld, ½'");
  ASSERT_EQ(r.status, 0) << r.err;
  const json j = json::parse(r.out);
  EXPECT_EQ(j["offset_unit"], "bytes");
  const json& res = j["results"][0];
  EXPECT_EQ(res["ids"], json::parse("[101, 7592, 2088, 1010, 1092, 102]"));
  EXPECT_EQ(res["tokens"], json::parse(R"(["[CLS]", "hello", "world", ",", "½", "[SEP]"])"));
  EXPECT_EQ(res["special_tokens_mask"], json::parse("[1, 0, 0, 0, 0, 1]"));
  // The library's code points (0,5) (6,11) (11,12) (13,14) in UTF-8 bytes: é, ö, ½ are two.
  EXPECT_EQ(res["offsets"], json::parse("[[0,0],[0,6],[7,13],[13,14],[15,17],[0,0]]"));
}

TEST_F(TokenizeCli, CharacterOffsetsOnRequest) {
  const CliResult r = ember("tokenize --offsets chars --tokenizer " + file() + " 'Héllo wörld, ½'");
  ASSERT_EQ(r.status, 0) << r.err;
  const json j = json::parse(r.out);
  EXPECT_EQ(j["offset_unit"], "chars");
  EXPECT_EQ(j["results"][0]["offsets"], json::parse("[[0,0],[0,5],[6,11],[11,12],[13,14],[0,0]]"));
}

TEST_F(TokenizeCli, DirectoryHoldingATokenizerAndPairsFromStdin) {
  const std::string dir = quoted(tmp_ / "only-tokenizer");
  const CliResult r = ember("tokenize --offsets chars --tokenizer " + dir,
                            R"({"text": "a cat", "text_pair": "sat on it"})"
                            "\n");
  ASSERT_EQ(r.status, 0) << r.err;
  const json j = json::parse(r.out);
  const json& res = j["results"][0];
  EXPECT_EQ(res["ids"], json::parse("[101, 1037, 4937, 102, 2938, 2006, 2009, 102]"));
  EXPECT_EQ(res["type_ids"], json::parse("[0, 0, 0, 0, 1, 1, 1, 1]"));
  EXPECT_EQ(res["sequence_ids"], json::parse("[-1, 0, 0, -1, 1, 1, 1, -1]"));
  EXPECT_EQ(res["offsets"], json::parse("[[0,0],[0,1],[2,5],[0,0],[0,3],[4,6],[7,9],[0,0]]"));
}

TEST_F(TokenizeCli, FileTruncationMaxLengthAndNoTruncate) {
  std::string words;
  for (int i = 0; i < 300; ++i) words += i ? " word" : "word";
  const std::string text = " '" + words + "'";
  auto count = [&](const std::string& flags) {
    const CliResult r = ember("tokenize --tokenizer " + file() + flags + text);
    EXPECT_EQ(r.status, 0) << r.err;
    return json::parse(r.out)["results"][0]["ids"].size();
  };
  EXPECT_EQ(count(""), 128u);  // the file's truncation
  EXPECT_EQ(count(" --no-truncate"), 302u);
  EXPECT_EQ(count(" --max-length 10"), 10u);
}

TEST_F(TokenizeCli, MissingFileIsNotFound) {
  expect_error(ember("tokenize --tokenizer " + quoted(tmp_ / "nope.json") + " hi"), 3, "not_found");
  // A directory without a tokenizer.json.
  expect_error(ember("tokenize --tokenizer " + quoted(tmp_ / "home") + " hi"), 3, "not_found");
}

TEST_F(TokenizeCli, MalformedOrUnsupportedFileIsTyped) {
  std::ofstream(tmp_ / "bad.json") << "{\"model\": {not json";
  expect_error(ember("tokenize --tokenizer " + quoted(tmp_ / "bad.json") + " hi"), 2,
               "invalid_input");
  std::ofstream(tmp_ / "unsupported.json")
      << R"({"model": {"type": "WordLevel", "vocab": {}, "unk_token": "x"}})";
  expect_error(ember("tokenize --tokenizer " + quoted(tmp_ / "unsupported.json") + " hi"), 4,
               "unsupported");
}

TEST_F(TokenizeCli, BadInputIsInvalidInput) {
  expect_error(ember("tokenize --tokenizer " + file() + " \"$(printf 'caf\\351')\""), 2,
               "invalid_input");
  expect_error(ember("tokenize --tokenizer " + file(), "{not json\n"), 2, "invalid_input");
}

TEST_F(TokenizeCli, ConflictingOrUnknownFlagsAreUsageErrors) {
  for (const std::string& args : {"tokenize --tokenizer " + file() + " --model x hi",
                                  "tokenize --tokenizer " + file() + " --offsets words hi"}) {
    const CliResult r = ember(args);
    EXPECT_NE(r.status, 0) << args;
    EXPECT_LT(r.status, 128) << args << ": crashed";
    EXPECT_EQ(r.out, "") << args;
  }
}

}  // namespace
