// Without --calibration, the VADER sentences of the data cache; `ember prune --labels` on a
// sequence classifier (the tiny BERT classifier made by
// transformers): the label accuracy it reports over all calibration texts equals what
// `ember classify` of the base and of the result gives on the same texts; the search's loss is
// the drop in held-out label accuracy; keep specs with counts; bad label files (a count that
// differs from the texts, an unknown label, a model without a classification head, a missing
// file) get a typed error and leave nothing behind.
#include <gtest/gtest.h>

#include <stdlib.h>

#include <cmath>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <set>

#include "prune_test_util.h"

namespace ember {
namespace {

using testing::run_ember;
using testing::TempDir;
namespace fs = std::filesystem;

const std::string kClassifier = testing::fixture("models/tiny-bert-seqcls").string();
const std::string kEmbedder = testing::fixture("models/tiny-bert-st6").string();

// The path quoted for the shell.
std::string q(const fs::path& p) {
  std::string s;
  s.reserve(p.native().size() + 2);
  s += '\'';
  s += p.native();
  s += '\'';
  return s;
}

std::set<std::string> listing(const fs::path& dir) {
  std::set<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.insert(e.path().filename().string());
  return names;
}

// `ember classify`'s label of each text.
std::vector<std::string> classify(const std::string& model, const fs::path& texts,
                                  const fs::path& tmp) {
  const auto r = run_ember("classify --model " + q(model) + " < " + q(texts), tmp);
  EXPECT_EQ(r.status, 0) << r.err;
  std::vector<std::string> out;
  const auto j = nlohmann::json::parse(r.out);
  for (const auto& x : j["results"]) out.push_back(x["label"].get<std::string>());
  return out;
}

double accuracy(const std::vector<std::string>& got, const std::vector<std::string>& labels) {
  size_t right = 0;
  for (size_t i = 0; i < got.size() && i < labels.size(); ++i) right += got[i] == labels[i];
  return static_cast<double>(right) / static_cast<double>(labels.size());
}

struct Labelled {
  fs::path texts, jsonl, labels;
  std::vector<std::string> names;
};

// 80 VADER sentences; their labels the base's own, but every third one moved to the next class
// (so that neither model is right everywhere).
Labelled labelled(const fs::path& dir) {
  std::vector<std::string> texts = testing::vader_sentences();
  EXPECT_GE(texts.size(), 80u) << "run scripts/fetch_data.sh";
  texts.resize(80);
  Labelled l{dir / "cal.txt", dir / "cal.jsonl", dir / "labels.txt", {}};
  testing::write_lines(l.texts, texts);
  std::vector<std::string> lines;
  for (const auto& t : texts) lines.push_back(nlohmann::json(t).dump());
  testing::write_lines(l.jsonl, lines);
  const std::vector<std::string> classes = {"negative", "neutral", "positive"};
  l.names = classify(kClassifier, l.jsonl, dir);
  for (size_t i = 0; i < l.names.size(); i += 3)
    for (size_t c = 0; c < classes.size(); ++c)
      if (classes[c] == l.names[i]) {
        l.names[i] = classes[(c + 1) % classes.size()];
        break;
      }
  testing::write_lines(l.labels, l.names);
  return l;
}

TEST(PruneLabels, ReportedAccuracyEqualsClassifyOnTheSameTexts) {
  TempDir tmp("labels-accuracy");
  const Labelled l = labelled(tmp.path());
  const fs::path out = tmp.path() / "pruned";
  auto r =
      run_ember("prune --model " + q(kClassifier) + " --calibration " + q(l.texts) + " --labels " +
                    q(l.labels) + " --keep-ratio 0.5 --out " + q(out) + " --threads 2",
                tmp.path());
  ASSERT_EQ(r.status, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  const auto& a = j["label_accuracy"];
  ASSERT_TRUE(a.is_object()) << r.out;
  EXPECT_EQ(a["all"]["texts"], 80);
  EXPECT_EQ(a["held_out"]["texts"], j["held_out_texts"]);
  // Over all texts, exactly what classify gives for the base and for the result.
  const double base = accuracy(classify(kClassifier, l.jsonl, tmp.path()), l.names);
  const double pruned = accuracy(classify(out.string(), l.jsonl, tmp.path()), l.names);
  EXPECT_NEAR(a["all"]["base"].get<double>(), base, 1e-12);
  EXPECT_NEAR(a["all"]["pruned"].get<double>(), pruned, 1e-12);
  EXPECT_LT(base, 0.7);  // a third of the labels were moved away from its answers
  // Held out: a whole number of the held-out texts.
  const double n = a["held_out"]["texts"].get<double>();
  for (const char* k : {"base", "pruned"}) {
    const double v = a["held_out"][k].get<double>() * n;
    EXPECT_NEAR(v, std::round(v), 1e-9) << k;
  }
  // Without --labels there is no accuracy to report.
  r = run_ember("prune --model " + q(kClassifier) + " --calibration " + q(l.texts) +
                    " --keep-ratio 0.5 --out " + q(tmp.path() / "unlabelled") + " --threads 2",
                tmp.path());
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(nlohmann::json::parse(r.out)["label_accuracy"].is_null());
}

// With labels, each point of the front carries its held-out label accuracy and its loss is the
// base's accuracy minus its own; --max-loss picks by that loss.
TEST(PruneLabels, SearchLossIsTheDropInLabelAccuracy) {
  TempDir tmp("labels-search");
  const Labelled l = labelled(tmp.path());
  const fs::path out = tmp.path() / "pruned";
  const auto r = run_ember("prune --model " + q(kClassifier) + " --calibration " + q(l.texts) +
                               " --labels " + q(l.labels) +
                               " --max-loss 1 --budget 2 --no-int8 --shapes 1x8 --bench-reps 2 "
                               "--threads 2 --out " +
                               q(out),
                           tmp.path());
  ASSERT_EQ(r.status, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  const auto& points = j["front"];
  ASSERT_EQ(points.size(), 3u);
  ASSERT_EQ(points[0]["name"], "base");
  const double base = points[0]["label_accuracy"].get<double>();
  EXPECT_NEAR(base, j["label_accuracy"]["held_out"]["base"].get<double>(), 1e-12);
  for (const auto& p : points) {
    ASSERT_TRUE(p["label_accuracy"].is_number()) << p.dump();
    if (p["name"] != "base") {
      EXPECT_NEAR(p["loss"].get<double>(), base - p["label_accuracy"].get<double>(), 1e-12);
    }
  }
  // The chosen point (within a loss of 1, every candidate) is the result.
  for (const auto& p : points)
    if (p["name"] == j["chosen"]) {
      EXPECT_NEAR(p["label_accuracy"].get<double>(),
                  j["label_accuracy"]["held_out"]["pruned"].get<double>(), 1e-12);
    }
}

// A keep spec may give counts: the prune chooses which parts, and keeps that many.
TEST(PruneLabels, KeepSpecCountsKeepThatMany) {
  TempDir tmp("labels-counts");
  const Labelled l = labelled(tmp.path());
  testing::write_lines(tmp.path() / "counts.json",
                       {R"({"layers": [{"heads": 3, "ffn": 40}, {"heads": [0, 2], "ffn": 9}]})"});
  for (const char* extra : {"", " --no-refit"}) {
    const fs::path out = tmp.path() / (std::string("pruned") + (*extra ? "-sliced" : ""));
    const auto r =
        run_ember("prune --model " + q(kClassifier) + " --calibration " + q(l.texts) + " --keep " +
                      q(tmp.path() / "counts.json") + extra + " --out " + q(out) + " --threads 2",
                  tmp.path());
    ASSERT_EQ(r.status, 0) << extra << r.err;
    const auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["heads"], nlohmann::json({3, 2})) << extra;
    EXPECT_EQ(j["ffn"], nlohmann::json({40, 9})) << extra;
    EXPECT_EQ(j["keep"]["layers"][1]["heads"], nlohmann::json({0, 2})) << extra;
  }
}

// No --calibration: a sample of the data cache's VADER sentences (scripts/fetch_data.sh); none
// there: a typed error naming the script.
TEST(PruneLabels, WithoutCalibrationTheDataCacheSentences) {
  TempDir tmp("labels-default");
  const fs::path out = tmp.path() / "pruned";
  auto r = run_ember("prune --model " + q(kEmbedder) + " --keep-ratio 0.5 --max-texts 100 --out " +
                         q(out) + " --threads 2",
                     tmp.path());
  ASSERT_EQ(r.status, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["fit_texts"].get<int>() + j["held_out_texts"].get<int>(), 100);
  const char* old = std::getenv("EMBER_DATA_DIR");
  const std::string saved = old ? old : "";
  ::setenv("EMBER_DATA_DIR", (tmp.path() / "no-data").c_str(), 1);
  r = run_ember(
      "prune --model " + q(kEmbedder) + " --keep-ratio 0.5 --out " + q(tmp.path() / "none"),
      tmp.path());
  if (old)
    ::setenv("EMBER_DATA_DIR", saved.c_str(), 1);
  else
    ::unsetenv("EMBER_DATA_DIR");
  EXPECT_EQ(r.status, 3) << r.err;
  const auto e = nlohmann::json::parse(r.err, nullptr, false);
  ASSERT_FALSE(e.is_discarded()) << r.err;
  EXPECT_EQ(e["error_type"], "not_found");
  EXPECT_NE(e["error"].get<std::string>().find("scripts/fetch_data.sh"), std::string::npos);
  EXPECT_FALSE(fs::exists(tmp.path() / "none"));
}

TEST(PruneLabels, BadLabelFilesGetATypedErrorAndLeaveNothingBehind) {
  TempDir tmp("labels-bad");
  const Labelled l = labelled(tmp.path());
  std::vector<std::string> short_labels(l.names.begin(), l.names.end() - 1);
  testing::write_lines(tmp.path() / "short.txt", short_labels);
  std::vector<std::string> unknown = l.names;
  unknown[5] = "maybe";
  testing::write_lines(tmp.path() / "unknown.txt", unknown);
  std::vector<std::string> index = l.names;
  index[7] = "3";  // one past the last class index
  testing::write_lines(tmp.path() / "index.txt", index);
  testing::write_lines(tmp.path() / "counts.json", {R"({"layers": [{"heads": 5}, {}]})"});
  const fs::path out = tmp.path() / "pruned";
  const std::string base = "prune --model " + q(kClassifier) + " --keep-ratio 0.5 --calibration " +
                           q(l.texts) + " --out " + q(out) + " --labels ";
  struct Case {
    std::string name, args;
    int status;
    std::string type, says;
  };
  const std::vector<Case> cases = {
      {"one label short", base + q(tmp.path() / "short.txt"), 2, "invalid_input",
       "79 labels for 80"},
      {"unknown label", base + q(tmp.path() / "unknown.txt"), 2, "invalid_input",
       "unknown.txt:6: unknown label 'maybe'"},
      {"class index out of range", base + q(tmp.path() / "index.txt"), 2, "invalid_input",
       "unknown label '3'"},
      {"missing labels file", base + q(tmp.path() / "nope.txt"), 3, "not_found", "nope.txt"},
      {"not a classifier",
       "prune --model " + q(kEmbedder) + " --keep-ratio 0.5 --calibration " + q(l.texts) +
           " --out " + q(out) + " --labels " + q(l.labels),
       2, "invalid_input", "sequence-classification"},
      {"labels without calibration",
       "prune --model " + q(kClassifier) + " --keep-ratio 0.5 --out " + q(out) + " --labels " +
           q(l.labels),
       2, "invalid_input", "--labels goes with --calibration"},
      {"a count over the heads",
       "prune --model " + q(kClassifier) + " --keep " + q(tmp.path() / "counts.json") +
           " --calibration " + q(l.texts) + " --out " + q(out),
       2, "invalid_input", "keeps 5 heads; the layer has 4"},
  };
  const auto before = listing(tmp.path());
  for (const auto& c : cases) {
    const fs::path io = tmp.path() / "io";
    fs::create_directories(io);
    const auto r = run_ember(c.args, io);
    fs::remove_all(io);
    EXPECT_EQ(r.status, c.status) << c.name << ": " << r.err;
    const auto j = nlohmann::json::parse(r.err, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << c.name << ": " << r.err;
    EXPECT_EQ(j["error_type"], c.type) << c.name;
    EXPECT_NE(j["error"].get<std::string>().find(c.says), std::string::npos)
        << c.name << ": " << j["error"];
    EXPECT_EQ(r.out, "") << c.name;
    EXPECT_EQ(listing(tmp.path()), before) << c.name;
  }
}

}  // namespace
}  // namespace ember
