// The real `ember` binary, end to end: every reference model through `ember embed` matches
// its Hugging Face reference; bad input exits non-zero with a JSON error, never a crash.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "model/reference.h"

namespace ember {
namespace {
namespace fs = std::filesystem;

struct CliRun {
  int status = -1;  // exit code, or 128 + signal
  std::string out;
  std::string err;
};

// Runs `ember <args>` with `input` on stdin.
CliRun ember(const std::string& args, const std::string& input = "") {
  const fs::path tmp = fs::temp_directory_path() / cat("ember-cli-", ::getpid());
  fs::create_directories(tmp);
  std::ofstream(tmp / "in") << input;
  const std::string cmd = cat(EMBER_BINARY_DIR, "/src/cli/ember ", args, " <", (tmp / "in"), " >",
                              (tmp / "out"), " 2>", (tmp / "err"));
  const int raw = std::system(cmd.c_str());
  CliRun r;
  r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : 128 + WTERMSIG(raw);
  auto slurp = [](const fs::path& p) {
    std::ifstream f(p);
    return std::string(std::istreambuf_iterator<char>(f), {});
  };
  r.out = slurp(tmp / "out");
  r.err = slurp(tmp / "err");
  fs::remove_all(tmp);
  return r;
}

std::string quote(const std::string& s) {
  return "'" + s + "'";
}

class EmbedCli : public ::testing::TestWithParam<std::string> {};

TEST_P(EmbedCli, MatchesReferenceThroughStdin) {
  const auto ref = testing::Reference::load(GetParam());
  std::string input;
  for (const auto& t : ref.texts) input += nlohmann::json(t).dump() + "\n";
  const CliRun r = ember("embed --jsonl --model " + quote(ref.model), input);
  ASSERT_EQ(r.status, 0) << r.err;
  const auto expected = ref.floats("pooled");
  const size_t h = expected.size() / ref.texts.size();
  std::istringstream lines(r.out);
  std::string line;
  size_t n = 0;
  while (std::getline(lines, line)) {
    const auto j = nlohmann::json::parse(line);
    const size_t i = j["index"].get<size_t>();
    ASSERT_EQ(i, n);
    const auto v = j["embedding"].get<std::vector<float>>();
    ASSERT_EQ(v.size(), h);
    double ab = 0, aa = 0, bb = 0;
    for (size_t k = 0; k < h; ++k) {
      ab += double(v[k]) * expected[i * h + k];
      aa += double(v[k]) * v[k];
      bb += double(expected[i * h + k]) * expected[i * h + k];
    }
    EXPECT_GE(ab / std::sqrt(aa * bb), 0.99999) << "input " << i;
    ++n;
  }
  EXPECT_EQ(n, ref.texts.size());
}

INSTANTIATE_TEST_SUITE_P(Models, EmbedCli,
                         ::testing::Values("all-MiniLM-L6-v2", "paraphrase-MiniLM-L3-v2",
                                           "all-mpnet-base-v2", "tiny-distilbert", "tiny-roberta",
                                           "tiny-electra", "tiny-mpnet-seqcls", "tiny-bert-st6",
                                           "tiny-bert-pruned"),
                         [](const auto& p) {
                           std::string s = p.param;
                           std::replace(s.begin(), s.end(), '-', '_');
                           return s;
                         });

const std::string kTiny = cat(EMBER_SOURCE_DIR, "/tests/fixtures/models/tiny-bert-seqcls");

TEST(Cli, EmbedDocumentHasUsageAndDimensions) {
  const CliRun r = ember("embed --model " + kTiny + " 'hello world' 'a second text'");
  ASSERT_EQ(r.status, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["embeddings"].size(), 2u);
  EXPECT_EQ(j["dimensions"].get<size_t>(), j["embeddings"][0].size());
  EXPECT_GT(j["usage"]["prompt_tokens"].get<int>(), 4);
}

TEST(Cli, ClassifyGivesLabelsFromConfig) {
  const CliRun r = ember("classify --model " + kTiny + " 'this is great'");
  ASSERT_EQ(r.status, 0) << r.err;
  const auto res = nlohmann::json::parse(r.out)["results"][0];
  const auto label = res["label"].get<std::string>();
  EXPECT_TRUE(label == "negative" || label == "neutral" || label == "positive") << label;
  double sum = 0;
  for (const auto& s : res["scores"]) sum += s["score"].get<double>();
  EXPECT_NEAR(sum, 1.0, 1e-6);
}

// Pairs through `ember classify`: the scores are what sentence-transformers' CrossEncoder gives
// for a one-label model (the sigmoid of the logit), and the softmax of the logits for several
// labels, both from the Hugging Face reference.
void expect_pair_scores(const std::string& fixture) {
  const auto ref = testing::Reference::load(fixture);
  const auto pairs = ref.inputs["pairs"];
  std::string input;
  for (const auto& p : pairs)
    input += nlohmann::json{{"text", p[0]}, {"text_pair", p[1]}}.dump() + "\n";
  const CliRun r = ember("classify --model " + quote(ref.model), input);
  ASSERT_EQ(r.status, 0) << r.err;
  const auto results = nlohmann::json::parse(r.out)["results"];
  ASSERT_EQ(results.size(), pairs.size());
  const auto logits = ref.floats("pair_logits");
  const size_t c = logits.size() / pairs.size();
  for (size_t i = 0; i < pairs.size(); ++i) {
    std::vector<double> want(c);
    if (c == 1) {
      want[0] = ref.floats("pair_scores")[i];
    } else {
      double sum = 0;
      for (size_t k = 0; k < c; ++k) sum += (want[k] = std::exp(double(logits[i * c + k])));
      for (auto& w : want) w /= sum;
    }
    const auto scores = results[i]["scores"];
    ASSERT_EQ(scores.size(), c);
    for (const auto& s : scores) {
      const auto label = s["label"].get<std::string>();
      size_t k = 0;
      while (k < c && ref.inputs["labels"][k] != label) ++k;
      ASSERT_LT(k, c) << label;
      EXPECT_NEAR(s["score"].get<double>(), want[k], 2e-5) << fixture << " pair " << i;
    }
  }
}

TEST(Cli, ClassifyOneLabelScoresAsCrossEncoder) {
  expect_pair_scores("tiny-bert-reranker");
}

TEST(Cli, ClassifySeveralLabelsScoresAsSoftmax) {
  expect_pair_scores("tiny-bert-seqcls");
}

TEST(Cli, InfoListsUnevenPrunedLayers) {
  const CliRun r =
      ember("info --model " + cat(EMBER_SOURCE_DIR, "/tests/fixtures/models/tiny-bert-pruned"));
  ASSERT_EQ(r.status, 0) << r.err;
  const auto layers = nlohmann::json::parse(r.out)["layers"];
  ASSERT_EQ(layers.size(), 2u);
  // tiny-bert-pruned: heads {0: [1], 1: [0, 2, 3]} pruned of 4, FFN widths 48 and 24.
  EXPECT_EQ(layers[0]["heads"], 3);
  EXPECT_EQ(layers[1]["heads"], 1);
  EXPECT_EQ(layers[0]["ffn_width"], 48);
  EXPECT_EQ(layers[1]["ffn_width"], 24);
}

TEST(Cli, ClassifyTokensGivesOneLabelPerWordPiece) {
  const CliRun r =
      ember("classify --model " + cat(EMBER_SOURCE_DIR, "/tests/fixtures/models/tiny-bert-tokcls") +
            " 'Paris is in France'");
  ASSERT_EQ(r.status, 0) << r.err;
  const auto tokens = nlohmann::json::parse(r.out)["results"][0]["tokens"];
  ASSERT_GE(tokens.size(), 4u);
  EXPECT_EQ(tokens[0]["start"].get<int>(), 0);
}

TEST(Cli, TokenizeReportsIdsAndOffsets) {
  const CliRun r = ember("tokenize --model " + kTiny + " 'hello'");
  ASSERT_EQ(r.status, 0) << r.err;
  const auto res = nlohmann::json::parse(r.out)["results"][0];
  EXPECT_EQ(res["ids"].size(), res["offsets"].size());
  EXPECT_EQ(res["special_tokens_mask"][0].get<int>(), 1);
}

TEST(Cli, InfoDescribesTheModel) {
  const CliRun r = ember("info --model all-minilm-l6-v2");  // case-insensitive cache name
  ASSERT_EQ(r.status, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["model_type"], "bert");
  EXPECT_EQ(j["hidden_size"], 384);
  EXPECT_EQ(j["num_layers"], 6);
  EXPECT_EQ(j["pooling"], "mean");
  EXPECT_EQ(j["normalize"], true);
  EXPECT_EQ(j["max_length"], 256);
}

void expect_json_error(const CliRun& r, int code, const std::string& type) {
  EXPECT_EQ(r.status, code) << r.out << r.err;
  const auto j = nlohmann::json::parse(r.err);  // one JSON line
  EXPECT_EQ(j["error_type"], type) << r.err;
  EXPECT_FALSE(j["error"].get<std::string>().empty());
}

TEST(Cli, InvalidUtf8IsInvalidInput) {
  expect_json_error(ember("embed --model " + kTiny + " \"$(printf 'caf\\351')\""), 2,
                    "invalid_input");
}

TEST(Cli, MalformedJsonLineIsInvalidInput) {
  expect_json_error(ember("embed --model " + kTiny, "\"ok\"\n{not json\n"), 2, "invalid_input");
}

TEST(Cli, UnknownModelIsNotFound) {
  expect_json_error(ember("embed --model does-not-exist hello"), 3, "not_found");
}

TEST(Cli, EmptyStdinIsInvalidInput) {
  expect_json_error(ember("embed --model " + kTiny, ""), 2, "invalid_input");
}

TEST(Cli, BadFlagIsAUsageError) {
  const CliRun r = ember("embed --threads -3 hello");
  EXPECT_NE(r.status, 0);
  EXPECT_LT(r.status, 128) << "crashed";
}

}  // namespace
}  // namespace ember
