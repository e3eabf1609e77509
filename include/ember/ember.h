// Ember's public C++ API: load a transformer encoder (a Hugging Face / sentence-transformers
// model directory, or a name in Ember's model cache), tokenize, and run it: sentence
// embeddings, sparse (SPLADE) vectors, classification logits and scores, token logits, last
// hidden states. Built as libember.so (shared) and ember_api (static); the `ember` command
// line and the Python package use it.
//
//   ember::Model m = ember::Model::load("all-MiniLM-L6-v2");
//   std::vector<std::vector<float>> e = m.embed({"first text", "second text"});
//
// Every call throws ember::Error (ember/error.h) with a kind on bad input or an unusable model;
// none aborts. A Model is safe to use from several threads: calls run one at a time on its own
// compute threads; two Models compute side by side.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ember/error.h"

namespace ember {

struct LoadOptions {
  std::string backend = "cpu";        // "cpu", or "reference" (plain loops; for checking)
  int threads = 0;                    // compute threads of this model's pool; 0: all cores
  std::optional<int64_t> spin_us;     // idle spin of the compute threads; unset: adaptive
  bool worker_affinity = true;        // keep workers off the caller's CPU
  bool pack_weights = true;           // pack Linear weights at load for oneDNN
  std::optional<int64_t> max_length;  // tokens per input (never above the model's limit)
  bool truncate = true;               // false: over-long input is an error
  // Overrides of the sentence-transformers config: "cls", "mean", "max", "mean_sqrt_len",
  // "last"; L2 normalization.
  std::optional<std::string> pooling;
  std::optional<bool> normalize;
};

// A sentence-transformers prompt for embed(): its text is prepended to each input before
// tokenization, as SentenceTransformer.encode(prompt_name=..., prompt=...) does.
struct EmbedOptions {
  std::optional<std::string> prompt_name;  // one of info().prompts; unset: the default prompt
  std::optional<std::string> prompt;       // the text itself; wins over prompt_name
};

enum class ModelKind {
  kEmbedding,               // pooled sentence embeddings
  kSequenceClassification,  // labels (or a relevance score) per text or text pair
  kTokenClassification,     // labels per token
  kSparse,                  // SPLADE: sparse vectors over the vocabulary
};

struct LayerInfo {
  int64_t heads = 0, kv_heads = 0, head_dim = 0, ffn_width = 0;
};

struct ModelInfo {
  std::string name;          // as given to load()
  std::string model_type;    // config.json's, e.g. "bert", "mpnet", "qwen3"
  std::string architecture;  // architectures[0]
  ModelKind kind = ModelKind::kEmbedding;
  int64_t hidden_size = 0;
  int64_t vocab_size = 0;
  int64_t max_length = 0;  // tokens per input, special tokens included
  int64_t parameters = 0;
  std::string pooling;  // "cls", "mean", "max", "mean_sqrt_len", "lasttoken"
  bool normalize = false;
  std::vector<std::string> labels;  // classifiers: id -> label
  // sentence-transformers prompts (config_sentence_transformers.json): name -> text, and the
  // one embed() applies when none is named ("": none).
  std::map<std::string, std::string> prompts;
  std::string default_prompt_name;
  std::vector<LayerInfo> layers;  // per layer (pruned models differ)
  std::string quantization;       // "" or "int8-dynamic"
  std::string backend;
  int threads = 0;
};

// What the tokenizer made of one input. Offsets are byte ranges of the input text (of the
// first text, or the second one for sequence id 1); special tokens have (0, 0).
struct Encoding {
  std::vector<int32_t> ids;
  std::vector<int32_t> type_ids;
  std::vector<std::string> tokens;
  std::vector<std::pair<size_t, size_t>> offsets;
  std::vector<uint8_t> special_tokens_mask;
};

// The non-zero entries of a sparse vector, by increasing index.
struct SparseVector {
  std::vector<int32_t> indices;
  std::vector<float> values;
};

// Outputs of Model::run; which are filled depends on what was asked.
struct Outputs {
  int64_t hidden_size = 0, num_labels = 0, vocab_size = 0;
  std::vector<float> hidden;        // kHidden: [tokens of all inputs][hidden_size]
  std::vector<float> pooled;        // kPooled: [inputs][hidden_size]
  std::vector<float> seq_logits;    // kSeqLogits: [inputs][num_labels]
  std::vector<float> token_logits;  // kTokenLogits: [tokens of all inputs][num_labels]
  std::vector<float> sparse;        // kSparse: [inputs][vocab_size], mostly zeros
};
enum Output : unsigned {
  kHidden = 1u << 0,
  kPooled = 1u << 1,
  kSeqLogits = 1u << 2,
  kTokenLogits = 1u << 3,
  kSparse = 1u << 4,
};

class Model {
 public:
  static Model load(const std::string& model, const LoadOptions& options = {});
  Model(Model&&) noexcept;
  Model& operator=(Model&&) noexcept;
  ~Model();

  const ModelInfo& info() const;

  Encoding tokenize(std::string_view text) const;
  Encoding tokenize(std::string_view text, std::string_view pair) const;

  // Sentence embeddings [texts][hidden_size], pooled and normalized as the model's
  // sentence-transformers config says (or LoadOptions). Long lists run in packed batches.
  std::vector<std::vector<float>> embed(const std::vector<std::string>& texts) const;
  // The same with a prompt (by default, the model's default prompt, as embed() above). Where
  // the model's Pooling has include_prompt false, the prompt's tokens are not pooled. An
  // unknown prompt_name is kInvalidInput.
  std::vector<std::vector<float>> embed(const std::vector<std::string>& texts,
                                        const EmbedOptions& options) const;
  // SPLADE vectors (kSparse models).
  std::vector<SparseVector> embed_sparse(const std::vector<std::string>& texts) const;
  // Sequence classification logits [inputs][labels], of texts or of text pairs.
  std::vector<std::vector<float>> classify(const std::vector<std::string>& texts) const;
  std::vector<std::vector<float>> classify(
      const std::vector<std::pair<std::string, std::string>>& pairs) const;
  // Token classification logits, per text [tokens][labels] flattened.
  std::vector<std::vector<float>> classify_tokens(const std::vector<std::string>& texts) const;
  // Last hidden states, per text [tokens][hidden_size] flattened.
  std::vector<std::vector<float>> hidden_states(const std::vector<std::string>& texts) const;

  // The low-level call: tokenized inputs, packed into one padding-free batch, `outputs` the
  // Output bits wanted.
  Outputs run(const std::vector<Encoding>& inputs, unsigned outputs) const;

  // Scores from logits, as sentence-transformers' CrossEncoder gives them: the softmax over
  // several labels, the sigmoid of a single logit.
  static std::vector<float> scores(const std::vector<float>& logits);

 private:
  struct Impl;
  explicit Model(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ember
