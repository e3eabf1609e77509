// ember tokenize: what the model's tokenizer makes of each input, under the model's length rule.
#include <iostream>

#include "cli/commands.h"

namespace ember::cli {
namespace {

struct TokenizeFlags {
  ModelFlags model;
  std::vector<std::string> texts;
};

int run_tokenize(const TokenizeFlags& f) {
  const auto inputs = read_inputs(f.texts);
  const auto engine = runtime::Engine::load(f.model.model, f.model.options());
  nlohmann::json results = nlohmann::json::array();
  for (const auto& in : inputs) {
    const auto e = in.pair ? engine->tokenize_pair(in.text, *in.pair) : engine->tokenize(in.text);
    nlohmann::json offsets = nlohmann::json::array();
    for (const auto& [b, end] : e.offsets) offsets.push_back({b, end});
    results.push_back({{"ids", e.ids},
                       {"tokens", e.tokens},
                       {"type_ids", e.type_ids},
                       {"special_tokens_mask", e.special_tokens_mask},
                       {"offsets", offsets}});
  }
  nlohmann::json out = {{"model", f.model.model}, {"results", results}};
  std::cout << out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  return 0;
}

}  // namespace

Runner add_tokenize(CLI::App& app) {
  auto f = std::make_shared<TokenizeFlags>();
  f->model.add_to(app);
  app.add_option("texts", f->texts, "Texts to tokenize (default: JSON lines on stdin)");
  return [f] { return run_tokenize(*f); };
}

}  // namespace ember::cli
