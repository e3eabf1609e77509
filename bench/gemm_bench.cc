// GEMM libraries on the encoder's Linear shapes: y[M, N] = x[M, K] w[N, K]^T, row-major, B
// transposed (PyTorch's weight layout). oneDNN's dnnl_sgemm against OpenBLAS's cblas_sgemm,
// plus cpu::linear itself (oneDNN + bias + GELU epilogue) to show what the epilogue costs, and
// its packed fp32 and bf16 paths on weights packed once (ember_linear_packed, ember_linear_bf16).
// Repetitions are interleaved (every rep visits every shape and library, in alternating
// order) and the median per cell is reported, since the machine is shared.
//
//   bench_gemm_bench OUT.{json,csv} [--reps N] [--threads T] [--min-ms MS] [--settle-ms MS]
//                    [--libs onednn,openblas,ember_linear_bias_gelu] [--m 8,16,128,1024,4096]
//                    [--clock wall|cpu]
// --clock cpu (with --threads 1) times the thread's CPU time instead of wall time: on a loaded
// machine, time spent preempted then does not count against whichever library was running.
#include <dnnl.h>
#include <omp.h>
#include <sched.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "backends/cpu/cpu_ops.h"
#include "backends/cpu/linear_bf16_cpu.h"
#include "core/aligned_buffer.h"
#include "core/cpu_features.h"
#include "core/dtype.h"
#include "core/parallel.h"
#include "kernels/cpu/kernels.h"
#include "kernels/cpu/packed_gemm_dnnl.h"
#ifdef EMBER_HAVE_OPENBLAS
#include <cblas-openblas.h>
#endif

namespace {

using Clock = std::chrono::steady_clock;

struct Shape {
  int64_t m, n, k;
};

struct Library {
  std::string name;
  // After a library whose threads spin when idle (OpenBLAS: ~2^28 cycles), the next library
  // would compete with them; sleeping lets them park first.
  bool settle_after;
  std::function<void(const Shape&, const float*, const float*, const float*, float*)> run;
};

struct Options {
  std::string out;
  int reps = 7;
  int threads = 2;
  double min_ms = 40.0;
  std::string clock = "wall";  // or "cpu": the main thread's CPU time (only with --threads 1)
  int settle_ms = 150;
  // Also: ember_linear_packed, ember_linear_released, ember_linear_bf16, onednn_rows8,
  // onednn_rowblocks, ember_avx512_dot4x4, ember_avx2_dot3x4, ember_avx2_6x16, ember_linear.
  std::string libs = "onednn,openblas,ember_linear_bias_gelu";
  std::vector<int64_t> ms = {8, 16, 128, 1024, 4096};
  // Weight shapes NxK; default: MiniLM's and bert-base's Linears (fused Q/K/V included).
  std::vector<std::pair<int64_t, int64_t>> nks = {{384, 384},  {1152, 384}, {1536, 384},
                                                  {384, 1536}, {768, 768},  {2304, 768},
                                                  {3072, 768}, {768, 3072}};
};

Options parse(int argc, char** argv) {
  Options o;
  if (argc < 2 || argv[1][0] == '-') {
    std::cerr << "usage: " << argv[0]
              << " OUT.{json,csv} [--reps N] [--threads T] [--min-ms MS] [--settle-ms MS]"
                 " [--libs a,b] [--m 8,16] [--nk 1152x384,4096x1024] [--clock wall|cpu]\n";
    std::exit(2);
  }
  o.out = argv[1];
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const char* value = argv[i + 1];
    if (flag == "--reps") {
      o.reps = std::atoi(value);
    } else if (flag == "--threads") {
      o.threads = std::atoi(value);
    } else if (flag == "--min-ms") {
      o.min_ms = std::atof(value);
    } else if (flag == "--settle-ms") {
      o.settle_ms = std::atoi(value);
    } else if (flag == "--clock") {
      o.clock = value;
    } else if (flag == "--libs") {
      o.libs = value;
    } else if (flag == "--m") {
      o.ms.clear();
      for (const char* p = value; *p;) {
        char* end = nullptr;
        o.ms.push_back(std::strtoll(p, &end, 10));
        p = *end == ',' ? end + 1 : end;
      }
    } else if (flag == "--nk") {
      o.nks.clear();
      for (const char* p = value; *p;) {
        char* end = nullptr;
        const int64_t n = std::strtoll(p, &end, 10);
        const int64_t k = *end == 'x' ? std::strtoll(end + 1, &end, 10) : 0;
        if (n <= 0 || k <= 0) {
          std::cerr << "--nk wants NxK,NxK,...\n";
          std::exit(2);
        }
        o.nks.push_back({n, k});
        p = *end == ',' ? end + 1 : end;
      }
    } else {
      std::cerr << "unknown flag " << flag << "\n";
      std::exit(2);
    }
  }
  return o;
}

// Seconds of the calling thread's CPU time: with --threads 1 every library runs on this thread,
// and time spent preempted by other processes on a shared machine is not counted.
double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

// Seconds per call: one warm-up call, then calls until min_ms has passed (at least 2).
double time_call(const std::function<void()>& fn, double min_ms, bool cpu_clock) {
  fn();
  int calls = 0;
  const auto start = Clock::now();
  const double cpu_start = cpu_clock ? thread_cpu_seconds() : 0.0;
  double elapsed = 0.0;
  while (calls < 2 || elapsed * 1e3 < min_ms) {
    fn();
    ++calls;
    elapsed = cpu_clock ? thread_cpu_seconds() - cpu_start
                        : std::chrono::duration<double>(Clock::now() - start).count();
  }
  return elapsed / calls;
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  }
  return "unknown";
}

// What the run measured, for the result file: CPU, ISA, library versions and ISA caps.
std::string describe_machine() {
  const dnnl_version_t* v = dnnl_version();
  const char* max_isa = std::getenv("ONEDNN_MAX_CPU_ISA");
  std::string out =
      "\"cpu\": \"" + cpu_model() + "\", \"ember_isa\": \"" +
      std::string(ember::isa_name(ember::detected_isa())) + "\", \"ember_active_isa\": \"" +
      std::string(ember::isa_name(ember::active_isa())) + "\", \"onednn\": \"" +
      std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch) +
      "\", \"onednn_max_cpu_isa\": \"" + (max_isa ? max_isa : "") + "\"";
#ifdef EMBER_HAVE_OPENBLAS
  out += std::string(", \"openblas\": \"") + openblas_get_config() + "\"";
#endif
  return out;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

}  // namespace

int main(int argc, char** argv) {
  const Options opt = parse(argc, argv);
  if (std::getenv("OMP_PROC_BIND")) {
    std::cerr << "warning: OMP_PROC_BIND is set; OpenBLAS threads may inherit the main "
                 "thread's pinning and share one core\n";
  }
  if (opt.clock != "wall" && (opt.clock != "cpu" || opt.threads != 1)) {
    std::cerr << "--clock cpu needs --threads 1 (other threads' time is not counted)\n";
    return 2;
  }
  ember::set_num_threads(opt.threads);
  // The onednn and onednn_rows8 columns call dnnl_sgemm on this thread, which threads with
  // OpenMP: they set the same count before every call, because an ember_* column's oneDNN
  // calls (kernels::sgemm_nt_f32_dnnl) pin this thread's OpenMP count to 1.
  const int omp_threads = opt.threads;
#ifdef EMBER_HAVE_OPENBLAS
  openblas_set_num_threads(opt.threads);
#endif

  std::vector<Shape> shapes;
  for (int64_t m : opt.ms)
    for (const auto& [n, k] : opt.nks) shapes.push_back({m, n, k});

  int64_t max_x = 0, max_w = 0, max_y = 0;
  for (const Shape& s : shapes) {
    max_x = std::max(max_x, s.m * s.k);
    max_w = std::max(max_w, s.n * s.k);
    max_y = std::max(max_y, s.m * s.n);
  }
  ember::AlignedBuffer<float> x(max_x), w(max_w), bias(4096), y(max_y);
  std::mt19937 rng(42);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  for (int64_t i = 0; i < max_x; ++i) x[i] = dist(rng);
  for (int64_t i = 0; i < max_w; ++i) w[i] = dist(rng);
  for (int64_t i = 0; i < 4096; ++i) bias[i] = dist(rng);

  std::vector<Library> libs;
  libs.push_back(
      {"onednn", false,
       [omp_threads](const Shape& s, const float* a, const float* b, const float*, float* c) {
         omp_set_num_threads(omp_threads);
         dnnl_sgemm('N', 'T', s.m, s.n, s.k, 1.0f, a, s.k, b, s.k, 0.0f, c, s.n);
       }});
  // oneDNN 2.6 switches kernels at M = 16 and is much slower just above (docs/gemm.md): the
  // same GEMM as calls on blocks of at most 8 rows.
  libs.push_back(
      {"onednn_rows8", false,
       [omp_threads](const Shape& s, const float* a, const float* b, const float*, float* c) {
         omp_set_num_threads(omp_threads);
         for (int64_t m0 = 0; m0 < s.m; m0 += 8) {
           const int64_t rows = std::min<int64_t>(8, s.m - m0);
           dnnl_sgemm('N', 'T', rows, s.n, s.k, 1.0f, a + m0 * s.k, s.k, b, s.k, 0.0f, c + m0 * s.n,
                      s.n);
         }
       }});
#ifdef EMBER_HAVE_OPENBLAS
  libs.push_back({"openblas", true,
                  [](const Shape& s, const float* a, const float* b, const float*, float* c) {
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, s.m, s.n, s.k, 1.0f, a,
                                s.k, b, s.k, 0.0f, c, s.n);
                  }});
#endif
  // oneDNN on one thread per contiguous block of rows, inside our own parallel region (how
  // cpu::linear fuses the epilogue for large M: each thread finishes its rows while hot).
  libs.push_back({"onednn_rowblocks", false,
                  [](const Shape& s, const float* a, const float* b, const float*, float* c) {
                    // Through the kernel wrapper: one OpenMP thread per pool thread.
                    ember::parallel_split(s.m, 1, [&](int64_t r0, int64_t r1) {
                      ember::kernels::sgemm_nt_f32_dnnl(r1 - r0, s.n, s.k, a + r0 * s.k, s.k, b,
                                                        s.k, c + r0 * s.n, s.n);
                    });
                  }});
  // Our AVX-512 small-M kernel, threaded as cpu::linear does it (64-column blocks).
  if (ember::detected_isa() == ember::Isa::kAvx512) {
    libs.push_back({"ember_avx512_dot4x4", false,
                    [](const Shape& s, const float* a, const float* b, const float*, float* c) {
                      ember::parallel_for((s.n + 63) / 64, 1, [&](int64_t b0, int64_t b1) {
                        for (int64_t blk = b0; blk < b1; ++blk) {
                          const int64_t c0 = blk * 64, nc = std::min<int64_t>(64, s.n - c0);
                          ember::kernels::sgemm_nt_f32_avx512_dot4x4(
                              s.m, nc, s.k, a, s.k, b + c0 * s.k, s.k, c + c0, s.n);
                        }
                      });
                    }});
  }
  // Its AVX2 + FMA twin (the CI CPUs), threaded the same way.
  if (ember::detected_isa() >= ember::Isa::kAvx2) {
    libs.push_back({"ember_avx2_dot3x4", false,
                    [](const Shape& s, const float* a, const float* b, const float*, float* c) {
                      ember::parallel_for((s.n + 63) / 64, 1, [&](int64_t b0, int64_t b1) {
                        for (int64_t blk = b0; blk < b1; ++blk) {
                          const int64_t c0 = blk * 64, nc = std::min<int64_t>(64, s.n - c0);
                          ember::kernels::sgemm_nt_f32_avx2_dot3x4(s.m, nc, s.k, a, s.k,
                                                                   b + c0 * s.k, s.k, c + c0, s.n);
                        }
                      });
                    }});
  }
  if (ember::detected_isa() >= ember::Isa::kAvx2) {
    libs.push_back({"ember_avx2_6x16", false,
                    [](const Shape& s, const float* a, const float* b, const float*, float* c) {
                      ember::parallel_for((s.n + 63) / 64, 1, [&](int64_t b0, int64_t b1) {
                        for (int64_t blk = b0; blk < b1; ++blk) {
                          const int64_t c0 = blk * 64, nc = std::min<int64_t>(64, s.n - c0);
                          ember::kernels::sgemm_nt_f32_avx2_6x16(s.m, nc, s.k, a, s.k, b + c0 * s.k,
                                                                 s.k, c + c0, s.n);
                        }
                      });
                    }});
  }
  // The bare GEMM as cpu::linear does it (kernel per ISA and M, threading; no epilogue), for
  // A/B runs against EMBER_LINEAR=dnnl.
  libs.push_back({"ember_linear", false,
                  [](const Shape& s, const float* a, const float* b, const float*, float* c) {
                    ember::cpu::linear(a, s.m, s.k, s.k, b, nullptr, s.n, c, s.n);
                  }});
  // The packed paths of ops::linear on weights packed once here, as the CPU backend does at
  // load: fp32 (brgemm, or our panel kernel up to 48 rows) and bf16 (x rounded per call, then
  // oneDNN's bf16 matmul; only where avx512_bf16 runs: docs/bf16.md).
  std::map<std::pair<int64_t, int64_t>, std::unique_ptr<ember::kernels::PackedGemmDnnl>> pf32,
      pbf16;
  std::vector<uint16_t> wbf(static_cast<size_t>(max_w));
  for (int64_t i = 0; i < max_w; ++i) wbf[i] = ember::float_to_bf16(w[i]);
  for (const Shape& s : shapes) {
    const auto key = std::make_pair(s.n, s.k);
    if (pf32.count(key)) continue;
    pf32[key] = ember::kernels::PackedGemmDnnl::pack_f32(w.data(), s.n, s.k, opt.threads);
    if (ember::bf16_gemm_supported())
      pbf16[key] = ember::kernels::PackedGemmDnnl::pack_bf16(wbf.data(), s.n, s.k, opt.threads);
  }
  libs.push_back(
      {"ember_linear_packed", false,
       [&pf32](const Shape& s, const float* a, const float* b, const float* bi, float* c) {
         ember::cpu::linear(a, s.m, s.k, s.k, b, bi, s.n, c, s.n, ember::ops::Activation::kNone,
                            pf32.at({s.n, s.k}).get());
       }});
  // The packed weights alone, as a Linear whose unpacked weights were released
  // (CpuLinear::release_source): the packed path at every M, one row included.
  libs.push_back({"ember_linear_released", false,
                  [&pf32](const Shape& s, const float* a, const float*, const float* bi, float* c) {
                    ember::cpu::linear(a, s.m, s.k, s.k, nullptr, bi, s.n, c, s.n,
                                       ember::ops::Activation::kNone, pf32.at({s.n, s.k}).get());
                  }});
  if (ember::bf16_gemm_supported())
    libs.push_back(
        {"ember_linear_bf16", false,
         [&pbf16](const Shape& s, const float* a, const float*, const float* bi, float* c) {
           ember::cpu::linear_bf16(a, s.m, s.k, s.k, *pbf16.at({s.n, s.k}), bi, s.n, c, s.n);
         }});
  libs.push_back({"ember_linear_bias_gelu", false,
                  [](const Shape& s, const float* a, const float* b, const float* bi, float* c) {
                    ember::cpu::linear(a, s.m, s.k, s.k, b, bi, s.n, c, s.n,
                                       ember::ops::Activation::kGeluErf);
                  }});

  std::erase_if(libs, [&](const Library& l) {
    return ("," + opt.libs + ",").find("," + l.name + ",") == std::string::npos;
  });
  if (libs.empty()) {
    std::cerr << "no library selected\n";
    return 2;
  }

  // seconds[shape][lib][rep]
  std::vector<std::vector<std::vector<double>>> seconds(
      shapes.size(), std::vector<std::vector<double>>(libs.size()));
  for (int rep = 0; rep < opt.reps; ++rep) {
    for (size_t si = 0; si < shapes.size(); ++si) {
      for (size_t j = 0; j < libs.size(); ++j) {
        // Rotate which library goes first so that none always follows the same neighbour.
        const size_t li = (j + rep + si) % libs.size();
        const Shape& s = shapes[si];
        const Library& lib = libs[li];
        seconds[si][li].push_back(
            time_call([&] { lib.run(s, x.data(), w.data(), bias.data(), y.data()); }, opt.min_ms,
                      opt.clock == "cpu"));
        if (lib.settle_after) std::this_thread::sleep_for(std::chrono::milliseconds(opt.settle_ms));
      }
    }
    std::cerr << "rep " << rep + 1 << "/" << opt.reps << " done\n";
  }

  const bool csv = opt.out.size() > 4 && opt.out.substr(opt.out.size() - 4) == ".csv";
  std::ofstream out(opt.out);
  if (!out) {
    std::cerr << "cannot write " << opt.out << "\n";
    return 1;
  }
  if (csv) {
    out << "m,n,k,library,gflops_median,gflops_best,ms_median\n";
  } else {
    out << "{\n  \"threads\": " << opt.threads << ",\n  \"reps\": " << opt.reps
        << ",\n  \"clock\": \"" << opt.clock << "\",\n  " << describe_machine()
        << ",\n  \"results\": [\n";
  }
  bool first = true;
  for (size_t si = 0; si < shapes.size(); ++si) {
    const Shape& s = shapes[si];
    const double flop = 2.0 * static_cast<double>(s.m * s.n * s.k);
    for (size_t li = 0; li < libs.size(); ++li) {
      const double med = median(seconds[si][li]);
      const double best = *std::min_element(seconds[si][li].begin(), seconds[si][li].end());
      char line[256];
      if (csv) {
        std::snprintf(line, sizeof line, "%ld,%ld,%ld,%s,%.2f,%.2f,%.4f\n", s.m, s.n, s.k,
                      libs[li].name.c_str(), flop / med * 1e-9, flop / best * 1e-9, med * 1e3);
      } else {
        std::snprintf(line, sizeof line,
                      "%s    {\"m\": %ld, \"n\": %ld, \"k\": %ld, \"library\": \"%s\", "
                      "\"gflops_median\": %.2f, \"gflops_best\": %.2f, \"ms_median\": %.4f}",
                      first ? "" : ",\n", s.m, s.n, s.k, libs[li].name.c_str(), flop / med * 1e-9,
                      flop / best * 1e-9, med * 1e3);
      }
      out << line;
      first = false;
      std::printf("M=%5ld N=%5ld K=%5ld %-24s %7.1f GFLOP/s (median)\n", s.m, s.n, s.k,
                  libs[li].name.c_str(), flop / med * 1e-9);
    }
  }
  if (!csv) out << "\n  ]\n}\n";
  return 0;
}
