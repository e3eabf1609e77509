// `ember quantize` end to end through the real binary: piped output is the JSON summary with
// no progress line; `ember info` and `ember bench` accept the int8 directory. `--dtype bf16`
// writes a bf16 directory that `ember info` and `ember embed` run, and `--dtype` at load.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "core/cpu_features.h"

namespace {
namespace fs = std::filesystem;

struct CliResult {
  int status = -1;
  std::string out, err;
};

CliResult ember(const std::string& args, const fs::path& tmp) {
  const std::string cmd = std::string(EMBER_BINARY_DIR) + "/src/cli/ember " + args + " >" +
                          (tmp / "out").string() + " 2>" + (tmp / "err").string();
  const int raw = std::system(cmd.c_str());
  auto slurp = [](const fs::path& p) {
    std::ifstream f(p);
    return std::string(std::istreambuf_iterator<char>(f), {});
  };
  return {WIFEXITED(raw) ? WEXITSTATUS(raw) : 128 + WTERMSIG(raw), slurp(tmp / "out"),
          slurp(tmp / "err")};
}

TEST(QuantizeCli, WritesAnInt8ModelThatInfoAndBenchAccept) {
  const fs::path tmp =
      fs::temp_directory_path() / ("ember-quantize-cli-" + std::to_string(::getpid()));
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  const fs::path src = fs::path(EMBER_SOURCE_DIR) / "tests/fixtures/models/tiny-bert-seqcls";
  const fs::path out = tmp / "int8";
  CliResult r = ember("quantize --model '" + src.string() + "' --out '" + out.string() + "'", tmp);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.err, "");  // piped: no progress
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["scheme"], "int8-dynamic");
  EXPECT_GT(j["tensors_quantized"].get<int>(), 0);

  r = ember("info --model '" + out.string() + "'", tmp);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["quantization"], "int8-dynamic");
  r = ember("info --model '" + src.string() + "'", tmp);
  EXPECT_EQ(nlohmann::json::parse(r.out)["quantization"], "none");

  r = ember("bench --model '" + out.string() + "' --model '" + src.string() +
                "' --batches 1 --lengths 8 --reps 2 --warmup 1",
            tmp);
  EXPECT_EQ(r.status, 0) << r.err;

  r = ember(
      "quantize --model '" + (tmp / "nowhere").string() + "' --out '" + (tmp / "x").string() + "'",
      tmp);
  EXPECT_NE(r.status, 0);
  fs::remove_all(tmp);
}

TEST(QuantizeCli, Bf16DirectoryAndTheDtypeFlag) {
  const fs::path tmp =
      fs::temp_directory_path() / ("ember-quantize-cli-bf16-" + std::to_string(::getpid()));
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  const fs::path src = fs::path(EMBER_SOURCE_DIR) / "tests/fixtures/models/tiny-bert-seqcls";
  const fs::path out = tmp / "bf16";
  CliResult r = ember(
      "quantize --dtype bf16 --model '" + src.string() + "' --out '" + out.string() + "'", tmp);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["scheme"], "bf16");

  // The default dtype runs the stored bf16 where the CPU can, and says why where it cannot.
  const bool native = ember::bf16_gemm_supported();
  r = ember("info --model '" + out.string() + "'", tmp);
  ASSERT_EQ(r.status, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["dtype"], native ? "bf16" : "fp32");
  EXPECT_EQ(j["dtype_note"].get<std::string>().empty(), native) << j["dtype_note"];
  EXPECT_EQ(j["quantization"], "none");
  r = ember("info --dtype bf16 --model '" + src.string() + "'", tmp);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["dtype"], native ? "bf16" : "fp32");
  r = ember("info --model '" + src.string() + "'", tmp);
  EXPECT_EQ(nlohmann::json::parse(r.out)["dtype"], "fp32");

  r = ember("embed --model '" + out.string() + "' 'a short text'", tmp);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.err.empty(), native) << r.err;  // the note, one line, on stderr
  EXPECT_EQ(nlohmann::json::parse(r.out)["embeddings"].size(), 1u);

  r = ember("info --dtype fp16 --model '" + src.string() + "'", tmp);
  EXPECT_NE(r.status, 0);
  r = ember("quantize --dtype bf16 --reduce-range --model '" + src.string() + "' --out '" +
                (tmp / "rr").string() + "'",
            tmp);
  EXPECT_NE(r.status, 0);
  EXPECT_FALSE(fs::exists(tmp / "rr"));
  fs::remove_all(tmp);
}

// --keep-fp32: the kept Linears in the summary and in `ember info`; a bad SPEC is invalid input
// (exit code 2) with a message naming it, and leaves no directory.
TEST(QuantizeCli, KeepFp32) {
  const fs::path tmp =
      fs::temp_directory_path() / ("ember-quantize-cli-keep-" + std::to_string(::getpid()));
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  const fs::path src = fs::path(EMBER_SOURCE_DIR) / "tests/fixtures/models/tiny-bert-seqcls";
  const std::string model = " --model '" + src.string() + "' --out '" + (tmp / "q").string() + "'";
  CliResult r = ember("quantize --keep-fp32 layer.1.ffn_out --keep-fp32 ffn_in" + model, tmp);
  ASSERT_EQ(r.status, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["fp32_linears"],
            nlohmann::json::parse(R"(["layer.0.ffn_in","layer.1.ffn_in","layer.1.ffn_out"])"));
  EXPECT_FALSE(j.contains("sensitivity"));
  r = ember("info --model '" + (tmp / "q").string() + "'", tmp);
  ASSERT_EQ(r.status, 0) << r.err;
  j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["quantization"], "int8-dynamic");
  EXPECT_EQ(j["fp32_linears"], 3);
  EXPECT_EQ(j["fp32_linear_names"].size(), 3u);

  r = ember("quantize --force --keep-fp32 auto:1" + model, tmp);
  ASSERT_EQ(r.status, 0) << r.err;
  j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["fp32_linears"].size(), 1u);
  ASSERT_EQ(j["sensitivity"].size(), 8u);  // 2 layers x 4 Linears, worst first
  EXPECT_EQ(j["sensitivity"][0]["linear"], j["fp32_linears"][0]);
  EXPECT_GE(j["sensitivity"][0]["score"].get<double>(), j["sensitivity"][7]["score"].get<double>());
  r = ember("info --model '" + (tmp / "q").string() + "'", tmp);
  EXPECT_EQ(nlohmann::json::parse(r.out)["fp32_linears"], 1);
  fs::remove_all(tmp / "q");

  for (const std::string bad : {"v", "layer.2", "mlp", "auto:0", "auto:99"}) {
    r = ember("quantize --keep-fp32 " + bad + model, tmp);
    EXPECT_EQ(r.status, 2) << bad << ": " << r.err;
    EXPECT_NE(r.err.find(bad == "v" ? "qkv" : bad.substr(0, 4)), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(tmp / "q")) << bad;
  }
  fs::remove_all(tmp);
}

}  // namespace
