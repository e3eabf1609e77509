// Loads a reference written by scripts/make_reference.py: tests/fixtures/reference/<name>/
// inputs.json (texts and settings) + reference.safetensors (ids, hidden states, pooled,
// logits from the Hugging Face stack).
#pragma once

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "io/model_dir.h"
#include "io/safetensors.h"

namespace ember::testing {

struct Reference {
  std::string name;
  nlohmann::json inputs;
  std::string model;  // a directory or a cache name, for Engine::load
  io::SafetensorsFile tensors;
  std::vector<std::string> texts;

  static Reference load(const std::string& name) {
    const std::filesystem::path dir =
        std::filesystem::path(EMBER_SOURCE_DIR) / "tests/fixtures/reference" / name;
    std::ifstream in(dir / "inputs.json");
    if (!in) throw std::runtime_error("missing reference " + (dir / "inputs.json").string());
    Reference r{name,
                nlohmann::json::parse(in),
                "",
                io::SafetensorsFile::open(dir / "reference.safetensors"),
                {}};
    const std::string model_dir = r.inputs["model_dir"].get<std::string>();
    const auto local = std::filesystem::path(EMBER_SOURCE_DIR) / model_dir;
    r.model = std::filesystem::is_directory(local) ? local.string() : model_dir;
    r.texts = r.inputs["texts"].get<std::vector<std::string>>();
    return r;
  }

  bool has(const std::string& tensor) const { return tensors.has(tensor); }

  std::vector<int32_t> ints(const std::string& tensor) const {
    const Tensor& t = tensors.get(tensor);
    const auto* p = static_cast<const int32_t*>(t.data);
    return {p, p + t.numel()};
  }
  std::vector<float> floats(const std::string& tensor) const {
    const Tensor& t = tensors.get(tensor);
    std::vector<float> out(t.numel());
    std::memcpy(out.data(), t.data, t.nbytes());
    return out;
  }
};

// Every model with a Hugging Face reference fixture: the parity tests run each (parity_test.cc
// on the CPU backend, backend_parity_test.cc on both).
inline const std::vector<std::string>& parity_models() {
  static const std::vector<std::string> models = {
      "all-MiniLM-L6-v2",       "paraphrase-MiniLM-L3-v2", "all-mpnet-base-v2",
      "tiny-bert-seqcls",       "tiny-bert-tokcls",        "tiny-distilbert",
      "tiny-roberta",           "tiny-xlm-roberta",        "tiny-electra",
      "tiny-mpnet-seqcls",      "tiny-bert-st6",           "tiny-bert-reranker",
      "tiny-bert-pruned",       "tiny-bert-splade",        "tiny-modernbert-seqcls",
      "tiny-modernbert-tokcls", "tiny-qwen3-embedding",    "tiny-deberta-v3",
      "tiny-deberta-v3-nli",    "tiny-deberta-v3-reranker"};
  return models;
}

// A test-name-safe form of a model name (gtest names allow no '-').
inline std::string test_name(std::string name) {
  for (char& c : name)
    if (c == '-') c = '_';
  return name;
}

}  // namespace ember::testing
