// The reference backend: every op as the plain loops of its definition, on one thread, with
// sums in double. It shares no code with the CPU backend's kernels, so that running the same
// model code on both (tests/backends) checks the kernels, the dispatch and the seam at once,
// op by op and model by model. Slow by design; never a serving choice.
#pragma once

#include <memory>
#include <string>

#include "ops/backend.h"

namespace ember::reference {

class ReferenceBackend final : public ops::Backend {
 public:
  std::string name() const override { return "reference"; }
  int threads() const override { return 1; }
  bool bf16_native() const override { return true; }  // bf16 Linears as their definition

  std::unique_ptr<ops::Linear> prepare_linear(const ops::LinearSource& src) override;
  std::unique_ptr<ops::Weight> prepare_weight(const float* host, int64_t numel) override;
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
};

// act(v) by its definition, in double (the reference for every activation kernel).
double activate(ops::Activation act, double v);

}  // namespace ember::reference
