// cpu::attention: splits a packed batch into (sequence, head, query range) tasks, balances
// them over the threads by cost, and runs one head kernel per task.
#include <algorithm>
#include <cmath>
#include <vector>

#include "backends/cpu/attention_tasks.h"
#include "backends/cpu/cpu_ops.h"
#include "core/aligned_buffer.h"
#include "core/cpu_features.h"
#include "core/error.h"
#include "core/parallel.h"
#include "core/profile.h"
#include "kernels/cpu/kernels.h"
#include "ops/backend.h"

namespace ember::cpu {
namespace {

struct HeadKernel {
  const char* name;
  void (*run)(const kernels::AttentionHeadArgs&);
  size_t (*scratch_floats)(int64_t, int64_t, int64_t);
};

HeadKernel head_kernel(const ops::AttentionArgs& args) {
  if (args.bf16 && bf16_gemm_supported())
    return {"attention_head_bf16_avx512bf16", kernels::attention_head_bf16_avx512bf16,
            kernels::attention_scratch_floats_bf16_avx512bf16};
  switch (active_isa()) {
    case Isa::kAvx512:
      return {"attention_head_f32_avx512", kernels::attention_head_f32_avx512,
              kernels::attention_scratch_floats_avx512};
    case Isa::kAvx2:
      return {"attention_head_f32_avx2", kernels::attention_head_f32_avx2,
              kernels::attention_scratch_floats_avx2};
    default:
      return {"attention_head_f32_scalar", kernels::attention_head_f32_scalar,
              kernels::attention_scratch_floats_scalar};
  }
}

}  // namespace

const char* attention_kernel_name(const ops::AttentionArgs& args) {
  return head_kernel(args).name;
}

void attention(const float* q, int64_t ldq, const float* k, int64_t ldk, const float* v,
               int64_t ldv, const int32_t* cu_seqlens, int64_t batch,
               const ops::AttentionArgs& args, float* out, int64_t ldo) {
  // Shapes and strides are checked by ops::Backend::attention.
  if (batch == 0 || cu_seqlens[batch] == cu_seqlens[0]) return;
  // Local (windowed) attention apart: its cost is linear in length, the others' quadratic.
  profile::Scope scope(args.mask == ops::MaskKind::kLocal ? "attention (local)" : "attention");
  const int64_t heads = args.heads, head_dim = args.head_dim;
  const int64_t group = args.heads / args.kv_heads;  // query heads per key/value head
  const kernels::KeyMask mask = args.mask == ops::MaskKind::kCausal  ? kernels::KeyMask::kCausal
                                : args.mask == ops::MaskKind::kLocal ? kernels::KeyMask::kWindow
                                                                     : kernels::KeyMask::kAll;
  const int64_t rel_width = 2 * args.rel_span + 1;

  const detail::AttentionTasks tasks = detail::attention_tasks(
      cu_seqlens, batch, heads, mask == kernels::KeyMask::kWindow ? args.window : 0);

  const HeadKernel hk = head_kernel(args);
  const auto kernel = hk.run;
  const auto scratch_floats = hk.scratch_floats;
  auto run = [&](const detail::AttentionTask& t) {
    thread_local AlignedBuffer<float> scratch;
    const int64_t start = cu_seqlens[t.seq];
    const int64_t len = cu_seqlens[t.seq + 1] - start;
    // The keys this task's queries can see: all, those up to its last query (causal), or
    // those within the window of one of its queries (local). The kernel runs on that range
    // alone, so local attention costs rows x (rows + 2 window) per task, linear in length.
    int64_t k0 = 0, k1 = len;
    if (mask == kernels::KeyMask::kCausal) {
      k1 = std::min(len, t.q0 + t.rows);
    } else if (mask == kernels::KeyMask::kWindow) {
      k0 = std::max<int64_t>(0, t.q0 - args.window);
      k1 = std::min(len, t.q0 + t.rows + args.window);
    }
    scratch.resize(scratch_floats(t.rows, k1 - k0, head_dim));
    const int64_t col = t.head * head_dim, kv_col = t.head / group * head_dim;
    kernels::AttentionHeadArgs a{};
    a.q = q + (start + t.q0) * ldq + col;
    a.ldq = ldq;
    a.k = k + (start + k0) * ldk + kv_col;
    a.ldk = ldk;
    a.v = v + (start + k0) * ldv + kv_col;
    a.ldv = ldv;
    a.out = out + (start + t.q0) * ldo + col;
    a.ldo = ldo;
    a.q_rows = t.rows;
    a.kv_len = k1 - k0;
    a.head_dim = head_dim;
    a.scale = args.scale;
    a.scratch = scratch.data();
    a.mask = mask;
    a.window = args.window;
    a.q_pos0 = t.q0 - k0;  // positions relative to the first key: masks and rel_bias shift alike
    if (args.rel_bias) a.rel_bias = args.rel_bias + t.head * rel_width + args.rel_span;
    kernel(a);
  };

  detail::run_attention_tasks(tasks, static_cast<double>(head_dim), run);
}

}  // namespace ember::cpu
