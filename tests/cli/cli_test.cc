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
                                           "tiny-bert-pruned", "tiny-modernbert-seqcls",
                                           "tiny-modernbert-tokcls", "tiny-qwen3-embedding",
                                           "tiny-deberta-v3"),
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

// A SPLADE model's `ember embed` gives sparse vectors: the non-zero entries of
// sentence-transformers' SparseEncoder, by index.
TEST(Cli, EmbedSparseModelMatchesSparseEncoder) {
  const auto ref = testing::Reference::load("tiny-bert-splade");
  std::string input;
  for (size_t i = 0; i < 12; ++i) input += nlohmann::json(ref.texts[i]).dump() + "\n";
  const CliRun r = ember("embed --jsonl --model " + quote(ref.model), input);
  ASSERT_EQ(r.status, 0) << r.err;
  const auto expected = ref.floats("sparse");
  const size_t v = expected.size() / ref.texts.size();
  std::istringstream lines(r.out);
  std::string line;
  size_t n = 0;
  while (std::getline(lines, line)) {
    const auto j = nlohmann::json::parse(line);
    const size_t i = j["index"].get<size_t>();
    std::vector<float> got(v, 0.0f);
    int64_t last = -1;
    for (const auto& e : j["sparse_embedding"]) {
      const int64_t k = e["index"].get<int64_t>();
      ASSERT_GT(k, last) << "indices in order";
      last = k;
      got[static_cast<size_t>(k)] = e["value"].get<float>();
      EXPECT_GT(got[static_cast<size_t>(k)], 0.0f);
    }
    for (size_t k = 0; k < v; ++k)
      ASSERT_NEAR(got[k], expected[i * v + k], 1e-4) << "input " << i << " entry " << k;
    ++n;
  }
  EXPECT_EQ(n, 12u);
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

// ModernBERT's head (mean of the sequence, dense + act + norm, classifier) through `ember
// classify`, on texts within and far beyond its local attention window.
TEST(Cli, ClassifyModernBertGivesTheReferenceLogits) {
  const auto ref = testing::Reference::load("tiny-modernbert-seqcls");
  const std::vector<size_t> picks = {2, 3, 4, ref.texts.size() - 1};
  std::string args;
  for (const size_t i : picks) args += cat(" ", quote(ref.texts[i]));
  const CliRun r = ember("classify --model " + quote(ref.model) + args);
  ASSERT_EQ(r.status, 0) << r.err;
  const auto results = nlohmann::json::parse(r.out)["results"];
  ASSERT_EQ(results.size(), picks.size());
  const auto logits = ref.floats("logits");
  const size_t c = ref.inputs["labels"].size();
  for (size_t k = 0; k < picks.size(); ++k) {
    const auto got = results[k]["logits"].get<std::vector<float>>();
    ASSERT_EQ(got.size(), c);
    for (size_t j = 0; j < c; ++j)
      EXPECT_NEAR(got[j], logits[picks[k] * c + j], 1e-4) << "input " << picks[k];
  }
}

TEST(Cli, InfoDescribesRotaryFamilies) {
  const auto dir = cat(EMBER_SOURCE_DIR, "/tests/fixtures/models/");
  CliRun r = ember("info --model " + dir + "tiny-modernbert-seqcls");
  ASSERT_EQ(r.status, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["model_type"], "modernbert");
  EXPECT_EQ(j["head_pooling"], "mean");
  ASSERT_EQ(j["layers"].size(), 4u);
  EXPECT_EQ(j["layers"][0]["attention"], "full");
  EXPECT_EQ(j["layers"][0]["rotary_base"], 160000.0);
  EXPECT_FALSE(j["layers"][0].contains("window"));
  EXPECT_EQ(j["layers"][1]["attention"], "local");
  EXPECT_EQ(j["layers"][1]["window"], 8);  // local_attention 16: 8 on either side
  EXPECT_EQ(j["layers"][1]["rotary_base"], 10000.0);
  EXPECT_EQ(j["layers"][1]["ffn"], "gated");

  r = ember("info --model " + dir + "tiny-qwen3-embedding");
  ASSERT_EQ(r.status, 0) << r.err;
  j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["model_type"], "qwen3");
  EXPECT_EQ(j["pooling"], "lasttoken");
  EXPECT_EQ(j["normalize"], true);
  EXPECT_EQ(j["head"], "none");
  EXPECT_FALSE(j.contains("head_pooling"));
  for (const auto& l : j["layers"]) {
    EXPECT_EQ(l["attention"], "causal");
    EXPECT_EQ(l["heads"], 4);
    EXPECT_EQ(l["kv_heads"], 2);
    EXPECT_EQ(l["head_dim"], 16);
    EXPECT_EQ(l["activation"], "silu");
    EXPECT_EQ(l["rotary_base"], 1e6);
  }
}

// DeBERTa-v3 as an NLI model (softmax over three labels) and as a reranker (one label).
TEST(Cli, ClassifyPairsWithDebertaNliAndReranker) {
  expect_pair_scores("tiny-deberta-v3-nli");
  expect_pair_scores("tiny-deberta-v3-reranker");
}

TEST(Cli, InfoDescribesDisentangledAttention) {
  const CliRun r =
      ember("info --model " + cat(EMBER_SOURCE_DIR, "/tests/fixtures/models/tiny-deberta-v3-nli"));
  ASSERT_EQ(r.status, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["model_type"], "deberta-v2");
  EXPECT_EQ(j["head"], "sequence_classification");
  EXPECT_EQ(j["relative_attention"]["kind"], "disentangled");
  EXPECT_EQ(j["relative_attention"]["position_buckets"], 16);
  EXPECT_EQ(j["relative_attention"]["max_relative_positions"], 64);
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
