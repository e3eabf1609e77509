// An Engine is one loaded model ready to serve: model + backend + tokenizer + pooling, with
// activation buffers reused across calls. run() takes a packed Batch; the convenience calls
// (embed) tokenize, pack and run. One run at a time per Engine (a mutex guards the workspace);
// the compute inside a run uses the engine's own threads (its backend's pool), so engines in
// one process compute side by side without sharing or resizing each other's threads.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "io/sentence_transformers.h"
#include "model/batch.h"
#include "model/model.h"
#include "model/workspace.h"
#include "ops/backend.h"
#include "tokenizer/tokenizer.h"

namespace ember::runtime {

struct EngineOptions {
  std::string backend = "cpu";  // "cpu", or "reference" (plain loops; tests)
  int threads = 0;              // 0: all cores
  // Compute threads spin this long before sleeping; unset: adaptive (core/thread_pool.h).
  std::optional<int64_t> spin_us;
  bool worker_affinity = true;             // keep workers off the caller's CPU
  std::optional<int64_t> max_length;       // override of the model's limit (clamped to it)
  bool truncate = true;                    // false: over-long input is an error
  std::optional<io::PoolingMode> pooling;  // override of the sentence-transformers config
  std::optional<bool> normalize;           // likewise
  // Pack the Linear weights at load for oneDNN's matmul (faster from 2 rows up; the packed copy
  // takes the place of the unpacked weights in memory, docs/performance.md).
  bool pack_weights = true;
  // The dtype of the Linear weights (docs/bf16.md): "auto" (bf16 for a BF16 or F16 checkpoint
  // where the backend runs bf16 GEMMs, else fp32), "fp32", or "bf16" (an fp32 checkpoint's
  // Linears rounded to bf16 at load; fp32 on CPUs without avx512_bf16).
  std::string dtype = "auto";
  // A bf16 model's attention (QK^T, PV) in bf16 where the CPU has avx512_bf16 (docs/bf16.md);
  // false keeps it fp32.
  bool bf16_attention = true;
};

struct ModelInfo {
  std::string name;  // what the user asked for
  std::string dir;
  std::string weights;     // "safetensors" or "onnx"
  int64_t max_length = 0;  // tokens per sequence, special tokens included
  io::PoolingMode pooling = io::PoolingMode::kMean;
  bool normalize = false;
  bool pooling_from_config = false;  // false: defaults, no sentence-transformers metadata
  // A sparse encoder (SPLADE): sentence-transformers' SpladePooling over a masked-LM head.
  std::optional<io::SpladeConfig> splade;
  bool has_tokenizer = false;
  int64_t parameters = 0;
  std::string quantization;  // "" (float) or "int8-dynamic" (ember quantize)
  // int8 models: the encoder Linears kept in fp32 ("layer.<i>.<kind>", ember quantize
  // --keep-fp32).
  std::vector<std::string> fp32_linears;
  int64_t packed_bytes = 0;  // memory of the packed weights (EngineOptions::pack_weights)
  std::string dtype;         // of the Linears as they run: "fp32" or "bf16"
  // One line when the weights run in another dtype than asked or stored (bf16 without
  // avx512_bf16); empty otherwise. Front ends print it.
  std::string dtype_note;
  std::string backend;  // "cpu" or "reference"
  int threads = 0;      // compute threads of the backend
};

enum Output : unsigned {
  kHidden = 1u << 0,       // last hidden state [T, H]
  kPooled = 1u << 1,       // sentence embeddings [B, H]
  kSeqLogits = 1u << 2,    // sequence classification logits [B, C]
  kTokenLogits = 1u << 3,  // token classification logits [T, C]
  kSparse = 1u << 4,       // SPLADE vectors [B, vocab] (mostly zeros)
};

struct RunResult {
  int64_t hidden_size = 0;
  int64_t num_labels = 0;
  std::vector<float> hidden;
  std::vector<float> pooled;
  std::vector<float> seq_logits;
  std::vector<float> token_logits;
  int64_t vocab_size = 0;
  std::vector<float> sparse;
};

class Engine {
 public:
  static std::unique_ptr<Engine> load(const std::string& model, const EngineOptions& options = {});

  const model::ModelSpec& spec() const { return model_->spec(); }
  const ModelInfo& info() const { return info_; }
  bool has_tokenizer() const { return tokenizer_.has_value(); }
  const tok::Tokenizer& tokenizer() const;  // kUnsupported if the model has none

  // Tokenizes with the model's length rule: truncate to max_length, or kInvalidInput when
  // truncation is off and the text is longer.
  tok::Encoding tokenize(std::string_view text) const;
  tok::Encoding tokenize_pair(std::string_view a, std::string_view b) const;
  static model::Batch pack(const std::vector<tok::Encoding>& encodings);

  RunResult run(const model::Batch& batch, unsigned outputs) const;

  // Convenience: [texts.size()][hidden] sentence embeddings.
  std::vector<std::vector<float>> embed(const std::vector<std::string>& texts) const;

 private:
  Engine() = default;
  tok::Encoding check_length(tok::Encoding enc) const;

  ModelInfo info_;
  std::unique_ptr<ops::Backend> backend_;
  std::unique_ptr<model::Model> model_;  // prepared for backend_
  std::optional<tok::Tokenizer> tokenizer_;
  mutable std::mutex mutex_;
  mutable std::unique_ptr<model::Workspace> workspace_;
};

}  // namespace ember::runtime
