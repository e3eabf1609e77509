// int8 Linear on the encoder's shapes: cpu::linear_int8 (quantize rows + integer GEMM +
// dequantize, no bias) with each GEMM forced, and fp32 cpu::linear for scale. Repetitions are
// interleaved (every rep visits every shape and kernel, rotating the order); cells report the
// median over reps of GOP/s (2*M*N*K per call). docs/gemm.md (int8 section) has the results.
//   bench_gemm_int8_bench OUT.json [--reps N] [--threads T] [--min-ms MS] [--m 1,8,...]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "core/aligned_buffer.h"
#include "core/cpu_features.h"
#include "core/parallel.h"
#include "backends/cpu/linear_int8_cpu.h"
#include "backends/cpu/cpu_ops.h"

namespace {

using namespace ember;

struct Shape {
  int64_t m, n, k;
};

struct Lib {
  const char* name;
  cpu::Int8Gemm gemm;  // kAuto with fp32 == true means cpu::linear
  bool fp32;
};

const Lib kLibs[] = {{"int8_avx2", cpu::Int8Gemm::kAvx2, false},
                     {"int8_dnnl", cpu::Int8Gemm::kDnnl, false},
                     {"int8_auto", cpu::Int8Gemm::kAuto, false},
                     {"fp32_linear", cpu::Int8Gemm::kAuto, true}};

std::vector<int64_t> parse_list(const std::string& s) {
  std::vector<int64_t> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) out.push_back(std::atoll(item.c_str()));
  return out;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: " << argv[0]
              << " OUT.json [--reps N] [--threads T] [--min-ms MS] [--m 1,8,16,32,128,1024]\n";
    return 2;
  }
  const std::string out_path = argv[1];
  int reps = 5, threads = 2;
  double min_ms = 20;
  std::vector<int64_t> ms = {1, 8, 16, 32, 128, 1024};
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--reps")
      reps = std::atoi(argv[i + 1]);
    else if (flag == "--threads")
      threads = std::atoi(argv[i + 1]);
    else if (flag == "--min-ms")
      min_ms = std::atof(argv[i + 1]);
    else if (flag == "--m")
      ms = parse_list(argv[i + 1]);
    else {
      std::cerr << "unknown flag " << flag << "\n";
      return 2;
    }
  }
  set_num_threads(threads);
  const int64_t nks[][2] = {{384, 384}, {1152, 384}, {1536, 384}, {384, 1536},
                            {768, 768}, {2304, 768}, {3072, 768}, {768, 3072}};
  std::vector<Shape> shapes;
  for (int64_t m : ms)
    for (const auto& nk : nks) shapes.push_back({m, nk[0], nk[1]});

  std::mt19937 rng(1);
  std::uniform_int_distribution<int> dw(-127, 127);
  std::uniform_real_distribution<float> dx(-2.0f, 2.0f);
  const size_t nlibs = std::size(kLibs);
  std::vector<std::vector<std::vector<double>>> gops(shapes.size(),
                                                     std::vector<std::vector<double>>(nlibs));
  for (int rep = 0; rep < reps; ++rep) {
    for (size_t si = 0; si < shapes.size(); ++si) {
      const Shape& s = shapes[si];
      AlignedBuffer<float> x(static_cast<size_t>(s.m * s.k)), y(static_cast<size_t>(s.m * s.n));
      AlignedBuffer<float> wf(static_cast<size_t>(s.n * s.k)), scale(static_cast<size_t>(s.n));
      AlignedBuffer<int8_t> w(static_cast<size_t>(s.n * s.k));
      AlignedBuffer<int32_t> sums(static_cast<size_t>(s.n));
      for (int64_t i = 0; i < s.m * s.k; ++i) x[i] = dx(rng);
      for (int64_t i = 0; i < s.n * s.k; ++i) {
        w[i] = static_cast<int8_t>(dw(rng));
        wf[i] = w[i] * 0.01f;
      }
      for (int64_t j = 0; j < s.n; ++j) {
        scale[j] = 0.01f;
        sums[j] = 0;
        for (int64_t p = 0; p < s.k; ++p) sums[j] += w[j * s.k + p];
      }
      const ops::Int8Weights qw{w.data(), scale.data(), sums.data(), 127};
      for (size_t li = 0; li < nlibs; ++li) {
        const Lib& lib = kLibs[(li + rep + si) % nlibs];  // rotate the order
        const size_t lib_index = static_cast<size_t>(&lib - kLibs);
        auto call = [&] {
          if (lib.fp32)
            cpu::linear(x.data(), s.m, s.k, s.k, wf.data(), nullptr, s.n, y.data(), s.n);
          else
            cpu::linear_int8(x.data(), s.m, s.k, s.k, qw, nullptr, s.n, y.data(), s.n,
                             ops::Activation::kNone, nullptr, lib.gemm);
        };
        call();  // warm-up
        int calls = 0;
        const auto t0 = std::chrono::steady_clock::now();
        double elapsed = 0;
        do {
          call();
          ++calls;
          elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        } while (elapsed * 1e3 < min_ms);
        gops[si][lib_index].push_back(2.0 * s.m * s.n * s.k * calls / elapsed * 1e-9);
      }
    }
    std::cerr << "rep " << rep + 1 << "/" << reps << " done\n";
  }

  std::ofstream out(out_path);
  out << "{\n  \"threads\": " << threads << ",\n  \"reps\": " << reps << ",\n  \"isa\": \""
      << isa_name(active_isa())
      << "\",\n  \"unit\": \"GOP/s (median over reps)\",\n  \"cells\": [\n";
  std::cout << "| M | N | K |";
  for (const Lib& l : kLibs) std::cout << " " << l.name << " |";
  std::cout << " auto picks |\n|---:|---:|---:|";
  for (size_t i = 0; i < nlibs; ++i) std::cout << "---:|";
  std::cout << "---|\n";
  for (size_t si = 0; si < shapes.size(); ++si) {
    const Shape& s = shapes[si];
    out << "    {\"m\": " << s.m << ", \"n\": " << s.n << ", \"k\": " << s.k;
    std::cout << "| " << s.m << " | " << s.n << " | " << s.k << " |";
    for (size_t li = 0; li < nlibs; ++li) {
      const double g = median(gops[si][li]);
      out << ", \"" << kLibs[li].name << "\": " << g;
      char buf[32];
      std::snprintf(buf, sizeof buf, " %.0f |", g);
      std::cout << buf;
    }
    std::cout << " " << cpu::int8_gemm_name(cpu::select_int8_gemm(s.m, s.n, s.k)) << " |\n";
    out << "}" << (si + 1 < shapes.size() ? "," : "") << "\n";
  }
  out << "  ]\n}\n";
  return 0;
}
