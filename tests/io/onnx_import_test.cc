// ONNX import on the real paraphrase-MiniLM-L3-v2 graph (scripts/fetch_models.sh puts it in
// the cache; the test fails, not skips, without it), checked against the exporter's own node
// names, which the importer does not use; plus rewritten variants of the same graph
// (decomposed LayerNorm, float_data and external data) and files that are not ONNX.
#include "io/onnx_import.h"

#include <fstream>
#include <memory>

#include <gtest/gtest.h>

#include "io/io_test_util.h"
#include "io/model_dir.h"
#include "io/onnx_graph.h"

namespace ember::io {
namespace {

using testing::expect_error;

std::filesystem::path model_path() {
  return model_cache_dir() / "paraphrase-MiniLM-L3-v2" / "model.onnx";
}

onnx::ModelProto load_proto(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  onnx::ModelProto model;
  EXPECT_TRUE(model.ParseFromIstream(&in)) << path;
  return model;
}

void save_proto(const onnx::ModelProto& model, const std::filesystem::path& path) {
  std::ofstream out(path, std::ios::binary);
  ASSERT_TRUE(model.SerializeToOstream(&out));
}

class OnnxImportTest : public ::testing::Test {
 protected:
  // Loaded once for the suite, in SetUp so that a missing model fails every test (a failure
  // in SetUpTestSuite would only skip them).
  void SetUp() override {
    ASSERT_TRUE(std::filesystem::exists(model_path()))
        << model_path() << " is missing: run scripts/fetch_models.sh";
    if (!encoder_) {
      encoder_ = std::make_unique<OnnxEncoder>(import_onnx_encoder(model_path()));
      model_ = std::make_unique<onnx::ModelProto>(load_proto(model_path()));
    }
  }
  static void TearDownTestSuite() {
    encoder_.reset();
    model_.reset();
  }

  // The initializer read by the MatMul whose exporter name contains `node_part`.
  static AlignedBuffer<float> onnx_matmul_weight(const std::string& node_part,
                                                 std::vector<int64_t>* dims) {
    const OnnxGraph g(model_->graph(), model_path().parent_path(), "ref");
    for (const auto& n : model_->graph().node())
      if (n.op_type() == "MatMul" && n.output(0).find(node_part) != std::string::npos) {
        const onnx::TensorProto* t = g.constant(n.input(1));
        if (!t) continue;
        *dims = g.dims(*t);
        return g.floats(*t);
      }
    ADD_FAILURE() << "no MatMul named like " << node_part;
    return {};
  }
  static AlignedBuffer<float> onnx_initializer(const std::string& name) {
    const OnnxGraph g(model_->graph(), model_path().parent_path(), "ref");
    const onnx::TensorProto* t = g.constant(name);
    if (!t) {
      ADD_FAILURE() << "no initializer " << name;
    }
    return t ? g.floats(*t) : AlignedBuffer<float>{};
  }

  static std::unique_ptr<OnnxEncoder> encoder_;
  static std::unique_ptr<onnx::ModelProto> model_;
};
std::unique_ptr<OnnxEncoder> OnnxImportTest::encoder_;
std::unique_ptr<onnx::ModelProto> OnnxImportTest::model_;

TEST_F(OnnxImportTest, InfersBertConfig) {
  const JsonConfig& c = encoder_->config;
  EXPECT_EQ(c.get_string("model_type"), "bert");
  EXPECT_EQ(c.get_string_list("architectures"), std::vector<std::string>{"BertModel"});
  EXPECT_EQ(c.get_int("vocab_size"), 30522);
  EXPECT_EQ(c.get_int("hidden_size"), 384);
  EXPECT_EQ(c.get_int("num_hidden_layers"), 3);
  EXPECT_EQ(c.get_int("num_attention_heads"), 12);
  EXPECT_EQ(c.get_int("intermediate_size"), 1536);
  EXPECT_EQ(c.get_int("max_position_embeddings"), 512);
  EXPECT_EQ(c.get_int("type_vocab_size"), 2);
  EXPECT_EQ(c.get_double("layer_norm_eps"), 1e-12);
  EXPECT_EQ(c.get_string("hidden_act"), "gelu");
  EXPECT_EQ(c.get_int("pad_token_id"), 0);
}

TEST_F(OnnxImportTest, ProducesHuggingFaceNamesAndShapes) {
  const WeightStore& w = encoder_->weights;
  EXPECT_EQ(w.names().size(), 5u + 3u * 16u);  // no pooler in this export
  EXPECT_FALSE(w.has("pooler.dense.weight"));
  w.get("embeddings.word_embeddings.weight", Shape{30522, 384});
  w.get("embeddings.position_embeddings.weight", Shape{512, 384});
  w.get("embeddings.token_type_embeddings.weight", Shape{2, 384});
  w.get("embeddings.LayerNorm.weight", Shape{384});
  for (int l = 0; l < 3; ++l) {
    const std::string p = "encoder.layer." + std::to_string(l) + ".";
    for (const char* m : {"attention.self.query", "attention.self.key", "attention.self.value",
                          "attention.output.dense"}) {
      w.get(p + m + ".weight", Shape{384, 384});
      w.get(p + m + ".bias", Shape{384});
    }
    w.get(p + "intermediate.dense.weight", Shape{1536, 384});
    w.get(p + "intermediate.dense.bias", Shape{1536});
    w.get(p + "output.dense.weight", Shape{384, 1536});
    w.get(p + "output.dense.bias", Shape{384});
    w.get(p + "attention.output.LayerNorm.weight", Shape{384});
    w.get(p + "output.LayerNorm.bias", Shape{384});
  }
}

// The importer follows data flow; the exporter's node names say independently which MatMul
// is which. Every weight must be the transposed ONNX initializer, bit for bit.
TEST_F(OnnxImportTest, MatMulWeightsAreTransposedInitializersInTheRightRoles) {
  const std::pair<const char*, const char*> roles[] = {
      {"attention/self/query/MatMul", "attention.self.query"},
      {"attention/self/key/MatMul", "attention.self.key"},
      {"attention/self/value/MatMul", "attention.self.value"},
      {"attention/output/dense/MatMul", "attention.output.dense"},
      {"intermediate/dense/MatMul", "intermediate.dense"},
      {"/output/dense/MatMul", "output.dense"}};
  for (int l = 0; l < 3; ++l) {
    for (const auto& [node, hf] : roles) {
      const std::string layer = "layer." + std::to_string(l);
      std::string node_part = "/" + layer + "/" + node;
      if (std::string(hf) == "output.dense") node_part = "/" + layer + "/output/dense/MatMul";
      std::vector<int64_t> dims;
      const AlignedBuffer<float> ref = onnx_matmul_weight(node_part, &dims);
      ASSERT_EQ(dims.size(), 2u) << node_part;
      const int64_t k = dims[0], n = dims[1];
      const Tensor t =
          encoder_->weights.get("encoder." + layer + "." + hf + ".weight", Shape{n, k});
      int64_t mismatches = 0;
      for (int64_t i = 0; i < k; ++i)
        for (int64_t j = 0; j < n; ++j) mismatches += t.f32()[j * k + i] != ref[i * n + j];
      EXPECT_EQ(mismatches, 0) << hf << " of " << layer;
    }
  }
}

TEST_F(OnnxImportTest, NamedInitializersAreCopiedExactly) {
  const Tensor kb = encoder_->weights.get("encoder.layer.1.attention.self.key.bias");
  const auto ref = onnx_initializer("model.0.auto_model.encoder.layer.1.attention.self.key.bias");
  for (int i = 0; i < 384; ++i) ASSERT_EQ(kb.f32()[i], ref[i]) << i;
  const Tensor pos = encoder_->weights.get("embeddings.position_embeddings.weight");
  const auto pref = onnx_initializer("model.0.auto_model.embeddings.position_embeddings.weight");
  EXPECT_EQ(pos.f32()[511 * 384 + 383], pref[511 * 384 + 383]);
}

// Older exporters decompose LayerNorm; rewrite every LayerNormalization node into
// ReduceMean/Sub/Pow/ReduceMean/Add/Sqrt/Div/Mul/Add and expect the same import.
TEST_F(OnnxImportTest, DecomposedLayerNormAndTypedAndExternalData) {
  onnx::ModelProto m = *model_;
  auto* graph = m.mutable_graph();
  google::protobuf::RepeatedPtrField<onnx::NodeProto> nodes;
  int id = 0;
  auto add_const = [&](float v) {
    auto* t = graph->add_initializer();
    t->set_name("c" + std::to_string(id++));
    t->set_data_type(onnx::TensorProto::FLOAT);
    t->add_float_data(v);
    return t->name();
  };
  for (const auto& n : graph->node()) {
    if (n.op_type() != "LayerNormalization") {
      *nodes.Add() = n;
      continue;
    }
    const std::string x = n.input(0), p = "ln" + std::to_string(id++) + "/";
    auto op = [&](const char* type, std::vector<std::string> in, const std::string& out) {
      auto* node = nodes.Add();
      node->set_op_type(type);
      for (auto& i : in) node->add_input(i);
      node->add_output(out);
    };
    op("ReduceMean", {x}, p + "mean");
    op("Sub", {x, p + "mean"}, p + "d");
    op("Pow", {p + "d", add_const(2.f)}, p + "sq");
    op("ReduceMean", {p + "sq"}, p + "var");
    op("Add", {p + "var", add_const(1e-12f)}, p + "ve");
    op("Sqrt", {p + "ve"}, p + "std");
    op("Div", {p + "d", p + "std"}, p + "norm");
    op("Mul", {p + "norm", n.input(1)}, p + "scaled");
    op("Add", {p + "scaled", n.input(2)}, n.output(0));
  }
  graph->mutable_node()->Swap(&nodes);

  // Word embeddings as external data beside the model; the key bias as float_data.
  testing::TempDir dir;
  for (auto& t : *graph->mutable_initializer()) {
    if (t.name() == "model.0.auto_model.embeddings.word_embeddings.weight") {
      testing::write_file(dir.path() / "weights.bin", "pad!" + t.raw_data());
      t.clear_raw_data();
      t.set_data_location(onnx::TensorProto::EXTERNAL);
      auto* kv = t.add_external_data();
      kv->set_key("location"), kv->set_value("weights.bin");
      kv = t.add_external_data();
      kv->set_key("offset"), kv->set_value("4");
    } else if (t.name() == "model.0.auto_model.encoder.layer.1.attention.self.key.bias") {
      const std::string raw = t.raw_data();
      t.clear_raw_data();
      for (size_t i = 0; i < raw.size(); i += 4) {
        float v;
        std::memcpy(&v, raw.data() + i, 4);
        t.add_float_data(v);
      }
    }
  }
  save_proto(m, dir.path() / "model.onnx");
  const OnnxEncoder e = import_onnx_encoder(dir.path() / "model.onnx");
  EXPECT_EQ(e.config.raw(), encoder_->config.raw());
  ASSERT_EQ(e.weights.names(), encoder_->weights.names());
  for (const auto& name : e.weights.names()) {
    const Tensor a = e.weights.get(name), b = encoder_->weights.get(name);
    ASSERT_EQ(a.shape, b.shape) << name;
    EXPECT_EQ(std::memcmp(a.data, b.data, a.nbytes()), 0) << name;
  }

  // External data that points outside the model directory is refused.
  for (auto& t : *graph->mutable_initializer())
    if (t.data_location() == onnx::TensorProto::EXTERNAL)
      t.mutable_external_data(0)->set_value("../weights.bin");
  save_proto(m, dir.path() / "evil.onnx");
  expect_error([&] { import_onnx_encoder(dir.path() / "evil.onnx"); }, ErrorKind::kInvalidInput,
               "is not a file beside the model");
}

TEST(OnnxImport, NotOnnxFilesAreInvalidInput) {
  testing::TempDir dir;
  testing::write_file(dir.path() / "text.onnx", "this is not a protobuf model\n");
  expect_error([&] { import_onnx_encoder(dir.path() / "text.onnx"); }, ErrorKind::kInvalidInput,
               "not an ONNX model");
  testing::write_file(dir.path() / "empty.onnx", "");
  expect_error([&] { import_onnx_encoder(dir.path() / "empty.onnx"); }, ErrorKind::kInvalidInput,
               "not an ONNX model");
  expect_error([&] { import_onnx_encoder(dir.path() / "missing.onnx"); }, ErrorKind::kNotFound,
               "no such file");
}

TEST(OnnxImport, OtherGraphsAreUnsupported) {
  onnx::ModelProto m;
  m.set_ir_version(8);
  auto* node = m.mutable_graph()->add_node();
  node->set_op_type("Relu");
  node->add_input("x");
  node->add_output("y");
  testing::TempDir dir;
  save_proto(m, dir.path() / "relu.onnx");
  expect_error([&] { import_onnx_encoder(dir.path() / "relu.onnx"); }, ErrorKind::kUnsupported,
               "not a recognised BERT encoder graph: no word embedding Gather");
}

}  // namespace
}  // namespace ember::io
