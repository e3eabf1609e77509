// The machine's arithmetic peaks, measured: independent chains of one instruction per thread,
// for 1..N threads run at once, so that a kernel's efficiency can be stated against measured
// physics rather than a datasheet (docs/bf16.md). Per instruction:
//   fp32_fma_avx512   vfmadd231ps zmm   32 FLOP (16 lanes x multiply + add)
//   fp32_fma_avx2     vfmadd231ps ymm   16 FLOP
//   bf16_dp_avx512    vdpbf16ps zmm     64 FLOP (16 lanes x 2 bf16 pairs x multiply + add)
//   int8_dp_avx512    vpdpbusd zmm     128 OP   (16 lanes x 4 u8*s8 pairs x multiply + add)
// Each probe keeps 12 accumulators in flight (more than latency x throughput on current cores)
// and reports the best of `--repeats` runs, both per wall-clock second and per second of each
// thread's CPU time (the physics, on a machine shared with other work). Probes the CPU lacks
// are left out.
//
//   bench_peak_probe OUT.json [--threads N] [--seconds S] [--repeats R]
#include <immintrin.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

namespace {

constexpr int64_t kInner = 1000;  // inner trips per unit of `iters`

// Each probe runs `iters` x kInner x 12 instructions and returns a value that depends on all of
// them, so that none can be dropped.
__attribute__((target("avx512f"))) float fma_avx512(int64_t iters) {
  __m512 acc[12];
  for (int i = 0; i < 12; ++i) acc[i] = _mm512_set1_ps(static_cast<float>(i) * 1e-3f);
  const __m512 a = _mm512_set1_ps(0.999f), b = _mm512_set1_ps(1e-4f);
  for (int64_t it = 0; it < iters * kInner; ++it)
#pragma GCC unroll 12
    for (int i = 0; i < 12; ++i) acc[i] = _mm512_fmadd_ps(acc[i], a, b);
  __m512 s = acc[0];
  for (int i = 1; i < 12; ++i) s = _mm512_add_ps(s, acc[i]);
  float out[16];
  _mm512_storeu_ps(out, s);
  return out[0] + out[15];
}

__attribute__((target("avx2,fma"))) float fma_avx2(int64_t iters) {
  __m256 acc[12];
  for (int i = 0; i < 12; ++i) acc[i] = _mm256_set1_ps(static_cast<float>(i) * 1e-3f);
  const __m256 a = _mm256_set1_ps(0.999f), b = _mm256_set1_ps(1e-4f);
  for (int64_t it = 0; it < iters * kInner; ++it)
#pragma GCC unroll 12
    for (int i = 0; i < 12; ++i) acc[i] = _mm256_fmadd_ps(acc[i], a, b);
  __m256 s = acc[0];
  for (int i = 1; i < 12; ++i) s = _mm256_add_ps(s, acc[i]);
  float out[8];
  _mm256_storeu_ps(out, s);
  return out[0] + out[7];
}

__attribute__((target("avx512f,avx512bf16"))) float dp_bf16(int64_t iters) {
  __m512 acc[12];
  for (int i = 0; i < 12; ++i) acc[i] = _mm512_set1_ps(static_cast<float>(i) * 1e-3f);
  const __m512bh a = _mm512_cvtne2ps_pbh(_mm512_set1_ps(1e-3f), _mm512_set1_ps(-1e-3f));
  const __m512bh b = _mm512_cvtne2ps_pbh(_mm512_set1_ps(0.5f), _mm512_set1_ps(0.25f));
  for (int64_t it = 0; it < iters * kInner; ++it)
#pragma GCC unroll 12
    for (int i = 0; i < 12; ++i) acc[i] = _mm512_dpbf16_ps(acc[i], a, b);
  __m512 s = acc[0];
  for (int i = 1; i < 12; ++i) s = _mm512_add_ps(s, acc[i]);
  float out[16];
  _mm512_storeu_ps(out, s);
  return out[0] + out[15];
}

__attribute__((target("avx512f,avx512vnni"))) float dp_int8(int64_t iters) {
  __m512i acc[12];
  for (int i = 0; i < 12; ++i) acc[i] = _mm512_set1_epi32(i);
  const __m512i a = _mm512_set1_epi8(3), b = _mm512_set1_epi8(-1);
  for (int64_t it = 0; it < iters * kInner; ++it)
#pragma GCC unroll 12
    for (int i = 0; i < 12; ++i) acc[i] = _mm512_dpbusd_epi32(acc[i], a, b);
  __m512i s = acc[0];
  for (int i = 1; i < 12; ++i) s = _mm512_add_epi32(s, acc[i]);
  int32_t out[16];
  _mm512_storeu_si512(out, s);
  return static_cast<float>(out[0] + out[15]);
}

struct Probe {
  const char* name;
  const char* instruction;
  const char* unit;
  double ops_per_instruction;
  bool supported;
  float (*fn)(int64_t);
};

double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

struct Rate {
  double wall = 0;  // operations per wall-clock second, all threads together
  double cpu = 0;   // sum over threads of operations per second of that thread's CPU time
};

// `threads` threads each running fn(iters) at once. On a shared machine the wall rate counts
// time the threads waited for a core; the CPU-time rate counts only time they ran (a sibling
// hyperthread or a lower clock still shows in it).
Rate run(const Probe& p, int threads, int64_t iters) {
  std::vector<std::thread> pool;
  std::vector<float> sink(static_cast<size_t>(threads));
  std::vector<double> cpu(static_cast<size_t>(threads));
  const auto t0 = std::chrono::steady_clock::now();
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      const double c0 = thread_cpu_seconds();
      sink[static_cast<size_t>(t)] = p.fn(iters);
      cpu[static_cast<size_t>(t)] = thread_cpu_seconds() - c0;
    });
  for (auto& th : pool) th.join();
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  volatile float keep = sink[0];
  (void)keep;
  const double ops = static_cast<double>(iters) * kInner * 12 * p.ops_per_instruction;
  Rate r;
  r.wall = ops * threads / s;
  for (double c : cpu) r.cpu += ops / c;
  return r;
}

int usage() {
  std::fprintf(stderr,
               "usage: bench_peak_probe OUT.json [--threads N] [--seconds S] [--repeats R]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage();
  const std::string out = argv[1];
  int max_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  double seconds = 0.3;
  int repeats = 5;
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--threads")
      max_threads = std::atoi(argv[i + 1]);
    else if (a == "--seconds")
      seconds = std::atof(argv[i + 1]);
    else if (a == "--repeats")
      repeats = std::atoi(argv[i + 1]);
    else
      return usage();
  }
  if (max_threads < 1 || seconds <= 0 || repeats < 1) return usage();
  __builtin_cpu_init();
  const bool avx512 = __builtin_cpu_supports("avx512f");
  const Probe probes[] = {
      {"fp32_fma_avx512", "vfmadd231ps zmm", "GFLOP/s", 32, avx512, fma_avx512},
      {"fp32_fma_avx2", "vfmadd231ps ymm", "GFLOP/s", 16,
       __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"), fma_avx2},
      {"bf16_dp_avx512", "vdpbf16ps zmm", "GFLOP/s", 64,
       avx512 && __builtin_cpu_supports("avx512bf16"), dp_bf16},
      {"int8_dp_avx512", "vpdpbusd zmm", "GOP/s", 128,
       avx512 && __builtin_cpu_supports("avx512vnni"), dp_int8},
  };
  std::ofstream json(out);
  json << "{\"hardware_threads\": " << std::thread::hardware_concurrency()
       << ", \"repeats\": " << repeats << ", \"results\": [";
  bool first = true;
  for (const Probe& p : probes) {
    if (!p.supported) continue;
    // Iterations for ~`seconds` on one thread, from a short calibration run.
    const double rate = run(p, 1, 20).wall / (kInner * 12 * p.ops_per_instruction);  // iters/s
    const auto iters = std::max<int64_t>(1, static_cast<int64_t>(rate * seconds));
    for (int threads = 1; threads <= max_threads; ++threads) {
      Rate best;
      for (int r = 0; r < repeats; ++r) {
        const Rate x = run(p, threads, iters);
        best.wall = std::max(best.wall, x.wall);
        best.cpu = std::max(best.cpu, x.cpu);
      }
      const double g = best.wall / 1e9, c = best.cpu / 1e9;
      std::printf("%-16s %-16s threads %d: wall %8.1f %s, cpu-time %8.1f (%.1f per thread)\n",
                  p.name, p.instruction, threads, g, p.unit, c, c / threads);
      json << (first ? "" : ",") << "\n  {\"probe\": \"" << p.name << "\", \"instruction\": \""
           << p.instruction << "\", \"threads\": " << threads << ", \"unit\": \"" << p.unit
           << "\", \"peak_wall\": " << g << ", \"peak_cpu_time\": " << c
           << ", \"per_thread_cpu_time\": " << c / threads << "}";
      first = false;
    }
  }
  json << "\n]}\n";
  return json.good() ? 0 : 1;
}
