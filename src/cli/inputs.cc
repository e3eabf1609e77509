#include <charconv>
#include <iostream>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "core/error.h"

namespace ember::cli {

namespace {

// Both option structs name these fields alike.
template <typename Options>
void add_compute_flags_to(CLI::App& app, Options& o) {
  app.add_option("-t,--threads", o.threads, "Compute threads (0: all cores)")
      ->check(CLI::Range(0, 1024));
  app.add_option("--backend", o.backend, "cpu, or reference (plain loops, for checking; slow)")
      ->capture_default_str()
      ->check(CLI::IsMember({"cpu", "reference"}));
  app.add_option("--spin-us", o.spin_us,
                 "Microseconds an idle compute thread spins before it sleeps (default: up to "
                 "200 while the machine has a core to spare, else 0)")
      ->check(CLI::Range(0, 1000000));
  app.add_flag("--worker-affinity,!--no-worker-affinity", o.worker_affinity,
               "Keep compute workers off the CPU of the thread that hands them work")
      ->capture_default_str();
  app.add_flag("--pack-weights,!--no-pack-weights", o.pack_weights,
               "Pack Linear weights at load for oneDNN (faster from 2 rows up)")
      ->capture_default_str();
  app.add_option("--dtype", o.dtype,
                 "Linear weights: auto (bf16 for a bf16/fp16 checkpoint on a CPU with "
                 "avx512_bf16), fp32, or bf16")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "fp32", "bf16"}));
  app.add_flag("--bf16-attention,!--no-bf16-attention", o.bf16_attention,
               "With bf16 Linears on a CPU with avx512_bf16, run attention's two products in "
               "bf16 too (fp32 accumulation and softmax)")
      ->capture_default_str();
}

}  // namespace

void add_compute_flags(CLI::App& app, runtime::EngineOptions& o) {
  add_compute_flags_to(app, o);
}

void add_compute_flags(CLI::App& app, ember::LoadOptions& o) {
  add_compute_flags_to(app, o);
}

void ModelFlags::add_to(CLI::App& app) {
  app.add_option("-m,--model", model, "Model directory, or a name in the model cache")
      ->capture_default_str();
  add_compute_flags(app, engine);
  app.add_option("--max-length", max_length, "Tokens per input, special tokens included")
      ->check(CLI::PositiveNumber);
  app.add_flag("--no-truncate", no_truncate, "Fail on over-long input instead of truncating");
}

runtime::EngineOptions ModelFlags::options() const {
  runtime::EngineOptions o = engine;
  o.max_length = max_length;
  o.truncate = !no_truncate;
  return o;
}

ember::LoadOptions ModelFlags::load_options() const {
  ember::LoadOptions o;
  o.backend = engine.backend;
  o.threads = engine.threads;
  o.spin_us = engine.spin_us;
  o.worker_affinity = engine.worker_affinity;
  o.pack_weights = engine.pack_weights;
  o.dtype = engine.dtype;
  o.bf16_attention = engine.bf16_attention;
  o.max_length = max_length;
  o.truncate = !no_truncate;
  return o;
}

TextInput parse_input_line(const std::string& line, size_t line_number) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(line);
  } catch (const nlohmann::json::parse_error& e) {
    fail(ErrorKind::kInvalidInput, "stdin line ", line_number, ": not JSON (", e.what(), ")");
  }
  if (j.is_string()) return {j.get<std::string>(), std::nullopt};
  EMBER_CHECK(j.is_object(), ErrorKind::kInvalidInput, "stdin line ", line_number,
              ": expected a JSON string or an object with \"text\"");
  TextInput in;
  bool found = false;
  for (const char* key : {"text", "input", "inputs"}) {
    if (!j.contains(key)) continue;
    EMBER_CHECK(j[key].is_string(), ErrorKind::kInvalidInput, "stdin line ", line_number, ": \"",
                key, "\" must be a string");
    in.text = j[key].get<std::string>();
    found = true;
    break;
  }
  EMBER_CHECK(found, ErrorKind::kInvalidInput, "stdin line ", line_number,
              ": the object has no \"text\"");
  if (j.contains("text_pair")) {
    EMBER_CHECK(j["text_pair"].is_string(), ErrorKind::kInvalidInput, "stdin line ", line_number,
                ": \"text_pair\" must be a string");
    in.pair = j["text_pair"].get<std::string>();
  }
  return in;
}

std::vector<TextInput> read_inputs(const std::vector<std::string>& args) {
  std::vector<TextInput> inputs;
  if (!args.empty()) {
    for (const auto& a : args) inputs.push_back({a, std::nullopt});
    return inputs;
  }
  std::string line;
  size_t n = 0;
  while (std::getline(std::cin, line)) {
    ++n;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    inputs.push_back(parse_input_line(line, n));
  }
  EMBER_CHECK(!inputs.empty(), ErrorKind::kInvalidInput,
              "no input: give texts as arguments or JSON lines on stdin");
  return inputs;
}

void append_float(std::string& out, float v) {
  if (!std::isfinite(v)) {
    out += "null";
    return;
  }
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  out.append(buf, ec == std::errc() ? end : buf);
}

void append_floats(std::string& out, const float* v, int64_t n) {
  out += '[';
  for (int64_t i = 0; i < n; ++i) {
    if (i) out += ',';
    append_float(out, v[i]);
  }
  out += ']';
}

}  // namespace ember::cli
