// The instruction set chosen once at run time. EMBER_ISA=scalar|avx2|avx512 caps it at that
// level (never above what the CPU has; any other value means "detected"). Tests use it to run
// the SIMD kernels against their scalar twins.
#pragma once

#include <string_view>

namespace ember {

enum class Isa { kScalar = 0, kAvx2 = 1, kAvx512 = 2 };

Isa detected_isa();     // what the CPU supports
Isa active_isa();       // min(detected, EMBER_ISA override, set_isa)
void set_isa(Isa isa);  // for tests and benchmarks; clamped to detected_isa()
std::string_view isa_name(Isa isa);
// True when the active ISA is AVX-512 and the CPU has avx512_bf16 (vdpbf16ps, vcvtne2ps2bf16):
// the GEMMs on bf16 weights run natively. EMBER_ISA=avx2 or scalar turns it off.
bool bf16_gemm_supported();
// True when the active ISA is AVX-512 and the CPU has avx512_vnni (vpdpbusd): the int8 GEMMs
// run exact u8 x s8 dot products. EMBER_ISA=avx2 or scalar turns it off.
bool int8_vnni_supported();

}  // namespace ember
