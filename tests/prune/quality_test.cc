// prune/quality.h on real data: all-MiniLM-L6-v2 against itself agrees exactly (cosine 1, every
// neighbour shared, the same probe accuracy on the split and cross-validated, a probe that
// learned the sentiment), and against
// its half-pruned, sliced-only copy measurably less.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "prune/prune_model.h"
#include "prune/quality.h"
#include "prune_test_util.h"

namespace ember {
namespace {

namespace fs = std::filesystem;

TEST(PruneQuality, SelfAgreesAndAPrunedCopyLess) {
  const fs::path file =
      testing::data_dir() / "vader/hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt";
  auto texts = prune::read_rated_sentences(file);
  ASSERT_GT(texts.size(), 1000u) << "run scripts/fetch_data.sh";
  std::shuffle(texts.begin(), texts.end(), std::mt19937(7));
  texts.resize(600);
  runtime::EngineOptions eo;
  eo.threads = 2;
  const auto base = runtime::Engine::load("all-MiniLM-L6-v2", eo);
  const auto self = prune::compare_quality(*base, *base, texts, {});
  EXPECT_NEAR(self.mean_cosine, 1.0, 1e-6);
  EXPECT_DOUBLE_EQ(self.neighbour_overlap, 1.0);
  EXPECT_DOUBLE_EQ(self.probe_accuracy, self.probe_accuracy_base);
  EXPECT_GT(self.probe_accuracy_base, 0.65);
  EXPECT_EQ(self.train + self.test, 600);
  EXPECT_DOUBLE_EQ(self.probe_accuracy_base_probe, self.probe_accuracy_base);
  EXPECT_EQ(self.probe_texts, self.test);
  EXPECT_NEAR(self.every_text.min, 1.0, 1e-6);
  EXPECT_EQ(self.every_text.below_0_99, 0);

  // Cross-validated: every text held out once, so the accuracy counts all 600.
  prune::QualityOptions cv;
  cv.folds = 5;
  const auto self_cv = prune::compare_quality(*base, *base, texts, cv);
  EXPECT_EQ(self_cv.probe_texts, 600);
  EXPECT_DOUBLE_EQ(self_cv.probe_accuracy, self_cv.probe_accuracy_base);
  EXPECT_DOUBLE_EQ(self_cv.probe_accuracy_base_probe, self_cv.probe_accuracy_base);
  EXPECT_GT(self_cv.probe_accuracy_base, 0.65);
  const double right = self_cv.probe_accuracy_base * 600;
  EXPECT_NEAR(right, std::round(right), 1e-9);
  cv.folds = 301;
  EXPECT_THROW(
      {
        try {
          (void)prune::compare_quality(*base, *base, texts, cv);
        } catch (const Error& e) {
          EXPECT_EQ(e.kind(), ErrorKind::kInvalidInput);
          EXPECT_NE(std::string(e.what()).find("folds"), std::string::npos) << e.what();
          throw;
        }
      },
      Error);

  testing::TempDir tmp("quality");
  std::vector<std::string> cal;
  for (size_t i = 0; i < 64; ++i) cal.push_back(texts[i].text);
  testing::write_lines(tmp.path() / "cal.txt", cal);
  prune::PruneOptions o;
  o.calibration = tmp.path() / "cal.txt";
  o.keep_ratio = 0.5;
  o.refit = false;
  o.threads = 2;
  prune::prune_model("all-MiniLM-L6-v2", tmp.path() / "pruned", o);
  const auto pruned = runtime::Engine::load((tmp.path() / "pruned").string(), eo);
  const auto q = prune::compare_quality(*base, *pruned, texts, {});
  EXPECT_LT(q.mean_cosine, 0.999);
  EXPECT_LT(q.neighbour_overlap, 1.0);
  EXPECT_GT(q.neighbour_overlap, 0.0);
  EXPECT_DOUBLE_EQ(q.probe_accuracy_base, self.probe_accuracy_base);
  // Every text's cosine: its mean is over all 600 (the held-out mean is over 180 of them).
  EXPECT_LT(q.every_text.min, q.every_text.p1);
  EXPECT_LE(q.every_text.p1, q.every_text.mean);
  EXPECT_LT(q.every_text.mean, 0.999);
  ASSERT_EQ(q.every_text.worst.size(), 5u);
  EXPECT_DOUBLE_EQ(q.every_text.worst.front().first, q.every_text.min);
  EXPECT_TRUE(std::is_sorted(q.every_text.worst.begin(), q.every_text.worst.end()));
}

// The spread counts each row once, on known angles: rows at 0, 5, 10, ... 45 degrees (one row
// per angle), so the cosines, the count under 0.99 (8.1 degrees) and the worst are exact.
TEST(PruneQuality, CosineSpreadOfKnownAngles) {
  std::vector<float> base, other;
  std::vector<double> want;
  for (int k = 0; k < 10; ++k) {
    const double a = k * 5.0 * M_PI / 180.0;
    base.insert(base.end(), {1.0f, 0.0f, 0.0f});
    other.insert(other.end(),
                 {static_cast<float>(3 * std::cos(a)), static_cast<float>(3 * std::sin(a)), 0.0f});
    want.push_back(std::cos(a));
  }
  const auto c = prune::cosine_spread(base, other, 3);
  double mean = 0;
  for (double w : want) mean += w / 10;
  EXPECT_NEAR(c.mean, mean, 1e-6);
  EXPECT_NEAR(c.min, want.back(), 1e-6);
  EXPECT_NEAR(c.p1, want.back(), 1e-6);  // the first percentile of 10 rows is the lowest
  EXPECT_EQ(c.below_0_99, 8);            // 10 .. 45 degrees
  ASSERT_EQ(c.worst.size(), 5u);
  EXPECT_EQ(c.worst.front().second, 9u);
  EXPECT_EQ(c.worst.back().second, 5u);
  EXPECT_THROW((void)prune::cosine_spread(base, other, 4), Error);
}

}  // namespace
}  // namespace ember
