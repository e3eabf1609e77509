#include "io/onnx_patterns.h"

#include <deque>

#include "core/error.h"

namespace ember::io {
namespace {

using Node = onnx::NodeProto;
using TensorP = onnx::TensorProto;

bool has_input(const Node& n, const std::string& v, int* index = nullptr) {
  for (int i = 0; i < n.input_size(); ++i)
    if (n.input(i) == v) {
      if (index) *index = i;
      return true;
    }
  return false;
}

float float_attr(const Node& n, const std::string& name, float fallback) {
  for (const auto& a : n.attribute())
    if (a.name() == name) return a.f();
  return fallback;
}

int64_t int_attr(const Node& n, const std::string& name, int64_t fallback) {
  for (const auto& a : n.attribute())
    if (a.name() == name) return a.i();
  return fallback;
}

}  // namespace

const std::string& other_input(const Node& n, const std::string& v) {
  return n.input(0) == v ? n.input(1) : n.input(0);
}

bool OnnxPatterns::is_linear(const Node& n) const {
  if ((n.op_type() != "MatMul" && n.op_type() != "Gemm") || n.input_size() < 2) return false;
  const TensorP* w = g_.constant(n.input(1));
  return w != nullptr && w->dims_size() == 2 && g_.constant(n.input(0)) == nullptr;
}

OnnxLinear OnnxPatterns::linear(const Node& n) const {
  OnnxLinear l;
  l.weight = g_.constant(n.input(1));
  l.out = n.output(0);
  if (n.op_type() == "Gemm") {
    if (int_attr(n, "transA", 0) != 0 || float_attr(n, "alpha", 1) != 1 ||
        float_attr(n, "beta", 1) != 1)
      fail(ErrorKind::kUnsupported, g_.origin(), ": Gemm '", n.name(), "' with transA/alpha/beta");
    l.weight_is_nk = int_attr(n, "transB", 0) != 0;
    if (n.input_size() > 2) l.bias = g_.constant(n.input(2));
    return l;
  }
  for (const Node* c : g_.consumers(l.out)) {
    if (c->op_type() != "Add" || c->input_size() != 2) continue;
    const TensorP* b = g_.constant(other_input(*c, l.out));
    if (b != nullptr && b->dims_size() == 1) {
      l.bias = b;
      l.out = c->output(0);
      break;
    }
  }
  return l;
}

std::vector<OnnxLinear> OnnxPatterns::linears_reading(const std::string& value) const {
  std::vector<OnnxLinear> out;
  for (const Node* c : g_.consumers(value))
    if (is_linear(*c) && c->input(0) == value) out.push_back(linear(*c));
  return out;
}

// Breadth-first from `from` through element-wise and layout ops (not through Shape: shape
// arithmetic would lead into unrelated Reshapes) to the first node where stop() holds.
std::optional<OnnxHit> OnnxPatterns::walk(const std::string& from,
                                          const std::function<bool(const Node&)>& stop,
                                          bool through_matmul, std::set<std::string>* ops) const {
  static const std::set<std::string> kAnyInput = {"Add",     "Sub",  "Mul",      "Div",     "Erf",
                                                  "Tanh",    "Pow",  "Relu",     "Sigmoid", "Gelu",
                                                  "Softmax", "Cast", "Identity", "Dropout", "Sqrt"};
  static const std::set<std::string> kDataInput = {"Reshape",   "Transpose", "Squeeze",
                                                   "Unsqueeze", "Flatten",   "Expand"};
  std::deque<std::string> queue{from};
  std::set<std::string> seen{from};
  for (int steps = 0; !queue.empty() && steps < 256; ++steps) {
    const std::string v = queue.front();
    queue.pop_front();
    for (const Node* c : g_.consumers(v)) {
      int i = 0;
      has_input(*c, v, &i);
      if (stop(*c)) return OnnxHit{c, i};
      const bool follow = kAnyInput.count(c->op_type()) ||
                          (kDataInput.count(c->op_type()) && i == 0) ||
                          (through_matmul && c->op_type() == "MatMul" && !is_linear(*c));
      if (!follow) continue;
      if (ops) ops->insert(c->op_type());
      for (const auto& o : c->output())
        if (seen.insert(o).second) queue.push_back(o);
    }
  }
  return std::nullopt;
}

const Node* OnnxPatterns::single_consumer(const std::string& v, const std::string& op) const {
  const Node* found = nullptr;
  for (const Node* c : g_.consumers(v))
    if (c->op_type() == op) {
      if (found) return nullptr;
      found = c;
    }
  return found;
}

std::optional<OnnxNorm> OnnxPatterns::norm_at(const std::string& x) const {
  if (const Node* ln = single_consumer(x, "LayerNormalization")) {
    if (ln->input_size() < 3 || int_attr(*ln, "axis", -1) != -1)
      fail(ErrorKind::kUnsupported, g_.origin(), ": LayerNormalization over an axis other than -1");
    return OnnxNorm{g_.constant(ln->input(1)), g_.constant(ln->input(2)),
                    float_attr(*ln, "epsilon", 1e-5f), ln->output(0)};
  }
  // Decomposed: (x - mean(x)) / sqrt(mean((x - mean)^2) + eps) * gamma + beta.
  const Node* mean = single_consumer(x, "ReduceMean");
  const Node* sub = single_consumer(x, "Sub");
  if (!mean || !sub || sub->input(0) != x || sub->input(1) != mean->output(0)) return std::nullopt;
  const Node* pow = single_consumer(sub->output(0), "Pow");
  const Node* div = single_consumer(sub->output(0), "Div");
  if (!pow || !div) return std::nullopt;
  const Node* var = single_consumer(pow->output(0), "ReduceMean");
  const Node* add_eps = var ? single_consumer(var->output(0), "Add") : nullptr;
  const Node* sqrt = add_eps ? single_consumer(add_eps->output(0), "Sqrt") : nullptr;
  if (!sqrt || div->input(1) != sqrt->output(0)) return std::nullopt;
  const TensorP* eps = g_.constant(other_input(*add_eps, var->output(0)));
  const Node* mul = single_consumer(div->output(0), "Mul");
  const Node* add = mul ? single_consumer(mul->output(0), "Add") : nullptr;
  if (!eps || !add) return std::nullopt;
  const auto eps_value = g_.floats(*eps);
  if (g_.numel(*eps) != 1) return std::nullopt;
  return OnnxNorm{g_.constant(other_input(*mul, div->output(0))),
                  g_.constant(other_input(*add, mul->output(0))), eps_value[0], add->output(0)};
}

// The values of an int64 shape operand, element by element; computed pieces of a Concat
// (batch, sequence length) are one unknown element each.
std::optional<std::vector<std::optional<int64_t>>> OnnxPatterns::const_ints(
    const std::string& v) const {
  std::vector<std::optional<int64_t>> out;
  if (const TensorP* t = g_.constant(v)) {
    for (int64_t x : g_.ints(*t)) out.push_back(x);
    return out;
  }
  const Node* p = g_.producer(v);
  if (!p || p->op_type() != "Concat") return std::nullopt;
  for (const auto& in : p->input()) {
    if (auto piece = const_ints(in)) {
      out.insert(out.end(), piece->begin(), piece->end());
    } else {
      out.push_back(std::nullopt);
    }
  }
  return out;
}

}  // namespace ember::io
