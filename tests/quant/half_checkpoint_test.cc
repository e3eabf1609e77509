// Half-precision checkpoints (every float tensor F16, or every one BF16, as transformers saves a
// model with torch_dtype float16 / bfloat16): all-MiniLM-L6-v2 converted here, loaded with the
// default dtype. Where the CPU has avx512_bf16 the Linears run bf16 (F16 rounded to bf16 at
// load, BF16 in place); elsewhere they are widened to fp32 with the one-line note. Either way
// the embeddings stay within cosine 0.999 of the fp32 checkpoint's.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>

#include "core/cpu_features.h"
#include "core/dtype.h"
#include "io/safetensors.h"
#include "io/safetensors_writer.h"
#include "quant_test_util.h"
#include "runtime/engine.h"

namespace ember {
namespace {
namespace fs = std::filesystem;

const std::vector<std::string> kTexts = {"The movie was a delight from start to finish.",
                                         "A tedious, overlong mess.", "ok",
                                         "Stocks fell sharply on Tuesday after the report."};

uint16_t to_half(float f) {
  const _Float16 h = static_cast<_Float16>(f);  // round to nearest even
  uint16_t bits;
  std::memcpy(&bits, &h, 2);
  return bits;
}

// A copy of `src` whose model.safetensors has every F32 tensor as `dtype` (F16 or BF16).
void write_half_copy(const fs::path& src, const fs::path& out, DType dtype) {
  fs::create_directories(out);
  for (const auto& e : fs::directory_iterator(src)) {
    const std::string name = e.path().filename().string();
    if (name == "model.safetensors" || !e.is_regular_file() || name.ends_with(".bin") ||
        name.ends_with(".onnx"))
      continue;
    fs::copy_file(e.path(), out / name);
  }
  for (const char* d : {"1_Pooling", "2_Normalize"})
    if (fs::exists(src / d)) fs::copy(src / d, out / d, fs::copy_options::recursive);
  const auto st = io::SafetensorsFile::open(src / "model.safetensors");
  std::vector<io::TensorToWrite> tensors;
  std::vector<std::vector<uint16_t>> buffers;
  buffers.reserve(st.tensors().size());
  for (const auto& [name, t] : st.tensors()) {
    if (t.dtype != DType::kF32) {
      tensors.push_back({name, t});
      continue;
    }
    auto& b = buffers.emplace_back(static_cast<size_t>(t.numel()));
    const auto* f = static_cast<const float*>(t.data);
    for (int64_t i = 0; i < t.numel(); ++i)
      b[i] = dtype == DType::kF16 ? to_half(f[i]) : float_to_bf16(f[i]);
    tensors.push_back({name, Tensor{dtype, t.shape, b.data()}});
  }
  io::write_safetensors(out / "model.safetensors", tensors, st.metadata());
}

TEST(HalfCheckpoints, F16AndBf16MiniLmLoadAndEmbedCloseToFp32) {
  ASSERT_TRUE(fs::exists(test::minilm_dir() / "model.safetensors"))
      << test::minilm_dir() << " is missing: run scripts/fetch_models.sh";
  const auto fp = runtime::Engine::load(test::minilm_dir().string());
  const auto want = fp->embed(kTexts);
  const bool native = bf16_gemm_supported();
  for (DType dtype : {DType::kF16, DType::kBF16}) {
    SCOPED_TRACE(std::string(dtype_name(dtype)));
    const fs::path out =
        test::fresh_temp_dir(std::string("half-") + std::string(dtype_name(dtype)));
    write_half_copy(test::minilm_dir(), out, dtype);
    const auto e = runtime::Engine::load(out.string());
    EXPECT_EQ(e->info().dtype, native ? "bf16" : "fp32");
    EXPECT_EQ(e->info().dtype_note.empty(), native) << e->info().dtype_note;
    EXPECT_EQ(e->info().parameters, fp->info().parameters);
    const auto got = e->embed(kTexts);
    for (size_t i = 0; i < got.size(); ++i)
      EXPECT_GE(test::cosine(got[i].data(), want[i].data(), got[i].size()), 0.999) << kTexts[i];
    // --dtype fp32 runs the same checkpoint widened, exactly as stored.
    runtime::EngineOptions o;
    o.dtype = "fp32";
    EXPECT_EQ(runtime::Engine::load(out.string(), o)->info().dtype, "fp32");
    fs::remove_all(out);
  }
}

}  // namespace
}  // namespace ember
