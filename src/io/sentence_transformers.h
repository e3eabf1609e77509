// sentence-transformers metadata: modules.json, 1_Pooling/config.json,
// sentence_bert_config.json. Absent files mean "not a sentence-transformers model".
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "io/json_config.h"

namespace ember::io {

enum class PoolingMode { kCls, kMean, kMax, kMeanSqrtLen, kLastToken };

// A SparseEncoder's SpladePooling: per vocabulary entry, the max (or sum) over the tokens of
// log(1 + relu(logit)) (log1p applied twice with "log1p_relu").
struct SpladeConfig {
  bool max = true;          // pooling_strategy "max", else "sum"
  bool double_log = false;  // activation_function "log1p_relu"
};

struct SentenceTransformersConfig {
  PoolingMode pooling = PoolingMode::kMean;
  bool normalize = false;             // a sentence_transformers.models.Normalize module
  std::optional<int> max_seq_length;  // sentence_bert_config.json
  std::optional<bool> do_lower_case;
  // A sparse encoder (SPLADE): a masked-LM transformer (MLMTransformer, or a Transformer with
  // transformer_task "fill-mask") and SpladePooling instead of Pooling.
  std::optional<SpladeConfig> splade;
};

// Returns nullopt when the directory has no modules.json. Throws kUnsupported for modules
// Ember does not run (Dense, ...), naming the module; kInvalidInput for malformed files.
std::optional<SentenceTransformersConfig> load_sentence_transformers(
    const std::filesystem::path& model_dir);

const char* pooling_mode_name(PoolingMode mode);

// The pieces of load_sentence_transformers, usable on bytes (tests, fuzzing).
struct SentenceTransformersModule {
  int64_t idx = 0;
  std::string name;
  std::string path;  // relative to the model directory; "" for the Transformer
  std::string type;  // "sentence_transformers.models.Pooling"
};
std::vector<SentenceTransformersModule> parse_modules_json(std::string_view text,
                                                           const std::string& origin);
// 1_Pooling/config.json: "pooling_mode": "<mode>" (sentence-transformers 6.x), or the classic
// layout where exactly one pooling_mode_* is true; kUnsupported otherwise.
PoolingMode parse_pooling_config(const JsonConfig& config);
// 1_SpladePooling/config.json: pooling_strategy and activation_function.
SpladeConfig parse_splade_config(const JsonConfig& config);

}  // namespace ember::io
