#include "model/model_spec.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace ember::model {
namespace {

void check_norm(const std::optional<NormSpec>& n, const std::string& where) {
  if (!n) return;
  EMBER_CHECK(std::isfinite(n->eps) && n->eps > 0.0f && n->eps < 1.0f, ErrorKind::kInvalidInput,
              where, ": norm eps ", n->eps, " is not in (0, 1)");
}

}  // namespace

int64_t DisentangledSpec::table_row(int64_t distance) const {
  int64_t bucket = distance;
  const int64_t mid = buckets / 2, magnitude = std::abs(distance);
  if (buckets > 0 && magnitude > mid) {
    // In float32, as transformers computes it: mid + ceil(log(|d| / mid) / log((max - 1) / mid)
    // * (mid - 1)), with the sign of d.
    const float ratio = std::log(static_cast<float>(magnitude) / static_cast<float>(mid)) /
                        std::log(static_cast<float>(static_cast<double>(max_relative - 1) /
                                                    static_cast<double>(mid)));
    const auto log_pos = static_cast<int64_t>(std::ceil(ratio * static_cast<float>(mid - 1)) +
                                              static_cast<float>(mid));
    bucket = distance < 0 ? -log_pos : log_pos;
  }
  return std::clamp<int64_t>(bucket + span(), 0, 2 * span() - 1);
}

int64_t ModelSpec::max_tokens() const {
  return embeddings.positions == PositionScheme::kAfterPadding
             ? embeddings.max_positions - pad_token_id - 1
             : embeddings.max_positions;
}

int64_t ModelSpec::max_qkv_width() const {
  int64_t w = 0;
  for (const auto& l : layers) w = std::max(w, l.attn.q_width() + 2 * l.attn.kv_width());
  return w;
}

int64_t ModelSpec::max_ffn_width() const {
  int64_t w = 0;
  for (const auto& l : layers)
    w = std::max(w, l.ffn.width * (l.ffn.kind == FfnKind::kGated ? 2 : 1));
  return w;
}

void ModelSpec::validate(const std::string& origin) const {
  const auto& e = embeddings;
  EMBER_CHECK(hidden_size > 0 && e.vocab_size > 0 && e.dim > 0, ErrorKind::kInvalidInput, origin,
              ": hidden size ", hidden_size, ", vocabulary ", e.vocab_size, " and embedding size ",
              e.dim, " must be positive");
  EMBER_CHECK(e.dim == hidden_size || e.project, ErrorKind::kInvalidInput, origin,
              ": embedding size ", e.dim, " differs from hidden size ", hidden_size,
              " without a projection");
  EMBER_CHECK(e.max_positions > 0 && e.type_vocab_size >= 0, ErrorKind::kInvalidInput, origin,
              ": max_position_embeddings ", e.max_positions, " / type_vocab_size ",
              e.type_vocab_size);
  EMBER_CHECK(pad_token_id >= 0 && pad_token_id < std::max<int64_t>(e.vocab_size, 1),
              ErrorKind::kInvalidInput, origin, ": pad_token_id ", pad_token_id,
              " is outside the vocabulary of ", e.vocab_size);
  EMBER_CHECK(max_tokens() > 0, ErrorKind::kInvalidInput, origin,
              ": no room for tokens: max_position_embeddings ", e.max_positions, ", pad_token_id ",
              pad_token_id);
  check_norm(e.norm, origin + " embeddings");
  check_norm(final_norm, origin + " final norm");
  check_norm(head_norm, origin + " head norm");
  EMBER_CHECK(!layers.empty(), ErrorKind::kInvalidInput, origin, ": no layers");
  if (relative_buckets)
    EMBER_CHECK(relative_buckets->buckets >= 2 && relative_buckets->max_distance > 0,
                ErrorKind::kInvalidInput, origin, ": relative attention buckets ",
                relative_buckets->buckets, ", max distance ", relative_buckets->max_distance);
  if (disentangled) {
    const DisentangledSpec& d = *disentangled;
    EMBER_CHECK(
        d.span() > 0 && (d.buckets == 0 || (d.buckets >= 2 && d.max_relative - 1 > d.buckets / 2)),
        ErrorKind::kInvalidInput, origin, ": relative attention with position_buckets ", d.buckets,
        " and max_relative_positions ", d.max_relative,
        " (buckets need max_relative_positions - 1 > position_buckets / 2)");
    check_norm(d.norm, origin + " relative embeddings");
  }
  for (size_t i = 0; i < layers.size(); ++i) {
    const LayerSpec& l = layers[i];
    const std::string where = cat(origin, " layer ", i);
    const AttentionSpec& a = l.attn;
    EMBER_CHECK(a.heads > 0 && a.kv_heads > 0 && a.head_dim > 0 && a.heads % a.kv_heads == 0,
                ErrorKind::kInvalidInput, where, ": ", a.heads, " attention heads, ", a.kv_heads,
                " key/value heads of size ", a.head_dim,
                " (heads must be positive and a multiple of the key/value heads)");
    EMBER_CHECK(std::isfinite(a.scale) && a.scale > 0.0f, ErrorKind::kInvalidInput, where,
                ": attention scale ", a.scale);
    EMBER_CHECK(a.mask != ops::MaskKind::kLocal || a.window >= 0, ErrorKind::kInvalidInput, where,
                ": local attention window ", a.window);
    if (a.rotary)
      EMBER_CHECK(a.rotary->dims > 0 && a.rotary->dims % 2 == 0 && a.rotary->dims <= a.head_dim &&
                      std::isfinite(a.rotary->base) && a.rotary->base > 1.0f,
                  ErrorKind::kInvalidInput, where, ": rotary dims ", a.rotary->dims, " of ",
                  a.head_dim, ", base ", a.rotary->base);
    check_norm(a.qk_norm, where + " q/k norm");
    EMBER_CHECK(!disentangled || (a.kv_heads == a.heads && a.mask == ops::MaskKind::kFull &&
                                  !a.rotary && !a.qk_norm),
                ErrorKind::kInvalidInput, where,
                ": disentangled attention needs full attention with as many key/value heads as "
                "heads, and no rotary or q/k norm");
    EMBER_CHECK(l.ffn.width > 0, ErrorKind::kInvalidInput, where, ": FFN width ", l.ffn.width);
    check_norm(l.attn_norm, where + " attention norm");
    check_norm(l.ffn_norm, where + " FFN norm");
    EMBER_CHECK(l.placement == NormPlacement::kPre || (l.attn_norm && l.ffn_norm),
                ErrorKind::kInvalidInput, where, ": a post-norm layer needs both norms");
  }
  EMBER_CHECK(head == HeadKind::kNone || head == HeadKind::kMaskedLm || !labels.empty(),
              ErrorKind::kInvalidInput, origin, ": a classification head with no labels");
}

}  // namespace ember::model
