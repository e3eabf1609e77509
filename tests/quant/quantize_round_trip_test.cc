// ember quantize's writer and the int8 loader: every fixture model and all-MiniLM-L6-v2
// quantize, load as int8, keep heads/embeddings/LayerNorm in F32, and stay close to fp32.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>

#include "io/safetensors.h"
#include "model/int8_weights.h"
#include "quant_test_util.h"
#include "runtime/engine.h"
#include "runtime/quantize_model.h"

namespace ember {
namespace {
namespace fs = std::filesystem;

const char* const kTinyModels[] = {"tiny-bert-seqcls", "tiny-bert-tokcls", "tiny-distilbert",
                                   "tiny-electra",     "tiny-roberta",     "tiny-xlm-roberta"};

const std::vector<std::string> kTexts = {"The movie was a delight from start to finish.",
                                         "A tedious, overlong mess.", "ok",
                                         "Stocks fell sharply on Tuesday after the report."};

// Quantizes `src`, checks the written file and the loaded model, and returns the mean
// cosine between the fp32 and int8 last hidden states over kTexts.
double round_trip(const fs::path& src, const fs::path& out, bool reduce_range) {
  runtime::QuantizeOptions o;
  o.reduce_range = reduce_range;
  const auto report = runtime::quantize_model(src.string(), out, o);
  EXPECT_GT(report.tensors_quantized, 0);
  EXPECT_LT(report.bytes_out, report.bytes_in);
  EXPECT_TRUE(fs::exists(out / "config.json"));
  EXPECT_TRUE(fs::exists(out / "tokenizer.json"));

  // The file: layer Linear weights I8 + F32 scales; everything else F32; the marker.
  const auto st = io::SafetensorsFile::open(out / "model.safetensors");
  int i8 = 0;
  for (const auto& [name, t] : st.tensors()) {
    if (t.dtype == DType::kI8) {
      ++i8;
      EXPECT_NE(name.find("layer."), std::string::npos) << name;
      EXPECT_TRUE(st.has(name + "_scale")) << name;
      if (!st.has(name + "_scale")) continue;
      EXPECT_EQ(st.get(name + "_scale").dtype, DType::kF32);
      EXPECT_EQ(st.get(name + "_scale").shape, (Shape{t.shape[0]}));
    } else if (t.dtype != DType::kI64) {
      EXPECT_EQ(t.dtype, DType::kF32) << name;
    }
    // Heads, embeddings and LayerNorm are never quantized.
    if (name.find("classifier") != std::string::npos ||
        name.find("embeddings") != std::string::npos ||
        name.find("LayerNorm") != std::string::npos ||
        name.find("layer_norm") != std::string::npos) {
      EXPECT_NE(t.dtype, DType::kI8) << name;
    }
  }
  EXPECT_EQ(i8, report.tensors_quantized);
  EXPECT_EQ(st.metadata().at(model::kQuantizationKey),
            model::marker_json(model::QuantizationMarker{"int8-dynamic", 1, reduce_range, true}));
  // Smoothing (the default) found every Linear's float weights and wrote its input scale.
  EXPECT_EQ(report.tensors_smoothed, report.tensors_quantized);
  for (const auto& [name, t] : st.tensors())
    if (t.dtype == DType::kI8) {
      const std::string in_scale = name.substr(0, name.size() - 6) + "input_scale";
      EXPECT_TRUE(st.has(in_scale)) << in_scale;
      if (!st.has(in_scale)) continue;
      EXPECT_EQ(st.get(in_scale).dtype, DType::kF32);
      EXPECT_EQ(st.get(in_scale).shape, (Shape{t.shape[1]}));
    }

  const auto fp = runtime::Engine::load(src.string());
  const auto q = runtime::Engine::load(out.string());
  EXPECT_EQ(fp->info().quantization, "");
  EXPECT_EQ(q->info().quantization, "int8-dynamic");
  // Quantized or not, a model has the same parameters (the int8 scales are not counted).
  EXPECT_EQ(q->info().parameters, fp->info().parameters);
  std::vector<tok::Encoding> encs;
  for (const auto& t : kTexts) encs.push_back(fp->tokenize(t));
  const auto batch = runtime::Engine::pack(encs);
  unsigned outputs = runtime::kHidden;
  if (fp->spec().head == model::HeadKind::kSequenceClassification) outputs |= runtime::kSeqLogits;
  const auto a = fp->run(batch, outputs), b = q->run(batch, outputs);
  const int64_t h = a.hidden_size;
  double sum = 0;
  for (int64_t t = 0; t < batch.num_tokens(); ++t)
    sum += test::cosine(&a.hidden[t * h], &b.hidden[t * h], static_cast<size_t>(h));
  if (outputs & runtime::kSeqLogits) {
    EXPECT_EQ(a.seq_logits.size(), b.seq_logits.size());
  }
  return sum / static_cast<double>(batch.num_tokens());
}

TEST(QuantizeRoundTrip, TinyFixtureModels) {
  for (const char* name : kTinyModels)
    for (bool rr : {false, true}) {
      SCOPED_TRACE(std::string(name) + (rr ? " reduce_range" : ""));
      const fs::path out = test::fresh_temp_dir(std::string(name) + (rr ? "-rr" : ""));
      // Random tiny models (hidden 32) are harsher on 7-bit steps than real ones.
      EXPECT_GT(round_trip(test::fixture_model(name), out, rr), 0.98);
      fs::remove_all(out);
    }
}

TEST(QuantizeRoundTrip, AllMiniLmL6V2) {
  ASSERT_TRUE(fs::exists(test::minilm_dir() / "model.safetensors"))
      << test::minilm_dir() << " is missing: run scripts/fetch_models.sh";
  const fs::path out = test::fresh_temp_dir("minilm");
  const double cos = round_trip(test::minilm_dir(), out, false);
  EXPECT_GT(cos, 0.99);
  // sentence-transformers files come along, so pooling and normalization are the same.
  const auto q = runtime::Engine::load(out.string());
  EXPECT_TRUE(q->info().pooling_from_config);
  EXPECT_TRUE(q->info().normalize);
  EXPECT_EQ(q->spec().num_layers(), 6);
  fs::remove_all(out);
}

// A model published only as pytorch_model.bin, tf_model.h5 or shards quantizes to the same
// int8 tensors as its safetensors copy, and no weights or shard index of the source come along.
TEST(QuantizeRoundTrip, EveryCheckpointFormatGivesTheSameInt8Model) {
  const fs::path fixture = test::fixture_model("tiny-bert-st6");
  const fs::path base = test::fresh_temp_dir("ckpt-safetensors");
  runtime::quantize_model(fixture.string(), base, {});
  const auto expected = io::SafetensorsFile::open(base / "model.safetensors");
  const fs::path checkpoints =
      fs::path(EMBER_SOURCE_DIR) / "tests/fixtures/checkpoints/tiny-bert-st6";
  for (const char* format : {"pytorch", "pytorch-sharded", "safetensors-sharded", "keras-h5"}) {
    SCOPED_TRACE(format);
    // The fixture's config, tokenizer and pooling files with this format's weights only.
    const fs::path src = test::fresh_temp_dir(std::string("ckpt-src-") + format);
    fs::create_directories(src);
    for (const auto& e : fs::directory_iterator(fixture))
      if (e.path().filename() != "model.safetensors")
        fs::copy(e.path(), src / e.path().filename(), fs::copy_options::recursive);
    for (const auto& e : fs::directory_iterator(checkpoints / format))
      fs::copy_file(e.path(), src / e.path().filename());
    const fs::path out = test::fresh_temp_dir(std::string("ckpt-out-") + format);
    const auto report = runtime::quantize_model(src.string(), out, {});
    EXPECT_GT(report.bytes_in, report.bytes_out);
    for (const auto& f : report.files_copied) {
      EXPECT_EQ(f.find(".index.json"), std::string::npos) << f;
      EXPECT_NE(fs::path(f).extension(), ".bin") << f;
      EXPECT_NE(fs::path(f).extension(), ".h5") << f;
    }
    const auto got = io::SafetensorsFile::open(out / "model.safetensors");
    ASSERT_EQ(got.tensors().size(), expected.tensors().size());
    for (const auto& [name, t] : expected.tensors()) {
      SCOPED_TRACE(name);
      // Keras names map under the model's prefix ("bert."), which the loader accepts.
      const std::string stored = got.has(name) ? name : "bert." + name;
      ASSERT_TRUE(got.has(stored));
      const Tensor g = got.get(stored);
      ASSERT_EQ(g.dtype, t.dtype);
      ASSERT_EQ(g.shape, t.shape);
      EXPECT_EQ(std::memcmp(g.data, t.data, t.nbytes()), 0);
    }
    EXPECT_EQ(runtime::Engine::load(out.string())->info().quantization, "int8-dynamic");
    fs::remove_all(src);
    fs::remove_all(out);
  }
  fs::remove_all(base);
}

TEST(QuantizeRoundTrip, RefusesAQuantizedModelAndItsOwnDirectory) {
  const fs::path out = test::fresh_temp_dir("twice");
  runtime::quantize_model(test::fixture_model("tiny-bert-tokcls").string(), out, {});
  try {
    runtime::quantize_model(out.string(), test::fresh_temp_dir("twice2"), {});
    ADD_FAILURE() << "quantizing an int8 model succeeded";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidInput) << e.what();
  }
  try {
    runtime::quantize_model(out.string(), out, {});
    ADD_FAILURE() << "quantizing into the model's own directory succeeded";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidInput) << e.what();
  }
  fs::remove_all(out);
}

TEST(QuantizeRoundTrip, SymmetricRowsRoundToNearestWithinHalfAStep) {
  const std::vector<float> w = {0.5f, -1.0f, 0.25f, 0.0f, 0.0f, 0.0f, 3.0f, 1.5f, -0.75f};
  std::vector<int8_t> q(9);
  std::vector<float> s(3);
  runtime::quantize_rows_symmetric(w.data(), 3, 3, 127, q.data(), s.data());
  EXPECT_EQ(s[0], 1.0f / 127);
  EXPECT_EQ(q[1], -127);
  EXPECT_EQ(q[0], 64);    // 63.5 rounds half to even
  EXPECT_EQ(s[1], 1.0f);  // a zero row keeps a positive scale
  EXPECT_EQ(q[6], 127);
  EXPECT_EQ(q[7], 64);  // 63.5 -> 64
  runtime::quantize_rows_symmetric(w.data(), 3, 3, 64, q.data(), s.data());
  EXPECT_EQ(q[1], -64);
  EXPECT_EQ(q[6], 64);
}

}  // namespace
}  // namespace ember
