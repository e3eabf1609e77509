// int8 kernels for dynamically quantized Linear layers (docs/quantization.md):
// activations quantized per row to unsigned bytes with a zero point, weights per output
// channel to signed bytes (symmetric), an integer GEMM, then dequantization.
// Every kernel computes on one thread; ops/linear_int8.cc splits the work and picks them.
#pragma once

#include <cstdint>

namespace ember::kernels {

// --- Integer GEMM: c[M, N] = a[M, K] (u8) * w[N, K]^T (s8), exact int32 sums --------------
// w is the Linear layout [N, K]. Leading dimensions are in elements.
// The scalar kernel is exact for all inputs.
void gemm_u8s8s32_scalar(int64_t m, int64_t n, int64_t k, const uint8_t* a, int64_t lda,
                         const int8_t* w, int64_t ldw, int32_t* c, int64_t ldc);
// AVX2, tiles of 4 rows x 2 weight rows (dot products along K, 32 bytes per step).
// `vpmaddubsw` adds the products of the byte pairs (k, k+1) into int16 with saturation, so the
// result is exact only when every |a[k] w[k] + a[k+1] w[k+1]| <= 32767 for even k: true for
// a <= 127 (u7 activations) or |w| <= 64 (7-bit weights). Outside that, each pair sum
// saturates to [-32768, 32767] (the K tail, K % 32, follows the same pairing rule).
void gemm_u8s8s32_avx2_4x2(int64_t m, int64_t n, int64_t k, const uint8_t* a, int64_t lda,
                           const int8_t* w, int64_t ldw, int32_t* c, int64_t ldc);
// oneDNN's dnnl_gemm_u8s8s32, single-threaded on the calling thread (ops/ threads the calls).
// On CPUs without VNNI oneDNN also multiplies with vpmaddubsw and may saturate like the AVX2
// kernel; with VNNI (vpdpbusd) it is exact. Throws Error(kInternal) if oneDNN fails.
void gemm_u8s8s32_dnnl(int64_t m, int64_t n, int64_t k, const uint8_t* a, int64_t lda,
                       const int8_t* w, int64_t ldw, int32_t* c, int64_t ldc);

// AVX-512 VNNI (vpdpbusd: four u8 x s8 products summed into each int32 lane, no int16 step),
// exact for all inputs, on weights packed by oneDNN for its VNNI brgemm (PackedGemmDnnl, layout
// "BA16a64b4a"): n / 64 panels of 64 columns (the last one zero-padded to 64), panel p at
// panels + p * 64 * kpad with kpad = k rounded up to 64 (zero-padded), and within a panel the
// bytes of k = 4g..4g+3 for column c at g * 256 + c * 4. panels must be 64-byte aligned.
// Tiles of up to 6 rows x 64 columns; c is written for columns < n only.
void gemm_u8s8s32_avx512vnni_6x64_panels(int64_t m, int64_t n, int64_t k, const uint8_t* a,
                                         int64_t lda, const int8_t* panels, int32_t* c,
                                         int64_t ldc);

// --- Dynamic per-row quantization ------------------------------------------------------------
// q[i] = clamp(round_half_even(x[i] / scale) + zero_point, 0, qmax) with the row range
// [min(x, 0), max(x, 0)] mapped onto [0, qmax]; qmax is 255 (u8) or 127 (u7). A row of zeros
// gets scale 1, zero point 0. Both ISAs give bit-identical q, scale and zero point.
// With col_scale [k] (smoothing, docs/quantization.md), the row quantized is x[i] * col_scale[i]
// (one float multiply, the same in both ISAs).
struct RowQuant {
  float scale;
  int32_t zero_point;
};
RowQuant quantize_row_u8_scalar(const float* x, int64_t k, int32_t qmax, uint8_t* q,
                                const float* col_scale = nullptr);
RowQuant quantize_row_u8_avx2(const float* x, int64_t k, int32_t qmax, uint8_t* q,
                              const float* col_scale = nullptr);

// --- Dequantization of one row -----------------------------------------------------------------
// y[j] = row.scale * w_scale[j] * float(c[j] - row.zero_point * col_sum[j]) for j < n, where
// col_sum[j] = sum_k w[j, k] (the zero-point correction).
void dequantize_row_s32_scalar(const int32_t* c, int64_t n, RowQuant row, const float* w_scale,
                               const int32_t* col_sum, float* y);
void dequantize_row_s32_avx2(const int32_t* c, int64_t n, RowQuant row, const float* w_scale,
                             const int32_t* col_sum, float* y);

}  // namespace ember::kernels
