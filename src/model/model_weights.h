// The host weights of a model, laid out by its ModelSpec, as the architecture files bind them
// (pointers into the mapped checkpoint, or into buffers owned here: fused projections, int8
// column sums). Linear weights are [out, in] (PyTorch's layout). A backend prepares them once
// (model.cc); the forward pass reads only the prepared handles. A Linear's matrix that is a
// copy (a fused projection here, a conversion in the store) is freed once its backend holds a
// copy of its own that serves every call (prepare_model): its pointer is then null, its bias
// and int8 scales stay.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/aligned_buffer.h"
#include "ops/types.h"

namespace ember::model {

struct NormWeights {
  const float* gamma = nullptr;
  const float* beta = nullptr;  // null: no shift
};

struct LayerWeights {
  // Q, K and V fused into one [(heads + 2 kv_heads) * head_dim, hidden] projection so that one
  // GEMM produces them.
  ops::LinearSource qkv;
  ops::LinearSource attn_out;  // [hidden, heads * head_dim]
  NormWeights attn_norm;
  NormWeights q_norm, k_norm;  // [head_dim] each, with AttentionSpec::qk_norm
  ops::LinearSource ffn_in;    // [F, hidden], or [2F, hidden] for gated FFNs (act half first)
  ops::LinearSource ffn_out;   // [hidden, F]
  NormWeights ffn_norm;
  // MPNet pruned to different heads per layer: this layer's relative bias table [buckets,
  // heads]; null: the model's shared one.
  const float* relative_buckets = nullptr;
};

struct EmbeddingWeights {
  const float* word = nullptr;        // [vocab, E]
  const float* position = nullptr;    // [max_positions, E] or null
  const float* token_type = nullptr;  // [type_vocab, E] or null
  NormWeights norm;
  ops::LinearSource project;  // ELECTRA, DeBERTa: [H, E]
};

// Sequence classification: logits = out(norm(act(dense(pooled)))), pooled the first token's
// state or the sequence's mean (ModelSpec::head_pooling), the norm only with
// ModelSpec::head_norm. BERT's pooler, RoBERTa's and ELECTRA's classification heads and
// DistilBERT's pre_classifier have this shape without the norm; ModernBERT's head has the norm.
// Token classification: token_classifier on every token's state, after dense + act + norm
// when `dense` is bound (ModernBERT).
// Masked-LM: out(norm(act(dense(hidden)))) for every token, out being the vocabulary
// projection [vocab, hidden] (tied to the word embeddings in most checkpoints).
struct HeadWeights {
  ops::LinearSource dense;
  NormWeights norm;
  ops::LinearSource out;
  ops::LinearSource token_classifier;  // token classification: [labels, hidden]
};

struct ModelWeights {
  EmbeddingWeights embeddings;
  std::vector<LayerWeights> layers;
  NormWeights final_norm;
  const float* relative_buckets = nullptr;  // [buckets, heads] (MPNet), shared by the layers
  const float* relative_table = nullptr;    // [2 * span, hidden] (DeBERTa's rel_embeddings)
  NormWeights relative_norm;
  HeadWeights head;
  std::vector<AlignedBuffer<float>> owned;          // fused projections
  std::vector<AlignedBuffer<int8_t>> owned_i8;      // int8 models: fused projections
  std::vector<AlignedBuffer<int32_t>> owned_i32;    // int8 models: weight column sums
  std::vector<AlignedBuffer<uint16_t>> owned_bf16;  // bf16 Linears: fused projections
  std::string quantization;                         // "" (float) or "int8-dynamic"
  // int8 models: the encoder Linears that are not int8 ("layer.<i>.<kind>", int8_weights.h).
  std::vector<std::string> fp32_linears;

  // The memory fusing handed back. The parts' matrices as the store gave them (Model::load
  // frees those that are conversions), and the bytes of their file pages paged out.
  std::vector<const void*> fused_parts;
  int64_t parts_paged_out_bytes = 0;
  // The bytes of Linear matrices freed after their backend prepared its own copy.
  int64_t released_bytes = 0;

  // Whether `data` is the start of a float, int8 or bf16 buffer owned here; free_owned() frees
  // that buffer and returns its bytes (0 when `data` is none).
  bool owns(const void* data) const;
  int64_t free_owned(const void* data);
};

}  // namespace ember::model
