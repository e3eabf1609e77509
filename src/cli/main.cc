// ember: one binary for Ember's commands. Errors leave as one JSON line on stderr,
// {"error": ..., "error_type": ...}, and an exit code by kind (see exit_code).
#include <iostream>
#include <map>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "core/error.h"

namespace {

int exit_code(ember::ErrorKind kind) {
  switch (kind) {
    case ember::ErrorKind::kInvalidInput:
      return 2;
    case ember::ErrorKind::kNotFound:
      return 3;
    case ember::ErrorKind::kUnsupported:
      return 4;
    case ember::ErrorKind::kOverloaded:
    case ember::ErrorKind::kUnavailable:
      return 5;
    case ember::ErrorKind::kInternal:
      return 1;
  }
  return 1;
}

void report(std::string_view type, const std::string& message) {
  nlohmann::json j = {{"error", message}, {"error_type", type}};
  std::cerr << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Ember: transformer encoders in production (embed, classify, tokenize, info)"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "ember 0.1.0");
  std::map<CLI::App*, ember::cli::Runner> runners;
  auto add = [&](const char* name, const char* help, auto adder) {
    CLI::App* sub = app.add_subcommand(name, help);
    runners[sub] = adder(*sub);
  };
  add("embed", "Sentence embeddings of texts (arguments, or JSON lines on stdin)",
      ember::cli::add_embed);
  add("classify", "Labels and scores from a classification head", ember::cli::add_classify);
  add("tokenize", "Token ids, tokens and offsets", ember::cli::add_tokenize);
  add("info", "Architecture, sizes, pooling and files of a model", ember::cli::add_info);
  add("serve", "HTTP server: TEI and OpenAI embeddings APIs", ember::cli::add_serve);
  add("bench", "Latency over a grid of batch x length, models interleaved", ember::cli::add_bench);
  add("quantize", "Write an int8 (dynamic quantization) copy of a model", ember::cli::add_quantize);
  add("prune", "Write a smaller model: heads, FFN units and layers removed, re-fitted",
      ember::cli::add_prune);
  add("loadtest", "Load a running server: user sweeps, open-loop rates, single latency",
      ember::cli::add_loadtest);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    for (auto& [sub, run] : runners)
      if (sub->parsed()) return run();
  } catch (const ember::Error& e) {
    report(ember::error_kind_name(e.kind()), e.what());
    return exit_code(e.kind());
  } catch (const std::exception& e) {
    report("internal", e.what());
    return 1;
  }
  return 1;
}
