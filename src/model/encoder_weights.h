// Pointers to every F32 weight the forward pass and the heads use, bound once at load.
// Linear weights are [out, in] (PyTorch's layout). Q, K and V are fused into one [3H, H]
// matrix so that one GEMM produces them.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/aligned_buffer.h"
#include "kernels/cpu/packed_gemm_dnnl.h"
#include "ops/linear_int8.h"
#include "ops/ops.h"

namespace ember::model {

struct LinearWeights {
  const float* w = nullptr;  // [out, in]; null when the layer is int8
  const float* b = nullptr;  // [out] or null
  int64_t out = 0;
  int64_t in = 0;
  ops::Int8Weights q;  // int8 models (model/int8_weights.h): q.w != null instead of w
  // w packed at load (Encoder::pack_weights), or null; int8 layers keep theirs in q.packed.
  const kernels::PackedGemmDnnl* packed = nullptr;
  bool is_int8() const { return q.w != nullptr; }
};

struct LayerNormWeights {
  const float* gamma = nullptr;
  const float* beta = nullptr;
};

struct LayerWeights {
  LinearWeights qkv;  // fused [3H, H]
  LinearWeights attn_out;
  LayerNormWeights attn_ln;
  LinearWeights ffn_in;
  LinearWeights ffn_out;
  LayerNormWeights ffn_ln;
};

struct EmbeddingWeights {
  const float* word = nullptr;        // [vocab, E]
  const float* position = nullptr;    // [max_positions, E]
  const float* token_type = nullptr;  // [type_vocab, E] or null
  LayerNormWeights ln;
  LinearWeights project;  // ELECTRA: [H, E]; w == null otherwise
};

// Sequence classification: logits = out(act(dense(hidden[first token]))). BERT's pooler,
// RoBERTa's and ELECTRA's classification heads and DistilBERT's pre_classifier all have
// this shape; they differ in names and activation only.
struct SequenceClassifierWeights {
  LinearWeights dense;
  ops::Activation act = ops::Activation::kTanh;
  LinearWeights out;
};

struct EncoderWeights {
  EmbeddingWeights embeddings;
  std::vector<LayerWeights> layers;
  SequenceClassifierWeights seq_classifier;       // when config.head == kSequenceClassification
  LinearWeights token_classifier;                 // when config.head == kTokenClassification
  std::vector<AlignedBuffer<float>> owned;        // the fused QKV matrices
  std::vector<AlignedBuffer<int8_t>> owned_i8;    // int8 models: fused QKV
  std::vector<AlignedBuffer<int32_t>> owned_i32;  // int8 models: weight column sums
  std::string quantization;                       // "" (float) or "int8-dynamic"
  std::vector<std::unique_ptr<kernels::PackedGemmDnnl>> packed;  // Encoder::pack_weights
};

}  // namespace ember::model
