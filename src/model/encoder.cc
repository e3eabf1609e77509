#include "model/encoder.h"

#include <cmath>
#include <utility>

#include "core/error.h"
#include "core/parallel.h"
#include "core/profile.h"
#include "model/apply_linear.h"
#include "model/architecture.h"
#include "model/int8_weights.h"

namespace ember::model {

void Workspace::reserve(const EncoderConfig& c, int64_t tokens, int64_t sequences) {
  const auto t = static_cast<size_t>(tokens);
  x.resize(t * static_cast<size_t>(std::max(c.hidden_size, c.embedding_size)));
  tmp.resize(t * c.hidden_size);
  qkv.resize(t * 3 * c.hidden_size);
  ctx.resize(t * c.hidden_size);
  ffn.resize(t * c.intermediate_size);
  first.resize(static_cast<size_t>(sequences) * c.hidden_size);
  head.resize(static_cast<size_t>(sequences) * c.hidden_size);
}

std::unique_ptr<Encoder> Encoder::load(const io::JsonConfig& config, io::WeightStore store) {
  const Architecture& arch = find_architecture(config.get_string("model_type"));
  EncoderConfig c = arch.parse_config(config);
  std::unique_ptr<Encoder> enc(new Encoder(std::move(c), std::move(store)));
  arch.bind_weights(enc->store_, enc->config_, enc->weights_);
  detail::finish_int8(enc->store_, enc->weights_);  // int8 models only (ember quantize)
  EMBER_CHECK(static_cast<int64_t>(enc->weights_.layers.size()) == enc->config_.num_layers,
              ErrorKind::kInternal, "bound ", enc->weights_.layers.size(), " layers of ",
              enc->config_.num_layers);
  enc->parameters_ = enc->store_.parameter_count();
  return enc;
}

int64_t Encoder::pack_weights(int64_t slices) {
  if (!weights_.packed.empty()) return 0;
  int64_t bytes = 0;
  for (auto& l : weights_.layers) {
    for (LinearWeights* lw : {&l.qkv, &l.attn_out, &l.ffn_in, &l.ffn_out}) {
      if (lw->is_int8()) {
        weights_.packed.push_back(
            kernels::PackedGemmDnnl::pack_s8(lw->q.w, lw->out, lw->in, slices));
        lw->q.packed = weights_.packed.back().get();
      } else {
        weights_.packed.push_back(
            kernels::PackedGemmDnnl::pack_f32(lw->w, lw->out, lw->in, slices));
        lw->packed = weights_.packed.back().get();
      }
      bytes += weights_.packed.back()->packed_bytes();
    }
  }
  return bytes;
}

Encoder::Encoder(EncoderConfig config, io::WeightStore store)
    : config_(std::move(config)), store_(std::move(store)) {}

const float* Encoder::forward(const Batch& batch, Workspace& ws) const {
  const int64_t tokens = batch.num_tokens();
  EMBER_CHECK(batch.size() > 0, ErrorKind::kInvalidInput, "empty batch");
  EMBER_CHECK(
      static_cast<int64_t>(batch.type_ids.size()) == tokens && batch.cu_seqlens.back() == tokens,
      ErrorKind::kInternal, "inconsistent batch");
  profile::Scope scope("forward");
  ws.reserve(config_, tokens, batch.size());
  {
    profile::Scope embed_scope("embed");
    embed(batch, ws);
  }
  for (const auto& l : weights_.layers) layer(l, batch, ws);
  return ws.x.data();
}

void Encoder::embed(const Batch& batch, Workspace& ws) const {
  const auto& c = config_;
  const auto& e = weights_.embeddings;
  const int64_t dim = c.embedding_size;
  for (int64_t s = 0; s < batch.size(); ++s) {
    const int64_t len = batch.seq_len(s);
    EMBER_CHECK(len > 0, ErrorKind::kInvalidInput, "sequence ", s, " is empty");
    EMBER_CHECK(len <= c.max_tokens(), ErrorKind::kInvalidInput, "sequence ", s, " has ", len,
                " tokens; the model accepts at most ", c.max_tokens());
  }
  float* x = ws.x.data();
  const int64_t tokens = batch.num_tokens();
  // Validate first so that a bad id fails before any work, then gather in parallel.
  for (int64_t t = 0; t < tokens; ++t) {
    const int32_t id = batch.ids[t];
    EMBER_CHECK(id >= 0 && id < c.vocab_size, ErrorKind::kInvalidInput, "token id ", id,
                " is outside the vocabulary [0, ", c.vocab_size, ")");
    // Models without token type embeddings (DistilBERT) ignore type ids, as transformers does.
    const int32_t type = batch.type_ids[t];
    EMBER_CHECK(!e.token_type || (type >= 0 && type < c.type_vocab_size), ErrorKind::kInvalidInput,
                "token type id ", type, " is outside [0, ", c.type_vocab_size, ")");
  }
  parallel_for(batch.size(), 1, [&](int64_t s0, int64_t s1) {
    for (int64_t s = s0; s < s1; ++s) {
      int64_t pos = c.positions == PositionScheme::kAfterPadding ? c.pad_token_id : -1;
      for (int64_t t = batch.seq_begin(s); t < batch.cu_seqlens[s + 1]; ++t) {
        const int32_t id = batch.ids[t];
        // RoBERTa: pad tokens keep padding_idx, the others count up from padding_idx + 1.
        int64_t p;
        if (c.positions == PositionScheme::kAfterPadding)
          p = id == c.pad_token_id ? c.pad_token_id : ++pos;
        else
          p = t - batch.seq_begin(s);
        const float* w = e.word + id * dim;
        const float* pe = e.position + p * dim;
        float* out = x + t * dim;
        if (e.token_type) {
          const float* te = e.token_type + static_cast<int64_t>(batch.type_ids[t]) * dim;
          for (int64_t i = 0; i < dim; ++i) out[i] = w[i] + pe[i] + te[i];
        } else {
          for (int64_t i = 0; i < dim; ++i) out[i] = w[i] + pe[i];
        }
      }
    }
  });
  ops::add_layer_norm(x, nullptr, tokens, dim, e.ln.gamma, e.ln.beta, c.layer_norm_eps);
  if (e.project.w) {
    ops::linear(x, tokens, dim, dim, e.project.w, e.project.b, c.hidden_size, ws.tmp.data(),
                c.hidden_size);
    std::swap(ws.x, ws.tmp);
  }
}

// Post-LayerNorm block: x = LN(x + Wo·attn(x)); x = LN(x + W2·act(W1·x)).
void Encoder::layer(const LayerWeights& l, const Batch& batch, Workspace& ws) const {
  const auto& c = config_;
  const int64_t t = batch.num_tokens(), h = c.hidden_size, inter = c.intermediate_size;
  float* qkv = ws.qkv.data();
  apply_linear(l.qkv, ws.x.data(), t, h, qkv, 3 * h);
  const float scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim()));
  ops::attention(qkv, 3 * h, qkv + h, 3 * h, qkv + 2 * h, 3 * h, batch.cu_seqlens.data(),
                 batch.size(), c.num_heads, c.head_dim(), scale, ws.ctx.data(), h);
  apply_linear(l.attn_out, ws.ctx.data(), t, h, ws.tmp.data(), h);
  ops::add_layer_norm(ws.tmp.data(), ws.x.data(), t, h, l.attn_ln.gamma, l.attn_ln.beta,
                      c.layer_norm_eps);
  std::swap(ws.x, ws.tmp);
  apply_linear(l.ffn_in, ws.x.data(), t, h, ws.ffn.data(), inter, c.hidden_act);
  apply_linear(l.ffn_out, ws.ffn.data(), t, inter, ws.tmp.data(), h);
  ops::add_layer_norm(ws.tmp.data(), ws.x.data(), t, h, l.ffn_ln.gamma, l.ffn_ln.beta,
                      c.layer_norm_eps);
  std::swap(ws.x, ws.tmp);
}

void Encoder::classify_sequences(const float* hidden, const Batch& batch, Workspace& ws,
                                 float* logits) const {
  EMBER_CHECK(config_.head == HeadKind::kSequenceClassification, ErrorKind::kUnsupported, "model '",
              config_.architecture, "' has no sequence classification head");
  const auto& head = weights_.seq_classifier;
  const int64_t h = config_.hidden_size, b = batch.size();
  // Only the head's buffers: `hidden` lives in ws.x, which must not move.
  ws.first.resize(static_cast<size_t>(b * h));
  ws.head.resize(static_cast<size_t>(b * h));
  // Gather the first token of each sequence: [B, H].
  float* first = ws.first.data();
  for (int64_t s = 0; s < b; ++s)
    std::copy(hidden + batch.seq_begin(s) * h, hidden + (batch.seq_begin(s) + 1) * h,
              first + s * h);
  ops::linear(first, b, h, h, head.dense.w, head.dense.b, h, ws.head.data(), h, head.act);
  ops::linear(ws.head.data(), b, h, h, head.out.w, head.out.b, head.out.out, logits, head.out.out);
}

void Encoder::classify_tokens(const float* hidden, const Batch& batch, float* logits) const {
  EMBER_CHECK(config_.head == HeadKind::kTokenClassification, ErrorKind::kUnsupported, "model '",
              config_.architecture, "' has no token classification head");
  const auto& head = weights_.token_classifier;
  ops::linear(hidden, batch.num_tokens(), config_.hidden_size, config_.hidden_size, head.w, head.b,
              head.out, logits, head.out);
}

}  // namespace ember::model
