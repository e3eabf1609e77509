// cpu::attention: splits a packed batch into (sequence, head, query range) tasks, balances
// them over the threads by cost, and runs one head kernel per task.
#include <cmath>
#include <vector>

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

// Query rows per task: at most ~256, so that one sequence of 512 tokens still splits into
// two tasks per head, and a multiple of 24 so that the kernels' register tiles (6 rows on
// AVX2, 8 on AVX-512) divide it. Each task packs its head's K^T and V once (a few percent of
// a 256-row task), which is why tasks are not smaller.
constexpr int64_t kMaxTaskRows = 256;
constexpr int64_t kRowMultiple = 24;

int64_t task_rows(int64_t len) {
  const int64_t chunks = (len + kMaxTaskRows - 1) / kMaxTaskRows;
  const int64_t rows = (len + chunks - 1) / chunks;
  return (rows + kRowMultiple - 1) / kRowMultiple * kRowMultiple;
}

struct Task {
  int64_t seq, head, q0, rows;
};

}  // namespace

void attention(const float* q, int64_t ldq, const float* k, int64_t ldk, const float* v,
               int64_t ldv, const int32_t* cu_seqlens, int64_t batch,
               const ops::AttentionArgs& args, float* out, int64_t ldo) {
  // Shapes and strides are checked by ops::Backend::attention.
  if (batch == 0 || cu_seqlens[batch] == cu_seqlens[0]) return;
  profile::Scope scope("attention");
  const int64_t heads = args.heads, head_dim = args.head_dim;
  const int64_t group = args.heads / args.kv_heads;  // query heads per key/value head
  const kernels::KeyMask mask = args.mask == ops::MaskKind::kCausal  ? kernels::KeyMask::kCausal
                                : args.mask == ops::MaskKind::kLocal ? kernels::KeyMask::kWindow
                                                                     : kernels::KeyMask::kAll;
  const int64_t rel_width = 2 * args.rel_span + 1;

  std::vector<Task> tasks;
  std::vector<double> cost_end;  // cumulative cost after each task
  double total = 0.0;
  for (int64_t s = 0; s < batch; ++s) {
    const int64_t len = cu_seqlens[s + 1] - cu_seqlens[s];
    if (len == 0) continue;
    const int64_t step = task_rows(len);
    for (int64_t h = 0; h < heads; ++h) {
      for (int64_t q0 = 0; q0 < len; q0 += step) {
        const int64_t rows = len - q0 < step ? len - q0 : step;
        tasks.push_back({s, h, q0, rows});
        total += static_cast<double>(rows + 8) * static_cast<double>(len);  // + packing
        cost_end.push_back(total);
      }
    }
  }

  const Isa isa = active_isa();
  const auto kernel = isa == Isa::kAvx512 ? kernels::attention_head_f32_avx512
                      : isa == Isa::kAvx2 ? kernels::attention_head_f32_avx2
                                          : kernels::attention_head_f32_scalar;
  const auto scratch_floats = isa == Isa::kAvx512 ? kernels::attention_scratch_floats_avx512
                              : isa == Isa::kAvx2 ? kernels::attention_scratch_floats_avx2
                                                  : kernels::attention_scratch_floats_scalar;
  auto run = [&](const Task& t) {
    thread_local AlignedBuffer<float> scratch;
    const int64_t start = cu_seqlens[t.seq];
    const int64_t len = cu_seqlens[t.seq + 1] - start;
    scratch.resize(scratch_floats(t.rows, len, head_dim));
    const int64_t col = t.head * head_dim, kv_col = t.head / group * head_dim;
    kernels::AttentionHeadArgs a{};
    a.q = q + (start + t.q0) * ldq + col;
    a.ldq = ldq;
    a.k = k + start * ldk + kv_col;
    a.ldk = ldk;
    a.v = v + start * ldv + kv_col;
    a.ldv = ldv;
    a.out = out + (start + t.q0) * ldo + col;
    a.ldo = ldo;
    a.q_rows = t.rows;
    a.kv_len = len;
    a.head_dim = head_dim;
    a.scale = args.scale;
    a.scratch = scratch.data();
    a.mask = mask;
    a.window = args.window;
    a.q_pos0 = t.q0;
    if (args.rel_bias) a.rel_bias = args.rel_bias + t.head * rel_width + args.rel_span;
    kernel(a);
  };

  // Parts of equal cost (a few per thread), each a contiguous range of tasks.
  const int64_t n_tasks = static_cast<int64_t>(tasks.size());
  // Below ~100K multiply-adds a fork/join costs more than it saves.
  const bool tiny = total * static_cast<double>(head_dim) < 1e5;
  const int64_t wanted = tiny ? 1 : 4 * static_cast<int64_t>(num_threads());
  const int64_t parts = n_tasks < wanted ? n_tasks : wanted;
  std::vector<int64_t> bounds(parts + 1, n_tasks);
  bounds[0] = 0;
  for (int64_t p = 1, t = 0; p < parts; ++p) {
    const double target = total * static_cast<double>(p) / static_cast<double>(parts);
    while (t < n_tasks && cost_end[t] <= target) ++t;
    bounds[p] = t;
  }
  parallel_for(parts, 1, [&](int64_t b, int64_t e) {
    for (int64_t t = bounds[b]; t < bounds[e]; ++t) run(tasks[t]);
  });
}

}  // namespace ember::cpu
