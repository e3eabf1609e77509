// ember classify: labels and scores (model/label_scores.h: softmax over several labels, the
// sigmoid of a single one) from a sequence or token classification head.
#include <algorithm>
#include <iostream>
#include <numeric>

#include "cli/commands.h"
#include "core/error.h"
#include "model/label_scores.h"

namespace ember::cli {
namespace {

struct ClassifyFlags {
  ModelFlags model;
  std::vector<std::string> texts;
  int top_k = 0;
};

nlohmann::json scores_json(const std::vector<std::string>& labels, const float* logits, int top_k) {
  const auto n = static_cast<int64_t>(labels.size());
  std::vector<float> p(static_cast<size_t>(n));
  model::label_scores(logits, n, p.data());
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
  const auto engine = runtime::Engine::load(f.model.model, f.model.options());
  const auto& c = engine->spec();
  EMBER_CHECK(c.head != model::HeadKind::kNone, ErrorKind::kUnsupported, "model '", f.model.model,
              "' (", c.architecture, ") has no classification head");
  std::vector<tok::Encoding> encs;
  for (const auto& in : inputs)
    encs.push_back(in.pair ? engine->tokenize_pair(in.text, *in.pair) : engine->tokenize(in.text));
  const auto batch = runtime::Engine::pack(encs);
  const int64_t n = static_cast<int64_t>(c.labels.size());
  nlohmann::json results = nlohmann::json::array();
  if (c.head == model::HeadKind::kSequenceClassification) {
    const auto r = engine->run(batch, runtime::kSeqLogits);
    for (size_t i = 0; i < encs.size(); ++i)
      results.push_back(scores_json(c.labels, r.seq_logits.data() + i * n, f.top_k));
  } else {
    const auto r = engine->run(batch, runtime::kTokenLogits);
    for (size_t i = 0; i < encs.size(); ++i) {
      nlohmann::json tokens = nlohmann::json::array();
      const auto& e = encs[i];
      for (size_t t = 0; t < e.ids.size(); ++t) {
        if (e.special_tokens_mask[t]) continue;
        auto s = scores_json(c.labels, r.token_logits.data() + (batch.seq_begin(i) + t) * n, 1);
        tokens.push_back({{"token", e.tokens[t]},
                          {"start", e.offsets[t].first},
                          {"end", e.offsets[t].second},
                          {"label", s["label"]},
                          {"score", s["score"]}});
      }
      results.push_back({{"tokens", tokens}});
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
