// ember classify: labels and scores (ember::Model::scores: softmax over several labels, the
// sigmoid of a single one) from a sequence or token classification head, through the public
// API (include/ember/ember.h).
#include <algorithm>
#include <iostream>
#include <numeric>

#include "cli/commands.h"
#include "core/error.h"

namespace ember::cli {
namespace {

struct ClassifyFlags {
  ModelFlags model;
  std::vector<std::string> texts;
  int top_k = 0;
};

nlohmann::json scores_json(const std::vector<std::string>& labels, const float* logits, int top_k) {
  const auto n = static_cast<int64_t>(labels.size());
  const std::vector<float> p = ember::Model::scores(std::vector<float>(logits, logits + n));
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](auto a, auto b) { return p[a] > p[b]; });
  nlohmann::json scores = nlohmann::json::array();
  for (int64_t i = 0; i < n && (top_k <= 0 || i < top_k); ++i)
    scores.push_back({{"label", labels[order[i]]}, {"score", p[order[i]]}});
  return {{"label", labels[order[0]]},
          {"score", p[order[0]]},
          {"scores", scores},
          {"logits", std::vector<float>(logits, logits + n)}};
}

int run_classify(const ClassifyFlags& f) {
  const auto inputs = read_inputs(f.texts);
  const ember::Model m = ember::Model::load(f.model.model, f.model.load_options());
  const ember::ModelInfo& info = m.info();
  const bool sequences = info.kind == ember::ModelKind::kSequenceClassification;
  EMBER_CHECK(sequences || info.kind == ember::ModelKind::kTokenClassification,
              ErrorKind::kUnsupported, "model '", f.model.model, "' (", info.architecture,
              ") has no classification head");
  std::vector<ember::Encoding> encs;
  for (const auto& in : inputs)
    encs.push_back(in.pair ? m.tokenize(in.text, *in.pair) : m.tokenize(in.text));
  const int64_t n = static_cast<int64_t>(info.labels.size());
  nlohmann::json results = nlohmann::json::array();
  if (sequences) {
    const auto r = m.run(encs, ember::kSeqLogits);
    for (size_t i = 0; i < encs.size(); ++i)
      results.push_back(scores_json(info.labels, r.seq_logits.data() + i * n, f.top_k));
  } else {
    const auto r = m.run(encs, ember::kTokenLogits);
    size_t row = 0;  // the first token of input i in the packed outputs
    for (const auto& e : encs) {
      nlohmann::json tokens = nlohmann::json::array();
      for (size_t t = 0; t < e.ids.size(); ++t) {
        if (e.special_tokens_mask[t]) continue;
        auto s = scores_json(info.labels, r.token_logits.data() + (row + t) * n, 1);
        tokens.push_back({{"token", e.tokens[t]},
                          {"start", e.offsets[t].first},
                          {"end", e.offsets[t].second},
                          {"label", s["label"]},
                          {"score", s["score"]}});
      }
      results.push_back({{"tokens", tokens}});
      row += e.ids.size();
    }
  }
  nlohmann::json out = {{"model", f.model.model}, {"results", results}};
  std::cout << out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  return 0;
}

}  // namespace

Runner add_classify(CLI::App& app) {
  auto f = std::make_shared<ClassifyFlags>();
  f->model.add_to(app);
  app.add_option("texts", f->texts, "Texts to classify (default: JSON lines on stdin)");
  app.add_option("--top-k", f->top_k, "Scores to list per input (0: all)")
      ->check(CLI::NonNegativeNumber);
  return [f] { return run_classify(*f); };
}

}  // namespace ember::cli
