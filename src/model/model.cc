// The one forward pass, for every architecture: what differs between families is data in the
// ModelSpec, read here layer by layer.
#include "model/model.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "core/error.h"
#include "core/profile.h"
#include "model/architecture.h"
#include "model/int8_weights.h"
#include "model/prepared_model.h"

namespace ember::model {

Model::Model(ModelSpec spec, io::WeightStore store)
    : spec_(std::move(spec)), store_(std::move(store)) {}
Model::~Model() = default;

namespace {

// Every matrix the bound weights point at.
std::vector<const void*> bound_matrices(const ModelWeights& w) {
  std::vector<const void*> out = {w.embeddings.word, w.embeddings.position, w.embeddings.token_type,
                                  w.relative_buckets, w.relative_table};
  for (const auto& l : w.layers)
    for (const auto* s : {&l.qkv, &l.attn_out, &l.ffn_in, &l.ffn_out})
      out.push_back(s->weight_data());
  for (const auto* s :
       {&w.embeddings.project, &w.head.dense, &w.head.out, &w.head.token_classifier})
    out.push_back(s->weight_data());
  return out;
}

// The conversions the store made of fused parts (F16 or BF16 widened to fp32, F32 rounded to
// bf16) are read no more, unless a tied checkpoint binds one elsewhere too.
void release_fused_parts(io::WeightStore& store, ModelWeights& w) {
  const auto bound = bound_matrices(w);
  for (const void* part : w.fused_parts)
    if (std::find(bound.begin(), bound.end(), part) == bound.end()) store.release_conversion(part);
  w.fused_parts.clear();
}

// True when every encoder Linear that is not int8 is bound as bf16, and there is one: an int8
// model whose kept Linears (--keep-fp32) run in bf16 counts, one whose kept Linears stayed
// fp32 does not, wherever in the layers they are.
bool float_linears_are_bf16(const ModelWeights& w) {
  bool any = false;
  for (const auto& l : w.layers)
    for (const ops::LinearSource* s : {&l.qkv, &l.attn_out, &l.ffn_in, &l.ffn_out}) {
      if (s->is_int8()) continue;
      if (!s->is_bf16()) return false;
      any = true;
    }
  return any;
}

}  // namespace

std::unique_ptr<Model> Model::load(const io::JsonConfig& config, io::WeightStore store) {
  const Architecture& arch = find_architecture(config.get_string("model_type"));
  ModelSpec spec = arch.parse_config(config);
  std::unique_ptr<Model> m(new Model(std::move(spec), std::move(store)));
  arch.bind_weights(m->store_, config, m->spec_, m->weights_);
  detail::finish_int8(m->store_, m->weights_);  // int8 models only (ember quantize)
  m->bf16_linears_ = float_linears_are_bf16(m->weights_);
  release_fused_parts(m->store_, m->weights_);
  // A *ForMaskedLM config whose checkpoint has no masked-LM head (or a family whose head Ember
  // does not bind) is its body.
  if (m->spec_.head == HeadKind::kMaskedLm && m->weights_.head.out.out == 0)
    m->spec_.head = HeadKind::kNone;
  EMBER_CHECK(m->weights_.layers.size() == m->spec_.layers.size(), ErrorKind::kInternal, "bound ",
              m->weights_.layers.size(), " layers of ", m->spec_.layers.size());
  m->spec_.validate(config.origin());
  m->parameters_ = m->store_.parameter_count();
  return m;
}

void Model::prepare(ops::Backend& backend, bool release_copies) {
  EMBER_CHECK(!prepared_, ErrorKind::kInternal, "model prepared twice");
  // A conversion is freed only where one Linear alone binds it (not a tied decoder that is
  // also the embedding table, say).
  const auto bound = bound_matrices(weights_);
  const SourceRelease release{
      [&](const void* data) {
        return weights_.owns(data) ||
               (store_.is_conversion(data) && std::count(bound.begin(), bound.end(), data) == 1);
      },
      [&](const void* data) {
        return weights_.owns(data) ? weights_.free_owned(data) : store_.release_conversion(data);
      }};
  prepared_ = prepare_model(spec_, weights_, backend, release_copies ? &release : nullptr);
}

void Model::check_batch(const Batch& batch) const {
  const int64_t tokens = batch.num_tokens();
  EMBER_CHECK(batch.size() > 0, ErrorKind::kInvalidInput, "empty batch");
  EMBER_CHECK(
      static_cast<int64_t>(batch.type_ids.size()) == tokens && batch.cu_seqlens.back() == tokens,
      ErrorKind::kInternal, "inconsistent batch");
  for (int64_t s = 0; s < batch.size(); ++s) {
    const int64_t len = batch.seq_len(s);
    EMBER_CHECK(len > 0, ErrorKind::kInvalidInput, "sequence ", s, " is empty");
    EMBER_CHECK(len <= spec_.max_tokens(), ErrorKind::kInvalidInput, "sequence ", s, " has ", len,
                " tokens; the model accepts at most ", spec_.max_tokens());
  }
  const auto& e = spec_.embeddings;
  for (int64_t t = 0; t < tokens; ++t) {
    const int32_t id = batch.ids[t];
    EMBER_CHECK(id >= 0 && id < e.vocab_size, ErrorKind::kInvalidInput, "token id ", id,
                " is outside the vocabulary [0, ", e.vocab_size, ")");
    // Models without token type embeddings (DistilBERT) ignore type ids, as transformers does.
    const int32_t type = batch.type_ids[t];
    EMBER_CHECK(e.type_vocab_size == 0 || (type >= 0 && type < e.type_vocab_size),
                ErrorKind::kInvalidInput, "token type id ", type, " is outside [0, ",
                e.type_vocab_size, ")");
  }
}

ops::View Model::forward(const Batch& batch, Workspace& ws) const {
  profile::Scope scope("forward");
  start(batch, ws);
  for (size_t i = 0; i < spec_.layers.size(); ++i) layer(i, batch, ws, nullptr);
  ops::View x = ws.view(Workspace::kX, batch.num_tokens(), spec_.hidden_size);
  if (prepared_->final_norm) ws.backend().norm(x, nullptr, x, prepared_->final_norm->args);
  return x;
}

ops::View Model::start(const Batch& batch, Workspace& ws) const {
  EMBER_CHECK(prepared_ && &ws.backend() == prepared_->backend, ErrorKind::kInternal,
              "forward on a workspace of another backend, or before prepare()");
  check_batch(batch);
  const int64_t t = batch.num_tokens(), h = spec_.hidden_size;
  const int64_t width = std::max(h, spec_.embeddings.dim);
  ws.reserve(Workspace::kX, t * width);
  ws.reserve(Workspace::kTmp, t * width);
  embed(batch, ws);
  relative_bias(batch, ws);
  relative_rows(batch, ws);
  return ws.view(Workspace::kX, t, h);
}

ops::View Model::run_layer(size_t i, const Batch& batch, Workspace& ws, const LayerTap* tap) const {
  EMBER_CHECK(i < spec_.layers.size(), ErrorKind::kInternal, "layer ", i, " of ",
              spec_.layers.size());
  layer(i, batch, ws, tap);
  return ws.view(Workspace::kX, batch.num_tokens(), spec_.hidden_size);
}

void Model::embed(const Batch& batch, Workspace& ws) const {
  profile::Scope scope("embed");
  const auto& e = spec_.embeddings;
  const auto& p = *prepared_;
  const int64_t t = batch.num_tokens();
  ws.positions.resize(static_cast<size_t>(t));
  for (int64_t s = 0; s < batch.size(); ++s) {
    // RoBERTa: pad tokens keep padding_idx, the others count up from padding_idx + 1.
    int32_t next = spec_.pad_token_id;
    for (int64_t i = batch.seq_begin(s); i < batch.cu_seqlens[s + 1]; ++i) {
      if (e.positions == PositionScheme::kAfterPadding)
        ws.positions[i] = batch.ids[i] == spec_.pad_token_id ? spec_.pad_token_id : ++next;
      else
        ws.positions[i] = static_cast<int32_t>(i - batch.seq_begin(s));
    }
  }
  ops::EmbedArgs a;
  a.tokens = t;
  a.ids = batch.ids.data();
  a.word = p.word.get();
  a.position = p.position.get();
  a.positions = ws.positions.data();
  a.token_type = p.token_type.get();
  a.type_ids = batch.type_ids.data();
  ops::Backend& b = ws.backend();
  ops::View x = ws.view(Workspace::kX, t, e.dim);
  b.embed(a, x);
  if (p.embed_norm && !e.norm_after_project) b.norm(x, nullptr, x, p.embed_norm->args);
  if (p.project) {
    b.linear(*p.project, x, ws.view(Workspace::kTmp, t, spec_.hidden_size));
    ws.swap(Workspace::kX, Workspace::kTmp);
  }
  if (p.embed_norm && e.norm_after_project) {
    const ops::View y = ws.view(Workspace::kX, t, spec_.hidden_size);
    b.norm(y, nullptr, y, p.embed_norm->args);
  }
}

namespace {

// T5's bidirectional bucket of a relative position (key - query), as MPNet computes it: half the
// buckets for each direction, exact below max_distance / 4 buckets, logarithmic above.
int64_t relative_bucket(int64_t relative, int64_t buckets, int64_t max_distance) {
  const int64_t half = buckets / 2;
  int64_t n = -relative;
  int64_t ret = n < 0 ? half : 0;
  n = std::abs(n);
  const int64_t max_exact = half / 2;
  if (n < max_exact) return ret + n;
  // In float32, as the reference computes it.
  const float scaled = std::log(static_cast<float>(n) / static_cast<float>(max_exact)) /
                       static_cast<float>(std::log(static_cast<double>(max_distance) / max_exact)) *
                       static_cast<float>(half - max_exact);
  const int64_t large = max_exact + static_cast<int64_t>(scaled);
  return ret + std::min(large, half - 1);
}

}  // namespace

// MPNet: the bucket of every distance in this batch; the bias itself is gathered per table by
// layer_relative_bias.
void Model::relative_bias(const Batch& batch, Workspace& ws) const {
  ws.rel_bias.clear();
  ws.rel_bias_table = nullptr;
  if (!spec_.relative_buckets) return;
  const auto& rb = *spec_.relative_buckets;
  const int64_t span = batch.max_seq_len() - 1;
  ws.rel_bucket.resize(static_cast<size_t>(2 * span + 1));
  for (int64_t d = -span; d <= span; ++d)
    ws.rel_bucket[d + span] = static_cast<int32_t>(relative_bucket(d, rb.buckets, rb.max_distance));
}

namespace {

// The bias by head and distance [heads, 2 * span + 1] from a [buckets, heads] table, gathered
// again only when the layer reads another table than the previous one (a pruned MPNet's layers
// may each have their own).
const float* layer_relative_bias(const float* table, int64_t heads, Workspace& ws) {
  if (ws.rel_bias_table == table) return ws.rel_bias.data();
  const int64_t width = static_cast<int64_t>(ws.rel_bucket.size());
  ws.rel_bias.resize(static_cast<size_t>(heads * width));
  for (int64_t d = 0; d < width; ++d) {
    const float* row = table + static_cast<int64_t>(ws.rel_bucket[d]) * heads;
    for (int64_t h = 0; h < heads; ++h) ws.rel_bias[h * width + d] = row[h];
  }
  ws.rel_bias_table = table;
  return ws.rel_bias.data();
}

}  // namespace

// DeBERTa: the row of the relative table for every distance in this batch.
void Model::relative_rows(const Batch& batch, Workspace& ws) const {
  if (!spec_.disentangled) return;
  const int64_t span = batch.max_seq_len() - 1;
  ws.rel_index.resize(static_cast<size_t>(2 * span + 1));
  for (int64_t d = -span; d <= span; ++d)
    ws.rel_index[d + span] = static_cast<int32_t>(spec_.disentangled->table_row(d));
}

// Post-norm: x = norm(x + Wo attn(x)); x = norm(x + ffn(x)).
// Pre-norm:  x = x + Wo attn(norm(x)); x = x + ffn(norm(x)).
void Model::layer(size_t i, const Batch& batch, Workspace& ws, const LayerTap* tap) const {
  const LayerSpec& s = spec_.layers[i];
  const PreparedLayer& w = prepared_->layers[i];
  ops::Backend& b = ws.backend();
  const int64_t t = batch.num_tokens(), h = spec_.hidden_size;
  const bool pre = s.placement == NormPlacement::kPre;
  const AttentionSpec& as = s.attn;

  ops::View x = ws.view(Workspace::kX, t, h);
  ops::View tmp = ws.view(Workspace::kTmp, t, h);
  ops::View in = x;
  if (pre && w.attn_norm) {
    b.norm(x, nullptr, tmp, w.attn_norm->args);
    in = tmp;
  }
  const int64_t qw = as.q_width(), kvw = as.kv_width();
  const ops::View qkv = ws.view(Workspace::kQkv, t, qw + 2 * kvw);
  if (tap) (*tap)(TapPoint::kQkvInput, in);
  b.linear(*w.qkv, in, qkv);
  const ops::View q = qkv.cols_at(0, qw), k = qkv.cols_at(qw, kvw), v = qkv.cols_at(qw + kvw, kvw);
  if (w.q_norm) {
    b.norm(q, nullptr, q, w.q_norm->args);
    b.norm(k, nullptr, k, w.k_norm->args);
  }
  if (as.rotary) {
    ops::RotaryArgs r{as.heads, as.head_dim, as.rotary->dims, as.rotary->base, ws.positions.data()};
    b.rotary(q, r);
    r.heads = as.kv_heads;
    b.rotary(k, r);
  }
  const ops::View ctx = ws.view(Workspace::kCtx, t, qw);
  if (spec_.disentangled) {
    ops::DisentangledAttentionArgs a;
    a.heads = as.heads;
    a.head_dim = as.head_dim;
    a.scale = as.scale;
    a.c2p = spec_.disentangled->c2p;
    a.p2c = spec_.disentangled->p2c;
    a.rel_index = ws.rel_index.data();
    a.rel_span = batch.max_seq_len() - 1;
    b.disentangled_attention(q, k, v, w.pos_query, w.pos_key, batch.layout(), a, ctx);
  } else {
    ops::AttentionArgs a;
    a.heads = as.heads;
    a.kv_heads = as.kv_heads;
    a.head_dim = as.head_dim;
    a.scale = as.scale;
    a.mask = as.mask;
    a.window = as.window;
    // bf16 and int8 models may run attention in bf16 (the backend decides: CPU, option).
    a.bf16 = w.low_precision;
    if (spec_.relative_buckets) {
      const float* own = weights_.layers[i].relative_buckets;
      a.rel_bias = layer_relative_bias(own ? own : weights_.relative_buckets, as.heads, ws);
      a.rel_span = batch.max_seq_len() - 1;
    }
    b.attention(q, k, v, batch.layout(), a, ctx);
  }
  b.linear(*w.attn_out, ctx, tmp);
  if (tap) {
    (*tap)(TapPoint::kAttnContext, ctx);
    (*tap)(TapPoint::kAttnOutput, tmp);
  }
  if (pre) {
    b.add(x, tmp);
  } else {
    b.norm(tmp, &x, tmp, w.attn_norm->args);
    ws.swap(Workspace::kX, Workspace::kTmp);
    std::swap(x, tmp);
  }
  if (tap) (*tap)(TapPoint::kAttnState, x);

  in = x;
  if (pre && w.ffn_norm) {
    b.norm(x, nullptr, tmp, w.ffn_norm->args);
    in = tmp;
  }
  if (tap) (*tap)(TapPoint::kFfnInput, in);
  const FfnSpec& f = s.ffn;
  const ops::View act = ws.view(Workspace::kFfn, t, f.width);
  if (f.kind == FfnKind::kGated) {
    const ops::View both = ws.view(Workspace::kGate, t, 2 * f.width);
    b.linear(*w.ffn_in, in, both);
    b.gated(both, act, f.act);
  } else {
    b.linear(*w.ffn_in, in, act, f.act);
  }
  b.linear(*w.ffn_out, act, tmp);
  if (tap) {
    (*tap)(TapPoint::kFfnActivation, act);
    (*tap)(TapPoint::kFfnOutput, tmp);
  }
  if (pre) {
    b.add(x, tmp);
  } else {
    b.norm(tmp, &x, tmp, w.ffn_norm->args);
    ws.swap(Workspace::kX, Workspace::kTmp);
  }
}

ops::View Model::classify_sequences(const ops::View& hidden, const Batch& batch,
                                    Workspace& ws) const {
  EMBER_CHECK(spec_.head == HeadKind::kSequenceClassification, ErrorKind::kUnsupported, "model '",
              spec_.architecture, "' has no sequence classification head");
  const auto& p = *prepared_;
  ops::Backend& b = ws.backend();
  const int64_t h = spec_.hidden_size, n = batch.size();
  // `hidden` lives in the kX slot, which must not move: only the head's slots are used.
  const ops::View pooled = ws.view(Workspace::kHeadIn, n, h);
  if (spec_.head_pooling == HeadPooling::kMean) {
    b.pool(hidden, batch.layout(), ops::PoolMode::kMean, false, pooled);
  } else {
    ws.rows.assign(batch.cu_seqlens.begin(), batch.cu_seqlens.end() - 1);
    b.gather_rows(hidden, ws.rows.data(), pooled);
  }
  const ops::View mid = ws.view(Workspace::kHeadMid, n, p.head_dense->out());
  b.linear(*p.head_dense, pooled, mid, spec_.head_act);
  if (p.head_norm) b.norm(mid, nullptr, mid, p.head_norm->args);
  const ops::View logits = ws.view(Workspace::kOut, n, p.head_out->out());
  b.linear(*p.head_out, mid, logits);
  return logits;
}

ops::View Model::classify_tokens(const ops::View& hidden, Workspace& ws) const {
  EMBER_CHECK(spec_.head == HeadKind::kTokenClassification, ErrorKind::kUnsupported, "model '",
              spec_.architecture, "' has no token classification head");
  const auto& p = *prepared_;
  ops::Backend& b = ws.backend();
  ops::View in = hidden;
  if (p.head_dense) {  // ModernBERT: dense + act + norm on every token first
    in = ws.view(Workspace::kHeadMid, hidden.rows, p.head_dense->out());
    b.linear(*p.head_dense, hidden, in, spec_.head_act);
    if (p.head_norm) b.norm(in, nullptr, in, p.head_norm->args);
  }
  const ops::View logits = ws.view(Workspace::kOut, hidden.rows, p.token_classifier->out());
  b.linear(*p.token_classifier, in, logits);
  return logits;
}

ops::View Model::sparse(const ops::View& hidden, const Batch& batch,
                        const ops::SparsePoolArgs& pool, Workspace& ws) const {
  EMBER_CHECK(spec_.head == HeadKind::kMaskedLm, ErrorKind::kUnsupported, "model '",
              spec_.architecture, "' has no masked-LM head for sparse embeddings");
  const auto& p = *prepared_;
  ops::Backend& b = ws.backend();
  const int64_t t = batch.num_tokens(), n = batch.size(), vocab = p.head_out->out();
  // The transform for every token: [T, H], then the vocabulary projection group by group.
  const ops::View mid = ws.view(Workspace::kHeadMid, t, p.head_dense->out());
  b.linear(*p.head_dense, hidden, mid, spec_.head_act);
  if (p.head_norm) b.norm(mid, nullptr, mid, p.head_norm->args);
  const ops::View out = ws.view(Workspace::kOut, n, vocab);
  ws.reserve(Workspace::kLogits, std::max(kSparseChunkTokens, batch.max_seq_len()) * vocab);
  for (int64_t s0 = 0; s0 < n;) {
    // Whole sequences up to the chunk size (at least one).
    int64_t s1 = s0 + 1;
    while (s1 < n && batch.cu_seqlens[s1 + 1] - batch.cu_seqlens[s0] <= kSparseChunkTokens) ++s1;
    const int64_t r0 = batch.cu_seqlens[s0], rows = batch.cu_seqlens[s1] - r0;
    ws.rows.resize(static_cast<size_t>(s1 - s0 + 1));
    for (int64_t s = s0; s <= s1; ++s) ws.rows[s - s0] = batch.cu_seqlens[s] - batch.cu_seqlens[s0];
    const ops::View logits = ws.view(Workspace::kLogits, rows, vocab);
    b.linear(*p.head_out, mid.rows_at(r0, rows), logits);
    b.sparse_pool(logits, ops::SeqLayout{ws.rows.data(), s1 - s0}, pool, out.rows_at(s0, s1 - s0));
    s0 = s1;
  }
  return out;
}

}  // namespace ember::model
