// ember quantize --keep-fp32: the SPEC grammar and its typed errors, the Linears kept in an
// int8 model (F32 in the file, listed in the marker, run by the fp32 kernels: bit-identical to
// the float model), and auto:N keeping the Linears its sensitivity ranking puts first.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "backends/cpu/cpu_backend.h"
#include "io/checkpoint.h"
#include "io/json_config.h"
#include "io/model_dir.h"
#include "io/safetensors.h"
#include "model/int8_weights.h"
#include "quant_test_util.h"
#include "runtime/engine.h"
#include "runtime/keep_fp32.h"
#include "runtime/quantize_model.h"

namespace ember {
namespace {
namespace fs = std::filesystem;

using runtime::parse_keep_fp32;
using runtime::resolve_keep_fp32;

constexpr int kKinds = model::kLinearKindCount;
const char* const kTiny = "tiny-bert-seqcls";  // 2 layers

Error error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e;
  }
  ADD_FAILURE() << "no error";
  return Error(ErrorKind::kInternal, "");
}

void expect_invalid(const std::function<void()>& f, const std::string& fragment) {
  const Error e = error_of(f);
  EXPECT_EQ(e.kind(), ErrorKind::kInvalidInput) << e.what();
  EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
}

TEST(KeepFp32Spec, KindsLayersAndAuto) {
  const auto k = parse_keep_fp32("ffn_out, layer.2 ,layer.1.qkv,auto:3");
  EXPECT_EQ(k.auto_count, 3);
  ASSERT_EQ(k.items.size(), 3u);
  const std::vector<bool> keep = resolve_keep_fp32(k, 4);
  ASSERT_EQ(keep.size(), 16u);
  for (int64_t l = 0; l < 4; ++l)
    for (int kind = 0; kind < kKinds; ++kind) {
      const bool want = kind == 3 || l == 2 || (l == 1 && kind == 0);
      EXPECT_EQ(keep[l * kKinds + kind], want) << model::linear_name(l, kind);
    }
  EXPECT_TRUE(parse_keep_fp32("auto:1").items.empty());
  EXPECT_EQ(model::linear_name(11, 3), "layer.11.ffn_out");
}

TEST(KeepFp32Spec, TypedErrors) {
  expect_invalid([] { parse_keep_fp32(""); }, "empty item");
  expect_invalid([] { parse_keep_fp32("ffn_out,,qkv"); }, "empty item");
  expect_invalid([] { parse_keep_fp32("mlp"); }, "unknown Linear kind 'mlp'");
  expect_invalid([] { parse_keep_fp32("layer.0.output"); }, "unknown Linear kind 'output'");
  expect_invalid([] { parse_keep_fp32("v"); }, "keep 'qkv'");
  expect_invalid([] { parse_keep_fp32("layer.3.q"); }, "keep 'qkv'");
  expect_invalid([] { parse_keep_fp32("layer.x.ffn_out"); }, "layer index");
  expect_invalid([] { parse_keep_fp32("layer.-1"); }, "layer index");
  expect_invalid([] { parse_keep_fp32("layer."); }, "layer index");
  expect_invalid([] { parse_keep_fp32("auto:0"); }, "positive whole number");
  expect_invalid([] { parse_keep_fp32("auto:two"); }, "positive whole number");
  expect_invalid([] { parse_keep_fp32("auto:"); }, "positive whole number");
  expect_invalid([] { parse_keep_fp32("auto:1,auto:2"); }, "more than one auto");
  expect_invalid([] { resolve_keep_fp32(parse_keep_fp32("layer.12.ffn_in"), 12); },
                 "layer 12 is out of range: the model has 12 layers (0-11)");
}

TEST(KeepFp32Spec, MostSensitiveAmongTheFree) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const std::vector<double> score = {0.5, nan, 0.9, 0.1, 0.9, 0.3};
  std::vector<bool> keep = {false, false, true, false, false, false};
  runtime::keep_most_sensitive(score, 2, keep);  // 2 is kept already: 4 (0.9), then 0 (0.5)
  EXPECT_EQ(keep, (std::vector<bool>{true, false, true, false, true, false}));
  expect_invalid([&] { runtime::keep_most_sensitive(score, 3, keep); }, "only 2");
}

// The float model of `dir` and its int8 copy, each prepared on `backend`.
std::unique_ptr<model::Model> load_unprepared(const fs::path& dir) {
  const io::ModelFiles files = io::resolve_model(dir.string());
  return model::Model::load(io::JsonConfig::load(*files.config),
                            io::load_checkpoint(*files.checkpoint));
}

std::unique_ptr<model::Model> load_model(const fs::path& dir, ops::Backend& backend) {
  auto m = load_unprepared(dir);
  m->prepare(backend);
  return m;
}

std::vector<float> to_host(const ops::Backend& b, const ops::View& v) {
  std::vector<float> out(static_cast<size_t>(v.rows * v.cols));
  b.to_host(v, out.data());
  return out;
}

TEST(KeepFp32, KeptLayerIsBitIdenticalToFp32) {
  const fs::path src = test::fixture_model(kTiny), out = test::fresh_temp_dir("keep-layer");
  runtime::QuantizeOptions o;
  o.keep_fp32 = "layer.0";
  const auto r = runtime::quantize_model(src.string(), out, o);
  EXPECT_EQ(r.fp32_linears, (std::vector<std::string>{"layer.0.qkv", "layer.0.attn_out",
                                                      "layer.0.ffn_in", "layer.0.ffn_out"}));
  cpu::CpuBackend backend;
  const auto fp = load_model(src, backend), q8 = load_model(out, backend);
  EXPECT_EQ(q8->quantization(), model::kInt8Scheme);
  EXPECT_EQ(q8->weights().fp32_linears, r.fp32_linears);
  model::Batch batch;
  const std::vector<int32_t> a = {101, 1023, 1185, 1001, 1037, 999, 102}, b = {101, 729, 102};
  batch.add(a);
  batch.add(b);
  model::Workspace wf(backend), wq(backend);
  fp->start(batch, wf);
  q8->start(batch, wq);
  // Layer 0 is all fp32 in both, and so is everything before it: the same bits.
  const auto f0 = to_host(backend, fp->run_layer(0, batch, wf));
  const auto q0 = to_host(backend, q8->run_layer(0, batch, wq));
  ASSERT_EQ(f0.size(), q0.size());
  EXPECT_EQ(std::memcmp(f0.data(), q0.data(), sizeof(float) * f0.size()), 0);
  // Layer 1 is int8: close, not equal (the quantization is there).
  const auto f1 = to_host(backend, fp->run_layer(1, batch, wf));
  const auto q1 = to_host(backend, q8->run_layer(1, batch, wq));
  EXPECT_NE(std::memcmp(f1.data(), q1.data(), sizeof(float) * f1.size()), 0);
  EXPECT_GT(test::cosine(f1.data(), q1.data(), f1.size()), 0.98);
  fs::remove_all(out);
}

// A kept layer after an int8 one (whose attention ran in bf16 where the CPU has avx512_bf16),
// on a real model: given the float model's input to that layer, the same bits out.
TEST(KeepFp32, KeptLayerAfterAnInt8LayerIsBitIdenticalToFp32MiniLm) {
  const fs::path src = test::minilm_dir(), out = test::fresh_temp_dir("keep-minilm");
  ASSERT_TRUE(fs::exists(src / "model.safetensors")) << "run scripts/fetch_models.sh";
  runtime::QuantizeOptions o;
  o.keep_fp32 = "layer.1";
  o.threads = 1;
  runtime::quantize_model(src.string(), out, o);
  cpu::CpuBackendOptions bo;
  bo.pool.threads = 1;
  cpu::CpuBackend backend(bo);
  const auto fp = load_model(src, backend);
  const auto q8 = load_unprepared(out);
  // Before prepare: the packed backend frees the fused int8 copy once it has its own.
  ASSERT_TRUE(q8->weights().layers[0].qkv.is_int8());
  q8->prepare(backend);
  model::Batch batch;
  const std::vector<int32_t> a = {101, 7592, 2088, 2003, 1037, 3231, 1997, 1996, 2944, 1012, 102},
                             b = {101, 1041, 2232, 1012, 102};
  batch.add(a);
  batch.add(b);
  model::Workspace wf(backend), wq(backend);
  fp->start(batch, wf);
  q8->start(batch, wq);
  const auto f0 = to_host(backend, fp->run_layer(0, batch, wf));
  q8->run_layer(0, batch, wq);  // int8, its attention in bf16 where the CPU has it
  const ops::View x = wq.view(model::Workspace::kX, batch.num_tokens(), q8->spec().hidden_size);
  std::memcpy(x.data, f0.data(), sizeof(float) * f0.size());
  const auto f1 = to_host(backend, fp->run_layer(1, batch, wf));
  const auto q1 = to_host(backend, q8->run_layer(1, batch, wq));
  EXPECT_EQ(std::memcmp(f1.data(), q1.data(), sizeof(float) * f1.size()), 0);
  fs::remove_all(out);
}

TEST(KeepFp32, KeptLinearIsWrittenF32AndRunsTheFp32Kernel) {
  const fs::path src = test::fixture_model(kTiny), out = test::fresh_temp_dir("keep-linear");
  runtime::QuantizeOptions o;
  o.keep_fp32 = "layer.1.ffn_out";
  const auto r = runtime::quantize_model(src.string(), out, o);
  EXPECT_EQ(r.fp32_linears, std::vector<std::string>{"layer.1.ffn_out"});

  // The file: that weight F32 as in the source, without scales; the marker lists it.
  const auto st = io::SafetensorsFile::open(out / "model.safetensors");
  const auto ss = io::SafetensorsFile::open(src / "model.safetensors");
  const std::string kept = "bert.encoder.layer.1.output.dense";
  ASSERT_TRUE(st.has(kept + ".weight"));
  EXPECT_EQ(st.get(kept + ".weight").dtype, DType::kF32);
  EXPECT_EQ(std::memcmp(st.get(kept + ".weight").data, ss.get(kept + ".weight").data,
                        st.get(kept + ".weight").nbytes()),
            0);
  EXPECT_FALSE(st.has(kept + ".weight_scale"));
  EXPECT_FALSE(st.has(kept + ".input_scale"));
  EXPECT_EQ(st.get("bert.encoder.layer.0.output.dense.weight").dtype, DType::kI8);
  EXPECT_EQ(st.get("bert.encoder.layer.1.intermediate.dense.weight").dtype, DType::kI8);
  EXPECT_NE(st.metadata().at(model::kQuantizationKey).find(R"("fp32_linears":["layer.1.ffn_out"])"),
            std::string::npos);

  cpu::CpuBackend backend;
  const auto fp = load_model(src, backend), q8 = load_model(out, backend);
  const ops::LinearSource &lf = fp->weights().layers[1].ffn_out,
                          &lq = q8->weights().layers[1].ffn_out;
  ASSERT_FALSE(lq.is_int8());
  EXPECT_TRUE(q8->weights().layers[1].ffn_in.is_int8());
  EXPECT_TRUE(q8->weights().layers[0].ffn_out.is_int8());
  // Prepared on the backend and run on the same input: the same bits as the float model's.
  const auto pf = backend.prepare_linear(lf), pq = backend.prepare_linear(lq);
  const int64_t rows = 9;
  std::vector<float> x(static_cast<size_t>(rows * lf.in));
  std::mt19937 rng(7);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  for (float& v : x) v = dist(rng);
  std::vector<float> yf(static_cast<size_t>(rows * lf.out)), yq(yf.size());
  backend.linear(*pf, ops::dense_view(x.data(), rows, lf.in),
                 ops::dense_view(yf.data(), rows, lf.out));
  backend.linear(*pq, ops::dense_view(x.data(), rows, lq.in),
                 ops::dense_view(yq.data(), rows, lq.out));
  EXPECT_EQ(std::memcmp(yf.data(), yq.data(), sizeof(float) * yf.size()), 0);

  // Through the engine: the count and names in the model info.
  const auto e = runtime::Engine::load(out.string());
  EXPECT_EQ(e->info().quantization, "int8-dynamic");
  EXPECT_EQ(e->info().fp32_linears, std::vector<std::string>{"layer.1.ffn_out"});
  EXPECT_TRUE(runtime::Engine::load(src.string())->info().fp32_linears.empty());
  fs::remove_all(out);
}

// The model's dtype names its float Linears wherever the kept ones are (not layer 0's Q/K/V
// only): fp32 as written, bf16 when loaded in bf16; an int8 model without kept Linears has no
// float Linear and reads fp32.
TEST(KeepFp32, Bf16LinearsNamesTheKeptLinearsWhereverTheyAre) {
  const fs::path src = test::fixture_model(kTiny);
  auto load_as = [](const fs::path& dir, DType dtype) {
    const io::ModelFiles files = io::resolve_model(dir.string());
    io::WeightStore store = io::load_checkpoint(*files.checkpoint);
    store.set_linear_dtype(dtype);
    return model::Model::load(io::JsonConfig::load(*files.config), std::move(store));
  };
  for (const char* spec : {"layer.0.qkv", "layer.1.ffn_out"}) {
    SCOPED_TRACE(spec);
    const fs::path out = test::fresh_temp_dir("keep-dtype");
    runtime::QuantizeOptions o;
    o.keep_fp32 = spec;
    runtime::quantize_model(src.string(), out, o);
    EXPECT_FALSE(load_as(out, DType::kF32)->bf16_linears());
    const auto b = load_as(out, DType::kBF16);
    EXPECT_TRUE(b->bf16_linears());
    EXPECT_TRUE(b->weights().layers[0].ffn_in.is_int8());
    fs::remove_all(out);
  }
  const fs::path all = test::fresh_temp_dir("keep-dtype-none");
  runtime::quantize_model(src.string(), all, runtime::QuantizeOptions{});
  EXPECT_FALSE(load_as(all, DType::kBF16)->bf16_linears());
  fs::remove_all(all);
  EXPECT_TRUE(load_as(src, DType::kBF16)->bf16_linears());
  EXPECT_FALSE(load_as(src, DType::kF32)->bf16_linears());
}

TEST(KeepFp32, AutoKeepsTheHighestScores) {
  const fs::path src = test::fixture_model(kTiny), out = test::fresh_temp_dir("keep-auto");
  runtime::QuantizeOptions o;
  o.keep_fp32 = "auto:3";
  o.threads = 1;
  const auto r = runtime::quantize_model(src.string(), out, o);
  ASSERT_EQ(r.sensitivity.size(), 2u * kKinds);  // every Linear of both layers, ranked
  for (size_t i = 0; i < r.sensitivity.size(); ++i) {
    EXPECT_TRUE(std::isfinite(r.sensitivity[i].second)) << r.sensitivity[i].first;
    EXPECT_GE(r.sensitivity[i].second, 0.0) << r.sensitivity[i].first;
    if (i > 0) {
      EXPECT_GE(r.sensitivity[i - 1].second, r.sensitivity[i].second);
    }
  }
  // Some Linear costs something in int8 (else the ranking would mean nothing).
  EXPECT_GT(r.sensitivity.front().second, 0.0);
  std::vector<std::string> top;
  for (size_t i = 0; i < 3; ++i) top.push_back(r.sensitivity[i].first);
  std::vector<std::string> kept = r.fp32_linears;
  std::sort(top.begin(), top.end());
  std::sort(kept.begin(), kept.end());
  EXPECT_EQ(kept, top);
  EXPECT_EQ(runtime::Engine::load(out.string())->info().fp32_linears, r.fp32_linears);

  // Explicit items first, auto:N among the others.
  fs::remove_all(out);
  o.keep_fp32 = "ffn_out,auto:1";
  const auto r2 = runtime::quantize_model(src.string(), out, o);
  ASSERT_EQ(r2.fp32_linears.size(), 3u);
  EXPECT_NE(std::find(r2.fp32_linears.begin(), r2.fp32_linears.end(), "layer.0.ffn_out"),
            r2.fp32_linears.end());
  EXPECT_NE(std::find(r2.fp32_linears.begin(), r2.fp32_linears.end(), "layer.1.ffn_out"),
            r2.fp32_linears.end());
  fs::remove_all(out);
}

TEST(KeepFp32, QuantizeRefusesBadSpecsAndWritesNothing) {
  const fs::path src = test::fixture_model(kTiny), out = test::fresh_temp_dir("keep-bad");
  auto quantize = [&](const std::string& spec, const std::string& dtype = "int8") {
    runtime::QuantizeOptions o;
    o.dtype = dtype;
    o.keep_fp32 = spec;
    runtime::quantize_model(src.string(), out, o);
  };
  expect_invalid([&] { quantize("layer.2.ffn_out"); }, "the model has 2 layers");
  expect_invalid([&] { quantize("v"); }, "keep 'qkv'");
  expect_invalid([&] { quantize("qkv,attn_out,ffn_in,ffn_out"); }, "nothing is left to quantize");
  expect_invalid([&] { quantize("auto:9"); }, "only 8");
  expect_invalid([&] { quantize("layer.0,auto:5"); }, "only 4");
  expect_invalid([&] { quantize("ffn_out", "bf16"); }, "int8 only");
  EXPECT_FALSE(fs::exists(out));
}

}  // namespace
}  // namespace ember
