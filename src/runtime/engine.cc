#include "runtime/engine.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <string_view>

#include "backends/cpu/cpu_backend.h"
#include "backends/reference/reference_backend.h"
#include "core/error.h"
#include "io/json_config.h"
#include "io/model_dir.h"
#include "io/onnx_import.h"
#include "io/weight_store.h"

namespace ember::runtime {
namespace fs = std::filesystem;

namespace {

// Ember's length rule, the one sentence-transformers applies: sentence_bert_config's
// max_seq_length, else the tokenizer's model_max_length, never more than the positions allow.
int64_t model_max_length(const io::ModelFiles& files,
                         const std::optional<io::SentenceTransformersConfig>& st,
                         const model::ModelSpec& config) {
  int64_t limit = config.max_tokens();
  if (st && st->max_seq_length) return std::min<int64_t>(limit, *st->max_seq_length);
  const fs::path tc = files.dir / "tokenizer_config.json";
  if (fs::exists(tc)) {
    const auto cfg = io::JsonConfig::load(tc);
    const auto& raw = cfg.raw();
    // model_max_length is often a huge sentinel (1e30) meaning "no limit".
    if (raw.contains("model_max_length") && raw["model_max_length"].is_number()) {
      const double m = raw["model_max_length"].get<double>();
      if (m >= 1 && m < 1e7) limit = std::min<int64_t>(limit, static_cast<int64_t>(m));
    }
  }
  return limit;
}

std::unique_ptr<ops::Backend> make_backend(const EngineOptions& o) {
  if (o.backend == "reference") return std::make_unique<reference::ReferenceBackend>();
  EMBER_CHECK(o.backend == "cpu", ErrorKind::kInvalidInput, "backend '", o.backend,
              "' is not one of cpu, reference");
  EMBER_CHECK(o.threads >= 0 && o.threads <= 1024, ErrorKind::kInvalidInput, "--threads ",
              o.threads, " is not in [0, 1024]");
  EMBER_CHECK(!o.spin_us || (*o.spin_us >= 0 && *o.spin_us <= 1'000'000), ErrorKind::kInvalidInput,
              "--spin-us ", o.spin_us.value_or(0), " is not in [0, 1000000]");
  cpu::CpuBackendOptions co;
  co.pool.threads = o.threads;
  co.pool.spin_us = o.spin_us;
  co.pool.worker_affinity = o.worker_affinity;
  co.pack_weights = o.pack_weights;
  co.bf16_attention = o.bf16_attention;
  return std::make_unique<cpu::CpuBackend>(co);
}

// The dtype the model binds its Linears in, from --dtype, the checkpoint and the backend; `note`
// says why when bf16 was asked for (or stored) and fp32 runs.
DType linear_dtype(const std::string& want, const io::WeightStore& store,
                   const ops::Backend& backend, std::string& note) {
  EMBER_CHECK(want == "auto" || want == "fp32" || want == "bf16", ErrorKind::kInvalidInput,
              "dtype '", want, "' is not one of auto, fp32, bf16");
  if (want == "fp32") return DType::kF32;
  if (want == "auto" && !store.has_half_matrices()) return DType::kF32;
  if (backend.bf16_native()) return DType::kBF16;
  note = want == "bf16"
             ? "--dtype bf16: this CPU has no avx512_bf16 (or EMBER_ISA is below avx512); "
               "running fp32"
             : "bf16/fp16 weights: this CPU has no avx512_bf16 (or EMBER_ISA is below avx512); "
               "weights widened to fp32";
  return DType::kF32;
}

ops::PoolMode pool_mode(io::PoolingMode m) {
  switch (m) {
    case io::PoolingMode::kCls:
      return ops::PoolMode::kCls;
    case io::PoolingMode::kMean:
      return ops::PoolMode::kMean;
    case io::PoolingMode::kMax:
      return ops::PoolMode::kMax;
    case io::PoolingMode::kMeanSqrtLen:
      return ops::PoolMode::kMeanSqrtLen;
    case io::PoolingMode::kLastToken:
      return ops::PoolMode::kLastToken;
  }
  fail(ErrorKind::kInternal, "unknown pooling mode");
}

}  // namespace

std::unique_ptr<Engine> Engine::load(const std::string& model, const EngineOptions& options) {
  const io::ModelFiles files = io::resolve_model(model);
  std::unique_ptr<Engine> e(new Engine());
  e->info_.name = model;
  e->info_.dir = files.dir.string();

  e->backend_ = make_backend(options);
  if (files.checkpoint) {
    EMBER_CHECK(files.config.has_value(), ErrorKind::kInvalidInput, files.dir.string(), ": ",
                files.checkpoint->path.filename().string(), " without config.json");
    io::WeightStore store = io::load_checkpoint(*files.checkpoint);
    store.set_linear_dtype(linear_dtype(options.dtype, store, *e->backend_, e->info_.dtype_note));
    e->model_ = model::Model::load(io::JsonConfig::load(*files.config), std::move(store));
    e->info_.weights = io::checkpoint_format_name(files.checkpoint->format);
  } else {
    io::OnnxEncoder onnx = io::import_onnx_encoder(*files.onnx);
    onnx.weights.set_linear_dtype(
        linear_dtype(options.dtype, onnx.weights, *e->backend_, e->info_.dtype_note));
    e->model_ = model::Model::load(onnx.config, std::move(onnx.weights));
    e->info_.weights = "onnx";
  }
  e->info_.parameters = e->model_->parameter_count();
  e->model_->prepare(*e->backend_);
  e->info_.dtype = e->model_->bf16_linears() && !e->backend_->widened_bf16() ? "bf16" : "fp32";
  e->workspace_ = std::make_unique<model::Workspace>(*e->backend_);
  e->info_.packed_bytes = e->backend_->prepared_bytes();
  e->info_.backend = e->backend_->name();
  e->info_.threads = e->backend_->threads();
  e->info_.quantization = e->model_->quantization();
  e->info_.fp32_linears = e->model_->weights().fp32_linears;

  const auto st = io::load_sentence_transformers(files.dir);
  e->info_.pooling_from_config = st.has_value();
  e->info_.pooling = options.pooling.value_or(st ? st->pooling : io::PoolingMode::kMean);
  e->info_.normalize = options.normalize.value_or(st ? st->normalize : false);
  if (st && st->splade) {
    EMBER_CHECK(e->spec().head == model::HeadKind::kMaskedLm, ErrorKind::kUnsupported,
                files.dir.string(), ": SpladePooling needs a masked-LM checkpoint (",
                e->spec().architecture, " has no masked-LM head)");
    e->info_.splade = st->splade;
  }

  const int64_t limit = model_max_length(files, st, e->spec());
  e->info_.max_length = options.max_length ? std::min(*options.max_length, limit) : limit;
  EMBER_CHECK(e->info_.max_length > 0, ErrorKind::kInvalidInput, "max length must be positive");

  if (files.tokenizer) {
    e->tokenizer_.emplace(tok::Tokenizer::from_file(*files.tokenizer));
    // Every id the tokenizer can emit must have a row in the embedding table: one such token
    // would otherwise fail a whole packed batch at run time.
    const auto max_id = e->tokenizer_->max_token_id();
    EMBER_CHECK(!max_id || *max_id < e->spec().vocab_size(), ErrorKind::kInvalidInput,
                files.tokenizer->string(), ": the tokenizer can emit id ", max_id.value_or(0),
                ", but the model's vocabulary has ", e->spec().vocab_size(), " rows");
    // The tokenizer.json's own truncation/padding is replaced by the model's rule.
    if (options.truncate) {
      tok::Truncation t;
      t.max_length = static_cast<size_t>(e->info_.max_length);
      e->tokenizer_->set_truncation(t);
    } else {
      e->tokenizer_->set_truncation(std::nullopt);
    }
    e->info_.has_tokenizer = true;
  }
  return e;
}

const tok::Tokenizer& Engine::tokenizer() const {
  EMBER_CHECK(tokenizer_.has_value(), ErrorKind::kUnsupported, "model '", info_.name,
              "' has no tokenizer.json; send token ids instead of text");
  return *tokenizer_;
}

tok::Encoding Engine::check_length(tok::Encoding enc) const {
  EMBER_CHECK(static_cast<int64_t>(enc.ids.size()) <= info_.max_length, ErrorKind::kInvalidInput,
              "input has ", enc.ids.size(), " tokens; the model accepts at most ", info_.max_length,
              " (enable truncation to cut it)");
  return enc;
}

tok::Encoding Engine::tokenize(std::string_view text) const {
  tok::Encoding enc = tokenizer().encode(text);
  return check_length(std::move(enc));
}

tok::Encoding Engine::tokenize_pair(std::string_view a, std::string_view b) const {
  tok::Encoding enc = tokenizer().encode_pair(a, b);
  return check_length(std::move(enc));
}

model::Batch Engine::pack(const std::vector<tok::Encoding>& encodings) {
  model::Batch batch;
  for (const auto& enc : encodings) batch.add(enc.ids, enc.type_ids);
  return batch;
}

RunResult Engine::run(const model::Batch& batch, unsigned outputs) const {
  const auto& c = spec();
  RunResult r;
  r.hidden_size = c.hidden_size;
  r.num_labels = static_cast<int64_t>(c.labels.size());
  const int64_t h = c.hidden_size, t = batch.num_tokens(), b = batch.size();

  std::lock_guard<std::mutex> lock(mutex_);
  model::Workspace& ws = *workspace_;
  const ops::View hidden = model_->forward(batch, ws);
  if (outputs & kHidden) {
    r.hidden.resize(static_cast<size_t>(t * h));
    backend_->to_host(hidden, r.hidden.data());
  }
  if (outputs & kPooled) {
    const ops::View pooled = ws.view(model::Workspace::kHeadIn, b, h);
    backend_->pool(hidden, batch.layout(), pool_mode(info_.pooling), info_.normalize, pooled);
    r.pooled.resize(static_cast<size_t>(b * h));
    backend_->to_host(pooled, r.pooled.data());
  }
  if (outputs & kSeqLogits) {
    const ops::View logits = model_->classify_sequences(hidden, batch, ws);
    r.seq_logits.resize(static_cast<size_t>(b * r.num_labels));
    backend_->to_host(logits, r.seq_logits.data());
  }
  if (outputs & kTokenLogits) {
    const ops::View logits = model_->classify_tokens(hidden, ws);
    r.token_logits.resize(static_cast<size_t>(t * r.num_labels));
    backend_->to_host(logits, r.token_logits.data());
  }
  if (outputs & kSparse) {
    EMBER_CHECK(info_.splade.has_value(), ErrorKind::kUnsupported, "model '", info_.name,
                "' is not a sparse (SPLADE) model");
    const ops::SparsePoolArgs pool{info_.splade->max, info_.splade->double_log};
    const ops::View sparse = model_->sparse(hidden, batch, pool, ws);
    r.vocab_size = sparse.cols;
    r.sparse.resize(static_cast<size_t>(b * sparse.cols));
    backend_->to_host(sparse, r.sparse.data());
  }
  return r;
}

std::vector<std::vector<float>> Engine::embed(const std::vector<std::string>& texts) const {
  std::vector<tok::Encoding> encs;
  encs.reserve(texts.size());
  for (const auto& text : texts) encs.push_back(tokenize(text));
  const RunResult r = run(pack(encs), kPooled);
  std::vector<std::vector<float>> out(texts.size());
  for (size_t i = 0; i < texts.size(); ++i)
    out[i].assign(r.pooled.begin() + i * r.hidden_size, r.pooled.begin() + (i + 1) * r.hidden_size);
  return out;
}

}  // namespace ember::runtime
