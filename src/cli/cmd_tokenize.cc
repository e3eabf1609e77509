// ember tokenize: what a tokenizer makes of each input. With --model, the model's tokenizer
// under the model's length rule; with --tokenizer, a tokenizer.json alone (no weights, no
// config.json) under the file's own truncation, which --max-length replaces and --no-truncate
// turns off.
#include <filesystem>
#include <iostream>

#include "cli/commands.h"
#include "core/error.h"
#include "tokenizer/tokenizer.h"

namespace ember::cli {
namespace {

struct TokenizeFlags {
  ModelFlags model;
  std::string tokenizer;  // a tokenizer.json, or a directory holding one
  std::string offsets = "bytes";
  std::vector<std::string> texts;
};

tok::Tokenizer load_tokenizer(const TokenizeFlags& f) {
  std::filesystem::path path = f.tokenizer;
  if (std::filesystem::is_directory(path)) path /= "tokenizer.json";
  tok::Tokenizer t = tok::Tokenizer::from_file(path);
  if (f.model.no_truncate) {
    t.set_truncation(std::nullopt);
  } else if (f.model.max_length) {
    tok::Truncation trunc;
    trunc.max_length = static_cast<size_t>(*f.model.max_length);
    t.set_truncation(trunc);
  }
  return t;
}

nlohmann::json result(const tok::Encoding& e, bool chars) {
  nlohmann::json offsets = nlohmann::json::array();
  for (const auto& [b, end] : chars ? e.char_offsets : e.offsets) offsets.push_back({b, end});
  return {{"ids", e.ids},
          {"tokens", e.tokens},
          {"type_ids", e.type_ids},
          {"special_tokens_mask", e.special_tokens_mask},
          {"sequence_ids", e.sequence_ids},
          {"offsets", offsets}};
}

int run_tokenize(const TokenizeFlags& f) {
  const auto inputs = read_inputs(f.texts);
  const bool chars = f.offsets == "chars";
  nlohmann::json results = nlohmann::json::array();
  nlohmann::json out;
  if (!f.tokenizer.empty()) {
    const tok::Tokenizer t = load_tokenizer(f);
    for (const auto& in : inputs)
      results.push_back(
          result(in.pair ? t.encode_pair(in.text, *in.pair) : t.encode(in.text), chars));
    out["tokenizer"] = f.tokenizer;
  } else {
    const auto engine = runtime::Engine::load(f.model.model, f.model.options());
    for (const auto& in : inputs) {
      const auto e = in.pair ? engine->tokenize_pair(in.text, *in.pair) : engine->tokenize(in.text);
      results.push_back(result(e, chars));
    }
    out["model"] = f.model.model;
  }
  out["offset_unit"] = f.offsets;
  out["results"] = std::move(results);
  std::cout << out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  return 0;
}

}  // namespace

Runner add_tokenize(CLI::App& app) {
  auto f = std::make_shared<TokenizeFlags>();
  f->model.add_to(app);
  CLI::Option* tokenizer =
      app.add_option("--tokenizer", f->tokenizer,
                     "A tokenizer.json (or a directory with one) to use alone, without a model; "
                     "its own truncation applies unless --max-length or --no-truncate");
  app.get_option("--model")->excludes(tokenizer);
  app.add_option("--offsets", f->offsets,
                 "Offset unit: bytes of the UTF-8 input, or chars (Unicode code points, as the "
                 "tokenizers library's Python Encoding.offsets)")
      ->check(CLI::IsMember({"bytes", "chars"}))
      ->capture_default_str();
  app.add_option("texts", f->texts, "Texts to tokenize (default: JSON lines on stdin)");
  return [f] { return run_tokenize(*f); };
}

}  // namespace ember::cli
