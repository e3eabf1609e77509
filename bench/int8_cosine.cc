// Per-sentence cosine between a base model's sentence embeddings and each other model's (int8
// copies: docs/quantization.md, "Keeping Linears in fp32"), over every sentence of the sample,
// with the count under issue #19's per-embedding target.
//
//   bench_int8_cosine BASE OUT.json --data FILE [--sample N] [--threads T] MODEL...
//
// FILE: id<TAB>rating<TAB>text lines (VADER's *_GroundTruth.txt, rating 0 skipped); the seeded
// sample of N (default 6000) is bench_prune_quality's.
#include <algorithm>
#include <cmath>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "prune/quality.h"
#include "runtime/engine.h"

namespace {

double cosine(const float* a, const float* b, size_t n) {
  double ab = 0, aa = 0, bb = 0;
  for (size_t i = 0; i < n; ++i) {
    ab += static_cast<double>(a[i]) * b[i];
    aa += static_cast<double>(a[i]) * a[i];
    bb += static_cast<double>(b[i]) * b[i];
  }
  return ab / std::sqrt(aa * bb);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 5) {
    std::cerr << "usage: bench_int8_cosine BASE OUT.json --data FILE [--sample N] [--threads T] "
                 "MODEL...\n";
    return 2;
  }
  try {
    const std::string base_name = argv[1], out = argv[2];
    std::string data;
    size_t sample = 6000;
    ember::runtime::EngineOptions eo;
    eo.threads = 2;
    std::vector<std::string> models;
    for (int i = 3; i < argc; ++i) {
      const std::string a = argv[i];
      if (a == "--data" && i + 1 < argc)
        data = argv[++i];
      else if (a == "--sample" && i + 1 < argc)
        sample = std::stoul(argv[++i]);
      else if (a == "--threads" && i + 1 < argc)
        eo.threads = std::stoi(argv[++i]);
      else
        models.push_back(a);
    }
    auto texts = ember::prune::read_rated_sentences(data);
    std::shuffle(texts.begin(), texts.end(), std::mt19937(20141));
    if (texts.size() > sample) texts.resize(sample);
    const auto base = ember::runtime::Engine::load(base_name, eo);
    const std::vector<float> eb = ember::prune::embed_texts(*base, texts);
    const auto dim = static_cast<size_t>(base->spec().hidden_size);
    nlohmann::ordered_json report = {{"base", base_name},
                                     {"data", data},
                                     {"sentences", texts.size()},
                                     {"models", nlohmann::json::array()}};
    for (const auto& m : models) {
      const auto other = ember::runtime::Engine::load(m, eo);
      const std::vector<float> eo_ = ember::prune::embed_texts(*other, texts);
      std::vector<std::pair<double, size_t>> cos(texts.size());
      double sum = 0;
      for (size_t i = 0; i < texts.size(); ++i) {
        cos[i] = {cosine(&eb[i * dim], &eo_[i * dim], dim), i};
        sum += cos[i].first;
      }
      std::sort(cos.begin(), cos.end());
      const auto below =
          std::count_if(cos.begin(), cos.end(), [](const auto& c) { return c.first < 0.99; });
      nlohmann::json worst = nlohmann::json::array();
      for (size_t i = 0; i < std::min<size_t>(5, cos.size()); ++i)
        worst.push_back({{"cosine", cos[i].first}, {"text", texts[cos[i].second].text}});
      report["models"].push_back({{"model", m},
                                  {"fp32_linears", other->info().fp32_linears.size()},
                                  {"mean_cosine", sum / static_cast<double>(texts.size())},
                                  {"min_cosine", cos.front().first},
                                  {"p1_cosine", cos[cos.size() / 100].first},
                                  {"below_0_99", below},
                                  {"worst", worst}});
      std::cerr << report["models"].back().dump() << "\n";
    }
    std::ofstream(out) << report.dump(2) << "\n";
  } catch (const ember::Error& e) {
    std::cerr << e.what() << "\n";
    return 1;
  }
  return 0;
}
