#include "runtime/engine.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <string_view>

#include "core/cpu_features.h"
#include "core/error.h"
#include "core/parallel.h"
#include "io/json_config.h"
#include "io/model_dir.h"
#include "io/onnx_import.h"
#include "io/weight_store.h"
#include "model/pooling.h"

namespace ember::runtime {
namespace fs = std::filesystem;

namespace {

// Ember's length rule, the one sentence-transformers applies: sentence_bert_config's
// max_seq_length, else the tokenizer's model_max_length, never more than the positions allow.
int64_t model_max_length(const io::ModelFiles& files,
                         const std::optional<io::SentenceTransformersConfig>& st,
                         const model::EncoderConfig& config) {
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

}  // namespace

std::unique_ptr<Engine> Engine::load(const std::string& model, const EngineOptions& options) {
  set_num_threads(options.threads);
  const io::ModelFiles files = io::resolve_model(model);
  std::unique_ptr<Engine> e(new Engine());
  e->info_.name = model;
  e->info_.dir = files.dir.string();

  if (files.safetensors) {
    EMBER_CHECK(files.config.has_value(), ErrorKind::kInvalidInput, files.dir.string(),
                ": model.safetensors without config.json");
    e->encoder_ = model::Encoder::load(io::JsonConfig::load(*files.config),
                                       io::WeightStore::from_safetensors(*files.safetensors));
    e->info_.weights = "safetensors";
  } else {
    io::OnnxEncoder onnx = io::import_onnx_encoder(*files.onnx);
    e->encoder_ = model::Encoder::load(onnx.config, std::move(onnx.weights));
    e->info_.weights = "onnx";
  }
  e->info_.parameters = e->encoder_->parameter_count();
  const char* pack_env = std::getenv("EMBER_PACKED_WEIGHTS");
  const bool pack = options.pack_weights && !(pack_env && std::string_view(pack_env) == "0");
  if (pack && active_isa() >= Isa::kAvx2)
    e->info_.packed_bytes = e->encoder_->pack_weights(num_threads());
  e->info_.quantization = e->encoder_->quantization();

  const auto st = io::load_sentence_transformers(files.dir);
  e->info_.pooling_from_config = st.has_value();
  e->info_.pooling = options.pooling.value_or(st ? st->pooling : io::PoolingMode::kMean);
  e->info_.normalize = options.normalize.value_or(st ? st->normalize : false);

  const int64_t limit = model_max_length(files, st, e->config());
  e->info_.max_length = options.max_length ? std::min(*options.max_length, limit) : limit;
  EMBER_CHECK(e->info_.max_length > 0, ErrorKind::kInvalidInput, "max length must be positive");

  if (files.tokenizer) {
    e->tokenizer_.emplace(tok::Tokenizer::from_file(*files.tokenizer));
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
  const auto& c = config();
  RunResult r;
  r.hidden_size = c.hidden_size;
  r.num_labels = static_cast<int64_t>(c.labels.size());
  const int64_t h = c.hidden_size, t = batch.num_tokens(), b = batch.size();

  std::lock_guard<std::mutex> lock(mutex_);
  const float* hidden = encoder_->forward(batch, workspace_);
  if (outputs & kHidden) r.hidden.assign(hidden, hidden + t * h);
  if (outputs & kPooled) {
    r.pooled.resize(static_cast<size_t>(b * h));
    model::pool(hidden, h, batch, info_.pooling, info_.normalize, r.pooled.data());
  }
  if (outputs & kSeqLogits) {
    r.seq_logits.resize(static_cast<size_t>(b * r.num_labels));
    encoder_->classify_sequences(hidden, batch, workspace_, r.seq_logits.data());
  }
  if (outputs & kTokenLogits) {
    r.token_logits.resize(static_cast<size_t>(t * r.num_labels));
    encoder_->classify_tokens(hidden, batch, r.token_logits.data());
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
