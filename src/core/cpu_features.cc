#include "core/cpu_features.h"

#include <atomic>
#include <cstdlib>
#include <string>

namespace ember {
namespace {

Isa detect() {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
    return Isa::kAvx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::kAvx2;
  return Isa::kScalar;
}

Isa clamp(Isa want) {
  const Isa have = detected_isa();
  return static_cast<int>(want) < static_cast<int>(have) ? want : have;
}

Isa from_env() {
  const char* env = std::getenv("EMBER_ISA");
  if (!env) return detected_isa();
  const std::string v = env;
  if (v == "scalar") return Isa::kScalar;
  if (v == "avx2") return clamp(Isa::kAvx2);
  if (v == "avx512") return clamp(Isa::kAvx512);
  return detected_isa();  // unknown values: the detected ISA (documented in cpu_features.h)
}

std::atomic<int>& active() {
  static std::atomic<int> isa{static_cast<int>(from_env())};
  return isa;
}

}  // namespace

Isa detected_isa() {
  static const Isa isa = detect();
  return isa;
}

Isa active_isa() {
  return static_cast<Isa>(active().load(std::memory_order_relaxed));
}

void set_isa(Isa isa) {
  active().store(static_cast<int>(clamp(isa)), std::memory_order_relaxed);
}

bool bf16_gemm_supported() {
  static const bool cpu = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512bf16") != 0;
  }();
  return cpu && active_isa() == Isa::kAvx512;
}

bool int8_vnni_supported() {
  static const bool cpu = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512vnni") != 0;
  }();
  return cpu && active_isa() == Isa::kAvx512;
}

std::string_view isa_name(Isa isa) {
  switch (isa) {
    case Isa::kScalar:
      return "scalar";
    case Isa::kAvx2:
      return "avx2";
    case Isa::kAvx512:
      return "avx512";
  }
  return "scalar";
}

}  // namespace ember
