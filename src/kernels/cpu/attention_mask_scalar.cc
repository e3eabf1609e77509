// Masks and biases of attention scores (KeyMask, AttentionHeadArgs::rel_bias and score_bias),
// one query row at a time, for every ISA's attention kernel.
#include <algorithm>
#include <limits>

#include "kernels/cpu/kernels.h"

namespace ember::kernels {

bool attention_is_plain(const AttentionHeadArgs& a) {
  return a.mask == KeyMask::kAll && a.rel_bias == nullptr && a.score_bias == nullptr;
}

void attention_mask_row(const AttentionHeadArgs& a, int64_t i, float* s) {
  const int64_t pos = a.q_pos0 + i;
  int64_t lo = 0, hi = a.kv_len;  // visible keys [lo, hi)
  if (a.mask == KeyMask::kCausal) {
    hi = std::min(hi, pos + 1);
  } else if (a.mask == KeyMask::kWindow) {
    lo = std::max<int64_t>(0, pos - a.window);
    hi = std::min(hi, pos + a.window + 1);
  }
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  for (int64_t j = 0; j < lo; ++j) s[j] = kNegInf;
  for (int64_t j = hi; j < a.kv_len; ++j) s[j] = kNegInf;
  if (a.rel_bias) {
    const float* bias = a.rel_bias - pos;  // bias[j] = rel_bias[j - pos]
    for (int64_t j = lo; j < hi; ++j) s[j] = s[j] * a.scale + bias[j];
  } else {
    for (int64_t j = lo; j < hi; ++j) s[j] *= a.scale;
  }
  if (a.score_bias) {
    const float* bias = a.score_bias + i * a.ld_score_bias;
    for (int64_t j = lo; j < hi; ++j) s[j] += bias[j];
  }
}

}  // namespace ember::kernels
