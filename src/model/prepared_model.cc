#include "model/prepared_model.h"

#include <vector>

#include "core/error.h"

namespace ember::model {
namespace {

std::optional<PreparedNorm> prepare_norm(ops::Backend& b, const std::optional<NormSpec>& spec,
                                         const NormWeights& w, int64_t n, int64_t group = 0) {
  if (!spec) return std::nullopt;
  EMBER_CHECK(w.gamma != nullptr && (!spec->bias || w.beta != nullptr), ErrorKind::kInternal,
              "norm weights were not bound");
  PreparedNorm p;
  p.gamma = b.prepare_weight(w.gamma, n);
  if (spec->bias) p.beta = b.prepare_weight(w.beta, n);
  p.args.kind = spec->kind;
  p.args.gamma = p.gamma.get();
  p.args.beta = p.beta.get();
  p.args.eps = spec->eps;
  p.args.group = group;
  return p;
}

// Freed now rather than after the whole model: the load's peak then holds at most one such
// copy beside the backend's copies. A matrix in the checkpoint's mapping is not released: its
// pages are handed back by the backend, and the unpacked kernel may still read them (M = 1).
std::unique_ptr<ops::Linear> prepare_and_release(ops::Backend& b, ops::LinearSource& src,
                                                 ModelWeights& w, const SourceRelease* release) {
  if (src.out == 0) return nullptr;
  auto linear = b.prepare_linear(src);
  const void* data = src.weight_data();
  if (release && release->can_free(data) && linear->release_source()) {
    w.released_bytes += release->free(data);
    src.w = nullptr;
    src.w_bf16 = nullptr;
    src.q.w = nullptr;
  }
  return linear;
}

// DeBERTa's relative embeddings, normalised and projected by each layer's Q and K (what
// transformers recomputes in every forward pass): the fused Q/K/V projection of the whole table
// into a scratch buffer, whose Q and K columns are kept.
void project_relative_embeddings(const ModelSpec& spec, const ModelWeights& w, ops::Backend& b,
                                 PreparedModel& p) {
  EMBER_CHECK(w.relative_table != nullptr, ErrorKind::kInternal,
              "relative embeddings were not bound");
  const int64_t rows = 2 * spec.disentangled->span(), h = spec.hidden_size;
  const auto weight = b.prepare_weight(w.relative_table, rows * h);
  const auto norm = prepare_norm(b, spec.disentangled->norm, w.relative_norm, h);
  std::vector<int32_t> ids(static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) ids[r] = static_cast<int32_t>(r);
  const auto table_buf = b.alloc(rows * h);
  const ops::View table = ops::dense_view(table_buf->data(), rows, h);
  ops::EmbedArgs e;
  e.tokens = rows;
  e.ids = ids.data();
  e.word = weight.get();
  b.embed(e, table);
  if (norm) b.norm(table, nullptr, table, norm->args);
  const auto qkv_buf = b.alloc(rows * spec.max_qkv_width());
  for (size_t i = 0; i < spec.layers.size(); ++i) {
    const AttentionSpec& a = spec.layers[i].attn;
    PreparedLayer& l = p.layers[i];
    const int64_t qw = a.q_width(), kvw = a.kv_width();
    const ops::View qkv = ops::dense_view(qkv_buf->data(), rows, qw + 2 * kvw);
    b.linear(*l.qkv, table, qkv);
    l.relative_qk = b.alloc(rows * (qw + kvw));
    const ops::View qk = ops::dense_view(l.relative_qk->data(), rows, qw + kvw);
    b.gather_rows(qkv.cols_at(0, qw + kvw), ids.data(), qk);
    l.pos_query = qk.cols_at(0, qw);
    l.pos_key = qk.cols_at(qw, kvw);
  }
}

}  // namespace

std::unique_ptr<PreparedModel> prepare_model(const ModelSpec& spec, ModelWeights& w,
                                             ops::Backend& b, const SourceRelease* release) {
  auto p = std::make_unique<PreparedModel>();
  p->backend = &b;
  const EmbeddingSpec& es = spec.embeddings;
  const auto& ew = w.embeddings;
  p->word = b.prepare_weight(ew.word, es.vocab_size * es.dim);
  if (ew.position) p->position = b.prepare_weight(ew.position, es.max_positions * es.dim);
  if (ew.token_type) p->token_type = b.prepare_weight(ew.token_type, es.type_vocab_size * es.dim);
  const int64_t h = spec.hidden_size;
  p->embed_norm = prepare_norm(b, es.norm, ew.norm, es.norm_after_project ? h : es.dim);
  p->project = prepare_and_release(b, w.embeddings.project, w, release);
  for (size_t i = 0; i < spec.layers.size(); ++i) {
    const LayerSpec& ls = spec.layers[i];
    LayerWeights& lw = w.layers[i];
    PreparedLayer l;
    l.low_precision = lw.qkv.is_bf16() || lw.qkv.is_int8();
    l.qkv = prepare_and_release(b, lw.qkv, w, release);
    l.attn_out = prepare_and_release(b, lw.attn_out, w, release);
    l.ffn_in = prepare_and_release(b, lw.ffn_in, w, release);
    l.ffn_out = prepare_and_release(b, lw.ffn_out, w, release);
    l.attn_norm = prepare_norm(b, ls.attn_norm, lw.attn_norm, h);
    l.ffn_norm = prepare_norm(b, ls.ffn_norm, lw.ffn_norm, h);
    const int64_t hd = ls.attn.head_dim;
    l.q_norm = prepare_norm(b, ls.attn.qk_norm, lw.q_norm, hd, hd);
    l.k_norm = prepare_norm(b, ls.attn.qk_norm, lw.k_norm, hd, hd);
    p->layers.push_back(std::move(l));
  }
  p->final_norm = prepare_norm(b, spec.final_norm, w.final_norm, h);
  if (spec.disentangled) project_relative_embeddings(spec, w, b, *p);
  p->head_dense = prepare_and_release(b, w.head.dense, w, release);
  p->head_norm = prepare_norm(b, spec.head_norm, w.head.norm, h);
  p->head_out = prepare_and_release(b, w.head.out, w, release);
  p->token_classifier = prepare_and_release(b, w.head.token_classifier, w, release);
  return p;
}

}  // namespace ember::model
