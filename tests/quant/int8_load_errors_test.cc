// A damaged int8 model gives a typed error naming what is wrong, never a crash: wrong dtypes,
// missing or bad scales, out-of-range weights, missing or unknown quantization metadata.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <functional>
#include <limits>
#include <map>

#include "io/safetensors.h"
#include "io/safetensors_writer.h"
#include "model/int8_weights.h"
#include "quant_test_util.h"
#include "runtime/engine.h"
#include "runtime/quantize_model.h"
#include "runtime/smoothing.h"

namespace ember {
namespace {
namespace fs = std::filesystem;

const std::string kLayer = "bert.encoder.layer.0.attention.output.dense.weight";
const std::string kInputScale = "bert.encoder.layer.0.attention.output.dense.input_scale";
const std::string kQueryScale = "bert.encoder.layer.0.attention.self.query.input_scale";

class BrokenInt8Model : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::fresh_temp_dir("broken");
    // 8-bit weights: the errors below include a 7-bit marker on weights that use the 8th bit.
    runtime::QuantizeOptions full_range;
    full_range.reduce_range = false;
    runtime::quantize_model(test::fixture_model("tiny-bert-tokcls").string(), dir_, full_range);
  }
  void TearDown() override { fs::remove_all(dir_); }

  using Edit =
      std::function<void(std::map<std::string, Tensor>&, std::map<std::string, std::string>&)>;
  // Rewrites model.safetensors through `edit` (tensors by name, metadata).
  void rewrite(const Edit& edit) {
    const fs::path path = dir_ / "model.safetensors", tmp = dir_ / "model.tmp";
    {
      const auto st = io::SafetensorsFile::open(path);
      std::map<std::string, Tensor> tensors = st.tensors();
      std::map<std::string, std::string> meta = st.metadata();
      edit(tensors, meta);
      std::vector<io::TensorToWrite> out;
      for (const auto& [name, t] : tensors) out.push_back({name, t});
      io::write_safetensors(tmp, out, meta);
    }
    fs::rename(tmp, path);
  }
  Error load_error() {
    try {
      runtime::Engine::load(dir_.string());
    } catch (const Error& e) {
      return e;
    }
    ADD_FAILURE() << "loading " << dir_ << " succeeded";
    return Error(ErrorKind::kInternal, "");
  }
  void expect_error(ErrorKind kind, const std::string& fragment) {
    const Error e = load_error();
    EXPECT_EQ(e.kind(), kind) << e.what();
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }

  fs::path dir_;
  std::vector<float> floats_;
  std::vector<int8_t> bytes_;
};

TEST_F(BrokenInt8Model, IntactCopyLoadsAsInt8) {
  EXPECT_EQ(runtime::Engine::load(dir_.string())->info().quantization, "int8-dynamic");
}

TEST_F(BrokenInt8Model, MissingScale) {
  rewrite([](auto& t, auto&) { t.erase(kLayer + "_scale"); });
  expect_error(ErrorKind::kInvalidInput, kLayer + "_scale");
}

TEST_F(BrokenInt8Model, NanScale) {
  rewrite([this](auto& t, auto&) {
    Tensor s = t.at(kLayer + "_scale");
    floats_.assign(static_cast<const float*>(s.data),
                   static_cast<const float*>(s.data) + s.numel());
    floats_[3] = std::numeric_limits<float>::quiet_NaN();
    s.data = floats_.data();
    t[kLayer + "_scale"] = s;
  });
  expect_error(ErrorKind::kInvalidInput, "finite and positive");
}

TEST_F(BrokenInt8Model, ZeroScale) {
  rewrite([this](auto& t, auto&) {
    Tensor s = t.at(kLayer + "_scale");
    floats_.assign(static_cast<const float*>(s.data),
                   static_cast<const float*>(s.data) + s.numel());
    floats_[0] = 0.0f;
    s.data = floats_.data();
    t[kLayer + "_scale"] = s;
  });
  expect_error(ErrorKind::kInvalidInput, "finite and positive");
}

TEST_F(BrokenInt8Model, ScaleCountDiffersFromChannels) {
  rewrite([](auto& t, auto&) {
    Tensor s = t.at(kLayer + "_scale");
    s.shape = Shape{s.shape[0] - 1};
    t[kLayer + "_scale"] = s;
  });
  expect_error(ErrorKind::kInvalidInput, "one scale per output channel");
}

TEST_F(BrokenInt8Model, ScaleOfWrongDtype) {
  rewrite([](auto& t, auto&) {
    Tensor s = t.at(kLayer + "_scale");
    s.dtype = DType::kI32;  // same byte size, wrong type
    t[kLayer + "_scale"] = s;
  });
  expect_error(ErrorKind::kInvalidInput, "expected F32");
}

TEST_F(BrokenInt8Model, WeightOfWrongDtype) {
  rewrite([](auto& t, auto&) {
    Tensor w = t.at(kLayer);
    w.dtype = DType::kU8;
    t[kLayer] = w;
  });
  const Error e = load_error();
  EXPECT_EQ(e.kind(), ErrorKind::kUnsupported) << e.what();
  EXPECT_NE(std::string(e.what()).find(kLayer), std::string::npos) << e.what();
}

TEST_F(BrokenInt8Model, WeightOfWrongShape) {
  rewrite([](auto& t, auto&) {
    Tensor w = t.at(kLayer);
    w.shape = Shape{w.shape[1], w.shape[0] / 2, 2};
    t[kLayer] = w;
  });
  expect_error(ErrorKind::kInvalidInput, kLayer);
}

TEST_F(BrokenInt8Model, WeightOutsideTheSymmetricRange) {
  rewrite([this](auto& t, auto&) {
    Tensor w = t.at(kLayer);
    bytes_.assign(static_cast<const int8_t*>(w.data),
                  static_cast<const int8_t*>(w.data) + w.numel());
    bytes_[5] = -128;
    w.data = bytes_.data();
    t[kLayer] = w;
  });
  expect_error(ErrorKind::kInvalidInput, "outside [-127, 127]");
}

TEST_F(BrokenInt8Model, MissingMarker) {
  rewrite([](auto&, auto& meta) { meta.erase(model::kQuantizationKey); });
  expect_error(ErrorKind::kInvalidInput, "without 'ember_quantization' metadata");
}

TEST_F(BrokenInt8Model, UnknownSchemeVersion) {
  rewrite([](auto&, auto& meta) {
    meta[model::kQuantizationKey] = R"({"scheme":"int8-dynamic","version":2})";
  });
  expect_error(ErrorKind::kUnsupported, "version 2");
}

TEST_F(BrokenInt8Model, MalformedMarker) {
  rewrite([](auto&, auto& meta) { meta[model::kQuantizationKey] = "int8 please"; });
  expect_error(ErrorKind::kInvalidInput, "ember_quantization");
}

TEST_F(BrokenInt8Model, ReduceRangeMarkerOnFullRangeWeights) {
  // 8-bit weights declared 7-bit would let u8 activations saturate vpmaddubsw.
  rewrite([](auto&, auto& meta) {
    meta[model::kQuantizationKey] = R"({"scheme":"int8-dynamic","version":1,"reduce_range":true})";
  });
  expect_error(ErrorKind::kInvalidInput, "reduce_range");
}

// Smoothing's input scales (written by default): shape, values, marker, one per fused input.
TEST_F(BrokenInt8Model, SmoothedCopyHasInputScales) {
  const auto st = io::SafetensorsFile::open(dir_ / "model.safetensors");
  EXPECT_EQ(st.tensors().count(kInputScale), 1u);
  EXPECT_EQ(st.tensors().count(kQueryScale), 1u);
}

TEST_F(BrokenInt8Model, InputScaleOfWrongShape) {
  rewrite([](auto& t, auto&) {
    Tensor s = t.at(kInputScale);
    s.shape = Shape{s.shape[0] - 1};
    t[kInputScale] = s;
  });
  expect_error(ErrorKind::kInvalidInput, "one scale per input channel");
}

TEST_F(BrokenInt8Model, InputScaleOfWrongDtype) {
  rewrite([](auto& t, auto&) {
    Tensor s = t.at(kInputScale);
    s.dtype = DType::kI32;
    t[kInputScale] = s;
  });
  expect_error(ErrorKind::kInvalidInput, kInputScale);
}

TEST_F(BrokenInt8Model, NonPositiveOrNanInputScale) {
  const fs::path backup = dir_.string() + "-intact.safetensors";  // outside the model directory
  fs::copy_file(dir_ / "model.safetensors", backup);
  for (const float bad : {0.0f, -1.0f, std::numeric_limits<float>::quiet_NaN(),
                          std::numeric_limits<float>::infinity(), 1e-45f}) {
    fs::copy_file(backup, dir_ / "model.safetensors", fs::copy_options::overwrite_existing);
    rewrite([this, bad](auto& t, auto&) {
      Tensor s = t.at(kInputScale);
      floats_.assign(static_cast<const float*>(s.data),
                     static_cast<const float*>(s.data) + s.numel());
      floats_[2] = bad;
      s.data = floats_.data();
      t[kInputScale] = s;
    });
    expect_error(ErrorKind::kInvalidInput, "input scales must be finite and positive");
  }
  fs::remove(backup);
}

TEST_F(BrokenInt8Model, InputScaleWithoutMarkerField) {
  rewrite([](auto&, auto& meta) {
    meta[model::kQuantizationKey] = R"({"scheme":"int8-dynamic","version":1})";
  });
  expect_error(ErrorKind::kInvalidInput, "does not say input_scale");
}

TEST_F(BrokenInt8Model, FusedProjectionsWithDifferentInputScales) {
  rewrite([this](auto& t, auto&) {
    Tensor s = t.at(kQueryScale);
    floats_.assign(static_cast<const float*>(s.data),
                   static_cast<const float*>(s.data) + s.numel());
    floats_[0] *= 2.0f;
    s.data = floats_.data();
    t[kQueryScale] = s;
  });
  expect_error(ErrorKind::kInvalidInput, "equal input scales");
}

// --keep-fp32 (model/int8_weights.h): the marker's fp32_linears lists exactly the encoder
// Linears that are not int8.
constexpr const char* kFullRangeMarker =
    R"({"scheme":"int8-dynamic","version":1,"reduce_range":false,"input_scale":true)";

TEST_F(BrokenInt8Model, Fp32ListNamesAnInt8Linear) {
  rewrite([](auto&, auto& meta) {
    meta[model::kQuantizationKey] =
        std::string(kFullRangeMarker) + R"(,"fp32_linears":["layer.0.attn_out"]})";
  });
  expect_error(ErrorKind::kInvalidInput, "lists 'layer.0.attn_out'");
}

TEST_F(BrokenInt8Model, Fp32ListIsNotAnArrayOfNames) {
  rewrite([](auto&, auto& meta) {
    meta[model::kQuantizationKey] =
        std::string(kFullRangeMarker) + R"(,"fp32_linears":"layer.0.attn_out"})";
  });
  expect_error(ErrorKind::kInvalidInput, "fp32_linears must be an array");
}

TEST_F(BrokenInt8Model, FloatLinearLoadsOnlyWhenListed) {
  // Layer 0's attention output back to F32 (no scales), as --keep-fp32 writes a kept Linear.
  auto to_f32 = [this](const std::string& list) {
    rewrite([this, list](auto& t, auto& meta) {
      Tensor w = t.at(kLayer);
      floats_.assign(static_cast<size_t>(w.numel()), 0.01f);
      w.dtype = DType::kF32;
      w.data = floats_.data();
      t[kLayer] = w;
      t.erase(kLayer + "_scale");
      t.erase(kInputScale);
      meta[model::kQuantizationKey] = std::string(kFullRangeMarker) + list + "}";
    });
  };
  const fs::path backup = dir_.string() + "-intact.safetensors";  // outside the model directory
  fs::copy_file(dir_ / "model.safetensors", backup);
  to_f32(R"(,"fp32_linears":[])");
  expect_error(ErrorKind::kInvalidInput,
               "'layer.0.attn_out' is not int8, but ember_quantization.fp32_linears does not list");
  fs::copy_file(backup, dir_ / "model.safetensors", fs::copy_options::overwrite_existing);
  to_f32(R"(,"fp32_linears":["layer.0.attn_out"])");
  EXPECT_EQ(runtime::Engine::load(dir_.string())->info().fp32_linears,
            std::vector<std::string>{"layer.0.attn_out"});
  fs::remove(backup);
}

TEST(Int8Smoothing, UnsmoothedCopyHasNoInputScalesAndLoads) {
  const fs::path dir = test::fresh_temp_dir("unsmoothed");
  runtime::QuantizeOptions o;
  o.smooth = false;
  const auto r = runtime::quantize_model(test::fixture_model("tiny-bert-tokcls").string(), dir, o);
  EXPECT_EQ(r.tensors_smoothed, 0);
  const auto st = io::SafetensorsFile::open(dir / "model.safetensors");
  EXPECT_EQ(st.tensors().count(kInputScale), 0u);
  EXPECT_EQ(st.metadata().at(model::kQuantizationKey).find("input_scale"), std::string::npos);
  EXPECT_EQ(runtime::Engine::load(dir.string())->info().quantization, "int8-dynamic");
  fs::remove_all(dir);
}

// The default calibration frames its random ids as the tokenizer frames a text (the rows of the
// special tokens carry the largest outlier channels), and mixes long and short inputs.
TEST(Int8Smoothing, RandomCalibrationIdsAreFramedAsTheTokenizerFramesAText) {
  const io::ModelFiles files = io::resolve_model(test::minilm_dir().string());
  const runtime::SpecialFrame frame = runtime::special_frame(files);
  EXPECT_EQ(frame.before, std::vector<int32_t>{101});  // [CLS]
  EXPECT_EQ(frame.after, std::vector<int32_t>{102});   // [SEP]
  const auto model = model::Model::load(io::JsonConfig::load(*files.config),
                                        io::load_checkpoint(*files.checkpoint));
  const auto batches = runtime::random_id_batches(model->spec(), 7, 2, 8, 128, frame);
  ASSERT_EQ(batches.size(), 2u);
  for (const model::Batch& b : batches) {
    ASSERT_EQ(b.size(), 8);
    for (int64_t s = 0; s < b.size(); ++s) {
      const int64_t n = b.seq_len(s);
      ASSERT_GE(n, 3);
      EXPECT_EQ(b.ids[b.seq_begin(s)], 101);
      EXPECT_EQ(b.ids[b.seq_begin(s) + n - 1], 102);
      if (s % 2 == 0)
        EXPECT_EQ(n, 130);
      else
        EXPECT_LE(n, 18);
    }
  }
  // No tokenizer: no frame.
  EXPECT_TRUE(runtime::special_frame(io::ModelFiles{}).before.empty());
}

}  // namespace
}  // namespace ember
