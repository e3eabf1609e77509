// The CPU backend: our SIMD kernels and oneDNN on host memory, computing on a thread pool of its
// own. Linear weights are packed once at prepare time for oneDNN's matmul (one column slice
// per thread) where the ISA allows it; everything else is used in place, from the model's
// mmap.
#pragma once

#include <memory>
#include <string>

#include "core/cpu_features.h"
#include "core/thread_pool.h"
#include "ops/backend.h"

namespace ember::cpu {

struct CpuBackendOptions {
  ThreadPoolOptions pool;
  // Pack Linear weights for oneDNN's matmul (faster from 2 rows up; the packed copy takes the
  // place of the unpacked weights in memory: their pages are handed back, or the model frees
  // them after ops::Linear::release_source).
  bool pack_weights = true;
  // Attention of bf16 models (ops::AttentionArgs::bf16) in bf16 where the CPU has
  // avx512_bf16; false keeps it fp32 (docs/bf16.md).
  bool bf16_attention = true;
};

class CpuBackend final : public ops::Backend {
 public:
  explicit CpuBackend(const CpuBackendOptions& options = {});

  std::string name() const override { return "cpu"; }
  int threads() const override { return pool_.size(); }
  ThreadPool& pool() { return pool_; }

  std::unique_ptr<ops::Linear> prepare_linear(const ops::LinearSource& src) override;
  std::unique_ptr<ops::Weight> prepare_weight(const float* host, int64_t numel) override;
  int64_t prepared_bytes() const override { return packed_bytes_; }
  bool bf16_native() const override { return bf16_gemm_supported(); }
  bool widened_bf16() const override { return widened_bf16_; }
  std::unique_ptr<ops::Buffer> alloc(int64_t floats) override;

 protected:
  void do_to_host(const ops::View& src, float* dst) const override;
  void do_embed(const ops::EmbedArgs& a, const ops::View& out) override;
  void do_linear(const ops::Linear& w, const ops::View& x, const ops::View& y,
                 ops::Activation act) override;
  void do_norm(const ops::View& x, const ops::View* residual, const ops::View& y,
               const ops::NormArgs& a) override;
  void do_add(const ops::View& x, const ops::View& y) override;
  void do_rotary(const ops::View& x, const ops::RotaryArgs& a) override;
  void do_attention(const ops::View& q, const ops::View& k, const ops::View& v,
                    const ops::SeqLayout& seqs, const ops::AttentionArgs& a,
                    const ops::View& out) override;
  void do_disentangled_attention(const ops::View& q, const ops::View& k, const ops::View& v,
                                 const ops::View& pos_query, const ops::View& pos_key,
                                 const ops::SeqLayout& seqs,
                                 const ops::DisentangledAttentionArgs& a,
                                 const ops::View& out) override;
  void do_gated(const ops::View& x, const ops::View& out, ops::Activation act) override;
  void do_activation(const ops::View& x, ops::Activation act) override;
  void do_gather_rows(const ops::View& x, const int32_t* rows, const ops::View& out) override;
  void do_pool(const ops::View& hidden, const ops::SeqLayout& seqs, ops::PoolMode mode,
               bool normalize, const ops::View& out) override;
  void do_sparse_pool(const ops::View& logits, const ops::SeqLayout& seqs,
                      const ops::SparsePoolArgs& a, const ops::View& out) override;

 private:
  ThreadPool pool_;
  bool pack_weights_;
  bool bf16_attention_;
  int64_t packed_bytes_ = 0;
  bool widened_bf16_ = false;
};

}  // namespace ember::cpu
