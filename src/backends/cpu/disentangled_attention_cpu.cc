// cpu::disentangled_attention: DeBERTa's attention as the attention kernels' head loop with a
// score bias per (query, key). For each (sequence, head, query range) task the
// content-to-position and position-to-content terms are two GEMMs against the relative
// embedding rows that the task's distances read (at most 2 len - 1 of them), gathered by
// distance into the bias.
#include <algorithm>
#include <limits>

#include "backends/cpu/attention_tasks.h"
#include "backends/cpu/cpu_ops.h"
#include "core/aligned_buffer.h"
#include "core/cpu_features.h"
#include "core/profile.h"
#include "kernels/cpu/kernels.h"

namespace ember::cpu {

void disentangled_attention(const float* q, int64_t ldq, const float* k, int64_t ldk,
                            const float* v, int64_t ldv, const float* pos_query, int64_t ldpq,
                            const float* pos_key, int64_t ldpk, const int32_t* cu_seqlens,
                            int64_t batch, const ops::DisentangledAttentionArgs& args, float* out,
                            int64_t ldo) {
  // Shapes, strides and table indices are checked by ops::Backend::disentangled_attention.
  if (batch == 0 || cu_seqlens[batch] == cu_seqlens[0]) return;
  profile::Scope scope("disentangled_attention");
  const int64_t head_dim = args.head_dim;
  const detail::AttentionTasks tasks = detail::attention_tasks(cu_seqlens, batch, args.heads);

  const Isa isa = active_isa();
  const auto kernel = isa == Isa::kAvx512 ? kernels::attention_head_f32_avx512
                      : isa == Isa::kAvx2 ? kernels::attention_head_f32_avx2
                                          : kernels::attention_head_f32_scalar;
  const auto scratch_floats = isa == Isa::kAvx512 ? kernels::attention_scratch_floats_avx512
                              : isa == Isa::kAvx2 ? kernels::attention_scratch_floats_avx2
                                                  : kernels::attention_scratch_floats_scalar;
  auto run = [&](const detail::AttentionTask& t) {
    thread_local AlignedBuffer<float> scratch, c2p, p2c, bias;
    const int64_t start = cu_seqlens[t.seq];
    const int64_t len = cu_seqlens[t.seq + 1] - start;
    const int64_t col = t.head * head_dim;
    // Distances i - j of this task: from q0 - (len - 1) to q0 + rows - 1. index(d) is the row
    // of distance d in the table; the GEMMs cover the rows [lo, hi] those distances read.
    const int32_t* index = args.rel_index + args.rel_span;
    int64_t lo = std::numeric_limits<int64_t>::max(), hi = -1;
    for (int64_t d = t.q0 - (len - 1); d < t.q0 + t.rows; ++d) {
      lo = std::min<int64_t>(lo, index[d]);
      hi = std::max<int64_t>(hi, index[d]);
    }
    const int64_t n_rel = hi - lo + 1;
    if (args.c2p) {  // c2p[i, r] = q_i . pos_key[lo + r]
      c2p.resize(static_cast<size_t>(t.rows * n_rel));
      kernels::sgemm_nt_f32_dnnl(t.rows, n_rel, head_dim, q + (start + t.q0) * ldq + col, ldq,
                                 pos_key + lo * ldpk + col, ldpk, c2p.data(), n_rel);
    }
    if (args.p2c) {  // p2c[j, r] = k_j . pos_query[lo + r]
      p2c.resize(static_cast<size_t>(len * n_rel));
      kernels::sgemm_nt_f32_dnnl(len, n_rel, head_dim, k + start * ldk + col, ldk,
                                 pos_query + lo * ldpq + col, ldpq, p2c.data(), n_rel);
    }
    bias.resize(static_cast<size_t>(t.rows * len));
    for (int64_t i = 0; i < t.rows; ++i) {
      const int32_t* row_index = index + t.q0 + i;  // row_index[-j]: distance i - j
      float* b = bias.data() + i * len;
      const float* c = c2p.data() + i * n_rel - lo;
      for (int64_t j = 0; j < len; ++j) {
        const int64_t r = row_index[-j];
        float s = 0.0f;
        if (args.c2p) s += c[r];
        if (args.p2c) s += p2c.data()[j * n_rel + r - lo];
        b[j] = s * args.scale;
      }
    }
    scratch.resize(scratch_floats(t.rows, len, head_dim));
    kernels::AttentionHeadArgs a{};
    a.q = q + (start + t.q0) * ldq + col;
    a.ldq = ldq;
    a.k = k + start * ldk + col;
    a.ldk = ldk;
    a.v = v + start * ldv + col;
    a.ldv = ldv;
    a.out = out + (start + t.q0) * ldo + col;
    a.ldo = ldo;
    a.q_rows = t.rows;
    a.kv_len = len;
    a.head_dim = head_dim;
    a.scale = args.scale;
    a.scratch = scratch.data();
    a.q_pos0 = t.q0;
    a.score_bias = bias.data();
    a.ld_score_bias = len;
    kernel(a);
  };
  // Per cost unit (a query-key pair): q.k, the two terms' share of the GEMMs, and p.v.
  detail::run_attention_tasks(tasks, 4.0 * static_cast<double>(head_dim), run);
}

}  // namespace ember::cpu
