// Parity with the Hugging Face stack (transformers / sentence-transformers / onnxruntime) on
// every reference model, and batched == single. The references are committed fixtures made
// by scripts/make_reference.py; a missing fixture or model fails, it is never skipped.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>

#include "model/reference.h"
#include "runtime/engine.h"

namespace ember {
namespace {

using testing::Reference;

constexpr float kHiddenTol = 1e-4f;     // last hidden state, max |diff|
constexpr float kLogitTol = 1e-4f;      // classification logits, max |diff|
constexpr double kMinCosine = 0.99999;  // pooled embeddings
// Batched vs single, max |diff|: row counts pick different GEMM kernels and blockings, whose
// float rounding differs; 12-layer base models (all-mpnet-base-v2) reach ~4e-5.
constexpr float kBatchTol = 5e-5f;

float max_abs_diff(const float* a, const float* b, size_t n) {
  float m = 0;
  for (size_t i = 0; i < n; ++i) m = std::max(m, std::fabs(a[i] - b[i]));
  return m;
}

double cosine(const float* a, const float* b, int64_t n) {
  double ab = 0, aa = 0, bb = 0;
  for (int64_t i = 0; i < n; ++i) {
    ab += double(a[i]) * b[i];
    aa += double(a[i]) * a[i];
    bb += double(b[i]) * b[i];
  }
  return ab / std::sqrt(aa * bb);
}

class Parity : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    ref_ = std::make_unique<Reference>(Reference::load(GetParam()));
    engine_ = runtime::Engine::load(ref_->model);
    ASSERT_EQ(engine_->info().max_length, ref_->inputs["max_length"].get<int64_t>())
        << "Ember's length rule disagrees with the reference";
  }
  // The reference's own token ids for input i, as a one-sequence batch.
  model::Batch ref_batch(size_t i) const {
    model::Batch b;
    b.add(ref_->ints(cat("ids.", i)), ref_->ints(cat("type_ids.", i)));
    return b;
  }
  unsigned head_outputs() const {
    switch (engine_->spec().head) {
      case model::HeadKind::kSequenceClassification:
        return runtime::kSeqLogits;
      case model::HeadKind::kTokenClassification:
        return runtime::kTokenLogits;
      case model::HeadKind::kMaskedLm:
      case model::HeadKind::kNone:
        return 0;
    }
    return 0;
  }

  std::unique_ptr<Reference> ref_;
  std::unique_ptr<runtime::Engine> engine_;
};

TEST_P(Parity, HasAtLeast60Inputs) {
  EXPECT_GE(ref_->texts.size(), 60u);
}

TEST_P(Parity, TokenizerMatchesReferenceIds) {
  size_t mismatches = 0;
  for (size_t i = 0; i < ref_->texts.size(); ++i) {
    const auto enc = engine_->tokenize(ref_->texts[i]);
    const auto ids = ref_->ints(cat("ids.", i));
    const auto types = ref_->ints(cat("type_ids.", i));
    if (enc.ids != ids || enc.type_ids != types) {
      ++mismatches;
      ADD_FAILURE() << "input " << i << " tokenizes differently: ember " << enc.ids.size()
                    << " tokens, reference " << ids.size();
    }
  }
  EXPECT_EQ(mismatches, 0u);
}

// Wide models keep the hidden states of a subset of the texts (the pooled ones of all).
TEST_P(Parity, LastHiddenStateMatches) {
  const int64_t h = engine_->spec().hidden_size;
  float worst = 0;
  size_t checked = 0;
  for (size_t i = 0; i < ref_->texts.size(); ++i) {
    if (!ref_->has(cat("hidden.", i))) continue;
    ++checked;
    const auto r = engine_->run(ref_batch(i), runtime::kHidden);
    const auto expected = ref_->floats(cat("hidden.", i));
    ASSERT_EQ(r.hidden.size(), expected.size()) << "input " << i;
    const float d = max_abs_diff(r.hidden.data(), expected.data(), expected.size());
    EXPECT_LE(d, kHiddenTol) << "input " << i << " (" << expected.size() / h << " tokens)";
    worst = std::max(worst, d);
  }
  EXPECT_GE(checked, 20u);
  RecordProperty("max_abs_diff", std::to_string(worst));
}

TEST_P(Parity, PooledEmbeddingsMatch) {
  const int64_t h = engine_->spec().hidden_size;
  const auto expected = ref_->floats("pooled");
  ASSERT_EQ(expected.size(), ref_->texts.size() * h);
  for (size_t i = 0; i < ref_->texts.size(); ++i) {
    const auto r = engine_->run(ref_batch(i), runtime::kPooled);
    EXPECT_GE(cosine(r.pooled.data(), expected.data() + i * h, h), kMinCosine) << "input " << i;
    EXPECT_LE(max_abs_diff(r.pooled.data(), expected.data() + i * h, h), kHiddenTol)
        << "input " << i;
  }
}

TEST_P(Parity, ClassificationLogitsMatch) {
  const unsigned outputs = head_outputs();
  if (outputs == 0) {
    EXPECT_FALSE(ref_->has("logits") || ref_->has("token_logits.0"))
        << "reference has logits but Ember found no head";
    return;
  }
  const int64_t c = static_cast<int64_t>(engine_->spec().labels.size());
  for (size_t i = 0; i < ref_->texts.size(); ++i) {
    const auto r = engine_->run(ref_batch(i), outputs);
    if (outputs == runtime::kSeqLogits) {
      const auto all = ref_->floats("logits");
      ASSERT_EQ(all.size(), ref_->texts.size() * c);
      EXPECT_LE(max_abs_diff(r.seq_logits.data(), all.data() + i * c, c), kLogitTol)
          << "input " << i;
    } else {
      const auto expected = ref_->floats(cat("token_logits.", i));
      ASSERT_EQ(r.token_logits.size(), expected.size());
      EXPECT_LE(max_abs_diff(r.token_logits.data(), expected.data(), expected.size()), kLogitTol)
          << "input " << i;
    }
  }
}

// Sentence pairs (cross-encoder / NLI style): the tokenizer's pair template and the logits.
TEST_P(Parity, SentencePairsMatch) {
  if (!ref_->inputs.contains("pairs")) {
    EXPECT_FALSE(ref_->has("pair_logits")) << "reference has pair logits but no pairs";
    return;
  }
  const auto pairs = ref_->inputs["pairs"];
  ASSERT_GT(pairs.size(), 0u);
  const auto expected = ref_->floats("pair_logits");
  const int64_t c = static_cast<int64_t>(engine_->spec().labels.size());
  ASSERT_EQ(expected.size(), pairs.size() * c);
  std::vector<tok::Encoding> encs;
  for (size_t j = 0; j < pairs.size(); ++j) {
    const auto enc =
        engine_->tokenize_pair(pairs[j][0].get<std::string>(), pairs[j][1].get<std::string>());
    EXPECT_EQ(enc.ids, ref_->ints(cat("pair_ids.", j))) << "pair " << j;
    EXPECT_EQ(enc.type_ids, ref_->ints(cat("pair_type_ids.", j))) << "pair " << j;
    encs.push_back(enc);
  }
  const auto r = engine_->run(runtime::Engine::pack(encs), runtime::kSeqLogits);
  EXPECT_LE(max_abs_diff(r.seq_logits.data(), expected.data(), expected.size()), kLogitTol);
}

// SPLADE: the sparse vectors of sentence-transformers' SparseEncoder, alone and batched.
TEST_P(Parity, SparseVectorsMatch) {
  if (!engine_->info().splade) {
    EXPECT_FALSE(ref_->has("sparse")) << "reference has sparse vectors but Ember found no SPLADE";
    return;
  }
  const auto expected = ref_->floats("sparse");
  const size_t v = expected.size() / ref_->texts.size();
  model::Batch all;
  size_t nonzero = 0;
  for (size_t i = 0; i < ref_->texts.size(); ++i) {
    const auto r = engine_->run(ref_batch(i), runtime::kSparse);
    ASSERT_EQ(r.sparse.size(), v);
    EXPECT_LE(max_abs_diff(r.sparse.data(), expected.data() + i * v, v), kLogitTol)
        << "input " << i;
    for (float x : r.sparse) nonzero += x != 0.0f;
    all.add(ref_->ints(cat("ids.", i)), ref_->ints(cat("type_ids.", i)));
  }
  EXPECT_GT(nonzero, 0u);
  const auto batched = engine_->run(all, runtime::kSparse);
  EXPECT_LE(max_abs_diff(batched.sparse.data(), expected.data(), expected.size()), kLogitTol);
}

// All inputs in one packed batch give what each gives alone.
TEST_P(Parity, BatchedEqualsSingle) {
  const int64_t h = engine_->spec().hidden_size;
  model::Batch all;
  for (size_t i = 0; i < ref_->texts.size(); ++i)
    all.add(ref_->ints(cat("ids.", i)), ref_->ints(cat("type_ids.", i)));
  const unsigned outputs = runtime::kHidden | runtime::kPooled | head_outputs();
  const auto batched = engine_->run(all, outputs);
  const int64_t c = batched.num_labels;
  for (size_t i = 0; i < ref_->texts.size(); ++i) {
    const auto single = engine_->run(ref_batch(i), outputs);
    const int64_t begin = all.seq_begin(i), len = all.seq_len(i);
    EXPECT_LE(max_abs_diff(single.hidden.data(), batched.hidden.data() + begin * h, len * h),
              kBatchTol)
        << "hidden, input " << i;
    EXPECT_LE(max_abs_diff(single.pooled.data(), batched.pooled.data() + i * h, h), kBatchTol)
        << "pooled, input " << i;
    if (!single.seq_logits.empty()) {
      EXPECT_LE(max_abs_diff(single.seq_logits.data(), batched.seq_logits.data() + i * c, c),
                kBatchTol);
    }
    if (!single.token_logits.empty()) {
      EXPECT_LE(max_abs_diff(single.token_logits.data(), batched.token_logits.data() + begin * c,
                             len * c),
                kBatchTol);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Models, Parity, ::testing::ValuesIn(testing::parity_models()),
                         [](const auto& p) { return testing::test_name(p.param); });

}  // namespace
}  // namespace ember
