// The `ember` subcommands. Each registers its flags on a CLI11 subcommand and runs against
// the layers below; errors are ember::Error, mapped to exit codes in main.cc only.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "ember/ember.h"
#include "runtime/engine.h"

namespace ember::cli {

// Flags of the compute an engine runs on (backend, threads and their tuning), shared by every
// command that loads a model; they fill the matching fields of runtime::EngineOptions or of
// the public ember::LoadOptions.
void add_compute_flags(CLI::App& app, runtime::EngineOptions& options);
void add_compute_flags(CLI::App& app, ember::LoadOptions& options);

// Flags every model-using command shares.
struct ModelFlags {
  std::string model = "all-MiniLM-L6-v2";
  runtime::EngineOptions engine;  // compute flags
  std::optional<int64_t> max_length;
  bool no_truncate = false;
  void add_to(CLI::App& app);
  runtime::EngineOptions options() const;
  ember::LoadOptions load_options() const;  // the same, for the public API (ember/ember.h)
};

// One input: a text, or a text pair (classification of sentence pairs).
struct TextInput {
  std::string text;
  std::optional<std::string> pair;
};

// The texts given as arguments, or else JSON lines from stdin: each line a JSON string or
// an object {"text": ..., "text_pair": ...} ("input"/"inputs" accepted for "text").
std::vector<TextInput> read_inputs(const std::vector<std::string>& args);
TextInput parse_input_line(const std::string& line, size_t line_number);

// Shortest round-trip decimal for a float, as JSON (non-finite -> null).
void append_float(std::string& out, float v);
void append_floats(std::string& out, const float* v, int64_t n);

using Runner = std::function<int()>;
Runner add_embed(CLI::App& app);
Runner add_classify(CLI::App& app);
Runner add_tokenize(CLI::App& app);
Runner add_info(CLI::App& app);
Runner add_serve(CLI::App& app);
Runner add_bench(CLI::App& app);
Runner add_quantize(CLI::App& app);
Runner add_prune(CLI::App& app);
Runner add_loadtest(CLI::App& app);

}  // namespace ember::cli
