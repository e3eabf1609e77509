// cpu::linear_int8: quantize the rows of x, integer GEMM (our AVX2 kernel, oneDNN, or the
// scalar twin), then dequantize + bias + activation row by row while the row is in cache.
#include "backends/cpu/linear_int8_cpu.h"

#include <string>

#include "backends/cpu/packed_tasks.h"
#include "backends/cpu/row_dispatch.h"
#include "core/aligned_buffer.h"
#include "core/error.h"
#include "core/parallel.h"
#include "core/profile.h"
#include "kernels/cpu/kernels_int8.h"
#include "kernels/cpu/packed_gemm_dnnl.h"

namespace ember::cpu {
namespace {

// Scratch for one call, grown to the largest shape seen on this thread and then reused.
struct Scratch {
  AlignedBuffer<uint8_t> xq;             // [m, k]
  AlignedBuffer<kernels::RowQuant> row;  // [m]
  AlignedBuffer<int32_t> acc;            // [m, n]
};
Scratch& scratch() {
  thread_local Scratch s;
  return s;
}

using GemmU8S8 = void (*)(int64_t, int64_t, int64_t, const uint8_t*, int64_t, const int8_t*,
                          int64_t, int32_t*, int64_t);

// Every kernel runs single-threaded; the product is split over the pool's threads by columns
// (each thread reads all of x and its own slice of w)...
void gemm_split_n(GemmU8S8 kernel, int64_t m, int64_t n, int64_t k, const uint8_t* a,
                  const int8_t* w, int32_t* c) {
  parallel_split(
      n, 8, [&](int64_t j0, int64_t j1) { kernel(m, j1 - j0, k, a, k, w + j0 * k, k, c + j0, n); });
}

// ...or, with enough rows, by rows (each thread reads all of w once, which at large M costs
// less than every thread re-reading and re-packing all of x).
constexpr int64_t kSplitRowsMinRowsPerThread = 32;

void gemm_split_rows(GemmU8S8 kernel, int64_t m, int64_t n, int64_t k, const uint8_t* a,
                     const int8_t* w, int32_t* c) {
  parallel_split(m, 1, [&](int64_t r0, int64_t r1) {
    kernel(r1 - r0, n, k, a + r0 * k, k, w, k, c + r0 * n, n);
  });
}

}  // namespace

std::string_view int8_gemm_name(Int8Gemm g) {
  switch (g) {
    case Int8Gemm::kAuto:
      return "auto";
    case Int8Gemm::kScalar:
      return "scalar";
    case Int8Gemm::kAvx2:
      return "avx2";
    case Int8Gemm::kDnnl:
      return "dnnl";
    case Int8Gemm::kPackedDnnl:
      return "packed_dnnl";
    case Int8Gemm::kPackedVnni:
      return "packed_vnni";
  }
  return "?";
}

Int8Gemm select_int8_gemm(int64_t /*m*/, int64_t /*n*/, int64_t /*k*/) {
  // docs/gemm.md (int8 section): on a Zen 4 with VNNI oneDNN beat our AVX2 kernel in 47 of 48
  // encoder-shape cells. Our kernel stays as the measured alternative (bench_gemm_int8) and
  // slots in here per shape where it wins.
  return Int8Gemm::kDnnl;
}

void linear_int8(const float* x, int64_t m, int64_t k, int64_t ldx, const ops::Int8Weights& w,
                 const float* bias, int64_t n, float* y, int64_t ldy, Activation act,
                 const kernels::PackedGemmDnnl* packed, Int8Gemm g) {
  EMBER_CHECK(m >= 0 && k > 0 && n > 0, ErrorKind::kInternal, "linear_int8: bad shape m=", m,
              " k=", k, " n=", n);
  EMBER_CHECK(ldx >= k && ldy >= n, ErrorKind::kInternal, "linear_int8: row stride too small");
  // A null w.w: released unpacked weights (CpuLinear::release_source), the packed ones serve.
  EMBER_CHECK((w.w || packed) && w.scale && w.col_sum, ErrorKind::kInternal,
              "linear_int8: null weights");
  EMBER_CHECK(w.act_max == 127 || w.act_max == 255, ErrorKind::kInternal, "linear_int8: act_max ",
              w.act_max);
  if (m == 0) return;
  EMBER_CHECK(x != nullptr && y != nullptr, ErrorKind::kInternal, "linear_int8: null x or y");
  const detail::RowEpilogue epilogue = detail::row_epilogue(act, bias != nullptr);
  const bool avx2 = detail::use_avx2();
  const bool prof = profile::enabled();
  profile::Scope scope(
      prof ? detail::linear_profile_label("linear_int8", m, k, n, act) : std::string(), prof);

  Scratch& s = scratch();
  s.xq.resize(static_cast<size_t>(m * k));
  s.row.resize(static_cast<size_t>(m));
  uint8_t* xq = s.xq.data();
  kernels::RowQuant* rq = s.row.data();

  {
    // Nested in the Linear's label: what quantizing the activations costs of it.
    const profile::Scope quantize_scope("linear_int8: quantize x");
    parallel_for(m, detail::row_grain(k), [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i)
        rq[i] =
            avx2 ? kernels::quantize_row_u8_avx2(x + i * ldx, k, w.act_max, xq + i * k, w.act_scale)
                 : kernels::quantize_row_u8_scalar(x + i * ldx, k, w.act_max, xq + i * k,
                                                   w.act_scale);
    });
  }

  const bool forced_packed = g == Int8Gemm::kPackedDnnl || g == Int8Gemm::kPackedVnni;
  EMBER_CHECK(packed || !forced_packed, ErrorKind::kInternal, "linear_int8: ", int8_gemm_name(g),
              " without packed weights");
  EMBER_CHECK(w.w || g == Int8Gemm::kAuto || forced_packed, ErrorKind::kInternal,
              "linear_int8: ", int8_gemm_name(g), " without unpacked weights");
  // One row also takes the packed weights where the VNNI panel kernel runs it (run_slice's
  // kInt8PanelMaxRows): streaming the packed panels was 1.4-1.9x dnnl_gemm_u8s8s32 on the
  // [N, K] weights on 7 of the 8 encoder shapes, 0.9x on 768 x 3072 (docs/gemm.md, "int8 GEMM").
  const bool packed_one_row = m == 1 && packed && packed->panel_max_rows() > 0 &&
                              packed->type() == kernels::PackedGemmDnnl::Type::kU8S8 &&
                              int8_vnni_supported();
  if (packed && (forced_packed || !w.w ||
                 (g == Int8Gemm::kAuto && (detail::use_packed(packed, m) || packed_one_row)))) {
    using Kernel = kernels::PackedGemmDnnl::Kernel;
    const Kernel kernel = g == Int8Gemm::kPackedDnnl   ? Kernel::kDnnl
                          : g == Int8Gemm::kPackedVnni ? Kernel::kPanel
                                                       : Kernel::kAuto;
    EMBER_CHECK(packed->type() == kernels::PackedGemmDnnl::Type::kU8S8 && packed->n() == n &&
                    packed->k() == k,
                ErrorKind::kInternal, "linear_int8: packed weights do not match ", n, "x", k);
    // Each row block of int32 sums is dequantized (+ epilogue) while in cache.
    detail::packed_gemm_rows<int32_t>(
        *packed, m, xq,
        [&](int64_t i, const int32_t* row, int64_t c0, int64_t nc) {
          float* yi = y + i * ldy + c0;
          if (avx2)
            kernels::dequantize_row_s32_avx2(row, nc, rq[i], w.scale + c0, w.col_sum + c0, yi);
          else
            kernels::dequantize_row_s32_scalar(row, nc, rq[i], w.scale + c0, w.col_sum + c0, yi);
          if (epilogue) epilogue(yi, bias ? bias + c0 : nullptr, nc);
        },
        kernel);
    return;
  }
  if (g == Int8Gemm::kAuto) g = select_int8_gemm(m, n, k);
  if (g == Int8Gemm::kAvx2 && !avx2) g = Int8Gemm::kScalar;
  s.acc.resize(static_cast<size_t>(m * n));
  int32_t* acc = s.acc.data();
  switch (g) {
    case Int8Gemm::kDnnl:
      if (m >= kSplitRowsMinRowsPerThread * num_threads())
        gemm_split_rows(kernels::gemm_u8s8s32_dnnl, m, n, k, xq, w.w, acc);
      else
        gemm_split_n(kernels::gemm_u8s8s32_dnnl, m, n, k, xq, w.w, acc);
      break;
    case Int8Gemm::kAvx2:
      gemm_split_n(kernels::gemm_u8s8s32_avx2_4x2, m, n, k, xq, w.w, acc);
      break;
    default:
      gemm_split_n(kernels::gemm_u8s8s32_scalar, m, n, k, xq, w.w, acc);
      break;
  }

  parallel_for(m, detail::row_grain(n), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      float* yi = y + i * ldy;
      if (avx2)
        kernels::dequantize_row_s32_avx2(acc + i * n, n, rq[i], w.scale, w.col_sum, yi);
      else
        kernels::dequantize_row_s32_scalar(acc + i * n, n, rq[i], w.scale, w.col_sum, yi);
      if (epilogue) epilogue(yi, bias, n);
    }
  });
}

}  // namespace ember::cpu
