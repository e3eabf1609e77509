#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace ember {

enum class DType : uint8_t { kF32, kF16, kBF16, kF64, kI8, kU8, kI16, kI32, kI64, kBool };

size_t dtype_size(DType dtype);
// Names as safetensors writes them: "F32", "F16", "BF16", "I64", ...
std::string_view dtype_name(DType dtype);
std::optional<DType> dtype_from_name(std::string_view name);

// IEEE half and bfloat16 to float, exactly (no rounding is involved in widening).
float half_to_float(uint16_t h);
float bf16_to_float(uint16_t b);
// float to bfloat16, rounded to nearest even, as vcvtneps2bf16 does it: NaN stays a (quiet)
// NaN, and a subnormal input becomes a zero of its sign.
uint16_t float_to_bf16(float f);

}  // namespace ember
