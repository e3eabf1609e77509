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
  std::string dtype = "auto";         // Linear weights: "auto", "fp32" or "bf16" (docs/bf16.md)
  bool bf16_attention = true;         // a bf16 model's attention in bf16 (avx512_bf16 CPUs)
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
  // The Pooling module's include_prompt: false leaves a prompt's tokens out of the pooling.
  bool include_prompt = true;
  std::vector<LayerInfo> layers;  // per layer (pruned models differ)
  std::string quantization;       // "" or "int8-dynamic"
  // int8 models: the encoder Linears kept in fp32, "layer.<i>.<kind>" (ember quantize
  // --keep-fp32); empty otherwise.
  std::vector<std::string> fp32_linears;
  std::string backend;
  int threads = 0;
  bool has_tokenizer = false;  // false: run() on token ids only
  std::string dtype;           // what the Linears compute in: "fp32" or "bf16"
  std::string dtype_note;      // why a bf16 request runs in fp32 here (no avx512_bf16); or ""
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

// How one tokenize() call treats an input longer than the model's limit (ModelInfo::max_length).
enum class Truncation {
  kModel,  // as loaded: LoadOptions::truncate cuts from the right, or else it is an error
  kNone,   // every token is kept, however many (the caller decides what to do)
  kRight,  // cut to the limit from the end; a pair loses tokens from its longer text first
  kLeft,   // likewise from the start
};
struct TokenizeOptions {
  bool add_special_tokens = true;
  Truncation truncation = Truncation::kModel;
};

// A packed batch: every input's token ids one after another, no padding. Input s is tokens
// [begin(s), begin(s) + length(s)).
class Batch {
 public:
  // type_ids null: all zeros. Throws kInvalidInput for an input without tokens.
  void add(const int32_t* ids, size_t n, const int32_t* type_ids = nullptr);
  // Throws kInvalidInput if the encoding's type ids are neither empty nor one per id.
  void add(const Encoding& e);
  int64_t size() const { return static_cast<int64_t>(cu_seqlens_.size()) - 1; }
  int64_t num_tokens() const { return static_cast<int64_t>(ids_.size()); }
  int64_t begin(int64_t s) const { return cu_seqlens_[static_cast<size_t>(s)]; }
  int64_t length(int64_t s) const { return begin(s + 1) - begin(s); }
  const std::vector<int32_t>& ids() const { return ids_; }
  const std::vector<int32_t>& type_ids() const { return type_ids_; }
  const std::vector<int32_t>& cu_seqlens() const { return cu_seqlens_; }

 private:
  std::vector<int32_t> ids_, type_ids_, cu_seqlens_{0};
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

  // ---- Lower-level calls, for servers and bindings that batch and truncate themselves.

  // Tokenizes with this call's rules (the one-argument forms use TokenizeOptions{}).
  Encoding tokenize(std::string_view text, const TokenizeOptions& options) const;
  Encoding tokenize(std::string_view text, std::string_view pair,
                    const TokenizeOptions& options) const;
  // Token ids back to text; ids the vocabulary lacks are skipped.
  std::string decode(const std::vector<int32_t>& ids, bool skip_special_tokens = true) const;
  // Runs one packed batch; throws kInvalidInput for an id outside the vocabulary.
  Outputs run(const Batch& batch, unsigned outputs) const;
  // The most memory one run() of at most `max_tokens` tokens in `max_inputs` inputs holds
  // beyond the loaded model: activations, outputs and scratch.
  int64_t compute_bytes(int64_t max_tokens, int64_t max_inputs) const;

  // Pooling past a prompt (info().include_prompt false), for callers that run(batch) with
  // kHidden themselves: the leading tokens of `prompt + text` that sentence-transformers leaves
  // out (the prompt tokenized alone with special tokens, less a trailing special), and one
  // input's pooled, normalized embedding from its last hidden states [tokens][hidden_size],
  // tokens [from, tokens) pooled as the model pools (none left: mean 0, max -inf).
  int64_t prompt_length(std::string_view prompt) const;
  // The prompt text embed(texts, options) prepends: options.prompt, else the named prompt, else
  // the model's default one ("" when it has none). An unknown prompt_name is kInvalidInput,
  // naming the model's prompts.
  std::string prompt_text(const EmbedOptions& options) const;
  std::vector<float> pool(const float* hidden, int64_t tokens, int64_t from) const;

  // Scores from logits, as sentence-transformers' CrossEncoder gives them: the softmax over
  // several labels, the sigmoid of a single logit.
  static std::vector<float> scores(const std::vector<float>& logits);

 private:
  struct Impl;
  explicit Model(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// --- int8 copies, for callers that load a float model as int8 (the Python package) ---
// Writes the int8 (dynamic quantization) copy of a float model to out_dir, as `ember quantize`
// does: complete or not at all. kInvalidInput when out_dir exists (unless force), kUnsupported
// for a model without model.safetensors.
void quantize(const std::string& model, const std::string& out_dir, bool force = false);

}  // namespace ember
