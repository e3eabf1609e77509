// cpu::attention alone on the encoders' shapes: a packed batch of B sequences of L tokens,
// Q/K/V read from one fused [T, 3 H] buffer as the encoder does, for each ISA (scalar is
// left out unless asked for: it is the reference, not a contender; avx512bf16 is the bf16
// kernel that bf16 models run, ops::AttentionArgs::bf16). Repetitions are
// interleaved (every rep visits every shape and ISA) and the median per cell is reported,
// since the machine is shared. GFLOP/s counts 4 L^2 H per sequence (QK^T and PV), over
// the median wall time; cpu_median_us is the process CPU time per call (robust to load with
// --threads 1).
//
//   bench_attention_bench OUT.{json,csv} [--reps N] [--threads T] [--min-ms MS]
//                         [--isas avx2,avx512,avx512bf16] [--shapes 1x128,1x512,8x512]
//                         [--heads 12] [--head-dim 32] [--mask full|causal|local]
//                         [--window 64]
// GFLOP/s always counts the full L^2 (the work a full mask does), so that a masked run's figure
// reads as its speed-up over that work.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "backends/cpu/cpu_ops.h"
#include "core/cpu_features.h"
#include "core/parallel.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  std::string out;
  int reps = 7;
  int threads = 1;
  double min_ms = 30.0;
  std::string isas = "avx2,avx512";
  std::string shapes = "1x128,1x256,1x512,4x256,8x512";
  int64_t heads = 12, head_dim = 32;
  std::string mask = "full";
  int64_t window = 64;  // --mask local: keys within this distance of the query
};

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, ',');) out.push_back(item);
  return out;
}

Options parse(int argc, char** argv) {
  Options o;
  if (argc < 2 || argv[1][0] == '-') {
    std::cerr << "usage: " << argv[0]
              << " OUT.{json,csv} [--reps N] [--threads T] [--min-ms MS] [--isas avx2,avx512]"
                 " [--shapes 1x128,8x512] [--heads H] [--head-dim D]\n"
                 "  isas: scalar, avx2, avx512, avx512bf16 (the bf16 kernel)\n";
    std::exit(2);
  }
  o.out = argv[1];
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const std::string value = argv[i + 1];
    if (flag == "--reps") {
      o.reps = std::stoi(value);
    } else if (flag == "--threads") {
      o.threads = std::stoi(value);
    } else if (flag == "--min-ms") {
      o.min_ms = std::stod(value);
    } else if (flag == "--isas") {
      o.isas = value;
    } else if (flag == "--shapes") {
      o.shapes = value;
    } else if (flag == "--heads") {
      o.heads = std::stoll(value);
    } else if (flag == "--head-dim") {
      o.head_dim = std::stoll(value);
    } else if (flag == "--mask" && (value == "full" || value == "causal" || value == "local")) {
      o.mask = value;
    } else if (flag == "--window") {
      o.window = std::stoll(value);
    } else {
      std::cerr << "unknown flag " << flag << "\n";
      std::exit(2);
    }
  }
  return o;
}

ember::Isa isa_from(const std::string& s) {
  if (s == "scalar") return ember::Isa::kScalar;
  if (s == "avx2") return ember::Isa::kAvx2;
  if (s == "avx512" || s == "avx512bf16") return ember::Isa::kAvx512;
  std::cerr << "unknown isa " << s << "\n";
  std::exit(2);
}

struct Cell {
  int64_t batch, len;
  std::string isa;
  std::vector<double> us;      // wall time per call, one entry per rep
  std::vector<double> cpu_us;  // CPU time of the process (all threads) per call
};

// Process CPU time: on a loaded machine wall time includes the time other processes ran;
// with --threads 1 this is the time of the work itself.
double cpu_ms() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) * 1e3 + static_cast<double>(t.tv_nsec) * 1e-6;
}

}  // namespace

int main(int argc, char** argv) {
  const Options opt = parse(argc, argv);
  ember::set_num_threads(opt.threads);
  const int64_t width = opt.heads * opt.head_dim, ld = 3 * width;
  const float scale = 1.0f / std::sqrt(static_cast<float>(opt.head_dim));

  std::vector<Cell> cells;
  for (const std::string& shape : split(opt.shapes)) {
    const auto x = shape.find('x');
    const int64_t b = std::stoll(shape.substr(0, x)), l = std::stoll(shape.substr(x + 1));
    for (const std::string& isa : split(opt.isas)) {
      if (isa_from(isa) > ember::detected_isa()) continue;
      if (isa == "avx512bf16") {
        ember::set_isa(ember::Isa::kAvx512);
        if (!ember::bf16_gemm_supported()) continue;
      }
      cells.push_back({b, l, isa, {}});
    }
  }

  for (int rep = 0; rep < opt.reps; ++rep) {
    for (size_t i = 0; i < cells.size(); ++i) {
      // Alternate the visiting order so that no cell always follows the same one.
      Cell& c = cells[rep % 2 ? cells.size() - 1 - i : i];
      ember::set_isa(isa_from(c.isa));
      const int64_t tokens = c.batch * c.len;
      std::vector<int32_t> cu(c.batch + 1);
      for (int64_t s = 0; s <= c.batch; ++s) cu[s] = static_cast<int32_t>(s * c.len);
      std::vector<float> qkv(tokens * ld), out(tokens * width);
      std::mt19937 rng(7);
      std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
      for (float& v : qkv) v = dist(rng);
      auto call = [&] {
        ember::ops::AttentionArgs args;
        args.heads = args.kv_heads = opt.heads;
        args.head_dim = opt.head_dim;
        args.scale = scale;
        args.mask = opt.mask == "causal"  ? ember::ops::MaskKind::kCausal
                    : opt.mask == "local" ? ember::ops::MaskKind::kLocal
                                          : ember::ops::MaskKind::kFull;
        args.window = opt.window;
        args.bf16 = c.isa == "avx512bf16";
        ember::cpu::attention(qkv.data(), ld, qkv.data() + width, ld, qkv.data() + 2 * width, ld,
                              cu.data(), c.batch, args, out.data(), width);
      };
      call();  // warm-up: scratch allocation, page faults
      int64_t n = 0;
      const double c0 = cpu_ms();
      const auto t0 = Clock::now();
      double ms = 0.0;
      do {
        call();
        ++n;
        ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
      } while (ms < opt.min_ms);
      c.us.push_back(ms * 1e3 / static_cast<double>(n));
      c.cpu_us.push_back((cpu_ms() - c0) * 1e3 / static_cast<double>(n));
    }
  }

  const bool csv = opt.out.size() > 4 && opt.out.substr(opt.out.size() - 4) == ".csv";
  std::ofstream out(opt.out);
  if (csv) {
    out << "batch,len,heads,head_dim,threads,isa,median_us,min_us,cpu_median_us,gflops\n";
  } else {
    out << "{\n  \"threads\": " << opt.threads << ",\n  \"mask\": \"" << opt.mask
        << "\",\n  \"window\": " << opt.window << ",\n  \"results\": [\n";
  }
  std::cout << "batch x len  isa     median_us     min_us  cpu_med_us   GFLOP/s (heads "
            << opt.heads << ", head_dim " << opt.head_dim << ", threads " << opt.threads << ")\n";
  for (size_t i = 0; i < cells.size(); ++i) {
    Cell& c = cells[i];
    std::sort(c.us.begin(), c.us.end());
    std::sort(c.cpu_us.begin(), c.cpu_us.end());
    const double med = c.us[c.us.size() / 2], mn = c.us.front();
    const double cpu_med = c.cpu_us[c.cpu_us.size() / 2];
    const double flops = 4.0 * static_cast<double>(c.batch * c.len * c.len * width);
    const double gflops = flops / (med * 1e3);
    if (csv) {
      out << c.batch << "," << c.len << "," << opt.heads << "," << opt.head_dim << ","
          << opt.threads << "," << c.isa << "," << med << "," << mn << "," << cpu_med << ","
          << gflops << "\n";
    } else {
      out << (i ? ",\n" : "") << "    {\"batch\": " << c.batch << ", \"len\": " << c.len
          << ", \"heads\": " << opt.heads << ", \"head_dim\": " << opt.head_dim << ", \"isa\": \""
          << c.isa << "\", \"median_us\": " << med << ", \"min_us\": " << mn
          << ", \"cpu_median_us\": " << cpu_med << ", \"gflops\": " << gflops << "}";
    }
    std::printf("%5lldx%-6lld %-7s %10.1f %10.1f %11.1f %9.1f\n", static_cast<long long>(c.batch),
                static_cast<long long>(c.len), c.isa.c_str(), med, mn, cpu_med, gflops);
  }
  if (!csv) out << "\n  ]\n}\n";
  return 0;
}
