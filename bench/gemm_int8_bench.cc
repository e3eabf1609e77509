// int8 Linear on the encoder's shapes: cpu::linear_int8 (quantize rows + integer GEMM +
// dequantize, no bias) with each GEMM forced, and fp32 cpu::linear for scale. Repetitions are
// interleaved (every rep visits every shape and kernel, rotating the order); cells report the
// median over reps of GOP/s (2*M*N*K per call). docs/gemm.md (int8 section) has the results.
// Libraries: int8_avx2, int8_dnnl (unpacked weights), int8_packed_dnnl (oneDNN's primitive on
// weights packed at load, one column slice per thread), int8_packed_vnni (our AVX-512 VNNI
// panel kernel on the same packed weights), int8_auto (what the engine runs: packed weights,
// kAuto), fp32_linear. `--clock cpu` divides by the process's CPU time instead of wall time
// (with --threads 1: per second of the one thread's CPU time, which time lost to other
// processes on a shared machine does not inflate). `--cold MB` cycles each int8 library through
// copies of the weights (packed too) filling MB megabytes, more than the last-level cache, so
// that the weights come from memory as in a forward pass (fp32_linear keeps one copy).
//   bench_gemm_int8_bench OUT.json [--reps N] [--threads T] [--min-ms MS] [--m 1,8,...]
//                         [--libs a,b,...] [--clock wall|cpu] [--cold MB]
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "backends/cpu/cpu_ops.h"
#include "backends/cpu/linear_int8_cpu.h"
#include "core/aligned_buffer.h"
#include "core/cpu_features.h"
#include "core/parallel.h"
#include "kernels/cpu/packed_gemm_dnnl.h"

namespace {

using namespace ember;

struct Shape {
  int64_t m, n, k;
};

struct Lib {
  const char* name;
  cpu::Int8Gemm gemm;  // kAuto with fp32 == true means cpu::linear
  bool fp32;
  bool packed;  // weights packed at load (PackedGemmDnnl), as the engine does
};

const Lib kAllLibs[] = {{"int8_avx2", cpu::Int8Gemm::kAvx2, false, false},
                        {"int8_dnnl", cpu::Int8Gemm::kDnnl, false, false},
                        {"int8_packed_dnnl", cpu::Int8Gemm::kPackedDnnl, false, true},
                        {"int8_packed_vnni", cpu::Int8Gemm::kPackedVnni, false, true},
                        {"int8_auto", cpu::Int8Gemm::kAuto, false, true},
                        {"fp32_linear", cpu::Int8Gemm::kAuto, true, false}};

double now_s(bool cpu_clock) {
  if (!cpu_clock)
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

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
              << " OUT.json [--reps N] [--threads T] [--min-ms MS] [--m 1,8,16,32,128,1024]"
                 " [--libs a,b,...] [--clock wall|cpu] [--cold MB]\n";
    return 2;
  }
  const std::string out_path = argv[1];
  int reps = 5, threads = 2;
  double min_ms = 20;
  std::vector<int64_t> ms = {1, 8, 16, 32, 128, 1024};
  std::vector<Lib> libs(std::begin(kAllLibs), std::end(kAllLibs));
  bool cpu_clock = false;
  double cold_mb = 0;
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
    else if (flag == "--cold")
      cold_mb = std::atof(argv[i + 1]);
    else if (flag == "--clock")
      cpu_clock = std::string(argv[i + 1]) == "cpu";
    else if (flag == "--libs") {
      libs.clear();
      std::stringstream ss(argv[i + 1]);
      std::string name;
      while (std::getline(ss, name, ','))
        for (const Lib& l : kAllLibs)
          if (name == l.name) libs.push_back(l);
    } else {
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
  const size_t nlibs = libs.size();
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
      // With --cold, enough copies of the int8 weights (each also packed) to fill cold_mb, used
      // in turn, so that every call streams its weights from memory as a forward pass does.
      const int64_t copies =
          std::max<int64_t>(1, static_cast<int64_t>(cold_mb * 1e6) / (s.n * s.k));
      std::vector<AlignedBuffer<int8_t>> wc;
      std::vector<std::unique_ptr<kernels::PackedGemmDnnl>> packed;
      for (int64_t c = 0; c < copies; ++c) {
        wc.emplace_back(static_cast<size_t>(s.n * s.k));
        std::copy_n(w.data(), s.n * s.k, wc.back().data());
        packed.push_back(kernels::PackedGemmDnnl::pack_s8(w.data(), s.n, s.k, threads));
      }
      int64_t next = 0;
      for (size_t li = 0; li < nlibs; ++li) {
        const size_t lib_index = (li + static_cast<size_t>(rep) + si) % nlibs;  // rotate the order
        const Lib& lib = libs[lib_index];
        auto call = [&] {
          const size_t c = static_cast<size_t>(next);
          next = (next + 1) % copies;
          const ops::Int8Weights qw{wc[c].data(), scale.data(), sums.data(), 127};
          if (lib.fp32)
            cpu::linear(x.data(), s.m, s.k, s.k, wf.data(), nullptr, s.n, y.data(), s.n);
          else
            cpu::linear_int8(x.data(), s.m, s.k, s.k, qw, nullptr, s.n, y.data(), s.n,
                             ops::Activation::kNone, lib.packed ? packed[c].get() : nullptr,
                             lib.gemm);
        };
        call();  // warm-up
        int calls = 0;
        const double t0 = now_s(cpu_clock);
        double elapsed = 0;
        do {
          call();
          ++calls;
          elapsed = now_s(cpu_clock) - t0;
        } while (elapsed * 1e3 < min_ms);
        gops[si][lib_index].push_back(2.0 * s.m * s.n * s.k * calls / elapsed * 1e-9);
      }
    }
    std::cerr << "rep " << rep + 1 << "/" << reps << " done\n";
  }

  std::ofstream out(out_path);
  out << "{\n  \"threads\": " << threads << ",\n  \"reps\": " << reps << ",\n  \"isa\": \""
      << isa_name(active_isa()) << "\",\n  \"vnni\": " << (int8_vnni_supported() ? "true" : "false")
      << ",\n  \"cold_mb\": " << cold_mb << ",\n  \"clock\": \""
      << (cpu_clock ? "process_cpu" : "wall")
      << "\",\n  \"unit\": \"GOP/s (median over reps)\",\n  \"cells\": [\n";
  std::cout << "| M | N | K |";
  for (const Lib& l : libs) std::cout << " " << l.name << " |";
  std::cout << " int8_auto runs |\n|---:|---:|---:|";
  for (size_t i = 0; i < nlibs; ++i) std::cout << "---:|";
  std::cout << "---|\n";
  for (size_t si = 0; si < shapes.size(); ++si) {
    const Shape& s = shapes[si];
    out << "    {\"m\": " << s.m << ", \"n\": " << s.n << ", \"k\": " << s.k;
    std::cout << "| " << s.m << " | " << s.n << " | " << s.k << " |";
    for (size_t li = 0; li < nlibs; ++li) {
      const double g = median(gops[si][li]);
      out << ", \"" << libs[li].name << "\": " << g;
      char buf[32];
      std::snprintf(buf, sizeof buf, " %.0f |", g);
      std::cout << buf;
    }
    // int8_auto's kernel (packed weights, as the engine runs): linear_int8's rule.
    const bool vnni_row = s.m <= kernels::PackedGemmDnnl::kInt8PanelMaxRows &&
                          int8_vnni_supported() && active_isa() >= Isa::kAvx2;
    const std::string_view picks = vnni_row ? cpu::int8_gemm_name(cpu::Int8Gemm::kPackedVnni)
                                   : s.m >= 2 && active_isa() >= Isa::kAvx2
                                       ? cpu::int8_gemm_name(cpu::Int8Gemm::kPackedDnnl)
                                       : cpu::int8_gemm_name(cpu::select_int8_gemm(s.m, s.n, s.k));
    std::cout << " " << picks << " |\n";
    out << "}" << (si + 1 < shapes.size() ? "," : "") << "\n";
  }
  out << "  ]\n}\n";
  return 0;
}
