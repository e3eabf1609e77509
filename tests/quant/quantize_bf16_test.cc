// ember quantize --dtype bf16: the written file (encoder-layer Linear weights BF16, rounded to
// nearest even, everything else F32, no int8 marker), and the model it loads as: bf16 by default
// where the CPU has avx512_bf16 (else widened to fp32, with the one-line note), embedding
// within cosine 0.9999 of the fp32 model, and with --dtype fp32 exactly the bf16 values in fp32.
#include <gtest/gtest.h>

#include <filesystem>

#include "core/cpu_features.h"
#include "core/dtype.h"
#include "io/safetensors.h"
#include "model/int8_weights.h"
#include "quant_test_util.h"
#include "runtime/engine.h"
#include "runtime/quantize_model.h"

namespace ember {
namespace {
namespace fs = std::filesystem;

const std::vector<std::string> kTexts = {"The movie was a delight from start to finish.",
                                         "A tedious, overlong mess.", "ok",
                                         "Stocks fell sharply on Tuesday after the report."};

runtime::QuantizeReport quantize_bf16(const fs::path& src, const fs::path& out) {
  runtime::QuantizeOptions o;
  o.dtype = "bf16";
  return runtime::quantize_model(src.string(), out, o);
}

TEST(QuantizeBf16, WritesBf16LayerLinearsAndLoadsAsBf16) {
  ASSERT_TRUE(fs::exists(test::minilm_dir() / "model.safetensors"))
      << test::minilm_dir() << " is missing: run scripts/fetch_models.sh";
  const fs::path out = test::fresh_temp_dir("bf16-minilm");
  const auto report = quantize_bf16(test::minilm_dir(), out);
  EXPECT_EQ(report.tensors_quantized, 6 * 6);  // Q, K, V, O, FFN in, FFN out per layer
  EXPECT_LT(report.bytes_out, report.bytes_in);
  EXPECT_GT(report.max_abs_error, 0.0);
  EXPECT_TRUE(fs::exists(out / "tokenizer.json"));
  EXPECT_TRUE(fs::exists(out / "modules.json"));

  // The file: BF16 exactly where the source had layer Linear weights, each value the source's
  // rounded to nearest even; the rest F32 (I64 position ids as they were).
  const auto src = io::SafetensorsFile::open(test::minilm_dir() / "model.safetensors");
  const auto st = io::SafetensorsFile::open(out / "model.safetensors");
  EXPECT_EQ(st.metadata().count(model::kQuantizationKey), 0u);
  int bf16 = 0;
  for (const auto& [name, t] : st.tensors()) {
    if (t.dtype != DType::kBF16) {
      EXPECT_TRUE(t.dtype == DType::kF32 || t.dtype == DType::kI64) << name;
      continue;
    }
    ++bf16;
    EXPECT_NE(name.find("layer."), std::string::npos) << name;
    EXPECT_EQ(t.shape.rank(), 2) << name;
    const Tensor& s = src.get(name);
    ASSERT_EQ(s.dtype, DType::kF32) << name;
    const auto* got = static_cast<const uint16_t*>(t.data);
    const auto* want = static_cast<const float*>(s.data);
    int64_t wrong = 0;
    for (int64_t i = 0; i < t.numel(); ++i) wrong += got[i] != float_to_bf16(want[i]);
    EXPECT_EQ(wrong, 0) << name;
  }
  EXPECT_EQ(bf16, report.tensors_quantized);

  // Loads (auto: bf16 where the GEMM can use it), embeds close to fp32.
  const auto fp = runtime::Engine::load(test::minilm_dir().string());
  const auto b = runtime::Engine::load(out.string());
  const bool native = bf16_gemm_supported();
  EXPECT_EQ(b->info().dtype, native ? "bf16" : "fp32");
  EXPECT_EQ(b->info().dtype_note.empty(), native) << b->info().dtype_note;
  EXPECT_TRUE(b->info().pooling_from_config);
  const auto ea = fp->embed(kTexts), eb = b->embed(kTexts);
  ASSERT_EQ(ea.size(), eb.size());
  for (size_t i = 0; i < ea.size(); ++i)
    EXPECT_GE(test::cosine(ea[i].data(), eb[i].data(), ea[i].size()), 0.9999) << kTexts[i];

  // --dtype fp32 widens the stored bf16 exactly: on AVX2 it is the same computation as the
  // default there, and on either ISA it stays close to the bf16 run.
  runtime::EngineOptions o32;
  o32.dtype = "fp32";
  const auto w = runtime::Engine::load(out.string(), o32);
  EXPECT_EQ(w->info().dtype, "fp32");
  EXPECT_TRUE(w->info().dtype_note.empty());
  const auto ew = w->embed(kTexts);
  for (size_t i = 0; i < ew.size(); ++i)
    EXPECT_GE(test::cosine(ew[i].data(), eb[i].data(), ew[i].size()), 0.9999) << kTexts[i];
  fs::remove_all(out);
}

TEST(QuantizeBf16, TinyFixtureModelsRoundTrip) {
  for (const char* name : {"tiny-bert-seqcls", "tiny-distilbert", "tiny-roberta"}) {
    SCOPED_TRACE(name);
    const fs::path out = test::fresh_temp_dir(std::string("bf16-") + name);
    const auto report = quantize_bf16(test::fixture_model(name), out);
    EXPECT_GT(report.tensors_quantized, 0);
    const auto fp = runtime::Engine::load(test::fixture_model(name).string());
    const auto b = runtime::Engine::load(out.string());
    std::vector<tok::Encoding> encs;
    for (const auto& t : kTexts) encs.push_back(fp->tokenize(t));
    const auto batch = runtime::Engine::pack(encs);
    const auto ra = fp->run(batch, runtime::kHidden), rb = b->run(batch, runtime::kHidden);
    const int64_t h = ra.hidden_size;
    for (int64_t t = 0; t < batch.num_tokens(); ++t)
      EXPECT_GE(test::cosine(&ra.hidden[t * h], &rb.hidden[t * h], static_cast<size_t>(h)), 0.999)
          << "token " << t;
    fs::remove_all(out);
  }
}

TEST(QuantizeBf16, RefusesReduceRangeAndUnknownDtypes) {
  const fs::path out = test::fresh_temp_dir("bf16-bad");
  runtime::QuantizeOptions o;
  o.dtype = "bf16";
  o.reduce_range = true;
  EXPECT_THROW(runtime::quantize_model(test::fixture_model("tiny-bert-tokcls").string(), out, o),
               Error);
  o.reduce_range = false;
  o.dtype = "fp8";
  EXPECT_THROW(runtime::quantize_model(test::fixture_model("tiny-bert-tokcls").string(), out, o),
               Error);
  EXPECT_FALSE(fs::exists(out));
}

}  // namespace
}  // namespace ember
