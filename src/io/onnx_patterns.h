// Pattern matchers over an OnnxGraph, the vocabulary importers describe graphs with: a
// linear layer (MatMul by a constant + bias Add, or Gemm), a LayerNorm (fused node or the
// decomposed ReduceMean/Sub/Pow/ReduceMean/Add/Sqrt/Div/Mul/Add of older exports), forward
// walks through element-wise and layout ops, and constant shape operands.
#pragma once

#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "io/onnx_graph.h"

namespace ember::io {

struct OnnxLinear {
  const onnx::TensorProto* weight = nullptr;  // [K, N] for MatMul; [N, K] for Gemm with transB
  bool weight_is_nk = false;
  const onnx::TensorProto* bias = nullptr;  // null when there is no bias
  std::string out;                          // the value after the bias
};

struct OnnxNorm {
  const onnx::TensorProto* gamma = nullptr;
  const onnx::TensorProto* beta = nullptr;
  float eps = 1e-5f;
  std::string out;
};

struct OnnxHit {
  const onnx::NodeProto* node;
  int input;  // which input of `node` the walk arrived at
};

// The input of a two-input node that is not `v`.
const std::string& other_input(const onnx::NodeProto& n, const std::string& v);

class OnnxPatterns {
 public:
  explicit OnnxPatterns(const OnnxGraph& g) : g_(g) {}

  // MatMul/Gemm of a computed value by a constant rank-2 weight.
  bool is_linear(const onnx::NodeProto& n) const;
  OnnxLinear linear(const onnx::NodeProto& n) const;
  std::vector<OnnxLinear> linears_reading(const std::string& value) const;
  // Breadth-first from `from` through element-wise and layout ops (and non-weight MatMuls if
  // `through_matmul`) to the first node where stop() holds; `ops` collects op types passed.
  std::optional<OnnxHit> walk(const std::string& from,
                              const std::function<bool(const onnx::NodeProto&)>& stop,
                              bool through_matmul, std::set<std::string>* ops = nullptr) const;
  // The one consumer of `v` with this op type; null if none or several.
  const onnx::NodeProto* single_consumer(const std::string& v, const std::string& op) const;
  // The LayerNorm whose input is `x`, fused or decomposed.
  std::optional<OnnxNorm> norm_at(const std::string& x) const;
  // The values of an int64 shape operand, element by element; computed pieces of a Concat
  // (batch, sequence length) are one unknown element each.
  std::optional<std::vector<std::optional<int64_t>>> const_ints(const std::string& v) const;

 private:
  const OnnxGraph& g_;
};

}  // namespace ember::io
