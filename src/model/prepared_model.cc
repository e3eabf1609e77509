#include "model/prepared_model.h"

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

std::unique_ptr<ops::Linear> prepare_linear(ops::Backend& b, const ops::LinearSource& src) {
  if (src.out == 0) return nullptr;
  return b.prepare_linear(src);
}

}  // namespace

std::unique_ptr<PreparedModel> prepare_model(const ModelSpec& spec, const ModelWeights& w,
                                             ops::Backend& b) {
  auto p = std::make_unique<PreparedModel>();
  p->backend = &b;
  const EmbeddingSpec& es = spec.embeddings;
  const auto& ew = w.embeddings;
  p->word = b.prepare_weight(ew.word, es.vocab_size * es.dim);
  if (ew.position) p->position = b.prepare_weight(ew.position, es.max_positions * es.dim);
  if (ew.token_type) p->token_type = b.prepare_weight(ew.token_type, es.type_vocab_size * es.dim);
  const int64_t h = spec.hidden_size;
  p->embed_norm = prepare_norm(b, es.norm, ew.norm, es.norm_after_project ? h : es.dim);
  p->project = prepare_linear(b, ew.project);
  for (size_t i = 0; i < spec.layers.size(); ++i) {
    const LayerSpec& ls = spec.layers[i];
    const LayerWeights& lw = w.layers[i];
    PreparedLayer l;
    l.qkv = b.prepare_linear(lw.qkv);
    l.attn_out = b.prepare_linear(lw.attn_out);
    l.ffn_in = b.prepare_linear(lw.ffn_in);
    l.ffn_out = b.prepare_linear(lw.ffn_out);
    l.attn_norm = prepare_norm(b, ls.attn_norm, lw.attn_norm, h);
    l.ffn_norm = prepare_norm(b, ls.ffn_norm, lw.ffn_norm, h);
    const int64_t hd = ls.attn.head_dim;
    l.q_norm = prepare_norm(b, ls.attn.qk_norm, lw.q_norm, hd, hd);
    l.k_norm = prepare_norm(b, ls.attn.qk_norm, lw.k_norm, hd, hd);
    p->layers.push_back(std::move(l));
  }
  p->final_norm = prepare_norm(b, spec.final_norm, w.final_norm, h);
  if (spec.disentangled) {
    EMBER_CHECK(w.relative_table != nullptr, ErrorKind::kInternal,
                "relative embeddings were not bound");
    p->relative_table = b.prepare_weight(w.relative_table, 2 * spec.disentangled->span() * h);
    p->relative_norm = prepare_norm(b, spec.disentangled->norm, w.relative_norm, h);
  }
  p->head_dense = prepare_linear(b, w.head.dense);
  p->head_norm = prepare_norm(b, spec.head_norm, w.head.norm, h);
  p->head_out = prepare_linear(b, w.head.out);
  p->token_classifier = prepare_linear(b, w.head.token_classifier);
  return p;
}

}  // namespace ember::model
