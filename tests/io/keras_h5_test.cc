// tf_model.h5: Keras weight names onto PyTorch names, and typed errors for files HDF5 cannot
// read. (Values: tests/model/checkpoint_formats_test.cc against model.safetensors.)
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "core/error.h"
#include "io/keras_h5.h"
#include "io_test_util.h"

namespace ember::io {
namespace {
namespace fs = std::filesystem;

const fs::path kH5 =
    fs::path(EMBER_SOURCE_DIR) / "tests/fixtures/checkpoints/tiny-bert-st6/keras-h5/tf_model.h5";

TEST(KerasH5, NamesMapOntoPyTorch) {
  bool t = false;
  EXPECT_EQ(
      keras_to_torch_name("tf_bert_model/bert/encoder/layer_._0/attention/self/query/kernel:0", t),
      "bert.encoder.layer.0.attention.self.query.weight");
  EXPECT_TRUE(t);
  EXPECT_EQ(keras_to_torch_name("tf_bert_model/bert/embeddings/LayerNorm/gamma:0", t),
            "bert.embeddings.LayerNorm.weight");
  EXPECT_FALSE(t);
  EXPECT_EQ(keras_to_torch_name("tf_bert_model/bert/embeddings/LayerNorm/beta:0", t),
            "bert.embeddings.LayerNorm.bias");
  EXPECT_EQ(keras_to_torch_name("m/bert/embeddings/position_embeddings/embeddings:0", t),
            "bert.embeddings.position_embeddings.weight");
  EXPECT_EQ(keras_to_torch_name("m/bert/embeddings/word_embeddings/weight:0", t),
            "bert.embeddings.word_embeddings.weight");
  EXPECT_THROW(keras_to_torch_name("kernel:0", t), Error);
}

TEST(KerasH5, LoadsTransposedKernels) {
  const WeightStore store = load_keras_h5(kH5);
  // Keras keeps [in, out]; PyTorch's Linear weight is [out, in].
  EXPECT_EQ(store.get("bert.encoder.layer.0.intermediate.dense.weight").shape, (Shape{64, 32}));
  EXPECT_EQ(store.get("bert.encoder.layer.0.output.dense.weight").shape, (Shape{32, 64}));
  EXPECT_EQ(store.get("bert.embeddings.word_embeddings.weight").shape, (Shape{2000, 32}));
}

TEST(KerasH5, CorruptFilesAreTypedErrors) {
  std::ifstream in(kH5, std::ios::binary);
  const std::string all((std::istreambuf_iterator<char>(in)), {});
  testing::TempDir dir;
  const fs::path path = dir.path() / "tf_model.h5";
  for (size_t keep : {size_t{0}, size_t{7}, size_t{600}, all.size() / 2, all.size() - 100}) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << all.substr(0, keep);
    try {
      load_keras_h5(path);
      ADD_FAILURE() << "a file cut to " << keep << " bytes loaded";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kInvalidInput) << keep << ": " << e.what();
    }
    const std::string head = all.substr(0, keep);
    EXPECT_THROW(
        parse_keras_h5({reinterpret_cast<const uint8_t*>(head.data()), head.size()}, "mem"), Error);
  }
}

// A group tree that never ends (a fuzzer's find): refused at the visit's bounds, not followed.
TEST(KerasH5, EndlessGroupTreeIsRefused) {
  const fs::path file =
      fs::path(EMBER_SOURCE_DIR) / "tests/fixtures/checkpoints/malicious/endless-groups.h5";
  ASSERT_TRUE(fs::is_regular_file(file));
  try {
    load_keras_h5(file);
    ADD_FAILURE() << "an endless group tree loaded";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidInput) << e.what();
    EXPECT_NE(std::string(e.what()).find("group tree"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace ember::io
