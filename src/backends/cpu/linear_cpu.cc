// cpu::linear: GEMM (x w^T) then a bias + activation epilogue over the rows just computed.
#include <algorithm>
#include <string>

#include "backends/cpu/cpu_ops.h"
#include "backends/cpu/packed_tasks.h"
#include "backends/cpu/row_dispatch.h"
#include "core/aligned_buffer.h"
#include "core/cpu_features.h"
#include "core/error.h"
#include "core/parallel.h"
#include "core/profile.h"
#include "kernels/cpu/kernels.h"
#include "kernels/cpu/packed_gemm_dnnl.h"

namespace ember::cpu {
namespace {

using GemmNt = void (*)(int64_t m, int64_t n, int64_t k, const float* x, int64_t ldx,
                        const float* w, int64_t ldw, float* y, int64_t ldy);

// oneDNN 2.6's sgemm switches kernels at M = 16 and runs 2-5x slower for 16 <= M < 32 than
// the same product as calls of 8 rows (docs/gemm.md: column onednn_rows8).
void sgemm_nt_dnnl_rows8(int64_t m, int64_t n, int64_t k, const float* x, int64_t ldx,
                         const float* w, int64_t ldw, float* y, int64_t ldy) {
  for (int64_t m0 = 0; m0 < m; m0 += 8) {
    const int64_t rows = m - m0 < 8 ? m - m0 : 8;
    kernels::sgemm_nt_f32_dnnl(rows, n, k, x + m0 * ldx, ldx, w, ldw, y + m0 * ldy, ldy);
  }
}

// oneDNN's call for one block of the product: oneDNN won the encoder shapes against OpenBLAS
// (docs/gemm.md).
GemmNt select_gemm(int64_t m, int64_t /*n*/, int64_t /*k*/) {
  if (m >= 16 && m < 32) return sgemm_nt_dnnl_rows8;
  return kernels::sgemm_nt_f32_dnnl;
}

// Rows up to which our kernels replace oneDNN, on AVX-512 and on AVX2: single-threaded with
// warm weights they beat it by 1.03-1.6x up to M = 64 (docs/gemm.md). At M = 128, forwards
// alternated in one process favoured them at quiet times (bert-base 1x128 13% faster) and not
// at noisy ones, and two side-by-side harness runs with them at M = 128 put bert-base's
// M = 128 cells 10-30% further behind ONNX Runtime than runs with oneDNN there; the harness
// decides (docs/gemm.md, docs/history.md).
constexpr int64_t kOwnKernelMaxM = 64;
// Columns per task: the kernel's output block and then its epilogue while it is in L1.
constexpr int64_t kOwnBlockCols = 64;
// Below this many multiply-adds (~5 us on one core) a fork/join costs more than it saves.
constexpr int64_t kOwnMinParallelMacs = int64_t{1} << 18;

bool use_own_kernel(int64_t m) {
  return m <= kOwnKernelMaxM && active_isa() >= Isa::kAvx2;
}

// One column block of y for all m rows: whole blocks of 16 rows through the outer-product
// kernel, the other m % 16 rows (all of them when m < 16) through the dot-product kernel.
// Measured as whole forwards on 2 threads, alternated in one process (docs/gemm.md):
// the outer-product kernel on blocks of <= 8 rows (then 12x8 tiles) lost clearly to the
// dot-product kernels, which read each w row contiguously and prefetch the next tiles' rows
// (MiniLM 1x8: 1.9 against 3.3 ms on AVX-512, 2.2 against 3.2 on AVX2; bert-base 1x24 on
// AVX2: 37 against 44 ms). The AVX2 6x16 kernel serves AVX-512 too: on Zen 4 the AVX-512 6x32
// one was no faster.
void own_gemm(int64_t m, int64_t n, int64_t k, const float* x, int64_t ldx, const float* w,
              float* y, int64_t ldy) {
  const int64_t mb = m - m % 16;
  if (mb > 0) kernels::sgemm_nt_f32_avx2_6x16(mb, n, k, x, ldx, w, k, y, ldy);
  if (mb == m) return;
  const auto dot = active_isa() == Isa::kAvx512 ? kernels::sgemm_nt_f32_avx512_dot4x4
                                                : kernels::sgemm_nt_f32_avx2_dot3x4;
  dot(m - mb, n, k, x + mb * ldx, ldx, w, k, y + mb * ldy, ldy);
}

// One parallel region for the whole op: threads take contiguous ranges of column blocks (each
// streams its own part of w) and finish every block with the bias + activation epilogue.
void linear_own(const float* x, int64_t m, int64_t k, int64_t ldx, const float* w,
                const float* bias, int64_t n, float* y, int64_t ldy, detail::RowEpilogue epilogue) {
  const int64_t blocks = (n + kOwnBlockCols - 1) / kOwnBlockCols;
  const bool threaded = m * n * k >= kOwnMinParallelMacs;
  parallel_for(blocks, threaded ? 1 : blocks, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t c0 = b * kOwnBlockCols;
      const int64_t nc = n - c0 < kOwnBlockCols ? n - c0 : kOwnBlockCols;
      own_gemm(m, nc, k, x, ldx, w + c0 * k, y + c0, ldy);
      if (!epilogue) continue;
      for (int64_t i = 0; i < m; ++i) epilogue(y + i * ldy + c0, bias ? bias + c0 : nullptr, nc);
    }
  });
}

// Larger M: every thread multiplies its own contiguous block of rows with oneDNN (one
// single-threaded call) and then runs the epilogue on those rows while they are in its cache.
constexpr int64_t kRowBlockMinRowsPerThread = 32;

void linear_row_blocks(const float* x, int64_t m, int64_t k, int64_t ldx, const float* w,
                       const float* bias, int64_t n, float* y, int64_t ldy,
                       detail::RowEpilogue epilogue) {
  parallel_split(m, 1, [&](int64_t r0, int64_t r1) {
    kernels::sgemm_nt_f32_dnnl(r1 - r0, n, k, x + r0 * ldx, ldx, w, k, y + r0 * ldy, ldy);
    if (!epilogue) return;
    for (int64_t i = r0; i < r1; ++i) epilogue(y + i * ldy, bias, n);
  });
}

// Fewer rows: every thread multiplies all rows by its own block of columns (it streams only
// its part of w), then runs the epilogue on that block.
void linear_col_blocks(const float* x, int64_t m, int64_t k, int64_t ldx, const float* w,
                       const float* bias, int64_t n, float* y, int64_t ldy,
                       detail::RowEpilogue epilogue) {
  const GemmNt gemm = select_gemm(m, n, k);
  // Multiples of 16 columns keep oneDNN's vector tiles full.
  parallel_split(n, 16, [&](int64_t c0, int64_t c1) {
    gemm(m, c1 - c0, k, x, ldx, w + c0 * k, k, y + c0, ldy);
    if (!epilogue) return;
    for (int64_t i = 0; i < m; ++i) epilogue(y + i * ldy + c0, bias ? bias + c0 : nullptr, c1 - c0);
  });
}

// Pre-packed weights: each row block is copied into y through the epilogue while in cache.
void linear_packed(const float* x, int64_t m, const kernels::PackedGemmDnnl& p, const float* bias,
                   float* y, int64_t ldy, detail::RowEpilogue epilogue) {
  detail::packed_gemm_rows<float>(p, m, x,
                                  [&](int64_t i, const float* row, int64_t c0, int64_t nc) {
                                    float* yi = y + i * ldy + c0;
                                    std::copy_n(row, nc, yi);
                                    if (epilogue) epilogue(yi, bias ? bias + c0 : nullptr, nc);
                                  });
}

}  // namespace

std::string detail::linear_profile_label(const char* op, int64_t m, int64_t k, int64_t n,
                                         Activation act) {
  return std::string(op) + " " + std::to_string(m) + "x" + std::to_string(k) + "->" +
         std::to_string(n) +
         (act == Activation::kNone ? "" : std::string(" +") + activation_name(act));
}

void linear(const float* x, int64_t m, int64_t k, int64_t ldx, const float* w, const float* bias,
            int64_t n, float* y, int64_t ldy, Activation act,
            const kernels::PackedGemmDnnl* packed) {
  EMBER_CHECK(m >= 0 && k > 0 && n > 0, ErrorKind::kInternal, "linear: bad shape m=", m, " k=", k,
              " n=", n);
  EMBER_CHECK(ldx >= k && ldy >= n, ErrorKind::kInternal, "linear: row stride too small (ldx=", ldx,
              " < k=", k, " or ldy=", ldy, " < n=", n, ")");
  EMBER_CHECK(w != nullptr || packed != nullptr, ErrorKind::kInternal, "linear: no weights");
  if (m == 0) return;
  EMBER_CHECK(x != nullptr && y != nullptr, ErrorKind::kInternal, "linear: null x or y");
  // Looked up first so that a bad activation fails before any work.
  const detail::RowEpilogue epilogue = detail::row_epilogue(act, bias != nullptr);
  const bool prof = profile::enabled();
  profile::Scope scope(prof ? detail::linear_profile_label("linear", m, k, n, act) : std::string(),
                       prof);
  if (packed) {
    EMBER_CHECK(packed->type() == kernels::PackedGemmDnnl::Type::kF32 && packed->n() == n &&
                    packed->k() == k,
                ErrorKind::kInternal, "linear: packed weights do not match ", n, "x", k);
    if (ldx == k && detail::use_packed(packed, m)) {
      linear_packed(x, m, *packed, bias, y, ldy, epilogue);
      return;
    }
    if (w == nullptr) {
      // Released unpacked weights (CpuLinear::release_source): the packed ones serve every
      // row count, on dense rows.
      thread_local AlignedBuffer<float> dense;
      if (ldx != k) {
        dense.resize(static_cast<size_t>(m * k));
        for (int64_t i = 0; i < m; ++i) std::copy_n(x + i * ldx, k, dense.data() + i * k);
        x = dense.data();
      }
      linear_packed(x, m, *packed, bias, y, ldy, epilogue);
      return;
    }
  }
  if (use_own_kernel(m)) {
    linear_own(x, m, k, ldx, w, bias, n, y, ldy, epilogue);
    return;
  }
  if (m >= kRowBlockMinRowsPerThread * num_threads())
    linear_row_blocks(x, m, k, ldx, w, bias, n, y, ldy, epilogue);
  else
    linear_col_blocks(x, m, k, ldx, w, bias, n, y, ldy, epilogue);
}

}  // namespace ember::cpu
