// CpuBackend: prepared weights, memory, and the ops that wrap cpu_ops.h. Every op runs on the
// backend's own pool (PoolScope), so that engines with backends of their own compute side by
// side without sharing threads.
#include "backends/cpu/cpu_backend.h"

#include <algorithm>
#include <cstring>

#include "backends/cpu/cpu_ops.h"
#include "backends/cpu/linear_bf16_cpu.h"
#include "backends/cpu/linear_int8_cpu.h"
#include "core/aligned_buffer.h"
#include "core/cpu_features.h"
#include "core/dtype.h"
#include "core/error.h"
#include "core/page_out.h"
#include "core/parallel.h"
#include "kernels/cpu/packed_gemm_dnnl.h"

namespace ember::cpu {
namespace {

class CpuLinear final : public ops::Linear {
 public:
  // `src` as it runs: widened to fp32 when `widened` holds its bf16 weights.
  CpuLinear(const ops::LinearSource& src, std::unique_ptr<kernels::PackedGemmDnnl> packed,
            AlignedBuffer<float> widened = {})
      : Linear(src),
        src_(src),
        bf16_(src.is_bf16()),
        packed_(std::move(packed)),
        widened_(std::move(widened)) {}
  const ops::LinearSource& src() const { return src_; }
  bool bf16() const { return bf16_; }
  const kernels::PackedGemmDnnl* packed() const { return packed_.get(); }

  // Packed weights serve every row count and stride (cpu::linear and linear_int8 take them
  // when the matrix is null); a widened bf16 Linear reads its own fp32 copy, never the source.
  bool release_source() override {
    if (widened_.size() > 0) return true;
    if (!packed_) return false;
    src_.w = nullptr;
    src_.w_bf16 = nullptr;
    src_.q.w = nullptr;
    return true;
  }

 private:
  ops::LinearSource src_;
  bool bf16_;  // src_ alone cannot say once its matrix is released
  std::unique_ptr<kernels::PackedGemmDnnl> packed_;
  AlignedBuffer<float> widened_;  // bf16 weights as fp32, on CPUs without avx512_bf16
};

class CpuBuffer final : public ops::Buffer {
 public:
  explicit CpuBuffer(AlignedBuffer<float> storage)
      : Buffer(storage.data(), static_cast<int64_t>(storage.size())),
        storage_(std::move(storage)) {}

 private:
  AlignedBuffer<float> storage_;
};

// The packed copy is what the GEMM reads from 2 rows up (all of it for bf16): the source
// weights' pages go back to the kernel, so that a model does not hold its Linears twice. A
// source in a file mapping (safetensors) is read again from the file where a one-row product
// or a test's forced unpacked GEMM touches it; its values never change. An owned source (a
// fused projection) only goes to swap, if any: the model frees it after release_source().
void page_out_source(const ops::LinearSource& src) {
  page_out(src.weight_data(), src.weight_bytes());
}

const CpuLinear& cpu_linear(const ops::Linear& w) {
  const auto* l = dynamic_cast<const CpuLinear*>(&w);
  EMBER_CHECK(l != nullptr, ErrorKind::kInternal, "a Linear prepared by another backend");
  return *l;
}

}  // namespace

CpuBackend::CpuBackend(const CpuBackendOptions& options)
    : pool_(options.pool),
      pack_weights_(options.pack_weights),
      bf16_attention_(options.bf16_attention) {}

std::unique_ptr<ops::Linear> CpuBackend::prepare_linear(const ops::LinearSource& src) {
  EMBER_CHECK(src.out > 0 && src.in > 0 && (src.w || src.is_bf16() || src.is_int8()),
              ErrorKind::kInternal, "prepare_linear: no weights or shape ", src.out, "x", src.in);
  std::unique_ptr<kernels::PackedGemmDnnl> packed;
  if (src.is_bf16() && bf16_gemm_supported()) {
    // Always packed: oneDNN's bf16 matmul is the one bf16 GEMM, and the packed copy replaces
    // the fp32 one the model would otherwise need.
    packed = kernels::PackedGemmDnnl::pack_bf16(src.w_bf16, src.out, src.in, threads());
    packed_bytes_ += packed->packed_bytes();
    page_out_source(src);
    return std::make_unique<CpuLinear>(src, std::move(packed));
  }
  ops::LinearSource s = src;
  AlignedBuffer<float> widened;
  if (src.is_bf16()) {
    // No bf16 GEMM on this CPU (or EMBER_ISA below avx512): fp32 weights, exactly the bf16
    // values, and the fp32 path from here on.
    widened.resize(static_cast<size_t>(src.out * src.in));
    for (int64_t i = 0; i < src.out * src.in; ++i) widened[i] = bf16_to_float(src.w_bf16[i]);
    s.w = widened.data();
    s.w_bf16 = nullptr;
    widened_bf16_ = true;
  }
  if (pack_weights_ && active_isa() >= Isa::kAvx2) {
    packed = s.is_int8() ? kernels::PackedGemmDnnl::pack_s8(s.q.w, s.out, s.in, threads())
                         : kernels::PackedGemmDnnl::pack_f32(s.w, s.out, s.in, threads());
    packed_bytes_ += packed->packed_bytes();
    page_out_source(src);
  }
  return std::make_unique<CpuLinear>(s, std::move(packed), std::move(widened));
}

std::unique_ptr<ops::Weight> CpuBackend::prepare_weight(const float* host, int64_t numel) {
  EMBER_CHECK(host != nullptr && numel > 0, ErrorKind::kInternal, "prepare_weight: no data");
  return std::make_unique<ops::HostWeight>(host, numel);
}

std::unique_ptr<ops::Buffer> CpuBackend::alloc(int64_t floats) {
  return std::make_unique<CpuBuffer>(AlignedBuffer<float>(static_cast<size_t>(floats)));
}

void CpuBackend::do_to_host(const ops::View& src, float* dst) const {
  for (int64_t i = 0; i < src.rows; ++i)
    std::memcpy(dst + i * src.cols, src.data + i * src.ld, sizeof(float) * src.cols);
}

void CpuBackend::do_linear(const ops::Linear& w, const ops::View& x, const ops::View& y,
                           ops::Activation act) {
  const PoolScope scope(pool_);
  const CpuLinear& l = cpu_linear(w);
  const ops::LinearSource& s = l.src();
  if (l.is_int8())
    cpu::linear_int8(x.data, x.rows, s.in, x.ld, s.q, s.b, s.out, y.data, y.ld, act, l.packed());
  else if (l.bf16())
    cpu::linear_bf16(x.data, x.rows, s.in, x.ld, *l.packed(), s.b, s.out, y.data, y.ld, act);
  else
    cpu::linear(x.data, x.rows, s.in, x.ld, s.w, s.b, s.out, y.data, y.ld, act, l.packed());
}

void CpuBackend::do_norm(const ops::View& x, const ops::View* residual, const ops::View& y,
                         const ops::NormArgs& a) {
  const PoolScope scope(pool_);
  // The kernels work in place on rows sharing one stride: bring x (+ residual) into y first
  // when they differ.
  const float* r = residual ? residual->data : nullptr;
  if (y.data != x.data || (residual && residual->ld != y.ld)) {
    parallel_for(y.rows, 64, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        float* yi = y.data + i * y.ld;
        const float* xi = x.data + i * x.ld;
        if (residual) {
          const float* ri = residual->data + i * residual->ld;
          for (int64_t j = 0; j < y.cols; ++j) yi[j] = xi[j] + ri[j];
        } else if (yi != xi) {
          std::memcpy(yi, xi, sizeof(float) * y.cols);
        }
      }
    });
    r = nullptr;
  }
  const float* gamma = ops::host_data(a.gamma);
  const float* beta = ops::host_data(a.beta);
  const int64_t group = a.group > 0 ? a.group : y.cols;
  if (a.kind == ops::NormKind::kLayerNorm) {
    EMBER_CHECK(group == y.cols, ErrorKind::kInternal, "LayerNorm over groups is not supported");
    add_layer_norm(y.data, r, y.rows, y.cols, gamma, beta, a.eps, y.ld);
  } else {
    add_rms_norm(y.data, r, y.rows, y.cols, group, gamma, beta, a.eps, y.ld);
  }
}

void CpuBackend::do_attention(const ops::View& q, const ops::View& k, const ops::View& v,
                              const ops::SeqLayout& seqs, const ops::AttentionArgs& a,
                              const ops::View& out) {
  const PoolScope scope(pool_);
  ops::AttentionArgs args = a;
  args.bf16 = a.bf16 && bf16_attention_;
  cpu::attention(q.data, q.ld, k.data, k.ld, v.data, v.ld, seqs.cu_seqlens, seqs.sequences, args,
                 out.data, out.ld);
}

void CpuBackend::do_disentangled_attention(const ops::View& q, const ops::View& k,
                                           const ops::View& v, const ops::View& pos_query,
                                           const ops::View& pos_key, const ops::SeqLayout& seqs,
                                           const ops::DisentangledAttentionArgs& a,
                                           const ops::View& out) {
  const PoolScope scope(pool_);
  cpu::disentangled_attention(q.data, q.ld, k.data, k.ld, v.data, v.ld, pos_query.data,
                              pos_query.ld, pos_key.data, pos_key.ld, seqs.cu_seqlens,
                              seqs.sequences, a, out.data, out.ld);
}

void CpuBackend::do_activation(const ops::View& x, ops::Activation act) {
  const PoolScope scope(pool_);
  if (x.dense()) {
    cpu::activation(x.data, x.rows, x.cols, act);
    return;
  }
  for (int64_t i = 0; i < x.rows; ++i) cpu::activation(x.data + i * x.ld, 1, x.cols, act);
}

}  // namespace ember::cpu
