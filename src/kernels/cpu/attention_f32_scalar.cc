// Scalar twin of attention_f32_avx2.cc: one query row at a time, scores in a [kv_len] row.
#include <cmath>

#include "kernels/cpu/kernels.h"

namespace ember::kernels {

size_t attention_scratch_floats_scalar(int64_t /*q_rows*/, int64_t kv_len, int64_t /*head_dim*/) {
  return static_cast<size_t>(kv_len);
}

void attention_head_f32_scalar(const AttentionHeadArgs& a) {
  float* p = a.scratch;
  const bool plain = attention_is_plain(a);
  for (int64_t i = 0; i < a.q_rows; ++i) {
    const float* q = a.q + i * a.ldq;
    for (int64_t j = 0; j < a.kv_len; ++j) {
      const float* k = a.k + j * a.ldk;
      float dot = 0.0f;
      for (int64_t d = 0; d < a.head_dim; ++d) dot += q[d] * k[d];
      p[j] = plain ? dot * a.scale : dot;
    }
    if (!plain) attention_mask_row(a, i, p);
    float max = -INFINITY;
    for (int64_t j = 0; j < a.kv_len; ++j) max = p[j] > max ? p[j] : max;
    float sum = 0.0f;
    for (int64_t j = 0; j < a.kv_len; ++j) {
      p[j] = std::exp(p[j] - max);
      sum += p[j];
    }
    const float inv = 1.0f / sum;
    float* o = a.out + i * a.ldo;
    for (int64_t d = 0; d < a.head_dim; ++d) o[d] = 0.0f;
    for (int64_t j = 0; j < a.kv_len; ++j) {
      const float* v = a.v + j * a.ldv;
      const float w = p[j] * inv;
      for (int64_t d = 0; d < a.head_dim; ++d) o[d] += w * v[d];
    }
  }
}

}  // namespace ember::kernels
