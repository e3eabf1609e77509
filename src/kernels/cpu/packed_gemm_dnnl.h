// Linear weights reordered once, at load, into the blocked layout of oneDNN's matmul
// primitive (brgemm on AVX-512, its packed GEMM elsewhere), so that no call re-packs them:
// oneDNN's plain GEMM API (sgemm_f32_dnnl.cc, gemm_u8s8s32_dnnl.cc) packs the whole weight
// matrix on every call, which at 8-128 rows costs 10-50% of the GEMM (docs/gemm.md).
//
// The [N, K] matrix is cut into column slices (one per pool thread at pack time, widths a
// multiple of 64), each packed on its own, so that ops/ can run one slice per thread with a
// single-threaded primitive and no thread touches another's weights.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

namespace ember::kernels {

class PackedGemmDnnl {
 public:
  // f32 x f32 -> f32, u8 x s8 -> exact s32, or bf16 x bf16 -> f32 (fp32 accumulation; oneDNN's
  // avx512_core_bf16 brgemm, so only where core/cpu_features.h's bf16_gemm_supported()).
  enum class Type { kF32, kU8S8, kBF16 };

  // Rows handed to one primitive call: larger M is run in chunks of this many rows, which
  // bounds the number of distinct primitives (one per row count) that calls can create.
  static constexpr int64_t kMaxRows = 256;

  // w: [n, k] row-major (PyTorch's Linear layout), read only during the call. slices >= 1.
  // Throws Error(kInternal) if oneDNN cannot create or run the reorder.
  static std::unique_ptr<PackedGemmDnnl> pack_f32(const float* w, int64_t n, int64_t k,
                                                  int64_t slices);
  static std::unique_ptr<PackedGemmDnnl> pack_s8(const int8_t* w, int64_t n, int64_t k,
                                                 int64_t slices);
  // w: bfloat16 bits.
  static std::unique_ptr<PackedGemmDnnl> pack_bf16(const uint16_t* w, int64_t n, int64_t k,
                                                   int64_t slices);
  ~PackedGemmDnnl();
  PackedGemmDnnl(const PackedGemmDnnl&) = delete;
  PackedGemmDnnl& operator=(const PackedGemmDnnl&) = delete;

  Type type() const { return type_; }
  int64_t n() const { return n_; }
  int64_t k() const { return k_; }
  int64_t slices() const { return static_cast<int64_t>(begin_.size()); }
  int64_t slice_begin(int64_t s) const { return begin_[static_cast<size_t>(s)]; }
  int64_t slice_width(int64_t s) const { return width_[static_cast<size_t>(s)]; }
  int64_t packed_bytes() const;  // memory held by the packed copy

  // Which kernel run_slice runs: kAuto is the rule below; kDnnl forces oneDNN's primitive and
  // kPanel our panel kernel where the layout allows it (tests and bench_gemm_int8 compare them).
  enum class Kernel { kAuto, kDnnl, kPanel };

  // dst[m, slice_width(s)] (dense) = x[m, k] (dense: f32, u8 or bf16 by type) * slice_s^T,
  // f32 or s32 by type. 1 <= m <= kMaxRows. Single-threaded on the calling thread; concurrent calls
  // are safe. Throws Error(kInternal) if oneDNN fails.
  // Products of at most panel_max_rows() rows run on our own kernel over the same packed buffer
  // when oneDNN chose a 64-column panel layout and the CPU runs the kernel's ISA: fp32 on
  // sgemm_f32_avx512_6x64_panels (AVX-512), which streams the panels faster than brgemm at those
  // row counts; u8 x s8 on gemm_u8s8s32_avx512vnni_6x64_panels (AVX-512 VNNI).
  void run_slice(int64_t s, int64_t m, const void* x, void* dst,
                 Kernel kernel = Kernel::kAuto) const;

  // Rows up to which run_slice uses a panel kernel: 0 when the layout is not a panel one (AVX2
  // oneDNN, widths not a multiple of 64, fp32 K not a multiple of 16), else kPanelMaxRows
  // (fp32) or kInt8PanelMaxRows (u8 x s8). The ISA is checked per call.
  int64_t panel_max_rows() const { return panel_max_rows_; }
  // 48: with its prefetches spread over all row tiles of a block, the kernel beat brgemm on
  // whole forwards up to 32 rows by 1.1-1.2x and tied it at 48 and 64 (docs/gemm.md).
  static constexpr int64_t kPanelMaxRows = 48;
  // 1 (docs/gemm.md, "int8 GEMM"): from 2 rows on, brgemm (VNNI, 85-96% of the vpdpbusd peak)
  // kept pace with the VNNI panel kernel in forwards (single ops favoured the kernel at 8-16
  // rows, forwards did not), so brgemm keeps them; one row (which linear_int8 then runs on the
  // packed weights, 1.4-1.9x dnnl_gemm_u8s8s32 on the [N, K] weights) needs no primitive.
  static constexpr int64_t kInt8PanelMaxRows = 1;

 private:
  struct Slice;
  PackedGemmDnnl(Type type, int64_t n, int64_t k, int64_t slices);
  void pack(const void* w);

  Type type_;
  int64_t n_;
  int64_t k_;
  std::vector<int64_t> begin_;
  std::vector<int64_t> width_;
  std::vector<std::unique_ptr<Slice>> slice_;
  std::vector<const void*> panels_;  // per slice, when the packed layout is a panel one
  int64_t panel_max_rows_ = 0;
};

}  // namespace ember::kernels
