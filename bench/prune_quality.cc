// Quality of pruned (and quantized) models against their base on labeled sentences
// (prune/quality.h): fidelity cosine, sentiment-probe accuracy, 10-nearest-neighbour overlap,
// and every sampled sentence's cosine (`every_sentence`: mean, minimum, first percentile, the
// count under 0.99 and the five worst, the per-embedding view of docs/quantization.md).
//
//   bench_prune_quality BASE OUT.json --data FILE [--sample N] [--folds K] [--threads T] MODEL...
//
// FILE: id<TAB>rating<TAB>text lines (VADER's *_GroundTruth.txt); a seeded sample of N
// sentences (default 6000; 0: all) is used. --folds K (>= 2) cross-validates the probe over
// every sampled sentence instead of scoring it on the 30% held out.
#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/error.h"
#include "prune/quality.h"
#include "runtime/engine.h"

int main(int argc, char** argv) {
  if (argc < 5) {
    std::cerr << "usage: bench_prune_quality BASE OUT.json --data FILE [--sample N] "
                 "[--folds K] [--threads T] MODEL...\n";
    return 2;
  }
  try {
    const std::string base_name = argv[1], out = argv[2];
    std::string data;
    size_t sample = 6000;
    ember::prune::QualityOptions qo;
    ember::runtime::EngineOptions eo;
    eo.threads = 2;
    std::vector<std::string> models;
    for (int i = 3; i < argc; ++i) {
      const std::string a = argv[i];
      if (a == "--data" && i + 1 < argc)
        data = argv[++i];
      else if (a == "--sample" && i + 1 < argc)
        sample = std::stoul(argv[++i]);
      else if (a == "--folds" && i + 1 < argc)
        qo.folds = std::stoi(argv[++i]);
      else if (a == "--threads" && i + 1 < argc)
        eo.threads = std::stoi(argv[++i]);
      else
        models.push_back(a);
    }
    auto texts = ember::prune::read_rated_sentences(data);
    std::shuffle(texts.begin(), texts.end(), std::mt19937(20141));
    if (sample > 0 && texts.size() > sample) texts.resize(sample);
    const auto base = ember::runtime::Engine::load(base_name, eo);
    nlohmann::ordered_json report = {{"base", base_name},
                                     {"data", data},
                                     {"sentences", texts.size()},
                                     {"models", nlohmann::json::array()}};
    for (const auto& m : models) {
      const auto other = ember::runtime::Engine::load(m, eo);
      const auto q = ember::prune::compare_quality(*base, *other, texts, qo);
      nlohmann::json worst = nlohmann::json::array();
      for (const auto& [c, i] : q.every_text.worst)
        worst.push_back({{"cosine", c}, {"text", texts[i].text}});
      report["models"].push_back({{"model", m},
                                  {"parameters", other->info().parameters},
                                  {"train", q.train},
                                  {"test", q.test},
                                  {"mean_cosine", q.mean_cosine},
                                  {"min_cosine", q.min_cosine},
                                  {"probe_accuracy_base", q.probe_accuracy_base},
                                  {"probe_accuracy", q.probe_accuracy},
                                  {"probe_accuracy_base_probe", q.probe_accuracy_base_probe},
                                  {"probe_texts", q.probe_texts},
                                  {"probe_folds", qo.folds},
                                  {"neighbour_overlap_at_10", q.neighbour_overlap},
                                  {"fp32_linears", other->info().fp32_linears.size()},
                                  {"every_sentence",
                                   {{"mean_cosine", q.every_text.mean},
                                    {"min_cosine", q.every_text.min},
                                    {"p1_cosine", q.every_text.p1},
                                    {"below_0_99", q.every_text.below_0_99},
                                    {"worst", worst}}}});
      std::cerr << report["models"].back().dump() << "\n";
    }
    std::ofstream(out) << report.dump(2) << "\n";
  } catch (const ember::Error& e) {
    std::cerr << e.what() << "\n";
    return 1;
  } catch (const std::logic_error& e) {  // std::stoi / std::stoul on a bad number
    std::cerr << "bench_prune_quality: bad number for --sample, --folds or --threads\n";
    return 2;
  }
  return 0;
}
