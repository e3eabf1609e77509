// The shape and argument checks of every op, shared by all backends.
#include "ops/backend.h"

#include <algorithm>
#include <cmath>
#include <tuple>
#include <utility>

#include "core/error.h"

namespace ember::ops {
namespace {

void check_view(const View& v, const char* op, const char* name) {
  EMBER_CHECK(v.rows >= 0 && v.cols >= 0 && v.ld >= v.cols, ErrorKind::kInternal, op, ": ", name,
              " is ", v.rows, "x", v.cols, " with row stride ", v.ld);
  EMBER_CHECK(v.data != nullptr || v.rows == 0 || v.cols == 0, ErrorKind::kInternal, op, ": ", name,
              " has no data");
}

void check_same_shape(const View& a, const View& b, const char* op) {
  EMBER_CHECK(a.rows == b.rows && a.cols == b.cols, ErrorKind::kInternal, op, ": shapes ", a.rows,
              "x", a.cols, " and ", b.rows, "x", b.cols, " differ");
}

void check_layout(const SeqLayout& s, int64_t rows, const char* op) {
  EMBER_CHECK(s.sequences >= 0 && (s.sequences == 0 || s.cu_seqlens != nullptr),
              ErrorKind::kInternal, op, ": no sequence offsets");
  if (s.sequences == 0) return;
  EMBER_CHECK(s.cu_seqlens[0] == 0, ErrorKind::kInternal, op,
              ": cu_seqlens[0] = ", s.cu_seqlens[0]);
  for (int64_t i = 0; i < s.sequences; ++i)
    EMBER_CHECK(s.cu_seqlens[i + 1] >= s.cu_seqlens[i], ErrorKind::kInternal, op,
                ": cu_seqlens decreases at ", i + 1);
  EMBER_CHECK(s.tokens() == rows, ErrorKind::kInternal, op, ": ", s.tokens(),
              " tokens in the layout, ", rows, " rows");
}

}  // namespace

const char* activation_name(Activation act) {
  switch (act) {
    case Activation::kNone:
      return "none";
    case Activation::kGeluErf:
      return "gelu_erf";
    case Activation::kGeluTanh:
      return "gelu_tanh";
    case Activation::kRelu:
      return "relu";
    case Activation::kTanh:
      return "tanh";
    case Activation::kSilu:
      return "silu";
  }
  return "unknown";
}

int64_t SeqLayout::max_len() const {
  int64_t m = 0;
  for (int64_t s = 0; s < sequences; ++s)
    m = std::max<int64_t>(m, cu_seqlens[s + 1] - cu_seqlens[s]);
  return m;
}

const float* host_data(const Weight* w) {
  if (w == nullptr) return nullptr;
  const auto* h = dynamic_cast<const HostWeight*>(w);
  EMBER_CHECK(h != nullptr, ErrorKind::kInternal, "a weight prepared by another backend");
  return h->data();
}

void Backend::to_host(const View& src, float* dst) const {
  check_view(src, "to_host", "src");
  EMBER_CHECK(dst != nullptr || src.rows * src.cols == 0, ErrorKind::kInternal,
              "to_host: null destination");
  if (src.rows * src.cols == 0) return;
  do_to_host(src, dst);
}

void Backend::embed(const EmbedArgs& a, const View& out) {
  check_view(out, "embed", "out");
  EMBER_CHECK(a.tokens == out.rows && a.ids && a.word, ErrorKind::kInternal, "embed: ", a.tokens,
              " tokens for ", out.rows, " rows, or no ids / table");
  EMBER_CHECK(a.word->numel() % out.cols == 0, ErrorKind::kInternal, "embed: table of ",
              a.word->numel(), " values is not rows of ", out.cols);
  EMBER_CHECK(!a.position || a.positions, ErrorKind::kInternal, "embed: position table, no ids");
  EMBER_CHECK(!a.token_type || a.type_ids, ErrorKind::kInternal, "embed: type table, no ids");
  if (a.tokens == 0) return;
  do_embed(a, out);
}

void Backend::linear(const Linear& w, const View& x, const View& y, Activation act) {
  check_view(x, "linear", "x");
  check_view(y, "linear", "y");
  EMBER_CHECK(x.cols == w.in() && y.cols == w.out() && x.rows == y.rows, ErrorKind::kInternal,
              "linear: x ", x.rows, "x", x.cols, ", y ", y.rows, "x", y.cols, " for weights ",
              w.out(), "x", w.in());
  if (x.rows == 0) return;
  do_linear(w, x, y, act);
}

void Backend::norm(const View& x, const View* residual, const View& y, const NormArgs& a) {
  check_view(x, "norm", "x");
  check_view(y, "norm", "y");
  check_same_shape(x, y, "norm");
  if (residual) {
    check_view(*residual, "norm", "residual");
    check_same_shape(x, *residual, "norm");
  }
  const int64_t group = a.group > 0 ? a.group : x.cols;
  EMBER_CHECK(group > 0 && x.cols % group == 0, ErrorKind::kInternal, "norm: group ", a.group,
              " does not divide ", x.cols, " columns");
  EMBER_CHECK(a.gamma && a.gamma->numel() == group && (!a.beta || a.beta->numel() == group),
              ErrorKind::kInternal, "norm: scale/shift do not have ", group, " values");
  EMBER_CHECK(std::isfinite(a.eps) && a.eps > 0.0f, ErrorKind::kInternal,
              "norm: eps must be finite and > 0, got ", a.eps);
  if (x.rows == 0) return;
  do_norm(x, residual, y, a);
}

void Backend::add(const View& x, const View& y) {
  check_view(x, "add", "x");
  check_view(y, "add", "y");
  check_same_shape(x, y, "add");
  if (x.rows * x.cols == 0) return;
  do_add(x, y);
}

void Backend::rotary(const View& x, const RotaryArgs& a) {
  check_view(x, "rotary", "x");
  EMBER_CHECK(a.heads > 0 && a.head_dim > 0 && x.cols == a.heads * a.head_dim, ErrorKind::kInternal,
              "rotary: ", x.cols, " columns for ", a.heads, " heads of ", a.head_dim);
  EMBER_CHECK(a.rotary_dims > 0 && a.rotary_dims % 2 == 0 && a.rotary_dims <= a.head_dim,
              ErrorKind::kInternal, "rotary: rotary_dims ", a.rotary_dims);
  EMBER_CHECK(std::isfinite(a.base) && a.base > 0, ErrorKind::kInternal, "rotary: base ", a.base);
  EMBER_CHECK(a.positions != nullptr || x.rows == 0, ErrorKind::kInternal, "rotary: no positions");
  if (x.rows == 0) return;
  do_rotary(x, a);
}

void Backend::attention(const View& q, const View& k, const View& v, const SeqLayout& seqs,
                        const AttentionArgs& a, const View& out) {
  for (const auto& [view, name] : {std::pair{&q, "q"}, {&k, "k"}, {&v, "v"}, {&out, "out"}})
    check_view(*view, "attention", name);
  EMBER_CHECK(a.heads > 0 && a.kv_heads > 0 && a.head_dim > 0 && a.heads % a.kv_heads == 0,
              ErrorKind::kInternal, "attention: heads ", a.heads, ", kv heads ", a.kv_heads,
              ", head dim ", a.head_dim);
  EMBER_CHECK(q.cols == a.heads * a.head_dim && out.cols == q.cols &&
                  k.cols == a.kv_heads * a.head_dim && v.cols == k.cols,
              ErrorKind::kInternal, "attention: widths q ", q.cols, " k ", k.cols, " v ", v.cols,
              " out ", out.cols, " for ", a.heads, "/", a.kv_heads, " heads of ", a.head_dim);
  EMBER_CHECK(q.rows == k.rows && q.rows == v.rows && q.rows == out.rows, ErrorKind::kInternal,
              "attention: row counts differ");
  EMBER_CHECK(std::isfinite(a.scale), ErrorKind::kInternal, "attention: scale is not finite");
  EMBER_CHECK(a.mask != MaskKind::kLocal || a.window >= 0, ErrorKind::kInternal,
              "attention: window ", a.window);
  check_layout(seqs, q.rows, "attention");
  EMBER_CHECK(!a.rel_bias || a.rel_span >= seqs.max_len() - 1, ErrorKind::kInternal,
              "attention: relative bias spans ", a.rel_span, " for sequences of ", seqs.max_len());
  if (q.rows == 0) return;
  do_attention(q, k, v, seqs, a, out);
}

void Backend::disentangled_attention(const View& q, const View& k, const View& v,
                                     const View& pos_query, const View& pos_key,
                                     const SeqLayout& seqs, const DisentangledAttentionArgs& a,
                                     const View& out) {
  constexpr const char* kOp = "disentangled_attention";
  for (const auto& [view, name] : {std::pair{&q, "q"},
                                   {&k, "k"},
                                   {&v, "v"},
                                   {&out, "out"},
                                   {&pos_query, "pos_query"},
                                   {&pos_key, "pos_key"}})
    check_view(*view, kOp, name);
  EMBER_CHECK(a.heads > 0 && a.head_dim > 0, ErrorKind::kInternal, kOp, ": heads ", a.heads,
              ", head dim ", a.head_dim);
  const int64_t width = a.heads * a.head_dim;
  EMBER_CHECK(q.cols == width && k.cols == width && v.cols == width && out.cols == width,
              ErrorKind::kInternal, kOp, ": widths q ", q.cols, " k ", k.cols, " v ", v.cols,
              " out ", out.cols, " for ", a.heads, " heads of ", a.head_dim);
  EMBER_CHECK(q.rows == k.rows && q.rows == v.rows && q.rows == out.rows, ErrorKind::kInternal, kOp,
              ": row counts differ");
  EMBER_CHECK(std::isfinite(a.scale), ErrorKind::kInternal, kOp, ": scale is not finite");
  check_layout(seqs, q.rows, kOp);
  EMBER_CHECK(a.rel_index != nullptr && a.rel_span >= seqs.max_len() - 1, ErrorKind::kInternal, kOp,
              ": relative index spans ", a.rel_span, " for sequences of ", seqs.max_len());
  // The rows each term reads: every index in the table must be one.
  for (const auto& [on, pos, name] :
       {std::tuple{a.c2p, &pos_key, "pos_key"}, std::tuple{a.p2c, &pos_query, "pos_query"}}) {
    if (!on) continue;
    EMBER_CHECK(pos->cols == width, ErrorKind::kInternal, kOp, ": ", name, " has ", pos->cols,
                " columns for ", width);
    for (int64_t d = 0; d <= 2 * a.rel_span; ++d)
      EMBER_CHECK(a.rel_index[d] >= 0 && a.rel_index[d] < pos->rows, ErrorKind::kInternal, kOp,
                  ": relative index ", a.rel_index[d], " outside the ", pos->rows, " rows of ",
                  name);
  }
  if (q.rows == 0) return;
  do_disentangled_attention(q, k, v, pos_query, pos_key, seqs, a, out);
}

void Backend::gated(const View& x, const View& out, Activation act) {
  check_view(x, "gated", "x");
  check_view(out, "gated", "out");
  EMBER_CHECK(x.rows == out.rows && x.cols == 2 * out.cols, ErrorKind::kInternal, "gated: x ",
              x.rows, "x", x.cols, " for out ", out.rows, "x", out.cols);
  if (x.rows == 0) return;
  do_gated(x, out, act);
}

void Backend::activation(const View& x, Activation act) {
  check_view(x, "activation", "x");
  if (x.rows * x.cols == 0 || act == Activation::kNone) return;
  do_activation(x, act);
}

void Backend::gather_rows(const View& x, const int32_t* rows, const View& out) {
  check_view(x, "gather_rows", "x");
  check_view(out, "gather_rows", "out");
  EMBER_CHECK(x.cols == out.cols && (rows || out.rows == 0), ErrorKind::kInternal,
              "gather_rows: widths ", x.cols, " and ", out.cols);
  for (int64_t i = 0; i < out.rows; ++i)
    EMBER_CHECK(rows[i] >= 0 && rows[i] < x.rows, ErrorKind::kInternal, "gather_rows: row ",
                rows[i], " outside [0, ", x.rows, ")");
  if (out.rows == 0) return;
  do_gather_rows(x, rows, out);
}

void Backend::pool(const View& hidden, const SeqLayout& seqs, PoolMode mode, bool normalize,
                   const View& out) {
  check_view(hidden, "pool", "hidden");
  check_view(out, "pool", "out");
  check_layout(seqs, hidden.rows, "pool");
  EMBER_CHECK(out.rows == seqs.sequences && out.cols == hidden.cols, ErrorKind::kInternal,
              "pool: out ", out.rows, "x", out.cols, " for ", seqs.sequences, " sequences of ",
              hidden.cols);
  for (int64_t s = 0; s < seqs.sequences; ++s)
    EMBER_CHECK(seqs.cu_seqlens[s + 1] > seqs.cu_seqlens[s], ErrorKind::kInternal,
                "pool: sequence ", s, " is empty");
  if (out.rows == 0) return;
  do_pool(hidden, seqs, mode, normalize, out);
}

void Backend::sparse_pool(const View& logits, const SeqLayout& seqs, const SparsePoolArgs& a,
                          const View& out) {
  check_view(logits, "sparse_pool", "logits");
  check_view(out, "sparse_pool", "out");
  check_layout(seqs, logits.rows, "sparse_pool");
  EMBER_CHECK(out.rows == seqs.sequences && out.cols == logits.cols, ErrorKind::kInternal,
              "sparse_pool: out ", out.rows, "x", out.cols, " for ", seqs.sequences,
              " sequences of ", logits.cols);
  if (out.rows == 0) return;
  do_sparse_pool(logits, seqs, a, out);
}

}  // namespace ember::ops
