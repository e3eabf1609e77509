// int8 accuracy on real data (issue #5): all-MiniLM-L6-v2, fp32 vs `ember quantize` int8, over
// the movie-review sentences of the VADER set (Hutto & Gilbert, ICWSM 2014; fetched by
// scripts/fetch_data.sh from the vadersentiment 3.3.2 sdist).
//  - mean cosine between fp32 and int8 sentence embeddings >= 0.99 (the minimum and the 1st
//    percentile are recorded: issue #19's per-embedding target, >= 0.99 for every sentence, is
//    not reached on this sample, docs/quantization.md "Smoothing");
//  - a logistic-regression sentiment probe (label: sign of the human rating) trained on fp32
//    embeddings loses at most 1 accuracy point on the held-out split when fed int8 ones.
// The numbers are written to <build>/int8_accuracy.json (docs/quantization.md quotes them).
// EMBER_INT8_REDUCE_RANGE=0 measures the --full-range-weights scheme instead, EMBER_INT8_SMOOTH=0
// the scheme without smoothing (--no-smooth).
// Bf16Accuracy does the same for --dtype bf16 (Linears and attention in bf16), with bf16's bounds,
// into <build>/bf16_accuracy.json (docs/bf16.md).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <numeric>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "../quant/quant_test_util.h"
#include "runtime/engine.h"
#include "runtime/quantize_model.h"

namespace ember {
namespace {
namespace fs = std::filesystem;

constexpr uint32_t kSeed = 20141;
constexpr double kTrainFraction = 0.7;
// A seeded sample of the 10,568 signed sentences keeps the test near one minute on 2 cores
// (two MiniLM passes); EMBER_INT8_ACCURACY_ALL=1 uses them all.
constexpr size_t kSample = 6000;

fs::path data_dir() {
  if (const char* d = std::getenv("EMBER_DATA_DIR"); d && *d) return d;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return fs::path(x) / "ember/data";
  const char* home = std::getenv("HOME");
  return fs::path(home ? home : "/tmp") / ".cache/ember/data";
}

struct Sentence {
  std::string text;
  double rating;
};

// "id<TAB>rating<TAB>text" lines, CRLF.
std::vector<Sentence> read_ground_truth(const fs::path& path) {
  std::ifstream in(path);
  std::vector<Sentence> out;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const size_t t1 = line.find('\t'), t2 = line.find('\t', t1 + 1);
    if (t1 == std::string::npos || t2 == std::string::npos) continue;
    out.push_back({line.substr(t2 + 1), std::stod(line.substr(t1 + 1, t2 - t1 - 1))});
  }
  return out;
}

std::vector<float> embed_all(const runtime::Engine& e, const std::vector<Sentence>& s) {
  std::vector<float> out;
  constexpr size_t kBatch = 64;
  for (size_t i = 0; i < s.size(); i += kBatch) {
    std::vector<tok::Encoding> encs;
    for (size_t j = i; j < std::min(s.size(), i + kBatch); ++j)
      encs.push_back(e.tokenize(s[j].text));
    const auto r = e.run(runtime::Engine::pack(encs), runtime::kPooled);
    out.insert(out.end(), r.pooled.begin(), r.pooled.end());
  }
  return out;
}

// L2-regularised logistic regression by full-batch gradient descent with Nesterov momentum.
struct Probe {
  std::vector<double> w;
  double b = 0;
  double logit(const float* x) const {
    double z = b;
    for (size_t d = 0; d < w.size(); ++d) z += w[d] * x[d];
    return z;
  }
};

Probe train_probe(const std::vector<float>& x, const std::vector<int>& y,
                  const std::vector<size_t>& idx, size_t dim) {
  Probe p;
  p.w.assign(dim, 0.0);
  std::vector<double> vw(dim, 0.0), grad(dim);
  double vb = 0;
  const double lr = 2.0, momentum = 0.9, l2 = 1e-4;
  for (int it = 0; it < 400; ++it) {
    Probe look = p;  // Nesterov: gradient at the look-ahead point
    for (size_t d = 0; d < dim; ++d) look.w[d] += momentum * vw[d];
    look.b += momentum * vb;
    std::fill(grad.begin(), grad.end(), 0.0);
    double gb = 0;
    for (size_t i : idx) {
      const float* xi = &x[i * dim];
      const double err = 1.0 / (1.0 + std::exp(-look.logit(xi))) - y[i];
      for (size_t d = 0; d < dim; ++d) grad[d] += err * xi[d];
      gb += err;
    }
    const double inv = 1.0 / static_cast<double>(idx.size());
    for (size_t d = 0; d < dim; ++d) {
      vw[d] = momentum * vw[d] - lr * (grad[d] * inv + l2 * look.w[d]);
      p.w[d] += vw[d];
    }
    vb = momentum * vb - lr * gb * inv;
    p.b += vb;
  }
  return p;
}

double accuracy(const Probe& p, const std::vector<float>& x, const std::vector<int>& y,
                const std::vector<size_t>& idx, size_t dim) {
  size_t right = 0;
  for (size_t i : idx) right += (p.logit(&x[i * dim]) > 0) == (y[i] == 1);
  return static_cast<double>(right) / static_cast<double>(idx.size());
}

// The probe's labels: the sign of the human rating.
std::vector<int> sign_labels(const std::vector<Sentence>& sentences) {
  std::vector<int> y(sentences.size());
  for (size_t i = 0; i < sentences.size(); ++i) y[i] = sentences[i].rating > 0 ? 1 : 0;
  return y;
}

// The probe's seeded split of sentence indices: kTrainFraction to train, the rest held out.
std::pair<std::vector<size_t>, std::vector<size_t>> train_test_split(size_t n) {
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t{0});
  std::shuffle(order.begin(), order.end(), std::mt19937(kSeed + 1));
  const auto n_train = static_cast<std::ptrdiff_t>(kTrainFraction * static_cast<double>(n));
  return {std::vector<size_t>(order.begin(), order.begin() + n_train),
          std::vector<size_t>(order.begin() + n_train, order.end())};
}

TEST(Int8Accuracy, VaderMovieReviewsMiniLm) {
  const fs::path file = data_dir() / "vader/hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt";
  ASSERT_TRUE(fs::exists(file)) << file << " is missing: run scripts/fetch_data.sh";
  ASSERT_TRUE(fs::exists(test::minilm_dir() / "model.safetensors"))
      << "all-MiniLM-L6-v2 is missing: run scripts/fetch_models.sh";
  std::vector<Sentence> all = read_ground_truth(file);
  ASSERT_GT(all.size(), 10000u);
  // Rating 0 has no sign: those sentences count for the cosine but not for the probe.
  std::vector<Sentence> sentences;
  for (const auto& s : all)
    if (s.rating != 0) sentences.push_back(s);
  std::shuffle(sentences.begin(), sentences.end(), std::mt19937(kSeed));
  const char* all_env = std::getenv("EMBER_INT8_ACCURACY_ALL");
  if (!(all_env && std::string(all_env) == "1") && sentences.size() > kSample)
    sentences.resize(kSample);

  const char* rr_env = std::getenv("EMBER_INT8_REDUCE_RANGE");
  const bool reduce_range = !(rr_env && std::string(rr_env) == "0");
  const fs::path qdir = test::fresh_temp_dir(reduce_range ? "vader" : "vader-full-range");
  const char* smooth_env = std::getenv("EMBER_INT8_SMOOTH");
  const bool smooth = !(smooth_env && std::string(smooth_env) == "0");
  runtime::QuantizeOptions o;
  o.reduce_range = reduce_range;
  o.smooth = smooth;  // calibrated on random token ids: no sentence of the test is seen
  runtime::quantize_model(test::minilm_dir().string(), qdir, o);
  // One thread: on a shared machine two OpenMP threads spend most of their time spinning at
  // barriers while the other is preempted; the numbers do not depend on the thread count.
  runtime::EngineOptions one;
  one.threads = 1;
  const auto fp = runtime::Engine::load(test::minilm_dir().string(), one);
  const auto q8 = runtime::Engine::load(qdir.string(), one);
  ASSERT_EQ(q8->info().quantization, "int8-dynamic");

  const size_t dim = static_cast<size_t>(fp->spec().hidden_size);
  const std::vector<float> ef = embed_all(*fp, sentences), eq = embed_all(*q8, sentences);
  ASSERT_EQ(ef.size(), sentences.size() * dim);

  double sum = 0;
  std::vector<double> cos(sentences.size());
  for (size_t i = 0; i < sentences.size(); ++i) {
    cos[i] = test::cosine(&ef[i * dim], &eq[i * dim], dim);
    sum += cos[i];
  }
  const double mean_cos = sum / static_cast<double>(sentences.size());
  std::sort(cos.begin(), cos.end());
  const double lo = cos.front(), p1 = cos[cos.size() / 100];

  const std::vector<int> y = sign_labels(sentences);
  const auto [train, test_idx] = train_test_split(sentences.size());
  const Probe probe = train_probe(ef, y, train, dim);
  const double acc_fp = accuracy(probe, ef, y, test_idx, dim);
  const double acc_q = accuracy(probe, eq, y, test_idx, dim);
  const double acc_train = accuracy(probe, ef, y, train, dim);

  nlohmann::ordered_json j = {
      {"model", "all-MiniLM-L6-v2"},
      {"scheme", std::string(reduce_range ? "int8-dynamic, reduce_range (7-bit weights, u8 "
                                            "activations)"
                                          : "int8-dynamic (8-bit weights, u7 activations)") +
                     (smooth ? ", smoothing (alpha 0.5, random-id calibration)" : "")},
      {"data", "VADER movieReviewSnippets_GroundTruth.txt (rating != 0), seeded sample"},
      {"sentences", sentences.size()},
      {"mean_cosine", mean_cos},
      {"min_cosine", lo},
      {"p1_cosine", p1},
      {"seed", kSeed},
      {"train", train.size()},
      {"test", test_idx.size()},
      {"probe_train_accuracy_fp32", acc_train},
      {"probe_test_accuracy_fp32", acc_fp},
      {"probe_test_accuracy_int8", acc_q},
  };
  std::ofstream(fs::path(EMBER_BINARY_DIR) / (!reduce_range
                                                  ? "int8_accuracy_full_range_weights.json"
                                              : !smooth ? "int8_accuracy_no_smooth.json"
                                                        : "int8_accuracy.json"))
      << j.dump(2) << "\n";

  EXPECT_GE(sentences.size(), 5000u);
  EXPECT_GE(mean_cos, 0.99);
  EXPECT_GT(acc_fp, 0.70) << "the probe learned nothing; the comparison would be empty";
  EXPECT_LE(acc_fp - acc_q, 0.01) << "fp32 " << acc_fp << " int8 " << acc_q;
  fs::remove_all(qdir);
}

// Per-sentence cosines to fp32, sorted, and their mean.
struct Cosines {
  std::vector<double> sorted;
  double mean = 0;
  int64_t below(double bound) const {
    return std::lower_bound(sorted.begin(), sorted.end(), bound) - sorted.begin();
  }
};
Cosines cosines(const std::vector<float>& ef, const std::vector<float>& eq, size_t dim) {
  Cosines c;
  const size_t n = ef.size() / dim;
  for (size_t i = 0; i < n; ++i) {
    c.sorted.push_back(test::cosine(&ef[i * dim], &eq[i * dim], dim));
    c.mean += c.sorted.back() / static_cast<double>(n);
  }
  std::sort(c.sorted.begin(), c.sorted.end());
  return c;
}

// --keep-fp32 auto:N (issue #19; docs/quantization.md, "Keeping Linears in fp32"):
// all-MiniLM-L6-v2 int8 with the 2 Linears its sensitivity ranking puts first kept in fp32,
// against the default int8 copy, on a seeded sample of 3,000 of the movie sentences (three
// MiniLM passes: under a minute on one thread). The worst sentence must not get worse, the mean
// must rise, fewer sentences may fall under 0.99, and every one must reach issue #19's 0.99
// (measured: the default leaves "Eh." at 0.9893; with auto:2, which keeps layer.0.ffn_out and
// layer.5.ffn_out, the min is 0.9918). Writes <build>/int8_keep_fp32_accuracy.json.
TEST(Int8Accuracy, KeepFp32AutoLiftsTheWorstSentencesMiniLm) {
  const fs::path file = data_dir() / "vader/hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt";
  ASSERT_TRUE(fs::exists(file)) << file << " is missing: run scripts/fetch_data.sh";
  ASSERT_TRUE(fs::exists(test::minilm_dir() / "model.safetensors"))
      << "all-MiniLM-L6-v2 is missing: run scripts/fetch_models.sh";
  std::vector<Sentence> sentences;
  for (const auto& s : read_ground_truth(file))
    if (s.rating != 0) sentences.push_back(s);
  std::shuffle(sentences.begin(), sentences.end(), std::mt19937(kSeed));
  sentences.resize(std::min<size_t>(sentences.size(), 3000));

  const fs::path plain = test::fresh_temp_dir("keep-default"), kept = test::fresh_temp_dir("keep");
  runtime::QuantizeOptions o;
  o.threads = 1;
  runtime::quantize_model(test::minilm_dir().string(), plain, o);
  o.keep_fp32 = "auto:2";
  const auto report = runtime::quantize_model(test::minilm_dir().string(), kept, o);
  ASSERT_EQ(report.fp32_linears.size(), 2u);

  runtime::EngineOptions one;
  one.threads = 1;
  const auto fp = runtime::Engine::load(test::minilm_dir().string(), one);
  const auto q8 = runtime::Engine::load(plain.string(), one);
  const auto qk = runtime::Engine::load(kept.string(), one);
  ASSERT_EQ(qk->info().fp32_linears, report.fp32_linears);
  const size_t dim = static_cast<size_t>(fp->spec().hidden_size);
  const std::vector<float> ef = embed_all(*fp, sentences);
  const Cosines d = cosines(ef, embed_all(*q8, sentences), dim);
  const Cosines k = cosines(ef, embed_all(*qk, sentences), dim);
  ASSERT_EQ(d.sorted.size(), sentences.size());

  nlohmann::ordered_json j = {
      {"model", "all-MiniLM-L6-v2"},
      {"data", "VADER movieReviewSnippets_GroundTruth.txt (rating != 0), seeded sample"},
      {"sentences", sentences.size()},
      {"fp32_linears", report.fp32_linears},
      {"default",
       {{"min_cosine", d.sorted.front()}, {"mean_cosine", d.mean}, {"below_0_99", d.below(0.99)}}},
      {"keep_fp32_auto_2",
       {{"min_cosine", k.sorted.front()}, {"mean_cosine", k.mean}, {"below_0_99", k.below(0.99)}}},
  };
  std::ofstream(fs::path(EMBER_BINARY_DIR) / "int8_keep_fp32_accuracy.json") << j.dump(2) << "\n";

  EXPECT_GE(k.sorted.front(), d.sorted.front());
  EXPECT_GT(k.mean, d.mean);
  EXPECT_LE(k.below(0.99), d.below(0.99));
  EXPECT_GE(k.sorted.front(), 0.99);
  fs::remove_all(plain);
  fs::remove_all(kept);
}

// bf16 (issue #19): all-MiniLM-L6-v2 with --dtype bf16 (Linears and attention in bf16 where the
// CPU has avx512_bf16) against fp32 on the same sample: every cosine >= 0.999, mean >= 0.9999,
// and the fp32-trained probe loses at most 0.1 accuracy point on bf16 embeddings. Without
// avx512_bf16 the bf16 model runs fp32, and the bounds hold trivially.
TEST(Bf16Accuracy, VaderMovieReviewsMiniLm) {
  const fs::path file = data_dir() / "vader/hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt";
  ASSERT_TRUE(fs::exists(file)) << file << " is missing: run scripts/fetch_data.sh";
  ASSERT_TRUE(fs::exists(test::minilm_dir() / "model.safetensors"))
      << "all-MiniLM-L6-v2 is missing: run scripts/fetch_models.sh";
  std::vector<Sentence> sentences;
  for (const auto& s : read_ground_truth(file))
    if (s.rating != 0) sentences.push_back(s);
  std::shuffle(sentences.begin(), sentences.end(), std::mt19937(kSeed));
  if (sentences.size() > kSample) sentences.resize(kSample);

  runtime::EngineOptions one;
  one.threads = 1;
  const auto fp = runtime::Engine::load(test::minilm_dir().string(), one);
  one.dtype = "bf16";
  const auto bf = runtime::Engine::load(test::minilm_dir().string(), one);
  const size_t dim = static_cast<size_t>(fp->spec().hidden_size);
  const std::vector<float> ef = embed_all(*fp, sentences), eb = embed_all(*bf, sentences);
  ASSERT_EQ(eb.size(), sentences.size() * dim);

  double sum = 0, lo = 1;
  for (size_t i = 0; i < sentences.size(); ++i) {
    const double c = test::cosine(&ef[i * dim], &eb[i * dim], dim);
    sum += c;
    lo = std::min(lo, c);
  }
  const double mean_cos = sum / static_cast<double>(sentences.size());

  const std::vector<int> y = sign_labels(sentences);
  const auto [train, test_idx] = train_test_split(sentences.size());
  const Probe probe = train_probe(ef, y, train, dim);
  const double acc_fp = accuracy(probe, ef, y, test_idx, dim);
  const double acc_bf = accuracy(probe, eb, y, test_idx, dim);

  nlohmann::ordered_json j = {
      {"model", "all-MiniLM-L6-v2"},
      {"dtype", bf->info().dtype},
      {"data", "VADER movieReviewSnippets_GroundTruth.txt (rating != 0), seeded sample"},
      {"sentences", sentences.size()},
      {"mean_cosine", mean_cos},
      {"min_cosine", lo},
      {"test", test_idx.size()},
      {"probe_test_accuracy_fp32", acc_fp},
      {"probe_test_accuracy_bf16", acc_bf},
  };
  std::ofstream(fs::path(EMBER_BINARY_DIR) / "bf16_accuracy.json") << j.dump(2) << "\n";

  EXPECT_GE(lo, 0.999);
  EXPECT_GE(mean_cos, 0.9999);
  EXPECT_GT(acc_fp, 0.70) << "the probe learned nothing; the comparison would be empty";
  EXPECT_LE(acc_fp - acc_bf, 0.001) << "fp32 " << acc_fp << " bf16 " << acc_bf;
}

}  // namespace
}  // namespace ember
