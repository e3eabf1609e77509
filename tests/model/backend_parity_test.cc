// Model by model, the same model code on the reference backend (plain loops) and on the CPU
// backend: both against the Hugging Face reference and against each other, and a packed batch
// on the reference backend equal to its sequences alone. The reference backend is slow, so the
// real checkpoints run a subset of the inputs (all of them on the tiny models).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>

#include "model/reference.h"
#include "runtime/engine.h"

namespace ember {
namespace {

using testing::Reference;

constexpr float kTol = 1e-4f;         // against Hugging Face, as tests/model/parity_test.cc
constexpr float kBackendTol = 2e-5f;  // reference backend vs CPU backend
constexpr size_t kInputsOnRealModels = 8;

float max_abs_diff(const std::vector<float>& a, const float* b) {
  float m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::fabs(a[i] - b[i]));
  return m;
}

class BackendParity : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    ref_ = std::make_unique<Reference>(Reference::load(GetParam()));
    runtime::EngineOptions o;
    o.backend = "reference";
    slow_ = runtime::Engine::load(ref_->model, o);
    fast_ = runtime::Engine::load(ref_->model);
    ASSERT_EQ(slow_->info().backend, "reference");
    const int64_t h = slow_->spec().hidden_size;
    const size_t n = h >= 768   ? kInputsOnRealModels / 2
                     : h >= 256 ? kInputsOnRealModels
                                : ref_->texts.size();
    inputs_ = std::min(ref_->texts.size(), n);
  }
  model::Batch batch(size_t i) const {
    model::Batch b;
    b.add(ref_->ints(cat("ids.", i)), ref_->ints(cat("type_ids.", i)));
    return b;
  }
  unsigned outputs() const {
    switch (slow_->spec().head) {
      case model::HeadKind::kSequenceClassification:
        return runtime::kHidden | runtime::kPooled | runtime::kSeqLogits;
      case model::HeadKind::kTokenClassification:
        return runtime::kHidden | runtime::kPooled | runtime::kTokenLogits;
      case model::HeadKind::kMaskedLm:
      case model::HeadKind::kNone:
        break;
    }
    return runtime::kHidden | runtime::kPooled;
  }

  std::unique_ptr<Reference> ref_;
  std::unique_ptr<runtime::Engine> slow_, fast_;
  size_t inputs_ = 0;
};

TEST_P(BackendParity, ReferenceBackendMatchesHuggingFaceAndTheCpuBackend) {
  const int64_t h = slow_->spec().hidden_size;
  const auto pooled = ref_->floats("pooled");
  for (size_t i = 0; i < inputs_; ++i) {
    const auto r = slow_->run(batch(i), outputs());
    const auto f = fast_->run(batch(i), outputs());
    const auto hidden = ref_->floats(cat("hidden.", i));
    ASSERT_EQ(r.hidden.size(), hidden.size());
    EXPECT_LE(max_abs_diff(r.hidden, hidden.data()), kTol) << "hidden, input " << i;
    EXPECT_LE(max_abs_diff(r.hidden, f.hidden.data()), kBackendTol) << "hidden vs cpu, " << i;
    EXPECT_LE(max_abs_diff(r.pooled, pooled.data() + i * h), kTol) << "pooled, input " << i;
    if (!r.seq_logits.empty()) {
      const auto logits = ref_->floats("logits");
      const size_t c = r.seq_logits.size();
      EXPECT_LE(max_abs_diff(r.seq_logits, logits.data() + i * c), kTol) << "logits, " << i;
      EXPECT_LE(max_abs_diff(r.seq_logits, f.seq_logits.data()), kBackendTol);
    }
    if (slow_->info().splade) {
      const auto rs = slow_->run(batch(i), runtime::kSparse);
      const auto fs = fast_->run(batch(i), runtime::kSparse);
      const auto sparse = ref_->floats("sparse");
      EXPECT_LE(max_abs_diff(rs.sparse, sparse.data() + i * rs.sparse.size()), kTol) << i;
      EXPECT_LE(max_abs_diff(rs.sparse, fs.sparse.data()), kBackendTol) << "sparse vs cpu " << i;
    }
    if (!r.token_logits.empty()) {
      const auto logits = ref_->floats(cat("token_logits.", i));
      EXPECT_LE(max_abs_diff(r.token_logits, logits.data()), kTol) << "token logits, " << i;
      EXPECT_LE(max_abs_diff(r.token_logits, f.token_logits.data()), kBackendTol);
    }
  }
}

TEST_P(BackendParity, PackedBatchEqualsEachSequenceOnTheReferenceBackend) {
  model::Batch all;
  for (size_t i = 0; i < inputs_; ++i)
    all.add(ref_->ints(cat("ids.", i)), ref_->ints(cat("type_ids.", i)));
  const auto batched = slow_->run(all, runtime::kHidden);
  const int64_t h = slow_->spec().hidden_size;
  for (size_t i = 0; i < inputs_; ++i) {
    const auto single = slow_->run(batch(i), runtime::kHidden);
    EXPECT_LE(max_abs_diff(single.hidden, batched.hidden.data() + all.seq_begin(i) * h), 1e-6f)
        << "input " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Models, BackendParity, ::testing::ValuesIn(testing::parity_models()),
                         [](const auto& p) { return testing::test_name(p.param); });

}  // namespace
}  // namespace ember
