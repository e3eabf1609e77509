// Imports the weights of a BERT-family encoder exported to ONNX (torch.onnx.export of a
// BertModel): initializers are mapped to Hugging Face names by following the graph, MatMul
// weights ([K, N] in ONNX) are transposed to the [N, K] Linear layout, and the config values
// that only the graph knows (number of heads) are read from it.
#pragma once

#include <filesystem>
#include <string>

#include "io/json_config.h"
#include "io/weight_store.h"

namespace ember::io {

struct OnnxEncoder {
  // Hugging Face BertModel names, e.g. encoder.layer.0.attention.self.query.weight.
  WeightStore weights;
  // A config.json inferred from the graph and initializers: model_type "bert",
  // architectures ["BertModel"], vocab_size, hidden_size, num_hidden_layers,
  // num_attention_heads, intermediate_size, max_position_embeddings, type_vocab_size,
  // layer_norm_eps, hidden_act.
  JsonConfig config;
};

// Throws kUnsupported naming what is not recognised, kInvalidInput for a malformed file.
OnnxEncoder import_onnx_encoder(const std::filesystem::path& path);

}  // namespace ember::io
