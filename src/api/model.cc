// ember::Model (include/ember/ember.h): the public API over runtime::Engine.
#include <algorithm>
#include <utility>

#include "core/error.h"
#include "ember/ember.h"
#include "io/prompts.h"
#include "model/label_scores.h"
#include "model/prompt_pooling.h"
#include "runtime/engine.h"
#include "runtime/quantize_model.h"

namespace ember {
namespace {

constexpr bool same_bit(Output a, runtime::Output b) {
  return static_cast<unsigned>(a) == static_cast<unsigned>(b);
}
static_assert(same_bit(kHidden, runtime::kHidden) && same_bit(kPooled, runtime::kPooled) &&
                  same_bit(kSeqLogits, runtime::kSeqLogits) &&
                  same_bit(kTokenLogits, runtime::kTokenLogits) &&
                  same_bit(kSparse, runtime::kSparse),
              "the public Output bits are runtime's");

// Texts per packed batch are bounded by tokens, so that memory stays bounded for long lists.
constexpr int64_t kBatchTokens = 8192;

io::PoolingMode parse_pooling(const std::string& s) {
  if (s == "cls") return io::PoolingMode::kCls;
  if (s == "mean") return io::PoolingMode::kMean;
  if (s == "max") return io::PoolingMode::kMax;
  if (s == "mean_sqrt_len") return io::PoolingMode::kMeanSqrtLen;
  if (s == "last" || s == "lasttoken") return io::PoolingMode::kLastToken;
  fail(ErrorKind::kInvalidInput, "pooling '", s,
       "' is not one of cls, mean, max, mean_sqrt_len, last");
}

runtime::EngineOptions engine_options(const LoadOptions& o) {
  runtime::EngineOptions e;
  e.backend = o.backend;
  e.threads = o.threads;
  e.spin_us = o.spin_us;
  e.worker_affinity = o.worker_affinity;
  e.pack_weights = o.pack_weights;
  e.dtype = o.dtype;
  e.bf16_attention = o.bf16_attention;
  e.max_length = o.max_length;
  e.truncate = o.truncate;
  if (o.pooling) e.pooling = parse_pooling(*o.pooling);
  e.normalize = o.normalize;
  return e;
}

ModelKind kind_of(const runtime::Engine& e) {
  if (e.info().splade) return ModelKind::kSparse;
  switch (e.spec().head) {
    case model::HeadKind::kSequenceClassification:
      return ModelKind::kSequenceClassification;
    case model::HeadKind::kTokenClassification:
      return ModelKind::kTokenClassification;
    case model::HeadKind::kMaskedLm:
    case model::HeadKind::kNone:
      break;
  }
  return ModelKind::kEmbedding;
}

Encoding to_public(tok::Encoding e) {
  Encoding out;
  out.ids = std::move(e.ids);
  out.type_ids = std::move(e.type_ids);
  out.tokens = std::move(e.tokens);
  out.offsets = std::move(e.offsets);
  out.special_tokens_mask = std::move(e.special_tokens_mask);
  return out;
}

Outputs to_public(runtime::RunResult r) {
  Outputs o;
  o.hidden_size = r.hidden_size;
  o.num_labels = r.num_labels;
  o.vocab_size = r.vocab_size;
  o.hidden = std::move(r.hidden);
  o.pooled = std::move(r.pooled);
  o.seq_logits = std::move(r.seq_logits);
  o.token_logits = std::move(r.token_logits);
  o.sparse = std::move(r.sparse);
  return o;
}

}  // namespace

struct Model::Impl {
  std::unique_ptr<runtime::Engine> engine;
  ModelInfo info;
  io::PromptConfig prompts;

  // Runs `encode(i)` for i < n in packed batches and hands each batch's outputs to `take`
  // with the index of its first input.
  template <typename Encode, typename Take>
  void batched(size_t n, unsigned outputs, Encode encode, Take take) const {
    for (size_t next = 0; next < n;) {
      const size_t first = next;
      model::Batch batch;
      int64_t tokens = 0;
      while (next < n && (batch.size() == 0 || tokens < kBatchTokens)) {
        const tok::Encoding enc = encode(next++);
        batch.add(enc.ids, enc.type_ids);
        tokens += static_cast<int64_t>(enc.ids.size());
      }
      take(first, batch, engine->run(batch, outputs));
    }
  }
  std::vector<std::vector<float>> rows(const std::vector<float>& flat, size_t n,
                                       int64_t width) const {
    std::vector<std::vector<float>> out(n);
    for (size_t i = 0; i < n; ++i)
      out[i].assign(flat.begin() + static_cast<ptrdiff_t>(i * width),
                    flat.begin() + static_cast<ptrdiff_t>((i + 1) * width));
    return out;
  }
  // A call's truncation for the tokenizer: none, or the model's limit from one side (a pair
  // longest first, as the Hugging Face tokenizer does). kModel is the engine's own rule.
  std::optional<tok::Truncation> truncation(Truncation t) const {
    if (t == Truncation::kModel) return engine->tokenizer().truncation();
    if (t == Truncation::kNone) return std::nullopt;
    tok::Truncation out;
    out.max_length = static_cast<size_t>(info.max_length);
    out.direction =
        t == Truncation::kLeft ? tok::TruncationDirection::kLeft : tok::TruncationDirection::kRight;
    return out;
  }
  // kModel without truncation refuses an over-long input, as Model::tokenize(text) does.
  Encoding checked(tok::Encoding e, Truncation t) const {
    EMBER_CHECK(t != Truncation::kModel || e.ids.size() <= static_cast<size_t>(info.max_length),
                ErrorKind::kInvalidInput, "the input has ", e.ids.size(),
                " tokens; the model takes at most ", info.max_length);
    return to_public(std::move(e));
  }
  void require(ModelKind want, const char* what) const {
    EMBER_CHECK(info.kind == want, ErrorKind::kUnsupported, "model '", info.name, "' (",
                info.architecture, ") cannot ", what);
  }
};

Model::Model(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Model::Model(Model&&) noexcept = default;
Model& Model::operator=(Model&&) noexcept = default;
Model::~Model() = default;

Model Model::load(const std::string& model, const LoadOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->engine = runtime::Engine::load(model, engine_options(options));
  const runtime::Engine& e = *impl->engine;
  const model::ModelSpec& s = e.spec();
  const runtime::ModelInfo& ri = e.info();
  ModelInfo& i = impl->info;
  i.name = ri.name;
  i.model_type = s.model_type;
  i.architecture = s.architecture;
  i.kind = kind_of(e);
  i.hidden_size = s.hidden_size;
  i.vocab_size = s.vocab_size();
  i.max_length = ri.max_length;
  i.parameters = ri.parameters;
  i.pooling = io::pooling_mode_name(ri.pooling);
  i.normalize = ri.normalize;
  i.labels = s.labels;
  impl->prompts = io::load_prompt_config(ri.dir);
  i.prompts = impl->prompts.prompts;
  i.default_prompt_name = impl->prompts.default_name.value_or("");
  i.include_prompt = impl->prompts.include_prompt;
  for (const auto& l : s.layers)
    i.layers.push_back({l.attn.heads, l.attn.kv_heads, l.attn.head_dim, l.ffn.width});
  i.quantization = ri.quantization;
  i.fp32_linears = ri.fp32_linears;
  i.backend = ri.backend;
  i.threads = ri.threads;
  i.has_tokenizer = ri.has_tokenizer;
  i.dtype = ri.dtype;
  i.dtype_note = ri.dtype_note;
  return Model(std::move(impl));
}

const ModelInfo& Model::info() const {
  return impl_->info;
}

Encoding Model::tokenize(std::string_view text) const {
  return to_public(impl_->engine->tokenize(text));
}

Encoding Model::tokenize(std::string_view text, std::string_view pair) const {
  return to_public(impl_->engine->tokenize_pair(text, pair));
}

std::vector<std::vector<float>> Model::embed(const std::vector<std::string>& texts) const {
  return embed(texts, EmbedOptions{});
}

std::string Model::prompt_text(const EmbedOptions& options) const {
  return options.prompt ? *options.prompt : impl_->prompts.text_for(options.prompt_name);
}

std::vector<std::vector<float>> Model::embed(const std::vector<std::string>& texts,
                                             const EmbedOptions& options) const {
  const int64_t h = impl_->info.hidden_size;
  const std::string prompt = prompt_text(options);
  std::vector<std::vector<float>> out(texts.size());
  const auto tokenize = [&](size_t i) {
    return impl_->engine->tokenize(prompt.empty() ? texts[i] : prompt + texts[i]);
  };
  if (prompt.empty() || impl_->prompts.include_prompt) {
    impl_->batched(texts.size(), runtime::kPooled, tokenize,
                   [&](size_t first, const model::Batch& b, const runtime::RunResult& r) {
                     auto part = impl_->rows(r.pooled, static_cast<size_t>(b.size()), h);
                     std::move(part.begin(), part.end(),
                               out.begin() + static_cast<ptrdiff_t>(first));
                   });
    return out;
  }
  // include_prompt false: pooled here from the last hidden states, past the prompt's tokens.
  const int64_t from = prompt_length(prompt);
  impl_->batched(texts.size(), runtime::kHidden, tokenize,
                 [&](size_t first, const model::Batch& b, const runtime::RunResult& r) {
                   for (int64_t i = 0; i < b.size(); ++i)
                     out[first + static_cast<size_t>(i)] =
                         pool(r.hidden.data() + b.seq_begin(i) * h, b.seq_len(i), from);
                 });
  return out;
}

int64_t Model::prompt_length(std::string_view prompt) const {
  return model::prompt_length(impl_->engine->tokenize(prompt).special_tokens_mask);
}

std::vector<float> Model::pool(const float* hidden, int64_t tokens, int64_t from) const {
  const runtime::ModelInfo& ri = impl_->engine->info();
  return model::pool_after_prompt(hidden, tokens, impl_->info.hidden_size, from, ri.pooling,
                                  ri.normalize);
}

std::vector<SparseVector> Model::embed_sparse(const std::vector<std::string>& texts) const {
  impl_->require(ModelKind::kSparse, "give sparse embeddings (not a SPLADE model)");
  std::vector<SparseVector> out(texts.size());
  impl_->batched(
      texts.size(), runtime::kSparse, [&](size_t i) { return impl_->engine->tokenize(texts[i]); },
      [&](size_t first, const model::Batch& b, const runtime::RunResult& r) {
        for (int64_t s = 0; s < b.size(); ++s) {
          SparseVector& v = out[first + static_cast<size_t>(s)];
          const float* row = r.sparse.data() + s * r.vocab_size;
          for (int64_t k = 0; k < r.vocab_size; ++k)
            if (row[k] != 0.0f) {
              v.indices.push_back(static_cast<int32_t>(k));
              v.values.push_back(row[k]);
            }
        }
      });
  return out;
}

std::vector<std::vector<float>> Model::classify(const std::vector<std::string>& texts) const {
  impl_->require(ModelKind::kSequenceClassification, "classify sequences");
  std::vector<std::vector<float>> out(texts.size());
  impl_->batched(
      texts.size(), runtime::kSeqLogits,
      [&](size_t i) { return impl_->engine->tokenize(texts[i]); },
      [&](size_t first, const model::Batch& b, const runtime::RunResult& r) {
        auto part = impl_->rows(r.seq_logits, static_cast<size_t>(b.size()), r.num_labels);
        std::move(part.begin(), part.end(), out.begin() + static_cast<ptrdiff_t>(first));
      });
  return out;
}

std::vector<std::vector<float>> Model::classify(
    const std::vector<std::pair<std::string, std::string>>& pairs) const {
  impl_->require(ModelKind::kSequenceClassification, "classify sequences");
  std::vector<std::vector<float>> out(pairs.size());
  impl_->batched(
      pairs.size(), runtime::kSeqLogits,
      [&](size_t i) { return impl_->engine->tokenize_pair(pairs[i].first, pairs[i].second); },
      [&](size_t first, const model::Batch& b, const runtime::RunResult& r) {
        auto part = impl_->rows(r.seq_logits, static_cast<size_t>(b.size()), r.num_labels);
        std::move(part.begin(), part.end(), out.begin() + static_cast<ptrdiff_t>(first));
      });
  return out;
}

std::vector<std::vector<float>> Model::classify_tokens(
    const std::vector<std::string>& texts) const {
  impl_->require(ModelKind::kTokenClassification, "classify tokens");
  std::vector<std::vector<float>> out(texts.size());
  impl_->batched(
      texts.size(), runtime::kTokenLogits,
      [&](size_t i) { return impl_->engine->tokenize(texts[i]); },
      [&](size_t first, const model::Batch& b, const runtime::RunResult& r) {
        for (int64_t s = 0; s < b.size(); ++s)
          out[first + static_cast<size_t>(s)].assign(
              r.token_logits.begin() + b.seq_begin(s) * r.num_labels,
              r.token_logits.begin() + (b.seq_begin(s) + b.seq_len(s)) * r.num_labels);
      });
  return out;
}

std::vector<std::vector<float>> Model::hidden_states(const std::vector<std::string>& texts) const {
  std::vector<std::vector<float>> out(texts.size());
  impl_->batched(
      texts.size(), runtime::kHidden, [&](size_t i) { return impl_->engine->tokenize(texts[i]); },
      [&](size_t first, const model::Batch& b, const runtime::RunResult& r) {
        for (int64_t s = 0; s < b.size(); ++s)
          out[first + static_cast<size_t>(s)].assign(
              r.hidden.begin() + b.seq_begin(s) * r.hidden_size,
              r.hidden.begin() + (b.seq_begin(s) + b.seq_len(s)) * r.hidden_size);
      });
  return out;
}

Outputs Model::run(const std::vector<Encoding>& inputs, unsigned outputs) const {
  EMBER_CHECK(!inputs.empty(), ErrorKind::kInvalidInput, "run: no inputs");
  model::Batch batch;
  for (const auto& e : inputs) batch.add(e.ids, e.type_ids);
  return to_public(impl_->engine->run(batch, outputs));
}

Outputs Model::run(const Batch& batch, unsigned outputs) const {
  EMBER_CHECK(batch.size() > 0, ErrorKind::kInvalidInput, "run: the batch has no inputs");
  model::Batch b;
  b.ids = batch.ids();
  b.type_ids = batch.type_ids();
  b.cu_seqlens = batch.cu_seqlens();
  return to_public(impl_->engine->run(b, outputs));
}

Encoding Model::tokenize(std::string_view text, const TokenizeOptions& options) const {
  if (options.truncation == Truncation::kModel && options.add_special_tokens) return tokenize(text);
  return impl_->checked(impl_->engine->tokenizer().encode(text, options.add_special_tokens,
                                                          impl_->truncation(options.truncation)),
                        options.truncation);
}

Encoding Model::tokenize(std::string_view text, std::string_view pair,
                         const TokenizeOptions& options) const {
  if (options.truncation == Truncation::kModel && options.add_special_tokens)
    return tokenize(text, pair);
  return impl_->checked(
      impl_->engine->tokenizer().encode_pair(text, pair, options.add_special_tokens,
                                             impl_->truncation(options.truncation)),
      options.truncation);
}

std::string Model::decode(const std::vector<int32_t>& ids, bool skip_special_tokens) const {
  return impl_->engine->tokenizer().decode(ids, skip_special_tokens);
}

int64_t Model::compute_bytes(int64_t max_tokens, int64_t max_inputs) const {
  const runtime::Engine& e = *impl_->engine;
  const model::ModelSpec& s = e.spec();
  const int64_t max_length = e.info().max_length;
  const int64_t t = std::max<int64_t>(max_tokens, 1), b = std::max<int64_t>(max_inputs, 1);
  const int64_t h = s.hidden_size, wide = std::max(h, s.embeddings.dim);
  const int64_t labels = std::max<int64_t>(1, static_cast<int64_t>(s.labels.size()));
  // Every slot a layer uses per token (hidden, Q/K/V, FFN and gate, head) and per input.
  const int64_t per_token =
      4 * (wide + 4 * h + s.max_qkv_width() + 2 * s.max_ffn_width() + labels) + 32;
  const int64_t per_input = 4 * (3 * h + labels);
  int64_t sparse = 0;  // SPLADE: the vocabulary logits of a chunk, and [inputs, vocab]
  if (e.info().splade)
    sparse = 4 * s.vocab_size() * (std::max(model::Model::kSparseChunkTokens, max_length) + 2 * b);
  return t * per_token + b * per_input + sparse + (16 << 20);  // + per-thread scratch
}

void Batch::add(const int32_t* ids, size_t n, const int32_t* type_ids) {
  EMBER_CHECK(n > 0 && ids != nullptr, ErrorKind::kInvalidInput,
              "Batch::add: an input must have at least one token");
  ids_.insert(ids_.end(), ids, ids + n);
  if (type_ids != nullptr)
    type_ids_.insert(type_ids_.end(), type_ids, type_ids + n);
  else
    type_ids_.insert(type_ids_.end(), n, 0);
  cu_seqlens_.push_back(static_cast<int32_t>(ids_.size()));
}

void Batch::add(const Encoding& e) {
  EMBER_CHECK(e.type_ids.empty() || e.type_ids.size() == e.ids.size(), ErrorKind::kInvalidInput,
              "Batch::add: ", e.ids.size(), " token ids but ", e.type_ids.size(), " type ids");
  add(e.ids.data(), e.ids.size(), e.type_ids.empty() ? nullptr : e.type_ids.data());
}

// --- int8 copies, for callers that load a float model as int8 (the Python package) ---

void quantize(const std::string& model, const std::string& out_dir, bool force) {
  runtime::QuantizeOptions o;
  o.force = force;
  runtime::quantize_model(model, out_dir, o);
}

std::vector<float> Model::scores(const std::vector<float>& logits) {
  EMBER_CHECK(!logits.empty(), ErrorKind::kInvalidInput, "scores: no logits");
  std::vector<float> out(logits.size());
  model::label_scores(logits.data(), static_cast<int64_t>(logits.size()), out.data());
  return out;
}

}  // namespace ember
